"""Tenant escapes through the API on a real node: a RoleBinding that lends one tenant's
ServiceAccount exec rights in another tenant's namespace, and a tenant that may create pods
where Pod Security admits privileged ones, on the node it shares with the other tenant.
`scan` reads the cluster's RBAC, reports the binding chain and joins it to the node."""
from __future__ import annotations

import json
import uuid

import pytest
from scenario import ok, run_cli, serve_in, wait_ready

pytestmark = [pytest.mark.realnode, pytest.mark.slow]


def test_a_cross_tenant_exec_binding_is_reported_with_its_chain(node_cluster, tmp_path):
    sfx = uuid.uuid4().hex[:6]
    shop, blog = f"rbac-shop-{sfx}", f"rbac-blog-{sfx}"
    serve_in(node_cluster, shop, blog)
    ok(node_cluster.request("POST", f"/api/v1/namespaces/{shop}/serviceaccounts", {"metadata": {"name": "ci"}}))
    ok(node_cluster.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{shop}/roles", {
        "metadata": {"name": "deployer"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]}))
    ok(node_cluster.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{shop}/rolebindings", {
        "metadata": {"name": "ci-deployer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": shop}]}))
    ok(node_cluster.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{blog}/roles", {
        "metadata": {"name": "debug"},
        "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
                  {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}))
    ok(node_cluster.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{blog}/rolebindings", {
        "metadata": {"name": "shop-ci-debug"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "debug"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": shop}]}))
    try:
        for ns in (shop, blog):
            wait_ready(node_cluster, ns)
        out = tmp_path / "report.json"
        proc = run_cli(node_cluster, "scan", "--kubeconfig", node_cluster.api.kubeconfig, "--format", "json",
                       "-o", str(out), "--fail-on", "none")
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(out.read_text())
        assert report["coverage"]["complete"] is True, report["coverage"]
        ours = [f for f in report["findings"] if f["namespace"] == blog and f["name"] == "shop-ci-debug"]
        found = {f["rule_id"] for f in ours}
        assert {"IA601", "IA603"} <= found, [(f["rule_id"], f["message"]) for f in report["findings"]
                                             if f["rule_id"].startswith("IA6")]
        chain = json.dumps([f["evidence"] for f in ours])
        assert "shop-ci-debug" in chain and "debug" in chain and "pods/exec" in chain
        access = [row for row in report["api_access"] if row["from"] == shop and row["to"] == blog]
        assert access and access[0]["count"] >= 1, report["api_access"]
        # shop enforces no Pod Security and may create pods there, on the node blog's pod runs on
        privileged = [f for f in report["findings"] if f["rule_id"] == "IA613" and f.get("tenant") == shop]
        assert privileged and blog in privileged[0]["message"], [f["message"] for f in report["findings"]
                                                                if f["rule_id"] == "IA613"]
    finally:
        for ns in (shop, blog):
            node_cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
