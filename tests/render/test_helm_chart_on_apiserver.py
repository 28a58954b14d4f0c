"""The chart installed by the real helm on a real kube-apiserver: the API accepts every object
as written (no field dropped), each ServiceAccount may do exactly what the in-cluster contract
grants and nothing more, the scan CronJob's own command with its account's token reads
everything it needs and publishes, and after `helm uninstall` the garbage collector of a real
kube-controller-manager leaves nothing of the release: neither the chart's objects nor what the
runs wrote."""
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
import yaml
from harness import prereq
from harness.apiserver import BuildError, _stop, build_binaries, free_port
from test_helm_chart import CHART, CONFIG

pytestmark = [pytest.mark.rendertools, pytest.mark.apiserver]

REPO = Path(__file__).resolve().parents[2]
REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
OURS = "labelSelector=app.kubernetes.io/managed-by=k8s-isolation-audit"
PROBE_ARGS = {"--probe": 0, "--probe-image": 1, "--probe-timeout": 1}  # option: how many values follow


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

    def run_scan_cron_job(self, directory: Path) -> subprocess.CompletedProcess:
        """The scan CronJob's own command with its own account's token, less the probes (this
        API server has no nodes to run probe Jobs on), the config file read from the release's
        ConfigMap."""
        scan = self.get(f"/apis/batch/v1/namespaces/{self.namespace}/cronjobs/{self.name}-scan")
        pod = scan["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == f"{self.name}-prober"  # the release probes
        (container,) = pod["containers"]
        config_map = self.get(f"/api/v1/namespaces/{self.namespace}/configmaps/{self.name}-config")
        (directory / "config.yaml").write_text(config_map["data"]["config.yaml"])
        args, skip = [], 0
        for arg in container["args"]:
            if skip or arg in PROBE_ARGS:
                skip = PROBE_ARGS[arg] if arg in PROBE_ARGS else skip - 1
                continue
            args.append(str(directory / "config.yaml") if arg == "/etc/k8s-isolation-audit/config.yaml" else arg)
        assert len(args) == len(container["args"]) - 5
        return subprocess.run([sys.executable, "-m", "auditor", *args, "--kubeconfig",
                               str(self.token_kubeconfig("prober", directory))], capture_output=True, text=True,
                              timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO)})

    def published(self) -> list[dict]:
        """Every object the runs wrote: reports in every namespace, and the state."""
        found = [o for kind in ("policyreports", "clusterpolicyreports")  # the chart's default API
                 for o in self.get(f"/apis/wgpolicyk8s.io/v1alpha2/{kind}?{OURS}")["items"]]
        status, state = self.apiserver.request("GET", f"/api/v1/namespaces/{self.namespace}/configmaps/"
                                                      f"{self.name}-state")
        assert status in (200, 404), state
        return found + ([state] if status == 200 else [])


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
    remove_crds(apiserver)


def remove_crds(apiserver) -> None:
    """Helm keeps a chart's CRDs; the shared apiserver must not: a later test may need an API absent."""
    names = [yaml.safe_load(f.read_text())["metadata"]["name"] for f in sorted((CHART / "crds").glob("*.yaml"))]
    for name in names:
        apiserver.request("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    deadline = time.monotonic() + 60
    while any(apiserver.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{n}")[0] != 404
              for n in names) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_the_api_server_keeps_every_field_the_chart_sets(release):
    rendered = release.helm("get", "manifest", release.name, "--namespace", release.namespace)
    assert rendered.returncode == 0
    scan = release.get(f"/apis/batch/v1/namespaces/{release.namespace}/cronjobs/{release.name}-scan")
    job = scan["spec"]["jobTemplate"]["spec"]
    assert scan["spec"]["concurrencyPolicy"] == "Forbid"
    assert [r["action"] for r in job["podFailurePolicy"]["rules"]] == ["Ignore"]
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == f"{release.name}-prober"
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    metrics = release.get(f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{release.name}-metrics")
    assert metrics["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0] == {
        "serviceAccountToken": {"expirationSeconds": 3600, "path": "token"}}


# with probes, the scan's runs use the prober account: reader, publisher, state writer and prober
@pytest.mark.parametrize(("account", "request_", "expected"), [
    ("prober", ("list", "pods", None), True),
    ("prober", ("list", "clusterrolebindings", None, "rbac.authorization.k8s.io"), True),
    ("prober", ("get", "clusterroles", None, "rbac.authorization.k8s.io", "{release}-publisher"), True),
    ("prober", ("get", "secrets", "tenant"), False),
    ("prober", ("list", "configmaps", "tenant"), False),
    ("prober", ("create", "pods", "tenant"), False),
    ("prober", ("create", "policyreports", "tenant", "wgpolicyk8s.io"), True),
    ("prober", ("delete", "clusterreports", None, "openreports.io"), True),
    ("prober", ("update", "configmaps", "{ns}", "", "{release}-state"), True),
    ("prober", ("update", "configmaps", "{ns}", "", "{release}-config"), False),
    ("prober", ("create", "configmaps", "{ns}"), True),
    ("prober", ("create", "jobs", "tenant", "batch"), True),
    ("prober", ("get", "pods", "tenant", "", "", "log"), True),
    ("prober", ("delete", "namespaces", None, "", "isolation-audit"), True),
    ("prober", ("delete", "namespaces", None, "", "tenant"), False),
    ("prober", ("delete", "clusterroles", None, "rbac.authorization.k8s.io", "{release}-publisher"), False),
    # the plain scan's account is not made, and nothing is bound to its name
    ("scanner", ("list", "pods", None), False),
    ("scanner", ("create", "policyreports", "tenant", "wgpolicyk8s.io"), False),
    ("metrics", ("get", "configmaps", "{ns}", "", "{release}-state"), True),
    ("metrics", ("update", "configmaps", "{ns}", "", "{release}-state"), False),
    ("metrics", ("get", "configmaps", "{ns}", "", "{release}-config"), False),
    ("metrics", ("list", "pods", None), False),
])
def test_each_account_may_do_what_the_contract_grants_and_no_more(release, account, request_, expected):
    verb, resource, namespace, *rest = request_
    group, name, subresource = (*rest, "", "", "")[:3]
    fill = {"ns": release.namespace, "release": release.name}
    namespace = namespace.format(**fill) if namespace else None
    assert release.allowed(account, verb, resource, namespace, group, name.format(**fill), subresource) is expected


def test_the_scan_account_is_the_only_run_account(release):
    accounts = {a["metadata"]["name"] for a in release.get(f"/api/v1/namespaces/{release.namespace}/serviceaccounts")[
        "items"]}
    assert accounts == {f"{release.name}-prober", f"{release.name}-metrics"}


def test_a_scan_with_the_run_accounts_token_reads_everything_it_needs(release, tmp_path):
    config = release.token_kubeconfig("prober", tmp_path)
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", "--kubeconfig", str(config), "--format", "json",
                           "--fail-on", "none"], capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (done.returncode, done.stderr) == (0, "")
    report = json.loads(done.stdout)
    assert report["coverage"]["complete"] and not report["coverage"]["skipped"]


def test_the_scan_cron_jobs_own_command_publishes_owned_by_the_publisher_role(release, tmp_path):
    done = release.run_scan_cron_job(tmp_path)
    assert done.returncode == 0, done.stderr  # a published run succeeds whatever it found
    state = release.get(f"/api/v1/namespaces/{release.namespace}/configmaps/{release.name}-state")
    assert "isolation_audit_last_run_timestamp_seconds" in state["data"]["metrics"]
    reports = release.get(f"/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports?{OURS}")
    assert reports["items"]
    role = release.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{release.name}-publisher")
    owner = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
              "name": f"{release.name}-publisher", "uid": role["metadata"]["uid"]}]
    assert all(o["metadata"].get("ownerReferences") == owner for o in release.published())
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


@pytest.fixture
def garbage_collector(apiserver, tmp_path):
    """kube-controller-manager running only its garbage collector, against the test API server."""
    try:
        bindir = build_binaries(target="node", names=("kube-controller-manager",))
    except BuildError as err:
        prereq.require(False, f"kube-controller-manager binary ({err})")
        raise
    with open(tmp_path / "kube-controller-manager.log", "ab") as log:
        manager = subprocess.Popen([str(bindir / "kube-controller-manager"), f"--kubeconfig={apiserver.kubeconfig}",
                                    "--leader-elect=false", "--use-service-account-credentials=false",
                                    "--bind-address=127.0.0.1", "--secure-port=0",
                                    "--controllers=garbagecollector"],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    yield manager
    _stop(manager, 10.0)


def test_uninstall_leaves_nothing_of_the_chart_nor_of_its_runs(apiserver, tools, tmp_path, garbage_collector):
    own = Release(apiserver, tools, tmp_path)
    assert apiserver.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": own.namespace}})[0] == 201
    done = own.helm("install", own.name, str(CHART), "--namespace", own.namespace, "--set", "namespace=",
                    "--set", "probe.enabled=true", "--set-json", f"config={json.dumps(CONFIG)}")
    assert done.returncode == 0, done.stderr
    run = own.run_scan_cron_job(tmp_path)
    assert run.returncode == 0, run.stderr
    selector = f"labelSelector=app.kubernetes.io/instance={own.name}"
    kinds = ["/api/v1/serviceaccounts", "/api/v1/configmaps", "/api/v1/services", "/apis/batch/v1/cronjobs",
             "/apis/apps/v1/deployments", "/apis/networking.k8s.io/v1/networkpolicies",
             *(f"/apis/rbac.authorization.k8s.io/v1/{k}" for k in ("clusterroles", "clusterrolebindings", "roles",
                                                                   "rolebindings"))]
    before = {k: len(own.get(f"{k}?{selector}")["items"]) for k in kinds}
    assert all(before.values()), before
    # the runs' own objects: the state ConfigMap and reports in several namespaces, this run's
    published = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in own.published()
                 if [r["name"] for r in o["metadata"].get("ownerReferences", ())] == [f"{own.name}-publisher"]}
    assert {"ConfigMap", "ClusterPolicyReport"} <= {kind for kind, _, _ in published}
    assert own.helm("uninstall", own.name, "--namespace", own.namespace).returncode == 0
    assert {k: len(own.get(f"{k}?{selector}")["items"]) for k in kinds} == dict.fromkeys(kinds, 0)

    def left() -> set:
        return published & {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
                            for o in own.published()}

    deadline = time.monotonic() + 120  # the collector works in the background
    while left() and garbage_collector.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert garbage_collector.poll() is None, (tmp_path / "kube-controller-manager.log").read_text()[-3000:]
    assert left() == set()


def test_a_namespace_a_probe_run_would_delete_is_refused(apiserver, tools, tmp_path):
    own = Release(apiserver, tools, tmp_path)
    assert apiserver.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": own.namespace, "labels": {"app.kubernetes.io/managed-by": "k8s-isolation-audit"}}})[0] == 201
    done = own.helm("install", own.name, str(CHART), "--namespace", own.namespace, "--set", "namespace=")
    assert done.returncode != 0
    assert f"namespace {own.namespace} was made by a probe run of the tool" in done.stderr
    assert not own.get(f"/api/v1/namespaces/{own.namespace}/serviceaccounts")["items"]
