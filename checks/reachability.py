"""Which tenants can reach which, as the NetworkPolicies intend it.

Endpoints are the pods in the inventory plus the pod templates of workloads (a manifest
repository has no Pods yet). The evaluator groups them into equivalence classes; pairs are
only ever examined between classes a policy rule connects, and the "no policy at either
end" block is handled per tenant, never per pod pair.
"""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from auditor.analysis import AnalysisContext, AnalysisResult, Hit
from auditor.model import Resource, Rule
from auditor.netpol import ALL_PORTS, NO_PORTS, Endpoint, Evaluator, PodClass, PortSet, in_block

# Past this many open-to-open tenant pairs the matrix says "*" (every tenant whose egress is
# unrestricted) instead of listing each pair: a policy-free cluster of 10,000 tenants would
# otherwise list 10^8 rows.
WILDCARD_THRESHOLD = 2_000
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")


@dataclass
class Matrix:
    pairs: dict[tuple[str, str], PortSet] = field(default_factory=dict)
    wildcard_to: set[str] = field(default_factory=set)  # every open-egress tenant reaches these
    open_egress: set[str] = field(default_factory=set)  # tenants with a class of unrestricted egress
    incoming: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))  # class -> other tenants
    # that reach it through a rule (open egress into open ingress is `open_egress`)

    def add(self, src: str, dst: str, ports: PortSet) -> None:
        self.pairs[(src, dst)] = self.pairs.get((src, dst), NO_PORTS) | ports

    def entries(self) -> list[dict[str, Any]]:
        rows = [{"from_tenant": "*", "to_tenant": t, "allowed": True, "ports": ALL_PORTS.describe()}
                for t in sorted(self.wildcard_to)]
        rows += [
            {"from_tenant": s, "to_tenant": d, "allowed": True, "ports": p.describe()}
            for (s, d), p in sorted(self.pairs.items())
        ]
        return rows

    def sources_of(self, dst: str) -> dict[str, PortSet]:
        return {s: p for (s, d), p in self.pairs.items() if d == dst}


class Reachability:
    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        endpoints, owners = _endpoints(ctx)
        namespaces = _namespace_labels(ctx)
        policies = [r.obj for r in ctx.of_kind("NetworkPolicy")]
        ev = Evaluator(endpoints, namespaces, policies)
        tenant = {c.id: ctx.tenancy.tenant_of(c.namespace) for c in ev.classes}
        matrix = intended_matrix(ev, tenant)
        hits: list[Hit] = []
        for rule in rules:
            check = rule.params.get("check")
            if check == "default-deny-ingress":
                hits += _without_default_deny(ctx, rule, ev, tenant, owners, "Ingress", policies)
            elif check == "default-deny-egress":
                hits += _without_default_deny(ctx, rule, ev, tenant, owners, "Egress", policies)
            elif check == "cross-tenant":
                hits += _cross_tenant(ctx, rule, matrix)
            elif check == "reachable-from-every-tenant":
                hits += _open_to_all(rule, ev, tenant, owners, matrix)
            elif check == "egress-to-metadata":
                hits += _metadata_egress(ctx, rule, ev, tenant, owners)
            else:
                raise ValueError(f"reachability: unknown check {check!r}")
        return AnalysisResult(hits=tuple(hits), sections={"reachability": {"intended": matrix.entries(), "observed": []}})


def _endpoints(ctx: AnalysisContext) -> tuple[list[Endpoint], dict[tuple[str, str], Resource]]:
    """Endpoints, and the workload each (namespace, endpoint name) stands for."""
    endpoints: list[Endpoint] = []
    owners: dict[tuple[str, str], Resource] = {}
    seen: set[tuple[str, str]] = set()
    views = list(ctx.workloads)
    pods = [r for r in ctx.of_kind("Pod") if r.namespace]
    for view in views:
        r = view.resource
        if r.namespace is None:
            continue
        owners[(r.namespace, r.name)] = r
        if r.kind != "Pod":
            endpoints.append(_endpoint(r.namespace, r.name, view.metadata, view.spec, None))
    for pod in pods:
        key = (pod.namespace, pod.name)
        if key in seen:
            continue
        seen.add(key)
        spec = pod.obj.get("spec") if isinstance(pod.obj.get("spec"), dict) else {}
        status = pod.obj.get("status") if isinstance(pod.obj.get("status"), dict) else {}
        ip = status.get("podIP") if isinstance(status.get("podIP"), str) else None
        endpoints.append(_endpoint(pod.namespace, pod.name, pod.metadata, spec, ip))
        owners.setdefault(key, _top_owner(pod, views))
    return endpoints, owners


def _top_owner(pod: Resource, views) -> Resource:
    """The audited workload a pod belongs to (by name, as controllers name their pods)."""
    candidates = [v.resource for v in views if v.resource.namespace == pod.namespace
                  and pod.name.startswith(v.resource.name + "-")]
    return max(candidates, key=lambda r: len(r.name), default=pod)


def _endpoint(namespace: str, name: str, metadata: Mapping[str, Any], spec: Mapping[str, Any], ip: str | None) -> Endpoint:
    labels = metadata.get("labels") if isinstance(metadata.get("labels"), dict) else {}
    ports = []
    for field_name in ("containers", "initContainers"):
        for container in spec.get(field_name) or []:
            if not isinstance(container, dict):
                continue
            for port in container.get("ports") or []:
                if isinstance(port, dict) and isinstance(port.get("containerPort"), int):
                    ports.append((str(port.get("name") or ""), port["containerPort"], str(port.get("protocol") or "TCP")))
    return Endpoint(namespace, name, {str(k): str(v) for k, v in labels.items()}, tuple(sorted(ports)), ip,
                    spec.get("hostNetwork") is True)


def _namespace_labels(ctx: AnalysisContext) -> dict[str, dict[str, str]]:
    """Labels per namespace, with the `kubernetes.io/metadata.name` the API server always sets."""
    found: dict[str, dict[str, str]] = {}
    for r in ctx.of_kind("Namespace"):
        found[r.name] = {str(k): str(v) for k, v in r.labels.items()}
    for view in ctx.workloads:
        if view.resource.namespace:
            found.setdefault(view.resource.namespace, {})
    for name, labels in found.items():
        labels.setdefault("kubernetes.io/metadata.name", name)
    return found


def intended_matrix(ev: Evaluator, tenant: Mapping[int, str | None]) -> Matrix:
    """Tenant x tenant allowed ports between different tenants (the platform is no tenant)."""
    matrix = Matrix()
    tenants_open_in: set[str] = set()
    tenants_open_out: set[str] = set()
    for c in ev.classes:
        t = tenant[c.id]
        if t is None or c.host_network:
            continue
        if ev.open_ingress(c):
            tenants_open_in.add(t)
        if ev.open_egress(c):
            tenants_open_out.add(t)
    matrix.open_egress = tenants_open_out
    # 1. open egress meets open ingress: every such pair, without looking at pods.
    if len(tenants_open_out) * len(tenants_open_in) > WILDCARD_THRESHOLD:
        matrix.wildcard_to = set(tenants_open_in)
    else:
        for s in tenants_open_out:
            for d in tenants_open_in:
                if s != d:
                    matrix.add(s, d, ALL_PORTS)
    # 2. a restricted side: only the class pairs some rule connects.
    def consider(s: PodClass, d: PodClass) -> None:
        ts, td = tenant[s.id], tenant[d.id]
        if ts is not None and td is not None and ts != td and not s.host_network and not d.host_network:
            ports = ev.ports(s, d)
            if ports:
                matrix.add(ts, td, ports)
                matrix.incoming[d.id].add(ts)

    for d in ev.classes:
        if not ev.open_ingress(d):
            for s in ev.members(ev.sources(d)):
                consider(s, d)
    for s in ev.classes:
        if not ev.open_egress(s):
            for d in ev.members(ev.targets(s)):
                if ev.open_ingress(d):
                    consider(s, d)
    return matrix


def _subject(ctx: AnalysisContext, namespace: str, owners: Mapping[tuple[str, str], Resource]) -> Resource:
    found = next((r for r in ctx.of_kind("Namespace") if r.name == namespace), None)
    if found is not None:
        return found
    origin = next(r.origin for (ns, _), r in owners.items() if ns == namespace)
    return Resource("Namespace", "v1", None, namespace, {"metadata": {"name": namespace}}, origin)


def _without_default_deny(ctx, rule, ev: Evaluator, tenant, owners, direction: str, policies) -> Iterator[Hit]:
    open_ = ev.open_ingress if direction == "Ingress" else ev.open_egress
    has_policy = {p.get("metadata", {}).get("namespace") for p in policies}
    exposed: dict[str, list[str]] = defaultdict(list)
    for c in ev.classes:
        if tenant[c.id] is None or c.host_network or not open_(c):
            continue
        # a namespace without any policy is IA201's finding; this one is about the gaps
        if direction == "Ingress" and c.namespace not in has_policy:
            continue
        exposed[c.namespace].extend(c.members)
    for namespace, members in sorted(exposed.items()):
        yield Hit(rule.id, _subject(ctx, namespace, owners), "", {"unisolated": sorted(set(members))[:20],
                                                                "count": len(set(members))})


def _cross_tenant(ctx, rule, matrix: Matrix) -> Iterator[Hit]:
    by_dst: dict[str, dict[str, PortSet]] = defaultdict(dict)
    for (s, d), ports in matrix.pairs.items():
        by_dst[d][s] = ports
    for d in matrix.wildcard_to:
        by_dst[d]["*"] = ALL_PORTS
    for dst, sources in sorted(by_dst.items()):
        namespaces = sorted(ns for ns, t in ctx.tenancy.by_namespace.items() if t == dst)
        subject = next((r for r in ctx.of_kind("Namespace") if r.name in namespaces), None)
        if subject is None:
            subject = next((v.resource for v in ctx.workloads if v.resource.namespace in namespaces), None)
        if subject is None:
            continue
        listed = ", ".join(sorted(sources)[:8]) + (" ..." if len(sources) > 8 else "")
        yield Hit(
            rule.id, subject,
            f"tenant {dst} accepts connections from {len(sources)} other tenant(s): {listed}",
            {"to_tenant": dst, "from": {s: p.describe() for s, p in sorted(sources.items())}},
        )


def _open_to_all(rule, ev: Evaluator, tenant, owners, matrix: Matrix) -> Iterator[Hit]:
    tenants = {t for t in tenant.values() if t is not None}
    if len(tenants) < 2:
        return
    reported: set[tuple[str, str, str]] = set()
    for c in ev.classes:
        t = tenant[c.id]
        if t is None or c.host_network:
            continue
        reachers = set(matrix.incoming.get(c.id, ()))
        if ev.open_ingress(c):
            reachers |= matrix.open_egress
        if reachers - {t} >= tenants - {t}:
            workload = owners.get((c.namespace, c.members[0]))
            if workload is not None and workload.key not in reported:
                reported.add(workload.key)
                yield Hit(rule.id, workload, f"{workload.kind} {workload.name} accepts connections from every other "
                          f"tenant ({len(tenants) - 1})", {"tenants": len(tenants) - 1, "class_members": list(c.members[:5])})


def _metadata_egress(ctx, rule, ev: Evaluator, tenant, owners) -> Iterator[Hit]:
    """Tenants whose pods may open connections to the cloud metadata service."""
    targets = [ipaddress.ip_address(a) for a in METADATA_ADDRESSES]
    reported: set[str] = set()
    for c in ev.classes:
        t = tenant[c.id]
        if t is None or c.host_network or c.namespace in reported:
            continue
        if ev.open_egress(c) or _egress_reaches(ev, c, targets):
            reported.add(c.namespace)
            why = "egress is unrestricted" if ev.open_egress(c) else "an egress ipBlock admits it"
            yield Hit(rule.id, _subject(ctx, c.namespace, owners),
                      f"pods in {c.namespace} may reach the cloud metadata service (169.254.169.254): {why}",
                      {"example_pods": list(c.members[:5])})


def _egress_reaches(ev: Evaluator, c: PodClass, targets) -> bool:
    return any(
        rule.any_peer or any(in_block(a, block) for block in rule.blocks for a in targets)
        for rule in ev.egress[c.id] or []
    )
