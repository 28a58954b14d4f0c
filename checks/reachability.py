"""Which tenants can reach which, as the NetworkPolicies intend it.

Endpoints are the pods in the inventory plus the pod templates of workloads (a manifest
repository has no Pods yet). The evaluator groups them into equivalence classes; pairs are
only ever examined between classes a policy rule connects, and the "no policy at either
end" block is handled per tenant, never per pod pair.
"""
from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from auditor import cni, netpol_admin, netpol_cilium
from auditor.analysis import WORKLOADS, AnalysisContext, AnalysisResult, Check, Hit, Section
from auditor.model import Resource, Rule
from auditor.netpol import (
    ALL_PORTS,
    EVERY,
    NO_PORTS,
    Endpoint,
    Evaluator,
    PodClass,
    PortSet,
    Recent,
    Verdict,
    mask_from,
)
from auditor.netpol import Rule as NpRule
from auditor.workloads import items
from checks import services

# Past this many open-to-open tenant pairs the matrix says "*" (every tenant whose egress is
# unrestricted) instead of listing each pair: a policy-free cluster of 10,000 tenants would
# otherwise list 10^8 rows.
REACHED_WINDOW = 64
WILDCARD_THRESHOLD = 2_000
# A denial is listed tenant by tenant when it names at most this many classes; past it the
# other end is "*" (every tenant the allowed rows do not list): a default deny names them all.
DENIED_DETAIL = 64
MAX_DECIDERS = 5  # per tenant pair in the report
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")
POLICY_KINDS = ("NetworkPolicy", "GlobalNetworkPolicy") + netpol_admin.KINDS + netpol_cilium.KINDS


@dataclass
class Matrix:
    pairs: dict[tuple[str, str], PortSet] = field(default_factory=dict)
    wildcard_to: set[str] = field(default_factory=set)  # every open-egress tenant reaches these
    open_egress: set[str] = field(default_factory=set)  # tenants with a class of unrestricted egress
    incoming: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))  # class -> other tenants
    # that reach it through a rule (open egress into open ingress is `open_egress`)
    deciders: dict[tuple[str, str], dict[NpRule, None]] = field(default_factory=lambda: defaultdict(dict))
    denied: dict[tuple[str, str], PortSet] = field(default_factory=dict)  # ports a rule or isolation denied

    def add(self, src: str, dst: str, ports: PortSet, deciders: Iterable[NpRule] = ()) -> None:
        self.pairs[(src, dst)] = self.pairs.get((src, dst), NO_PORTS) | ports
        self._decided(src, dst, deciders)

    def deny(self, src: str, dst: str, ports: PortSet, deciders: Iterable[NpRule]) -> None:
        self.denied[(src, dst)] = self.denied.get((src, dst), NO_PORTS) | ports
        self._decided(src, dst, deciders)

    def _decided(self, src: str, dst: str, deciders: Iterable[NpRule]) -> None:
        found = self.deciders[(src, dst)]
        for rule in deciders:
            if len(found) >= MAX_DECIDERS:
                break
            found[rule] = None

    def entries(self) -> list[dict[str, Any]]:
        rows = [{"from_tenant": "*", "to_tenant": t, "allowed": True, "ports": ALL_PORTS.describe(), "decided_by": []}
                for t in sorted(self.wildcard_to)]
        rows += [
            {
                "from_tenant": s,
                "to_tenant": d,
                "allowed": True,
                "ports": p.describe(),
                "decided_by": self._by(s, d, True),
            }
            for (s, d), p in sorted(self.pairs.items())
        ]
        return rows

    def denied_entries(self) -> list[dict[str, Any]]:
        return [
            {
                "from_tenant": s,
                "to_tenant": d,
                "allowed": False,
                "ports": p.describe(),
                "decided_by": self._by(s, d, False),
            }
            for (s, d), p in sorted(self.denied.items())
        ]

    def _by(self, src: str, dst: str, allowed: bool) -> list[dict[str, Any]]:
        """The rules that decided this pair's ports: those that allow for an allowed row,
        those that deny (rules or isolation) for a denied one."""
        return [r.describe() for r in self.deciders.get((src, dst), ()) if (r.action == "Allow") == allowed]


@dataclass
class _Scene:
    """Everything the checks share, computed once per audit."""

    ctx: AnalysisContext
    endpoints: list[Endpoint]
    owners: dict[tuple[str, str], Resource]
    ev: Evaluator
    tenant: dict[int, str | None]
    matrix: Matrix

    @cached_property
    def ingress_isolated(self) -> set[str]:
        """Namespaces where a policy of any kind applies to some tenant pod for ingress (IA201
        and IA401 both split on it)."""
        return {c.namespace for c in _tenant_pod_classes(self) if not self.ev.open_ingress(c)}

    @cached_property
    def by_name(self) -> dict[tuple[str, str], Endpoint]:
        return {(e.namespace, e.name): e for e in self.endpoints}

    @cached_property
    def probe_endpoints(self) -> dict[tuple[str, str], Endpoint]:
        """The tool's own reach pods, which `scan --probe` creates after listing the inventory:
        known only by the labels their facts carry (NetworkPolicies select by labels)."""
        found: dict[tuple[str, str], Endpoint] = {}
        for fact in self.ctx.inventory.facts:
            if fact.pod_labels is None or not fact.namespace or not fact.pod:
                continue
            if _endpoint_of(self.by_name, fact.namespace, fact.pod) is None:
                labels = {str(k): str(v) for k, v in fact.pod_labels.items()}
                found[(fact.namespace, fact.pod)] = Endpoint(fact.namespace, fact.pod, labels,
                                                             ip=_own_address(fact.report))
        return found

    @cached_property
    def probe_ev(self) -> Evaluator:
        """The policies evaluated over the endpoints and the probe pods. A second evaluator, so
        that the tool's own pods change neither the intended matrix nor any other finding."""
        endpoints = self.endpoints + list(self.probe_endpoints.values())
        return Evaluator(endpoints, _namespace_labels(self.ctx), _policies(self.ctx), _nodes(self.ctx))

    @cached_property
    def service_views(self) -> list[services.ServiceView]:
        addresses = sorted({a for _, found in _nodes(self.ctx).values() for a in found})
        return services.read_services(self.ctx, self.ev, self.tenant, self.endpoints,
                                      lambda ns, pod: _endpoint_of(self.by_name, ns, pod), addresses)


class Reachability:
    checks = {
        # between the audited workloads
        "default-deny-ingress": Check(reads=(WORKLOADS,)),
        "namespace-ingress-open": Check(reads=(WORKLOADS,)),
        "default-deny-egress": Check(reads=(WORKLOADS,)),
        "cross-tenant": Check(reads=(WORKLOADS,)),
        "reachable-from-every-tenant": Check(reads=(WORKLOADS,)),
        "egress-to-metadata": Check(reads=(WORKLOADS,)),
        "no-policy-engine": Check(reads=POLICY_KINDS),
        "service-exposed": Check(reads=("Service",)),
        "policy-kind-not-implemented": Check(reads=POLICY_KINDS),
        # what `probe --reach` observed
        "policy-not-enforced": Check(needs_probe=True),
        "allowed-but-filtered": Check(needs_probe=True),
        "shared-broadcast-domain": Check(needs_probe=True),
    }
    sections = {"reachability": Section(empty={"intended": [], "observed": [], "services": []})}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        endpoints, owners = _endpoints(ctx)
        ev = Evaluator(endpoints, _namespace_labels(ctx), _policies(ctx), _nodes(ctx))
        tenant = {c.id: ctx.tenancy.tenant_of(c.namespace) for c in ev.classes}
        by_namespace = {c.id: None if tenant[c.id] is None else c.namespace for c in ev.classes}
        matrix, namespace_matrix = intended_matrices(ev, [tenant, by_namespace])
        _denials(ev, tenant, matrix)
        scene = _Scene(ctx, endpoints, owners, ev, tenant, matrix)
        hits: list[Hit] = []
        for rule in rules:
            assert rule.check is not None  # the engine hands a plugin only its analysis rules
            hits += CHECKS[rule.check](scene, rule)
        sections = {"reachability": {
            "intended": scene.matrix.entries(),
            "intended_by_namespace": namespace_matrix.entries(),
            "denied": scene.matrix.denied_entries(),
            "enforcer": _enforcer(ctx),
            "unevaluated": ev.unevaluated,
            "observed": observed_rows(ctx),
            "services": [s.row() for s in scene.service_views],
        }}
        return AnalysisResult(hits=tuple(hits), sections=sections)


def _policies(ctx: AnalysisContext) -> list[Mapping[str, Any]]:
    return [r.obj for kind in POLICY_KINDS + ("Tier",) for r in ctx.of_kind(kind)]  # Calico's tiers order them


def _endpoints(ctx: AnalysisContext) -> tuple[list[Endpoint], dict[tuple[str, str], Resource]]:
    """Endpoints, and the workload each (namespace, endpoint name) stands for."""
    endpoints: list[Endpoint] = []
    owners: dict[tuple[str, str], Resource] = {}
    seen: set[tuple[str, str]] = set()
    views = list(ctx.workloads)
    views_by_namespace: dict[str, list] = defaultdict(list)
    for view in views:
        views_by_namespace[view.resource.namespace or ""].append(view)
    pods = [(r.namespace, r) for r in ctx.of_kind("Pod") if r.namespace]
    for view in views:
        r = view.resource
        if r.namespace is None:
            continue
        owners[(r.namespace, r.name)] = r
        if r.kind != "Pod":
            endpoints.append(_endpoint(r.namespace, r.name, view.metadata, view.spec, None))
    for namespace, pod in pods:
        key = (namespace, pod.name)
        if key in seen:
            continue
        seen.add(key)
        spec = pod.obj.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        status = pod.obj.get("status")
        status = status if isinstance(status, dict) else {}
        ip = status.get("podIP") if isinstance(status.get("podIP"), str) else None
        endpoints.append(_endpoint(namespace, pod.name, pod.metadata, spec, ip))
        owners.setdefault(key, _top_owner(pod, views_by_namespace[namespace]))
    return endpoints, owners


def _top_owner(pod: Resource, views) -> Resource:
    """The audited workload a pod belongs to (by name, as controllers name their pods)."""
    candidates = [v.resource for v in views if pod.name.startswith(v.resource.name + "-")]
    return max(candidates, key=lambda r: len(r.name), default=pod)


def _endpoint(
    namespace: str, name: str, metadata: Mapping[str, Any], spec: Mapping[str, Any], ip: str | None
) -> Endpoint:
    labels = metadata.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    ports = []
    for field_name in ("containers", "initContainers"):
        for container in items(spec.get(field_name)):
            if not isinstance(container, dict):
                continue
            for port in items(container.get("ports")):
                if isinstance(port, dict) and isinstance(port.get("containerPort"), int):
                    ports.append(
                        (str(port.get("name") or ""), port["containerPort"], str(port.get("protocol") or "TCP"))
                    )
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


def intended_matrices(ev: Evaluator, labelings: Sequence[Mapping[int, str | None]]) -> list[Matrix]:
    """One matrix per labeling of the classes (by tenant, by namespace...): allowed ports
    between classes of different labels (the platform, labelled None, is in none). Each
    connected class pair is found once, whatever the number of labelings."""
    matrices = [Matrix() for _ in labelings]
    open_in = [ev.open_to_pods("ingress", c.id) for c in ev.classes]
    open_out = [ev.open_to_pods("egress", c.id) for c in ev.classes]
    open_in_mask = mask_from(c.id for c in ev.classes if open_in[c.id])
    pod_classes = [c for c in ev.classes if not c.host_network]
    for matrix, label in zip(matrices, labelings, strict=True):
        labels_open_in = {x for c in pod_classes if open_in[c.id] and (x := label[c.id]) is not None}
        labels_open_out = {x for c in pod_classes if open_out[c.id] and (x := label[c.id]) is not None}
        matrix.open_egress = labels_open_out
        # 1. open egress meets open ingress: every such pair, without looking at pods.
        if len(labels_open_out) * len(labels_open_in) > WILDCARD_THRESHOLD:
            matrix.wildcard_to = labels_open_in
        else:
            for source in labels_open_out:
                for target in labels_open_in:
                    if source != target:
                        matrix.add(source, target, ALL_PORTS)

    # 2. a restricted side: only the class pairs some rule connects.
    def consider(s: PodClass, d: PodClass, into: Verdict, out: Verdict | None = None) -> None:
        """`into`: d's ingress verdict covering s; `out`: s's egress verdict covering d."""
        wanted = [(m, ls, ld) for m, label in zip(matrices, labelings, strict=True)
                  if (ls := label[s.id]) is not None and (ld := label[d.id]) is not None and ls != ld]
        if wanted:
            out = out or ev.allowed_by("egress", s.id, d.id)
            ports = into.allowed & out.allowed
            if ports:
                for matrix, ls, ld in wanted:
                    matrix.add(ls, ld, ports, into.deciders + out.deciders)
                    matrix.incoming[d.id].add(ls)

    # Only classes of another label in some labeling can make a row: the rest are left out
    # of each destination's sources as they are listed. (A mask of "every class but this
    # label's" per destination would cost a pass over masks as wide as the fleet each time.)
    labelled = mask_from(c.id for c in pod_classes if any(label[c.id] is not None for label in labelings))

    def others(d: PodClass, found: list[tuple[PodClass, Verdict]]) -> list[tuple[PodClass, Verdict]]:
        mine = [label[d.id] for label in labelings]
        return [(s, into) for s, into in found
                if any(ld is not None and (ls := label[s.id]) is not None and ls != ld
                       for label, ld in zip(labelings, mine, strict=True))]

    # Classes of one namespace usually share their ingress answer and their labels, hence
    # their sources: keep the sources (with the verdict admitting each) of the last few.
    sources: Recent[tuple[int, tuple[str | None, ...]], tuple[list[Verdict], list[tuple[PodClass, Verdict]]]] = (
        Recent(REACHED_WINDOW))
    for d in pod_classes:
        if not open_in[d.id]:
            ingress = ev.verdicts("ingress", d.id)
            key = (id(ingress), tuple(label[d.id] for label in labelings))
            found_sources = sources.get(key)
            if found_sources is None:
                found_sources = sources.put(key, (ingress, others(d, _members_with(ev, ingress, labelled))))  # held
            for s, into in found_sources[1]:
                consider(s, d, into)
    everything = Verdict(EVERY, ALL_PORTS)
    # Neighbouring classes usually share their egress answer: keep the targets of the last
    # few answers (each entry holds its answer, so its id stays its own).
    reached: Recent[int, tuple[list[Verdict], list[tuple[PodClass, Verdict]]]] = Recent(REACHED_WINDOW)
    for s in pod_classes:
        if not open_out[s.id]:
            egress = ev.verdicts("egress", s.id)
            found = reached.get(id(egress))
            if found is None:
                found = reached.put(id(egress), (egress, _members_with(ev, egress, open_in_mask)))
            for d, out in found[1]:
                consider(s, d, everything, out)
    return matrices


def _members_with(ev: Evaluator, verdicts: list[Verdict], within: int) -> list[tuple[PodClass, Verdict]]:
    """The classes in `within` that some allowing verdict covers, each with that verdict, by
    class id (the order the matrix meets them in, which decides the order of `decided_by`)."""
    found = [(c, v) for v in verdicts if v.allowed and within for c in ev.members(v.mask & within)]
    return sorted(found, key=lambda pair: pair[0].id)


def _denials(ev: Evaluator, tenant: Mapping[int, str | None], matrix: Matrix) -> None:
    """Tenant pairs a rule (Deny, or a NetworkPolicy's isolation) denies some port between."""
    # Classes under the same rules share their verdicts: name a verdict's tenants once.
    named: Recent[int, tuple[Verdict, frozenset[str]]] = Recent(REACHED_WINDOW)

    def at_other_end(verdict: Verdict) -> frozenset[str]:
        found = named.get(id(verdict))
        if found is None:
            if ev.size(verdict.mask) > DENIED_DETAIL:
                tenants = frozenset({"*"})
            else:
                members = (tenant[o.id] for o in ev.members(verdict.mask) if not o.host_network)
                tenants = frozenset(t for t in members if t is not None)
            found = named.put(id(verdict), (verdict, tenants))  # held, so its id stays its own
        return found[1]

    for c in ev.classes:
        mine = tenant[c.id]
        if mine is None or c.host_network:
            continue
        for direction in ("ingress", "egress"):
            for verdict in ev.verdicts(direction, c.id):
                denied = ALL_PORTS - verdict.allowed
                deciders = [r for r in verdict.deciders if r.action == "Deny"]
                if not denied or not deciders:
                    continue
                others = at_other_end(verdict) - {mine}
                for other in others:
                    pair = (other, mine) if direction == "ingress" else (mine, other)
                    matrix.deny(*pair, denied, deciders)


def _ingress_gaps(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    # a namespace with no pod isolated is IA201's finding; this one is about the gaps
    return _unisolated(scene, rule, scene.ev.open_ingress, scene.ingress_isolated)


def _open_namespaces(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    """Tenant namespaces whose pods no policy of any kind (namespaced or cluster-wide, Kubernetes,
    Cilium or Calico) applies to for ingress: the complement of IA401's namespaces."""
    ctx, isolated = scene.ctx, scene.ingress_isolated
    found = sorted({c.namespace for c in _tenant_pod_classes(scene)} - isolated)
    workloads = Counter(v.resource.namespace for v in ctx.workloads)
    policies = Counter(r.namespace for kind in POLICY_KINDS for r in ctx.of_kind(kind) if r.namespace)
    for namespace in found:
        yield Hit(rule.id, ctx.namespace_subject(namespace), "",
                  {"workloads": workloads[namespace], "policies": policies[namespace]})


def _tenant_pod_classes(scene: _Scene) -> Iterator[PodClass]:
    """The classes network policies can isolate: tenant pods off the host network."""
    return (c for c in scene.ev.classes if scene.tenant[c.id] is not None and not c.host_network)


def _open_egress(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    return _unisolated(scene, rule, scene.ev.open_egress)


def _unisolated(scene: _Scene, rule: Rule, is_open, within: set[str] | None = None) -> Iterator[Hit]:
    """Namespaces (of `within`, when given) with tenant pods open in this direction."""
    exposed: dict[str, set[str]] = defaultdict(set)
    for c in _tenant_pod_classes(scene):
        if not is_open(c) or (within is not None and c.namespace not in within):
            continue
        exposed[c.namespace].update(c.members)
    for namespace, members in sorted(exposed.items()):
        yield Hit(
            rule.id,
            scene.ctx.namespace_subject(namespace),
            "",
            {"unisolated": sorted(members)[:20], "count": len(members)},
        )


def _cross_tenant(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    ctx, matrix = scene.ctx, scene.matrix
    tenant_namespaces: dict[str, list[str]] = defaultdict(list)
    for ns, t in sorted(ctx.tenancy.by_namespace.items()):
        if t is not None:
            tenant_namespaces[t].append(ns)
    by_dst: dict[str, dict[str, PortSet]] = defaultdict(dict)
    for (s, d), ports in matrix.pairs.items():
        by_dst[d][s] = ports
    for d in matrix.wildcard_to:
        by_dst[d]["*"] = ALL_PORTS
    for dst, sources in sorted(by_dst.items()):
        namespaces = tenant_namespaces.get(dst, [])
        subject = next((ctx.namespace_subject(ns) for ns in namespaces if ctx.knows_namespace(ns)), None)
        if subject is None:
            continue
        listed = ", ".join(sorted(sources)[:8]) + (" ..." if len(sources) > 8 else "")
        yield Hit(
            rule.id, subject,
            f"tenant {dst} accepts connections from {len(sources)} other tenant(s): {listed}",
            {"to_tenant": dst, "from": {s: p.describe() for s, p in sorted(sources.items())}},
        )


def _open_to_all(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    ev, tenant, owners, matrix = scene.ev, scene.tenant, scene.owners, scene.matrix
    tenants = {t for t in tenant.values() if t is not None}
    if len(tenants) < 2:
        return
    # Open ingress already admits every open-egress tenant; the rest must reach it by a rule.
    # Counting first keeps this linear: few classes are reached by nearly every tenant.
    closed = tenants - matrix.open_egress
    reported: set[tuple[str, str, str]] = set()
    for c in ev.classes:
        t = tenant[c.id]
        if t is None or c.host_network:
            continue
        needed = closed if ev.open_to_pods("ingress", c.id) else tenants
        incoming = matrix.incoming.get(c.id, ())
        if len(incoming) < len(needed) - (t in needed):
            continue
        if all(n in incoming for n in needed if n != t):
            workload = owners.get((c.namespace, c.members[0]))
            if workload is not None and workload.key not in reported:
                reported.add(workload.key)
                yield Hit(
                    rule.id,
                    workload,
                    f"{workload.kind} {workload.name} accepts connections from every other tenant ({len(tenants) - 1})",
                    {"tenants": len(tenants) - 1, "class_members": list(c.members[:5])},
                )


def _metadata_egress(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    """Tenants whose pods may open connections to the cloud metadata service or the nodes."""
    ev, tenant = scene.ev, scene.tenant
    targets = {a: "the cloud metadata service" for a in METADATA_ADDRESSES}
    targets.update({a: "a node's address (kubelet, node services)" for a in _node_addresses(scene.ctx)})
    # Addresses in the same blocks of every rule get the same answer (the evaluator keeps it
    # per rule set): ask once per group of addresses.
    groups: dict[tuple[bool, ...], tuple[ipaddress._BaseAddress, set[str]]] = {}
    for a, what in targets.items():
        address = ipaddress.ip_address(a)
        groups.setdefault(ev.address_signature(address), (address, set()))[1].add(what)
    reported: set[str] = set()
    for c in ev.classes:
        t = tenant[c.id]
        if t is None or c.host_network or c.namespace in reported:
            continue
        reached = sorted({what for a, whats in groups.values() if ev.address_ports(c, a) for what in whats})
        if reached:
            reported.add(c.namespace)
            why = "egress is unrestricted" if ev.open_egress(c) else "a policy admits it"
            yield Hit(rule.id, scene.ctx.namespace_subject(c.namespace),
                      f"pods in {c.namespace} may reach {' and '.join(reached)}: {why}",
                      {"example_pods": list(c.members[:5]), "reaches": reached})


def _node_addresses(ctx: AnalysisContext) -> list[str]:
    return sorted({a for _, addresses in _nodes(ctx, ("InternalIP",)).values() for a in addresses})


def _nodes(ctx: AnalysisContext, types: tuple[str, ...] = ("InternalIP", "ExternalIP")
           ) -> dict[str, tuple[dict[str, str], list[str]]]:
    """Each Node's labels and addresses (what a cluster-wide policy's `nodes` peer matches)."""
    found = {}
    for node in ctx.of_kind("Node"):
        status = node.obj.get("status")
        status = status if isinstance(status, dict) else {}
        addresses = []
        for address in items(status.get("addresses")):
            if isinstance(address, dict) and address.get("type") in types:
                value: Any = address.get("address")
                try:
                    addresses.append(str(ipaddress.ip_address(value)))
                except ValueError:
                    continue
        found[node.name] = ({str(k): str(v) for k, v in node.labels.items()}, addresses)
    return found


# -- observed (probe --reach) ----------------------------------------------------------

OBSERVED_RESULTS = ("reachable", "refused", "filtered")


def _reach(ctx: AnalysisContext) -> Iterator[tuple[Any, Mapping[str, Any]]]:
    for fact in ctx.inventory.facts:
        for entry in fact.report.get("reach") or []:
            if isinstance(entry, Mapping) and entry.get("result") in OBSERVED_RESULTS:
                yield fact, entry


def observed_rows(ctx: AnalysisContext) -> list[dict[str, Any]]:
    rows = []
    for fact, entry in _reach(ctx):
        port = f"{entry['protocol']}/{entry['port']}" if entry.get("port") is not None else entry["protocol"]
        rows.append({
            "from_tenant": ctx.tenancy.tenant_of(fact.namespace) or "(platform)",
            "to_tenant": str(entry.get("tenant")),
            "allowed": entry["result"] == "reachable",
            "ports": [port],
            "result": entry["result"],
            "address": entry.get("address"),
            "probe": fact.probe_id,
            "node": fact.node,
        })
    return sorted(rows, key=lambda r: (r["from_tenant"], r["to_tenant"], r["ports"], str(r["address"]), r["probe"]))


def _endpoint_of(
    by_name: Mapping[tuple[str, str], Endpoint], namespace: str | None, pod: str | None
) -> Endpoint | None:
    """A pod's endpoint, or its workload's template (controllers name pods `<workload>-...`)."""
    if not namespace or not pod:
        return None
    found = by_name.get((namespace, pod))
    if found is not None:
        return found
    owners = [e for (ns, name), e in by_name.items() if ns == namespace and pod.startswith(name + "-")]
    return max(owners, key=lambda e: len(e.name), default=None)


def _own_address(report: Mapping[str, Any]) -> str | None:
    """A probe pod's address, from the network view it reports: ipBlock rules decide by it."""
    network = report.get("network")
    for interface in items(network.get("interfaces")) if isinstance(network, Mapping) else []:
        for address in items(interface.get("addresses")) if isinstance(interface, Mapping) else []:
            if not isinstance(address, str):
                continue
            try:
                ip = ipaddress.ip_interface(address).ip
            except ValueError:
                continue
            if not ip.is_loopback and not ip.is_link_local:
                return str(ip)
    return None


def _not_enforced(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    return _observed_drift(scene, rule, "policy-not-enforced")


def _filtered(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    return _observed_drift(scene, rule, "allowed-but-filtered")


def _observed_drift(scene: _Scene, rule: Rule, check: str) -> Iterator[Hit]:
    """Policy says one thing, the wire another. ICMP is outside NetworkPolicy, so not compared."""
    ctx, ev, by_name, owners = scene.ctx, scene.ev, scene.by_name, scene.owners
    for fact, entry in _reach(ctx):
        protocol, port = entry.get("protocol"), entry.get("port")
        if protocol not in ("TCP", "UDP", "SCTP") or not isinstance(port, int):
            continue
        src, judge = _endpoint_of(by_name, fact.namespace, fact.pod), ev
        if src is None:
            src = scene.probe_endpoints.get((fact.namespace or "", fact.pod or ""))
            judge = scene.probe_ev if src is not None else ev
        dst = _endpoint_of(by_name, entry.get("namespace"), entry.get("pod"))
        if src is None or dst is None:
            continue
        intended = judge.ports(judge.class_of(src), judge.class_of(dst)).allows(protocol, port)
        result = entry["result"]
        if check == "policy-not-enforced" and not intended and result == "reachable":
            message = (f"NetworkPolicy denies {src.namespace}/{fact.pod} -> {dst.namespace}/{entry.get('pod')} "
                       f"{protocol}/{port}, but the probe connected: the network plugin is not enforcing it")
        elif check == "allowed-but-filtered" and intended and result == "filtered":
            message = (f"NetworkPolicy allows {src.namespace}/{fact.pod} -> {dst.namespace}/{entry.get('pod')} "
                       f"{protocol}/{port}, but the probe got no answer")
        else:
            continue
        subject = owners.get((dst.namespace, dst.name)) or owners.get((src.namespace, src.name))
        if subject is not None:
            yield Hit(rule.id, subject, message, {
                "from": f"{fact.namespace}/{fact.pod}", "to": f"{entry.get('namespace')}/{entry.get('pod')}",
                "address": entry.get("address"), "port": f"{protocol}/{port}", "intended": intended,
                "observed": result, "probe_report": fact.origin.path, "node": fact.node,
            })


def _shared_l2(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    """Another tenant's pod address in a probe's neighbour table: one broadcast domain."""
    ctx, endpoints, owners, by_name = scene.ctx, scene.endpoints, scene.owners, scene.by_name
    tenant_of_ip = {e.ip: (ctx.tenancy.tenant_of(e.namespace), e) for e in endpoints if e.ip}
    for fact in ctx.inventory.facts:
        mine = ctx.tenancy.tenant_of(fact.namespace)
        neighbours = (fact.report.get("network") or {}).get("neighbours") or []
        others = sorted({
            (tenant_of_ip[n["ip"]][0], n["ip"]) for n in neighbours
            if isinstance(n, Mapping) and n.get("ip") in tenant_of_ip
            and tenant_of_ip[n["ip"]][0] not in (None, mine)
        })
        src = _endpoint_of(by_name, fact.namespace, fact.pod)
        subject = owners.get((src.namespace, src.name)) if src is not None else None
        if others and mine is not None and subject is not None:
            yield Hit(rule.id, subject, f"pod {fact.pod} shares a layer-2 segment with "
                      + ", ".join(f"{t} ({ip})" for t, ip in others),
                      {"neighbours": [ip for _, ip in others], "probe_report": fact.origin.path})


def _enforcer(ctx: AnalysisContext) -> dict[str, Any]:
    found = ctx.shared(_detect)
    return {"engines": found.names, "evidence": list(found.evidence), "enforces_none": found.enforces_none}


def _detect(ctx: AnalysisContext) -> cni.Detected:
    """The network plugin, from what runs (DaemonSets and Pods) and what it writes on Nodes."""
    running = [(v.resource.kind, v.resource.name,
                [str(c.get("image")) for c in items(v.spec.get("containers")) + items(v.spec.get("initContainers"))
                 if isinstance(c, dict)])
               for v in ctx.workloads if v.resource.kind in ("DaemonSet", "Pod")]
    annotations = [
        n.obj["metadata"]["annotations"]
        for n in ctx.of_kind("Node")
        if isinstance(n.obj.get("metadata"), dict) and isinstance(n.obj["metadata"].get("annotations"), dict)
    ]
    crds = [(r.name, str(r.obj["spec"].get("group"))) for r in ctx.of_kind("CustomResourceDefinition")
            if isinstance(r.obj.get("spec"), dict)]
    return cni.detect(running, annotations, crds)


def _no_policy_engine(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    """Policies on a cluster whose network plugin enforces none: one finding per namespace and
    family of kinds (its first policy stands for the rest) and per cluster-wide policy."""
    found = scene.ctx.shared(_detect)
    if not found.enforces_none:
        return
    engines = ", ".join(found.names)
    for subject, count, _ in _policy_groups(scene.ctx, lambda kind: True):
        yield Hit(rule.id, subject, f"{_first_of(subject, count)}: the cluster's network plugin "
                  f"({engines}) enforces no network policy, so nothing applies it",
                  {"engines": found.names, "evidence": list(found.evidence), "policies": count},
                  pointer="/spec")


def _kind_not_implemented(scene: _Scene, rule: Rule) -> Iterator[Hit]:
    """Policies of a kind no detected network plugin implements (Cilium's on a Calico cluster,
    AdminNetworkPolicy on Cilium ...). A plugin that enforces nothing is IA410's finding."""
    found = scene.ctx.shared(_detect)
    if found.enforces_none:
        return
    engines = ", ".join(found.names)
    for subject, count, kind in _policy_groups(scene.ctx, found.ignores):
        by = f"only {', '.join(kind.only)} does" if kind.only else f"{', '.join(kind.not_by)} does not"
        yield Hit(rule.id, subject, f"{_first_of(subject, count)}: no network plugin of the cluster "
                  f"({engines}) implements {kind.label} ({by}), so nothing enforces it",
                  {"engines": found.names, "evidence": list(found.evidence), "kind": kind.label, "policies": count},
                  pointer="/spec")


def _first_of(subject: Resource, count: int) -> str:
    return f"{subject.kind} {subject.name}" + (f" and {count - 1} more in its namespace" if count > 1 else "")


def _policy_groups(ctx: AnalysisContext, chosen) -> Iterator[tuple[Resource, int, cni.PolicyKind]]:
    """Network policies of the chosen kinds: the first of each namespace and API group (standing
    for the rest), and each cluster-wide one on its own; with how many it stands for."""
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    kinds: dict[tuple[str, str], cni.PolicyKind] = {}
    for kind in cni.POLICY_KINDS:
        if not chosen(kind):
            continue
        for r in ctx.of_kind(kind.kind):
            if cni.policy_kind(r.api_version, r.kind) is kind:
                key = (kind.group, r.namespace) if r.namespace else (kind.group, f"{kind.kind}/{r.name}")
                groups[key].append(r)
                kinds[key] = kind
    for key, policies in sorted(groups.items()):
        yield min(policies, key=lambda r: r.name), len(policies), kinds[key]


CHECKS = {
    "default-deny-ingress": _ingress_gaps,
    "namespace-ingress-open": _open_namespaces,
    "default-deny-egress": _open_egress,
    "cross-tenant": _cross_tenant,
    "reachable-from-every-tenant": _open_to_all,
    "egress-to-metadata": _metadata_egress,
    "no-policy-engine": _no_policy_engine,
    "service-exposed": lambda scene, rule: services.exposed(scene.service_views, rule),
    "policy-kind-not-implemented": _kind_not_implemented,
    "policy-not-enforced": _not_enforced,
    "allowed-but-filtered": _filtered,
    "shared-broadcast-domain": _shared_l2,
}
