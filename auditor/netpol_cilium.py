"""Cilium's network policies (cilium.io/v2) at L3/L4, read into one form.

CiliumNetworkPolicy (namespaced) and CiliumClusterwideNetworkPolicy hold one rule in `spec`
or several in `specs`; each rule is read on its own. Semantics, from Cilium's documentation
(https://docs.cilium.io/en/stable/security/policy/language/ and the pages it links:
layer3, layer4, deny, kubernetes, intro) and its rule parser:
- `endpointSelector` selects pods (never hostNetwork pods: those are the `host`
  identity); in a CiliumNetworkPolicy only pods of the policy's namespace
  (https://docs.cilium.io/en/stable/security/policy/kubernetes/). `nodeSelector` rules are
  host policies: not evaluated.
- Label keys may carry a source prefix: `k8s:` and `any:` are a pod's labels; `reserved:<entity>`
  names an entity. A pod's labels also hold `io.kubernetes.pod.namespace` and
  `io.cilium.k8s.namespace.labels.<key>` for its namespace's labels.
- `fromEndpoints`/`toEndpoints`: in a CiliumNetworkPolicy a selector that names neither the
  namespace nor a namespace label means the policy's namespace (so `{}` is every pod of
  it); in a clusterwide policy, every namespace (`{}` is every pod in the cluster).
- `fromEntities`/`toEntities`: all (everything), world (addresses outside the cluster),
  cluster (every pod, hostNetwork ones and nodes), host and remote-node (hostNetwork pods and
  nodes: which node a pod runs on is not known, so both mean every node). kube-apiserver,
  init, health, unmanaged and ingress are not evaluated (they match nothing here).
- `fromCIDR`/`fromCIDRSet` (`except`) and `toCIDR`/`toCIDRSet`: addresses outside the cluster
  only: "CIDR rules do not apply to traffic where both sides of the connection are either
  managed by Cilium or use an IP belonging to a node in the cluster (including host
  networking pods)" (https://docs.cilium.io/en/stable/security/policy/layer3/).
- A rule with none of these fields matches every peer; a field that is an empty list
  matches none.
- `toPorts[].ports`: `port` a number ("0" or none: every port), a name (the destination's
  container port) or a range to `endPort`; `protocol` ANY (default), TCP, UDP or SCTP.
  L7 `rules` are not evaluated; their L4 ports count. `icmps` are not evaluated.
- `ingressDeny`/`egressDeny` deny whatever any allow says, NetworkPolicy's included
  (https://docs.cilium.io/en/stable/security/policy/deny/).
- Default deny: a rule with ingress or ingressDeny rules isolates the pods it selects at
  ingress (likewise egress), unless `enableDefaultDeny` says false for that direction.
- `toFQDNs`, `toServices`, `fromRequires`/`toRequires`, `fromNodes`/`toNodes`,
  `fromGroups`/`toGroups`, CIDR groups: not evaluated; the L3 they name matches nothing here.

A rule or policy Cilium would refuse (a spec that is not a mapping, a malformed selector)
is skipped with an issue naming it; nothing here raises.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .netpol_admin import PortSpec

GROUP = "cilium.io"
KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
POD_SOURCES = ("k8s:", "any:")
ENTITIES = ("all", "world", "cluster", "host", "remote-node", "kube-apiserver", "init", "health", "unmanaged",
            "ingress")
EVALUATED_ENTITIES = ("all", "world", "cluster", "host", "remote-node")
PROTOCOLS = {"ANY": ("TCP", "UDP", "SCTP"), "TCP": ("TCP",), "UDP": ("UDP",), "SCTP": ("SCTP",)}
UNEVALUATED_L3 = {
    "ingress": ("fromRequires", "fromNodes", "fromGroups"),
    "egress": ("toFQDNs", "toServices", "toRequires", "toNodes", "toGroups"),
}
IpBlock = tuple[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class CiliumPeers:
    """What a rule's L3 matches: `wildcard` (no L3 field: every peer), else the union of
    endpoint selectors (normalized, with the namespace they are pinned to), entities and
    address blocks."""

    wildcard: bool = False
    endpoints: tuple[tuple[Mapping[str, Any], str | None], ...] = ()
    entities: frozenset[str] = frozenset()
    blocks: tuple[IpBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class CiliumRule:
    action: str  # Allow | Deny
    direction: str  # ingress | egress
    index: int  # position in the rule's ingress/egress/ingressDeny/egressDeny list
    peers: CiliumPeers
    ports: tuple[PortSpec, ...]  # empty: every port

    @property
    def field(self) -> str:
        return self.direction + ("Deny" if self.action == "Deny" else "")


@dataclass(frozen=True, slots=True)
class CiliumSpec:
    """One rule of a policy (`spec`, or an entry of `specs`)."""

    kind: str
    name: str  # namespace/name, or name for a clusterwide policy
    namespace: str | None  # None: clusterwide
    where: str  # "spec" or "specs[i]"
    subject: Mapping[str, Any]  # the normalized endpointSelector
    default_deny: Mapping[str, bool]  # direction -> isolates
    rules: tuple[CiliumRule, ...]


@dataclass
class CiliumRead:
    specs: list[CiliumSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is not evaluated, and what was skipped


def is_cilium_policy(obj: Mapping[str, Any]) -> bool:
    api = obj.get("apiVersion")
    return obj.get("kind") in KINDS and isinstance(api, str) and api.startswith(GROUP + "/")


def read(obj: Mapping[str, Any]) -> CiliumRead:
    found = CiliumRead()
    if not is_cilium_policy(obj):
        return found
    kind = obj["kind"]
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    clusterwide = kind == "CiliumClusterwideNetworkPolicy"
    if not isinstance(name, str) or (not clusterwide and not isinstance(namespace, str)):
        found.notes.append(f"{kind}: metadata has no name{'' if clusterwide else ' or namespace'}: skipped")
        return found
    label = name if clusterwide else f"{namespace}/{name}"
    entries: list[tuple[str, Any]] = []
    if obj.get("spec") is not None:
        entries.append(("spec", obj["spec"]))
    specs = obj.get("specs")
    if specs is not None:
        if isinstance(specs, list):
            entries += [(f"specs[{i}]", s) for i, s in enumerate(specs)]
        else:
            found.notes.append(f"{kind} {label}: specs is not a list: skipped")
    for where, raw in entries:
        _spec(found, kind, label, None if clusterwide else namespace, where, raw)
    return found


def _spec(found: CiliumRead, kind: str, label: str, namespace: str | None, where: str, raw: Any) -> None:
    def note(text: str) -> None:
        found.notes.append(f"{kind} {label}: {where}{text}")

    if not isinstance(raw, Mapping):
        note(" is not a mapping: skipped")
        return
    if raw.get("nodeSelector") is not None:
        note(": nodeSelector (a host policy) is not evaluated")
        return
    subject = normalize(raw.get("endpointSelector"))
    if subject is None or isinstance(subject, str):
        note(".endpointSelector is missing or malformed: skipped")
        return
    rules: list[CiliumRule] = []
    for key, direction, action in (("ingress", "ingress", "Allow"), ("egress", "egress", "Allow"),
                                   ("ingressDeny", "ingress", "Deny"), ("egressDeny", "egress", "Deny")):
        listed = raw.get(key)
        if listed is not None and not isinstance(listed, list):
            note(f".{key} is not a list: skipped")
            return
        for index, rule in enumerate(listed or []):
            def at(text: str, where: str = f".{key}[{index}]") -> None:
                note(where + text)
            built = _rule(rule, direction, action, index, namespace, at)
            if built is None:
                return
            rules.append(built)
    default_deny = {}
    setting = raw.get("enableDefaultDeny")
    for direction in ("ingress", "egress"):
        explicit = setting.get(direction) if isinstance(setting, Mapping) else None
        has_rules = bool(raw.get(direction)) or bool(raw.get(direction + "Deny"))
        default_deny[direction] = explicit if isinstance(explicit, bool) else has_rules
    found.specs.append(CiliumSpec(kind, label, namespace, where, subject, default_deny, tuple(rules)))


Note = Callable[[str], None]


def _rule(rule: Any, direction: str, action: str, index: int, namespace: str | None, note: Note
          ) -> CiliumRule | None:
    if not isinstance(rule, Mapping):
        note(" is not a mapping: policy skipped")
        return None
    side = "from" if direction == "ingress" else "to"
    wildcard = True
    endpoints: list[tuple[Mapping[str, Any], str | None]] = []
    entities: set[str] = set()
    blocks: list[IpBlock] = []
    for unevaluated in UNEVALUATED_L3[direction]:
        if rule.get(unevaluated) is not None:
            wildcard = False
            note(f".{unevaluated} is not evaluated (it matches nothing here)")
    selectors = rule.get(side + "Endpoints")
    if selectors is not None:
        wildcard = False
        for selector in selectors if isinstance(selectors, list) else [None]:
            normal = normalize(selector)
            if normal is None:
                note(f".{side}Endpoints has a malformed selector: policy skipped")
                return None
            if isinstance(normal, str):
                entities.add(normal)
            else:
                endpoints.append((normal, _pinned(normal, namespace)))
    named = rule.get(side + "Entities")
    if named is not None:
        wildcard = False
        for entity in named if isinstance(named, list) else [None]:
            if entity not in ENTITIES:
                note(f".{side}Entities names an unknown entity: policy skipped")
                return None
            entities.add(entity)
    for entity in sorted(entities - set(EVALUATED_ENTITIES)):
        note(f": entity {entity} is not evaluated (it matches nothing here)")
    for entity in sorted(entities & {"host", "remote-node"}):
        note(f": entity {entity} is taken as every node and hostNetwork pod")
    for key in (side + "CIDR", side + "CIDRSet"):
        listed = rule.get(key)
        if listed is None:
            continue
        wildcard = False
        for entry in listed if isinstance(listed, list) else [None]:
            block = _cidr(entry)
            if block is None:
                if isinstance(entry, Mapping) and ("cidrGroupRef" in entry or "cidrGroupSelector" in entry):
                    note(f".{key}: CIDR groups are not evaluated (they match nothing here)")
                    continue
                note(f".{key} has a malformed entry: policy skipped")
                return None
            blocks.append(block)
    ports = _ports(rule.get("toPorts"), note)
    if ports is None:
        return None
    if rule.get("icmps") is not None:
        note(".icmps are not evaluated")
        if rule.get("toPorts") is None:
            ports = (PortSpec("none"),)  # an ICMP-only rule matches no TCP, UDP or SCTP port
    if rule.get("authentication") is not None:
        note(".authentication is not evaluated")
    peers = CiliumPeers(wildcard, tuple(endpoints), frozenset(entities), tuple(blocks))
    return CiliumRule(action, direction, index, peers, ports)


def _ports(listed: Any, note: Note) -> tuple[PortSpec, ...] | None:
    if listed is None:
        return ()
    if not isinstance(listed, list):
        note(".toPorts is not a list: policy skipped")
        return None
    found: list[PortSpec] = []
    for entry in listed:
        if not isinstance(entry, Mapping):
            note(".toPorts has an entry that is not a mapping: policy skipped")
            return None
        if entry.get("rules") is not None or entry.get("serverNames") is not None:
            note(".toPorts: L7 rules and serverNames are not evaluated (their L4 ports are)")
        ports = entry.get("ports")
        if ports is None or ports == []:
            return ()  # an entry with no ports: every port
        for port in ports if isinstance(ports, list) else [None]:
            spec = list(_port(port))
            if not spec:
                note(".toPorts has a malformed port: policy skipped")
                return None
            found += spec
    return tuple(found)


def _port(port: Any) -> Iterator[PortSpec]:
    if not isinstance(port, Mapping):
        return
    protocol = port.get("protocol") or "ANY"
    if not isinstance(protocol, str) or (protocol not in PROTOCOLS and protocol not in ("ICMP", "ICMPv6", "VRRP",
                                                                                         "IGMP")):
        return
    protocols = PROTOCOLS.get(protocol, ())
    if not protocols:
        yield PortSpec("none")  # ICMP and the like: no TCP, UDP or SCTP port
        return
    number = port.get("port")
    if isinstance(number, bool) or (number is not None and not isinstance(number, (str, int))):
        return
    text = "0" if number is None or number == "" else str(number)
    if not text.isdigit():
        yield PortSpec(None if protocol == "ANY" else protocol, name=text)
        return
    first = int(text)
    end = port.get("endPort")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int)):
        return
    for proto in protocols:
        yield PortSpec(proto) if first == 0 else PortSpec(proto, first, end if end and end >= first else first)


def _cidr(entry: Any) -> IpBlock | None:
    if isinstance(entry, str):
        return (entry, ())
    if isinstance(entry, Mapping) and isinstance(entry.get("cidr"), str):
        excepts = entry.get("except") or []
        if isinstance(excepts, list) and all(isinstance(e, str) for e in excepts):
            return (entry["cidr"], tuple(sorted(excepts)))
    return None


def normalize(selector: Any) -> Mapping[str, Any] | str | None:
    """A Cilium endpoint selector as a Kubernetes label selector over a pod's Cilium labels
    (source prefixes k8s: and any: dropped); the entity name for a `reserved:` selector; None
    when malformed."""
    if not isinstance(selector, Mapping):
        return None
    labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(labels, Mapping) or not isinstance(expressions, list):
        return None
    reserved = [k for k in labels if isinstance(k, str) and k.startswith("reserved:")]
    if reserved:
        entity = reserved[0].removeprefix("reserved:")
        return entity if entity in ENTITIES and len(labels) == 1 and not expressions else None
    normal_labels: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return None
        normal_labels[_key(key)] = value
    normal_expressions = []
    for expr in expressions:
        if not isinstance(expr, Mapping) or not isinstance(expr.get("key"), str):
            return None
        if expr.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return None
        values = expr.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return None
        normal_expressions.append({"key": _key(expr["key"]), "operator": expr["operator"], "values": values})
    return {"matchLabels": normal_labels, "matchExpressions": normal_expressions}


def _key(key: str) -> str:
    for prefix in POD_SOURCES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _pinned(selector: Mapping[str, Any], namespace: str | None) -> str | None:
    """The namespace a peer selector of a namespaced policy is limited to: its policy's,
    unless it names the namespace or a namespace label (Cilium's getEndpointSelector)."""
    if namespace is None:
        return None
    keys = set(selector["matchLabels"]) | {e["key"] for e in selector["matchExpressions"]}
    if NAMESPACE_LABEL in keys or any(k.startswith(NAMESPACE_LABELS_PREFIX) for k in keys):
        return None
    return namespace


def namespace_only(selector: Mapping[str, Any]) -> bool:
    """Whether a normalized selector reads only labels every pod of a namespace shares."""
    keys = set(selector["matchLabels"]) | {e["key"] for e in selector["matchExpressions"]}
    return all(k == NAMESPACE_LABEL or k.startswith(NAMESPACE_LABELS_PREFIX) for k in keys)


def cilium_labels(namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> dict[str, str]:
    """The labels Cilium selects a pod by: its own, its namespace, its namespace's labels. A
    pod's own label under those keys does not pose as its namespace's: it is left out."""
    found = {str(k): str(v) for k, v in labels.items()
             if str(k) != NAMESPACE_LABEL and not str(k).startswith(NAMESPACE_LABELS_PREFIX)}
    found.update({NAMESPACE_LABELS_PREFIX + str(k): str(v) for k, v in namespace_labels.items()})
    found[NAMESPACE_LABEL] = namespace
    return found
