"""NetworkPolicy semantics, evaluated on equivalence classes of pods.

Pods that share a namespace, labels, container ports, hostNetwork and the set of ipBlocks
their address falls in are indistinguishable to every policy, so reachability is computed
once per class: a Deployment's hundred replicas cost what one pod costs. Which classes a
policy peer matches is kept as an integer bitmask, so "who may reach this class" is a few
big-integer operations rather than a loop over pods.

Semantics follow https://kubernetes.io/docs/concepts/services-networking/network-policies/
and are checked against the upstream e2e truth tables (fixtures/netpol-conformance/):
- a policy selects pods of its own namespace; `policyTypes` defaults to Ingress, plus Egress
  when it has a non-empty egress list; a pod is isolated in a direction once any such policy selects it;
- traffic is allowed when the source's egress AND the destination's ingress allow it;
- a peer with podSelector only means that namespace; namespaceSelector only, every pod of
  the matching namespaces; both, the AND; ipBlock, addresses in `cidr` minus `except`;
  missing or empty `from`/`to`, every peer;
- ports: a number, a named port (resolved on the destination pod), `endPort` ranges; the
  protocol defaults to TCP; missing or empty `ports`, every port;
- hostNetwork pods are never isolated, and selectors never match them (ipBlocks do).
"""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .selectors import selects

PROTOCOLS = ("TCP", "UDP", "SCTP")
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class PortSet:
    """Allowed (protocol, first, last) port ranges, sorted and merged."""

    ranges: tuple[tuple[str, int, int], ...] = ()

    @staticmethod
    def of(ranges: Iterable[tuple[str, int, int]]) -> PortSet:
        merged: list[tuple[str, int, int]] = []
        for proto, lo, hi in sorted(r for r in ranges if r[1] <= r[2]):
            if merged and merged[-1][0] == proto and lo <= merged[-1][2] + 1:
                last = merged.pop()
                merged.append((proto, last[1], max(last[2], hi)))
            else:
                merged.append((proto, lo, hi))
        return PortSet(tuple(merged))

    def __or__(self, other: PortSet) -> PortSet:
        return PortSet.of(self.ranges + other.ranges)

    def __and__(self, other: PortSet) -> PortSet:
        return PortSet.of(
            (p, max(lo, olo), min(hi, ohi))
            for p, lo, hi in self.ranges
            for q, olo, ohi in other.ranges
            if p == q and max(lo, olo) <= min(hi, ohi)
        )

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def allows(self, protocol: str, port: int) -> bool:
        return any(p == protocol and lo <= port <= hi for p, lo, hi in self.ranges)

    def describe(self) -> list[str]:
        if self == ALL_PORTS:
            return ["all"]
        return [f"{p}/{lo}" if lo == hi else f"{p}/{lo}-{hi}" for p, lo, hi in self.ranges]


ALL_PORTS = PortSet.of((p, 1, MAX_PORT) for p in PROTOCOLS)
NO_PORTS = PortSet()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A pod, or a pod template standing for the pods a workload will run."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, int, str], ...] = ()  # (name, containerPort, protocol)
    ip: str | None = None
    host_network: bool = False


@dataclass(frozen=True, slots=True)
class PodClass:
    id: int
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, int, str], ...]
    host_network: bool
    ip_signature: tuple[bool, ...]  # membership in each ipBlock of the policies
    members: tuple[str, ...]  # endpoint names


# An ipBlock as a comparable key: (cidr, its sorted excepts).
IpBlock = tuple[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Rule:
    peers: int  # bitmask of the classes at the other end
    ports: tuple[Mapping[str, Any], ...]  # as written; empty = every port
    policy: str  # namespace/name, for evidence
    blocks: tuple[IpBlock, ...] = ()  # the rule's ipBlocks (cidr, excepts), for addresses outside the cluster
    any_peer: bool = False  # no from/to: every address, inside the cluster or not


class Evaluator:
    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        namespace_labels: Mapping[str, Mapping[str, str]],
        policies: Iterable[Mapping[str, Any]],
    ) -> None:
        self._namespace_labels = namespace_labels
        policies = [p for p in policies if isinstance(p, Mapping)]
        self._blocks = _ip_blocks(policies)
        self.classes: list[PodClass] = []
        self._class_of: dict[tuple[Any, ...], int] = {}
        self._by_namespace: dict[str, list[int]] = {}
        members: dict[int, list[str]] = {}
        for ep in endpoints:
            signature = self._ip_signature(ep.ip)
            key = (ep.namespace, _labels_key(ep.labels), ep.ports, ep.host_network, signature)
            cid = self._class_of.get(key)
            if cid is None:
                cid = self._class_of[key] = len(self.classes)
                self.classes.append(
                    PodClass(cid, ep.namespace, dict(ep.labels), ep.ports, ep.host_network, signature, ())
                )
                self._by_namespace.setdefault(ep.namespace, []).append(cid)
                members[cid] = []
            members[cid].append(ep.name)
        self.classes = [
            PodClass(c.id, c.namespace, c.labels, c.ports, c.host_network, c.ip_signature, tuple(members[c.id]))
            for c in self.classes
        ]
        self._all = (1 << len(self.classes)) - 1
        self._ip_masks = [
            sum(1 << c.id for c in self.classes if c.ip_signature and c.ip_signature[k])
            for k in range(len(self._blocks))
        ]
        self.ingress: list[list[Rule] | None] = [None] * len(self.classes)  # None: not isolated
        self.egress: list[list[Rule] | None] = [None] * len(self.classes)
        self._pod_cache: dict[tuple[str, int], bool] = {}
        self._namespace_cache: dict[str, list[str]] = {}
        self._namespace_index: dict[tuple[str, str], set[str]] = {}
        self._namespace_keys: dict[str, set[str]] = {}
        for ns in self._by_namespace:
            for k, v in self._namespace_labels.get(ns, {}).items():
                self._namespace_index.setdefault((k, v), set()).add(ns)
                self._namespace_keys.setdefault(k, set()).add(ns)
        for policy in policies:
            self._add_policy(policy)
        self._resolved: dict[tuple[int, int], PortSet] = {}

    # -- classes -----------------------------------------------------------------------

    def class_of(self, ep: Endpoint) -> PodClass:
        key = (ep.namespace, _labels_key(ep.labels), ep.ports, ep.host_network, self._ip_signature(ep.ip))
        return self.classes[self._class_of[key]]

    def _ip_signature(self, ip: str | None) -> tuple[bool, ...]:
        if ip is None or not self._blocks:
            return ()
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return ()
        return tuple(in_block(address, block) for block in self._blocks)

    # -- policies ----------------------------------------------------------------------

    def _add_policy(self, policy: Mapping[str, Any]) -> None:
        meta = policy.get("metadata") or {}
        spec = policy.get("spec")
        namespace = meta.get("namespace")
        if not isinstance(spec, Mapping) or not isinstance(namespace, str):
            return
        name = f"{namespace}/{meta.get('name')}"
        types = spec.get("policyTypes")
        if not isinstance(types, list) or not types:  # the API server's defaulting
            types = ["Ingress", "Egress"] if _list(spec.get("egress")) else ["Ingress"]
        pod_selector = _Selector(spec.get("podSelector"))
        selected = [
            cid
            for cid in self._by_namespace.get(namespace, ())
            if not self.classes[cid].host_network and self._selects_class(pod_selector, cid)
        ]
        for direction, table, rules_key, peers_key in (
            ("Ingress", self.ingress, "ingress", "from"),
            ("Egress", self.egress, "egress", "to"),
        ):
            if direction not in types:
                continue
            rules = [self._rule(rule, peers_key, namespace, name) for rule in _list(spec.get(rules_key))]
            for cid in selected:
                table[cid] = (table[cid] or []) + [r for r in rules if r is not None]

    def _rule(self, rule: Any, peers_key: str, namespace: str, policy: str) -> Rule | None:
        if not isinstance(rule, Mapping):
            return None
        peers = _list(rule.get(peers_key))
        mask = self._all if not peers else 0
        for peer in peers:
            mask |= self._peer_mask(peer, namespace)
        ports = tuple(p for p in _list(rule.get("ports")) if isinstance(p, Mapping))
        blocks = tuple(b for b in (_block_key(p.get("ipBlock")) for p in peers if isinstance(p, Mapping)) if b)
        return Rule(mask, ports, policy, blocks, not peers)

    def _peer_mask(self, peer: Any, namespace: str) -> int:
        if not isinstance(peer, Mapping):
            return 0
        if "ipBlock" in peer:
            block = _block_key(peer["ipBlock"])
            return self._ip_masks[self._blocks.index(block)] if block is not None else 0
        if peer.get("podSelector") is None and peer.get("namespaceSelector") is None:
            return 0
        pod_selector = _Selector(peer.get("podSelector")) if peer.get("podSelector") is not None else None
        if peer.get("namespaceSelector") is None:
            namespaces = [namespace]
        else:
            namespaces = self._namespaces(_Selector(peer.get("namespaceSelector")))
        mask = 0
        for ns in namespaces:
            for cid in self._by_namespace.get(ns, ()):
                if not self.classes[cid].host_network and (
                    pod_selector is None or self._selects_class(pod_selector, cid)
                ):
                    mask |= 1 << cid
        return mask

    # Thousands of classes and namespaces meet the same few selectors: results are memoised
    # by the selector's canonical form.
    def _selects_class(self, selector: _Selector, cid: int) -> bool:
        key = (selector.key, cid)
        hit = self._pod_cache.get(key)
        if hit is None:
            hit = self._pod_cache[key] = selector.matches(self.classes[cid].labels)
        return hit

    def _namespaces(self, selector: _Selector) -> list[str]:
        found = self._namespace_cache.get(selector.key)
        if found is None:
            candidates = self._namespace_candidates(selector.raw)
            found = self._namespace_cache[selector.key] = [
                ns for ns in self._by_namespace
                if (candidates is None or ns in candidates) and selector.matches(self._namespace_labels.get(ns, {}))
            ] if candidates is None else sorted(
                ns for ns in candidates if selector.matches(self._namespace_labels.get(ns, {}))
            )
        return found

    def _namespace_candidates(self, raw: Any) -> set[str] | None:
        """Namespaces that can match, from a label index; None when the selector names no
        required label (then every namespace is a candidate). Keeps a per-tenant selector
        from costing a scan of every namespace."""
        if not isinstance(raw, dict):
            return None
        sets: list[set[str]] = []
        labels = raw.get("matchLabels")
        if isinstance(labels, dict):
            sets += [self._namespace_index.get((str(k), str(v)), set()) for k, v in labels.items()]
        for expr in _list(raw.get("matchExpressions")):
            if not isinstance(expr, dict) or not isinstance(expr.get("key"), str):
                continue
            if expr.get("operator") == "In" and isinstance(expr.get("values"), list):
                sets.append(
                    set().union(*(self._namespace_index.get((expr["key"], str(v)), set()) for v in expr["values"]))
                )
            elif expr.get("operator") == "Exists":
                sets.append(self._namespace_keys.get(expr["key"], set()))
        if not sets:
            return None
        return set.intersection(*sets)

    # -- decisions ---------------------------------------------------------------------

    def ports(self, src: PodClass, dst: PodClass) -> PortSet:
        """What a pod of `src` may open on another pod of `dst` (pod-to-itself is always allowed)."""
        ingress = self._side(self.ingress[dst.id], src.id, dst)
        if not ingress:
            return NO_PORTS
        return ingress & self._side(self.egress[src.id], dst.id, dst)

    def sources(self, dst: PodClass) -> int:
        """Bitmask of classes whose pods the destination's ingress admits on some port."""
        rules = self.ingress[dst.id]
        if rules is None:
            return self._all
        mask = 0
        for rule in rules:
            if self._rule_ports(rule, dst):
                mask |= rule.peers
        return mask

    def targets(self, src: PodClass) -> int:
        """Bitmask of classes the source's egress rules name (all classes when unrestricted)."""
        rules = self.egress[src.id]
        if rules is None:
            return self._all
        mask = 0
        for rule in rules:
            mask |= rule.peers
        return mask

    def open_ingress(self, dst: PodClass) -> bool:
        return self.ingress[dst.id] is None

    def open_egress(self, src: PodClass) -> bool:
        return self.egress[src.id] is None

    def _side(self, rules: list[Rule] | None, other: int, dst: PodClass) -> PortSet:
        if rules is None:
            return ALL_PORTS
        allowed = NO_PORTS
        bit = 1 << other
        for rule in rules:
            if rule.peers & bit:
                allowed = allowed | self._rule_ports(rule, dst)
                if allowed == ALL_PORTS:
                    break
        return allowed

    def _rule_ports(self, rule: Rule, dst: PodClass) -> PortSet:
        if not rule.ports:
            return ALL_PORTS
        key = (id(rule.ports), dst.id)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = PortSet.of(r for p in rule.ports for r in _port_ranges(p, dst))
        return found

    def members(self, mask: int) -> Iterator[PodClass]:
        while mask:
            low = mask & -mask
            yield self.classes[low.bit_length() - 1]
            mask ^= low


class _Selector:
    __slots__ = ("raw", "key")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.key = json.dumps(raw, sort_keys=True, default=str)

    def matches(self, labels: Mapping[str, str]) -> bool:
        # a malformed selector selects nothing (the API server would have refused it)
        return (self.raw is None or isinstance(self.raw, dict)) and selects(self.raw, labels)


def _port_ranges(port: Mapping[str, Any], dst: PodClass) -> Iterator[tuple[str, int, int]]:
    protocol = port.get("protocol") or "TCP"
    if not isinstance(protocol, str):
        return  # the API server refuses it; a malformed port admits nothing
    wanted = port.get("port")
    if wanted is None:
        yield protocol, 1, MAX_PORT
    elif isinstance(wanted, str) and not wanted.isdigit():
        for name, number, proto in dst.ports:  # a named port means the destination's
            if name == wanted and proto == protocol:
                yield protocol, number, number
    else:
        try:
            first = int(wanted)
            end = port.get("endPort")
            yield protocol, first, int(end) if end is not None else first
        except (TypeError, ValueError):
            return


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _block_key(block: Any) -> IpBlock | None:
    if not isinstance(block, Mapping) or not isinstance(block.get("cidr"), str):
        return None
    excepts = tuple(sorted(e for e in _list(block.get("except")) if isinstance(e, str)))
    return (block["cidr"], excepts)


def _ip_blocks(policies: Sequence[Mapping[str, Any]]) -> list[IpBlock]:
    blocks: list[IpBlock] = []
    for policy in policies:
        spec = policy.get("spec")
        if not isinstance(spec, Mapping):
            continue
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in _list(spec.get(direction)):
                for peer in _list(rule.get(key) if isinstance(rule, Mapping) else None):
                    block = _block_key(peer.get("ipBlock")) if isinstance(peer, Mapping) else None
                    if block is not None and block not in blocks:
                        blocks.append(block)
    return blocks


def in_block(address: ipaddress._BaseAddress, block: IpBlock) -> bool:
    cidr, excepts = block
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    if address.version != network.version or address not in network:
        return False
    for excluded in excepts:
        try:
            ex = ipaddress.ip_network(excluded, strict=False)
        except ValueError:
            continue
        if address.version == ex.version and address in ex:
            return False
    return True
