"""The report's order, reached one (severity, rule) group at a time, is the order of sorting
every finding by its whole key; and findings at one place share one Location."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.engine import _sort_findings
from auditor.model import Finding, Location, Severity

small = st.sampled_from(["", "a", "b", "tenant-a", "Pod", "app-1"])
findings = st.builds(
    lambda rule, severity, namespace, kind, name, container, message: Finding(
        rule, severity, "t", message, None, namespace, kind, name, container, None, (), {}, None, "r"),
    st.sampled_from(["IA101", "IA102", "IA205", "IA401"]), st.sampled_from(list(Severity)),
    st.none() | small, small, small, st.none() | small, small,
)


@given(st.lists(findings, max_size=60))
def test_grouped_sort_is_the_whole_key_sort(found):
    expected = sorted(found, key=lambda f: f.sort_key)
    _sort_findings(found)
    assert [id(f) for f in found] == [id(f) for f in expected]  # stable too: equal keys keep their order


def test_findings_at_one_place_share_its_location():
    from datetime import date

    from auditor.cli import _load_rules
    from auditor.config import Config
    from auditor.engine import audit
    from auditor.model import Inventory, Origin, Resource

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "tenant-a"},
           "spec": {"hostPID": True, "hostNetwork": True,
                    "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]}}
    origin = Origin(path="objects.json", lines=None)  # a document whose lines are not known
    inventory = Inventory(resources=(Resource("Pod", "v1", "tenant-a", "p", pod, origin),), inputs=("objects.json",))
    ruleset, analyses = _load_rules([])
    report = audit(inventory, ruleset, analyses, Config(), date(2026, 1, 1), "0")
    locations = {id(f.location) for f in report.findings}
    assert len(report.findings) > 3 and len(locations) == 1
    assert report.findings[0].location == Location("objects.json", None)
