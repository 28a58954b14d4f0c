"""Baselines: fingerprints survive reordering and line moves; only new findings remain."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from scan_helpers import scan

from auditor.baseline import BaselineError, fingerprint, load_baseline, new_findings
from auditor.reports.json_report import render, to_dict

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "cluster" / "cluster.yaml"
RISKY = """
apiVersion: v1
kind: Pod
metadata: {name: intruder, namespace: analytics}
spec:
  hostPID: true
  containers:
  - name: shell
    image: busybox:1.36
    securityContext: {privileged: true}
"""


@pytest.fixture(scope="module")
def items():
    return yaml.safe_load(DEMO.read_text())["items"]


def write_docs(path: Path, docs, header: str = "") -> Path:
    path.write_text(header + yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_unchanged_input_has_nothing_new(tmp_path, items):
    path = write_docs(tmp_path / "a.yaml", items)
    report = scan([str(path)])
    assert report.findings
    assert new_findings(report, to_dict(report)).findings == ()


def test_reordered_moved_and_split_manifests_keep_their_fingerprints(tmp_path, items):
    baseline = to_dict(scan([str(write_docs(tmp_path / "a.yaml", items))]))
    moved = tmp_path / "moved"
    moved.mkdir()
    half = len(items) // 2
    # other files, other document order, every line shifted by a comment header
    write_docs(moved / "second.yaml", list(reversed(items[:half])), "# moved here\n# and shifted\n\n")
    write_docs(moved / "first.yaml", list(reversed(items[half:])), "# another header\n")
    report = scan([str(moved)])
    assert len(report.findings) == len(baseline["findings"])
    lines_before = {(f["rule_id"], f["name"], f["location"]["line"]) for f in baseline["findings"]}
    assert lines_before != {(f.rule_id, f.name, f.location.line) for f in report.findings}
    assert new_findings(report, baseline).findings == ()


def test_adding_one_risky_pod_reports_exactly_it(tmp_path, items):
    path = write_docs(tmp_path / "a.yaml", items)
    baseline = json.loads(render(scan([str(path)])))
    write_docs(path, [*items, yaml.safe_load(RISKY)])
    new = new_findings(scan([str(path)]), baseline).findings
    assert new
    assert {(f.kind, f.namespace, f.name) for f in new} == {("Pod", "analytics", "intruder")}
    assert {"IA101", "IA104"} <= {f.rule_id for f in new}


def test_fingerprints_of_findings_and_json_agree(tmp_path, items):
    report = scan([str(write_docs(tmp_path / "a.yaml", items))])
    data = to_dict(report)
    assert [fingerprint(f) for f in report.findings] == [fingerprint(f) for f in data["findings"]]


def test_what_the_fingerprint_ignores_and_keeps(tmp_path, items):
    f = scan([str(write_docs(tmp_path / "a.yaml", items))]).findings[0]
    same = replace(f, location=replace(f.location, line=999, path="elsewhere.yaml"), message="reworded",
                   evidence={k.replace("/0/", "/3/"): "changed" for k in f.evidence})
    assert fingerprint(same) == fingerprint(f)
    for change in ({"name": f.name + "-2"}, {"namespace": "other"}, {"rule_id": "IA999"}, {"cluster": "prod"},
                   {"container": "sidecar"}, {"kind": "CronJob"}):
        assert fingerprint(replace(f, **change)) != fingerprint(f), change


def test_duplicate_fingerprints_are_counted(tmp_path, items):
    report = scan([str(write_docs(tmp_path / "a.yaml", items))])
    f = report.findings[0]
    twice = replace(report, findings=(*report.findings, f))
    new = new_findings(twice, to_dict(report)).findings
    assert len(new) == 1 and fingerprint(new[0]) == fingerprint(f)


def test_load_baseline_errors_are_one_line(tmp_path):
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BaselineError, match="not JSON"):
        load_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"items": []}')
    with pytest.raises(BaselineError, match="no 'findings' list"):
        load_baseline(tmp_path / "other.json")
    (tmp_path / "ok.json").write_text('{"findings": []}')
    assert load_baseline(tmp_path / "ok.json") == {"findings": []}
