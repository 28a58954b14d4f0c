"""A brute-force reference evaluator for Kubernetes NetworkPolicy, one pod pair at a time.

Written for obviousness, not speed: every question is answered by walking every policy.
It follows https://kubernetes.io/docs/concepts/services-networking/network-policies/ and is
checked against the upstream e2e truth tables in fixtures/netpol-conformance/ (see
tests/netpol_conformance.py and tests/unit/test_netpol_reference.py).

The rules, in the order the code applies them:

 1. A pod cannot block access to itself (docs: "exception: a pod cannot block access to
    itself"), so src == dst is always allowed. Upstream e2e never asserts these cells
    (ignoreLoopback, kubernetes#95879: CNIs disagree on hairpin traffic through a Service),
    although the tables it builds treat self traffic like any other pod's, i.e. subject to
    policy; `allowed(..., loopback_always_allowed=False)` evaluates it that way.
 2. A connection is allowed iff the source's egress allows it AND the destination's ingress
    allows it.
 3. A pod is isolated for a direction iff some policy in its namespace selects it (by
    spec.podSelector; an empty selector selects every pod) and has that direction in its
    policyTypes. policyTypes, when absent or empty, is [Ingress] plus Egress if spec.egress
    has at least one rule. A pod that is not isolated for a direction allows everything.
 4. An isolated pod allows what at least one rule of at least one policy that isolates it
    allows (policies and rules are additive). A rule allows a connection when one of its
    peers matches the other pod (an empty or missing `from`/`to` matches every peer) and one
    of its ports matches (an empty or missing `ports` matches every port and protocol).
 5. Peers: podSelector alone = matching pods in the POLICY's namespace; namespaceSelector
    alone = every pod in a matching namespace; both in one peer = matching pods in matching
    namespaces (AND); ipBlock = the other pod's IP is inside `cidr` and inside none of
    `except`.
 6. Ports: protocol defaults to TCP and must equal the connection's protocol; a missing
    `port` matches every port of that protocol; a number matches that port, or the range
    port..endPort; a name matches when the DESTINATION pod has a container port of that
    name, protocol and number (for ingress and egress rules alike).
 7. hostNetwork pods are not subject to policy: they are never isolated. As peers they are
    treated like their node's IP (the "most common implementation" in the docs): pod and
    namespace selectors never match them, ipBlocks match their IP.

Label selectors: matchLabels AND every matchExpressions requirement (In, NotIn, Exists,
DoesNotExist; NotIn and DoesNotExist match a pod that lacks the key).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from netpol_conformance import Namespace, Pod

Policy = Mapping[str, Any]


# ------------------------------------------------------------------------ label selectors

def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector. An empty selector ({}) matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key = requirement["key"]
        operator = requirement["operator"]
        values = requirement.get("values") or []
        if operator == "In":
            if key not in labels or labels[key] not in values:
                return False
        elif operator == "NotIn":
            if key in labels and labels[key] in values:
                return False
        elif operator == "Exists":
            if key not in labels:
                return False
        elif operator == "DoesNotExist":
            if key in labels:
                return False
        else:
            raise ValueError(f"unknown label selector operator {operator!r}")
    return True


# ------------------------------------------------------------------------------- policies

def policy_namespace(policy: Policy) -> str:
    return policy["metadata"]["namespace"]


def policy_types(policy: Policy) -> list[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    types = ["Ingress"]
    if spec.get("egress"):
        types.append("Egress")
    return types


def policy_selects(policy: Policy, pod: Pod) -> bool:
    if pod.namespace != policy_namespace(policy):
        return False
    return selector_matches((policy.get("spec") or {}).get("podSelector"), pod.labels)


def policies_isolating(pod: Pod, direction: str, policies: Iterable[Policy]) -> list[Policy]:
    """The policies that select `pod` and apply to `direction` ("Ingress" or "Egress")."""
    if pod.host_network:
        return []
    return [p for p in policies if policy_selects(p, pod) and direction in policy_types(p)]


# ---------------------------------------------------------------------------------- peers

def ip_in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    cidr = ipaddress.ip_network(block["cidr"], strict=False)
    if address.version != cidr.version or address not in cidr:
        return False
    for excluded in block.get("except") or []:
        network = ipaddress.ip_network(excluded, strict=False)
        if address.version == network.version and address in network:
            return False
    return True


def peer_matches(peer: Mapping[str, Any], policy: Policy, other: Pod,
                 namespaces: Mapping[str, Namespace]) -> bool:
    """Does this from/to entry of `policy` describe the pod at the other end?"""
    if "ipBlock" in peer:
        return ip_in_block(other.ip, peer["ipBlock"])
    pod_selector = peer.get("podSelector")
    namespace_selector = peer.get("namespaceSelector")
    if pod_selector is None and namespace_selector is None:
        raise ValueError(f"peer {peer!r} has no podSelector, namespaceSelector or ipBlock")
    if other.host_network:
        return False
    if namespace_selector is None:
        namespace_ok = other.namespace == policy_namespace(policy)
    else:
        namespace_ok = selector_matches(namespace_selector, namespaces[other.namespace].labels)
    pod_ok = pod_selector is None or selector_matches(pod_selector, other.labels)
    return namespace_ok and pod_ok


# ---------------------------------------------------------------------------------- ports

def port_matches(rule_port: Mapping[str, Any], protocol: str, port: int, dst: Pod) -> bool:
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    wanted = rule_port.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str) and not wanted.isdigit():
        # a named port, resolved against the destination pod's containers
        return any(name == wanted and proto == protocol and number == port
                   for name, number, proto in dst.ports)
    wanted = int(wanted)
    end = rule_port.get("endPort")
    if end is None:
        return port == wanted
    return wanted <= port <= int(end)


def ports_match(rule: Mapping[str, Any], protocol: str, port: int, dst: Pod) -> bool:
    rule_ports = rule.get("ports") or []
    if not rule_ports:
        return True
    return any(port_matches(p, protocol, port, dst) for p in rule_ports)


def peers_match(peers: list | None, policy: Policy, other: Pod, namespaces: Mapping[str, Namespace]) -> bool:
    if not peers:
        return True
    return any(peer_matches(peer, policy, other, namespaces) for peer in peers)


# ------------------------------------------------------------------------------ decisions

def ingress_allows(src: Pod, dst: Pod, protocol: str, port: int,
                   namespaces: Mapping[str, Namespace], policies: Iterable[Policy]) -> bool:
    isolating = policies_isolating(dst, "Ingress", policies)
    if not isolating:
        return True
    for policy in isolating:
        for rule in (policy.get("spec") or {}).get("ingress") or []:
            if peers_match(rule.get("from"), policy, src, namespaces) and ports_match(rule, protocol, port, dst):
                return True
    return False


def egress_allows(src: Pod, dst: Pod, protocol: str, port: int,
                  namespaces: Mapping[str, Namespace], policies: Iterable[Policy]) -> bool:
    isolating = policies_isolating(src, "Egress", policies)
    if not isolating:
        return True
    for policy in isolating:
        for rule in (policy.get("spec") or {}).get("egress") or []:
            if peers_match(rule.get("to"), policy, dst, namespaces) and ports_match(rule, protocol, port, dst):
                return True
    return False


def resolve_port(dst: Pod, protocol: str, port: int | str) -> int | None:
    """The number a probe of `port` reaches on `dst`; a name is looked up in dst's containers."""
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for name, number, proto in dst.ports:
        if name == port and proto == protocol:
            return number
    return None


def _as_mapping(namespaces: Mapping[str, Namespace] | Iterable[Namespace]) -> Mapping[str, Namespace]:
    if isinstance(namespaces, Mapping):
        return namespaces
    return {ns.name: ns for ns in namespaces}


def allowed(src: Pod, dst: Pod, protocol: str, port: int | str,
            namespaces: Mapping[str, Namespace] | Iterable[Namespace],
            policies: Iterable[Policy], *, loopback_always_allowed: bool = True) -> bool:
    """May `src` open a `protocol` connection to `port` (a number or a named port) of `dst`?"""
    namespaces = _as_mapping(namespaces)
    policies = list(policies)
    if loopback_always_allowed and (src.namespace, src.name) == (dst.namespace, dst.name):
        return True
    number = resolve_port(dst, protocol, port)
    if number is None:
        return False  # dst has no such named port: there is nothing to connect to
    return (egress_allows(src, dst, protocol, number, namespaces, policies)
            and ingress_allows(src, dst, protocol, number, namespaces, policies))
