"""Wrong types in every field the rules and analyses read, as a matrix: never a traceback,
a one-line refusal naming the file or a tolerant result, and the rest of the input audited.

The field paths are derived from the built-in rule packs (each rule's `match` schema, walked
through `properties`, `required`, `items`/`contains`, combinators and `$ref`s, with the
container target's synthetic `_pod` / `_effectiveSecurityContext` keys mapped back to the pod
spec), plus the fields the analysis plugins read (listed below, from checks/*.py,
auditor/netpol.py, auditor/tenancy.py, auditor/substrate.py). Each path gets each wrong value
in an otherwise valid object, next to an untouched bad Pod in its own namespace.

Speed: the cases of one (host kind, path) are audited together in one in-process run; only
when that run fails is each case audited alone, so a failure names its own case.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.config import Config
from auditor.model import Report
from auditor.reports import renderer
from auditor.rules import load_rules
from auditor.schema_walk import ELEMENTS, SAME_INSTANCE, SAME_INSTANCE_ONE, is_local, resolve_ref
from auditor.sources.manifests import load
from auditor.sources.probe_reports import with_reports
from auditor.tenancy import TenancyConfig

REPO = Path(__file__).resolve().parents[2]
PROBE_BASE = REPO / "fixtures" / "demo" / "probe-results" / "restricted.json"
CONFIG = Config(tenancy=TenancyConfig(label="tenant"))  # so Namespace labels decide tenants too

Path_ = tuple[str, ...]

# --- the wrong values --------------------------------------------------------------------------

WRONG: dict[str, Any] = {
    "str": "not-a-list-or-object",
    "list": [1, "x", None],
    "null": None,
    "int": 7,
    "negint": -1,
    "bool": True,
    "dict": {"nested": {"x": 1}},
}
# ports, also as the numbers no port can be
PORT_WRONG: dict[str, Any] = {"negport": -80, "hugeport": 2**70, "zeroport": 0, "numstr": "65536"}
PORT_FIELDS = {"containerPort", "hostPort", "port", "endPort"}


def wrong_values(path: Path_) -> dict[str, Any]:
    return {**WRONG, **PORT_WRONG} if path[-1] in PORT_FIELDS else WRONG


# --- paths the rules read, derived from the packs ------------------------------------------------

def _walk(schema: Any, prefix: Path_, root: dict, seen: frozenset = frozenset()) -> Iterator[Path_]:
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if is_local(ref) and ref not in seen:
        found, target = resolve_ref(root, ref)
        if found:
            yield from _walk(target, prefix, root, seen | {ref})
    for key, sub in (schema.get("properties") or {}).items():
        yield prefix + (key,)
        yield from _walk(sub, prefix + (key,), root, seen)
    for key in schema.get("required") or ():
        yield prefix + (key,)
    for key in ELEMENTS:
        subs = schema.get(key)
        for sub in subs if isinstance(subs, list) else [subs]:
            if isinstance(sub, dict):
                yield prefix + ("*",)  # a list item of the wrong type
                yield from _walk(sub, prefix + ("*",), root, seen)
    for key in SAME_INSTANCE:
        for sub in schema.get(key) or ():
            yield from _walk(sub, prefix, root, seen)
    for key in SAME_INSTANCE_ONE:
        yield from _walk(schema.get(key), prefix, root, seen)


@cache
def rule_paths() -> dict[tuple[str, str | None], frozenset[Path_]]:
    """(target, kind for `object` rules) -> paths their conditions read."""
    found: dict[tuple[str, str | None], set[Path_]] = {}
    for rule in load_rules().rules:
        if not isinstance(rule.match, dict) or rule.target is None:
            continue
        paths = set(_walk(rule.match, (), rule.match))
        for kind in (rule.kinds or (None,)) if rule.target == "object" else (None,):
            found.setdefault((rule.target, kind), set()).update(paths)
    return {k: frozenset(v) for k, v in found.items()}


def _template_paths_from_rules() -> set[Path_]:
    """Pod-target paths as they are, container-target paths mapped onto the pod template."""
    derived = rule_paths()
    paths = set(derived.get(("pod", None), ()))
    for p in derived.get(("container", None), ()):
        head, rest = p[0], p[1:]
        if head == "_type":
            continue  # synthetic, never in an object
        if head == "_pod":
            paths.add(("spec",) + rest)
        elif head == "_effectiveSecurityContext":
            paths.add(("spec", "containers", "*", "securityContext") + rest)
            paths.add(("spec", "securityContext") + rest)  # inherited by the container
        else:
            for field in ("containers", "initContainers"):
                paths.add(("spec", field, "*") + p)
    return {p for p in paths if p}


# --- paths the analysis plugins read (checks/*.py, auditor/netpol.py, tenancy.py, substrate.py) ----

def _p(text: str) -> Path_:
    """'a|b.c|*' -> ('a', 'b.c', '*'): '|' separates, since label keys hold dots."""
    return tuple(text.split("|"))


ANNOTATIONS = ("isolation-audit.io/latency-budget", "isolation-audit.io/latency-dimension",
               "isolation-audit.io/workload-class", "isolation-audit.io/mandate",
               "container.apparmor.security.beta.kubernetes.io/app")
PLUGIN_TEMPLATE_PATHS = [_p(t) for t in (
    "metadata", "metadata|labels", "metadata|labels|app", "metadata|annotations",
    *(f"metadata|annotations|{a}" for a in ANNOTATIONS),
    "spec|nodeName", "spec|runtimeClassName", "spec|nodeSelector", "spec|nodeSelector|kubernetes.io/hostname",
    "spec|hostNetwork", "spec|volumes|*", "spec|containers|*|name",
    "spec|containers|*|ports", "spec|containers|*|ports|*", "spec|containers|*|ports|*|containerPort",
    "spec|containers|*|ports|*|name", "spec|containers|*|ports|*|protocol",
    "spec|initContainers|*|ports|*|containerPort",
    "spec|containers|*|securityContext|runAsUser", "spec|containers|*|securityContext|capabilities|add|*",
    "spec|containers|*|resources|limits|memory", "spec|containers|*|resources|limits|cpu",
    "spec|automountServiceAccountToken", "spec|serviceAccountName", "spec|serviceAccount",
    "spec|volumes|*|projected|sources", "spec|volumes|*|projected|sources|*|serviceAccountToken",
)]
PLUGIN_POD_OBJECT_PATHS = [_p(t) for t in (
    "metadata|name", "metadata|namespace", "metadata|ownerReferences", "metadata|ownerReferences|*",
    "metadata|ownerReferences|*|controller", "metadata|ownerReferences|*|kind", "metadata|ownerReferences|*|name",
    "status", "status|podIP", "status|phase",
)]
PLUGIN_DEPLOYMENT_PATHS = [_p(t) for t in (
    "spec", "spec|template", "spec|template|metadata", "spec|template|spec", "metadata|annotations",
    *(f"metadata|annotations|{a}" for a in ANNOTATIONS[:4]),
)]
_PEERS = ("podSelector", "podSelector|matchLabels", "namespaceSelector", "namespaceSelector|matchLabels",
          "namespaceSelector|matchExpressions", "ipBlock", "ipBlock|cidr", "ipBlock|except", "ipBlock|except|*")
PLUGIN_NETPOL_PATHS = [_p(t) for t in (
    "metadata", "spec", "spec|podSelector", "spec|podSelector|matchLabels", "spec|podSelector|matchLabels|app",
    "spec|podSelector|matchExpressions", "spec|podSelector|matchExpressions|*",
    "spec|podSelector|matchExpressions|*|key", "spec|podSelector|matchExpressions|*|operator",
    "spec|podSelector|matchExpressions|*|values", "spec|policyTypes", "spec|policyTypes|*",
    *(f"spec|{d}{tail}" for d, peers in (("ingress", "from"), ("egress", "to")) for tail in (
        "", "|*", f"|*|{peers}", f"|*|{peers}|*", *(f"|*|{peers}|*|{x}" for x in _PEERS),
        "|*|ports", "|*|ports|*", "|*|ports|*|port", "|*|ports|*|protocol", "|*|ports|*|endPort")),
)]
PLUGIN_NAMESPACE_PATHS = [_p(t) for t in ("metadata|labels", "metadata|labels|tenant", "status", "status|phase")]
PLUGIN_NODE_PATHS = [_p(t) for t in (
    "metadata|labels", "metadata|labels|node.kubernetes.io/instance-type", "metadata|labels|kubernetes.io/hostname",
    "spec", "spec|providerID", "spec|taints", "spec|taints|*", "spec|taints|*|key", "spec|taints|*|effect",
    "status", "status|nodeInfo", "status|nodeInfo|kernelVersion", "status|nodeInfo|containerRuntimeVersion",
    "status|addresses", "status|addresses|*", "status|addresses|*|type", "status|addresses|*|address",
)]
PLUGIN_RUNTIMECLASS_PATHS = [_p("handler")]
# what checks/services.py reads of a Service
PLUGIN_SERVICE_PATHS = [_p(t) for t in (
    "spec", "spec|type", "spec|selector", "spec|selector|app", "spec|ports", "spec|ports|*", "spec|ports|*|name",
    "spec|ports|*|port", "spec|ports|*|targetPort", "spec|ports|*|nodePort", "spec|ports|*|protocol",
    "spec|externalIPs", "spec|externalIPs|*", "spec|externalTrafficPolicy", "spec|loadBalancerSourceRanges",
    "spec|loadBalancerSourceRanges|*", "status", "status|loadBalancer", "status|loadBalancer|ingress",
    "status|loadBalancer|ingress|*", "status|loadBalancer|ingress|*|ip", "status|loadBalancer|ingress|*|hostname",
)]
# ProbeReports are validated against their schema when loaded; these are what the analyses read
PLUGIN_PROBE_PATHS = [_p(t) for t in (
    "probe", "probe|node", "probe|namespace", "probe|pod", "probe|container", "host|boot_id", "host|hypervisor",
    "host|hypervisor_evidence", "host|kernel_release", "privileges|uid", "namespaces|ipc|shared_with_host",
    "cgroup|cpu_quota_cores", "latency", "reach", "reach|*", "reach|*|result", "reach|*|port", "reach|*|address",
    "network", "network|neighbours", "network|neighbours|*|ip",
)]


@cache
def host_paths() -> dict[str, tuple[Path_, ...]]:
    """Host kind -> the paths put into an object of that kind."""
    derived = rule_paths()
    template = _template_paths_from_rules() | set(PLUGIN_TEMPLATE_PATHS)
    hosts: dict[str, set[Path_]] = {
        "Pod": template | set(PLUGIN_POD_OBJECT_PATHS),
        "Deployment": {("spec", "template") + p for p in template} | set(PLUGIN_DEPLOYMENT_PATHS),
        "NetworkPolicy": set(PLUGIN_NETPOL_PATHS),
        "Namespace": set(derived.get(("namespace", None), ())) | set(PLUGIN_NAMESPACE_PATHS),
        "Node": set(derived.get(("node", None), ())) | set(PLUGIN_NODE_PATHS),
        "RuntimeClass": set(PLUGIN_RUNTIMECLASS_PATHS),
        "Service": set(PLUGIN_SERVICE_PATHS),
        "ProbeReport": set(derived.get(("probe", None), ())) | set(PLUGIN_PROBE_PATHS),
    }
    for (target, kind), paths in derived.items():
        if target == "object" and kind is not None:
            hosts.setdefault(kind, set()).update(paths)
    return {h: tuple(sorted(p)) for h, p in hosts.items()}


@dataclass(frozen=True)
class Case:
    host: str
    path: Path_
    value_id: str

    @property
    def id(self) -> str:
        return f"{self.host}:{'.'.join(self.path)}={self.value_id}"

    @property
    def value(self) -> Any:
        return copy.deepcopy(wrong_values(self.path)[self.value_id])


@cache
def all_cases() -> tuple[Case, ...]:
    return tuple(Case(host, path, v) for host, paths in host_paths().items() for path in paths
                 for v in wrong_values(path))


# --- the objects ---------------------------------------------------------------------------------

def put(node: Any, path: Path_, value: Any) -> Any:
    """`node` with `value` at `path` ('*' = the first list item), creating what is missing."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if key == "*":
        items = list(node) if isinstance(node, list) and node else [{}]
        items[0] = put(items[0], rest, value)
        return items
    out = dict(node) if isinstance(node, dict) else {}
    out[key] = put(out.get(key), rest, value)
    return out


def _container(name: str, port: int) -> dict:
    return {
        "name": name, "image": "registry.example/app@sha256:" + "a" * 64,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP", "hostPort": 0}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                      "limits": {"cpu": "1", "memory": "128Mi", "ephemeral-storage": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "runAsUser": 1000, "procMount": "Default",
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            "seccompProfile": {"type": "RuntimeDefault"}, "appArmorProfile": {"type": "RuntimeDefault"},
            "seLinuxOptions": {"type": "container_t"}, "windowsOptions": {"hostProcess": False}},
        "livenessProbe": {"tcpSocket": {"port": port}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port}},
        "startupProbe": {"tcpSocket": {"port": port}},
        "lifecycle": {"postStart": {"httpGet": {"path": "/", "port": port}}, "preStop": {"tcpSocket": {"port": port}}},
    }


def _template(node: str, runtime_class: str) -> dict:
    return {
        "metadata": {"labels": {"app": "web"}, "annotations": {
            "isolation-audit.io/latency-budget": "5us", "isolation-audit.io/latency-dimension": "network-rtt",
            "isolation-audit.io/workload-class": "hft", "isolation-audit.io/mandate": "dedicated-hardware",
            "container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}},
        "spec": {
            "nodeName": node, "runtimeClassName": runtime_class, "nodeSelector": {"kubernetes.io/hostname": node},
            "hostPID": False, "hostIPC": False, "hostNetwork": False, "hostUsers": False,
            "automountServiceAccountToken": False, "os": {"name": "linux"},
            "securityContext": {
                "runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"},
                "appArmorProfile": {"type": "RuntimeDefault"},
                "seLinuxOptions": {"type": "container_t", "user": "system_u", "role": "system_r"},
                "sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 1"}],
                "windowsOptions": {"hostProcess": False}},
            "volumes": [{"name": "data", "hostPath": {"path": "/var/lib/app"}}, {"name": "tmp", "emptyDir": {}}],
            "initContainers": [_container("init", 9090)],
            "containers": [_container("app", 8080)],
            "ephemeralContainers": [{"name": "debug", "image": "registry.example/debug:1",
                                     "securityContext": {"runAsNonRoot": True}}],
        },
    }


COMMON_NODE, COMMON_RUNTIME_CLASS = "node-0", "rc-0"


def _node(name: str, i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {
        "node.kubernetes.io/instance-type": "c6i.metal", "kubernetes.io/hostname": name}},
        "spec": {"providerID": "aws:///us-east-1a/i-0123", "taints": [
            {"key": "dedicated", "value": "trading", "effect": "NoSchedule"}]},
        "status": {"nodeInfo": {"kernelVersion": "5.10.0-8-amd64", "containerRuntimeVersion": "containerd://1.6.0"},
                   "addresses": [{"type": "InternalIP", "address": f"192.168.{(i >> 8) & 255}.{i & 255}"}]}}


def _runtime_class(name: str) -> dict:
    return {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": "runc"}


def _neighbour(node: str, i: int) -> dict:
    """Another tenant's pod on the node: kernel domains, co-tenancy and reachability have work."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"nb-{i:04d}", "namespace": "nb",
                                                             "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/nb:1",
                                                         "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "podIP": f"10.250.{(i >> 8) & 255}.{i & 255}"}}


SHARED_NAMESPACE = "h"  # the workloads of most cases; a case varying namespace-wide objects gets its own


def common_documents() -> list[dict]:
    """Shared by every case of a run, so identical pod templates are evaluated once."""
    shared = base_objects(0)
    return [_node(COMMON_NODE, 0), _runtime_class(COMMON_RUNTIME_CLASS), _neighbour(COMMON_NODE, 0),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nb", "labels": {"tenant": "nb"}}},
            shared["Namespace"], shared["NetworkPolicy"], shared["Service"]]


def own_namespace(host: str) -> bool:
    return host in ("Namespace", "NetworkPolicy", "Service")


def base_objects(i: int, ns: str = SHARED_NAMESPACE, node: str = COMMON_NODE,
                 runtime_class: str = COMMON_RUNTIME_CLASS) -> dict[str, dict]:
    """One case's valid objects: its workload is named after the case, so cases never collide."""
    template = _template(node, runtime_class)
    return {
        "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "tenant": ns, "pod-security.kubernetes.io/enforce": "baseline"}}, "status": {"phase": "Active"}},
        "NetworkPolicy": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": {"name": "np", "namespace": ns}, "spec": {
            "podSelector": {"matchLabels": {"app": "web"},
                            "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}},
                                   "namespaceSelector": {"matchLabels": {"tenant": "nb"}}},
                                  {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.250.0.0/16"]}}],
                         "ports": [{"protocol": "TCP", "port": 8080, "endPort": 8090},
                                   {"protocol": "TCP", "port": "http"}]}],
            "egress": [{"to": [{"namespaceSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0",
                                                                        "except": ["169.254.169.254/32"]}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"port": 443}]}]}},
        "Service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": ns},
                    "spec": {"type": "ClusterIP", "selector": {"app": "web"}, "ports": [{"port": 80}]}},
        "Pod": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"w{i:04d}", "namespace": ns, **template["metadata"]},
                "spec": template["spec"], "status": {"phase": "Running", "podIP": f"10.{(i >> 8) & 255}.{i & 255}.5"}},
        "Deployment": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
            "name": f"w{i:04d}", "namespace": ns, "annotations": {"isolation-audit.io/latency-budget": "2ms"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template}},
        "Node": _node(f"node-{i:04d}", i),
        "RuntimeClass": _runtime_class(f"rc-{i:04d}"),
        "Neighbour": _neighbour(f"node-{i:04d}", i),
    }


def probe_report(i: int) -> dict:
    """The demo's restricted probe report, as if it ran in case i's pod on case i's node."""
    report = json.loads(PROBE_BASE.read_text())
    report["probe"].update(node=COMMON_NODE, namespace=SHARED_NAMESPACE, pod=f"w{i:04d}", container="app")
    report["reach"] = [{"tenant": "nb", "namespace": "nb", "pod": "nb-0000", "address": "10.250.0.0",
                        "port": 80, "protocol": "TCP", "result": "reachable"}]
    report["network"] = {"interfaces": [], "routes": [],
                         "neighbours": [{"ip": "10.250.0.0", "mac": "02:00:00:00:00:01", "state": "reachable"}]}
    return report


# The untouched, bad Pod in every run: these findings must survive whatever sits beside it.
CONTROL = """apiVersion: v1
kind: Pod
metadata: {name: untouched, namespace: control}
spec:
  hostPID: true
  volumes: [{name: root, hostPath: {path: /}}]
  containers:
  - name: c
    image: registry.example/c:1
    securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}
"""


def case_documents(case: Case, i: int, shared_node: str = COMMON_NODE) -> tuple[list[dict], dict | None]:
    """(manifests, probe report or None) for one case with index i."""
    own_node = case.host in ("Node", "RuntimeClass")  # then the case's workload runs on its own one
    objs = base_objects(i, f"h{i:04d}" if own_namespace(case.host) else SHARED_NAMESPACE,
                        f"node-{i:04d}" if own_node else shared_node,
                        f"rc-{i:04d}" if case.host == "RuntimeClass" else COMMON_RUNTIME_CLASS)
    report = None
    if case.host == "ProbeReport":
        report = put(probe_report(i), case.path, case.value)
    else:
        objs[case.host] = put(objs[case.host], case.path, case.value)
    kinds = ["Deployment" if case.host == "Deployment" else "Pod"]
    if own_namespace(case.host):
        kinds += ["Namespace", "NetworkPolicy", "Service"]
    if own_node:
        kinds += ["Node", "Neighbour"] + (["RuntimeClass"] if case.host == "RuntimeClass" else [])
    return [objs[k] for k in kinds], report


# --- running ---------------------------------------------------------------------------------------

CHUNK_PATHS = 6  # paths of one host kind audited in one run; a failing run is split up


@dataclass
class Outcome:
    error: str | None  # an exception escaped: what it was
    report: Report | None
    skipped: tuple[str, ...]  # one_line() of every refusal
    inputs: tuple[str, ...]  # the cases' files of the run

    @property
    def ok(self) -> bool:
        return self.error is None and control_findings(self.report) == control_baseline()


@cache
def ruleset():
    from auditor.cli import _load_rules

    return _load_rules([])


def audit_files(manifests: list[str], probe_dirs: list[str]) -> tuple[Report, tuple[str, ...]]:
    """What `scan FILES --probe-results DIRS` does, in process (a test of the engine, not the CLI)."""
    from scan_helpers import TODAY

    from auditor import __version__
    from auditor.engine import audit

    inventory = load(manifests)
    if probe_dirs:
        inventory = with_reports(inventory, probe_dirs)
    rules, analyses = ruleset()
    report = audit(inventory, rules, analyses, CONFIG, TODAY, __version__)
    renderer("json")(report)
    return report, tuple(s.one_line() for s in inventory.skipped)


def write_manifest(stem: Path, docs: list[dict], yaml_too: bool = False) -> Path:
    """JSON (a List when several objects) parses several times faster than YAML; YAML where the
    value is an integer JSON cannot carry (orjson reads 2**70 as a float)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    if yaml_too:
        path = stem.with_suffix(".yaml")
        path.write_text(yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=False))
    else:
        path = stem.with_suffix(".json")
        path.write_text(json.dumps(docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs}))
    return path


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = {c: i for i, c in enumerate(all_cases())}
        self.control = root / "control.yaml"
        self.control.write_text(CONTROL)
        self.common = root / "common.yaml"
        self.common.write_text(yaml.dump_all(common_documents(), Dumper=yaml.CSafeDumper))
        self._outcomes: dict[tuple[Case, ...], Outcome] = {}
        self._written: dict[Case, tuple[Path, Path | None]] = {}
        self.chunks: dict[Case, tuple[Case, ...]] = {}
        by_host: dict[str, list[Path_]] = {}
        for case in all_cases():
            if case.path not in by_host.setdefault(case.host, []):
                by_host[case.host].append(case.path)
        for host, paths in by_host.items():
            for start in range(0, len(paths), CHUNK_PATHS):
                wanted = set(paths[start:start + CHUNK_PATHS])
                chunk = tuple(c for c in all_cases() if c.host == host and c.path in wanted)
                self.chunks.update((c, chunk) for c in chunk)

    def files(self, case: Case) -> tuple[Path, Path | None]:
        if case not in self._written:
            i = self.index[case]
            docs, report = case_documents(case, i)
            manifest = write_manifest(self.root / "cases" / f"case-{i:05d}", docs, yaml_too=case.value_id == "hugeport")
            probe = None
            if report is not None:
                probe = self.root / "probes" / f"case-{i:05d}" / "report.json"
                probe.parent.mkdir(parents=True, exist_ok=True)
                probe.write_text(json.dumps(report))
            self._written[case] = (manifest, probe)
        return self._written[case]

    def run(self, cases: tuple[Case, ...]) -> Outcome:
        if cases in self._outcomes:
            return self._outcomes[cases]
        files = [self.files(c) for c in cases]
        inputs = tuple(str(p) for pair in files for p in pair if p is not None)
        try:
            report, skipped = audit_files([str(self.control), str(self.common)] + [str(m) for m, _ in files],
                                          [str(p.parent) for _, p in files if p is not None])
            outcome = Outcome(None, report, skipped, inputs)
        except Exception as exc:  # what the CLI would print as "internal error"
            outcome = Outcome(f"{type(exc).__name__}: {exc}", None, (), inputs)
        self._outcomes[cases] = outcome
        return outcome

    def outcome(self, case: Case) -> Outcome:
        """The case's chunk of paths run together; then its path; then the case alone."""
        for cases in (self.chunks[case], tuple(c for c in self.chunks[case] if c.path == case.path), (case,)):
            found = self.run(cases)
            if found.ok:
                break
        return found


def control_findings(report: Report | None) -> set[tuple]:
    if report is None:
        return set()
    declarative = {r.id for r in ruleset()[0].rules if r.declarative}
    return {(f.rule_id, f.container) for f in report.findings
            if (f.namespace, f.name) == ("control", "untouched") and f.rule_id in declarative}


@cache
def control_baseline() -> frozenset:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="wrong-types-control-") as tmp:
        path = Path(tmp) / "control.yaml"
        path.write_text(CONTROL)
        report, _ = audit_files([str(path)], [])
    found = frozenset(control_findings(report))
    assert {"IA101", "IA104", "IA106"} <= {r for r, _ in found}, found  # it is a bad Pod
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("wrong-types"))


def _netpol_protocol_of_wrong_type(case: Case) -> bool:
    """Once an internal error (a non-string protocol reached a sort beside 'TCP')."""
    return (
        case.host == "NetworkPolicy" and case.path[-1] == "protocol" and not isinstance(case.value, (str, type(None)))
    )


def _param(case: Case):
    return pytest.param(case, id=case.id)


# --- the tests -------------------------------------------------------------------------------------

# Fixed so that a regression which empties (or shrinks) the derivation fails here.
MIN_RULE_PATHS = 160  # distinct paths derived from the built-in packs' conditions (169 when written)
MIN_HOST_PATHS = 480  # distinct (host kind, path) pairs in the matrix (504 when written)


def test_the_matrix_covers_the_fields_rules_and_analyses_read():
    derived = rule_paths()
    assert sum(len(p) for p in derived.values()) >= MIN_RULE_PATHS, {k: len(v) for k, v in derived.items()}
    hosts = host_paths()
    assert sum(len(p) for p in hosts.values()) >= MIN_HOST_PATHS
    # every target kind of the packs is exercised, and what each needs most is in it
    assert {t for t, _ in derived} >= {"pod", "container", "namespace", "probe"}
    assert _p("spec|containers") in hosts["Pod"] and _p("spec|containers|*") in hosts["Pod"]
    assert _p("spec|containers|*|securityContext|capabilities|add") in hosts["Pod"]
    assert _p("spec|securityContext|seccompProfile") in hosts["Pod"]  # via _effectiveSecurityContext
    assert _p("spec|hostUsers") in hosts["Pod"]  # via the container target's _pod
    assert _p("spec|type") in hosts["Service"]
    assert _p("metadata|labels|pod-security.kubernetes.io/enforce") in hosts["Namespace"]
    assert _p("spec|ingress|*|ports|*|port") in hosts["NetworkPolicy"]
    assert len(all_cases()) >= 7 * MIN_HOST_PATHS


def test_the_objects_the_wrong_values_go_into_are_valid(tmp_path):
    """Else a refusal would be about the base object, not the wrong value in it."""
    from auditor.sources.probe_reports import _validator

    manifests, probe_dir = [], tmp_path / "probes"
    probe_dir.mkdir()
    for i, host in enumerate(host_paths(), start=1):
        case = Case(host, ("metadata", "labels", "x"), "str") if host != "ProbeReport" else None
        docs, _ = case_documents(case, i) if case else ([], None)
        if host == "ProbeReport":
            assert list(_validator().iter_errors(probe_report(i))) == []
            (probe_dir / f"{i}.json").write_text(json.dumps(probe_report(i)))
            continue
        manifests.append(write_manifest(tmp_path / f"{host}-{i}", docs))
    (tmp_path / "common.yaml").write_text(yaml.dump_all(common_documents(), Dumper=yaml.CSafeDumper))
    report, skipped = audit_files([str(tmp_path / "common.yaml")] + [str(m) for m in manifests], [str(probe_dir)])
    assert skipped == ()
    assert report.coverage.audited_workloads >= len(host_paths()) - 1


@pytest.mark.parametrize("case", [_param(c) for c in all_cases()])
def test_a_wrong_type_is_tolerated_or_refused_in_one_line(workspace, case):
    outcome = workspace.outcome(case)
    assert outcome.error is None, f"audit raised {outcome.error}"
    for line in outcome.skipped:
        # a refusal is one line naming the case's own file (never the untouched Pod's)
        assert "\n" not in line and "Traceback" not in line, line
        assert line.startswith(outcome.inputs), line
    # the untouched Pod beside it is audited as if alone
    assert control_findings(outcome.report) == control_baseline()


@pytest.mark.slow
@pytest.mark.parametrize("host", sorted(host_paths()))
def test_every_format_renders_what_wrong_types_produced(workspace, host):
    """Evidence and messages carry the wrong values into every renderer (the first chunk of
    each host kind; the JSON renderer ran on every chunk above)."""
    first = next(c for c in all_cases() if c.host == host)
    outcome = workspace.run(workspace.chunks[first])
    if outcome.error is not None:  # a chunk holding a known bug: the chunk of its path instead
        outcome = workspace.run(tuple(c for c in workspace.chunks[first] if c.path == first.path))
    assert outcome.error is None, outcome.error
    rules = ruleset()[0].rules
    for fmt in ("json", "sarif", "junit", "markdown", "html", "table"):
        render = renderer(fmt)
        text = render(outcome.report, rules=rules) if fmt in ("sarif", "junit") else render(outcome.report)
        assert "untouched" in text, fmt


def test_a_node_instance_type_label_that_is_not_a_string_decides_nothing():
    """Regression: auditor/substrate.py ran the bare-metal regex on a list label (TypeError)."""
    from auditor.model import Resource
    from auditor.substrate import BARE_METAL, UNKNOWN, classify

    def node(labels):
        return Resource("Node", "v1", None, "n", {"metadata": {"name": "n", "labels": labels}})

    assert classify(node({"node.kubernetes.io/instance-type": ["c6i.metal"]})).kind == UNKNOWN
    assert classify(node({"node.kubernetes.io/instance-type": 7,
                          "beta.kubernetes.io/instance-type": "c6i.metal"})).kind == BARE_METAL


# --- through the command line ----------------------------------------------------------------------

def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditor", *argv], capture_output=True, text=True, timeout=300,
                          cwd=REPO)


def cli_sample() -> list[Case]:
    """One case per (host, path), the wrong value rotating with the path: every path, every value."""
    sample = []
    for n, (host, path) in enumerate(dict.fromkeys((c.host, c.path) for c in all_cases())):
        values = list(wrong_values(path))
        sample.append(Case(host, path, values[n % len(values)]))
    return sample


CLI_NODES = 24


def write_cli_inputs(root: Path, cases: list[Case]) -> tuple[Path, Path]:
    """YAML manifests (one file per case, beside the untouched Pod and the shared objects) and
    a directory of probe reports."""
    manifests, probes = root / "manifests", root / "probes"
    manifests.mkdir(parents=True)
    probes.mkdir()
    (manifests / "0-control.yaml").write_text(CONTROL)
    # placement compares each justified workload with every pod of its node: spread them out
    spread = [f"cli-node-{n}" for n in range(CLI_NODES)]
    common = common_documents() + [_node(name, 1000 + n) for n, name in enumerate(spread)]
    (manifests / "0-common.yaml").write_text(yaml.dump_all(common, Dumper=yaml.CSafeDumper))
    for i, case in enumerate(cases, start=1):
        docs, report = case_documents(case, i, spread[i % CLI_NODES])
        (manifests / f"case-{i:04d}.yaml").write_text(yaml.dump_all(docs, Dumper=yaml.CSafeDumper))
        if report is not None:
            (probes / f"case-{i:04d}.json").write_text(json.dumps(report))
    return manifests, probes


def assert_clean_cli_run(done: subprocess.CompletedProcess, manifests: Path, probes: Path) -> dict:
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    if done.returncode == 2:  # partial: every reason is one line naming a refused input of the matrix
        assert lines and all(line.startswith(("k8s-isolation-audit: skipped " + str(manifests / "case-"),
                                              "k8s-isolation-audit: skipped " + str(probes / "case-")))
                             for line in lines), done.stderr[-2000:]
    else:
        assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout)
    control = {(f["rule_id"], f["container"]) for f in report["findings"]
               if (f["namespace"], f["name"]) == ("control", "untouched") and (f["rule_id"], f["container"])
               in control_baseline()}
    assert control == control_baseline()
    return report


@pytest.mark.slow
def test_the_cli_audits_every_path_of_the_matrix_in_one_run(tmp_path):
    cases = cli_sample()
    assert len(cases) >= MIN_HOST_PATHS
    manifests, probes = write_cli_inputs(tmp_path, cases)
    done = cli("scan", str(manifests), "--probe-results", str(probes), "--format", "json", "--fail-on", "critical")
    report = assert_clean_cli_run(done, manifests, probes)
    # the matrix's own workloads were audited too, not just the untouched Pod
    audited = {(f["namespace"], f["name"]) for f in report["findings"]}
    assert sum(1 for ns, name in audited if name and name.startswith("w")) >= len(cases) // 2
    skipped = {s["source"] for s in report["coverage"]["skipped"]}
    assert len(skipped) < len(cases) // 4, sorted(skipped)[:20]  # refusals are the exception


def test_the_cli_survives_a_netpol_port_protocol_of_the_wrong_type(tmp_path):
    case = next(c for c in all_cases() if _netpol_protocol_of_wrong_type(c))
    manifests, probes = write_cli_inputs(tmp_path, [case])
    done = cli("scan", str(manifests), "--format", "json", "--fail-on", "critical")
    assert done.stderr.count("\n") <= 1 and "Traceback" not in done.stderr  # holds today: one line, exit 2
    assert_clean_cli_run(done, manifests, probes)  # fails today: "internal error: TypeError ..."
