"""`report merge`: one report over many clusters; bad inputs are one value-free line each."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource

from auditor.cli import main
from auditor.fleet import merge, to_dict
from auditor.reports.json_report import to_dict as report_dict

SCHEMAS = Path(__file__).resolve().parents[2] / "auditor" / "schemas"
MARK = "SENTINEL-VALUE-4f1c"  # a value planted in bad inputs: it must never be echoed


def validator() -> jsonschema.Draft202012Validator:
    fleet = json.loads((SCHEMAS / "fleet-report.schema.json").read_text())
    report = json.loads((SCHEMAS / "report.schema.json").read_text())
    registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in (fleet, report)])
    return jsonschema.Draft202012Validator(fleet, registry=registry)


@pytest.fixture(scope="module")
def reports(demo, tmp_path_factory):
    """Three clusters: two named by their scans (prod, stage), one of files (named by its file)."""
    base = tmp_path_factory.mktemp("reports")
    data = report_dict(demo)
    paths = []
    for name, cluster, partial in (("prod.json", "prod", False), ("stage.json", "stage", True),
                                   ("laptop.json", None, False)):
        doc = json.loads(json.dumps(data, default=str))
        doc["source"]["cluster"] = cluster
        if partial:
            doc["summary"]["partial"] = True
            doc["coverage"]["complete"] = False
            doc["coverage"]["skipped"] = [{"source": "x.yaml", "line": None, "reason": "not YAML"}]
        path = base / name
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return paths


def bad_inputs(directory: Path) -> dict[str, Path]:
    demo_like = {"schema_version": "1.0", "tool": {"name": "k8s-isolation-audit", "version": MARK}}
    files = {
        "not json": f"{{{MARK}",
        "a list": json.dumps([MARK]),
        "another tool": json.dumps({"tool": {"name": MARK}, "findings": []}),
        "a future schema": json.dumps({**demo_like, "schema_version": f"2.0-{MARK}"}),
        "schema invalid": json.dumps({**demo_like, "findings": MARK}),
    }
    out = {}
    for label, text in files.items():
        path = directory / f"{label.replace(' ', '-')}.json"
        path.write_text(text)
        out[label] = path
    out["missing"] = directory / "missing.json"
    return out


def test_merged_json_is_valid_and_adds_up(reports, demo):
    fleet = merge(reports)
    data = to_dict(fleet)
    validator().validate(data)
    assert [c["name"] for c in data["clusters"]] == ["prod", "stage", "laptop.json"]
    assert data["summary"]["findings"] == 3 * len(demo.findings)
    assert data["summary"]["by_severity"] == {s: 3 * n for s, n in demo.counts().items()}
    assert data["summary"]["partial_clusters"] == ["stage"] and data["summary"]["partial"]
    shared = {t["tenant"]: t["clusters"] for t in data["summary"]["shared_tenants"]}
    assert shared["shop"] == ["prod", "stage", "laptop.json"]
    assert "(platform)" not in shared


def test_bad_inputs_are_one_line_each_and_the_rest_is_merged(reports, tmp_path, capsys):
    bad = bad_inputs(tmp_path)
    out = tmp_path / "fleet.json"
    code = main(["report", "merge", reports[0], *map(str, bad.values()), reports[2], "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == len(bad)
    for path, line in zip(bad.values(), lines, strict=True):
        assert str(path) in line and line.startswith("k8s-isolation-audit: not merged: ")
    assert MARK not in err
    data = json.loads(out.read_text())
    validator().validate(data)
    assert [c["name"] for c in data["clusters"]] == ["prod", "laptop.json"]
    assert data["summary"]["partial"] and len(data["summary"]["not_merged"]) == len(bad)
    assert MARK not in json.dumps(data["summary"])


def test_exit_codes_follow_the_gate(reports, capsys):
    assert main(["report", "merge", reports[0], "-o", "/dev/null"]) == 1  # the demo fails its gate
    assert main(["report", "merge", reports[1], "-o", "/dev/null"]) == 2  # partial coverage


def test_the_same_cluster_name_twice_stays_apart(reports):
    names = [c.name for c in merge([reports[0], reports[0], reports[0]]).clusters]
    assert len(set(names)) == 3 and names[0] == "prod"


@pytest.mark.parametrize("fmt", ["html", "markdown"])
def test_html_and_markdown_render(reports, fmt, capsys):
    main(["report", "merge", *reports, "--format", fmt])
    out = capsys.readouterr().out
    assert "stage" in out and "laptop.json" in out
    if fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and 'id="f-cluster"' in out
        assert "<link" not in out and " src=" not in out  # no external assets
    else:
        assert out.startswith("## k8s-isolation-audit fleet report: 3 cluster(s)")


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.text(max_size=50), st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4),
                 st.lists(st.integers(), max_size=3), st.integers()))
def test_any_json_value_is_merged_or_named_never_a_crash(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("any") / "in.json"
    path.write_text(json.dumps(value))
    fleet = merge([str(path)])
    assert not fleet.clusters and len(fleet.problems) == 1 and fleet.problems[0][0] == str(path)
