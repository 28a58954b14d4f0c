"""The JSON report written a batch of findings at a time is the report written whole."""
from __future__ import annotations

import json
from unittest import mock

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from scan_helpers import demo_report

from auditor.model import Coverage, Finding, Location, Report, Severity
from auditor.reports import json_report

evidence = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8)
findings = st.builds(
    Finding, rule_id=st.sampled_from(["IA101", "IA403"]), severity=st.sampled_from(list(Severity)),
    title=st.text(max_size=5), message=st.text(max_size=12), tenant=st.none() | st.text(max_size=4),
    namespace=st.none() | st.text(max_size=4), kind=st.just("Pod"), name=st.text(max_size=6),
    container=st.none() | st.just("app"), node=st.none(), controls=st.lists(st.text(max_size=4), max_size=2).map(tuple),
    evidence=st.dictionaries(st.text(max_size=8), evidence, max_size=2),
    location=st.none() | st.builds(Location, st.text(max_size=6), st.none() | st.integers(1, 10**6)),
    remediation=st.text(max_size=5))


def _whole(report: Report) -> str:
    return json_report.dumps(json_report.to_dict(report))


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} is no JSON")


def _same(written: str, report: Report) -> None:
    """Byte for byte the report written whole; where orjson refuses a batch's evidence (that
    batch, not the whole report, falls back to the standard library), the same JSON."""
    whole = _whole(report)
    json.loads(written, parse_constant=_no_constants)  # strict JSON: no Infinity or NaN
    try:
        orjson.dumps(json_report.to_dict(report), option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        assert json.loads(written) == json.loads(whole)
    else:
        assert written == whole


@settings(max_examples=150, deadline=None)
@given(st.lists(findings, max_size=9), st.sampled_from([1, 2, 4, 2048]), st.sampled_from([1, 400, 2 << 20]),
       st.dictionaries(st.sampled_from(["nodes", "placement", "findings"]), evidence, max_size=2))
def test_findings_written_in_batches_are_the_report_written_whole(found, batch, batch_bytes, sections):
    """Any count across batch edges (batches sized by the text of the last), evidence orjson
    refuses (65-bit integers: the standard library writes it), a plugin section that takes
    the findings' name."""
    report = Report(tool_version="0", source={"type": "files"}, findings=tuple(found),
                    coverage=Coverage(inputs=("a",), objects=1, audited_workloads=1, rules_run=1, skipped=()),
                    sections=sections)
    with mock.patch.object(json_report, "_BATCH", batch), mock.patch.object(json_report, "_BATCH_BYTES", batch_bytes):
        written = json_report.render(report)
    _same(written, report)


def test_the_demo_report_in_batches_is_the_demo_report_whole():
    report = demo_report()
    with mock.patch.object(json_report, "_BATCH", 7):
        assert json_report.render(report) == _whole(report)
    assert orjson.loads(json_report.render(report))["findings"]


def test_evidence_near_orjsons_depth_bound_is_written_as_the_whole_report_writes_it():
    """A batch orjson writes is as the whole report writes it: its findings sit as deep in
    their pieces as in the report, so no batch falls back where the whole report would not."""
    one = Finding("IA101", Severity.HIGH, "t", "m", None, "ns", "Pod", "p", None, None, (), {}, None, "r")
    for depth in range(246, 256):
        nested: object = 1
        for _ in range(depth):
            nested = [nested]
        report = Report(tool_version="0", source={}, findings=(one, Finding(
            "IA101", Severity.HIGH, "t", "m", None, "ns", "Pod", "q", None, None, (), {"/a": nested}, None, "r")),
            coverage=Coverage(inputs=(), objects=0, audited_workloads=0, rules_run=0, skipped=()))
        with mock.patch.object(json_report, "_BATCH", 1):
            written = json_report.render(report)
        _same(written, report)


def test_a_batch_holds_about_its_bytes_however_large_the_findings():
    """Findings that list a fleet's namespaces are written a few at a time, small ones by
    the thousand: no batch's text is much over _BATCH_BYTES (plus one finding)."""
    small = Finding("IA101", Severity.HIGH, "t", "m", None, "ns", "Pod", "p", None, None, (), {}, None, "r")
    big = Finding("IA402", Severity.CRITICAL, "t", "m", None, "ns", "Namespace", "n", None, None, (),
                  {"/reached_from": [f"tenant-{i:04d}" for i in range(2000)]}, None, "r")
    report = Report(tool_version="0", source={}, findings=(small,) * 3000 + (big,) * 300 + (small,) * 5000,
                    coverage=Coverage(inputs=(), objects=0, audited_workloads=0, rules_run=0, skipped=()))
    sizes = [len(p) for p in json_report.pieces(report)]
    one_big = len(json_report._batch([json_report.finding_dict(big)]))
    assert max(sizes) <= max(json_report._BATCH_BYTES, json_report._FIRST * one_big) + one_big
    assert len(sizes) < 300  # the small ones still go by the thousand
    assert "".join(json_report.pieces(report)) == _whole(report)
