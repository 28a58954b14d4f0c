"""Which network plugin the cluster runs, and whether it enforces network policy at all.

Read from what the plugin runs (DaemonSets and Pods, by name and image), what it writes on
Nodes (annotations) and the CustomResourceDefinitions it installs. A conclusion is drawn only
where documentation states it: flannel alone implements no policy of any kind; Cilium's and
Calico's own policy kinds are implemented by Cilium and Calico alone; Cilium does not
implement the cluster-wide kinds of policy.networking.k8s.io. Beyond that, what an engine
enforces varies with its version and settings, so nothing is concluded (the report names the
engine; a probe run tells what the wire does).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    markers: tuple[str, ...]  # substrings of a DaemonSet/Pod name or image that give it away
    annotations: tuple[str, ...] = ()  # Node annotation keys it writes
    enforces_none: bool = False  # documented to implement no network policy
    crd_groups: tuple[str, ...] = ()  # API groups of the CustomResourceDefinitions it installs


# Flannel: "Flannel is focused on networking. For network policy, other projects such as
# Calico can be used" (https://github.com/flannel-io/flannel#networking-details). Canal is
# flannel plus Calico's policy engine, which the calico-node marker finds.
ENGINES = (
    Engine("calico", ("calico-node", "calico/node"), ("projectcalico.org/IPv4Address",),
           crd_groups=("crd.projectcalico.org",)),
    Engine("cilium", ("cilium-agent", "cilium/cilium", "/cilium:"), ("io.cilium.network.ipv4-pod-cidr",),
           crd_groups=("cilium.io",)),
    Engine("antrea", ("antrea-agent", "antrea/antrea"), crd_groups=("crd.antrea.io",)),
    Engine("ovn-kubernetes", ("ovnkube-node", "ovn-kubernetes"), crd_groups=("k8s.ovn.org",)),
    # the SIG Network implementation of NetworkPolicy and the cluster-wide kinds, beside any plugin
    Engine("kube-network-policies", ("kube-network-policies",)),
    Engine("kube-router", ("kube-router",), ("kube-router.io/pod-cidr",)),
    Engine("weave", ("weave-net", "weaveworks/weave-npc")),
    Engine("flannel", ("kube-flannel", "flannel/flannel", "flannel-io/flannel"),
           ("flannel.alpha.coreos.com/backend-type",), enforces_none=True),
)


@dataclass(frozen=True, slots=True)
class Detected:
    engines: tuple[Engine, ...]  # empty: unknown
    evidence: tuple[str, ...]  # what gave each away

    @property
    def known(self) -> bool:
        return bool(self.engines)

    @property
    def enforces_none(self) -> bool:
        """Known to enforce no policy: every engine found is documented to implement none."""
        return self.known and all(e.enforces_none for e in self.engines)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.engines]

    def ignores(self, kind: PolicyKind) -> bool:
        """Known to leave this kind of policy unenforced: no engine found implements it."""
        return self.known and all(e.enforces_none or (kind.only and e.name not in kind.only) or e.name in kind.not_by
                                  for e in self.engines)


@dataclass(frozen=True, slots=True)
class PolicyKind:
    group: str
    kind: str
    only: tuple[str, ...] = ()  # the engines implementing it (their own kind): every other ignores it
    not_by: tuple[str, ...] = ()  # engines documented not to implement it; of the others nothing is known

    @property
    def label(self) -> str:
        return f"{self.kind} ({self.group})"


# AdminNetworkPolicy and BaselineAdminNetworkPolicy are implemented by Antrea (since 1.13,
# https://antrea.io/docs/main/docs/admin-network-policy/), OVN-Kubernetes, Calico (its
# `adminnetworkpolicy` tier, now `kube-admin` for ClusterNetworkPolicy) and
# kube-network-policies; Cilium's support is an open feature request
# (https://github.com/cilium/cilium/issues/23380).
CLUSTER_WIDE = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy")
POLICY_KINDS: tuple[PolicyKind, ...] = (
    PolicyKind("networking.k8s.io", "NetworkPolicy"),
    *(PolicyKind("policy.networking.k8s.io", k, not_by=("cilium",)) for k in CLUSTER_WIDE),
    PolicyKind("cilium.io", "CiliumNetworkPolicy", only=("cilium",)),
    PolicyKind("cilium.io", "CiliumClusterwideNetworkPolicy", only=("cilium",)),
    *(PolicyKind(group, k, only=("calico",)) for group in ("projectcalico.org", "crd.projectcalico.org")
      for k in ("NetworkPolicy", "GlobalNetworkPolicy")),
)
_BY_GROUP_KIND = {(k.group, k.kind): k for k in POLICY_KINDS}


def policy_kind(api_version: str, kind: str) -> PolicyKind | None:
    """The network policy kind of an object (by its apiVersion's group and kind), if it is one."""
    group = api_version.rpartition("/")[0]
    return _BY_GROUP_KIND.get((group, kind))


def detect(workloads: Iterable[tuple[str, str, Iterable[str]]],
           node_annotations: Iterable[Mapping[str, str]], crds: Iterable[tuple[str, str]] = ()) -> Detected:
    """`workloads`: (kind, name, images) of DaemonSets and Pods; `node_annotations`: per Node;
    `crds`: (name, group) of CustomResourceDefinitions."""
    found: dict[str, str] = {}
    for kind, name, images in workloads:
        for engine in ENGINES:
            if engine.name in found:
                continue
            for text in (name, *images):
                if any(marker in text for marker in engine.markers):
                    found[engine.name] = f"{kind} {name}"
                    break
    for on_node in node_annotations:
        for engine in ENGINES:
            if engine.name not in found and any(key in on_node for key in engine.annotations):
                found[engine.name] = "Node annotation " + next(k for k in engine.annotations if k in on_node)
    for name, group in crds:
        for engine in ENGINES:
            if engine.name not in found and group in engine.crd_groups:
                found[engine.name] = f"CustomResourceDefinition {name}"
    # flannel beside a policy engine (Canal, or Cilium chained on flannel) is only the data path
    if "flannel" in found and len(found) > 1:
        del found["flannel"]
    engines = tuple(e for e in ENGINES if e.name in found)
    return Detected(engines, tuple(f"{e.name}: {found[e.name]}" for e in engines))
