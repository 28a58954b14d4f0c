"""SARIF 2.1.0: valid against the official OASIS schema, with what GitHub code scanning needs."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from scan_helpers import demo_report

from auditor.baseline import fingerprint
from auditor.cli import _load_rules
from auditor.model import Finding, Location, Severity
from auditor.reports import renderer
from auditor.reports.sarif import render, to_sarif

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "fixtures" / "demo"
SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def rules():
    return _load_rules([])[0].rules


def validate(log: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_demo_sarif_is_valid_against_the_official_schema(demo, rules):
    log = json.loads(render(demo, rules))
    validate(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    assert len(log["runs"][0]["results"]) == len(demo.findings)


def test_every_manifest_finding_has_its_file_and_line(demo, rules):
    run = to_sarif(demo, rules)["runs"][0]
    for finding, result in zip(demo.findings, run["results"], strict=True):
        assert finding.location is not None
        physical = result["locations"][0]["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert not uri.startswith(("/", "file:")), uri  # relative: GitHub resolves it in the repo
        assert uri == Path(finding.location.path).as_posix()
        assert physical["region"]["startLine"] == finding.location.line
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == finding.rule_id


def test_absolute_inputs_under_the_root_become_repository_relative(rules):
    report = demo_report(str(DEMO))
    assert all(Path(f.location.path).is_absolute() for f in report.findings)
    log = to_sarif(report, rules, root=str(REPO))
    validate(log)
    for finding, result in zip(report.findings, log["runs"][0]["results"], strict=True):
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact == {"uri": Path(finding.location.path).relative_to(REPO).as_posix(), "uriBaseId": "%SRCROOT%"}


def test_rule_metadata_is_complete(demo, rules):
    driver = to_sarif(demo, rules)["runs"][0]["tool"]["driver"]
    assert driver["name"] == "k8s-isolation-audit" and driver["version"] == demo.tool_version
    by_id = {r["id"]: r for r in driver["rules"]}
    assert set(by_id) >= {r.id for r in rules}
    for rule in rules:
        d = by_id[rule.id]
        assert d["name"] and d["shortDescription"]["text"] == rule.title
        assert d["fullDescription"]["text"]
        assert rule.remediation in d["help"]["text"] and rule.remediation in d["help"]["markdown"]
        assert f"rules explain {rule.id}" in d["help"]["text"]
        assert d["properties"]["controls"] == list(rule.controls)
        assert d["properties"]["severity"] == rule.severity.label
        if rule.severity is Severity.INFO:
            assert "security-severity" not in d["properties"]
        else:
            score = float(d["properties"]["security-severity"])
            band = {Severity.CRITICAL: (9.0, 10.0), Severity.HIGH: (7.0, 8.9), Severity.MEDIUM: (4.0, 6.9),
                    Severity.LOW: (0.1, 3.9)}[rule.severity]
            assert band[0] <= score <= band[1]
        assert "security" in d["properties"]["tags"]


def test_levels_and_fingerprints(demo, rules):
    results = to_sarif(demo, rules)["runs"][0]["results"]
    levels = {f.severity: r["level"] for f, r in zip(demo.findings, results, strict=True)}
    assert levels[Severity.CRITICAL] == "error" and levels[Severity.MEDIUM] == "warning"
    assert levels[Severity.LOW] == "note"
    for f, r in zip(demo.findings, results, strict=True):
        assert r["partialFingerprints"]["k8sIsolationAudit/v1"] == fingerprint(f)
        assert r["properties"]["controls"] == list(f.controls)


def _finding(**kw) -> Finding:
    base = dict(rule_id="IA101", severity=Severity.CRITICAL, title="t", message="m", tenant="shop",
                namespace="shop", kind="Pod", name="p", container=None, node=None, controls=("cis-k8s:5.2.3",),
                evidence={"/spec/hostPID": True}, location=None, remediation="fix it", cluster="prod")
    base.update(kw)
    return Finding(**base)


def test_findings_without_a_file_get_a_logical_location(demo, rules):
    report = replace(demo, findings=(_finding(),))
    log = to_sarif(report, rules)
    validate(log)
    location = log["runs"][0]["results"][0]["locations"][0]
    assert "physicalLocation" not in location
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "prod/shop/Pod/p"


def test_absolute_paths_become_relative_to_the_root_and_others_stay_valid(demo, rules, tmp_path):
    inside = _finding(location=Location(str(tmp_path / "deploy" / "my app.yaml"), 7))
    outside = _finding(name="q", location=Location("/elsewhere/x.yaml", 3))
    windows = _finding(name="w", location=Location("deploy\\win.yaml", 2))
    no_line = _finding(name="n", location=Location("deploy/a.yaml", None))
    log = to_sarif(replace(demo, findings=(inside, outside, windows, no_line)), rules, root=str(tmp_path))
    validate(log)
    physical = [r["locations"][0]["physicalLocation"] for r in log["runs"][0]["results"]]
    assert physical[0]["artifactLocation"] == {"uri": "deploy/my%20app.yaml", "uriBaseId": "%SRCROOT%"}
    assert physical[0]["region"] == {"startLine": 7}
    assert physical[1]["artifactLocation"]["uri"] == "file:///elsewhere/x.yaml"
    assert physical[2]["artifactLocation"]["uri"] == "deploy/win.yaml"
    assert "region" not in physical[3]


def test_hostile_strings_stay_data(demo, rules):
    evil = _finding(name='x"}<script>', message="\x00\x1b[31m\u202e", evidence={"/a": "\ud800" * 0 + "</script>"},
                    location=Location("a b/c#d?.yaml", 1))
    text = render(replace(demo, findings=(evil,)), rules)
    log = json.loads(text)
    validate(log)
    assert log["runs"][0]["results"][0]["properties"]["name"] == 'x"}<script>'


def test_without_rules_the_builtin_docs_describe_the_findings(demo):
    log = json.loads(renderer("sarif")(demo))
    validate(log)
    ids = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {f.rule_id for f in demo.findings} <= ids


def test_partial_audits_carry_notifications(demo, rules):
    from auditor.model import Coverage, Skipped

    cov = replace(demo.coverage, skipped=(Skipped("deploy/bad.yaml", "not YAML", 3), Skipped("-", "stdin")))
    assert isinstance(cov, Coverage)
    log = to_sarif(replace(demo, coverage=cov), rules)
    validate(log)
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == [
        "not audited: deploy/bad.yaml:3: not YAML",
        "not audited: -: stdin",
    ]
