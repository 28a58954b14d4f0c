"""The interface of analysis plugins: Python checks for what a JSON Schema cannot say.

A plugin is registered in the entry-point group `k8s_isolation_audit.checks` under the
name its rules use in `analysis:` (the engine provides `waivers` itself). It declares, as
class attributes, the checks it offers (`checks`: name -> `Check`, chosen by a rule's
`params.check`) and the report sections it fills (`sections`: name -> `Section`). Packs are
validated against these declarations when they load. The engine calls `run` once with every
active rule that names the plugin; the plugin returns hits for those rules and the values
of its sections.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from .model import Finding, Inventory, Resource, Rule
from .tenancy import Tenancy
from .workloads import PodView

if TYPE_CHECKING:
    from .config import Config

T = TypeVar("T")

# A check that takes no params besides `check` itself.
NO_PARAMS: Mapping[str, Any] = {"type": "object", "additionalProperties": False}


WORKLOADS = "(workloads)"


@dataclass(frozen=True, slots=True)
class Check:
    """One behaviour a plugin offers to rules, chosen by `params: {check: NAME, ...}`."""

    params: Mapping[str, Any] = field(default_factory=lambda: NO_PARAMS)  # JSON Schema of the other params
    needs_probe: bool = False  # can find something only when probe results joined the audit
    waivable: bool = True  # False for findings about waivers themselves
    # The kinds of object the check evaluates (WORKLOADS: any audited workload, whatever its
    # kind): with none in the inventory its rules have no evidence either way (their controls
    # are not assessed). None: it always has input.
    reads: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """A report section a plugin fills (`nodes`, `placement`, ...)."""

    empty: Any  # its value when the plugin ran no rule
    # what the section becomes once the audit's findings are known (e.g. counts per node)
    finish: Callable[[Any, Sequence[Finding]], Any] | None = None


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
    """What one audit gives its plugins, and what they compute once and share."""

    inventory: Inventory
    tenancy: Tenancy
    workloads: Sequence[PodView]
    config: Config
    today: date

    by_kind: Mapping[str, tuple[Resource, ...]] = field(init=False, repr=False)
    _in_namespace: Mapping[str, Resource] = field(init=False, repr=False)
    _shared: dict[Callable[..., Any], Any] = field(init=False, repr=False)

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
        object.__setattr__(self, "_shared", {})

    @property
    def settings(self) -> Mapping[str, Mapping[str, Any]]:
        """The config's sections for plugins, by name (`substrate`, `placement`, ...)."""
        return self.config.analyses

    def shared(self, compute: Callable[[AnalysisContext], T]) -> T:
        """`compute(self)`, computed once per audit for every plugin that asks for it."""
        if compute not in self._shared:
            self._shared[compute] = compute(self)
        computed: T = self._shared[compute]
        return computed

    def release(self) -> None:
        """Drop what was shared, at the end of the audit. Some of it holds the context (a
        scene of the RBAC checks), a cycle that would outlive the audit, and hold every
        workload view with it, while the cyclic collector is off for the scan."""
        self._shared.clear()

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
    """A plugin: `checks` it offers; optionally `sections: Mapping[str, Section]` it fills."""

    checks: ClassVar[Mapping[str, Check]]

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult: ...
