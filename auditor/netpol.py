"""Network policy semantics, evaluated on equivalence classes of pods.

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

Every kind is evaluated in one machinery, per direction: ordered `Tier`s, laid out as Calico
lays them out. In a tier the first rule matching a port decides it (Allow, Deny, or Pass to
the next tier); once a policy of the tier applies to a class, what no rule matched is decided
by the tier's default (Deny, or Pass). What no tier decided is allowed.
- Admin (order 1,000; netpol_admin.py): AdminNetworkPolicy, ClusterNetworkPolicy tier Admin,
  by priority; default Pass.
- CiliumDeny (netpol_cilium.py): Cilium's ingressDeny/egressDeny, which override every allow.
- NetworkPolicy (the default tier, 1,000,000): NetworkPolicy rules (only Allow, so they add
  up), Cilium's allow rules beside them, Calico policies of the default tier by their order;
  default Deny, which a NetworkPolicy's or Cilium policy's isolation of the pod decides.
- Baseline (10,000,000): BaselineAdminNetworkPolicy, ClusterNetworkPolicy tier Baseline.
- Calico's own tiers (netpol_calico.py), by their Tier objects' order and defaultAction.
Cluster-wide `networks` and `nodes` peers and Calico `nets` match by address, so like
ipBlocks they match hostNetwork pods too. Each direction's answer for a class is a few
`Verdict`s, each a bitmask of the classes at the other end with the ports allowed and the
rules that decided. `unevaluated` lists, one line per policy and field, what was not
evaluated or was skipped as malformed; no line holds a value from a policy.
"""
from __future__ import annotations

import ipaddress
import json
import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from . import netpol_admin, netpol_calico, netpol_cilium
from .calico_selector import NAMESPACE_NAME_LABEL, CalicoSelector
from .netpol_admin import ADMIN, BASELINE, PortSpec
from .selectors import selects

PROTOCOLS = ("TCP", "UDP", "SCTP")
MAX_PORT = 65535
NETWORK_POLICY = "NetworkPolicy"
K = TypeVar("K")
V = TypeVar("V")
# Every class, as a mask: -1 in two's complement. Masks are sets of class ids, held by
# Python's infinite two's complement: a negative mask holds every id past the classes' count
# too, which no one asks about. "Every class but a few" is then as small as the few, where a
# mask of every bit set is as wide as the fleet (the baseline's deny-all, every deny's rest).
EVERY = -1
ANSWER_WINDOW = 16384  # recent verdict lists kept by their rules (see Evaluator.verdicts)
# Up to this many members, a mask's members are taken off its top one by one: each step is a
# pass over the mask's digits (30 classes each), where spelling it out in binary is a
# character per class, and masks are as wide as the fleet. Past it, the binary is cheaper.
FEW_MEMBERS = 64
CILIUM_DENY = "CiliumDeny"


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

    # The common operands are every port and no port: answer those without merging ranges.
    def __or__(self, other: PortSet) -> PortSet:
        if not other.ranges or self.ranges == other.ranges or self.ranges == _ALL_RANGES:
            return self
        if not self.ranges or other.ranges == _ALL_RANGES:
            return other
        return PortSet.of(self.ranges + other.ranges)

    def __and__(self, other: PortSet) -> PortSet:
        if not self.ranges or other.ranges == _ALL_RANGES or self.ranges == other.ranges:
            return self
        if not other.ranges or self.ranges == _ALL_RANGES:
            return other
        return PortSet.of(
            (p, max(lo, olo), min(hi, ohi))
            for p, lo, hi in self.ranges
            for q, olo, ohi in other.ranges
            if p == q and max(lo, olo) <= min(hi, ohi)
        )

    def __sub__(self, other: PortSet) -> PortSet:
        if not other.ranges or not self.ranges:
            return self
        if other.ranges == _ALL_RANGES or other.ranges == self.ranges:
            return NO_PORTS
        left = list(self.ranges)
        for q, olo, ohi in other.ranges:
            cut = []
            for p, lo, hi in left:
                if p != q or ohi < lo or olo > hi:
                    cut.append((p, lo, hi))
                    continue
                if lo < olo:
                    cut.append((p, lo, olo - 1))
                if ohi < hi:
                    cut.append((p, ohi + 1, hi))
            left = cut
        return PortSet.of(left)

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
_ALL_RANGES = ALL_PORTS.ranges


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


# An address block as a comparable key: (cidr, its sorted excepts).
IpBlock = tuple[str, tuple[str, ...]]
# An equivalence class's identity: namespace, labels, container ports, hostNetwork, ipBlock membership.
ClassKey = tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, int, str], ...], bool, tuple[bool, ...]]


@dataclass(frozen=True, slots=True, eq=False)  # each rule is itself: equal by identity
class Rule:
    peers: int  # bitmask of the classes at the other end
    ports: tuple[PortSpec, ...]  # empty = every port
    policy: str  # "Kind namespace/name" or "Kind name", for evidence
    blocks: tuple[IpBlock, ...] = ()  # the address blocks it names, for addresses outside the cluster
    any_peer: bool = False  # no from/to: every address, inside the cluster or not
    action: str = "Allow"  # Allow | Deny | Pass (NetworkPolicy rules only allow)
    index: int = 0  # position in the policy's ingress or egress list
    tier: str = NETWORK_POLICY  # Admin | NetworkPolicy | Baseline
    priority: int | None = None
    direction: str = "ingress"
    label: str | None = None  # where the rule is, when `direction[index]` does not say it
    not_ports: tuple[PortSpec, ...] = ()  # taken out of `ports`

    def describe(self) -> dict[str, Any]:
        """Which policy and rule decided, for reports (rule `isolation`: the pod is isolated
        by the policy and none of its rules allows the port)."""
        kind, _, name = self.policy.partition(" ")
        rule = self.label or ("isolation" if self.index < 0 else f"{self.direction}[{self.index}]")
        found: dict[str, Any] = {"kind": kind, "name": name, "rule": rule, "tier": self.tier, "action": self.action}
        if self.priority is not None:
            found["priority"] = self.priority
        return found


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one direction decides for the classes in `mask`: the ports it allows, and the
    rules that decided (allowed or denied some port) for them, in precedence order."""

    mask: int
    allowed: PortSet
    deciders: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class Tier:
    """An ordered tier of rules, per direction: the first rule matching a port decides it
    (Allow, Deny, or Pass: on to the next tier). Once a policy of the tier applies to a class
    (isolates it), the ports no rule matched are decided by `default`: Deny, or Pass.
    Tiers run by `order`; what no tier decided is allowed."""

    name: str
    order: tuple[float, int]
    default: str = "Pass"


# Calico's layout, which every kind fits in: the Admin tier at order 1,000 (Calico's kube-admin
# tier), the default tier at 1,000,000 (Kubernetes NetworkPolicy, as Calico's order-1000
# policies), the Baseline tier at 10,000,000 (kube-baseline). Cilium's deny rules override
# every allow of NetworkPolicy and Cilium alike: a tier just ahead of the default one.
DEFAULT_TIER_ORDER = 1_000_000.0
NP_ORDER = 1000.0  # a NetworkPolicy's place among the default tier's Calico policies
ADMIN_TIER = Tier(ADMIN, (1000.0, 0))
CILIUM_DENY_TIER = Tier(CILIUM_DENY, (DEFAULT_TIER_ORDER, 0))
NETWORK_POLICY_TIER = Tier(NETWORK_POLICY, (DEFAULT_TIER_ORDER, 1), "Deny")
BASELINE_TIER = Tier(BASELINE, (10_000_000.0, 0))
# The labels each engine selects a pod by, from its own and its namespace's.
ENGINE_LABELS = {"cilium": netpol_cilium.cilium_labels, "calico": netpol_calico.calico_labels}
# A rule's place in its tier: (policy order, policy name, rule index).
RuleOrder = tuple[float, str, int]


@dataclass(frozen=True, slots=True)
class _Cell:
    """Classes on which the rules seen so far agree (the tiers' state for them)."""

    mask: int
    undecided: PortSet  # ports no rule of the current tier has matched yet
    allowed: PortSet
    passed: PortSet = NO_PORTS  # ports a Pass handed to the next tier
    deciders: tuple[Rule, ...] = ()

    def key(self) -> tuple[PortSet, PortSet, PortSet, tuple[Rule, ...]]:
        return (self.undecided, self.allowed, self.passed, self.deciders)

    def with_mask(self, mask: int) -> _Cell:
        return _Cell(mask, self.undecided, self.allowed, self.passed, self.deciders)

    def end_of_tier(self, default: str, ends: tuple[Rule, ...]) -> _Cell:
        """What no rule of the tier matched: denied by the tier's default (the `ends` rules,
        e.g. a NetworkPolicy's isolation, decided it) or handed on with what was passed."""
        if default == "Deny":
            deciders = self.deciders + ends if self.undecided else self.deciders
            return _Cell(self.mask, self.passed, self.allowed, NO_PORTS, deciders)
        return _Cell(self.mask, self.undecided | self.passed, self.allowed, NO_PORTS, self.deciders)


class Recent(OrderedDict[K, V]):
    """The last `size` answers put in, the oldest dropped first: classes that share an
    answer are usually asked about one after another, so a window keeps most of the gain
    of a cache without holding an answer (bitmasks over every class) per class. Ordered, so
    that dropping the oldest is one step: a dict's first live key comes after every key
    deleted before it, a walk as long as the window."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> V:
        if key not in self and len(self) >= self.size:
            self.popitem(last=False)
        self[key] = value
        return value


class Evaluator:
    """Reachability between classes under the tiers (see the module's docstring), each
    direction on its own. A connection needs its source's egress and its destination's ingress."""

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        namespace_labels: Mapping[str, Mapping[str, str]],
        policies: Iterable[Mapping[str, Any]],
        nodes: Mapping[str, tuple[Mapping[str, str], Sequence[str]]] | None = None,
    ) -> None:
        self._namespace_labels = namespace_labels
        self._nodes = nodes or {}  # name -> (labels, addresses)
        policies = [p for p in policies if isinstance(p, Mapping)]
        admin = [a for a in (netpol_admin.read(p) for p in policies) if a is not None]
        cilium = [netpol_cilium.read(p) for p in policies if netpol_cilium.is_cilium_policy(p)]
        calico = netpol_calico.read(policies)
        # what the evaluator could not evaluate or skipped, one line per policy and field
        self.unevaluated = sorted({f"{a.kind} {a.name}: {peer.unevaluated}" for a in admin
                                   for r in a.ingress + a.egress for peer in r.peers if peer.unevaluated}
                                  | {note for c in cilium for note in c.notes} | set(calico.notes))
        self._blocks = _ip_blocks(policies, admin, self._nodes) + [
            b for b in dict.fromkeys(_calico_blocks(calico))]
        self.classes: list[PodClass] = []
        self._class_of: dict[ClassKey, int] = {}
        self._by_namespace: dict[str, list[int]] = {}
        members: dict[int, list[str]] = {}
        for ep in endpoints:
            signature = self._ip_signature(ep.ip)
            key: ClassKey = (ep.namespace, _labels_key(ep.labels), ep.ports, ep.host_network, signature)
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
        self._all = (1 << len(self.classes)) - 1  # every class, for counting and listing members
        self._none = ~self._all  # a negative mask that holds no class
        self._ip_masks = [
            mask_from(c.id for c in self.classes if c.ip_signature and c.ip_signature[k])
            for k in range(len(self._blocks))
        ]
        self._tiers = [ADMIN_TIER, CILIUM_DENY_TIER, NETWORK_POLICY_TIER, BASELINE_TIER]
        # per (tier, direction), by class id: the rules that apply to the class, and the rules
        # whose policies isolate it (present, even empty: a policy of the tier applies)
        self._rules: dict[tuple[str, str], defaultdict[int, list[tuple[RuleOrder, Rule]]]] = {}
        self._applies: dict[tuple[str, str], defaultdict[int, list[Rule]]] = {}
        self._pods_cache: dict[tuple[str | None, ...], int] = {}
        self._pod_cache: dict[tuple[str, int], bool] = {}
        self._namespace_cache: dict[str, list[str]] = {}
        self._namespace_index: dict[tuple[str, str], set[str]] = {}
        self._namespace_keys: dict[str, set[str]] = {}
        for ns in self._by_namespace:
            for k, v in self._namespace_labels.get(ns, {}).items():
                self._namespace_index.setdefault((k, v), set()).add(ns)
                self._namespace_keys.setdefault(k, set()).add(ns)
        for policy in policies:
            if is_network_policy(policy):
                self._add_policy(policy)
        for admin_policy in admin:
            self._add_admin_policy(admin_policy)
        self._engine_labels: dict[tuple[str, int], dict[str, str]] = {}  # by (engine, class)
        self._namespace_views: dict[tuple[str, str], dict[str, str]] = {}  # by (engine, namespace)
        for read in cilium:
            for spec in read.specs:
                self._add_cilium(spec)
        self._calico_tiers = calico.tiers
        for calico_policy in calico.policies:
            self._add_calico(calico_policy)
        self._tiers.sort(key=lambda t: t.order)
        # per direction, the tiers with rules or isolation for some class, in order: a cluster
        # without policies asks none of them about each class
        self._tables: dict[str, list[tuple[Tier, Mapping[int, list[tuple[RuleOrder, Rule]]], Mapping[int, list[Rule]]]]]
        self._tables = {direction: [
            (tier, self._rules.get((tier.name, direction), {}), self._applies.get((tier.name, direction), {}))
            for tier in self._tiers if (tier.name, direction) in self._rules or (tier.name, direction) in self._applies
        ] for direction in ("ingress", "egress")}
        for table in self._rules.values():
            for entries in table.values():
                entries.sort(key=lambda e: e[0])
        self._resolved: dict[tuple[int, int, int], PortSet] = {}
        # Egress answers, by class and by the rules that decide them: each class holds its
        # answer, so the window below would save no memory on them, only lose its room.
        self._verdicts: dict[int, list[Verdict]] = {}
        self._egress: dict[tuple[Any, ...], list[Verdict]] = {}
        # Recent ingress answers by what decides them: the class's rules in every tier and its
        # container ports (named ports). Classes of one namespace usually share them and are
        # asked for one after another, so a window of answers serves most.
        self._by_rules: Recent[tuple[Any, ...], list[Verdict]] = Recent(ANSWER_WINDOW)
        self._open_cache: dict[tuple[str, int], bool] = {}
        self._keys: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._address_answers: dict[tuple[Any, ...], PortSet] = {}
        self._address_signatures: dict[ipaddress._BaseAddress, tuple[bool, ...]] = {}
        self._egress_blocks: list[IpBlock] | None = None

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

    # -- NetworkPolicy -----------------------------------------------------------------

    def _add_policy(self, policy: Mapping[str, Any]) -> None:
        meta = policy.get("metadata") or {}
        spec = policy.get("spec")
        namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
        if not isinstance(spec, Mapping) or not isinstance(namespace, str):
            return
        name = f"NetworkPolicy {namespace}/{meta.get('name')}"
        types = spec.get("policyTypes")
        if not isinstance(types, list) or not types:  # the API server's defaulting
            types = ["Ingress", "Egress"] if _list(spec.get("egress")) else ["Ingress"]
        pod_selector = _Selector(spec.get("podSelector"))
        selected = [
            cid
            for cid in self._by_namespace.get(namespace, ())
            if not self.classes[cid].host_network and self._selects_class(pod_selector, cid)
        ]
        for direction, rules_key, peers_key in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
            if direction not in types:
                continue
            rules = [self._rule(rule, peers_key, namespace, name, i, rules_key)
                     for i, rule in enumerate(_list(spec.get(rules_key)))]
            # what denies the ports no rule allows: the policy's isolation of the pod
            isolation = Rule(0, (), name, action="Deny", index=-1, direction=rules_key)
            order = (NP_ORDER, f"knp.default.{meta.get('name')}")
            self._add_rules(NETWORK_POLICY, rules_key, selected,
                            [(order + (r.index,), r) for r in rules if r is not None], isolation)

    def _add_rules(self, tier: str, direction: str, classes: Iterable[int],
                   rules: Sequence[tuple[RuleOrder, Rule]], isolation: Rule | None = None) -> None:
        """Put the rules on these classes in a tier; an isolation rule makes the tier apply to them."""
        table = self._rules.setdefault((tier, direction), defaultdict(list))
        applies = self._applies.setdefault((tier, direction), defaultdict(list))
        for cid in classes:
            if rules:
                table[cid].extend(rules)
            if isolation is not None:
                applies[cid].append(isolation)

    def _rule(self, rule: Any, peers_key: str, namespace: str, policy: str, index: int, direction: str) -> Rule | None:
        if not isinstance(rule, Mapping):
            return None
        peers = _list(rule.get(peers_key))
        mask = EVERY if not peers else 0
        for peer in peers:
            mask |= self._peer_mask(peer, namespace)
        ports = tuple(s for p in _list(rule.get("ports")) if isinstance(p, Mapping) for s in _np_port(p))
        if _list(rule.get("ports")) and not ports:
            ports = (PortSpec("none"),)  # only malformed ports: the rule admits nothing
        blocks = tuple(b for b in (_block_key(p.get("ipBlock")) for p in peers if isinstance(p, Mapping)) if b)
        return Rule(mask, ports, policy, blocks, not peers, index=index, direction=direction)

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
        return self._pods_in(namespaces, pod_selector)

    def _selected(self, namespace_selector: Any, pod_selector: Any) -> int:
        """Classes a cluster-wide subject or peer picks: namespaces AND pods (None: all pods);
        hundreds of policies repeat the same few selectors, so each is resolved once."""
        ns, pods = _Selector(namespace_selector), None if pod_selector is None else _Selector(pod_selector)
        key = (ns.key, None if pods is None else pods.key)
        found = self._pods_cache.get(key)
        if found is None:
            found = self._pods_cache[key] = self._pods_in(self._namespaces(ns), pods)
        return found

    def _pods_in(self, namespaces: Iterable[str], pod_selector: _Selector | None) -> int:
        """Classes of pods (never hostNetwork ones) in these namespaces that the selector picks."""
        return self._compact(mask_from(
            cid for ns in namespaces for cid in self._by_namespace.get(ns, ())
            if not self.classes[cid].host_network and (pod_selector is None or self._selects_class(pod_selector, cid))
        ))

    def _compact(self, mask: int) -> int:
        """A mask of every class as EVERY, so that what is left besides it stays small."""
        return EVERY if mask == self._all else mask

    # -- AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy -----------

    def _add_admin_policy(self, policy: netpol_admin.AdminPolicy) -> None:
        if policy.subject is None:
            return
        subjects = self._selected(policy.subject[0], policy.subject[1])
        label = f"{policy.kind} {policy.name}"
        priority = None if policy.kind == "BaselineAdminNetworkPolicy" else policy.priority
        for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
            built = [self._admin_rule(r, label, policy.tier, priority, direction) for r in rules]
            # no rules in a direction: the policy does not affect it
            self._add_rules(policy.tier, direction, self.members_ids(subjects),
                            [((policy.priority, f"{policy.kind}/{policy.name}", r.index), r) for r in built])

    def _admin_rule(self, rule: netpol_admin.AdminRule, label: str, tier: str, priority: int | None,
                    direction: str) -> Rule:
        mask, blocks = 0, []
        deny_all = any(p.deny_all for p in rule.peers)
        for peer in rule.peers:
            if peer.namespaces is not None:
                mask |= self._selected(peer.namespaces, None)
            elif peer.pods is not None:
                mask |= self._selected(*peer.pods)
            for block in _admin_blocks(peer, self._nodes):
                blocks.append(block)
                mask |= self._ip_masks[self._blocks.index(block)]
        action, ports = rule.action, rule.ports
        if deny_all and action != "Allow":  # fail closed: a peer we cannot read denies all
            return Rule(EVERY, (), label, (), True, "Deny", rule.index, tier, priority, direction)
        return Rule(mask, ports, label, tuple(blocks), False, action, rule.index, tier, priority, direction)

    # -- CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy ----------------------------

    def _add_cilium(self, spec: netpol_cilium.CiliumSpec) -> None:
        """Allow rules join NetworkPolicy's (they add up); deny rules go in the tier ahead of
        it; default deny isolates like a NetworkPolicy."""
        subjects = list(self.members_ids(self._cilium_pods(spec.subject, spec.namespace)))
        label = f"{spec.kind} {spec.name}"
        for direction in ("ingress", "egress"):
            rules = [(r, self._cilium_rule(r, label, spec.where)) for r in spec.rules if r.direction == direction]
            isolation = Rule(0, (), label, action="Deny", index=-1, direction=direction,
                             label=None if spec.where == "spec" else f"{spec.where}.isolation")
            self._add_rules(NETWORK_POLICY, direction, subjects,
                            [((NP_ORDER, f"cnp.{spec.name}", r.index), rule) for r, rule in rules
                             if r.action == "Allow"], isolation if spec.default_deny[direction] else None)
            self._add_rules(CILIUM_DENY, direction, subjects,
                            [((0.0, spec.name, r.index), rule) for r, rule in rules if r.action == "Deny"])

    def _cilium_rule(self, rule: netpol_cilium.CiliumRule, policy: str, where: str) -> Rule:
        peers, blocks = rule.peers, list(rule.peers.blocks)
        mask = EVERY if peers.wildcard or "all" in peers.entities else 0
        for selector, namespace in peers.endpoints:
            mask |= self._cilium_pods(selector, namespace)
        if "world" in peers.entities:
            blocks += [("0.0.0.0/0", ()), ("::/0", ())]
        if peers.entities & {"cluster", "host", "remote-node"}:
            mask |= EVERY if "cluster" in peers.entities else self._host_network_mask()
            blocks += [(address, ()) for _, addresses in self._nodes.values() for address in addresses]
        tier = NETWORK_POLICY if rule.action == "Allow" else CILIUM_DENY
        return Rule(mask, rule.ports, policy, tuple(blocks), peers.wildcard or "all" in peers.entities,
                    rule.action, rule.index, tier, None, rule.direction, f"{where}.{rule.field}[{rule.index}]")

    def _cilium_pods(self, selector: Mapping[str, Any], namespace: str | None) -> int:
        """Classes of pods (never hostNetwork ones) a Cilium selector picks, in `namespace`
        when it is pinned to one."""
        key = ("cilium:" + json.dumps(selector, sort_keys=True), namespace)
        found = self._pods_cache.get(key)
        if found is None:
            required, prefix = selector["matchLabels"], netpol_cilium.NAMESPACE_LABELS_PREFIX
            namespaces = self._namespaces_with(
                {k.removeprefix(prefix): v for k, v in required.items() if k.startswith(prefix)},
                namespace if namespace is not None else required.get(netpol_cilium.NAMESPACE_LABEL))
            found = self._pods_where(namespaces, "cilium",
                                     lambda labels: selects(selector, labels), netpol_cilium.namespace_only(selector))
            self._pods_cache[key] = found
        return found

    def _host_network_mask(self) -> int:
        return mask_from(c.id for c in self.classes if c.host_network)

    # -- Calico NetworkPolicy, GlobalNetworkPolicy -------------------------------------

    def _add_calico(self, policy: netpol_calico.CalicoPolicy) -> None:
        """A policy's rules in its tier, in order; the tier's default once it applies."""
        slot = self._calico_tier(policy.tier)
        subjects = self._calico_subjects(policy)
        for direction in ("ingress", "egress"):
            if direction not in policy.types:
                continue
            end = Rule(0, (), policy.label, action=slot.default, index=-1, tier=policy.tier, direction=direction,
                       label=f"end of tier {policy.tier}")
            self._add_rules(slot.name, direction, self.members_ids(subjects), [], end)
            for rule in policy.rules:
                if rule.direction != direction:
                    continue
                peer = rule.peer
                built = Rule(self._calico_mask(peer), rule.ports, policy.label,
                             () if peer.pods_only or peer.anything or peer.nothing else peer.blocks(),
                             peer.anything, rule.action, rule.index, policy.tier, None, direction,
                             not_ports=rule.not_ports)
                self._add_rules(slot.name, direction, self.members_ids(subjects & self._calico_mask(rule.own)),
                                [((policy.order, policy.name, rule.index), built)])

    def _calico_tier(self, name: str) -> Tier:
        """The tier a Calico policy names: one of the three every kind shares, or its own."""
        found = self._calico_tiers.get(name)
        shared = {"default": NETWORK_POLICY_TIER, "kube-admin": ADMIN_TIER, "adminnetworkpolicy": ADMIN_TIER,
                  "kube-baseline": BASELINE_TIER, "baselineadminnetworkpolicy": BASELINE_TIER}.get(name)
        if shared is not None:
            if name == "default" and found is not None and found.default_action != shared.default:
                shared = Tier(shared.name, shared.order, found.default_action)
                self._tiers = [shared if t.name == shared.name else t for t in self._tiers]
            return shared
        tier = next((t for t in self._tiers if t.name == name), None)
        if tier is None:
            order = found.order if found is not None else math.inf
            tier = Tier(name, (order, 1), found.default_action if found is not None else "Deny")
            self._tiers.append(tier)
        return tier

    def _calico_subjects(self, policy: netpol_calico.CalicoPolicy) -> int:
        scope = policy.namespace if policy.namespace is not None else policy.namespace_selector
        return self._calico_pods(scope, policy.selector, None)

    def _calico_mask(self, match: netpol_calico.EntityMatch) -> int:
        """Classes a rule's source or destination matches."""
        if match.nothing:
            return 0
        if match.anything:
            return EVERY
        mask = EVERY
        if match.pods_only:
            scope = match.namespace if match.namespace is not None else match.namespace_selector
            mask = self._calico_pods(scope, match.selector, match.not_selector)
        if match.nets is not None or match.not_nets:
            mask &= union(self._ip_masks[self._blocks.index(b)] for b in match.blocks())
        return mask

    def _calico_pods(self, scope: str | CalicoSelector | None, selector: CalicoSelector | None,
                     not_selector: CalicoSelector | None) -> int:
        """Classes of pods (never hostNetwork ones) in the scope (a namespace, the namespaces a
        namespaceSelector selects, or every namespace) that match the selector and not the
        notSelector; thousands of rules repeat a few selectors, so each is resolved once."""
        key = ("calico", type(scope).__name__, str(scope), str(selector), str(not_selector))
        found = self._pods_cache.get(key)
        if found is None:
            required = netpol_calico.required_labels(selector) if selector is not None else {}
            namespaces: Iterable[str] = self._namespaces_with(
                {k.removeprefix("pcns."): v for k, v in required.items() if k.startswith("pcns.")},
                scope if isinstance(scope, str) else required.get("projectcalico.org/namespace"))
            if isinstance(scope, CalicoSelector):  # the fewer first: `namespaces` may be every one
                namespaces = [ns for ns in self._calico_namespaces(scope) if ns in namespaces]
            found = self._pods_cache[key] = self._pods_where(
                namespaces, "calico",
                lambda labels: (selector is None or selector.matches(labels))
                and not (not_selector is not None and not_selector.matches(labels)),
                netpol_calico.namespace_only(selector, not_selector))
        return found

    def _namespaces_with(self, labels: Mapping[str, str], name: str | None = None) -> Iterable[str]:
        """The namespaces that carry these labels (and have this name), from the label index;
        every namespace when nothing is required."""
        sets = [self._namespace_index.get((k, v), set()) for k, v in labels.items()]
        if name is not None:
            sets.append({name} & self._by_namespace.keys())
        return set.intersection(*sets) if sets else self._by_namespace

    def _calico_namespaces(self, selector: CalicoSelector | None) -> list[str]:
        """The namespaces a Calico namespaceSelector selects (None: every one); the labels it
        requires narrow the candidates through the namespace label index first."""
        if selector is None:
            return list(self._by_namespace)
        required = netpol_calico.required_labels(selector)
        candidates = self._namespaces_with(required, required.pop(NAMESPACE_NAME_LABEL, None))
        return [ns for ns in candidates if selector.selects_namespace(ns, self._namespace_labels.get(ns, {}))]

    def _pods_where(self, namespaces: Iterable[str], engine: str, matches: Callable[[Mapping[str, str]], bool],
                    namespace_only: bool) -> int:
        """Classes of these namespaces (never hostNetwork ones) whose labels, as the engine sees
        a pod (its own plus its namespace's, under the engine's keys), match; a selector that
        reads only namespace labels is asked once per namespace."""
        found: list[int] = []
        for ns in namespaces:
            classes = self._by_namespace.get(ns, ())
            if namespace_only:
                view = self._namespace_views.get((engine, ns))
                if view is None:
                    view = self._namespace_views[(engine, ns)] = ENGINE_LABELS[engine](
                        ns, {}, self._namespace_labels.get(ns, {}))
                if classes and matches(view):
                    found += (cid for cid in classes if not self.classes[cid].host_network)
                continue
            for cid in classes:
                c = self.classes[cid]
                if c.host_network:
                    continue
                labels = self._engine_labels.get((engine, cid))
                if labels is None:
                    labels = self._engine_labels[(engine, cid)] = ENGINE_LABELS[engine](
                        c.namespace, c.labels, self._namespace_labels.get(c.namespace, {}))
                if matches(labels):
                    found.append(cid)
        return self._compact(mask_from(found))

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

    def verdicts(self, direction: str, cid: int) -> list[Verdict]:
        """What class `cid`'s ingress (who may reach it) or egress (what it may reach) allows,
        as disjoint groups of the classes at the other end."""
        if direction == "egress":
            found = self._verdicts.get(cid)
            if found is None:
                # an egress answer does not depend on the source beyond its rules
                rules = self.rules_key("egress", cid)
                found = self._egress.get(rules)
                if found is None:
                    found = self._egress[rules] = self._walk("egress", cid, EVERY, self._parts_by_destination)
                self._verdicts[cid] = found
            return found
        dst = self.classes[cid]
        key = (self.rules_key("ingress", cid), dst.ports)  # named ports resolve on dst
        found = self._by_rules.get(key)
        if found is None:
            found = self._walk("ingress", cid, EVERY, lambda rule: self._parts(rule, dst))
            self._by_rules.put(key, found)
        return found

    def ports(self, src: PodClass, dst: PodClass) -> PortSet:
        """What a pod of `src` may open on another pod of `dst` (pod-to-itself is always allowed)."""
        ingress = self.allowed_by("ingress", dst.id, src.id).allowed
        if not ingress:
            return NO_PORTS
        return ingress & self.allowed_by("egress", src.id, dst.id).allowed

    def allowed_by(self, direction: str, cid: int, other: int) -> Verdict:
        return verdict_for(self.verdicts(direction, cid), other)

    def address_ports(self, src: PodClass, address: ipaddress._BaseAddress) -> PortSet:
        """What a pod of `src` may open on an address outside the pods' view (a node, the
        metadata service): only rules naming addresses (ipBlock, networks, nodes) or every
        peer match it, and named ports resolve to nothing. Addresses in the same blocks of
        every rule get the same answer, so it is worked out once per rule set and blocks."""
        key = (self.rules_key("egress", src.id), self.address_signature(address))
        found = self._address_answers.get(key)
        if found is None:
            def parts(rule: Rule) -> list[tuple[int, PortSet]]:
                hit = rule.any_peer or any(in_block(address, b) for b in rule.blocks)
                return [(1, self._ports_of(rule, None))] if hit else []
            found = self._address_answers[key] = self._walk("egress", src.id, 1, parts)[0].allowed
        return found

    def address_signature(self, address: ipaddress._BaseAddress) -> tuple[bool, ...]:
        """Which of the address blocks that egress rules name hold this address."""
        found = self._address_signatures.get(address)
        if found is None:
            if self._egress_blocks is None:
                rules = {id(r): r for (_, direction), table in self._rules.items() if direction == "egress"
                         for entries in table.values() for _, r in entries}
                self._egress_blocks = list(dict.fromkeys(b for r in rules.values() for b in r.blocks))
            found = self._address_signatures[address] = tuple(in_block(address, b) for b in self._egress_blocks)
        return found

    def sources(self, dst: PodClass) -> int:
        """Bitmask of classes whose pods the destination's ingress admits on some port."""
        return union(v.mask for v in self.verdicts("ingress", dst.id) if v.allowed) & self._all

    def targets(self, src: PodClass) -> int:
        """Bitmask of classes the source's egress admits on some port."""
        return union(v.mask for v in self.verdicts("egress", src.id) if v.allowed) & self._all

    def open_ingress(self, dst: PodClass) -> bool:
        return self._open("ingress", dst.id)

    def open_egress(self, src: PodClass) -> bool:
        return self._open("egress", src.id)

    def open_to_pods(self, direction: str, cid: int) -> bool:
        """Every port of every pod class is allowed in this direction and no rule decided it
        (rules that name only addresses outside the pods, such as a wall around the metadata
        service, leave a class open to pods)."""
        key = (direction, cid)
        found = self._open_cache.get(key)
        if found is None:
            verdicts = self.verdicts(direction, cid)
            found = self._open_cache[key] = (len(verdicts) == 1 and verdicts[0].allowed == ALL_PORTS
                                             and not verdicts[0].deciders)
        return found

    def rules_key(self, direction: str, cid: int) -> tuple[Any, ...]:
        """Equal for classes under the same rules of every tier in this direction."""
        found = self._keys.get((direction, cid))
        if found is None:
            found = self._keys[(direction, cid)] = tuple(
                x for tier, rules, ends in self._slots(direction, cid)
                for x in (tier.name, tuple(id(r) for _, r in rules), None if ends is None else tuple(map(id, ends))))
        return found

    def _open(self, direction: str, cid: int) -> bool:
        """No policy of any tier applies to this class in this direction."""
        return not any(True for _ in self._slots(direction, cid))

    def _slots(self, direction: str, cid: int
               ) -> Iterator[tuple[Tier, list[tuple[RuleOrder, Rule]], list[Rule] | None]]:
        """Each tier's rules for this class, and its isolating rules (None: no policy of
        the tier isolates the class), for the tiers that have either."""
        for tier, table, applies in self._tables[direction]:
            rules = table.get(cid, [])
            ends = applies.get(cid)
            if rules or ends is not None:
                yield tier, rules, ends

    def _walk(
        self, direction: str, cid: int, universe: int, parts: Callable[[Rule], list[tuple[int, PortSet]]]
    ) -> list[Verdict]:
        cells = [_Cell(universe, ALL_PORTS, NO_PORTS)]
        for tier, rules, ends in self._slots(direction, cid):
            for _, rule in rules:
                cells = _ordered(cells, rule, parts(rule), self._none)
            cells = _merged(c.end_of_tier(tier.default if ends is not None else "Pass", tuple(ends or ()))
                            for c in cells)
        merged: dict[tuple[PortSet, tuple[Rule, ...]], Verdict] = {}
        for c in cells:
            key = (c.allowed | c.undecided, c.deciders)  # what no tier decided is allowed
            old = merged.get(key)
            merged[key] = Verdict(c.mask | (old.mask if old else 0), key[0], c.deciders)
        return list(merged.values())

    def _parts(self, rule: Rule, dst: PodClass | None) -> list[tuple[int, PortSet]]:
        return [(rule.peers, self._ports_of(rule, dst))] if rule.peers else []

    def _parts_by_destination(self, rule: Rule) -> list[tuple[int, PortSet]]:
        """An egress rule's peers grouped by the ports it allows on each: a named port means
        a different number on each destination."""
        if not rule.peers:
            return []
        if not any(s.name for s in rule.ports + rule.not_ports):
            return [(rule.peers, self._ports_of(rule, None))]
        groups: dict[PortSet, list[int]] = {}
        for c in self.members(rule.peers):
            groups.setdefault(self._ports_of(rule, c), []).append(c.id)
        return [(mask_from(ids), ports) for ports, ids in groups.items()]

    def _ports_of(self, rule: Rule, dst: PodClass | None) -> PortSet:
        if not rule.ports and not rule.not_ports:
            return ALL_PORTS
        key = (id(rule.ports), id(rule.not_ports), -1 if dst is None else dst.id)
        found = self._resolved.get(key)
        if found is None:
            ports = PortSet.of(r for s in rule.ports for r in _port_ranges(s, dst)) if rule.ports else ALL_PORTS
            found = self._resolved[key] = ports - PortSet.of(r for s in rule.not_ports for r in _port_ranges(s, dst))
        return found

    def members(self, mask: int) -> Iterator[PodClass]:
        for cid in self.members_ids(mask):
            yield self.classes[cid]

    def size(self, mask: int) -> int:
        """How many classes the mask holds."""
        return len(self.classes) - (~mask).bit_count() if mask < 0 else mask.bit_count()

    def members_ids(self, mask: int) -> Iterator[int]:
        """The classes in the mask, by id."""
        if mask < 0:
            mask &= self._all
        if mask.bit_count() <= FEW_MEMBERS:
            found = []
            while mask:
                top = mask.bit_length() - 1
                found.append(top)
                mask ^= 1 << top
            yield from reversed(found)
            return
        # One pass over the digits: peeling bits off a big integer would copy it once per member.
        digits = bin(mask)[:1:-1]
        at = digits.find("1")
        while at >= 0:
            yield at
            at = digits.find("1", at + 1)


def verdict_for(verdicts: list[Verdict], other: int) -> Verdict:
    """The verdict covering class `other` (verdicts partition every class)."""
    if len(verdicts) == 1:
        return verdicts[0]
    bit = 1 << other
    return next(v for v in verdicts if v.mask & bit)


def _split(
    cells: list[_Cell], parts: list[tuple[int, PortSet]], change: Callable[[_Cell, int, PortSet], _Cell | None],
    none: int,
) -> list[_Cell]:
    """Apply `change(cell, mask, ports)` to the classes of each part; the rest keep their cell.
    `none` is the negative mask that holds no class (see EVERY)."""
    if not parts:
        return cells
    out: list[_Cell] = []
    for cell in cells:
        rest = cell.mask
        for mask, ports in parts:
            hit = rest & mask
            if not hit or hit == none:
                continue
            changed = change(cell, hit, ports)
            if changed is None:
                continue
            rest &= ~mask
            out.append(changed)
        if rest and rest != none:
            out.append(cell if rest == cell.mask else cell.with_mask(rest))
    if len(out) == len(cells):
        return out
    return _merged(out)


def _merged(cells: Iterable[_Cell]) -> list[_Cell]:
    """Cells in the same state, as one."""
    merged: dict[tuple[PortSet, PortSet, PortSet, tuple[Rule, ...]], _Cell] = {}
    for cell in cells:
        old = merged.get(cell.key())
        merged[cell.key()] = cell if old is None else cell.with_mask(cell.mask | old.mask)
    return list(merged.values())


def _ordered(cells: list[_Cell], rule: Rule, parts: list[tuple[int, PortSet]], none: int) -> list[_Cell]:
    """The first rule of a tier matching a port decides it (a Pass hands it to the next tier)."""
    def change(cell: _Cell, mask: int, ports: PortSet) -> _Cell | None:
        matched = ports & cell.undecided
        if not matched:
            return None
        return _Cell(
            mask, cell.undecided - matched,
            cell.allowed | matched if rule.action == "Allow" else cell.allowed,
            cell.passed | matched if rule.action == "Pass" else cell.passed,
            cell.deciders if rule.action == "Pass" else cell.deciders + (rule,),
        )
    return _split(cells, parts, change, none)


def mask_from(ids: Iterable[int]) -> int:
    """The bitmask of these class ids, its bits set in a bytearray: or-ing each into an int
    would copy the growing int once per id."""
    bits = bytearray()
    for i in ids:
        if i >> 3 >= len(bits):
            bits.extend(bytes((i >> 3) + 1 - len(bits)))
        bits[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(bits, "little")


def union(masks: Iterable[int]) -> int:
    """The bitwise OR of class bitmasks."""
    found = 0
    for m in masks:
        found |= m
    return found


class _Selector:
    __slots__ = ("raw", "key")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.key = json.dumps(raw, sort_keys=True, default=str)

    def matches(self, labels: Mapping[str, str]) -> bool:
        # a malformed selector selects nothing (the API server would have refused it)
        return (self.raw is None or isinstance(self.raw, dict)) and selects(self.raw, labels)


def _np_port(port: Mapping[str, Any]) -> Iterator[PortSpec]:
    """A NetworkPolicy port: protocol TCP by default; a number, a range to endPort, a name
    (of the destination's container port with that protocol), or no port (all of them)."""
    protocol = port.get("protocol") or "TCP"
    if not isinstance(protocol, str):
        return  # the API server refuses it; a malformed port admits nothing
    wanted = port.get("port")
    if wanted is None:
        yield PortSpec(protocol)
    elif isinstance(wanted, str) and not wanted.isdigit():
        yield PortSpec(protocol, name=wanted)
    else:
        try:
            first = int(wanted)
            end = port.get("endPort")
            yield PortSpec(protocol, first, int(end) if end is not None else first)
        except (TypeError, ValueError):
            return


def _port_ranges(spec: PortSpec, dst: PodClass | None) -> Iterator[tuple[str, int, int]]:
    if spec.name is None:
        if spec.protocol is not None:
            yield spec.protocol, spec.first, spec.last
        return
    for name, number, proto in dst.ports if dst is not None else ():  # a named port means the destination's
        if name == spec.name and spec.protocol in (None, proto):
            yield proto, number, number


def is_network_policy(obj: Mapping[str, Any]) -> bool:
    """A Kubernetes NetworkPolicy (Calico's projectcalico.org kind has the same name)."""
    api = obj.get("apiVersion")
    return obj.get("kind") == "NetworkPolicy" and not (isinstance(api, str) and "projectcalico.org/" in api)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _block_key(block: Any) -> IpBlock | None:
    if not isinstance(block, Mapping) or not isinstance(block.get("cidr"), str):
        return None
    excepts = tuple(sorted(e for e in _list(block.get("except")) if isinstance(e, str)))
    return (block["cidr"], excepts)


def _admin_blocks(peer: netpol_admin.AdminPeer, nodes: Mapping[str, tuple[Mapping[str, str], Sequence[str]]]
                  ) -> Iterator[IpBlock]:
    """The address blocks a cluster-wide peer names: its networks, or its nodes' addresses."""
    for cidr in peer.networks:
        yield (cidr, ())
    if peer.nodes is not None:
        selector = _Selector(peer.nodes)
        for labels, addresses in nodes.values():
            if selector.matches(labels):
                for address in addresses:
                    yield (address, ())


def _ip_blocks(policies: Sequence[Mapping[str, Any]], admin: Sequence[netpol_admin.AdminPolicy],
               nodes: Mapping[str, tuple[Mapping[str, str], Sequence[str]]]) -> list[IpBlock]:
    blocks: dict[IpBlock, None] = {}
    for policy in policies:
        spec = policy.get("spec")
        if not is_network_policy(policy) or not isinstance(spec, Mapping):
            continue
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in _list(spec.get(direction)):
                for peer in _list(rule.get(key) if isinstance(rule, Mapping) else None):
                    block = _block_key(peer.get("ipBlock")) if isinstance(peer, Mapping) else None
                    if block is not None:
                        blocks[block] = None
    for admin_policy in admin:
        for admin_rule in admin_policy.ingress + admin_policy.egress:
            for peer in admin_rule.peers:
                blocks.update(dict.fromkeys(_admin_blocks(peer, nodes)))
    return list(blocks)


def _calico_blocks(calico: netpol_calico.CalicoRead) -> Iterator[IpBlock]:
    """The address blocks Calico rules name, for the classes' address signatures."""
    for policy in calico.policies:
        for rule in policy.rules:
            for match in (rule.peer, rule.own):
                if match.nets is not None or match.not_nets:
                    yield from match.blocks()


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
