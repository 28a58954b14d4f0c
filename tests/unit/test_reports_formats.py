"""Every format is reachable through FORMATS / renderer(name), and through the CLI."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from auditor.cli import main
from auditor.reports import FORMATS, renderer


def test_all_formats_are_registered():
    assert set(FORMATS) == {"table", "json", "sarif", "junit", "markdown", "html", "policyreport", "prometheus"}
    with pytest.raises(ValueError, match="unknown format"):
        renderer("pdf")


@pytest.mark.parametrize("fmt", ["sarif", "junit", "markdown", "html", "policyreport", "prometheus"])
def test_demo_renders_in_every_new_format_from_the_cli(fmt, capsys):
    code = main(["demo", "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 1 and not err  # the demo fails its gate
    if fmt == "sarif":
        assert json.loads(out)["version"] == "2.1.0"
    elif fmt == "junit":
        assert ET.fromstring(out).tag == "testsuites"
    elif fmt == "markdown":
        assert out.startswith("## k8s-isolation-audit") and len(out) <= 65_000
    elif fmt == "policyreport":
        assert {i["kind"] for i in json.loads(out)["items"]} == {"PolicyReport", "ClusterPolicyReport"}
    elif fmt == "prometheus":
        assert "\nisolation_audit_last_run_duration_seconds " in out
    else:
        assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_ci_examples_are_valid_yaml_and_wire_the_reports():
    import yaml

    workflow = yaml.safe_load((REPO / "examples" / "github-actions" / "isolation-audit.yml").read_text())
    steps = workflow["jobs"]["audit"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "isolation.sarif"
    assert workflow["permissions"]["security-events"] == "write"
    gitlab = yaml.safe_load((REPO / "examples" / "gitlab-ci" / ".gitlab-ci.yml").read_text())
    job = gitlab["isolation-audit"]
    assert job["artifacts"]["reports"]["junit"] in job["artifacts"]["paths"]
    assert any("--format junit" in line for line in job["script"])


def test_pre_commit_hook_runs_the_installed_console_script():
    import tomllib

    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    config = yaml.safe_load((REPO / "examples" / "pre-commit" / ".pre-commit-config.yaml").read_text())
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert [h["id"] for h in hooks] == ["k8s-isolation-audit"]
    assert hooks[0]["entry"].split()[0] in scripts and hooks[0]["language"] == "python"
    assert config["repos"][0]["hooks"][0]["id"] == hooks[0]["id"]
