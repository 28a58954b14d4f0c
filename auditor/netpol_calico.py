"""Calico's network policies (projectcalico.org/v3, and the crd.projectcalico.org/v1 spelling),
read into one form.

Semantics, from Calico's reference (https://docs.tigera.io/calico/latest/reference/resources/networkpolicy,
.../globalnetworkpolicy, .../tier) and its tiered-policy guide
(https://docs.tigera.io/calico/latest/network-policy/policy-tiers/tiered-policy):
- NetworkPolicy selects the pods of its namespace that `selector` (Calico's selector
  language, auditor/calico_selector.py; blank = all()) matches; GlobalNetworkPolicy the pods
  of every namespace its `namespaceSelector` (if any) selects. hostNetwork pods have no
  workload endpoint: no selector matches them (`nets` do). `serviceAccountSelector` and
  `doNotTrack`/`preDNAT`/`applyOnForward` (host endpoint policy) are not evaluated.
- `types`: Ingress, Egress; when absent, Egress alone if there are only egress rules, both
  if there are both, else Ingress.
- `tier` (default "default"): Tier objects order tiers (`spec.order`, smallest first) and
  say what a tier does with what none of its rules matched once one of its policies applies
  to an endpoint (`defaultAction` Deny, or Pass to the next tier). The default tier is at
  order 1,000,000, kube-admin (AdminNetworkPolicy) at 1,000, kube-baseline at 10,000,000;
  Kubernetes NetworkPolicies are order-1000 policies of the default tier.
- Within a tier, policies run by `order` (absent: after every ordered one), then name; rules
  in written order: Allow and Deny decide, Pass goes to the next tier, Log goes on.
- A rule matches by `protocol`/`notProtocol` (TCP, UDP, SCTP or their numbers; others match
  no port), `source` and `destination`: `nets`/`notNets`, `selector`/`notSelector` (in a
  NetworkPolicy, within its namespace unless `namespaceSelector` says otherwise),
  `namespaceSelector`, `ports`/`notPorts` (numbers, "first:last" ranges, named ports). For
  ingress the source is the peer and the destination the selected pod; for egress the other
  way round. Destination ports are the ports; source ports are not evaluated (they match).
  `serviceAccounts`, `services`, `http` and `icmp` are not evaluated (the first two match
  nothing here, `http` keeps its L4 part).

A policy Calico would refuse (a selector that does not parse, a port that is no port, a
spec that is not a mapping) is skipped with an issue naming it; nothing here raises.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .calico_selector import And, CalicoSelector, CalicoSelectorError, Compare, Has, InSet, Node, Not, Op, Or, parse
from .netpol_admin import PortSpec

GROUPS = ("projectcalico.org/", "crd.projectcalico.org/")
KINDS = ("NetworkPolicy", "GlobalNetworkPolicy", "Tier")
POLICY_KINDS = {"NetworkPolicy": "CalicoNetworkPolicy", "GlobalNetworkPolicy": "GlobalNetworkPolicy"}
ACTIONS = ("Allow", "Deny", "Pass", "Log")
PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP", "6": "TCP", "17": "UDP", "132": "SCTP"}
OTHER_PROTOCOLS = ("ICMP", "ICMPV6", "UDPLITE")
DEFAULT_TIER = "default"
MAX_PORT = 65535
IpBlock = tuple[str, tuple[str, ...]]
Note = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class EntityMatch:
    """A rule's `source` or `destination`: each field present narrows it."""

    selector: CalicoSelector | None = None
    not_selector: CalicoSelector | None = None
    namespace_selector: CalicoSelector | None = None
    namespace: str | None = None  # a NetworkPolicy's selectors stay in its namespace
    nets: tuple[str, ...] | None = None
    not_nets: tuple[str, ...] = ()
    nothing: bool = False  # serviceAccounts or services: not evaluated, so it matches nothing

    @property
    def pods_only(self) -> bool:
        """Selectors match workload endpoints only, never an address outside them."""
        return self.selector is not None or self.not_selector is not None or self.namespace_selector is not None

    @property
    def anything(self) -> bool:
        return not self.pods_only and self.nets is None and not self.not_nets and not self.nothing

    def blocks(self) -> tuple[IpBlock, ...]:
        """The addresses it matches, as blocks with excepts."""
        nets = self.nets if self.nets is not None else ("0.0.0.0/0", "::/0")
        return tuple((net, tuple(sorted(self.not_nets))) for net in nets)


@dataclass(frozen=True, slots=True)
class CalicoRule:
    action: str  # Allow | Deny | Pass
    direction: str
    index: int
    peer: EntityMatch
    own: EntityMatch  # what the selected pod itself must be (destination on ingress, source on egress)
    ports: tuple[PortSpec, ...]  # empty: every port
    not_ports: tuple[PortSpec, ...]


@dataclass(frozen=True, slots=True)
class CalicoPolicy:
    kind: str  # CalicoNetworkPolicy | GlobalNetworkPolicy
    name: str
    namespace: str | None
    tier: str
    order: float
    selector: CalicoSelector
    namespace_selector: CalicoSelector | None
    types: tuple[str, ...]
    rules: tuple[CalicoRule, ...]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name if self.namespace is None else f'{self.namespace}/{self.name}'}"


@dataclass(frozen=True, slots=True)
class CalicoTier:
    name: str
    order: float
    default_action: str  # Deny | Pass


@dataclass
class CalicoRead:
    policies: list[CalicoPolicy] = field(default_factory=list)
    tiers: dict[str, CalicoTier] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def is_calico(obj: Mapping[str, Any]) -> bool:
    api = obj.get("apiVersion")
    return obj.get("kind") in KINDS and isinstance(api, str) and api.startswith(GROUPS)


def read(objects: list[Mapping[str, Any]]) -> CalicoRead:
    found = CalicoRead()
    for obj in objects:
        if not is_calico(obj):
            continue
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
        kind = obj["kind"]
        if not isinstance(name, str) or (kind == "NetworkPolicy" and not isinstance(namespace, str)):
            found.notes.append(f"Calico {kind}: metadata has no name or namespace: skipped")
            continue
        spec = obj.get("spec") if obj.get("spec") is not None else {}
        if kind == "Tier":
            _tier(found, name, spec)
            continue
        label = f"{POLICY_KINDS[kind]} {name if kind != 'NetworkPolicy' else f'{namespace}/{name}'}"

        def note(text: str, label: str = label) -> None:
            found.notes.append(f"{label}: {text}")
        try:
            policy = _policy(POLICY_KINDS[kind], name, namespace if kind == "NetworkPolicy" else None, spec, note)
        except _Refused as refused:
            note(f"{refused}: skipped")
            continue
        if policy is not None:
            found.policies.append(policy)
    return found


class _Refused(ValueError):
    """What Calico's validation refuses; the message names the field, never a value."""


def _tier(found: CalicoRead, name: str, spec: Any) -> None:
    order, action = (spec.get("order"), spec.get("defaultAction")) if isinstance(spec, Mapping) else (None, None)
    if (order is not None and not _number(order)) or action not in (None, "Deny", "Pass"):
        found.notes.append(f"Calico Tier {name}: order or defaultAction malformed: skipped")
        return
    found.tiers[name] = CalicoTier(name, math.inf if order is None else float(order), action or "Deny")


def _policy(kind: str, name: str, namespace: str | None, spec: Any, note: Note) -> CalicoPolicy | None:
    if not isinstance(spec, Mapping):
        raise _Refused("spec is not a mapping")
    for host_only in ("doNotTrack", "preDNAT", "applyOnForward"):
        if spec.get(host_only) is True:
            note(f"spec.{host_only} (host endpoint policy) is not evaluated")
            return None
    if spec.get("serviceAccountSelector"):
        note("spec.serviceAccountSelector is not evaluated (the policy selects no pod here)")
        return None
    tier = spec.get("tier") or DEFAULT_TIER
    order = spec.get("order")
    if not isinstance(tier, str) or (order is not None and not _number(order)):
        raise _Refused("spec.tier or spec.order malformed")
    selector = _selector(spec.get("selector"), "spec.selector") or parse("")
    namespace_selector = _selector(spec.get("namespaceSelector"), "spec.namespaceSelector") \
        if namespace is None else None
    ingress, egress = _list(spec.get("ingress"), "spec.ingress"), _list(spec.get("egress"), "spec.egress")
    types = spec.get("types")
    if types is None:
        types = (["Ingress"] if ingress or not egress else []) + (["Egress"] if egress else [])
    if not isinstance(types, list) or not all(t in ("Ingress", "Egress") for t in types):
        raise _Refused("spec.types malformed")
    rules: list[CalicoRule] = []
    for direction, listed in (("ingress", ingress), ("egress", egress)):
        for index, raw in enumerate(listed):
            def at(text: str, where: str = f"spec.{direction}[{index}]") -> None:
                note(where + text)
            rule = _rule(raw, direction, index, namespace, at)
            if rule is not None:
                rules.append(rule)
    return CalicoPolicy(kind, name, namespace, tier, math.inf if order is None else float(order), selector,
                        namespace_selector, tuple(t.lower() for t in types), tuple(rules))


def _rule(raw: Any, direction: str, index: int, namespace: str | None, note: Note) -> CalicoRule | None:
    where = f"spec.{direction}[{index}]"
    if not isinstance(raw, Mapping) or raw.get("action") not in ACTIONS:
        raise _Refused(f"{where} is not a rule with a known action")
    if raw["action"] == "Log":
        return None  # Log records the packet and goes on to the next rule
    if raw.get("http") is not None:
        note(".http is not evaluated (its L4 part is)")
    if raw.get("icmp") is not None or raw.get("notICMP") is not None:
        note(".icmp is not evaluated")
    if raw.get("ipVersion") is not None:
        note(".ipVersion is not evaluated")
    protocols = _protocols(raw.get("protocol"), raw.get("notProtocol"), where)
    # ports need a protocol that has them, named in `protocol`
    ported = protocols if raw.get("protocol") is not None else ()
    source = _entity(raw.get("source"), namespace, f"{where}.source", note)
    destination = _entity(raw.get("destination"), namespace, f"{where}.destination", note)
    if isinstance(raw.get("source"), Mapping) and (raw["source"].get("ports") or raw["source"].get("notPorts")):
        note(".source ports are not evaluated (they match)")
    dest: Mapping[str, Any] = raw["destination"] if isinstance(raw.get("destination"), Mapping) else {}
    ports = _ports(dest.get("ports"), ported, f"{where}.destination.ports")
    not_ports = _ports(dest.get("notPorts"), ported, f"{where}.destination.notPorts")
    if ports is None:  # no destination ports: every port of the protocols
        ports = tuple(PortSpec(p) for p in protocols) if protocols else (PortSpec("none"),)
    peer, own = (source, destination) if direction == "ingress" else (destination, source)
    return CalicoRule(raw["action"], direction, index, peer, own, ports, not_ports or ())


def _protocols(protocol: Any, not_protocol: Any, where: str) -> tuple[str, ...]:
    found = ["TCP", "UDP", "SCTP"]
    for value, keep in ((protocol, True), (not_protocol, False)):
        if value is None:
            continue
        text = str(value).upper() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        if text is None or (text not in PROTOCOLS and text not in OTHER_PROTOCOLS
                            and not (text.isdigit() and 1 <= int(text) <= 255)):
            raise _Refused(f"{where}.protocol or notProtocol malformed")
        named = PROTOCOLS.get(text)
        found = [p for p in found if (p == named) == keep]
    return tuple(found)


def _ports(listed: Any, protocols: tuple[str, ...], where: str) -> tuple[PortSpec, ...] | None:
    if listed is None:
        return None
    if not isinstance(listed, list) or (listed and not protocols):
        raise _Refused(f"{where} malformed (ports need protocol TCP, UDP or SCTP)")
    found: list[PortSpec] = []
    for port in listed:
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port <= MAX_PORT:
            found += [PortSpec(p, port, port) for p in protocols]
        elif isinstance(port, str) and ":" in port:
            first, _, last = port.partition(":")
            if not (first.isdigit() and last.isdigit() and 0 < int(first) <= int(last) <= MAX_PORT):
                raise _Refused(f"{where} has a malformed range")
            found += [PortSpec(p, int(first), int(last)) for p in protocols]
        elif isinstance(port, str) and port.isdigit() and 0 < int(port) <= MAX_PORT:
            found += [PortSpec(p, int(port), int(port)) for p in protocols]
        elif isinstance(port, str) and port and not port.isdigit():
            found += [PortSpec(p, name=port) for p in protocols]
        else:
            raise _Refused(f"{where} has a malformed port")
    return tuple(found)


def _entity(raw: Any, namespace: str | None, where: str, note: Note) -> EntityMatch:
    if raw is None:
        return EntityMatch()
    if not isinstance(raw, Mapping):
        raise _Refused(f"{where} is not a mapping")
    nothing = False
    for unevaluated in ("serviceAccounts", "services"):
        if raw.get(unevaluated) is not None:
            note(f"{where.rpartition('.')[2]}.{unevaluated} is not evaluated (it matches nothing here)")
            nothing = True
    selector = _selector(raw.get("selector"), f"{where}.selector")
    not_selector = _selector(raw.get("notSelector"), f"{where}.notSelector")
    namespace_selector = _selector(raw.get("namespaceSelector"), f"{where}.namespaceSelector")
    nets = raw.get("nets")
    not_nets = raw.get("notNets") or []
    if (nets is not None and not _strings(nets)) or not _strings(not_nets):
        raise _Refused(f"{where}.nets or notNets malformed")
    scoped = namespace if namespace_selector is None and (selector or not_selector) else None
    return EntityMatch(selector, not_selector, namespace_selector, scoped,
                       tuple(nets) if nets is not None else None, tuple(not_nets), nothing)


def _selector(text: Any, where: str) -> CalicoSelector | None:
    if text is None or text == "":
        return None
    try:
        return parse(text)
    except CalicoSelectorError as error:
        raise _Refused(f"{where}: {error}") from None


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Refused(f"{where} is not a list")
    return value


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


NAMESPACE_KEYS = ("projectcalico.org/namespace", "projectcalico.org/orchestrator")


def namespace_only(*selectors: CalicoSelector | None) -> bool:
    """Whether the selectors read only labels every pod of a namespace shares (pcns.<key>,
    projectcalico.org/namespace), so one look per namespace answers for all its pods."""
    return all(key.startswith("pcns.") or key in NAMESPACE_KEYS
               for s in selectors if s is not None for key in _keys(s.root))


def required_labels(selector: CalicoSelector) -> dict[str, str]:
    """Labels (key == value) anything the selector matches must carry: an index can then
    narrow the candidates before the selector is asked."""
    operands = selector.root.operands if isinstance(selector.root, And) else (selector.root,)
    return {o.key: o.value for o in operands if isinstance(o, Compare) and o.op is Op.EQ}


def _keys(node: Node) -> set[str]:
    if isinstance(node, (Has, Compare, InSet)):
        return {node.key}
    if isinstance(node, Not):
        return _keys(node.operand)
    if isinstance(node, (And, Or)):
        return set().union(*(_keys(o) for o in node.operands))
    return set()  # all(), global()


def calico_labels(namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> dict[str, str]:
    """The labels Calico gives a pod's workload endpoint: its own, its namespace's under
    `pcns.`, and `projectcalico.org/namespace` and `/orchestrator` (a pod's own labels under
    those keys are not its namespace's, and are left out)."""
    found = {str(k): str(v) for k, v in labels.items()
             if not str(k).startswith("pcns.") and str(k) not in NAMESPACE_KEYS}
    found.update({f"pcns.{k}": str(v) for k, v in namespace_labels.items()})
    found["projectcalico.org/namespace"] = namespace
    found["projectcalico.org/orchestrator"] = "k8s"
    return found
