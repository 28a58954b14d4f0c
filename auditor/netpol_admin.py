"""Cluster-wide network policies of sigs.k8s.io/network-policy-api, read into one form.

Three kinds say the same thing in two spellings:
- AdminNetworkPolicy (policy.networking.k8s.io/v1alpha1): the Admin tier, `priority`,
  actions Allow / Deny / Pass, `ports` of portNumber / portRange / namedPort;
- BaselineAdminNetworkPolicy (v1alpha1, a singleton named `default`): the Baseline tier,
  actions Allow / Deny;
- ClusterNetworkPolicy (v1alpha2): `tier: Admin | Baseline`, `priority`, actions
  Accept / Deny / Pass, `protocols` of tcp / udp / sctp destinationPort and
  destinationNamedPort.

`read` turns each into an `AdminPolicy` whose rules are in the order they take effect. The
evaluator (netpol.py) applies the Admin tier, then NetworkPolicy, then the Baseline tier.

What is not evaluated: `domainNames` peers (they name hosts by DNS, which an audit cannot
resolve; they match no pod or address here). A peer with no field this reader knows fails
closed, as the API asks: an Allow rule matches nothing, a Deny or Pass rule denies all.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "policy.networking.k8s.io"
KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy")
ADMIN, BASELINE = "Admin", "Baseline"
ACTIONS = {"Allow": "Allow", "Accept": "Allow", "Deny": "Deny", "Pass": "Pass"}
PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One port a rule names. A named port (`name`) matches the destination's container
    port of that name, whatever its protocol; `protocol=None` with no name is every port."""

    protocol: str | None
    first: int = 1
    last: int = MAX_PORT
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AdminPeer:
    """Exactly one of: namespaces (a selector), pods (namespace AND pod selectors),
    networks (CIDRs), nodes (a selector over Node labels); `deny_all` for a peer this
    reader cannot understand (fail closed); `unevaluated` for domainNames."""

    namespaces: Any = None
    pods: tuple[Any, Any] | None = None
    networks: tuple[str, ...] = ()
    nodes: Any = None
    deny_all: bool = False
    unevaluated: str | None = None


@dataclass(frozen=True, slots=True)
class AdminRule:
    action: str  # Allow | Deny | Pass
    peers: tuple[AdminPeer, ...]
    ports: tuple[PortSpec, ...]  # empty: every port
    index: int  # position in the policy's ingress or egress list
    name: str


@dataclass(frozen=True, slots=True)
class AdminPolicy:
    kind: str
    name: str
    tier: str  # Admin | Baseline
    priority: int
    subject: tuple[Any, Any] | None  # (namespace selector, pod selector or None); None selects nothing
    ingress: tuple[AdminRule, ...]
    egress: tuple[AdminRule, ...]

    @property
    def order(self) -> tuple[int, str, str]:
        """Precedence within the tier. Equal priorities have no defined order in the API;
        the evaluator (and its reference) break ties by kind, then name."""
        return (self.priority, self.kind, self.name)


def is_admin_policy(obj: Mapping[str, Any]) -> bool:
    api = obj.get("apiVersion")
    return obj.get("kind") in KINDS and isinstance(api, str) and api.startswith(GROUP + "/")


def read(obj: Mapping[str, Any]) -> AdminPolicy | None:
    """The policy, or None when it is not one of the kinds or too malformed to apply."""
    if not is_admin_policy(obj):
        return None
    meta = obj.get("metadata")
    spec = obj.get("spec")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(spec, Mapping) or not isinstance(name, str):
        return None
    kind = obj["kind"]
    if kind == "ClusterNetworkPolicy":
        tier = spec.get("tier")
        if tier not in (ADMIN, BASELINE):
            return None
    else:
        tier = ADMIN if kind == "AdminNetworkPolicy" else BASELINE
    priority = spec.get("priority", 0) if kind != "BaselineAdminNetworkPolicy" else 0
    if not isinstance(priority, int) or isinstance(priority, bool):
        return None
    v2 = kind == "ClusterNetworkPolicy"
    return AdminPolicy(
        kind, name, tier, priority, _subject(spec.get("subject")),
        tuple(_rules(spec.get("ingress"), "from", v2, tier)),
        tuple(_rules(spec.get("egress"), "to", v2, tier)),
    )


def _subject(subject: Any) -> tuple[Any, Any] | None:
    if not isinstance(subject, Mapping):
        return None
    if isinstance(subject.get("namespaces"), Mapping):
        return (subject["namespaces"], None)
    pods = subject.get("pods")
    if isinstance(pods, Mapping):
        return _namespaced_pod(pods)
    return None


def _namespaced_pod(pods: Mapping[str, Any]) -> tuple[Any, Any] | None:
    ns, pod = pods.get("namespaceSelector") or {}, pods.get("podSelector") or {}
    if not isinstance(ns, Mapping) or not isinstance(pod, Mapping):
        return None
    return (ns, pod)


def _rules(rules: Any, peers_key: str, v2: bool, tier: str) -> Iterator[AdminRule]:
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, Mapping):
            continue
        action = ACTIONS.get(rule["action"]) if isinstance(rule.get("action"), str) else None
        if action is None or (action == "Pass" and tier == BASELINE and not v2):
            continue  # the API server refuses it
        listed, name = rule.get(peers_key), rule.get("name")
        peers = tuple(_peer(p) for p in (listed if isinstance(listed, list) else []))
        ports = tuple(_protocols(rule.get("protocols")) if v2 else _ports(rule.get("ports")))
        yield AdminRule(action, peers, ports, index, name if isinstance(name, str) else "")


def _peer(peer: Any) -> AdminPeer:
    if not isinstance(peer, Mapping):
        return AdminPeer(deny_all=True)
    if isinstance(peer.get("namespaces"), Mapping):
        return AdminPeer(namespaces=peer["namespaces"])
    if isinstance(peer.get("pods"), Mapping):
        pods = _namespaced_pod(peer["pods"])
        return AdminPeer(pods=pods) if pods else AdminPeer(deny_all=True)
    if isinstance(peer.get("networks"), list):
        return AdminPeer(networks=tuple(n for n in peer["networks"] if isinstance(n, str)))
    if isinstance(peer.get("nodes"), Mapping):
        return AdminPeer(nodes=peer["nodes"])
    if isinstance(peer.get("domainNames"), list):
        return AdminPeer(unevaluated="domainNames")
    return AdminPeer(deny_all=True)


def _ports(ports: Any) -> Iterator[PortSpec]:
    """v1alpha1 `ports`: portNumber {protocol, port}, portRange {protocol, start, end}, namedPort."""
    for port in ports if isinstance(ports, list) else []:
        if not isinstance(port, Mapping):
            continue
        number, span, named = port.get("portNumber"), port.get("portRange"), port.get("namedPort")
        if isinstance(number, Mapping) and _is_int(number.get("port")):
            yield PortSpec(_protocol(number.get("protocol")), number["port"], number["port"])
        elif isinstance(span, Mapping) and _is_int(span.get("start")) and _is_int(span.get("end")):
            yield PortSpec(_protocol(span.get("protocol")), span["start"], span["end"])
        elif isinstance(named, str):
            yield PortSpec(None, name=named)


def _protocols(protocols: Any) -> Iterator[PortSpec]:
    """v1alpha2 `protocols`: {tcp|udp|sctp: {destinationPort: {number} | {range}}} or destinationNamedPort."""
    for entry in protocols if isinstance(protocols, list) else []:
        if not isinstance(entry, Mapping):
            continue
        if isinstance(entry.get("destinationNamedPort"), str):
            yield PortSpec(None, name=entry["destinationNamedPort"])
            continue
        for key, protocol in PROTOCOLS.items():
            match = entry.get(key)
            if not isinstance(match, Mapping):
                continue
            port = match.get("destinationPort")
            if port is None:
                yield PortSpec(protocol)
            elif isinstance(port, Mapping) and _is_int(port.get("number")):
                yield PortSpec(protocol, port["number"], port["number"])
            elif isinstance(port, Mapping) and isinstance(port.get("range"), Mapping):
                span = port["range"]
                if _is_int(span.get("start")) and _is_int(span.get("end")):
                    yield PortSpec(protocol, span["start"], span["end"])


def _protocol(value: Any) -> str | None:
    """The protocol of a v1alpha1 port; TCP by default, None (matches nothing) when malformed."""
    if value is None:
        return "TCP"
    return value if value in ("TCP", "UDP", "SCTP") else "none"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
