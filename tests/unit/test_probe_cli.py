"""`k8s-isolation-audit probe`: arguments, environment defaults, output and exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from auditor.cli import main

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text())


def test_identity_comes_from_the_downward_api_environment(capsys, monkeypatch):
    monkeypatch.setenv("NODE_NAME", "bm-7")
    monkeypatch.setenv("POD_NAMESPACE", "payments")
    monkeypatch.setenv("POD_NAME", "api-0")
    assert main(["probe"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    assert not err
    assert {k: report["probe"][k] for k in ("node", "namespace", "pod", "container", "active")} == {
        "node": "bm-7", "namespace": "payments", "pod": "api-0", "container": None, "active": False}


def test_flags_win_over_the_environment_and_output_goes_to_a_file(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NODE_NAME", "bm-7")
    target = tmp_path / "report.json"
    code = main(["probe", "--node", "vm-3", "--namespace", "shop", "--pod", "web-1", "--container", "nginx",
                 "--output", str(target)])
    out, _ = capsys.readouterr()
    assert code == 0 and out == ""
    report = json.loads(target.read_text())
    jsonschema.validate(report, SCHEMA)
    assert (report["probe"]["node"], report["probe"]["container"]) == ("vm-3", "nginx")


def test_unwritable_output_is_exit_2_with_one_line(capsys, tmp_path):
    code = main(["probe", "--output", str(tmp_path / "missing-dir" / "report.json")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "cannot write probe report" in err


def test_the_probe_imports_neither_kubernetes_nor_scapy():
    code = ("import sys\nfrom auditor.cli import main\nassert main(['probe', '--output', '/dev/null']) == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'scapy'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
