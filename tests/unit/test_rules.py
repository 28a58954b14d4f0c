"""Every rule alone on its good and bad fixtures, and rule pack validation."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from scan_helpers import audit_inventory, scan

from auditor.cli import _load_rules
from auditor.model import Finding
from auditor.rules import RulePackError, load_pack, load_rules
from auditor.sources.manifests import load
from auditor.sources.probe_reports import with_reports

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rules"
RULES = _load_rules([])[0].rules
CASES = [(r.id, kind) for r in RULES if r.id != "IA001" for kind in ("good", "bad")]
# Rules whose controls depend on the condition matched: their fixtures state each finding's.
MAPPED = {r.id: r for r in RULES if len(r.conditions) > 1}


def fixture_of(rule_dir: Path, kind: str) -> Path:
    """`kind.yaml`, or `kind/web.yaml` beside `kind/probes/` for rules over probe reports."""
    return rule_dir / kind / "web.yaml" if (rule_dir / kind).is_dir() else rule_dir / f"{kind}.yaml"


def header(path: Path) -> list[str]:
    """The fixture's leading `# expect:` lines."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("# expect:"):
            break
        lines.append(line)
    assert lines, f"{path} must start with '# expect:' lines (see CONTRIBUTING.md)"
    return lines


def expected(path: Path) -> list[str]:
    """One `# expect:` line per finding; `# expect: nothing` for none."""
    lines = header(path)
    return [] if lines == ["# expect: nothing"] else lines


def stated(finding: Finding, rule_dir: Path, shift: tuple[Path, int] | None = None) -> str:
    """A finding as a fixture states it: `# expect: KIND [NAMESPACE/]NAME [container=C]
    [controls=A,B] at FILE:LINE`, the controls for a rule with per-condition controls.
    `shift` moves the lines of one file (by how many lines its header is about to grow)."""
    namespace = f"{finding.namespace}/" if finding.namespace is not None else ""
    container = f" container={finding.container}" if finding.container else ""
    if finding.rule_id in MAPPED:
        container += f" controls={','.join(finding.controls)}"
    assert finding.location is not None and finding.location.line is not None, finding
    where = Path(finding.location.path).relative_to(rule_dir)
    line = finding.location.line + (shift[1] if shift and shift[0] == where else 0)
    return f"# expect: {finding.kind} {namespace}{finding.name}{container} at {where}:{line}"


def _file_and_line(line: str) -> tuple[str, int]:
    where = line.rsplit(" at ", 1)[-1]
    path, _, number = where.rpartition(":")
    return path, int(number) if number.isdigit() else 0


@pytest.mark.parametrize("rule_id, kind", CASES, ids=[f"{r}-{k}" for r, k in CASES])
def test_rule_alone_on_its_fixture(rule_id, kind):
    """`ID/kind.yaml`, or for rules over probe facts `ID/kind/` with manifests and `probes/`.
    The fixture states every finding: object, container, file and line."""
    rule_dir = FIXTURES / rule_id
    path = fixture_of(rule_dir, kind)
    probes = rule_dir / kind / "probes"
    assert path.exists(), f"rule {rule_id} has no {kind} fixture at {path}"
    inventory = load([str(path)])
    if probes.is_dir():
        inventory = with_reports(inventory, [str(probes)])
    report = audit_inventory(inventory, select=[rule_id])
    assert not report.coverage.skipped
    assert {f.rule_id for f in report.findings} <= {rule_id}
    found = sorted((stated(f, rule_dir) for f in report.findings), key=_file_and_line)
    if found != sorted(expected(path), key=_file_and_line):
        # Lines as they will be once the printed header replaces the old one, so it can be pasted.
        shift = (path.relative_to(rule_dir), max(len(found), 1) - len(header(path)))
        paste = sorted((stated(f, rule_dir, shift) for f in report.findings), key=_file_and_line)
        pytest.fail(f"{path}: the findings differ from its '# expect:' lines. Check them, then make these "
                    "the file's first lines:\n" + "\n".join(paste or ["# expect: nothing"]), pytrace=False)


@pytest.mark.parametrize("rule_id", sorted(MAPPED))
def test_bad_fixture_shows_every_mapping_of_the_rule(rule_id):
    """Each way a rule maps controls has a finding in its bad fixture that carries exactly
    that mapping, so a condition's controls cannot change unseen."""
    stated_controls = {line.split(" controls=", 1)[1].split(" at ", 1)[0]
                       for line in expected(fixture_of(FIXTURES / rule_id, "bad"))}
    assert stated_controls == {",".join(c.controls) for c in MAPPED[rule_id].conditions}


def test_bad_fixtures_expect_findings_and_good_ones_none():
    for rule_id, kind in CASES:
        path = fixture_of(FIXTURES / rule_id, kind)
        assert bool(expected(path)) == (kind == "bad"), path


def test_every_fixture_is_run():
    """A fixture the test does not read would pass whatever it holds."""
    assert {p.name for p in FIXTURES.iterdir()} == {rule_id for rule_id, _ in CASES}
    for rule_dir in FIXTURES.iterdir():
        used = {fixture_of(rule_dir, kind).relative_to(rule_dir).parts[0] for kind in ("bad", "good")}
        assert {p.name for p in rule_dir.iterdir()} == used, rule_dir


def test_builtin_conditions_are_valid_json_schemas():
    from auditor.rules import builtin_rules_dir

    for path in sorted(builtin_rules_dir().glob("*.yaml")):
        load_pack(path, checked=True)  # raises RulePackError naming the rule


def test_every_rule_is_documented_and_mapped():
    for rule in RULES:
        assert rule.controls and rule.remediation and rule.docs.what and rule.docs.why, rule.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    return path


RULE = """pack: extra
rules:
  - id: XX100
    name: my-rule
    title: t
    severity: {severity}
    controls: ["cis-k8s:5.2.2"]
    message: m
    remediation: r
    docs: {{what: w, why: because, bad_example: "", good_example: "", references: []}}
    target: pod
    match: {match}
"""


def test_invalid_field_names_file_line_and_field(tmp_path):
    path = write(tmp_path, RULE.format(severity="severe", match="{}"))
    with pytest.raises(RulePackError, match=r"pack\.yaml:6: rules\[0\]\.severity: must be one of \"critical\""):
        load_pack(path)


def test_invalid_condition_schema_is_refused(tmp_path):
    path = write(tmp_path, RULE.format(severity="high", match="{type: nonsense}"))
    with pytest.raises(RulePackError, match=r"pack\.yaml:\d+: rules\[0\]\.match: invalid JSON Schema"):
        load_pack(path)


def test_duplicate_rule_id_across_packs(tmp_path):
    text = RULE.format(severity="high", match="{}").replace("XX100", "IA101")
    with pytest.raises(RulePackError, match="duplicate rule id IA101"):
        load_rules([write(tmp_path, text)])


def test_unknown_analysis_plugin(tmp_path):
    text = RULE.format(severity="high", match="{}").replace("    target: pod\n    match: {}\n",
                                                             "    analysis: nope\n    params: {check: x}\n")
    # "not installed": a plugin added to pyproject.toml exists only once its package is installed again.
    with pytest.raises(RulePackError, match=r"pack\.yaml:11: rules\[0\]\.analysis: unknown analysis plugin 'nope': "
                                            r"not installed \(installed: .*drift"):
        _load_rules([str(write(tmp_path, text))])


def test_extra_pack_adds_a_rule(tmp_path):
    pack = write(tmp_path, RULE.format(severity="low", match="{required: [spec]}"))
    manifest = tmp_path / "m" / "pod.yaml"
    manifest.parent.mkdir()
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    report = scan([str(manifest)], select=["XX100"], extra_rules=[str(pack)])
    assert [f.rule_id for f in report.findings] == ["XX100"]
