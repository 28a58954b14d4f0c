"""The Helm chart deploy/helm/k8s-isolation-audit, rendered by the real helm: it lints, its
values schema refuses bad values, it passes the tool's own audit with nothing high, its RBAC is
exactly what the in-cluster contract grants, every pod is hardened, and deploy/in-cluster.yaml
is its current rendering."""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from scan_helpers import demo_report, scan_cli

from auditor.config import load_config
from auditor.reports import prometheus

pytestmark = pytest.mark.rendertools

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "k8s-isolation-audit"
RELEASE, NAMESPACE = "audit", "isolation-audit"
IMAGE = "ghcr.io/k8s-isolation-audit/k8s-isolation-audit:0.1.0"
EVERYTHING = ("probe.enabled=true", "serviceMonitor.enabled=true", "prometheusRule.enabled=true")
CONFIG = {"tenancy": {"label": "tenant", "platform_namespaces": ["kube-system", "isolation-audit"]},
          "waivers": [{"rule": "IA103", "namespace": "ingress", "reason": "needs the host network",
                       "expires": "2027-06-30"}]}
PUBLISH = ["--publish", "--publish-owner", "audit-publisher", "--format", "json", "--state-namespace", NAMESPACE,
           "--state-name", "audit-state", "--policyreport-api", "wgpolicyk8s.io/v1alpha2"]
PROBE = ["--probe", "--probe-image", IMAGE, "--probe-timeout", "300"]


def helm(tools: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(tools / "helm"), *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PATH": str(tools)})


def render(tools: Path, *sets: str, config: dict | None = None, namespace: str = "default") -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", namespace]
    for value in sets:
        args += ["--set", value]
    if config is not None:
        args += ["--set-json", f"config={json.dumps(config)}"]
    done = helm(tools, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def objects(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def pod_specs(objs: list[dict]) -> dict[str, dict]:
    specs = {name: o["spec"]["jobTemplate"]["spec"]["template"]["spec"] for name, o in by_kind(objs, "CronJob").items()}
    return {**specs, **{name: o["spec"]["template"]["spec"] for name, o in by_kind(objs, "Deployment").items()}}


def rules_of(role: dict) -> list[tuple]:
    """A role's rules, order-free."""
    return sorted(tuple(tuple(sorted(rule.get(key) or ())) for key in ("apiGroups", "resources", "resourceNames",
                                                                       "verbs"))
                  for rule in role["rules"])


@pytest.fixture(scope="module")
def defaults(tools) -> list[dict]:
    return objects(render(tools))


@pytest.fixture(scope="module")
def everything(tools) -> list[dict]:
    return objects(render(tools, *EVERYTHING, config=CONFIG))


@pytest.mark.parametrize("sets", [(), EVERYTHING], ids=["defaults", "everything"])
def test_the_chart_lints_strictly(tools, sets):
    done = helm(tools, "lint", "--strict", str(CHART), *[a for s in sets for a in ("--set", s)])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("value", "field"), [
    ('scan.backoffLimit="1"', "/scan/backoffLimit"),
    ("scan.schedule=5", "/scan/schedule"),
    ('metrics.port="9090"', "/metrics/port"),
    ("metrics.port=80", "/metrics/port"),  # privileged: the server has no capabilities
    ('probe.enabled="yes"', "/probe/enabled"),
    ('policyReports.api="wgpolicyk8s.io/v1"', "/policyReports/api"),
    ('image.pullPolicy="Sometimes"', "/image/pullPolicy"),
    ('config="tenancy: {label: t}"', "/config"),  # the config is YAML in values, not a string of it
    ('prometheusRule.newFindingsSeverities=["severe"]', "/prometheusRule/newFindingsSeverities/0"),
    ('networkPolicy.blockedEgress=["metadata"]', "/networkPolicy/blockedEgress/0"),
    ('namespace="Isolation_Audit"', "/namespace"),
    ("scna={}", "scna"),  # a misspelt key is not silently ignored
    ('probe.schedule="43 3 * * *"', "/probe"),  # probes run in the scan's runs, on its schedule
])
def test_the_values_schema_refuses_a_wrong_value_naming_its_field(tools, value, field):
    done = helm(tools, "template", RELEASE, str(CHART), "--set-json", value)
    assert done.returncode != 0 and field in done.stderr, done.stderr


@pytest.mark.parametrize(("timeout", "deadline", "accepted"), [
    (300, 600, True), (300, 599, False), (1, 301, True), (1, 300, False), (3600, 900, False), (3600, 3900, True)])
def test_the_scan_deadline_must_cover_the_probe_timeout_and_the_run_around_it(tools, timeout, deadline, accepted):
    sets = ["probe.enabled=true", f"probe.timeoutSeconds={timeout}", f"scan.activeDeadlineSeconds={deadline}"]
    done = helm(tools, "template", RELEASE, str(CHART), *[a for s in sets for a in ("--set", s)])
    assert (done.returncode == 0) is accepted, done.stderr
    if not accepted:
        assert "scan.activeDeadlineSeconds must be at least probe.timeoutSeconds + 300" in done.stderr
    # without probes the deadline bounds the scan alone
    assert helm(tools, "template", RELEASE, str(CHART), "--set", f"scan.activeDeadlineSeconds={deadline}",
                "--set", f"probe.timeoutSeconds={timeout}").returncode == 0


def test_a_service_monitor_without_the_metrics_service_is_refused(tools):
    done = helm(tools, "template", RELEASE, str(CHART), "--set", "serviceMonitor.enabled=true",
                "--set", "metrics.enabled=false")
    assert done.returncode != 0 and "serviceMonitor.enabled needs metrics.enabled" in done.stderr


@pytest.mark.parametrize(("sets", "config"), [((), None), (EVERYTHING, CONFIG)], ids=["defaults", "everything"])
def test_the_rendered_chart_passes_the_tools_own_audit_with_nothing_high(tools, sets, config):
    code, report, err = scan_cli(Path("-"), tools, stdin=render(tools, *sets, config=config), fail_on="high")
    high = [(f["rule_id"], f["kind"], f["name"]) for f in report["findings"] if f["severity"] in ("critical", "high")]
    assert (code, high, err) == (0, [], "")
    assert report["coverage"]["complete"]


def test_scanning_the_chart_directory_renders_it_and_finds_nothing_high(tools):
    code, report, err = scan_cli(CHART.relative_to(REPO), tools, fail_on="high")
    assert (code, err) == (0, "")
    assert report["coverage"]["complete"] and report["coverage"]["inputs"] == [str(CHART.relative_to(REPO))]
    assert {f["location"]["path"] for f in report["findings"]} <= {
        str((CHART / "templates" / name).relative_to(REPO)) for name in ("cronjob-scan.yaml", "metrics.yaml")}


def test_the_plain_manifests_are_the_current_rendering(tools):
    done = subprocess.run(["bash", str(REPO / "deploy" / "render-in-cluster.sh")], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "PATH": f"{tools}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == (REPO / "deploy" / "in-cluster.yaml").read_text(), \
        "deploy/in-cluster.yaml is stale: run deploy/render-in-cluster.sh > deploy/in-cluster.yaml"


@pytest.mark.parametrize("rendering", ["defaults", "everything"])
def test_every_object_is_well_formed_and_in_the_tools_namespace(rendering, request):
    objs = request.getfixturevalue(rendering)
    api = {"ServiceAccount": "v1", "ConfigMap": "v1", "Service": "v1", "CronJob": "batch/v1",
           "Deployment": "apps/v1", "NetworkPolicy": "networking.k8s.io/v1",
           "ServiceMonitor": "monitoring.coreos.com/v1", "PrometheusRule": "monitoring.coreos.com/v1",
           **dict.fromkeys(("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"),
                           "rbac.authorization.k8s.io/v1")}
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    seen = set()
    for o in objs:
        kind, meta = o["kind"], o["metadata"]
        assert o["apiVersion"] == api[kind], kind
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"]) and len(meta["name"]) <= 52
        assert meta.get("namespace") == (None if kind in cluster_scoped else NAMESPACE), (kind, meta["name"])
        assert (kind, meta["name"]) not in seen
        seen.add((kind, meta["name"]))
        assert meta["labels"]["app.kubernetes.io/instance"] == RELEASE
        assert all(len(v) <= 63 for v in meta["labels"].values())


def test_no_object_carries_the_label_the_probe_clean_up_deletes_by(everything):
    """A probe run deletes every Job and pod labelled managed-by=k8s-isolation-audit, its own
    CronJob's included if the chart used that value."""
    text = json.dumps(everything)
    assert '"app.kubernetes.io/managed-by": "k8s-isolation-audit"' not in text
    assert {o["metadata"]["labels"]["app.kubernetes.io/managed-by"] for o in everything} == {"Helm"}


def test_every_pod_is_hardened_and_mounts_only_its_projected_token(everything):
    accounts = by_kind(everything, "ServiceAccount")
    specs = pod_specs(everything)
    assert set(specs) == {"audit-scan", "audit-metrics"}
    for name, spec in specs.items():
        assert spec["automountServiceAccountToken"] is False, name
        assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
        assert not {"hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"} & set(spec)
        assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                           "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
        (container,) = spec["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "runAsUser": 65532, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
        assert set(container["resources"]["limits"]) == set(container["resources"]["requests"]) == {
            "cpu", "memory", "ephemeral-storage"}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["kube-api-access"] == {"name": "kube-api-access", "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3600, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}
        assert set(volumes) == {"kube-api-access", "tmp", "config"}
        assert volumes["tmp"]["emptyDir"]["sizeLimit"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts == {
            "/var/run/secrets/kubernetes.io/serviceaccount": {
                "name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True},
            "/etc/k8s-isolation-audit": {"name": "config", "mountPath": "/etc/k8s-isolation-audit", "readOnly": True},
            "/tmp": {"name": "tmp", "mountPath": "/tmp"}}


@pytest.mark.parametrize(("rendering", "args", "account"), [
    ("defaults", ["scan", *PUBLISH], "audit-scanner"),
    ("everything", ["scan", *PROBE, *PUBLISH, "--config", "/etc/k8s-isolation-audit/config.yaml"], "audit-prober")])
def test_one_cron_job_publishes_and_probes_run_inside_it(rendering, args, account, request):
    """A second publishing CronJob (a probe run) would write the same state and reports with
    findings the plain scan lacks: new after each probe run, fixed after the next scan."""
    objs = request.getfixturevalue(rendering)
    publishing = [name for name, spec in pod_specs(objs).items() if "--publish" in spec["containers"][0]["args"]]
    assert publishing == ["audit-scan"]
    (cron_job,) = by_kind(objs, "CronJob").values()
    spec = cron_job["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["schedule"] == "17 * * * *"
    assert spec["successfulJobsHistoryLimit"] == 1 and spec["failedJobsHistoryLimit"] == 3
    job = spec["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["ttlSecondsAfterFinished"]) == (900, 86400)
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    assert (container["args"], pod["serviceAccountName"]) == (args, account)
    assert container["image"] == IMAGE and pod["restartPolicy"] == "Never"
    # a published run exits 0 whatever it found; only a drain's eviction is not counted as a failure
    assert job["podFailurePolicy"]["rules"] == [{"action": "Ignore",
                                                 "onPodConditions": [{"type": "DisruptionTarget"}]}]


@pytest.mark.parametrize("rendering", ["defaults", "everything"])
def test_the_runs_output_is_owned_by_a_cluster_role_of_the_release_the_run_may_read(rendering, request):
    """`helm uninstall` deletes the owner, and the garbage collector every report and the
    state ConfigMap with it."""
    objs = request.getfixturevalue(rendering)
    (container,) = pod_specs(objs)["audit-scan"]["containers"]
    owner = container["args"][container["args"].index("--publish-owner") + 1]
    assert owner in by_kind(objs, "ClusterRole")
    reader = by_kind(objs, "ClusterRole")["audit-reader"]
    assert any("clusterroles" in r["resources"] and "get" in r["verbs"] for r in reader["rules"])


def test_the_cron_jobs_and_the_metrics_server_use_options_the_cli_has(everything):
    from auditor.cli import _parser

    for spec in pod_specs(everything).values():
        (container,) = spec["containers"]
        _parser().parse_args(container["args"])  # exits on an unknown option


def test_the_config_value_is_the_config_file_every_run_reads(everything, tmp_path):
    (config_map,) = by_kind(everything, "ConfigMap").values()
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    assert yaml.safe_load(path.read_text()) == CONFIG
    assert load_config(path).waivers[0].reason == "needs the host network"  # the tool accepts it
    for spec in pod_specs(everything).values():
        assert {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}} in spec["volumes"]


def test_without_a_config_no_run_is_given_one(defaults):
    assert not by_kind(defaults, "ConfigMap")
    for spec in pod_specs(defaults).values():
        (container,) = spec["containers"]
        assert "--config" not in container["args"] and all(v["name"] != "config" for v in spec["volumes"])


def test_the_release_namespace_is_used_when_the_namespace_value_is_empty(tools):
    objs = objects(render(tools, "namespace=", *EVERYTHING, namespace="audit-system"))
    assert {o["metadata"].get("namespace") for o in objs} == {None, "audit-system"}
    (scan,) = [c for name, s in pod_specs(objs).items() if name == "audit-scan" for c in s["containers"]]
    assert scan["args"][scan["args"].index("--state-namespace") + 1] == "audit-system"


def _deploy_rbac() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all((REPO / "deploy" / "rbac.yaml").read_text())
            if d["kind"] == "ClusterRole"}


def test_the_reader_and_prober_roles_are_those_of_deploy_rbac(everything):
    roles = by_kind(everything, "ClusterRole")
    deploy = _deploy_rbac()
    assert rules_of(roles["audit-reader"]) == rules_of(deploy["k8s-isolation-audit-reader"])
    assert rules_of(roles["audit-prober"]) == rules_of(deploy["k8s-isolation-audit-prober"])


@pytest.mark.parametrize(("rendering", "run"), [("defaults", "audit-scanner"), ("everything", "audit-prober")])
def test_rbac_grants_exactly_what_the_contract_lists_to_the_one_run_account(rendering, run, request):
    objs = request.getfixturevalue(rendering)
    reports = ("get", "list", "create", "delete", "update")
    probes = rendering == "everything"
    expected = {
        ("ClusterRole", "audit-reader"): rules_of(_deploy_rbac()["k8s-isolation-audit-reader"]),
        **({("ClusterRole", "audit-prober"): rules_of(_deploy_rbac()["k8s-isolation-audit-prober"])} if probes else {}),
        ("ClusterRole", "audit-publisher"): sorted([
            (("wgpolicyk8s.io",), ("clusterpolicyreports", "policyreports"), (), tuple(sorted(reports))),
            (("openreports.io",), ("clusterreports", "reports"), (), tuple(sorted(reports)))]),
        ("Role", "audit-state-writer"): sorted([(("",), ("configmaps",), ("audit-state",), ("get", "update")),
                                                (("",), ("configmaps",), (), ("create",))]),
        ("Role", "audit-state-reader"): [(("",), ("configmaps",), ("audit-state",), ("get",))],
    }
    roles = {(o["kind"], o["metadata"]["name"]): rules_of(o) for o in objs if o["kind"] in ("ClusterRole", "Role")}
    assert roles == expected
    bound = {(o["roleRef"]["kind"], o["roleRef"]["name"]): [(s["kind"], s["name"], s["namespace"])
                                                            for s in o["subjects"]]
             for o in objs if o["kind"] in ("ClusterRoleBinding", "RoleBinding")}
    runs = [("ServiceAccount", run, NAMESPACE)]
    assert bound == {("ClusterRole", "audit-reader"): runs, ("ClusterRole", "audit-publisher"): runs,
                     ("Role", "audit-state-writer"): runs,
                     ("Role", "audit-state-reader"): [("ServiceAccount", "audit-metrics", NAMESPACE)],
                     **({("ClusterRole", "audit-prober"): runs} if probes else {})}
    # no account is left over with roles and no pod
    assert set(by_kind(objs, "ServiceAccount")) == {run, "audit-metrics"}
    assert pod_specs(objs)["audit-scan"]["serviceAccountName"] == run


def test_the_reader_writes_nothing():
    writes = [(rule["resources"], verb) for rule in _deploy_rbac()["k8s-isolation-audit-reader"]["rules"]
              for verb in rule["verbs"] if verb not in ("get", "list", "watch")]
    assert writes == [(["selfsubjectaccessreviews"], "create")]  # a question, stored nowhere


def test_without_probes_nothing_can_create_pods(defaults):
    assert "audit-prober" not in by_kind(defaults, "ClusterRole")
    assert "audit-prober" not in by_kind(defaults, "ServiceAccount")
    verbs = {(r, v) for o in defaults if o["kind"] in ("ClusterRole", "Role") for rule in o["rules"]
             for r in rule["resources"] for v in rule["verbs"]}
    assert not {("jobs", "create"), ("pods", "create"), ("namespaces", "create")} & verbs


def test_the_metrics_service_and_monitor_reach_the_metrics_server(everything):
    (deployment,) = by_kind(everything, "Deployment").values()
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["serve-metrics", "--state-namespace", NAMESPACE, "--state-name", "audit-state",
                                 "--address", "0.0.0.0", "--port", "9090"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    service = by_kind(everything, "Service")["audit-metrics"]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (monitor,) = by_kind(everything, "ServiceMonitor").values()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("metrics", "/metrics")]


def test_network_policies_admit_only_the_metrics_port_and_block_the_metadata_service(everything):
    policies = by_kind(everything, "NetworkPolicy")
    assert "ingress" not in policies["audit-runs"]["spec"] and policies["audit-runs"]["spec"]["policyTypes"] == [
        "Ingress"]
    assert policies["audit-metrics"]["spec"]["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]
    assert policies["audit-egress"]["spec"]["egress"] == [{"to": [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}}]}]
    # the scan's pods (probing ones too) get no ingress
    scan_pod = by_kind(everything, "CronJob")["audit-scan"]["spec"]["jobTemplate"]["spec"]["template"]
    assert policies["audit-runs"]["spec"]["podSelector"] == {"matchLabels": scan_pod["metadata"]["labels"]}
    # every pod of the release is selected by the egress policy
    selector = policies["audit-egress"]["spec"]["podSelector"]["matchLabels"].items()
    for o in everything:
        if o["kind"] in ("CronJob", "Deployment"):
            template = o["spec"]["jobTemplate"]["spec"]["template"] if o["kind"] == "CronJob" else o["spec"]["template"]
            assert selector <= template["metadata"]["labels"].items()


def test_every_alert_is_complete(everything):
    (rule,) = by_kind(everything, "PrometheusRule").values()
    alerts = {a["alert"]: a for group in rule["spec"]["groups"] for a in group["rules"]}
    assert set(alerts) == {"IsolationAuditNewFindings", "IsolationAuditTenantReachabilityGained",
                           "IsolationAuditLastRunTooOld", "IsolationAuditNoState", "IsolationAuditCoveragePartial"}
    for alert in alerts.values():
        assert alert["labels"]["severity"] and alert["annotations"]["summary"]
        assert f'namespace="{NAMESPACE}", service="audit-metrics"' in alert["expr"]
    assert 'severity=~"critical|high"' in alerts["IsolationAuditNewFindings"]["expr"]


def test_every_alert_reads_a_metric_the_tool_serves(everything):
    (rule,) = by_kind(everything, "PrometheusRule").values()
    read = {name for group in rule["spec"]["groups"] for a in group["rules"]
            for name in re.findall(r"isolation_audit_\w+", a["expr"])}
    report = demo_report()
    with_drift = replace(report, sections={**report.sections, "drift": {}})
    served = set(re.findall(r"^# TYPE (\w+)", prometheus.render(with_drift, 0.0, 1.0), re.M))
    assert read - served == {"isolation_audit_state_available"}  # serve-metrics' own gauge


@pytest.mark.parametrize(("api", "kinds"), [("wgpolicyk8s.io/v1alpha2", ("policyreports", "clusterpolicyreports")),
                                            ("openreports.io/v1alpha1", ("reports", "clusterreports"))])
@pytest.mark.parametrize("probes", [False, True])
def test_the_install_notes_say_where_the_results_appear_and_what_uninstall_removes(tools, api, kinds, probes):
    done = helm(tools, "install", RELEASE, str(CHART), "--dry-run=client", "--set", f"policyReports.api={api}",
                "--set", f"probe.enabled={str(probes).lower()}")
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert f"kubectl get {kinds[0]} -A -l app.kubernetes.io/managed-by=k8s-isolation-audit" in notes
    assert f"kubectl get {kinds[1]} -l app.kubernetes.io/managed-by=k8s-isolation-audit" in notes
    assert f"kubectl -n {NAMESPACE} create job --from=cronjob/audit-scan" in notes
    assert f"http://audit-metrics.{NAMESPACE}.svc:9090/metrics" in notes
    assert "audit-publisher" in notes and "`helm uninstall` deletes that ClusterRole" in notes
    assert "kubectl delete" not in notes  # nothing is left to delete by hand
    assert ("Every scan run also probes" in notes) is probes
