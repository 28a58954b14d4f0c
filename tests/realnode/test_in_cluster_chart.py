"""The in-cluster mode end to end on real nodes: the chart installed with a real helm, its
CronJob's Job run twice around a change to the cluster, the policy reports and the drift
they show, the metrics served by the chart's metrics pod and scraped over HTTP, and nothing
of ours left after `helm uninstall` (the garbage collector removes what the runs wrote)."""
from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from scenario import REPO, finished_job, helm, ok, tool_objects_left, wait_for_no_containers

pytestmark = [pytest.mark.realnode, pytest.mark.slow, pytest.mark.rendertools]

CHART = REPO / "deploy" / "helm" / "k8s-isolation-audit"
WG = "/apis/wgpolicyk8s.io/v1alpha2"
OURS = "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dk8s-isolation-audit"
REPORT = "k8s-isolation-audit"  # the name of every report a run writes
CRDS = ("policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io",
        "reports.openreports.io", "clusterreports.openreports.io")
NEVER = "0 0 1 1 *"  # the test triggers the runs itself


def until(what: str, done: Callable[[], object], timeout: float = 180.0) -> object:
    deadline = time.monotonic() + timeout
    while not (value := done()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s")
        time.sleep(1)
    return value


def hostile_deployment(name: str) -> dict:
    """A finding at high without a running pod: the scan reads the template of zero replicas."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"hostPID": True, "containers": [{"name": "c", "image": "busybox"}]}}}}


class Release:
    def __init__(self, cluster, helm_binary: Path) -> None:
        sfx = uuid.uuid4().hex[:6]
        self.cluster, self.helm_binary = cluster, helm_binary
        self.name, self.namespace = "isolation-audit", f"chart-{sfx}"
        self.tenants = [f"chart-a-{sfx}", f"chart-b-{sfx}"]
        self.runs = 0

    def helm(self, *args: str):
        done = helm(self.cluster, self.helm_binary, *args, "--namespace", self.namespace)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    def install(self, *values: str) -> None:
        image = self.cluster.probe.ref
        repository, tag = image.rsplit(":", 1)
        config = {"tenancy": {"label": "tenant"}}
        self.helm("install", self.name, str(CHART), "--create-namespace", "--wait", "--timeout", "180s",
                  "--set", "namespace=", "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
                  "--set", "image.pullPolicy=Never", "--set", f"scan.schedule={NEVER}",
                  "--set-json", f"config={json.dumps(config)}", *values)

    def run(self):
        """A Job made from the CronJob's template, as `kubectl create job --from=cronjob/…` does."""
        self.runs += 1
        cronjob = ok(self.cluster.request(
            "GET", f"/apis/batch/v1/namespaces/{self.namespace}/cronjobs/{self.name}-scan"))
        spec = {**cronjob["spec"]["jobTemplate"]["spec"], "backoffLimit": 0}  # one pod to read
        name = f"scan-now-{self.runs}"
        owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob["metadata"]["name"],
                 "uid": cronjob["metadata"]["uid"]}  # as kubectl sets it: uninstalling removes the Job too
        ok(self.cluster.request("POST", f"/apis/batch/v1/namespaces/{self.namespace}/jobs",
                                {"metadata": {"name": name, "ownerReferences": [owner]}, "spec": spec}))
        return finished_job(self.cluster, self.namespace, name, timeout=300)

    def left(self) -> list[str]:
        """What is in the release's namespace but for what Kubernetes puts in every namespace."""
        found = []
        for path in ("/apis/batch/v1/namespaces/{}/cronjobs", "/apis/batch/v1/namespaces/{}/jobs",
                     "/api/v1/namespaces/{}/pods", "/apis/apps/v1/namespaces/{}/deployments",
                     "/api/v1/namespaces/{}/services", "/api/v1/namespaces/{}/configmaps",
                     "/api/v1/namespaces/{}/serviceaccounts",
                     "/apis/networking.k8s.io/v1/namespaces/{}/networkpolicies",
                     "/apis/rbac.authorization.k8s.io/v1/namespaces/{}/roles"):
            items = ok(self.cluster.request("GET", path.format(self.namespace)))["items"]
            found += [f"{path.rsplit('/', 1)[1]}/{o['metadata']['name']}" for o in items
                      if o["metadata"]["name"] not in ("kube-root-ca.crt", "default")]
        roles = ok(self.cluster.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"))["items"]
        return found + [f"clusterrole/{r['metadata']['name']}" for r in roles
                        if r["metadata"]["name"].startswith(f"{self.name}-")]

    def reports(self) -> dict[str | None, dict]:
        found = {}
        for plural in ("policyreports", "clusterpolicyreports"):
            for item in ok(self.cluster.request("GET", f"{WG}/{plural}?{OURS}"))["items"]:
                found[item["metadata"].get("namespace")] = item
        return found

    def scrape(self) -> dict[str, list[tuple[dict, float]]]:
        """GET /metrics from the chart's metrics pod, at its pod IP inside the cluster's network."""
        (pod,) = ok(self.cluster.request(
            "GET", f"/api/v1/namespaces/{self.namespace}/pods?labelSelector=app.kubernetes.io%2Fcomponent%3Dmetrics"
        ))["items"]

        def get() -> tuple[int, str, str]:
            conn = http.client.HTTPConnection(pod["status"]["podIP"], 9090, timeout=10)
            try:
                conn.request("GET", "/metrics")
                answer = conn.getresponse()
                return answer.status, answer.getheader("Content-Type") or "", answer.read(1 << 20).decode()
            finally:
                conn.close()

        status, content_type, text = self.cluster.call(get)
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4"), (status, content_type)
        return {f.name: [(s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def named(report: dict, name: str) -> list[dict]:
    """The report's results about the object `name`."""
    return [r for r in report.get("results", ()) if any(res.get("name") == name for res in r.get("resources", ()))]


def value(families, name: str, **labels: str) -> float:
    return sum(v for lab, v in families[name] if labels.items() <= lab.items())


@pytest.fixture
def release(node_cluster, helm_binary):
    rel = Release(node_cluster, helm_binary)
    for ns in rel.tenants:
        ok(node_cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns, "labels": {"tenant": ns}}}))
    try:
        yield rel
    finally:
        helm(node_cluster, helm_binary, "uninstall", rel.name, "--namespace", rel.namespace, "--wait")
        for ns in (*rel.tenants, rel.namespace):
            node_cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
        for crd in CRDS:  # helm never deletes CRDs; the shared cluster should not keep them
            node_cluster.request("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}")
        assert wait_for_no_containers(node_cluster, rel.namespace) == []


def test_the_chart_publishes_reports_metrics_and_drift_and_uninstalls_without_a_trace(node_cluster, release):
    a, b = release.tenants
    ok(node_cluster.request("POST", f"/apis/apps/v1/namespaces/{a}/deployments", hostile_deployment("first")))
    release.install()

    first = release.run()
    assert first.exit_code == 0, first.stderr[-3000:]
    report = json.loads(first.stdout)  # the Job's log is the run's JSON report
    assert report["source"]["cluster"] == "in-cluster" and report["summary"]["partial"] is False, report["coverage"]
    assert report["drift"]["status"] == "first_run"
    assert "published policy reports" in first.stderr
    reports = release.reports()
    assert None in reports and a in reports and b in reports, sorted(map(str, reports))
    assert any(r["policy"] == "IA101" and r["result"] == "fail" for r in named(reports[a], "first"))  # host-pid
    assert named(reports[b], "second") == []
    families = until("the first run's metrics", lambda: (f := release.scrape())
                     and value(f, "isolation_audit_state_available") == 1 and f)
    assert value(families, "isolation_audit_findings", rule="IA101", tenant=a) == 1
    assert value(families, "isolation_audit_drift_compared") == 0
    assert value(families, "isolation_audit_last_run_timestamp_seconds") > 0

    # the cluster changes: tenant a's problem is fixed, tenant b gets one
    ok(node_cluster.request("DELETE", f"/apis/apps/v1/namespaces/{a}/deployments/first"))
    ok(node_cluster.request("POST", f"/apis/apps/v1/namespaces/{b}/deployments", hostile_deployment("second")))
    second = release.run()
    assert second.exit_code == 0, second.stderr[-3000:]
    drift = json.loads(second.stdout)["drift"]
    assert drift["status"] == "compared", drift
    assert drift["findings"]["new"]["count"] >= 1 and drift["findings"]["fixed"]["count"] >= 1, drift
    reports = release.reports()
    assert named(reports.get(a, {}), "first") == []
    news = named(reports[b], "second")
    assert news and all(r["properties"]["drift"] == "new" for r in news), news
    families = until("metrics of the second run (the server caches 15 s)",
                     lambda: (f := release.scrape()) and value(f, "isolation_audit_drift_compared") == 1 and f)
    assert value(families, "isolation_audit_drift_findings", change="new") >= 1
    assert value(families, "isolation_audit_drift_findings", change="fixed") >= 1

    release.helm("uninstall", release.name, "--wait")
    state = f"/api/v1/namespaces/{release.namespace}/configmaps/{release.name}-state"
    until("the runs' reports and state garbage-collected after uninstall",
          lambda: not release.reports() and node_cluster.request("GET", state)[0] == 404)
    until("nothing of the release left in its namespace", lambda: not release.left())


def test_with_probes_enabled_the_one_run_probes_every_node_and_leaves_no_probe_behind(node_cluster, release):
    release.install("--set", "probe.enabled=true", "--set", "probe.timeoutSeconds=240",
                    "--set", "scan.activeDeadlineSeconds=600")
    run = release.run()
    assert run.exit_code == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["coverage"]["complete"] is True, report["coverage"]
    for node in node_cluster.nodes:  # observed by a probe pod on the node, not read from the Node object
        assert f"probe node-{node.spec.name}" in report["coverage"]["inputs"]
    assert tool_objects_left(node_cluster, "isolation-audit") == []
    assert wait_for_no_containers(node_cluster, "isolation-audit") == []
    release.helm("uninstall", release.name, "--wait")
    until("nothing of the release left in its namespace", lambda: not release.left())
