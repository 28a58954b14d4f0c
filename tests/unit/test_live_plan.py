"""Probe orchestration without a server: planning (pure), the Job objects, report parsing, and
a whole run against an in-memory API that plays job controller and kubelet."""
from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from auditor.live.errors import ApiStatusError
from auditor.live.probes.logs import parse_report
from auditor.live.probes.manifests import MANAGED_BY, RUN_ID, TOOL, job_manifest
from auditor.live.probes.options import ProbeOptions
from auditor.live.probes.plan import plan_probes
from auditor.live.probes.run import run_probes
from auditor.model import Inventory, Origin, Resource
from auditor.tenancy import TenancyConfig

REPORTS = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "probe-results"


def res(kind, name, namespace=None, **obj):
    body = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, **({"namespace": namespace} if namespace else {}), **obj.pop("metadata", {})},
        **obj,
    }
    return Resource(kind, "v1", namespace, name, body, Origin(cluster="c1"))


def pod(ns, name, ip, ports=(), labels=None, **spec):
    return res("Pod", name, ns, metadata={"labels": labels or {"app": name}},
               spec={"containers": [{"name": "c", "ports": [{"containerPort": p} if isinstance(p, int) else p
                                                            for p in ports]}], **spec},
               status={"phase": "Running", "podIP": ip} if ip else {"phase": "Pending"})


def cluster():
    return [
        res("Node", "bm-1"), res("Node", "vm-1"),
        res("Namespace", "kube-system"), res("Namespace", "isolation-audit"),
        res("Namespace", "shop-web", metadata={"labels": {"tenant": "shop"}}),
        res("Namespace", "shop-db", metadata={"labels": {"tenant": "shop"}}),
        res("Namespace", "trading", metadata={"labels": {"tenant": "trading"}}),
        res("Namespace", "old", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}),
        pod("kube-system", "dns", "10.0.0.2", [53]),
        pod("shop-web", "web-1", "10.1.0.1", [8080], {"app": "web", "pod-template-hash": "a"}),
        pod("shop-web", "web-2", "10.1.0.2", [8080], {"app": "web", "pod-template-hash": "b"}),
        pod("shop-db", "pg-0", "10.1.1.1", [5432, {"containerPort": 9187, "protocol": "UDP"},
                                             {"containerPort": 5000, "protocol": "SCTP"}]),
        pod("trading", "gw", "10.2.0.1", [443]),
        pod("trading", "pending", None, [443], {"app": "other"}),
        pod("trading", "host", "192.168.0.5", [22], {"app": "host"}, hostNetwork=True),
    ]


def test_plan_pins_one_job_per_node_and_targets_other_tenants_by_class():
    specs = plan_probes(cluster(), "r1", ProbeOptions(), TenancyConfig(label="tenant"))
    nodes = [s for s in specs if s.kind == "node"]
    assert [(s.probe_id, s.node, s.namespace, s.job) for s in nodes] == [
        ("node-bm-1", "bm-1", "isolation-audit", "ia-r1-node-0"),
        ("node-vm-1", "vm-1", "isolation-audit", "ia-r1-node-1"),
    ]
    reach = {s.namespace: s for s in specs if s.kind == "reach"}
    # platform, the tool's own and terminating namespaces probe nothing
    assert sorted(reach) == ["shop-db", "shop-web", "trading"]
    targets = lambda ns: sorted((t["namespace"], t["pod"], t["port"], t["protocol"]) for t in reach[ns].targets)  # noqa: E731
    # shop-web and shop-db are one tenant: they do not target each other; web-1/web-2 are one class
    assert targets("shop-web") == targets("shop-db") == [("trading", "gw", 443, "TCP")]
    assert targets("trading") == [("shop-db", "pg-0", 5432, "TCP"), ("shop-db", "pg-0", 9187, "UDP"),
                                  ("shop-web", "web-1", 8080, "TCP")]
    assert all(t["tenant"] == "shop" for t in reach["trading"].targets)


def test_plan_options_select_nodes_namespaces_and_cap_targets_round_robin():
    resources = cluster() + [pod("trading", f"x{i}", f"10.2.1.{i}", [80], {"app": f"x{i}"}) for i in range(10)]
    specs = plan_probes(resources, "r2", ProbeOptions(nodes=["vm-1"], namespaces=["shop-web"], max_targets=5))
    assert [s.probe_id for s in specs] == ["node-vm-1", "reach-shop-web"]
    # one namespace = one tenant here; round-robin under the cap: shop-db's 2 classes are not
    # crowded out by trading's 11
    assert [t["namespace"] for t in specs[1].targets] == ["shop-db", "trading", "shop-db", "trading", "trading"]
    assert plan_probes(resources, "r3", ProbeOptions(node_probes=False, reach_probes=False)) == []


def test_job_objects_are_hardened_and_labelled():
    specs = plan_probes(cluster(), "r4", ProbeOptions(), TenancyConfig(label="tenant"))
    for spec in specs:
        job = job_manifest(spec, "r4", ProbeOptions(image="img:1"))
        labels = job["metadata"]["labels"]
        assert labels[MANAGED_BY] == TOOL and labels[RUN_ID] == "r4"
        assert job["spec"]["template"]["metadata"]["labels"] == labels
        pod = job["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        sc = pod["containers"][0]["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        assert not any(pod.get(k) for k in ("hostPID", "hostNetwork", "hostIPC"))
        assert pod["containers"][0]["resources"]["limits"]
        assert len(job["metadata"]["name"]) <= 63


def test_parse_report_finds_the_report_among_log_lines():
    text = (REPORTS / "restricted.json").read_bytes()
    report, problem = parse_report(text)
    assert problem == "" and report == json.loads(text)
    noisy = b"warning: something odd\n" + text + b"\nlater noise\n"
    assert parse_report(noisy)[0] == json.loads(text)
    assert parse_report(b"")[1] == "the pod log holds no JSON report (empty)"
    assert parse_report(b"exec format error")[1].startswith("the pod log holds no JSON report (starts")
    assert parse_report(b'{"schema_version": 1}')[1].startswith("not a ProbeReport: ")


# --- a whole run against an in-memory API ------------------------------------------------------------

class FakeApi:
    """Enough of transport.Api for a probe run. On Job creation it plays the job controller
    and kubelet: `behaviour(job) -> ("complete", log) | ("failed", reason) | ("pending", None)`."""

    context = "c1"
    server = "https://fake"

    def __init__(self, behaviour):
        self.objects: dict[tuple[str, str, str], dict] = {}  # (plural, namespace, name)
        self.logs: dict[tuple[str, str], bytes] = {}
        self.behaviour = behaviour
        self.deleted: list[str] = []

    @staticmethod
    def _parse(path):
        parts = [p for p in path.split("/") if p]
        parts = parts[2:] if parts[0] == "api" else parts[3:]
        ns = None
        if parts[0] == "namespaces" and len(parts) > 2:
            ns, parts = parts[1], parts[2:]
        elif parts[0] == "namespaces":
            return "namespaces", None, parts[1] if len(parts) > 1 else None, None
        return parts[0], ns, parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None

    def get(self, path, **query):
        plural, ns, name, sub = self._parse(path)
        if name is not None:
            obj = self.objects.get((plural, ns or "", name))
            if obj is None:
                raise ApiStatusError("GET", path, 404, "NotFound", f"{plural} {name} not found")
            return copy.deepcopy(obj)
        want = dict(kv.split("=", 1) for kv in (query.get("labelSelector") or "").split(",") if kv)
        items = [copy.deepcopy(o) for (p, n, _), o in self.objects.items()
                 if p == plural and (ns is None or n == ns)
                 and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in want.items())]
        return {"items": items}

    def create(self, path, body):
        plural, ns, _, _ = self._parse(path)
        obj = copy.deepcopy(body)
        key = (plural, ns or "", obj["metadata"]["name"])
        if key in self.objects:
            raise ApiStatusError("POST", path, 409, "AlreadyExists", "exists")
        obj["metadata"]["uid"] = str(uuid.uuid4())
        self.objects[key] = obj
        if plural == "jobs":
            self._control(ns, obj)
        return copy.deepcopy(obj)

    def _control(self, ns, job):
        outcome, detail = self.behaviour(job)
        template = job["spec"]["template"]
        pod = {"metadata": {"name": job["metadata"]["name"] + "-p", "namespace": ns,
                            "labels": template["metadata"]["labels"]},
               "spec": {**template["spec"]}, "status": {"phase": "Pending"}}
        if outcome == "complete":
            pod["status"]["phase"] = "Succeeded"
            job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
            self.logs[(ns, pod["metadata"]["name"])] = detail
        elif outcome == "failed":
            pod["status"]["phase"] = "Failed"
            job["status"] = {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": detail,
                                                          "message": "Job was active longer than specified deadline"}]}
            self.logs[(ns, pod["metadata"]["name"])] = b"Traceback: boom\n"
        else:
            pod["status"]["containerStatuses"] = [{"state": {"waiting": {"reason": "ImagePullBackOff",
                                                                         "message": "pull access denied"}}}]
        self.objects[("pods", ns, pod["metadata"]["name"])] = pod

    def delete(self, path, **query):
        plural, ns, name, _ = self._parse(path)
        if self.objects.pop((plural, ns or "", name), None) is None:
            raise ApiStatusError("DELETE", path, 404, "NotFound", "gone")
        self.deleted.append(f"{plural} {ns or ''}/{name}")

    def request(self, method, path, query=(), body=None, accept="application/json"):
        plural, ns, name, sub = self._parse(path)
        assert (plural, sub) == ("pods", "log")
        if dict(query).get("tailLines"):
            return self.logs[(ns, name)]
        return self.logs[(ns, name)]


def test_a_run_collects_reports_reports_failures_and_removes_everything():
    good = (REPORTS / "restricted.json").read_bytes()

    def behaviour(job):
        target = job["metadata"]["annotations"]["isolation-audit.io/target"]
        return {
            "bm-1": ("complete", b"note: probing\n" + good),
            "vm-1": ("failed", "DeadlineExceeded"),
            "shop-web": ("complete", b"not json at all"),
            "trading": ("pending", None),
        }.get(target, ("complete", good))

    api = FakeApi(behaviour)
    inventory = Inventory(resources=tuple(cluster()), cluster="c1")
    updates = []
    run = run_probes(api=api, inventory=inventory, tenancy=TenancyConfig(label="tenant"), progress=updates.append,
                     options=ProbeOptions(timeout=0.5, poll_interval=0.1))
    assert [r.probe_id for r in run.results] == ["node-bm-1", "reach-shop-db"]
    assert run.results[0].report == json.loads(good) and run.results[0].pod == f"ia-{run.run_id}-node-0-p"
    reasons = {n.probe_id: n.reason for n in run.not_run}
    assert reasons["node-vm-1"] == ("failed (DeadlineExceeded): Job was active longer than specified deadline "
                                    "(log: Traceback: boom)")
    assert reasons["reach-shop-web"].startswith("report unreadable: the pod log holds no JSON report")
    assert reasons["reach-trading"] == "timed out after 0.5s, Pending: ImagePullBackOff (pull access denied)"
    assert run.cleanup_errors == []
    assert api.objects == {}  # jobs, pods, configmaps, service account, namespace: all gone
    assert updates[-1].phase == "cleanup"

    facts = run.facts()
    assert [(f.probe_id, f.origin.cluster) for f in facts] == [("node-bm-1", "c1"), ("reach-shop-db", "c1")]
    joined = run.join(inventory)
    assert joined.facts == facts
    assert sorted(s.source for s in joined.skipped) == [
        "probe node-vm-1",
        "probe reach-shop-web",
        "probe reach-trading",
    ]


def test_a_failure_while_creating_still_cleans_up():
    class Boom(FakeApi):
        def create(self, path, body):
            if "reach" in body["metadata"]["name"]:
                raise KeyboardInterrupt
            return super().create(path, body)

    api = Boom(lambda job: ("pending", None))
    with pytest.raises(KeyboardInterrupt):
        run_probes(api=api, inventory=Inventory(resources=tuple(cluster())),
                   options=ProbeOptions(timeout=0.2, poll_interval=0.05))
    assert api.objects == {}


def test_a_signal_during_clean_up_waits_for_it_then_is_delivered():
    import os
    import signal

    from auditor.live.probes.signals import Terminated

    class SlowDelete(FakeApi):
        def delete(self, path, **query):
            if "/namespaces/isolation-audit" == path[-len("/namespaces/isolation-audit"):]:
                os.kill(os.getpid(), signal.SIGTERM)  # arrives mid clean-up
            return super().delete(path, **query)

    api = SlowDelete(lambda job: ("pending", None))
    with pytest.raises(Terminated):
        run_probes(api=api, inventory=Inventory(resources=tuple(cluster())),
                   options=ProbeOptions(timeout=0.1, poll_interval=0.05, reach_probes=False))
    assert api.objects == {}  # clean-up finished before the signal was delivered


def test_a_node_probe_is_a_fact_about_its_node_and_a_reach_probe_about_its_pod():
    """The node Job's pod is the tool's own: its report fingerprints the node (substrate,
    kernel), so its fact has no pod; a reach probe's fact keeps its pod and that pod's labels,
    which NetworkPolicies decide by."""
    from auditor.live.probes.results import ProbeResult, ProbeRun

    node = {"probe": {"node": "n1", "namespace": "isolation-audit", "pod": "ia-1-node-n1-x"}}
    reach = {"probe": {"node": "n2", "namespace": "shop", "pod": "ia-1-reach-shop-y"}}
    run = ProbeRun("1", "ctx", "isolation-audit", results=[
        ProbeResult("node-n1", "node", "isolation-audit", "ia-1-node-n1-x", "n1", node),
        ProbeResult("reach-shop", "reach", "shop", "ia-1-reach-shop-y", "n2", reach, {"app": "probe"}),
    ])
    by_id = {f.probe_id: f for f in run.facts()}
    assert (by_id["node-n1"].node, by_id["node-n1"].namespace, by_id["node-n1"].pod) == ("n1", None, None)
    assert (by_id["reach-shop"].namespace, by_id["reach-shop"].pod) == ("shop", "ia-1-reach-shop-y")
    assert by_id["reach-shop"].pod_labels == {"app": "probe"}
