"""JUnit XML: one testcase per rule x object, failures with message, remediation and evidence."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import junitparser
import pytest

from auditor.cli import _load_rules
from auditor.model import Finding, Severity
from auditor.reports import renderer
from auditor.reports.junit import render


@pytest.fixture(scope="module")
def rules():
    return _load_rules([])[0].rules


def test_parses_with_elementtree_and_counts_add_up(demo, rules):
    root = ET.fromstring(render(demo, rules))
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    failures = root.findall("./testsuite/testcase/failure")
    objects = {(f.rule_id, f.cluster, f.namespace, f.kind, f.name, f.container) for f in demo.findings}
    assert len(failures) == len(objects) == int(root.get("failures"))
    assert len(cases) == int(root.get("tests"))
    ran_clean = {r.id for r in rules} - {f.rule_id for f in demo.findings}
    passing = [c for c in cases if not list(c)]
    assert len(passing) == len(ran_clean)
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase"))
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))


def test_failures_carry_message_remediation_and_evidence(demo, rules):
    root = ET.fromstring(render(demo, rules))
    f = next(f for f in demo.findings if f.rule_id == "IA101")
    suite = next(s for s in root.findall("testsuite") if s.get("name").startswith("IA101 "))
    case = next(c for c in suite.findall("testcase") if c.get("name") == f"{f.namespace}/{f.kind}/{f.name}")
    failure = case.find("failure")
    assert failure.get("message") == f.message and failure.get("type") == "critical"
    assert f.remediation in failure.text and "/spec/template/spec/hostPID" in failure.text
    assert case.get("file") == f.location.path and case.get("line") == str(f.location.line)
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props["severity"] == "critical" and "cis-k8s:5.2.3" in props["controls"]


def test_active_waivers_are_skipped_testcases(demo, rules):
    root = ET.fromstring(render(demo, rules))
    skipped = root.findall("./testsuite/testcase/skipped")
    active = [w for w in demo.waivers if w.status == "active"]
    assert active and len(skipped) == len(active) == int(root.get("skipped"))
    assert active[0].reason in skipped[0].get("message")


def test_junitparser_reads_it(demo, rules, tmp_path):
    path = tmp_path / "report.xml"
    path.write_text(render(demo, rules), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    failed = [
        case for suite in suites for case in suite if any(isinstance(r, junitparser.Failure) for r in case.result)
    ]
    assert len(failed) == len({(f.rule_id, f.namespace, f.kind, f.name, f.container) for f in demo.findings})
    assert sum(suite.tests for suite in suites) == sum(1 for suite in suites for _ in suite)


def test_two_findings_on_one_object_share_a_testcase(demo, rules):
    f = next(f for f in demo.findings if f.rule_id == "IA105")
    twin = replace(f, message="second hostPath", evidence={"/spec/template/spec/volumes/1/hostPath/path": "/x"})
    root = ET.fromstring(render(replace(demo, findings=(f, twin)), rules))
    failures = root.findall("./testsuite/testcase/failure")
    assert len(failures) == 1 and "second hostPath" in failures[0].text and "volumes/1" in failures[0].text


def test_hostile_strings_and_control_characters_still_parse(demo, rules, tmp_path):
    evil = Finding(rule_id="IA101", severity=Severity.HIGH, title="t", message="a\x00b\x1b[31m]]></failure>&<x/>",
                   tenant="t\x07", namespace="ns", kind="Pod", name='p"<>&', container=None, node=None,
                   controls=(), evidence={"k\x01": "\ufffe"}, location=None, remediation="r")
    text = render(replace(demo, findings=(evil,)), rules)
    root = ET.fromstring(text)
    failure = root.find("./testsuite/testcase/failure")
    assert failure.get("message").startswith("a\ufffdb\ufffd[31m]]></failure>&<x/>")
    (tmp_path / "x.xml").write_text(text, encoding="utf-8")
    junitparser.JUnitXml.fromfile(str(tmp_path / "x.xml"))


def test_without_rules_only_findings_appear(demo):
    root = ET.fromstring(renderer("junit")(demo))
    assert all(c.find("failure") is not None or c.find("skipped") is not None
               for c in root.findall("./testsuite/testcase"))
