"""What a real cluster needs for `--probe`, shown on a real node: the ClusterRoles of
deploy/rbac.yaml as they are, tenant namespaces that enforce the restricted Pod Security
Standard, and the probe image present on the node. The run completes and leaves nothing."""
from __future__ import annotations

import json
import uuid

import pytest
import yaml
from scenario import PORT, REPO, ok, run_cli, server_pod, tool_objects_left, wait_for_no_containers, wait_ready

from auditor.live.probes.options import TOOL_NAMESPACE

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

RBAC = REPO / "deploy" / "rbac.yaml"
RESTRICTED_NS = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}


def test_scan_probe_as_the_deployed_roles_with_restricted_tenants(node_cluster, tmp_path):
    sfx = uuid.uuid4().hex[:6]
    tenants = [f"psa-a-{sfx}", f"psa-b-{sfx}"]
    for ns in tenants:
        ok(node_cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns, "labels": RESTRICTED_NS}}))
        pod = server_pod(node_cluster.probe.ref, node_cluster.nodes[0].spec.name)
        pod["spec"]["securityContext"] = {"runAsUser": 65532, "runAsNonRoot": True}
        ok(node_cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", pod))
    for ns in tenants:
        wait_ready(node_cluster, ns)
    rules = [rule for doc in yaml.safe_load_all(RBAC.read_text()) if doc and doc["kind"] == "ClusterRole"
             for rule in doc["rules"]]
    kubeconfig = node_cluster.call(node_cluster.api.make_user, f"auditor-{sfx}", rules)
    try:
        proc = run_cli(node_cluster, "scan", "--kubeconfig", kubeconfig, "--probe", "--probe-image",
                       node_cluster.probe.ref, "--probe-timeout", "240", "--format", "json",
                       "-o", str(tmp_path / "report.json"), "--fail-on", "none")
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["coverage"]["complete"] is True, report["coverage"]
        inputs = report["coverage"]["inputs"]
        assert {f"probe node-{n.spec.name}" for n in node_cluster.nodes} <= set(inputs)
        assert {f"probe reach-{ns}" for ns in tenants} <= set(inputs)  # admitted under restricted
        rows = [r for r in report["reachability"]["observed"] if r["from_tenant"] in tenants
                and r["to_tenant"] in tenants and r["ports"] == [f"TCP/{PORT}"]]
        assert rows and all(r["result"] == "reachable" for r in rows), rows  # no policy: open
        assert tool_objects_left(node_cluster, TOOL_NAMESPACE) == []
        assert wait_for_no_containers(node_cluster, TOOL_NAMESPACE) == []
    finally:
        for ns in tenants:
            node_cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
