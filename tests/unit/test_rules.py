"""Every rule alone on its good and bad fixtures, and rule pack validation."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.cli import _load_rules
from auditor.rules import RulePackError, load_pack, load_rules
from auditor.sources.manifests import load
from auditor.sources.probe_reports import with_reports
from scan_helpers import audit_inventory, scan

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rules"
RULES = _load_rules([])[0].rules
CASES = [(r.id, kind) for r in RULES if r.id != "IA001" for kind in ("good", "bad")]


def expected(path: Path) -> int:
    match = re.match(r"# expect: (\d+)", path.read_text())
    assert match, f"{path} must start with '# expect: N'"
    return int(match.group(1))


@pytest.mark.parametrize("rule_id, kind", CASES, ids=[f"{r}-{k}" for r, k in CASES])
def test_rule_alone_on_its_fixture(rule_id, kind):
    """`ID/kind.yaml`, or for rules over probe facts `ID/kind/` with manifests and `probes/`."""
    path = FIXTURES / rule_id / f"{kind}.yaml"
    probes = FIXTURES / rule_id / kind / "probes"
    if probes.is_dir():
        path = FIXTURES / rule_id / kind / "web.yaml"
    assert path.exists(), f"rule {rule_id} has no {kind} fixture at {path}"
    inventory = load([str(path)])
    if probes.is_dir():
        inventory = with_reports(inventory, [str(probes)])
    report = audit_inventory(inventory, select=[rule_id])
    assert not report.coverage.skipped
    assert {f.rule_id for f in report.findings} <= {rule_id}
    assert len(report.findings) == expected(path), [f.message for f in report.findings]
    for f in report.findings:
        assert f.location is not None and f.location.line is not None


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
    text = RULE.format(severity="high", match="{}").replace("    target: pod\n    match: {}\n", "    analysis: nope\n")
    with pytest.raises(RulePackError, match="unknown analysis plugin 'nope'"):
        _load_rules([str(write(tmp_path, text))])


def test_extra_pack_adds_a_rule(tmp_path):
    pack = write(tmp_path, RULE.format(severity="low", match="{required: [spec]}"))
    manifest = tmp_path / "m" / "pod.yaml"
    manifest.parent.mkdir()
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    report = scan([str(manifest)], select=["XX100"], extra_rules=[str(pack)])
    assert [f.rule_id for f in report.findings] == ["XX100"]
