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

    def __post_init__(self) -> None:
        grouped: dict[str, list[Resource]] = {}
        for r in self.inventory.resources:
            grouped.setdefault(r.kind, []).append(r)
        object.__setattr__(self, "by_kind", {k: tuple(v) for k, v in grouped.items()})

    def of_kind(self, kind: str) -> tuple[Resource, ...]:
        return self.by_kind.get(kind, ())


class Analysis(Protocol):
    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult: ...
