"""Tenants on a real node: each pod runs the probe image's `probe --active` as its own
workload, and the scan joins the reports read from the pods' logs. What each pod was given
(privileged with hostPID, memory/CPU limits, none, the restricted profile) is what the
observed findings say, and on a correct node nothing drifts from the manifests."""
from __future__ import annotations

import json
import time
import uuid

import pytest
from harness.node_config import POD_PIDS_LIMIT
from scenario import RESTRICTED, containers_of, machine_boot_id, ok, scan_probe, wait_for_no_containers

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

OBSERVED_SERIOUS = {"IA301", "IA302", "IA303", "IA304", "IA305", "IA306", "IA307", "IA308"}
DRIFT = {"IA350", "IA351", "IA352", "IA353", "IA354"}
MEMORY_LIMIT = 128 * 1024 * 1024


def _pod(name: str, image: str, container: dict, **spec) -> dict:
    env = [{"name": var, "valueFrom": {"fieldRef": {"fieldPath": path}}}
           for var, path in (("NODE_NAME", "spec.nodeName"), ("POD_NAMESPACE", "metadata.namespace"),
                             ("POD_NAME", "metadata.name"))]
    return {"metadata": {"name": name, "labels": {"app": name}}, "spec": {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "enableServiceLinks": False,
        "automountServiceAccountToken": False, **spec,
        "containers": [{"name": "probe", "image": image, "imagePullPolicy": "Never",
                        "args": ["probe", "--active"], "env": env, **container}]}}


def tenant_pods(image: str, nodes: list[str]) -> dict[str, dict]:
    """namespace suffix -> the one pod that tenant runs; two tenants on each node."""
    first, second = nodes[0], nodes[-1]
    return {
        "priv": _pod("priv", image, {"securityContext": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False}},
                     hostPID=True, nodeName=first),
        "limited": _pod("limited", image, {"securityContext": RESTRICTED, "resources": {
            "limits": {"memory": "128Mi", "cpu": "500m"}, "requests": {"memory": "64Mi", "cpu": "50m"}}},
            nodeName=first),
        "unlimited": _pod("unlimited", image, {"securityContext": RESTRICTED}, nodeName=second),
        "restricted": _pod("restricted", image, {"securityContext": RESTRICTED, "resources": {
            "limits": {"memory": "256Mi", "cpu": "500m", "ephemeral-storage": "64Mi"},
            "requests": {"memory": "64Mi", "cpu": "50m", "ephemeral-storage": "16Mi"}}},
            securityContext={"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": True,
                             "seccompProfile": {"type": "RuntimeDefault"}}, nodeName=second),
    }


def wait_finished(cluster, namespace: str, name: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = ok(cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}"))
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            return pod
        time.sleep(1)
    raise AssertionError(f"pod {namespace}/{name} did not finish: {json.dumps(pod['status'])[:1500]}")


@pytest.fixture(scope="module")
def tenants(node_cluster, tmp_path_factory):
    sfx = uuid.uuid4().hex[:6]
    results = tmp_path_factory.mktemp("probe-results")
    namespaces = {}
    for key, pod in tenant_pods(node_cluster.probe.ref, [n.spec.name for n in node_cluster.nodes]).items():
        ns = f"{key}-{sfx}"
        namespaces[key] = ns
        ok(node_cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}))
        ok(node_cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", pod))
    reports = {}
    for key, ns in namespaces.items():
        pod = wait_finished(node_cluster, ns, key)
        assert pod["status"]["phase"] == "Succeeded", json.dumps(pod["status"])[:1500]
        status, log = node_cluster.request("GET", f"/api/v1/namespaces/{ns}/pods/{key}/log")
        assert status == 200 and isinstance(log, dict), log  # the log is the report: one JSON document
        reports[key] = log
        (results / f"{key}.json").write_text(json.dumps(reports[key]))
    running = {key: containers_of(node_cluster, ns) for key, ns in namespaces.items()}
    _, report = scan_probe(node_cluster, results / ".." / f"report-{sfx}.json", "--probe-results", str(results))
    yield namespaces, reports, report, running
    for ns in namespaces.values():
        node_cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
    for ns in namespaces.values():
        assert wait_for_no_containers(node_cluster, ns) == []


def findings_of(report: dict, namespace: str) -> set[str]:
    return {f["rule_id"] for f in report["findings"] if f.get("namespace") == namespace}


def test_containerd_holds_each_tenant_pod(tenants):
    """The clean-up checks look in containerd: they must see real pods when there are some."""
    _, _, _, running = tenants
    assert all(len(found) >= 2 for found in running.values()), running  # sandbox + container


def test_privileged_host_pid_pod_is_observed_as_such_and_does_not_drift(tenants):
    namespaces, reports, report, _ = tenants
    probe = reports["priv"]
    assert probe["namespaces"]["pid"]["shared_with_host"] is True
    assert probe["privileges"]["uid"] == 0 and "SYS_ADMIN" in probe["privileges"]["capabilities_effective"]
    found = findings_of(report, namespaces["priv"])
    assert {"IA301", "IA302"} <= found, found
    assert not found & DRIFT, found  # it asked for all of it


def test_limits_are_enforced_by_the_kubelet_and_seen_by_the_active_probe(tenants):
    namespaces, reports, report, _ = tenants
    cgroup = reports["limited"]["cgroup"]
    assert cgroup["memory_limit_bytes"] == MEMORY_LIMIT
    assert cgroup["cpu_quota_cores"] == pytest.approx(0.5)
    enforcement = cgroup["enforcement"]
    for controller in ("memory", "cpu"):
        assert enforcement[controller]["tested"] is True and enforcement[controller]["enforced"] is True, enforcement
    found = findings_of(report, namespaces["limited"])
    assert not found & (OBSERVED_SERIOUS | DRIFT | {"IA309"}), found


def test_the_pods_pids_limit_is_enforced_as_the_active_probe_shows(tenants):
    """The kubelet's podPidsLimit sits on the pod's cgroup, which runc does not mount into the
    container on cgroup v1: pids.max reads as absent, yet the active probe's forks are refused
    near the pod's limit, and the probe says so."""
    _, reports, _, _ = tenants
    cgroup = reports["limited"]["cgroup"]
    pids = cgroup["enforcement"]["pids"]
    assert (pids["tested"], pids["enforced"]) == (True, True), json.dumps(cgroup)
    assert "above this container's cgroup" in pids["detail"], pids
    created = int(pids["detail"].split("after ")[1].split(" ")[0])
    # refused at the pod's limit, less what else runs in the pod (pause, the probe and its threads)
    assert POD_PIDS_LIMIT - 16 <= created < POD_PIDS_LIMIT, pids


def test_unlimited_pod_is_observed_without_a_memory_limit(tenants):
    namespaces, reports, report, _ = tenants
    assert reports["unlimited"]["cgroup"]["memory_limit_bytes"] is None
    found = findings_of(report, namespaces["unlimited"])
    assert {"IA309", "IA110"} <= found, found
    assert not found & DRIFT, found


def test_restricted_pod_shows_nothing_serious_and_no_drift(tenants):
    namespaces, reports, report, _ = tenants
    probe = reports["restricted"]
    assert probe["privileges"]["uid"] == 65532 and probe["privileges"]["capabilities_effective"] == []
    assert probe["namespaces"]["pid"]["shared_with_host"] is False
    found = findings_of(report, namespaces["restricted"])
    assert not found & (OBSERVED_SERIOUS | DRIFT), found


def test_two_nodes_on_one_kernel_are_reported_as_one_kernel_with_all_their_tenants(node_cluster, tenants):
    """Kubernetes shows two nodes; their probes saw one boot_id, and the report says which
    tenants that one kernel puts together."""
    namespaces, reports, report, _ = tenants
    assert len({r["probe"]["node"] for r in reports.values()}) == 2
    ours = set(namespaces.values())
    shared = [f for f in report["findings"] if f["rule_id"] == "IA504" and ours <= set(f["evidence"]["tenants"])]
    assert len(shared) == 1, [f for f in report["findings"] if f["rule_id"] == "IA504"]
    evidence = shared[0]["evidence"]
    assert sorted(evidence["nodes"]) == sorted(n.spec.name for n in node_cluster.nodes)
    assert evidence["boot_id"] == machine_boot_id()
