"""The command line: formats, exit codes and one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from auditor.cli import main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "fixtures" / "demo"
SCHEMA = json.loads((REPO / "auditor" / "schemas" / "report.schema.json").read_text())


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_json_is_valid_and_every_finding_has_file_and_line(capsys):
    code, out, err = run(capsys, "demo", "--format", "json")
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    assert code == 1 and not err
    assert report["findings"] and report["coverage"]["complete"]
    for finding in report["findings"]:
        assert finding["location"]["path"] and finding["location"]["line"] >= 1, finding


def test_table_fits_80_columns_without_colour(capsys):
    code, out, _ = run(capsys, "scan", str(DEMO / "cluster"), "--format", "table")
    assert code == 1 and "\x1b[" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "CRITICAL" in out and "Gate:" in out


def test_fail_on_threshold(capsys):
    assert run(capsys, "scan", str(DEMO / "cluster"), "--fail-on", "none")[0] == 0
    assert run(capsys, "scan", str(DEMO / "cluster"), "--fail-on", "critical")[0] == 1
    clean = REPO / "fixtures" / "rules" / "IA101" / "good.yaml"
    assert run(capsys, "scan", str(clean), "--fail-on", "critical")[0] == 0


def test_malformed_file_among_good_ones(tmp_path, capsys):
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [\n")
    code, out, err = run(capsys, "scan", str(tmp_path), str(DEMO / "cluster"), "--format", "json")
    assert code == 2
    assert err.count("\n") == 1 and "broken.yaml:4" in err and "invalid YAML" in err
    report = json.loads(out)
    assert report["summary"]["partial"] and report["coverage"]["skipped"][0]["source"].endswith("broken.yaml")
    assert any(f["name"] == "nightly-etl" for f in report["findings"])


def test_output_file(tmp_path, capsys):
    out_file = tmp_path / "r.json"
    code, out, _ = run(capsys, "scan", str(DEMO / "cluster"), "--format", "json", "--output", str(out_file))
    assert code == 1 and out == "" and json.loads(out_file.read_text())["findings"]


def test_stdin_gives_the_same_findings_as_the_file():
    cmd = [sys.executable, "-m", "auditor", "scan", "-", "--format", "json"]
    text = (DEMO / "cluster" / "cluster.yaml").read_bytes()
    piped = subprocess.run(cmd, input=text, capture_output=True, timeout=60)
    direct = subprocess.run(cmd[:-3] + [str(DEMO / "cluster"), "--format", "json"], capture_output=True, timeout=60)

    def strip(r):
        return [{k: v for k, v in f.items() if k != "location"} for f in json.loads(r.stdout)["findings"]]

    assert piped.returncode == direct.returncode == 1
    assert strip(piped) == strip(direct)
    assert json.loads(piped.stdout)["findings"][0]["location"]["path"] == "-"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["scan", "--kubeconfig", "/nonexistent-kubeconfig"], "kubeconfig /nonexistent-kubeconfig: no such file"),
        (["scan", "x.yaml", "--config", "/nonexistent.yaml"], "/nonexistent.yaml: cannot read config"),
        (["rules", "explain", "IA999"], "no rule 'IA999'"),
        (["scan", "x.yaml", "--rules", "/nonexistent-pack.yaml"], "no such rule pack"),
    ],
)
def test_errors_are_one_line_with_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["scan", "--format", "nope"])
    assert exc.value.code == 2


def test_rules_list_explain_validate(capsys, tmp_path):
    code, out, _ = run(capsys, "rules", "list")
    assert code == 0 and "IA101" in out and "cis-k8s:5.2.3" in out
    code, out, _ = run(capsys, "rules", "explain", "host-pid")
    assert code == 0 and "## Why is this bad?" in out and "## Fix" in out and "## References" in out
    code, out, _ = run(capsys, "rules", "validate", str(REPO / "rules" / "privileges.yaml"))
    assert code == 0 and "ok (" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: x\nrules: 5\n")
    code, _, err = run(capsys, "rules", "validate", str(bad))
    assert code == 2 and "bad.yaml:2: rules: must be of type array" in err


def test_no_command_means_scan_of_the_live_cluster_and_version(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    code, _, err = run(capsys, "--fail-on", "low")
    assert code == 2 and "no kubeconfig found" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "k8s-isolation-audit" in capsys.readouterr().out


def test_scanning_a_manifest_imports_neither_kubernetes_nor_scapy_nor_a_schema_validator():
    """Start-up cost: built-in packs and the package's data files are trusted by digest and
    by the test suite, so a scan needs no JSON Schema validator."""
    code = (
        "import sys; from auditor.cli import main; "
        f"rc = main(['scan', {str(REPO / 'fixtures/rules/IA101/bad.yaml')!r}, '--format', 'json']); "
        "heavy = sorted(m for m in sys.modules "
        "               if m.split('.')[0] in ('kubernetes', 'scapy', 'pyroute2', 'jsonschema')); "
        "print(heavy, file=sys.stderr); sys.exit(10 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
