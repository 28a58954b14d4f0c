"""`--probe` orchestration against a real kube-apiserver. No kubelet (and no job controller)
runs, so probes never finish: runs must time out cleanly, say which probes did not run and
why, and leave nothing behind; leftovers of an interrupted run go first."""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import yaml

from auditor.live.probes.manifests import MANAGED_BY, RUN_ID, SERVICE_ACCOUNT, TOOL
from auditor.live.probes.options import ProbeOptions
from auditor.live.probes.run import run_probes

pytestmark = pytest.mark.apiserver

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
SELECTOR = f"labelSelector={MANAGED_BY}%3D{TOOL}"


def ok(result, *codes):
    status, body = result
    assert status in (codes or (200, 201)), body
    return body


def make_tenants(apiserver, sfx):
    """Two nodes (one tainted), three tenant namespaces, pods with IPs and ports."""
    nodes = [f"bm-{sfx}", f"vm-{sfx}"]
    ok(apiserver.request("POST", "/api/v1/nodes", {"metadata": {"name": nodes[0], "labels": {
        "node.kubernetes.io/instance-type": "c6i.metal"}}, "spec": {
        "taints": [{"key": "dedicated", "value": "trading", "effect": "NoSchedule"}]}}))
    ok(apiserver.request("POST", "/api/v1/nodes", {"metadata": {"name": nodes[1]}, "spec": {
        "providerID": "aws:///us-east-1a/i-0123"}}))
    tenants = [f"t{i}-{sfx}" for i in (1, 2, 3)]
    ips = {}
    for n, ns in enumerate(tenants):
        ok(apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}))
        pods = [("web-a", {"app": "web"}, [80]), ("web-b", {"app": "web"}, [80]), ("db", {"app": "db"}, [5432]),
                ("batch", {"app": "batch"}, [])]
        for p, (name, labels, ports) in enumerate(pods):
            body = {"metadata": {"name": name, "labels": labels}, "spec": {
                "nodeName": nodes[p % 2],
                "containers": [{"name": "c", "image": "registry.example/app:1",
                                "ports": [{"containerPort": port} for port in ports]}]}}
            pod = ok(apiserver.request("POST", f"/api/v1/namespaces/{ns}/pods", body))
            ip = f"10.244.{n}.{p + 10}"
            pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
            ok(apiserver.request("PUT", f"/api/v1/namespaces/{ns}/pods/{name}/status", pod))
            ips[(ns, name)] = ip
    return nodes, tenants, ips


def labelled(apiserver, path):
    return ok(apiserver.request("GET", f"{path}?{SELECTOR}"))["items"]


def assert_nothing_left(apiserver, tool_namespace, tenants=()):
    assert labelled(apiserver, "/apis/batch/v1/jobs") == []
    assert labelled(apiserver, "/api/v1/pods") == []
    assert labelled(apiserver, "/api/v1/configmaps") == []
    assert labelled(apiserver, "/api/v1/serviceaccounts") == []
    status, ns = apiserver.request("GET", f"/api/v1/namespaces/{tool_namespace}")
    assert status == 404 or ns["status"]["phase"] == "Terminating", ns


def test_probe_jobs_pin_nodes_and_carry_reach_targets_then_time_out_and_clean_up(apiserver):
    sfx = uuid.uuid4().hex[:6]
    nodes, tenants, ips = make_tenants(apiserver, sfx)
    tool = f"ia-{sfx}"
    options = ProbeOptions(image="registry.example/k8s-isolation-audit:test", namespace=tool, nodes=nodes,
                           namespaces=tenants, timeout=3, poll_interval=0.5, active_deadline=77,
                           ttl_after_finished=99)
    seen: dict = {}
    updates = []

    def progress(update):
        updates.append(update)
        if update.phase == "wait" and "jobs" not in seen:
            seen["jobs"] = labelled(apiserver, "/apis/batch/v1/jobs")
            seen["configmaps"] = {ns: ok(apiserver.request(
                "GET", f"/api/v1/namespaces/{ns}/configmaps?{SELECTOR}"))["items"] for ns in tenants}
            seen["namespace"] = ok(apiserver.request("GET", f"/api/v1/namespaces/{tool}"))
            seen["account"] = ok(
                apiserver.request("GET", f"/api/v1/namespaces/{tool}/serviceaccounts/{SERVICE_ACCOUNT}")
            )
            # play the job controller for the first node probe: its pod exists, and stays Pending
            job = next(j for j in seen["jobs"] if j["metadata"]["annotations"]["isolation-audit.io/target"] == nodes[0])
            template = job["spec"]["template"]
            ok(apiserver.request("POST", f"/api/v1/namespaces/{tool}/pods", {
                "metadata": {"name": job["metadata"]["name"] + "-x1", "labels": template["metadata"]["labels"]},
                "spec": template["spec"]}))

    start = time.monotonic()
    run = run_probes(apiserver.kubeconfig, options=options, progress=progress)
    elapsed = time.monotonic() - start
    assert elapsed < 20

    jobs = seen["jobs"]
    assert len(jobs) == 5 and all(j["metadata"]["labels"][RUN_ID] == run.run_id for j in jobs)
    node_jobs = {j["spec"]["template"]["spec"]["nodeName"]: j for j in jobs if j["metadata"]["namespace"] == tool}
    assert sorted(node_jobs) == sorted(nodes)
    for node, job in node_jobs.items():
        spec = job["spec"]
        pod = spec["template"]["spec"]
        assert pod["tolerations"] == [{"operator": "Exists"}]
        assert pod["containers"][0]["args"] == ["probe", "--active", "--node", node]
        assert pod["containers"][0]["image"] == "registry.example/k8s-isolation-audit:test"
        assert pod["serviceAccountName"] == SERVICE_ACCOUNT and pod["automountServiceAccountToken"] is False
        assert (spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"], spec["backoffLimit"]) == (77, 99, 0)
        assert job["spec"]["template"]["metadata"]["labels"][MANAGED_BY] == TOOL
    reach_jobs = {j["metadata"]["namespace"]: j for j in jobs if j["metadata"]["namespace"] != tool}
    assert sorted(reach_jobs) == sorted(tenants)
    for ns, job in reach_jobs.items():
        pod = job["spec"]["template"]["spec"]
        assert pod["containers"][0]["args"][:3] == ["probe", "--reach", "/etc/isolation-audit/targets.json"]
        assert "nodeName" not in pod
        [cm] = seen["configmaps"][ns]
        assert cm["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
        assert pod["volumes"] == [{"name": "targets", "configMap": {"name": cm["metadata"]["name"],
                                                                    "defaultMode": 420}}]
        targets = json.loads(cm["data"]["targets.json"])["targets"]
        # other tenants only; one target per (namespace, labels, port); pods without ports are not targets
        expected = sorted((other, ips[(other, pod_name)], port)
                          for other in tenants if other != ns
                          for pod_name, port in (("web-a", 80), ("db", 5432)))
        # other tests share this apiserver: only this test's tenants are its to assert on
        mine = [t for t in targets if t["namespace"] in tenants]
        assert sorted((t["namespace"], t["address"], t["port"]) for t in mine) == expected
        assert all(t["tenant"] == t["namespace"] and t["protocol"] == "TCP" for t in targets)
    assert seen["namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert seen["namespace"]["metadata"]["labels"][MANAGED_BY] == TOOL
    assert seen["account"]["automountServiceAccountToken"] is False

    assert run.results == []
    reasons = {n.probe_id: n.reason for n in run.not_run}
    assert sorted(reasons) == sorted([f"node-{n}" for n in nodes] + [f"reach-{t}" for t in tenants])
    assert reasons[f"node-{nodes[0]}"] == "timed out after 3s, Pending"
    assert reasons[f"node-{nodes[1]}"].startswith("timed out after 3s: no pod was created")
    assert [s.one_line() for s in run.skipped()][0].startswith("probe node-")
    assert all(s.reason.startswith("not run: timed out") for s in run.skipped())
    assert run.cleanup_errors == []
    assert {u.phase for u in updates} == {"leftovers", "create", "wait", "cleanup"}
    assert_nothing_left(apiserver, tool)


def test_leftovers_of_an_interrupted_run_are_removed_by_the_next_run(apiserver):
    sfx = uuid.uuid4().hex[:6]
    nodes, tenants, _ = make_tenants(apiserver, sfx)
    tool = f"ia-{sfx}"
    old = {MANAGED_BY: TOOL, RUN_ID: "deadbeef"}
    # what a killed run leaves: its namespace, account, jobs, a pod, a targets ConfigMap
    ok(apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": tool, "labels": old}}))
    ok(apiserver.request("POST", f"/api/v1/namespaces/{tool}/serviceaccounts",
                         {"metadata": {"name": SERVICE_ACCOUNT, "labels": old}}))
    container = {"name": "probe", "image": "registry.example/probe:old", "args": ["probe"]}
    for ns, name in ((tool, "ia-deadbeef-node-0"), (tool, "ia-deadbeef-node-1"), (tenants[0], "ia-deadbeef-reach")):
        volumes = [{"name": "targets", "configMap": {"name": name}}] if ns != tool else []
        ok(apiserver.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", {"metadata": {"name": name, "labels": old},
            "spec": {"template": {"metadata": {"labels": old}, "spec": {
                "restartPolicy": "Never", "containers": [container], "volumes": volumes}}}}))
    ok(apiserver.request("POST", f"/api/v1/namespaces/{tenants[0]}/configmaps",
                         {"metadata": {"name": "ia-deadbeef-reach", "labels": old}, "data": {"targets.json": "{}"}}))
    ok(apiserver.request("POST", f"/api/v1/namespaces/{tool}/pods", {"metadata": {"name": "ia-deadbeef-node-0-abc",
                         "labels": old}, "spec": {"containers": [container]}}))
    unrelated = ok(apiserver.request("POST", f"/api/v1/namespaces/{tenants[1]}/configmaps",
                                     {"metadata": {"name": "keep-me"}, "data": {"a": "b"}}))

    run = run_probes(apiserver.kubeconfig, options=ProbeOptions(
        namespace=tool, nodes=nodes[:1], namespaces=[], timeout=1, poll_interval=0.2))
    assert sorted(run.leftovers_removed) == sorted([
        f"Job {tool}/ia-deadbeef-node-0", f"Job {tool}/ia-deadbeef-node-1",
        f"Job {tenants[0]}/ia-deadbeef-reach", f"Pod {tool}/ia-deadbeef-node-0-abc",
        f"ConfigMap {tenants[0]}/ia-deadbeef-reach", f"ServiceAccount {tool}/{SERVICE_ACCOUNT}"])
    assert [s.probe_id for s in run.planned] == [f"node-{nodes[0]}"]  # the new run went ahead in the reused namespace
    assert [n.probe_id for n in run.not_run] == [f"node-{nodes[0]}"]
    assert run.cleanup_errors == []
    assert_nothing_left(apiserver, tool)
    assert ok(apiserver.request("GET", f"/api/v1/namespaces/{tenants[1]}/configmaps/keep-me"))["metadata"]["uid"] \
        == unrelated["metadata"]["uid"]


@pytest.mark.parametrize("interrupt", ["sigterm", "ctrl-c"])
def test_an_interrupted_run_still_cleans_up(apiserver, interrupt):
    sfx = uuid.uuid4().hex[:6]
    nodes, tenants, _ = make_tenants(apiserver, sfx)
    tool = f"ia-{sfx}"
    created = []

    def progress(update):
        if update.phase == "wait":
            created.extend(labelled(apiserver, "/apis/batch/v1/jobs"))
            if interrupt == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler raises in this (main) thread before the sleep ends
            raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        run_probes(apiserver.kubeconfig, options=ProbeOptions(
            namespace=tool, nodes=nodes, namespaces=tenants, timeout=60, poll_interval=0.2), progress=progress)
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler was restored
    assert len(created) == 5
    assert_nothing_left(apiserver, tool)


def test_the_probe_role_of_deploy_rbac_is_enough_for_a_probe_run(apiserver):
    sfx = uuid.uuid4().hex[:6]
    nodes, tenants, _ = make_tenants(apiserver, sfx)
    tool = f"ia-{sfx}"
    roles = {d["metadata"]["name"]: d["rules"] for d in yaml.safe_load_all(RBAC.read_text())
             if d and d["kind"] == "ClusterRole"}
    rules = roles["k8s-isolation-audit-reader"] + [
        {**r, "resourceNames": [tool]} if r.get("resourceNames") else r for r in roles["k8s-isolation-audit-prober"]]
    user = f"prober-{sfx}"
    kubeconfig = apiserver.make_user(user, rules)
    # what the prober may not do: read Secrets or ConfigMaps, touch other namespaces' objects
    for path in ("/api/v1/secrets", "/api/v1/configmaps", f"/api/v1/namespaces/{tenants[0]}/configmaps/x"):
        assert apiserver.request("GET", path, user=user)[0] == 403
    captured = {}

    def progress(update):
        if update.phase == "wait" and not captured:
            captured["jobs"] = labelled(apiserver, "/apis/batch/v1/jobs")

    run = run_probes(kubeconfig, options=ProbeOptions(namespace=tool, nodes=nodes, namespaces=tenants[:2],
                                                      timeout=1, poll_interval=0.2), progress=progress)
    assert len(captured["jobs"]) == 4 and len(run.not_run) == 4
    assert run.cleanup_errors == []
    assert_nothing_left(apiserver, tool)
