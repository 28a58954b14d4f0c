"""The interface of analysis plugins: Python checks for what a JSON Schema cannot say.

A plugin is registered in the entry-point group `k8s_isolation_audit.checks` under the
name its rules use in `analysis:`. The engine calls `run` once with every active rule that
names the plugin; the plugin returns hits for those rules and, optionally, report sections
(`nodes`, `placement`, `reachability`) it owns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping, Protocol, Sequence

from .model import Inventory, Resource, Rule
from .tenancy import Tenancy
from .workloads import PodView


@dataclass(frozen=True, slots=True)
class Hit:
    rule_id: str
    resource: Resource
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    pointer: str = ""  # inside resource.obj, for the finding's line
    container: str | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    hits: tuple[Hit, ...] = ()
    sections: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnalysisContext:
    inventory: Inventory
    tenancy: Tenancy
    workloads: Sequence[PodView]
    settings: Mapping[str, Any]  # the config's section for plugins, by plugin name
    today: date

    by_kind: Mapping[str, tuple[Resource, ...]] = field(init=False, repr=False)
    _in_namespace: Mapping[str, Resource] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Resource]] = {}
        for r in self.inventory.resources:
            grouped.setdefault(r.kind, []).append(r)
        object.__setattr__(self, "by_kind", {k: tuple(v) for k, v in grouped.items()})
        # What stands for a namespace in findings: its object, else its first workload, else
        # anything in it (manifest repositories often omit the Namespace).
        first: dict[str, Resource] = {}
        for r in self.inventory.resources:
            if r.namespace:
                first.setdefault(r.namespace, r)
        first.update({v.resource.namespace: v.resource for v in reversed(self.workloads) if v.resource.namespace})
        first.update({r.name: r for r in self.of_kind("Namespace")})
        object.__setattr__(self, "_in_namespace", first)

    def of_kind(self, kind: str) -> tuple[Resource, ...]:
        return self.by_kind.get(kind, ())

    def knows_namespace(self, namespace: str) -> bool:
        return namespace in self._in_namespace

    def namespace_subject(self, namespace: str) -> Resource:
        """The Namespace object, or one standing in for it at a workload's origin."""
        found = self._in_namespace[namespace]
        if found.kind == "Namespace" and found.namespace is None:
            return found
        return Resource("Namespace", "v1", None, namespace, {"metadata": {"name": namespace}}, found.origin)


class Analysis(Protocol):
    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult: ...
