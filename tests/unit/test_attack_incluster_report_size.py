"""A tenant chooses the size of what its objects say: evidence is a value of the audited
object (an annotation, an argument, a path), messages and names quote it. Whatever those sizes
and however many findings one namespace has, every policy report fits in etcd (1.5 MiB), so one
tenant cannot make the publish of every namespace fail, and every finding is in one result."""
from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditor.baseline import fingerprint
from auditor.model import Coverage, Finding, Report, Severity
from auditor.reports.policyreport import APIS, to_list

ETCD_OBJECT_BYTES = 1_572_864
NOW = 1_764_000_000.0


def finding(n: int, size: int, char: str) -> Finding:
    big = char * size
    return Finding("IA101", Severity.HIGH, "t", f"message {big}", "tenant-a", "tenant-a", "Pod", f"pod-{n}-{big}",
                   None, None, (), {"/metadata/annotations/x": big, "/spec/args": [big, big]}, None, "r")


@settings(max_examples=12, deadline=None)
@example(count=500, size=3000, char="a")  # 500 results of 12 kB: one report of 6 MB before the bound
@given(count=st.integers(1, 1200), size=st.sampled_from([0, 100, 3000, 40_000]),
       char=st.sampled_from(["a", "\u00e9", "\U0001f600", "\n", '"']))
def test_every_report_fits_etcd_and_holds_each_finding_once(count, size, char):
    findings = tuple(finding(n, size, char) for n in range(count))
    report = Report("0", {"type": "live", "inputs": []}, findings, Coverage((), 1, 1, 1, ()))
    for api in APIS:
        items = to_list(report, None, api, NOW)["items"]
        assert all(len(json.dumps(i, ensure_ascii=False).encode("utf-8", "surrogatepass")) < ETCD_OBJECT_BYTES
                   for i in items)
        shown = sorted(r["properties"]["fingerprint"] for i in items for r in i["results"])
        assert shown == sorted(fingerprint(f) for f in findings)
