"""Reachability on a real node: the tool's reach Jobs connect from each tenant to the others'
pods. With kube-router enforcing NetworkPolicy, what they observe is what the policies
intend; with enforcement off, a connection the policies deny succeeds and the report says
so as critical drift (IA407). Both through the CLI."""
from __future__ import annotations

import uuid

import pytest
from scenario import PORT, ok, scan_probe, serve_in, wait_ready

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

def _same_namespace_only(namespace: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "same-namespace-only", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {}}]}]}}


@pytest.fixture(scope="module")
def tenants(node_cluster):
    """open-*: no policy; closed-*: admits only its own namespace. Both servers on the node
    kube-router enforces for."""
    sfx = uuid.uuid4().hex[:6]
    open_ns, closed_ns = f"open-{sfx}", f"closed-{sfx}"
    serve_in(node_cluster, open_ns, closed_ns)
    ok(node_cluster.request("POST", f"/apis/networking.k8s.io/v1/namespaces/{closed_ns}/networkpolicies",
                            _same_namespace_only(closed_ns)))
    for ns in (open_ns, closed_ns):
        wait_ready(node_cluster, ns)
    yield open_ns, closed_ns
    if node_cluster.nodes[0].kube_router is None:
        node_cluster.start_network_policy()
    for ns in (open_ns, closed_ns):
        node_cluster.request("DELETE", f"/api/v1/namespaces/{ns}")


def _rows(report: dict, src: str, dst: str) -> list[dict]:
    return [r for r in report["reachability"]["observed"]
            if (r["from_tenant"], r["to_tenant"]) == (src, dst) and r["ports"] == [f"TCP/{PORT}"]]


def _not_enforced(report: dict, namespaces: tuple[str, ...]) -> list[dict]:
    return [f for f in report["findings"] if f["rule_id"] == "IA407" and f.get("namespace") in namespaces]


def test_with_kube_router_enforcing_observed_equals_intended(node_cluster, tenants, tmp_path):
    open_ns, closed_ns = tenants
    assert node_cluster.nodes[0].kube_router is not None
    _, report = scan_probe(node_cluster, tmp_path / "report.json")
    assert report["coverage"]["complete"] is True, report["coverage"]
    denied, allowed = _rows(report, open_ns, closed_ns), _rows(report, closed_ns, open_ns)
    assert denied and all(r["result"] in ("filtered", "refused") for r in denied), denied
    assert allowed and all(r["result"] == "reachable" for r in allowed), allowed
    assert _not_enforced(report, tenants) == []


@pytest.fixture(scope="module")
def unenforced(node_cluster, tenants, tmp_path_factory):
    """The report of a scan with kube-router stopped and its rules and ipsets removed."""
    node_cluster.stop_network_policy()
    _, report = scan_probe(node_cluster, tmp_path_factory.mktemp("unenforced") / "report.json")
    return report


def test_with_enforcement_off_a_pair_the_policy_denies_connects(tenants, unenforced):
    open_ns, closed_ns = tenants
    denied = _rows(unenforced, open_ns, closed_ns)
    assert denied and all(r["result"] == "reachable" for r in denied), denied


def test_with_enforcement_off_the_report_shows_critical_drift(tenants, unenforced):
    _, closed_ns = tenants
    drift = _not_enforced(unenforced, tenants)
    assert drift and all(f["severity"] == "critical" for f in drift), unenforced["findings"]
    assert {f["namespace"] for f in drift} == {closed_ns}
