"""Services: which tenants reach each one, and where it is exposed outside the pods' view.

A Service forwards to its backends, so another tenant reaches it exactly when it reaches a
backend on one of the Service's target ports: the answer is the policy evaluator's, asked
on the backends' classes, never a second reading of the policies. Backends are the pods
(or workload templates) the selector picks in the Service's namespace; a Service without a
selector forwards to the addresses of its EndpointSlices (or Endpoints), matched to pods by
their `targetRef` or address.

NodePort and LoadBalancer Services (and any with `externalIPs`) also listen on addresses
that are not pods: every node's, the load balancer's, the external IPs. A pod reaches them
when its egress admits that address on that port. Traffic through a node port is
source-NATed under `externalTrafficPolicy: Cluster`, so the backends' NetworkPolicies see a
node address there, not the client's.
"""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.analysis import AnalysisContext, Hit
from auditor.model import Resource, Rule
from auditor.netpol import PROTOCOLS, Endpoint, Evaluator, PodClass, PortSet, mask_from
from auditor.workloads import items

EXPOSED_TYPES = ("NodePort", "LoadBalancer")
LISTED = 50  # tenants and addresses listed per Service; the counts are always whole
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # ties an EndpointSlice to its Service

Resolve = Callable[[str | None, str | None], Endpoint | None]


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str
    protocol: str
    port: int | None
    target: int | str | None  # a number, a container port's name on the backends, or unknown
    node_port: int | None

    def describe(self) -> str:
        text = f"{self.protocol}/{self.port}->{self.target}"
        return text + (f" (nodePort {self.node_port})" if self.node_port else "")


@dataclass(frozen=True, slots=True)
class Exposure:
    """Where a Service listens outside the pods: node ports, load balancer, external IPs."""

    node_addresses: tuple[str, ...]
    node_ports: tuple[int, ...]
    load_balancer_ingress: tuple[str, ...]
    external_ips: tuple[str, ...]
    external_traffic_policy: str
    source_ranges: tuple[str, ...]
    reached_by: tuple[str, ...]  # other tenants whose egress admits one of those addresses and ports

    def row(self) -> dict[str, Any]:
        return {
            "node_addresses": list(self.node_addresses[:LISTED]),
            "node_address_count": len(self.node_addresses),
            "node_ports": list(self.node_ports),
            "load_balancer_ingress": list(self.load_balancer_ingress),
            "external_ips": list(self.external_ips),
            "external_traffic_policy": self.external_traffic_policy,
            "load_balancer_source_ranges": list(self.source_ranges),
            "reachable_from": list(self.reached_by[:LISTED]),
            "reachable_from_count": len(self.reached_by),
        }


@dataclass(frozen=True, slots=True)
class ServiceView:
    resource: Resource
    tenant: str | None
    type: str
    ports: tuple[ServicePort, ...]
    backends_from: str  # "selector", "EndpointSlice", "Endpoints" or "none"
    backends: int  # pods, or workload templates where no pod is audited
    outside_backends: int  # backend addresses no audited pod has: not evaluated
    reached_by: tuple[str, ...]  # other tenants that reach a backend on a target port
    exposure: Exposure | None

    def row(self) -> dict[str, Any]:
        return {
            "service": self.resource.name,
            "namespace": self.resource.namespace,
            "tenant": self.tenant,
            "type": self.type,
            "ports": [p.describe() for p in self.ports],
            "backends_from": self.backends_from,
            "backend_count": self.backends,
            "outside_backends": self.outside_backends,
            "reachable_from": list(self.reached_by[:LISTED]),
            "reachable_from_count": len(self.reached_by),
            "exposure": self.exposure.row() if self.exposure else None,
        }


def read_services(ctx: AnalysisContext, ev: Evaluator, tenant: Mapping[int, str | None],
                  endpoints: Sequence[Endpoint], resolve: Resolve, node_addresses: Sequence[str]) -> list[ServiceView]:
    reach = _Reach(ev, tenant)
    pods = {(r.namespace, r.name) for r in ctx.of_kind("Pod")}
    by_namespace: dict[str, list[Endpoint]] = defaultdict(list)
    for e in endpoints:
        by_namespace[e.namespace].append(e)
    slices = _slices(ctx)
    by_ip = {e.ip: e for e in endpoints if e.ip}

    def backend(namespace: str | None, pod: str | None, address: str | None) -> Endpoint | None:
        return resolve(namespace, pod) if pod else by_ip.get(address or "")

    found = []
    for service in sorted(ctx.of_kind("Service"), key=lambda r: (r.namespace or "", r.name)):
        spec = service.obj.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        given = spec.get("type")
        kind = given if isinstance(given, str) else "ClusterIP"
        if service.namespace is None or kind == "ExternalName":
            continue  # ExternalName is a DNS alias: nothing is forwarded
        ports = tuple(_ports(spec))
        selector = spec.get("selector")
        slice_ports: Mapping[tuple[str, str], set[int]] = {}
        if isinstance(selector, dict) and selector:
            wanted = {str(k): str(v) for k, v in selector.items()}
            matched = [e for e in by_namespace[service.namespace]
                       if all(e.labels.get(k) == v for k, v in wanted.items())]
            source, outside = "selector", 0
        else:
            source, matched, outside, slice_ports = _from_slices(slices.get((service.namespace, service.name)),
                                                                 backend)
        real = [e for e in matched if (e.namespace, e.name) in pods]
        backends = real or matched
        mine = ctx.tenancy.tenant_of(service.namespace)
        reached: set[str] = set()
        for cls in {ev.class_of(e).id: ev.class_of(e) for e in backends}.values():
            reached |= reach.tenants(cls, _targets(ports, cls, slice_ports))
        exposure = _exposure(spec, service, kind, ports, node_addresses, reach, mine)
        found.append(ServiceView(service, mine, kind, ports, source, len(backends), outside,
                                 tuple(sorted(reached - {mine})), exposure))
    return found


def _ports(spec: Mapping[str, Any]) -> Iterator[ServicePort]:
    for p in items(spec.get("ports")):
        if not isinstance(p, dict):
            continue
        port = p.get("port") if _is_port(p.get("port")) else None
        target = p.get("targetPort", port)
        if not (_is_port(target) or (isinstance(target, str) and target)):
            target = None
        protocol = p.get("protocol") if p.get("protocol") in PROTOCOLS else "TCP"
        node_port = p.get("nodePort") if _is_port(p.get("nodePort")) else None
        yield ServicePort(str(p.get("name") or ""), str(protocol), port, target, node_port)


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _targets(ports: Sequence[ServicePort], cls: PodClass, slice_ports: Mapping[tuple[str, str], set[int]]) -> PortSet:
    """The ports a Service forwards to on a backend of `cls`: named target ports resolve on the
    backend's container ports; a Service without selector forwards to its slices' ports."""
    found: list[tuple[str, int, int]] = []
    for p in ports:
        numbers: set[int] = set(slice_ports.get((p.name, p.protocol), ()))
        if not numbers:
            if isinstance(p.target, int):
                numbers.add(p.target)
            elif isinstance(p.target, str):
                numbers.update(n for name, n, proto in cls.ports if name == p.target and proto == p.protocol)
        found += [(p.protocol, n, n) for n in numbers]
    return PortSet.of(found)


# -- EndpointSlices and Endpoints: the backends of a Service without selector ---------


@dataclass
class _Slices:
    kind: str
    targets: list[tuple[str | None, str | None, str | None]]  # (namespace, pod, address) of each endpoint
    ports: dict[tuple[str, str], set[int]]


def _slices(ctx: AnalysisContext) -> dict[tuple[str, str], _Slices]:
    """Per (namespace, Service name): EndpointSlices when there are any, else Endpoints."""
    found: dict[tuple[str, str], _Slices] = {}
    for r in ctx.of_kind("EndpointSlice"):
        service = r.labels.get(SERVICE_NAME_LABEL)
        if r.namespace is None or not isinstance(service, str):
            continue
        entry = found.setdefault((r.namespace, service), _Slices("EndpointSlice", [], defaultdict(set)))
        for e in items(r.obj.get("endpoints")):
            if isinstance(e, dict):
                addresses: list[str | None] = [a for a in items(e.get("addresses")) if isinstance(a, str)] or [None]
                entry.targets += [(*_target_ref(e.get("targetRef"), r.namespace), a) for a in addresses]
        _add_ports(entry.ports, r.obj.get("ports"))
    for r in ctx.of_kind("Endpoints"):
        if r.namespace is None or (r.namespace, r.name) in found:
            continue
        entry = found[(r.namespace, r.name)] = _Slices("Endpoints", [], defaultdict(set))
        for subset in items(r.obj.get("subsets")):
            if not isinstance(subset, dict):
                continue
            for a in items(subset.get("addresses")) + items(subset.get("notReadyAddresses")):
                if isinstance(a, dict):
                    ip = a.get("ip") if isinstance(a.get("ip"), str) else None
                    entry.targets.append((*_target_ref(a.get("targetRef"), r.namespace), ip))
            _add_ports(entry.ports, subset.get("ports"))
    return found


def _target_ref(ref: Any, namespace: str) -> tuple[str | None, str | None]:
    if isinstance(ref, dict) and ref.get("kind", "Pod") == "Pod" and isinstance(ref.get("name"), str):
        return (ref["namespace"] if isinstance(ref.get("namespace"), str) else namespace), ref["name"]
    return None, None


def _add_ports(into: dict[tuple[str, str], set[int]], ports: Any) -> None:
    for p in items(ports):
        if isinstance(p, dict) and _is_port(p.get("port")):
            protocol = p.get("protocol") if p.get("protocol") in PROTOCOLS else "TCP"
            into[(str(p.get("name") or ""), str(protocol))].add(p["port"])


def _from_slices(found: _Slices | None, backend: Callable[[str | None, str | None, str | None], Endpoint | None]
                 ) -> tuple[str, list[Endpoint], int, Mapping[tuple[str, str], set[int]]]:
    """(where from, backends that are audited pods, addresses that are not, ports)."""
    if found is None:
        return "none", [], 0, {}
    matched: dict[tuple[str, str], Endpoint] = {}
    outside: set[str] = set()
    for namespace, pod, address in found.targets:
        endpoint = backend(namespace, pod, address)
        if endpoint is not None:
            matched[(endpoint.namespace, endpoint.name)] = endpoint
        else:
            outside.add(address or f"{namespace}/{pod}")
    return found.kind, list(matched.values()), len(outside), found.ports


# -- who reaches what ------------------------------------------------------------------


class _Reach:
    """Other tenants reaching a class on some ports, and addresses outside the pods, asked
    of the evaluator once per class (or per egress rule set) and remembered."""

    def __init__(self, ev: Evaluator, tenant: Mapping[int, str | None]) -> None:
        self.ev, self.tenant = ev, tenant
        tenants = [c for c in ev.classes if tenant[c.id] is not None and not c.host_network]
        self._eligible = mask_from(c.id for c in tenants)
        # classes that may open every port anywhere: whom they reach depends on the destination's
        # ingress alone, so their tenants are counted once per ingress group, not per class
        self._open_out = mask_from(c.id for c in tenants if ev.open_to_pods("egress", c.id))
        self._open_tenants: dict[int, frozenset[str]] = {}
        self._cache: dict[tuple[int, PortSet], frozenset[str]] = {}
        self._opened: dict[tuple[str, ...], list[PortSet]] = {}  # per address list: ports open, by group
        self._groups: dict[bool, list[tuple[PodClass, int]]] = {}
        self._group_tenants: list[frozenset[str]] | None = None

    def tenants(self, dst: PodClass, ports: PortSet) -> frozenset[str]:
        """Tenants with a pod whose egress and `dst`'s ingress both admit one of `ports`."""
        key = (dst.id, ports)
        if key not in self._cache:
            self._cache[key] = frozenset(self._tenants(dst, ports)) if ports and not dst.host_network else frozenset()
        return self._cache[key]

    def _tenants(self, dst: PodClass, ports: PortSet) -> set[str]:
        ev, found = self.ev, set[str]()
        for verdict in ev.verdicts("ingress", dst.id):
            admitted = verdict.allowed & ports
            if not admitted:
                continue
            found |= self._open_in(verdict.mask)
            candidates = verdict.mask & self._eligible & ~self._open_out
            if not candidates:
                continue
            for representative, group in self._egress_groups():
                inside = candidates & group
                if inside and ev.allowed_by("egress", representative.id, dst.id).allowed & admitted:
                    found.update(str(self.tenant[c]) for c in ev.members_ids(inside))
        return found

    def _open_in(self, mask: int) -> frozenset[str]:
        """Tenants of the open-egress classes in `mask`."""
        if mask not in self._open_tenants:
            self._open_tenants[mask] = frozenset(
                str(self.tenant[c.id]) for c in self.ev.members(mask & self._open_out))
        return self._open_tenants[mask]

    def to_addresses(self, addresses: Sequence[str], ports: PortSet) -> set[str]:
        """Tenants with a pod whose egress admits one of `ports` on one of `addresses`. Classes
        under the same egress rules answer alike: asked once per rule set and address list."""
        found: set[str] = set()
        if not addresses or not ports:
            return found
        key = tuple(addresses)
        if key not in self._opened:
            parsed = tuple(_addresses(key))
            self._opened[key] = [
                PortSet.of(r for a in parsed for r in self.ev.address_ports(representative, a).ranges)
                for representative, _ in self._egress_groups(everyone=True)]
        if self._group_tenants is None:
            self._group_tenants = [frozenset(str(self.tenant[c]) for c in self.ev.members_ids(mask))
                                   for _, mask in self._egress_groups(everyone=True)]
        for tenants, opened in zip(self._group_tenants, self._opened[key], strict=True):
            if opened & ports:
                found |= tenants
        return found

    def _egress_groups(self, everyone: bool = False) -> list[tuple[PodClass, int]]:
        """A class standing for each egress rule set, and the classes under it (bitmask): of the
        restricted-egress classes, or of every class of a tenant. The evaluator answers alike
        for classes under the same rules."""
        if everyone not in self._groups:
            groups: dict[tuple, list[PodClass]] = {}
            for c in self.ev.members(self._eligible if everyone else self._eligible & ~self._open_out):
                groups.setdefault(self.ev.rules_key("egress", c.id), []).append(c)
            self._groups[everyone] = [(found[0], mask_from(c.id for c in found)) for found in groups.values()]
        return self._groups[everyone]


def _addresses(values: Sequence[str]) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    for value in values:
        try:
            yield ipaddress.ip_address(value)
        except ValueError:
            continue  # a load balancer's host name: not an address a policy names


def _exposure(spec: Mapping[str, Any], service: Resource, kind: str, ports: Sequence[ServicePort],
              node_addresses: Sequence[str], reach: _Reach, mine: str | None) -> Exposure | None:
    external = tuple(a for a in items(spec.get("externalIPs")) if isinstance(a, str))
    if kind not in EXPOSED_TYPES and not external:
        return None
    status = service.obj.get("status")
    balancer = status.get("loadBalancer") if isinstance(status, dict) else None
    ingress = tuple(
        str(i.get("ip") or i.get("hostname"))
        for i in items(balancer.get("ingress") if isinstance(balancer, dict) else None)
        if isinstance(i, dict) and isinstance(i.get("ip") or i.get("hostname"), str)
    )
    # a LoadBalancer may do without node ports (`allocateLoadBalancerNodePorts: false`)
    on_nodes_too = kind == "NodePort" or (
        kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)
    node_ports = tuple(sorted({p.node_port for p in ports if p.node_port})) if on_nodes_too else ()
    on_nodes = tuple(node_addresses) if on_nodes_too else ()
    by_node_port = PortSet.of((p.protocol, n, n) for p in ports for n in node_ports if p.node_port == n)
    by_port = PortSet.of((p.protocol, p.port, p.port) for p in ports if p.port)
    reached = reach.to_addresses(on_nodes, by_node_port) | reach.to_addresses(ingress + external, by_port)
    policy = spec.get("externalTrafficPolicy")
    ranges = tuple(r for r in items(spec.get("loadBalancerSourceRanges")) if isinstance(r, str))
    return Exposure(on_nodes, node_ports, ingress, external, policy if isinstance(policy, str) else "Cluster",
                    ranges, tuple(sorted(reached - {mine})))


# -- IA406 -----------------------------------------------------------------------------


def exposed(views: Sequence[ServiceView], rule: Rule) -> Iterator[Hit]:
    """A Service listening outside the pods' view: on node ports, a load balancer or external IPs."""
    for view in views:
        x = view.exposure
        if x is None:
            continue
        where = []
        if x.node_ports or x.node_addresses or view.type == "NodePort":
            nodes = (f"{len(x.node_addresses)} node address(es) ({', '.join(x.node_addresses[:3])}"
                     f"{', ...' if len(x.node_addresses) > 3 else ''})" if x.node_addresses else "every node")
            where.append(f"node port(s) {', '.join(map(str, x.node_ports)) or '(allocated)'} on {nodes}")
        if x.load_balancer_ingress:
            where.append(f"load balancer {', '.join(x.load_balancer_ingress[:3])}")
        if x.external_ips:
            where.append(f"external IP(s) {', '.join(x.external_ips[:3])}")
        tenants = sorted(set(x.reached_by) | set(view.reached_by))
        who = (f"; {len(tenants)} other tenant(s) may connect: {', '.join(tenants[:8])}"
               f"{' ...' if len(tenants) > 8 else ''}" if tenants else "")
        snat = (" With externalTrafficPolicy Cluster, traffic arriving there is source-NATed: the backends' "
                "NetworkPolicies see a node address, not the client" if x.external_traffic_policy == "Cluster"
                else " With externalTrafficPolicy Local the client address is kept, but only nodes running a "
                     "backend answer")
        open_to = "" if x.source_ranges or view.type != "LoadBalancer" else " (no loadBalancerSourceRanges)"
        message = (f"Service {view.resource.name} in {view.resource.namespace} is a {view.type}{open_to}, "
                   f"listening on {' and '.join(where)}{who}.{snat}")
        pointer = "/spec/type" if view.type in EXPOSED_TYPES else "/spec/externalIPs"
        yield Hit(rule.id, view.resource, message, {**x.row(), "type": view.type, "backends": view.backends,
                                                    "reachable_from_pods": list(view.reached_by[:LISTED])},
                  pointer=pointer)
