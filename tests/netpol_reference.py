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

Cluster-wide policies (sigs.k8s.io/network-policy-api: AdminNetworkPolicy and
BaselineAdminNetworkPolicy v1alpha1, ClusterNetworkPolicy v1alpha2 with tier Admin or
Baseline) wrap rule 3-4, per direction (the API types' docs):

 8. Admin tier: the policies whose subject selects the pod (never a hostNetwork pod), by
    ascending priority (ties: kind, then name — the API leaves them undefined), rules in
    written order. The first rule whose peer and port match decides: Allow (Accept in
    v1alpha2) allows, Deny denies, Pass skips the rest of the Admin tier.
 9. Then NetworkPolicy: if it isolates the pod (rule 3), rule 4 decides.
10. Otherwise the Baseline tier, likewise ordered (BaselineAdminNetworkPolicy: Allow, Deny;
    ClusterNetworkPolicy Baseline: Accept, Deny, Pass); Pass or no match allows.
11. Peers: namespaces = every non-hostNetwork pod in a matching namespace; pods = namespace
    AND pod selector; networks = the other end's IP in a CIDR; nodes = the other end's IP
    is an address of a matching Node; domainNames match nothing here. A peer with no known
    field makes an Allow rule match nothing and a Deny or Pass rule deny everything.
12. Ports: v1alpha1 portNumber / portRange (protocol default TCP) / namedPort; v1alpha2
    tcp|udp|sctp with an optional destinationPort number or range, or
    destinationNamedPort. A named port matches a container port of that name on the
    destination, whatever its protocol. No ports: every port.

Cilium (cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy; docs:
https://docs.cilium.io/en/stable/security/policy/language/, .../deny/, .../kubernetes/):

13. Each entry of `spec`/`specs` is a rule. It selects the non-hostNetwork pods its
    endpointSelector matches (in a CiliumNetworkPolicy, only in the policy's namespace),
    over the pod's labels plus io.kubernetes.pod.namespace and
    io.cilium.k8s.namespace.labels.<key>; keys may be prefixed k8s: or any:.
14. Deny rules (ingressDeny/egressDeny) of every rule selecting the pod come after the Admin
    tier and before NetworkPolicy: one that matches denies.
15. A rule with ingress or ingressDeny entries isolates the pods it selects at ingress (and
    likewise egress) unless enableDefaultDeny says false; then NetworkPolicy isolation and
    Cilium isolation are one: an isolated pod allows what some NetworkPolicy rule or some
    Cilium allow rule allows. A Cilium allow rule that matches also allows on a pod it does
    not isolate (then the Baseline tier is not asked).
16. Peers: no L3 field = every peer; fromEndpoints selectors (in a CiliumNetworkPolicy,
    pinned to the policy's namespace unless they name io.kubernetes.pod.namespace or a
    namespace label) match non-hostNetwork pods; entities all and cluster match every pod,
    host and remote-node the hostNetwork pods, others nothing; CIDRs match no pod.
17. Ports: toPorts entries (none = every port); a port with protocol ANY (default), TCP,
    UDP or SCTP; port 0 or none = every port of the protocol; a name = the destination's
    container port; endPort a range.

Calico (projectcalico.org/v3 NetworkPolicy, GlobalNetworkPolicy, Tier; docs:
https://docs.tigera.io/calico/latest/reference/resources/networkpolicy, .../tier):

18. Tiers run smallest order first: kube-admin 1,000 (the Admin tier above; Calico policies
    placed in kube-admin or kube-baseline run after that tier's cluster-wide policies here), the default tier
    1,000,000 (Cilium's deny rules just ahead of it), kube-baseline 10,000,000; a Tier object
    gives any other tier its order (none: last) and defaultAction (Deny unless Pass).
19. In a tier, policies that select the pod for the direction run by order (none: last), then
    name; Kubernetes NetworkPolicies are order-1000 policies of the default tier named
    knp.default.<name>, Cilium allow rules order-1000 ones named cnp.<policy>. The first rule
    that matches decides: Allow, Deny, or Pass (to the next tier); Log goes on. When a policy
    of the tier applied and none decided, the tier's defaultAction does (Deny, or Pass on).
20. A Calico rule matches the connection's protocol (protocol / notProtocol), its source and
    destination (for ingress the source is the other pod, the destination the selected one),
    and the destination port (ports / notPorts: numbers, "a:b" ranges, names on the
    destination pod). An entity matches a pod by nets / notNets (its IP) and, with selector /
    notSelector / namespaceSelector, only non-hostNetwork pods: a NetworkPolicy's selectors
    stay in its namespace unless a namespaceSelector is given. Pod labels for selectors are
    its own plus pcns.<namespace label> and projectcalico.org/namespace; serviceAccounts and
    services match nothing here.
"""
from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from typing import Any

from netpol_conformance import Namespace, Pod

from auditor.calico_selector import parse as calico_parse

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


# ------------------------------------------------------------------- cluster-wide policies

ADMIN_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy")
Nodes = Mapping[str, tuple[Mapping[str, str], list[str]]]  # name -> (labels, addresses)


def tier_of(policy: Policy) -> str | None:
    kind = policy.get("kind")
    if kind == "AdminNetworkPolicy":
        return "Admin"
    if kind == "BaselineAdminNetworkPolicy":
        return "Baseline"
    if kind == "ClusterNetworkPolicy":
        return policy["spec"]["tier"]
    return None


def subject_selects(policy: Policy, pod: Pod, namespaces: Mapping[str, Namespace]) -> bool:
    if pod.host_network:
        return False
    subject = policy["spec"].get("subject") or {}
    ns_labels = namespaces[pod.namespace].labels
    if "namespaces" in subject:
        return selector_matches(subject["namespaces"], ns_labels)
    if "pods" in subject:
        return (selector_matches(subject["pods"].get("namespaceSelector"), ns_labels)
                and selector_matches(subject["pods"].get("podSelector"), pod.labels))
    return False


def admin_peer_matches(peer: Mapping[str, Any], other: Pod, namespaces: Mapping[str, Namespace],
                       nodes: Nodes) -> bool | None:
    """Does the peer describe `other`? None for a peer with no field we know."""
    if "namespaces" in peer:
        return not other.host_network and selector_matches(peer["namespaces"], namespaces[other.namespace].labels)
    if "pods" in peer:
        return (not other.host_network
                and selector_matches(peer["pods"].get("namespaceSelector"), namespaces[other.namespace].labels)
                and selector_matches(peer["pods"].get("podSelector"), other.labels))
    if "networks" in peer:
        return any(ip_in_block(other.ip, {"cidr": cidr}) for cidr in peer["networks"])
    if "nodes" in peer:
        return any(other.ip in addresses for labels, addresses in nodes.values()
                   if selector_matches(peer["nodes"], labels))
    if "domainNames" in peer:
        return False
    return None


def admin_port_matches(policy: Policy, entry: Mapping[str, Any], protocol: str, port: int, dst: Pod) -> bool:
    def named(name: str) -> bool:
        return any(n == name and proto == protocol and number == port for n, number, proto in dst.ports)
    if policy["kind"] == "ClusterNetworkPolicy":
        if "destinationNamedPort" in entry:
            return named(entry["destinationNamedPort"])
        match = entry.get(protocol.lower())
        if match is None:
            return False
        wanted = match.get("destinationPort")
        if wanted is None:
            return True
        if "number" in wanted:
            return port == wanted["number"]
        return wanted["range"]["start"] <= port <= wanted["range"]["end"]
    if "namedPort" in entry:
        return named(entry["namedPort"])
    if "portNumber" in entry:
        return entry["portNumber"].get("protocol", "TCP") == protocol and entry["portNumber"]["port"] == port
    span = entry["portRange"]
    return span.get("protocol", "TCP") == protocol and span["start"] <= port <= span["end"]


def admin_action(policy: Policy, rule: Mapping[str, Any], other: Pod, protocol: str, port: int, dst: Pod,
                 namespaces: Mapping[str, Namespace], nodes: Nodes, peers_key: str) -> str | None:
    """The rule's action when it matches this connection, else None."""
    action = {"Accept": "Allow"}.get(rule["action"], rule["action"])
    matches = [admin_peer_matches(p, other, namespaces, nodes) for p in rule[peers_key]]
    if None in matches and action != "Allow":
        return "Deny"  # fail closed
    if not any(matches):
        return None
    entries = rule.get("protocols" if policy["kind"] == "ClusterNetworkPolicy" else "ports")
    if entries and not any(admin_port_matches(policy, e, protocol, port, dst) for e in entries):
        return None
    return action


def tier_verdict(tier: str, subject: Pod, other: Pod, direction: str, protocol: str, port: int, dst: Pod,
                 namespaces: Mapping[str, Namespace], policies: list[Policy], nodes: Nodes) -> str | None:
    """Allow, Deny, or None (no decision: Pass, or no rule matched)."""
    mine = [p for p in policies if tier_of(p) == tier and subject_selects(p, subject, namespaces)]
    mine.sort(key=lambda p: (p["spec"].get("priority", 0) if p["kind"] != "BaselineAdminNetworkPolicy" else 0,
                             p["kind"], p["metadata"]["name"]))
    peers_key = "from" if direction == "ingress" else "to"
    for policy in mine:
        for rule in policy["spec"].get(direction) or []:
            action = admin_action(policy, rule, other, protocol, port, dst, namespaces, nodes, peers_key)
            if action == "Pass":
                return None
            if action is not None:
                return action
    return None


def direction_allows(direction: str, src: Pod, dst: Pod, protocol: str, port: int,
                     namespaces: Mapping[str, Namespace], policies: list[Policy], nodes: Nodes) -> bool:
    subject, other = (dst, src) if direction == "ingress" else (src, dst)
    calico_tiers = {t["metadata"]["name"]: t.get("spec") or {} for t in policies
                    if t.get("kind") == "Tier" and is_calico(t)}
    tiers = [((1000.0, 0), "kube-admin"), ((1e6, 0), "cilium-deny"), ((1e6, 1), "default"),
             ((1e7, 0), "kube-baseline")]
    for p in policies:
        name = (p.get("spec") or {}).get("tier") or "default"
        if is_calico(p) and p["kind"] != "Tier" and name not in [t for _, t in tiers]:
            order = calico_tiers.get(name, {}).get("order")
            tiers.append(((math.inf if order is None else float(order), 1), name))
    for _, tier in sorted(tiers):
        if tier == "cilium-deny":
            verdict = cilium_deny(direction, subject, other, protocol, port, dst, namespaces, policies)
        else:
            verdict = ordered_tier(tier, calico_tiers.get(tier, {}).get("defaultAction"), direction, src, dst,
                                   protocol, port, namespaces, policies, nodes)
        if verdict is not None:
            return verdict == "Allow"
    return True


def ordered_tier(tier: str, default_action: str | None, direction: str, src: Pod, dst: Pod, protocol: str, port: int,
                 namespaces: Mapping[str, Namespace], policies: list[Policy], nodes: Nodes) -> str | None:
    """Allow, Deny, or None (on to the next tier)."""
    subject, other = (dst, src) if direction == "ingress" else (src, dst)
    if tier in ("kube-admin", "kube-baseline"):
        verdict = tier_verdict("Admin" if tier == "kube-admin" else "Baseline", subject, other, direction, protocol,
                               port, dst, namespaces, policies, nodes)
        if verdict is not None:
            return verdict
    entries: list[tuple[tuple[float, str], bool, str | None]] = []  # (order, applies, first matching action)
    for p in policies:
        if is_calico(p) and p["kind"] != "Tier" and ((p.get("spec") or {}).get("tier") or "default") == tier:
            if calico_selects(p, subject, direction, namespaces):
                entries.append(((calico_order(p), p["metadata"]["name"]), True,
                                calico_action(p, direction, src, dst, protocol, port, namespaces)))
    if tier == "default":
        np_direction = "Ingress" if direction == "ingress" else "Egress"
        for p in policies_isolating(subject, np_direction, [p for p in policies if is_network_policy(p)]):
            peers_key = "from" if direction == "ingress" else "to"
            allows = any(peers_match(rule.get(peers_key), p, other, namespaces)
                         and ports_match(rule, protocol, port, dst)
                         for rule in (p.get("spec") or {}).get(direction) or [])
            entries.append(((1000.0, "knp.default." + p["metadata"]["name"]), True, "Allow" if allows else None))
        for p in policies:
            if p.get("kind") not in CILIUM_KINDS:
                continue
            label = p["metadata"]["name"] if "namespace" not in p["metadata"] else \
                f"{p['metadata']['namespace']}/{p['metadata']['name']}"
            for rule in cilium_rules(p):
                if cilium_selects(p, rule, subject, namespaces):
                    allows = any(cilium_entry_matches(p, e, direction, other, protocol, port, dst, namespaces)
                                 for e in rule.get(direction) or [])
                    entries.append(((1000.0, "cnp." + label), cilium_default_deny(rule, direction),
                                    "Allow" if allows else None))
    entries.sort(key=lambda e: e[0])
    for _, _, action in entries:
        if action == "Pass":
            return None
        if action is not None:
            return action
    if any(applies for _, applies, _ in entries) and (default_action or "Deny") == "Deny":
        return "Deny"
    return None


def cilium_deny(direction: str, subject: Pod, other: Pod, protocol: str, port: int, dst: Pod,
                namespaces: Mapping[str, Namespace], policies: list[Policy]) -> str | None:
    for p in policies:
        if p.get("kind") in CILIUM_KINDS:
            for rule in cilium_rules(p):
                if cilium_selects(p, rule, subject, namespaces) and any(
                        cilium_entry_matches(p, e, direction, other, protocol, port, dst, namespaces)
                        for e in rule.get(direction + "Deny") or []):
                    return "Deny"
    return None


def is_network_policy(policy: Policy) -> bool:
    return policy.get("kind") == "NetworkPolicy" and not is_calico(policy)


# ------------------------------------------------------------------------------- Calico

def is_calico(policy: Policy) -> bool:
    return str(policy.get("apiVersion", "")).startswith(("projectcalico.org/", "crd.projectcalico.org/"))


def calico_order(policy: Policy) -> float:
    order = (policy.get("spec") or {}).get("order")
    return math.inf if order is None else float(order)


def calico_pod_labels(pod: Pod, namespaces: Mapping[str, Namespace]) -> dict[str, str]:
    derived = ("projectcalico.org/namespace", "projectcalico.org/orchestrator")
    labels = {k: v for k, v in pod.labels.items() if not k.startswith("pcns.") and k not in derived}
    for key, value in namespaces[pod.namespace].labels.items():
        labels["pcns." + key] = value
    labels["projectcalico.org/namespace"] = pod.namespace
    labels["projectcalico.org/orchestrator"] = "k8s"
    return labels


def calico_types(spec: Mapping[str, Any]) -> list[str]:
    if "types" in spec:
        return [t.lower() for t in spec["types"]]
    ingress, egress = bool(spec.get("ingress")), bool(spec.get("egress"))
    return (["ingress"] if ingress or not egress else []) + (["egress"] if egress else [])


def calico_selects(policy: Policy, pod: Pod, direction: str, namespaces: Mapping[str, Namespace]) -> bool:
    spec = policy.get("spec") or {}
    if pod.host_network or direction not in calico_types(spec):
        return False
    if policy["kind"] == "NetworkPolicy" and pod.namespace != policy["metadata"]["namespace"]:
        return False
    if policy["kind"] == "GlobalNetworkPolicy" and spec.get("namespaceSelector") and not calico_parse(
            spec["namespaceSelector"]).selects_namespace(pod.namespace, namespaces[pod.namespace].labels):
        return False
    return calico_parse(spec.get("selector") or "").matches(calico_pod_labels(pod, namespaces))


def calico_entity_matches(policy: Policy, entity: Mapping[str, Any] | None, pod: Pod,
                          namespaces: Mapping[str, Namespace]) -> bool:
    entity = entity or {}
    if "serviceAccounts" in entity or "services" in entity:
        return False
    if any(k in entity for k in ("selector", "notSelector", "namespaceSelector")):
        if pod.host_network:
            return False
        if entity.get("namespaceSelector"):
            if not calico_parse(entity["namespaceSelector"]).selects_namespace(
                    pod.namespace, namespaces[pod.namespace].labels):
                return False
        elif policy["kind"] == "NetworkPolicy" and (entity.get("selector") or entity.get("notSelector")) \
                and pod.namespace != policy["metadata"]["namespace"]:
            return False
        labels = calico_pod_labels(pod, namespaces)
        if entity.get("selector") and not calico_parse(entity["selector"]).matches(labels):
            return False
        if entity.get("notSelector") and calico_parse(entity["notSelector"]).matches(labels):
            return False
    if "nets" in entity and not any(ip_in_block(pod.ip, {"cidr": net}) for net in entity["nets"]):
        return False
    return not any(ip_in_block(pod.ip, {"cidr": net}) for net in entity.get("notNets") or [])


def calico_port_matches(wanted: int | str, protocol: str, port: int, dst: Pod) -> bool:
    if isinstance(wanted, int):
        return wanted == port
    if ":" in wanted:
        first, last = wanted.split(":")
        return int(first) <= port <= int(last)
    if wanted.isdigit():
        return int(wanted) == port
    return any(n == wanted and p == protocol and num == port for n, num, p in dst.ports)


def calico_protocol(value: int | str) -> str:
    return {"6": "TCP", "17": "UDP", "132": "SCTP"}.get(str(value).upper(), str(value).upper())


def calico_action(policy: Policy, direction: str, src: Pod, dst: Pod, protocol: str, port: int,
                  namespaces: Mapping[str, Namespace]) -> str | None:
    """The action of the policy's first rule (Log skipped) matching the connection, if any."""
    for rule in (policy.get("spec") or {}).get(direction) or []:
        if rule["action"] == "Log":
            continue
        if "protocol" in rule and calico_protocol(rule["protocol"]) != protocol:
            continue
        if "notProtocol" in rule and calico_protocol(rule["notProtocol"]) == protocol:
            continue
        if not (calico_entity_matches(policy, rule.get("source"), src, namespaces)
                and calico_entity_matches(policy, rule.get("destination"), dst, namespaces)):
            continue
        destination = rule.get("destination") or {}
        if "ports" in destination and not any(calico_port_matches(w, protocol, port, dst)
                                              for w in destination["ports"]):
            continue
        if any(calico_port_matches(w, protocol, port, dst) for w in destination.get("notPorts") or []):
            continue
        return rule["action"]
    return None


# ------------------------------------------------------------------------------- Cilium

CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")


def cilium_rules(policy: Policy) -> list[Mapping[str, Any]]:
    return ([policy["spec"]] if "spec" in policy else []) + list(policy.get("specs") or [])


def cilium_labels(pod: Pod, namespaces: Mapping[str, Namespace]) -> dict[str, str]:
    labels = {k: v for k, v in pod.labels.items()
              if k != "io.kubernetes.pod.namespace" and not k.startswith("io.cilium.k8s.namespace.labels.")}
    for key, value in namespaces[pod.namespace].labels.items():
        labels["io.cilium.k8s.namespace.labels." + key] = value
    labels["io.kubernetes.pod.namespace"] = pod.namespace
    return labels


def cilium_key(key: str) -> str:
    for prefix in ("k8s:", "any:"):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def cilium_selector_matches(selector: Mapping[str, Any], pod: Pod, namespaces: Mapping[str, Namespace]) -> bool:
    plain = {"matchLabels": {cilium_key(k): v for k, v in (selector.get("matchLabels") or {}).items()},
             "matchExpressions": [{**e, "key": cilium_key(e["key"])} for e in selector.get("matchExpressions") or []]}
    return selector_matches(plain, cilium_labels(pod, namespaces))


def cilium_selects(policy: Policy, rule: Mapping[str, Any], pod: Pod, namespaces: Mapping[str, Namespace]) -> bool:
    if pod.host_network:
        return False
    if policy["kind"] == "CiliumNetworkPolicy" and pod.namespace != policy["metadata"]["namespace"]:
        return False
    return cilium_selector_matches(rule["endpointSelector"], pod, namespaces)


def cilium_default_deny(rule: Mapping[str, Any], direction: str) -> bool:
    explicit = (rule.get("enableDefaultDeny") or {}).get(direction)
    if explicit is not None:
        return explicit
    return bool(rule.get(direction)) or bool(rule.get(direction + "Deny"))


def cilium_peer_matches(policy: Policy, entry: Mapping[str, Any], direction: str, other: Pod,
                        namespaces: Mapping[str, Namespace]) -> bool:
    side = "from" if direction == "ingress" else "to"
    fields = [side + f for f in ("Endpoints", "Entities", "CIDR", "CIDRSet")]
    if not any(f in entry for f in fields):
        return True
    for selector in entry.get(side + "Endpoints") or []:
        keys = [cilium_key(k) for k in selector.get("matchLabels") or {}]
        keys += [cilium_key(e["key"]) for e in selector.get("matchExpressions") or []]
        names_namespace = any(k == "io.kubernetes.pod.namespace" or k.startswith("io.cilium.k8s.namespace.labels.")
                              for k in keys)
        if policy["kind"] == "CiliumNetworkPolicy" and not names_namespace \
                and other.namespace != policy["metadata"]["namespace"]:
            continue
        if not other.host_network and cilium_selector_matches(selector, other, namespaces):
            return True
    for entity in entry.get(side + "Entities") or []:
        if entity in ("all", "cluster") or (entity in ("host", "remote-node") and other.host_network):
            return True
    return False  # CIDRs name addresses outside the cluster, never a pod


def cilium_port_matches(entry: Mapping[str, Any], protocol: str, port: int, dst: Pod) -> bool:
    if not entry.get("toPorts"):
        return True
    for to_ports in entry["toPorts"]:
        if not to_ports.get("ports"):
            return True
        for wanted in to_ports["ports"]:
            proto = wanted.get("protocol", "ANY")
            if proto not in ("ANY", protocol):
                continue
            number = str(wanted.get("port", "0"))
            if not number.isdigit():
                if any(n == number and p == protocol and num == port for n, num, p in dst.ports):
                    return True
            elif int(number) == 0 or int(number) <= port <= int(wanted.get("endPort") or number):
                return True
    return False


def cilium_entry_matches(policy: Policy, entry: Mapping[str, Any], direction: str, other: Pod, protocol: str,
                         port: int, dst: Pod, namespaces: Mapping[str, Namespace]) -> bool:
    return (cilium_peer_matches(policy, entry, direction, other, namespaces)
            and cilium_port_matches(entry, protocol, port, dst))


def allowed(src: Pod, dst: Pod, protocol: str, port: int | str,
            namespaces: Mapping[str, Namespace] | Iterable[Namespace],
            policies: Iterable[Policy], *, loopback_always_allowed: bool = True, nodes: Nodes | None = None) -> bool:
    """May `src` open a `protocol` connection to `port` (a number or a named port) of `dst`?"""
    namespaces = _as_mapping(namespaces)
    policies = list(policies)
    if loopback_always_allowed and (src.namespace, src.name) == (dst.namespace, dst.name):
        return True
    number = resolve_port(dst, protocol, port)
    if number is None:
        return False  # dst has no such named port: there is nothing to connect to
    return all(direction_allows(d, src, dst, protocol, number, namespaces, policies, nodes or {})
               for d in ("egress", "ingress"))
