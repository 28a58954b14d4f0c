"""Reports a tenant wrote with our managed-by label: the label is anyone's to set, so a labelled
report is ours to replace or delete only under a name we give our reports. Whatever else a
tenant (or someone who may only relabel a report) names one, publishing never touches it."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_incluster_publish import API, MemoryApi

from auditor.incluster.publish import OUR_NAME, publish_reports
from auditor.reports.policyreport import LABELS

names = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?\Z").filter(lambda n: not OUR_NAME.match(n))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, namespace=st.sampled_from(["shop-web", "tenant-x"]), cluster=st.booleans())
def test_a_labelled_report_of_a_name_we_do_not_give_is_never_replaced_or_deleted(demo, name, namespace, cluster):
    api = MemoryApi()
    where = f"/apis/{API}/clusterpolicyreports/{name}" if cluster else \
        f"/apis/{API}/namespaces/{namespace}/policyreports/{name}"
    forged = {"metadata": {"name": name, "labels": dict(LABELS), "resourceVersion": "1",
                           **({} if cluster else {"namespace": namespace})}, "results": []}
    api.objects[where] = forged
    publish_reports(api, demo, None, API, 1.0)
    publish_reports(api, demo, None, API, 2.0)
    assert api.objects[where] is forged and not any(path == where for _, path in api.writes)


def test_our_stale_reports_are_still_deleted_under_every_name_we_give(demo):
    api = MemoryApi()
    for name in ("k8s-isolation-audit", "k8s-isolation-audit-2", "k8s-isolation-audit-0123456789-3"):
        api.objects[f"/apis/{API}/namespaces/gone/policyreports/{name}"] = {
            "metadata": {"name": name, "namespace": "gone", "labels": dict(LABELS), "resourceVersion": "1"}}
    assert publish_reports(api, demo, None, API, 1.0).deleted == 3
    assert not any("/namespaces/gone/" in path for path in api.objects)
