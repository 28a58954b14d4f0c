"""`scan --publish` and `serve-metrics` against a real kube-apiserver, run as processes with a
user holding only the RBAC the chart grants (the reader role, the publisher role, and a Role on
the one state ConfigMap): policy reports created, updated and deleted when stale, drift in
the JSON report and the state ConfigMap's metrics, and those metrics served over HTTP."""
from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from harness.apiserver import free_port
from prometheus_client.parser import text_string_to_metric_families
from test_live_cluster import unique
from test_optional_kinds_on_apiserver import reader_rules

pytestmark = pytest.mark.apiserver

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "deploy" / "helm" / "k8s-isolation-audit" / "crds"
WG, OPEN = "wgpolicyk8s.io/v1alpha2", "openreports.io/v1alpha1"
PUBLISHER = [{"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports", "clusterpolicyreports"],
              "verbs": ["get", "list", "create", "update", "patch", "delete"]},
             {"apiGroups": ["openreports.io"], "resources": ["reports", "clusterreports"],
              "verbs": ["get", "list", "create", "update", "patch", "delete"]}]
IMAGE = "registry.example/app@sha256:" + "a" * 64
CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SELECTOR = "app.kubernetes.io/managed-by=k8s-isolation-audit"


def cli(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "auditor", *argv], capture_output=True, text=True,
                          timeout=timeout, env=env)


def ok(apiserver, method: str, path: str, body=None, expect=(200, 201)):
    status, answer = apiserver.request(method, path, body)
    assert status in expect, (method, path, status, answer)
    return answer


def served(apiserver, api_version: str, plural: str) -> bool:
    """Listed by discovery and answering a list (a new CRD's storage answers 429 for a moment)."""
    status, body = apiserver.request("GET", f"/apis/{api_version}")
    return (status == 200 and plural in {r["name"] for r in body.get("resources", [])}
            and apiserver.request("GET", f"/apis/{api_version}/{plural}")[0] == 200)


def wait_for(what: str, done, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {timeout:.0f}s")
        time.sleep(0.2)


def allowed(apiserver, user: str, namespace: str, verb: str, name: str) -> bool:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user, "resourceAttributes": {"namespace": namespace, "verb": verb, "resource":
                                                             "configmaps", "name": name}}}
    status, body = apiserver.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return status == 201 and body["status"].get("allowed") is True


def namespaced_role(apiserver, user: str, namespace: str, rules: list[dict]) -> None:
    """A Role and RoleBinding in `namespace` for `user`, effective before this returns."""
    ok(apiserver, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
       {"metadata": {"name": user}, "rules": rules})
    ok(apiserver, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
       {"metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
    rule = rules[0]
    wait_for(f"Role of {user} not effective",
             lambda: allowed(apiserver, user, namespace, rule["verbs"][0], rule["resourceNames"][0]))


def crd_served(apiserver, doc: dict) -> bool:
    spec = doc["spec"]
    return served(apiserver, f"{spec['group']}/{spec['versions'][0]['name']}", spec["names"]["plural"])


@pytest.fixture(scope="module")
def crds(apiserver) -> Iterator[None]:
    """The chart's four CRDs, served; deleted afterwards (with every report in them)."""
    docs = [d for f in sorted(CRDS.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    assert len(docs) == 4
    for doc in docs:
        ok(apiserver, "POST", CRD_API, doc)
    for doc in docs:
        wait_for(f"{doc['metadata']['name']} not served", lambda doc=doc: crd_served(apiserver, doc))
    yield
    for doc in docs:
        apiserver.request("DELETE", f"{CRD_API}/{doc['metadata']['name']}")
    for doc in docs:
        wait_for(f"{doc['metadata']['name']} still served", lambda doc=doc: not crd_served(apiserver, doc))


class World:
    """Three tenant namespaces and the tool's own namespace, owned by one test."""

    def __init__(self, apiserver, tmp_path: Path) -> None:
        self.apiserver = apiserver
        sfx = unique("pub")
        self.a, self.b, self.c, self.home = (f"{x}-{sfx}" for x in ("ta", "tb", "tc", "audit"))
        self.state = f"{sfx}-state"
        for ns in (self.a, self.b, self.c):
            ok(apiserver, "POST", "/api/v1/namespaces", {"metadata": {"name": ns, "labels": {"tenant": ns}}})
        ok(apiserver, "POST", "/api/v1/namespaces", {"metadata": {"name": self.home}})
        self.pod(self.a, "web")
        self.pod(self.b, "db")
        self.pod(self.c, "root", privileged=True)
        ok(apiserver, "POST", f"/apis/networking.k8s.io/v1/namespaces/{self.b}/networkpolicies",
           {"metadata": {"name": "deny-ingress"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
        self.scanner = self.user("scanner", [*reader_rules(), *PUBLISHER], [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"],
             "resourceNames": [self.state]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}])
        # every user may GET /healthz already (system:public-info-viewer): the metrics user gets nothing more
        self.reader = self.user("metrics", [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}], [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": [self.state]}])
        self.config = tmp_path / "config.yaml"
        self.config.write_text("tenancy:\n  label: tenant\nfail_on: none\n")

    def user(self, role: str, cluster_rules: list[dict], namespace_rules: list[dict]) -> str:
        name = unique(role)
        kubeconfig = self.apiserver.make_user(name, cluster_rules)
        namespaced_role(self.apiserver, name, self.home, namespace_rules)
        return kubeconfig

    def pod(self, namespace: str, name: str, privileged: bool = False) -> None:
        container = {"name": "app", "image": IMAGE, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
        if privileged:
            container["securityContext"] = {"privileged": True}
        ok(self.apiserver, "POST", f"/api/v1/namespaces/{namespace}/pods",
           {"metadata": {"name": name, "labels": {"app": name}}, "spec": {"containers": [container]}})

    def remove_namespace(self, namespace: str) -> None:
        """What the namespace controller (not running here) does: empty it, then finalize it.
        Our report in it is left for the next run to delete, as a report whose findings are fixed."""
        ok(self.apiserver, "DELETE", f"/api/v1/namespaces/{namespace}/pods/root")
        ok(self.apiserver, "DELETE", f"/api/v1/namespaces/{namespace}")
        ok(self.apiserver, "PUT", f"/api/v1/namespaces/{namespace}/finalize",
           {"metadata": {"name": namespace}, "spec": {"finalizers": []}})
        wait_for(f"namespace {namespace} not gone",
                 lambda: self.apiserver.request("GET", f"/api/v1/namespaces/{namespace}")[0] == 404)

    def scan(self, *extra: str) -> subprocess.CompletedProcess:
        return cli("scan", "--kubeconfig", self.scanner, "--config", str(self.config), "--format", "json",
                   "--state-namespace", self.home, "--state-name", self.state, *extra)

    def reports(self, api_version: str = WG) -> dict[tuple[str | None, str], dict]:
        kinds = ("policyreports", "clusterpolicyreports") if api_version == WG else ("reports", "clusterreports")
        found = {}
        for plural in kinds:
            for item in ok(self.apiserver, "GET", f"/apis/{api_version}/{plural}?labelSelector={SELECTOR}")["items"]:
                found[(item["metadata"].get("namespace"), item["metadata"]["name"])] = item
        return found

    def configmap(self) -> dict:
        return ok(self.apiserver, "GET", f"/api/v1/namespaces/{self.home}/configmaps/{self.state}")


def metrics(text: str) -> dict[str, list[tuple[dict, float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def total(families, name: str, **labels: str) -> float:
    return sum(v for lab, v in families[name] if labels.items() <= lab.items())


def fingerprints(report: dict, namespace: str) -> set[str]:
    return {r["properties"]["fingerprint"] for r in report["results"]
            if r["resources"][0].get("namespace") == namespace}


def test_a_missing_policy_report_api_is_one_line_and_exit_2(apiserver, tmp_path):
    # runs before the module's CRDs are installed: this cluster serves neither API
    world = World(apiserver, tmp_path)
    done = world.scan("--publish", "--policyreport-api", OPEN)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"k8s-isolation-audit: error: publish: policy report API {OPEN} is not installed (no CRD "
        "reports.openreports.io); install the chart's CRDs or choose --policyreport-api")
    assert json.loads(done.stdout)["drift"]["status"] == "first_run"  # the report itself was written
    status, _ = apiserver.request("GET", f"/api/v1/namespaces/{world.home}/configmaps/{world.state}")
    assert status == 404  # reports first, then the state: the next run still compares with the last published one


def test_publish_twice_then_a_change_to_the_cluster_shows_as_drift(apiserver, crds, tmp_path):
    world = World(apiserver, tmp_path)
    quiet = world.scan()  # without --publish nothing is written
    assert quiet.returncode == 0, quiet.stderr
    assert "drift" not in json.loads(quiet.stdout) and world.reports() == {}
    assert apiserver.request("GET", f"/api/v1/namespaces/{world.home}/configmaps/{world.state}")[0] == 404

    first = world.scan("--publish")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["drift"]["status"] == "first_run"
    reports = world.reports()
    assert (None, "k8s-isolation-audit") in reports and (world.c, "k8s-isolation-audit") in reports
    privileged = fingerprints(reports[(world.c, "k8s-isolation-audit")], world.c)
    assert privileged  # the CRD kept every field (a structural schema prunes what it does not list)
    state = world.configmap()
    assert state["metadata"]["labels"] == {"app.kubernetes.io/part-of": "k8s-isolation-audit"}
    families = metrics(state["data"]["metrics"])
    assert total(families, "isolation_audit_drift_compared") == 0
    assert total(families, "isolation_audit_drift_findings") == 0  # a first run claims nothing new

    # the change: a privileged pod lands in tenant a, tenant b loses its NetworkPolicy, tenant c leaves
    world.pod(world.a, "intruder", privileged=True)
    ok(apiserver, "DELETE", f"/apis/networking.k8s.io/v1/namespaces/{world.b}/networkpolicies/deny-ingress")
    world.remove_namespace(world.c)

    second = world.scan("--publish")
    assert second.returncode == 0, second.stderr
    drift = json.loads(second.stdout)["drift"]
    assert drift["status"] == "compared" and drift["previous_run"] > 0
    assert privileged <= set(drift["findings"]["fixed"]["fingerprints"])
    assert {"from_tenant": world.a, "to_tenant": world.b} in drift["reachability"]["gained"]
    reports = world.reports()
    assert (world.c, "k8s-isolation-audit") not in reports  # every finding of it fixed: its report is gone
    # other tests' namespaces stuck terminating on this apiserver (no namespace controller) get no report
    assert re.search(rf"1 stale deleted(, \d+ not written: namespace being deleted)?\) and the state in configmap "
                     rf"{world.home}/{world.state}", second.stderr), second.stderr
    new_in_a = {r["properties"]["fingerprint"] for r in reports[(world.a, "k8s-isolation-audit")]["results"]
                if r["properties"].get("drift") == "new"}
    assert new_in_a and new_in_a <= set(drift["findings"]["new"]["fingerprints"])
    (summary,) = [r for r in reports[(None, "k8s-isolation-audit")]["results"] if r["policy"] == "drift"]
    assert int(summary["properties"]["fixed"]) == drift["findings"]["fixed"]["count"] >= 1

    families = metrics(world.configmap()["data"]["metrics"])
    assert total(families, "isolation_audit_drift_compared") == 1
    assert total(families, "isolation_audit_drift_findings", change="new") == drift["findings"]["new"]["count"] >= 1
    assert total(families, "isolation_audit_drift_findings", change="fixed") >= 1
    assert total(families, "isolation_audit_reachability_drift_pairs", change="gained") >= 1

    # the same run again: nothing changed, so nothing is new
    third = world.scan("--publish")
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["drift"]["findings"]["new"]["count"] == 0

    # serve-metrics with the metrics user's credentials (get on the one ConfigMap), scraped over HTTP
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "auditor", "serve-metrics", "--kubeconfig", world.reader,
                               "--state-namespace", world.home, "--state-name", world.state,
                               "--address", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        def scrape() -> tuple[int, str] | None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/metrics")
                resp = conn.getresponse()
                return resp.status, resp.read().decode()
            except OSError:
                return None

        wait_for("serve-metrics not listening", lambda: server.poll() is not None or scrape() is not None)
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        status, body = scrape()
        assert status == 200
        served_families = metrics(body)
        assert total(served_families, "isolation_audit_state_available") == 1
        assert total(served_families, "isolation_audit_drift_compared") == 1
        assert total(served_families, "isolation_audit_last_run_duration_seconds") >= 0
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_openreports_api_gets_the_same_reports_and_a_foreign_report_is_left_alone(apiserver, crds, tmp_path):
    world = World(apiserver, tmp_path)
    done = world.scan("--publish", "--policyreport-api", OPEN)
    assert done.returncode == 0, done.stderr
    reports = world.reports(OPEN)
    cluster = reports[(None, "k8s-isolation-audit")]
    assert cluster["kind"] == "ClusterReport" and cluster["source"] == "k8s-isolation-audit"
    assert fingerprints(reports[(world.c, "k8s-isolation-audit")], world.c)

    # someone else's Report of our name in tenant a: the run fails on it, names it, and leaves it
    foreign = {"apiVersion": OPEN, "kind": "Report", "metadata": {"name": "k8s-isolation-audit"},
               "results": [], "source": "someone-else"}
    world.pod(world.a, "intruder", privileged=True)
    ok(apiserver, "DELETE", f"/apis/{OPEN}/namespaces/{world.a}/reports/k8s-isolation-audit", expect=(200, 404))
    ok(apiserver, "POST", f"/apis/{OPEN}/namespaces/{world.a}/reports", foreign)
    try:
        again = world.scan("--publish", "--policyreport-api", OPEN)
        assert again.returncode == 2
        assert again.stderr.strip().splitlines()[-1] == (
            f"k8s-isolation-audit: error: publish: Report {world.a}/k8s-isolation-audit: exists and is not managed "
            "by k8s-isolation-audit; left alone")
        kept = ok(apiserver, "GET", f"/apis/{OPEN}/namespaces/{world.a}/reports/k8s-isolation-audit")
        assert kept["source"] == "someone-else"
    finally:  # every later run on this cluster would stop at it
        ok(apiserver, "DELETE", f"/apis/{OPEN}/namespaces/{world.a}/reports/k8s-isolation-audit", expect=(200, 404))


def test_switching_the_report_api_withdraws_the_reports_under_the_old_one(apiserver, crds, tmp_path):
    world = World(apiserver, tmp_path)
    mine = (world.c, "k8s-isolation-audit")
    for api_version, old in ((WG, OPEN), (OPEN, WG), (WG, OPEN)):
        done = world.scan("--publish", "--policyreport-api", api_version)
        assert done.returncode == 0, done.stderr
        assert mine in world.reports(api_version)
        assert world.reports(old) == {}  # none of ours left where nobody updates them


def test_a_corrupted_state_makes_drift_unknown_for_one_run_and_never_echoes_it(apiserver, crds, tmp_path):
    world = World(apiserver, tmp_path)
    assert world.scan("--publish").returncode == 0
    configmap = world.configmap()
    configmap["data"]["state.json"] = '{"schema": "s3cr3t-planted", "findings": "s3cr3t"}'
    ok(apiserver, "PUT", f"/api/v1/namespaces/{world.home}/configmaps/{world.state}", configmap)

    broken = world.scan("--publish")
    assert broken.returncode == 2  # partial: the drift is unknown, and says so
    assert "s3cr3t" not in broken.stdout + broken.stderr
    report = json.loads(broken.stdout)
    assert report["drift"]["status"] == "unknown" and report["summary"]["partial"] is True
    assert f"skipped configmap {world.home}/{world.state}: previous state unreadable, drift unknown" in broken.stderr
    cluster = world.reports()[(None, "k8s-isolation-audit")]
    assert [r["result"] for r in cluster["results"] if r["policy"] == "drift"] == ["error"]
    # the findings were still published, and the state was rewritten: the next run compares again
    assert world.reports()[(world.c, "k8s-isolation-audit")]["results"]
    again = world.scan("--publish")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["drift"]["status"] == "compared"


def test_an_empty_state_configmap_a_chart_made_is_the_first_run_and_stays_the_charts(apiserver, crds, tmp_path):
    world = World(apiserver, tmp_path)
    helm = {"labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "audit", "meta.helm.sh/release-namespace": world.home}}
    ok(apiserver, "POST", f"/api/v1/namespaces/{world.home}/configmaps", {"metadata": {"name": world.state, **helm}})
    done = world.scan("--publish")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["drift"]["status"] == "first_run"
    metadata = world.configmap()["metadata"]
    assert metadata["labels"] == {**helm["labels"], "app.kubernetes.io/part-of": "k8s-isolation-audit"}
    assert helm["annotations"].items() <= metadata["annotations"].items()
    assert json.loads(world.scan("--publish").stdout)["drift"]["status"] == "compared"


def test_every_object_a_run_writes_is_owned_by_the_named_cluster_role(apiserver, crds, tmp_path):
    world = World(apiserver, tmp_path)
    world.config.write_text("tenancy:\n  label: tenant\nfail_on: high\n")  # tenant c's privileged pod is at the gate
    role = unique("publisher")
    uid = ok(apiserver, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
             {"metadata": {"name": role}, "rules": []})["metadata"]["uid"]

    missing = world.scan("--publish", "--publish-owner", role + "-absent")
    assert missing.returncode == 2 and missing.stdout == ""  # refused before the scan: nothing written
    assert missing.stderr.strip().splitlines()[-1] == (
        f"k8s-isolation-audit: error: publish: ClusterRole {role}-absent (--publish-owner): cannot read: "
        "HTTP 404 NotFound")

    done = world.scan("--publish", "--publish-owner", role)
    # findings at the gate are delivered as reports: the run itself succeeded
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["failing"] > 0
    owner = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": role, "uid": uid}]
    ours = [r for (ns, _), r in world.reports().items() if ns in (None, world.a, world.b, world.c)]
    assert ours and all(r["metadata"]["ownerReferences"] == owner for r in ours)
    assert world.configmap()["metadata"]["ownerReferences"] == owner
    assert world.scan("--publish-owner", role).returncode == 2  # only with --publish
