"""The chart installed by the real helm on a real kube-apiserver: the API accepts every object
as written (no field dropped), each ServiceAccount may do exactly what the in-cluster contract
grants and nothing more, a scan with the scanner's own token reads everything it needs, and
`helm uninstall` removes every object the chart made."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from harness.apiserver import free_port
from test_helm_chart import CHART, CONFIG, needs_publish_cli

pytestmark = [pytest.mark.rendertools, pytest.mark.apiserver]

REPO = Path(__file__).resolve().parents[2]
REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def unique(prefix: str) -> str:
    # deleted namespaces stay Terminating without a controller-manager: never reuse a name
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class Release:
    def __init__(self, apiserver, tools: Path, home: Path) -> None:
        self.apiserver, self.tools, self.home = apiserver, tools, home
        self.name, self.namespace = unique("audit"), unique("audit-system")

    def helm(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": str(self.tools), "HOME": str(self.home), "KUBECONFIG": self.apiserver.kubeconfig}
        return subprocess.run([str(self.tools / "helm"), *args], capture_output=True, text=True, timeout=180,
                              check=False, env=env)

    def get(self, path: str) -> dict:
        status, body = self.apiserver.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def account(self, name: str) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}-{name}"

    def allowed(self, account: str, verb: str, resource: str, namespace: str | None = None, group: str = "",
                name: str = "", subresource: str = "") -> bool:
        attrs = {"verb": verb, "group": group, "resource": resource, "name": name, "subresource": subresource,
                 **({"namespace": namespace} if namespace else {})}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": self.account(account),
                           "groups": ["system:serviceaccounts", f"system:serviceaccounts:{self.namespace}",
                                      "system:authenticated"],
                           "resourceAttributes": attrs}}
        status, body = self.apiserver.request("POST", REVIEWS, review)
        assert status == 201, body
        return body["status"].get("allowed", False)

    def token_kubeconfig(self, account: str, directory: Path) -> Path:
        """A kubeconfig holding a one-hour token of the release's ServiceAccount, as the pod's
        projected volume would."""
        status, body = self.apiserver.request(
            "POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.name}-{account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
        assert status == 201, body
        config = {"apiVersion": "v1", "kind": "Config", "current-context": account,
                  "clusters": [{"name": "c", "cluster": {"server": self.apiserver.url,
                                                         "certificate-authority": self.apiserver.ca_file}}],
                  "users": [{"name": account, "user": {"token": body["status"]["token"]}}],
                  "contexts": [{"name": account, "context": {"cluster": "c", "user": account}}]}
        path = directory / f"{account}.kubeconfig"
        path.write_text(json.dumps(config))
        return path


@pytest.fixture(scope="module")
def release(apiserver, tools, tmp_path_factory):
    """The chart with probes and metrics (the monitoring CRDs are not installed here), in a
    namespace of its own: a namespace never goes away without a controller-manager."""
    installed = Release(apiserver, tools, tmp_path_factory.mktemp("helm-home"))
    status, body = apiserver.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": installed.namespace}})
    assert status == 201, body
    done = installed.helm("install", installed.name, str(CHART), "--namespace", installed.namespace,
                          "--set", "namespace=", "--set", "probe.enabled=true",
                          "--set-json", f"config={json.dumps(CONFIG)}")
    assert done.returncode == 0, done.stderr
    yield installed
    installed.helm("uninstall", installed.name, "--namespace", installed.namespace)


def test_the_api_server_keeps_every_field_the_chart_sets(release):
    rendered = release.helm("get", "manifest", release.name, "--namespace", release.namespace)
    assert rendered.returncode == 0
    scan = release.get(f"/apis/batch/v1/namespaces/{release.namespace}/cronjobs/{release.name}-scan")
    job = scan["spec"]["jobTemplate"]["spec"]
    assert scan["spec"]["concurrencyPolicy"] == "Forbid"
    assert [r["action"] for r in job["podFailurePolicy"]["rules"]] == ["FailJob", "Ignore"]
    pod = job["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    metrics = release.get(f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{release.name}-metrics")
    assert metrics["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0] == {
        "serviceAccountToken": {"expirationSeconds": 3600, "path": "token"}}


@pytest.mark.parametrize(("account", "request_", "expected"), [
    ("scanner", ("list", "pods", None), True),
    ("scanner", ("list", "clusterrolebindings", None, "rbac.authorization.k8s.io"), True),
    ("scanner", ("get", "secrets", "tenant"), False),
    ("scanner", ("list", "configmaps", "tenant"), False),
    ("scanner", ("create", "pods", "tenant"), False),
    ("scanner", ("create", "jobs", "tenant", "batch"), False),
    ("scanner", ("create", "policyreports", "tenant", "wgpolicyk8s.io"), True),
    ("scanner", ("delete", "clusterreports", None, "openreports.io"), True),
    ("scanner", ("update", "configmaps", "{ns}", "", "{release}-state"), True),
    ("scanner", ("update", "configmaps", "{ns}", "", "{release}-config"), False),
    ("scanner", ("create", "configmaps", "{ns}"), True),
    ("scanner", ("create", "configmaps", "tenant"), False),
    ("metrics", ("get", "configmaps", "{ns}", "", "{release}-state"), True),
    ("metrics", ("update", "configmaps", "{ns}", "", "{release}-state"), False),
    ("metrics", ("get", "configmaps", "{ns}", "", "{release}-config"), False),
    ("metrics", ("list", "pods", None), False),
    ("prober", ("create", "jobs", "tenant", "batch"), True),
    ("prober", ("get", "pods", "tenant", "", "", "log"), True),
    ("prober", ("delete", "namespaces", None, "", "isolation-audit"), True),
    ("prober", ("delete", "namespaces", None, "", "tenant"), False),
    ("prober", ("get", "secrets", "tenant"), False),
])
def test_each_account_may_do_what_the_contract_grants_and_no_more(release, account, request_, expected):
    verb, resource, namespace, *rest = request_
    group, name, subresource = (*rest, "", "", "")[:3]
    fill = {"ns": release.namespace, "release": release.name}
    namespace = namespace.format(**fill) if namespace else None
    assert release.allowed(account, verb, resource, namespace, group, name.format(**fill), subresource) is expected


def test_a_scan_with_the_scanners_token_reads_everything_it_needs(release, tmp_path):
    config = release.token_kubeconfig("scanner", tmp_path)
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", "--kubeconfig", str(config), "--format", "json",
                           "--fail-on", "none"], capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (done.returncode, done.stderr) == (0, "")
    report = json.loads(done.stdout)
    assert report["coverage"]["complete"] and not report["coverage"]["skipped"]


@needs_publish_cli
def test_the_scan_cron_jobs_own_command_publishes_with_the_scanners_token(release, tmp_path):
    scan = release.get(f"/apis/batch/v1/namespaces/{release.namespace}/cronjobs/{release.name}-scan")
    (container,) = scan["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    config_map = release.get(f"/api/v1/namespaces/{release.namespace}/configmaps/{release.name}-config")
    (tmp_path / "config.yaml").write_text(config_map["data"]["config.yaml"])
    args = [str(tmp_path / "config.yaml") if a == "/etc/k8s-isolation-audit/config.yaml" else a
            for a in container["args"]]
    done = subprocess.run([sys.executable, "-m", "auditor", *args, "--kubeconfig",
                           str(release.token_kubeconfig("scanner", tmp_path))], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode in (0, 1), done.stderr
    state = release.get(f"/api/v1/namespaces/{release.namespace}/configmaps/{release.name}-state")
    assert "isolation_audit_last_run_timestamp_seconds" in state["data"]["metrics"]
    reports = release.get("/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports?labelSelector="
                          "app.kubernetes.io/managed-by=k8s-isolation-audit")
    assert reports["items"]
    assert "isolation_audit_state_available 1" in served_metrics(release, tmp_path)


def served_metrics(release: Release, tmp_path: Path) -> str:
    """/metrics from the metrics Deployment's own command, with the metrics account's token,
    on a loopback port."""
    deployment = release.get(f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{release.name}-metrics")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = free_port()
    args = {"0.0.0.0": "127.0.0.1", "9090": str(port)}
    command = [sys.executable, "-m", "auditor", *(args.get(a, a) for a in container["args"]), "--kubeconfig",
               str(release.token_kubeconfig("metrics", tmp_path))]
    server = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                    return answer.read().decode()
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_uninstall_removes_every_object_of_the_chart(apiserver, tools, tmp_path):
    own = Release(apiserver, tools, tmp_path)
    assert apiserver.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": own.namespace}})[0] == 201
    done = own.helm("install", own.name, str(CHART), "--namespace", own.namespace, "--set", "namespace=",
                    "--set", "probe.enabled=true", "--set-json", f"config={json.dumps(CONFIG)}")
    assert done.returncode == 0, done.stderr
    selector = f"labelSelector=app.kubernetes.io/instance={own.name}"
    kinds = ["/api/v1/serviceaccounts", "/api/v1/configmaps", "/api/v1/services", "/apis/batch/v1/cronjobs",
             "/apis/apps/v1/deployments", "/apis/networking.k8s.io/v1/networkpolicies",
             *(f"/apis/rbac.authorization.k8s.io/v1/{k}" for k in ("clusterroles", "clusterrolebindings", "roles",
                                                                   "rolebindings"))]
    before = {k: len(own.get(f"{k}?{selector}")["items"]) for k in kinds}
    assert all(before.values()), before
    assert own.helm("uninstall", own.name, "--namespace", own.namespace).returncode == 0
    assert {k: len(own.get(f"{k}?{selector}")["items"]) for k in kinds} == dict.fromkeys(kinds, 0)


def test_a_namespace_a_probe_run_would_delete_is_refused(apiserver, tools, tmp_path):
    own = Release(apiserver, tools, tmp_path)
    assert apiserver.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": own.namespace, "labels": {"app.kubernetes.io/managed-by": "k8s-isolation-audit"}}})[0] == 201
    done = own.helm("install", own.name, str(CHART), "--namespace", own.namespace, "--set", "namespace=")
    assert done.returncode != 0
    assert f"namespace {own.namespace} was made by a probe run of the tool" in done.stderr
    assert not own.get(f"/api/v1/namespaces/{own.namespace}/serviceaccounts")["items"]
