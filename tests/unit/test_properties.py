"""Property tests: arbitrary documents never crash the loader or the engine."""
from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.sources.manifests import load
from scan_helpers import audit_inventory

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                      max_leaves=30)
KEYS = ["spec", "containers", "initContainers", "securityContext", "capabilities", "add", "privileged", "hostPID",
        "volumes", "hostPath", "path", "ports", "hostPort", "resources", "limits", "seccompProfile", "type",
        "template", "metadata", "labels", "podSelector", "ingress", "from", "policyTypes", "runAsUser", "env"]
k8s_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=25)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_loads(text):
    inventory = load(["-"], stdin=io.BytesIO(text.encode()))
    assert all(s.reason for s in inventory.skipped)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["Pod", "Deployment", "CronJob", "NetworkPolicy", "Namespace", "Node", "Service", "Custom"]),
       k8s_values, k8s_values)
def test_any_object_shape_audits(kind, spec, extra):
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "t"}, "spec": spec, "status": extra}
    data = json.dumps({"apiVersion": "v1", "kind": "List", "items": [obj, {**obj, "kind": "Pod"}]}, default=str)
    report = audit_inventory(load(["-"], stdin=io.BytesIO(data.encode())))
    for finding in report.findings:
        assert finding.rule_id and finding.message
