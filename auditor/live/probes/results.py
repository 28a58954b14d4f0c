"""What a probe run returns: the reports it read, the probes that did not run and why, and
what its clean-up could not remove; and how all that joins an Inventory."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ...model import Fact, Inventory, Origin, Skipped
from .manifests import RUN_ID
from .plan import ProbeSpec


@dataclass(frozen=True)
class ProbeResult:
    probe_id: str
    kind: str
    namespace: str
    pod: str
    node: str | None
    report: Mapping[str, Any] = field(repr=False)
    pod_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NotRun:
    probe_id: str
    reason: str


@dataclass
class ProbeRun:
    """One run, filled in as it goes (so not frozen): the clean-up still sees what was planned
    when the run is cut short."""

    run_id: str
    context: str
    namespace: str
    planned: list[ProbeSpec] = field(default_factory=list)
    results: list[ProbeResult] = field(default_factory=list)
    not_run: list[NotRun] = field(default_factory=list)
    leftovers_removed: list[str] = field(default_factory=list)
    cleanup_errors: list[str] = field(default_factory=list)

    def facts(self) -> tuple[Fact, ...]:
        return tuple(self._fact(r) for r in self.results)

    def _fact(self, r: ProbeResult) -> Fact:
        probe = r.report.get("probe") or {}
        node = probe.get("node") or r.node
        if r.kind == "node":  # about the node: the pod it ran in is the tool's, in no tenant
            return Fact(probe_id=r.probe_id, node=node, namespace=None, pod=None, report=r.report,
                        origin=Origin(cluster=self.context))
        return Fact(probe_id=r.probe_id, node=node, namespace=probe.get("namespace") or r.namespace,
                    pod=probe.get("pod") or r.pod, report=r.report, origin=Origin(cluster=self.context),
                    pod_labels=dict(r.pod_labels))

    def skipped(self) -> tuple[Skipped, ...]:
        """Probes that did not run, for the report's coverage ("probes not run: ..."), and a
        clean-up that failed (the objects it could not delete are still in the cluster)."""
        found = tuple(Skipped(f"probe {n.probe_id}", f"not run: {n.reason}") for n in self.not_run)
        if self.cleanup_errors:
            found += (Skipped("probe clean-up", self.cleanup_note()),)
        return found

    def cleanup_note(self) -> str:
        more = f" (and {len(self.cleanup_errors) - 1} more)" if len(self.cleanup_errors) > 1 else ""
        return (f"clean-up incomplete: {self.cleanup_errors[0][:300]}{more}; what is left is labelled "
                f"{RUN_ID}={self.run_id} and the next --probe run removes it")

    def join(self, inventory: Inventory) -> Inventory:
        """`inventory` with the probe facts, the probes that did not run and a failed clean-up."""
        return replace(inventory, facts=inventory.facts + self.facts(),
                       skipped=inventory.skipped + self.skipped(),
                       inputs=inventory.inputs + tuple(f"probe {r.probe_id}" for r in self.results))
