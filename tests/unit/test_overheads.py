"""Virtualization overhead figures as cited package data, a team's own figures through
`scan --overheads FILE`, and the documentation kept in agreement with the data."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.citation import DataFileError
from auditor.cli import main
from auditor.overhead import DEFAULTS_FILE, DIMENSIONS, defaults, load_overheads

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "latency-overheads.md"
DEMO = REPO / "fixtures" / "demo"
MARK = "s3cr3t-value"
CLASSES = ("shared-vm", "dedicated-vm", "gvisor", "kata")


def _us(value):
    return "unmeasured" if value is None else f"{value:g}"


def default_figures_block() -> str:
    """The doc's "Default figures" table, as the data file says it."""
    rows = ["| node class | dimension | low | high | note | sources |", "|---|---|---|---|---|---|"]
    for (node_class, dimension), o in defaults().figures.items():
        cited = ", ".join(f"[{c.title.split(':')[0]}]({c.url})" for c in o.citations)
        rows.append(f"| {node_class} | {dimension} | {_us(o.low_us)} | {_us(o.high_us)} | {o.note} | {cited} |")
    return "\n".join(rows)


def test_the_documentation_agrees_with_the_data_file():
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- default-figures:start -->\n", 1)[1].split("\n<!-- default-figures:end -->", 1)[0]
    assert block == default_figures_block(), (
        "docs/latency-overheads.md's Default figures differ from auditor/data/overheads.yaml; put this between "
        "the default-figures markers:\n" + default_figures_block())
    for o in defaults().figures.values():
        for c in o.citations:
            assert c.url in text.split("## Sources", 1)[1], f"{c.url} is not among the doc's sources"


def test_every_default_figure_cites_a_followable_source():
    table = defaults()
    assert set(table.figures) == {(c, d) for c in CLASSES for d in DIMENSIONS}
    for o in table.figures.values():
        assert o.citations and all(c.url.startswith("https://") and c.title and c.date for c in o.citations)
        assert "latency-overheads" not in o.source and ".md" not in o.source


def test_the_package_does_not_read_the_documentation(monkeypatch, tmp_path):
    """The installed package has no docs/: the defaults come from its own data file."""
    assert DEFAULTS_FILE.is_relative_to(REPO / "auditor")
    source = (REPO / "auditor" / "overhead.py").read_text() + (REPO / "checks" / "placement.py").read_text()
    assert "latency-overheads.md" not in source


TEAM = """\
schema_version: 1
name: ACME latency lab
citation: {title: ACME latency lab report LL-42, url: "https://wiki.acme.example/LL-42", date: "2026-11-20"}
sources:
  jitter: {title: ACME cyclictest runs, url: "https://wiki.acme.example/jitter", date: "2026-11-18"}
figures:
  - {node_class: dedicated-vm, dimension: network-rtt, low_us: 1, high_us: 3, note: p99.9 over 10^7 RTTs}
  - {node_class: shared-vm, dimension: timer-jitter, low_us: 80, high_us: 450, sources: [jitter]}
"""


def test_a_teams_figures_replace_the_defaults_they_name(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(TEAM)
    table = load_overheads(path)
    assert table.describe() == {"name": f"ACME latency lab, overheads file {path}", "citation": {
        "title": "ACME latency lab report LL-42", "url": "https://wiki.acme.example/LL-42", "date": "2026-11-20"},
        "figures": ["dedicated-vm/network-rtt", "shared-vm/timer-jitter"]}
    rtt = table.get("dedicated-vm", "network-rtt")
    assert (rtt.low_us, rtt.high_us) == (1, 3) and rtt.citations[0].url == "https://wiki.acme.example/LL-42"
    assert table.get("shared-vm", "timer-jitter").citations[0].url == "https://wiki.acme.example/jitter"
    kept = table.get("kata", "storage")
    assert kept == defaults().get("kata", "storage") and kept.table == "k8s-isolation-audit built-in defaults"


def test_the_same_figures_as_json(tmp_path):
    import yaml

    path = tmp_path / "lab.json"
    path.write_text(json.dumps(yaml.safe_load(TEAM)))
    assert load_overheads(path).get("dedicated-vm", "network-rtt").high_us == 3


def _scan(capsys, *extra):
    code = main(["scan", str(DEMO / "cluster"), "--probe-results", str(DEMO / "probe-results"),
                 "--config", str(DEMO / "config.yaml"), "--format", "json", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_overheads_changes_the_verdicts_and_the_report_says_whose_figures(capsys, tmp_path):
    _, out, _ = _scan(capsys)
    report = json.loads(out)
    before = {p["name"]: p for p in report["placement"]}
    assert report["overheads"]["name"] == "k8s-isolation-audit built-in defaults"
    assert report["overheads"]["citation"] is None and len(report["overheads"]["figures"]) == 16
    path = tmp_path / "lab.yaml"
    path.write_text(TEAM)
    code, out, err = _scan(capsys, "--overheads", str(path))
    assert code in (0, 1) and not err
    report = json.loads(out)
    after = {p["name"]: p for p in report["placement"]}
    assert report["overheads"] == {
        "name": f"ACME latency lab, overheads file {path}",
        "citation": {"title": "ACME latency lab report LL-42", "url": "https://wiki.acme.example/LL-42",
                     "date": "2026-11-20"},
        "figures": ["dedicated-vm/network-rtt", "shared-vm/timer-jitter"]}
    changed = [n for n, p in after.items() if p["overhead"] and p["overhead"]["node_class"] == "dedicated-vm"
               and p["overhead"]["dimension"] == "network-rtt"]
    assert changed, "the demo has a workload compared with a dedicated VM's network RTT"
    for name in changed:
        o = after[name]["overhead"]
        assert o["value_us"] == 3 and before[name]["overhead"]["value_us"] == 20
        assert o["table"] == f"ACME latency lab, overheads file {path}"
        assert o["citations"] == [{"title": "ACME latency lab report LL-42", "url": "https://wiki.acme.example/LL-42",
                                   "date": "2026-11-20"}]
        assert str(path) in o["source"] and "https://wiki.acme.example/LL-42" in o["source"]
        assert any("+3 us" in r or " 3 us" in r for r in after[name]["reasons"])
    untouched = [p for p in before.values() if p["overhead"]]
    assert all(p["overhead"]["table"] == "k8s-isolation-audit built-in defaults" for p in untouched)


BAD = [
    # (file text, what the one-line error must name)
    ("schema_version: 1\ncitation: {title: t, url: 'https://x.example/', date: '2026-01-01'}\nfigures:\n"
     "  - {node_class: " + MARK + ", dimension: storage, low_us: 1, high_us: 2}\n",
     ":4: figures[0].node_class: must be one of"),
    ("schema_version: 1\nfigures:\n  - {node_class: kata, dimension: storage, low_us: 1, high_us: 2}\n",
     ":3: figures[0]: missing required field 'sources'"),
    ("schema_version: 1\nsources: {}\nfigures:\n  - {node_class: kata, dimension: storage, low_us: 1, high_us: 2,"
     " sources: [" + MARK + "]}\n", ":4: figures[0].sources[0]: names no entry of `sources`"),
    ("schema_version: 1\ncitation: {title: t, url: 'https://x.example/', date: '2026-01-01'}\nfigures:\n"
     "  - {node_class: kata, dimension: storage, low_us: 9, high_us: 2}\n", ":4: figures[0].low_us: must not be more"),
    ("schema_version: 1\ncitation: {title: t, url: 'https://x.example/', date: '2026-01-01'}\nfigures:\n"
     "  - {node_class: kata, dimension: storage, low_us: 1, high_us: 2}\n"
     "  - {node_class: kata, dimension: storage, low_us: 1, high_us: 3}\n", ":5: figures[1]: a second figure"),
    ("schema_version: 1\ncitation: {title: t, url: '" + MARK + "', date: '2026-01-01'}\nfigures:\n"
     "  - {node_class: kata, dimension: storage, low_us: 1, high_us: 2}\n", ":2: citation.url: must match the pattern"),
    ("schema_version: 1\ncitation: {title: t, url: 'https://x.example/', date: '2026-01-01'}\nfigures:\n"
     "  - {node_class: kata, dimension: storage, low_us: '" + MARK + "', high_us: 2}\n",
     ":4: figures[0].low_us: must be of type"),
    ("schema_version: 1\n" + MARK + ": [\n", "invalid YAML"),
    ("", "overheads file is empty"),
    ("schema_version: 1\n---\nschema_version: 1\n", "exactly one YAML document"),
]


@pytest.mark.parametrize("text, named", BAD)
def test_a_bad_overheads_file_is_one_value_free_line_naming_file_line_and_field(capsys, tmp_path, text, named):
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError) as info:
        load_overheads(path)
    message = str(info.value)
    assert named in message and message.startswith(str(path)) and "\n" not in message and MARK not in message
    code, out, err = _scan(capsys, "--overheads", str(path))  # the CLI: exit 2, one line, no report
    assert code == 2 and not out and err.count("\n") == 1 and named in err and MARK not in err


def test_an_unreadable_overheads_file_is_one_line(capsys, tmp_path):
    code, out, err = _scan(capsys, "--overheads", str(tmp_path / "missing.yaml"))
    assert code == 2 and not out and "missing.yaml: cannot read overheads file" in err and err.count("\n") == 1


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20).map(lambda t: MARK + t), st.lists(st.just(MARK), max_size=2),
                    st.dictionaries(st.just(MARK), st.just(MARK), max_size=1))
_FIELDS = st.sampled_from(["node_class", "dimension", "low_us", "high_us", "note", "sources", "unknown-field"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=_FIELDS, value=_VALUES)
def test_any_figure_value_loads_or_is_refused_without_echoing_it(tmp_path, field, value):
    """A class of inputs: whatever a figure's field holds, the file loads or is refused by a
    DataFileError that names the file and never the value."""
    figure = {"node_class": "kata", "dimension": "storage", "low_us": 1, "high_us": 2, field: value}
    doc = {"schema_version": 1, "citation": {"title": "t", "url": "https://x.example/", "date": "2026-01-01"},
           "figures": [figure]}
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    try:
        load_overheads(path)
    except DataFileError as exc:
        assert str(path) in str(exc) and MARK not in str(exc) and "\n" not in str(exc)


def test_the_demo_copy_in_the_package_needs_no_repository(tmp_path, capsys):
    """Placement verdicts work from a copy of the package alone (no docs/ beside it)."""
    package = tmp_path / "auditor"
    shutil.copytree(REPO / "auditor", package)
    assert (package / "data" / "overheads.yaml").exists() and (package / "data" / "providers.yaml").exists()
    assert not re.search(r"latency-overheads\.md", (package / "overhead.py").read_text())


def test_the_evidence_bundle_holds_the_overheads_file_the_verdicts_used(capsys, tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(TEAM)
    bundle = tmp_path / "bundle"
    code, _, _ = _scan(capsys, "--overheads", str(path), "--evidence-dir", str(bundle))
    assert code in (0, 1)
    assert (bundle / "config" / "lab.yaml").read_text() == TEAM
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert "config/lab.yaml" in {f["path"] for f in manifest["files"]}
