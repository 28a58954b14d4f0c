"""Which network plugin the cluster runs, and whether it enforces network policy at all.

Read from what the plugin runs (DaemonSets and Pods, by name and image) and what it writes on
Nodes (annotations). A conclusion is drawn only where the plugin's documentation states it:
flannel alone implements no policy of any kind. Which policy kinds the other engines enforce
varies with their versions and settings, so for them nothing is concluded (the report names
the engine; a probe run tells what the wire does).
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


# Flannel: "Flannel is focused on networking. For network policy, other projects such as
# Calico can be used" (https://github.com/flannel-io/flannel#networking-details). Canal is
# flannel plus Calico's policy engine, which the calico-node marker finds.
ENGINES = (
    Engine("calico", ("calico-node", "calico/node"), ("projectcalico.org/IPv4Address",)),
    Engine("cilium", ("cilium-agent", "cilium/cilium", "/cilium:"), ("io.cilium.network.ipv4-pod-cidr",)),
    Engine("antrea", ("antrea-agent", "antrea/antrea")),
    Engine("ovn-kubernetes", ("ovnkube-node", "ovn-kubernetes")),
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


def detect(workloads: Iterable[tuple[str, str, Iterable[str]]],
           node_annotations: Iterable[Mapping[str, str]]) -> Detected:
    """`workloads`: (kind, name, images) of DaemonSets and Pods; `node_annotations`: per Node."""
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
    # flannel beside a policy engine (Canal, or Cilium chained on flannel) is only the data path
    if "flannel" in found and len(found) > 1:
        del found["flannel"]
    engines = tuple(e for e in ENGINES if e.name in found)
    return Detected(engines, tuple(f"{e.name}: {found[e.name]}" for e in engines))
