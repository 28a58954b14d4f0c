"""The CI-gate and evidence paths of the command line, end to end."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from auditor.cli import main

REPO = Path(__file__).resolve().parents[2]
RISKY = """apiVersion: v1
kind: Pod
metadata: {name: sneaky, namespace: shop-web}
spec:
  hostPID: true
  containers: [{name: c, image: x}]
"""


def test_baseline_gates_only_on_new_findings(tmp_path, capsys):
    manifests = tmp_path / "m"
    shutil.copytree(REPO / "fixtures/demo/cluster", manifests)
    baseline = tmp_path / "baseline.json"
    assert main(["scan", str(manifests), "--format", "json", "-o", str(baseline), "--fail-on", "none"]) == 0
    capsys.readouterr()
    assert main(["scan", str(manifests), "--baseline", str(baseline), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []

    (manifests / "risky.yaml").write_text(RISKY)
    assert main(["scan", str(manifests), "--baseline", str(baseline), "--format", "json"]) == 1
    new = json.loads(capsys.readouterr().out)["findings"]
    assert {f["name"] for f in new} == {"sneaky"} and any(f["rule_id"] == "IA101" for f in new)


def test_bad_baseline_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    assert main(["scan", str(REPO / "fixtures/demo/cluster"), "--baseline", str(bad)]) == 2
    assert "b.json" in capsys.readouterr().err


def test_sarif_and_evidence_bundle_from_the_cli(tmp_path, capsys):
    bundle = tmp_path / "evidence"
    code = main(["demo", "--format", "sarif", "-o", str(tmp_path / "r.sarif"), "--evidence-dir", str(bundle)])
    assert code == 1
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    assert main(["evidence", "verify", str(bundle)]) == 0
    (bundle / "controls.json").write_bytes((bundle / "controls.json").read_bytes().replace(b"fail", b"pass", 1))
    assert main(["evidence", "verify", str(bundle)]) == 2
    assert "controls.json" in capsys.readouterr().err
