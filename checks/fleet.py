"""What the node-level analyses share: node substrates, where pods run, which run sandboxed."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.analysis import AnalysisContext
from auditor.model import Fact, Resource
from auditor.substrate import Override, Substrate, classify
from auditor.workloads import PodView, items, pod_view

# RuntimeClass handlers that run the pod under its own kernel (or a user-space one).
SANDBOX_HANDLERS = ("kata", "kata-qemu", "kata-clh", "kata-fc", "kata-dragonball", "kata-stratovirt", "runsc",
                    "gvisor", "firecracker", "fc", "kata-runtime")


@dataclass(frozen=True, slots=True)
class Placement:
    """One pod (or a workload pinned by nodeName) and the kernel it runs on."""

    pod: PodView
    workload: Resource  # the top-level workload the engine audits
    node: str
    tenant: str | None
    sandbox: str | None  # the RuntimeClass handler when it gives the pod its own kernel


@dataclass(frozen=True, slots=True)
class Fleet:
    substrates: Mapping[str, Substrate]
    nodes: Mapping[str, Resource]
    placements: tuple[Placement, ...]
    facts_by_node: Mapping[str, tuple[Fact, ...]]

    by_node: Mapping[str, tuple[Placement, ...]] = field(init=False, repr=False)
    by_workload: Mapping[tuple[str, str, str], tuple[Placement, ...]] = field(init=False, repr=False)
    memo: dict[Any, Any] = field(init=False, repr=False)  # per-node summaries the analyses derive once

    def __post_init__(self) -> None:
        nodes: dict[str, list[Placement]] = {}
        workloads: dict[tuple[str, str, str], list[Placement]] = {}
        for p in self.placements:
            nodes.setdefault(p.node, []).append(p)
            workloads.setdefault(p.workload.key, []).append(p)
        object.__setattr__(self, "by_node", {k: tuple(v) for k, v in nodes.items()})
        object.__setattr__(self, "by_workload", {k: tuple(v) for k, v in workloads.items()})
        object.__setattr__(self, "memo", {})

    def on(self, node: str) -> tuple[Placement, ...]:
        return self.by_node.get(node, ())


def fleet(ctx: AnalysisContext) -> Fleet:
    """The audit's fleet, computed once for every node analysis (kernel domains, placement)."""
    return ctx.shared(_fleet)


def _fleet(ctx: AnalysisContext) -> Fleet:
    settings = ctx.settings.get("substrate", {})
    overrides = [
        Override(o.get("selector", {}), o["substrate"], o.get("vm_class")) for o in settings.get("overrides", ())
    ]
    facts_by_node: dict[str, list[Fact]] = {}
    for fact in ctx.inventory.facts:
        # Only a probe on the node itself fingerprints it: a pod's probe may run inside a
        # sandbox VM (Kata) whose hypervisor is not the node's.
        if fact.node and fact.pod is None:
            facts_by_node.setdefault(fact.node, []).append(fact)
    nodes = {r.name: r for r in ctx.of_kind("Node")}
    substrates = {
        name: classify(node, facts_by_node.get(name, ()), overrides, settings.get("vm_class", "shared-vm"))
        for name, node in nodes.items()
    }
    return Fleet(substrates, nodes, tuple(_placements(ctx)), {k: tuple(v) for k, v in facts_by_node.items()})


def _placements(ctx: AnalysisContext) -> list[Placement]:
    handlers = _runtime_handlers(ctx)
    sandbox_handlers = set(ctx.settings.get("placement", {}).get("sandbox_handlers", SANDBOX_HANDLERS))
    by_namespace: dict[str, list[PodView]] = {}
    for view in ctx.workloads:
        by_namespace.setdefault(view.resource.namespace or "", []).append(view)
    found: list[Placement] = []
    seen: set[tuple[str, str]] = set()
    for resource in ctx.of_kind("Pod"):
        pod = pod_view(resource)
        if pod is None or pod.node_name is None:
            continue
        seen.add((resource.namespace or "", resource.name))
        found.append(_placement(ctx, pod, _owner(resource, by_namespace), handlers, sandbox_handlers))
    for view in ctx.workloads:  # a workload pinned by nodeName with no Pod object in the dump
        key = (view.resource.namespace or "", view.resource.name)
        if view.node_name and key not in seen and view.resource.kind != "Pod":
            found.append(_placement(ctx, view, view.resource, handlers, sandbox_handlers))
    return found


def _placement(ctx, view: PodView, workload: Resource, handlers, sandbox_handlers) -> Placement:
    runtime_class = view.spec.get("runtimeClassName")
    handler = handlers.get(runtime_class) if isinstance(runtime_class, str) else None
    sandbox = handler if handler is not None and _is_sandbox(handler, sandbox_handlers) else None
    assert view.node_name is not None
    return Placement(view, workload, view.node_name, ctx.tenancy.tenant_of(view.resource.namespace), sandbox)


def _is_sandbox(handler: str, sandbox_handlers: set[str]) -> bool:
    return handler in sandbox_handlers or handler.startswith(("kata", "runsc", "gvisor"))


def _runtime_handlers(ctx: AnalysisContext) -> dict[str, str]:
    handlers = {}
    for rc in ctx.of_kind("RuntimeClass"):
        handler = rc.obj.get("handler")
        if isinstance(handler, str):
            handlers[rc.name] = handler
    return handlers


def _owner(pod: Resource, by_namespace: Mapping[str, list[PodView]]) -> Resource:
    """The audited workload of a pod: itself when audited, else by the names controllers give."""
    views = by_namespace.get(pod.namespace or "", [])
    if any(v.resource is pod for v in views):
        return pod
    candidates = [v.resource for v in views if pod.name.startswith(v.resource.name + "-")]
    return max(candidates, key=lambda r: len(r.name), default=pod)


def escape_grade(view: PodView) -> list[str]:
    """What makes a pod one escape away from its node (for 'privileged neighbour' checks)."""
    spec = view.spec
    reasons = []
    if spec.get("hostPID") is True:
        reasons.append("hostPID")
    for c in view.containers():
        context = c.target["_effectiveSecurityContext"]
        if context.get("privileged") is True:
            reasons.append(f"privileged container {c.name}")
    for volume in items(spec.get("volumes")):
        if isinstance(volume, dict) and isinstance(volume.get("hostPath"), dict):
            reasons.append(f"hostPath {volume['hostPath'].get('path')}")
    return reasons


def annotation(view: PodView, workload: Resource, key: str) -> Any:
    """The pod template's annotation wins over the workload object's."""
    for meta in (view.metadata, workload.metadata):
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and key in annotations:
            return annotations[key]
    return None
