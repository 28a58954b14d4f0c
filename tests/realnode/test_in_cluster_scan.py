"""A scan run the in-cluster way, on real nodes: a Job whose pod has no kubeconfig, only the
projected volume the chart mounts (its ServiceAccount's token, kube-root-ca.crt, its
namespace), reaching the API at the `kubernetes` Service. Bound to deploy/rbac.yaml's reader
ClusterRole the report is complete; without it the report is partial and names the 403s.
helm, which installs the chart, works in the cluster as its admin."""
from __future__ import annotations

import json
import uuid

import pytest
import yaml
from harness.apiserver import KUBERNETES_SERVICE_IP
from harness.node import APISERVER_ADDRESS
from scenario import REPO, ok, run_job, serve_in, wait_for_no_containers, wait_ready

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

RBAC = "/apis/rbac.authorization.k8s.io/v1"
(READER,) = [doc for doc in yaml.safe_load_all((REPO / "deploy" / "rbac.yaml").read_text())
             if doc and doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == "k8s-isolation-audit-reader"]
SCAN = ["scan", "--format", "json", "--fail-on", "none"]


@pytest.fixture(scope="module")
def in_cluster(node_cluster):
    """(the scanners' namespace, two tenant namespaces): `scanner` there is bound to the
    reader ClusterRole applied from deploy/rbac.yaml, `nobody` to nothing."""
    sfx = uuid.uuid4().hex[:6]
    home, tenants = f"incl-{sfx}", [f"incl-a-{sfx}", f"incl-b-{sfx}"]
    binding = f"incl-reader-{sfx}"
    ok(node_cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": home}}))
    serve_in(node_cluster, *tenants)
    try:
        for account in ("scanner", "nobody"):
            ok(node_cluster.request("POST", f"/api/v1/namespaces/{home}/serviceaccounts",
                                    {"metadata": {"name": account}}))
        ok(node_cluster.request("POST", f"{RBAC}/clusterroles", READER))
        ok(node_cluster.request("POST", f"{RBAC}/clusterrolebindings", {
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": READER["metadata"]["name"]},
            "subjects": [{"kind": "ServiceAccount", "name": "scanner", "namespace": home}]}))
        node_cluster.call(node_cluster.api.wait_until_authorized, f"system:serviceaccount:{home}:scanner",
                          READER["rules"][0])
        for ns in tenants:
            wait_ready(node_cluster, ns)
        yield home, tenants
    finally:
        node_cluster.request("DELETE", f"{RBAC}/clusterrolebindings/{binding}")
        node_cluster.request("DELETE", f"{RBAC}/clusterroles/{READER['metadata']['name']}")
        for ns in (home, *tenants):
            node_cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
        left = [c for ns in (home, *tenants) for c in wait_for_no_containers(node_cluster, ns)]
        assert left == [], left


def test_pods_find_the_api_at_the_kubernetes_service_signed_by_the_published_ca(node_cluster, in_cluster):
    home, _ = in_cluster
    service = ok(node_cluster.request("GET", "/api/v1/namespaces/default/services/kubernetes"))
    assert service["spec"]["clusterIP"] == KUBERNETES_SERVICE_IP
    endpoints = ok(node_cluster.request("GET", "/api/v1/namespaces/default/endpoints/kubernetes"))
    assert [(a["ip"], p["port"]) for s in endpoints["subsets"] for a in s["addresses"] for p in s["ports"]] == [
        (APISERVER_ADDRESS, node_cluster.api.port)]
    root_ca = ok(node_cluster.request("GET", f"/api/v1/namespaces/{home}/configmaps/kube-root-ca.crt"))
    assert root_ca["data"]["ca.crt"] == node_cluster.api.ca_pem.decode()


def test_a_scan_in_a_pod_bound_to_the_reader_role_is_complete(node_cluster, in_cluster):
    home, tenants = in_cluster
    run = run_job(node_cluster, home, "scan-reader", "scanner", SCAN)
    assert run.exit_code == 0, run.stderr[-3000:]
    assert run.stderr == ""  # so the pod's log (`kubectl logs`) is the JSON report alone
    report = json.loads(run.stdout)
    assert report["source"]["type"] == "cluster" and report["source"]["cluster"] == "in-cluster"
    assert report["coverage"]["complete"] is True and report["summary"]["partial"] is False, report["coverage"]
    assert sorted(n["name"] for n in report["nodes"]) == sorted(n.spec.name for n in node_cluster.nodes)
    (first,) = [n for n in report["nodes"] if n["name"] == node_cluster.nodes[0].spec.name]
    assert set(tenants) <= set(first["tenants"]) and first["pods"] >= len(tenants), first


def test_a_scan_in_a_pod_without_the_role_is_partial_and_names_the_403s(node_cluster, in_cluster):
    home, _ = in_cluster
    run = run_job(node_cluster, home, "scan-nobody", "nobody", SCAN)
    assert run.exit_code == 2, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["summary"]["partial"] is True and report["coverage"]["complete"] is False
    reasons = [s["reason"] for s in report["coverage"]["skipped"]]
    user = f"system:serviceaccount:{home}:nobody"
    for kind in ("pods", "namespaces", "nodes", "networkpolicies"):
        assert any(r.startswith(f"forbidden: user {user} cannot list {kind}") for r in reasons), reasons
    assert "skipped cluster" in run.stderr and "Traceback" not in run.stderr
