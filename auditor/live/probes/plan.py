"""Which probes a run starts, and what each reach probe targets: pure, so it is unit-tested."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ...model import Resource
from ...tenancy import TenancyConfig, resolve_tenancy
from .options import ProbeOptions


@dataclass(frozen=True)
class ProbeSpec:
    """One probe Job to run."""

    probe_id: str  # node-<node> | reach-<namespace>
    kind: str  # node | reach
    namespace: str  # where the Job runs
    job: str
    node: str | None = None
    targets: tuple[Mapping[str, Any], ...] = ()


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def plan_probes(resources: Iterable[Resource], run_id: str, options: ProbeOptions = ProbeOptions(),
                tenancy: TenancyConfig | None = None) -> list[ProbeSpec]:
    """The Jobs a run creates, from Nodes, Namespaces and Pods: pure, so it is unit-tested."""
    resources = list(resources)
    specs: list[ProbeSpec] = []
    if options.node_probes:
        nodes = sorted({r.name for r in resources if r.kind == "Node"})
        if options.nodes is not None:
            wanted = set(options.nodes)
            nodes = [n for n in nodes if n in wanted]
        for i, node in enumerate(nodes):
            specs.append(ProbeSpec(f"node-{node}", "node", options.namespace, f"ia-{run_id}-node-{i}", node=node))
    if options.reach_probes:
        config = tenancy or TenancyConfig()
        platform = tuple(config.platform_namespaces) + (options.namespace,)
        resolved = resolve_tenancy(resources, replace(config, platform_namespaces=platform))
        terminating = {r.name for r in resources if r.kind == "Namespace"
                       and ((r.obj.get("status") or {}).get("phase") == "Terminating"
                            or (r.metadata.get("deletionTimestamp")))}
        sources = sorted(ns for ns, tenant in resolved.by_namespace.items()
                         if tenant is not None and ns not in terminating)
        if options.namespaces is not None:
            wanted = set(options.namespaces)
            sources = [ns for ns in sources if ns in wanted]
        classes = _target_classes(resources, resolved)
        for ns in sources:
            tenant = resolved.tenant_of(ns)
            targets = _pick(classes, tenant, options.max_targets)
            if targets:
                specs.append(ProbeSpec(f"reach-{ns}", "reach", ns, f"ia-{run_id}-reach", targets=tuple(targets)))
    return specs


def _target_classes(resources: list[Resource], tenancy) -> dict[str, list[dict]]:
    """tenant -> targets: one per (namespace, pod labels, port, protocol), the first pod by name.
    Pods with the same labels in one namespace are selected alike by every NetworkPolicy."""
    seen: set[tuple] = set()
    by_tenant: dict[str, list[dict]] = {}
    pods = sorted((r for r in resources if r.kind == "Pod" and r.namespace), key=lambda r: (r.namespace, r.name))
    for pod in pods:
        tenant = tenancy.tenant_of(pod.namespace)
        if tenant is None:
            continue
        status = pod.obj.get("status") or {}
        spec = pod.obj.get("spec") or {}
        ip = status.get("podIP")
        if (
            not isinstance(ip, str)
            or not ip
            or spec.get("hostNetwork")
            or status.get("phase") in ("Succeeded", "Failed")
        ):
            continue
        labels = tuple(sorted((str(k), str(v)) for k, v in pod.labels.items()
                              if k not in ("pod-template-hash", "controller-revision-hash",
                                           "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index")))
        for port, protocol in _ports(spec):
            key = (pod.namespace, labels, port, protocol)
            if key in seen:
                continue
            seen.add(key)
            by_tenant.setdefault(tenant, []).append({"tenant": tenant, "address": ip, "port": port,
                                                     "protocol": protocol, "namespace": pod.namespace,
                                                     "pod": pod.name})
    return by_tenant


def _ports(spec: Mapping[str, Any]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for container in spec.get("containers") or ():
        if not isinstance(container, dict):
            continue
        for port in container.get("ports") or ():
            if not isinstance(port, dict):
                continue
            number, protocol = port.get("containerPort"), port.get("protocol") or "TCP"
            if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 65535 \
                    and protocol in ("TCP", "UDP") and (number, protocol) not in found:
                found.append((number, protocol))
    return found


def _pick(classes: dict[str, list[dict]], own: str | None, limit: int) -> list[dict]:
    """Other tenants' targets, round-robin across tenants so a cap never drops a whole tenant."""
    queues = [list(targets) for tenant, targets in sorted(classes.items()) if tenant != own]
    picked: list[dict] = []
    while queues and len(picked) < limit:
        for queue in list(queues):
            if len(picked) >= limit:
                break
            picked.append(queue.pop(0))
            if not queue:
                queues.remove(queue)
    return picked
