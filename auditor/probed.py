"""Which audited workload and container a probe report is about.

A probe report names its pod; the pod belongs to the top-level workload the engine audits
(the Pod itself when it is in the inventory, else by the names controllers give their
pods: `<deployment>-<hash>-<hash>`, `<statefulset>-<ordinal>`).
"""
from __future__ import annotations

from collections.abc import Sequence

from .model import Fact
from .workloads import ContainerView, PodView


def probed_workload(workloads: Sequence[PodView], fact: Fact) -> PodView | None:
    if not fact.pod or not fact.namespace:
        return None
    candidates = [v for v in workloads if v.resource.namespace == fact.namespace]
    exact = next((v for v in candidates if v.resource.kind == "Pod" and v.resource.name == fact.pod), None)
    if exact is not None:
        return exact
    # The Pod object is absent or owned by an audited controller: the longest name prefix wins.
    owners = [v for v in candidates if fact.pod.startswith(v.resource.name + "-")]
    return max(owners, key=lambda v: len(v.resource.name), default=None)


def probed_container(view: PodView, fact: Fact) -> ContainerView | None:
    """The container the probe ran as: the one its report names, else the pod's only one."""
    containers = [c for c in view.containers() if c.type == "container"]
    wanted = fact.report.get("probe", {}).get("container")
    if wanted:
        return next((c for c in view.containers() if c.name == wanted), None)
    return containers[0] if len(containers) == 1 else None
