"""Removing what a probe run created, or what an interrupted earlier run left behind.

Each pass is bounded by `ProbeOptions.cleanup_timeout`: Ctrl-C and SIGTERM are held off while
clean-up runs, so a slow or hung API must not hold the user for much longer than that. Past
the bound a pass starts no more calls (one under way ends at the API's own timeout) and names
what it did not delete; whatever is left keeps its labels, and the next run removes it.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiStatusError, ClusterError
from .manifests import CORE, JOBS, MANAGED_BY, SERVICE_ACCOUNT, TOOL, run_selector
from .options import ProbeOptions
from .plan import ProbeSpec
from .progress import Progress, ProgressUpdate
from .results import ProbeRun


def remove_leftovers(api: Any, options: ProbeOptions, notify: Progress | None = None) -> list[str]:
    """Delete what earlier runs left behind (any run id), found by the managed-by label.
    The tool's namespace itself is kept for reuse. Returns 'kind ns/name' per deletion."""
    sweep = _Sweep.starting(api, options.cleanup_timeout, [])
    sweep.labelled(f"{MANAGED_BY}={TOOL}", options.namespace)
    sweep.finish()
    if notify is not None:
        notify(ProgressUpdate("leftovers", 1, 1, f"removed {len(sweep.removed)} leftover object(s)"))
    if sweep.errors:
        raise ClusterError(f"context {api.context}: cannot remove the leftovers of an earlier probe run: "
                           f"{sweep.errors[0]}")
    return sweep.removed


def cleanup(api: Any, options: ProbeOptions, run: ProbeRun, delete_namespace: bool,
            notify: Progress | None = None) -> None:
    """Delete everything of this run; errors are recorded in run.cleanup_errors, never raised."""
    if notify is not None:
        notify(ProgressUpdate("cleanup", 0, 1, "removing probe jobs"))
    sweep = _Sweep.starting(api, options.cleanup_timeout, run.cleanup_errors)
    try:
        sweep.labelled(run_selector(run.run_id), options.namespace, planned=run.planned)
        if delete_namespace:
            sweep.delete(f"{CORE}/namespaces/{options.namespace}", f"Namespace {options.namespace}")
        sweep.finish()
    except Exception as exc:  # a dead connection must not hide the original error
        known = isinstance(exc, (ClusterError, ApiStatusError))  # already one line that says what failed
        run.cleanup_errors.append(str(exc) if known else f"{type(exc).__name__}: {exc}")
    if notify is not None:
        notify(ProgressUpdate("cleanup", 1, 1, f"removed {len(sweep.removed)} object(s)"))


@dataclass(frozen=True)
class _Sweep:
    """One clean-up pass: what it removed, the errors it met, and what it did not reach in time."""

    api: Any
    bound: float  # seconds
    deadline: float  # time.monotonic() at which the pass stops
    errors: list[str]
    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @classmethod
    def starting(cls, api: Any, bound: float, errors: list[str]) -> _Sweep:
        return cls(api, bound, time.monotonic() + bound, errors)

    def in_time(self, what: str) -> bool:
        """False, and `what` noted as left, once the bound has passed."""
        if time.monotonic() < self.deadline:
            return True
        self.left.append(what)
        return False

    def finish(self) -> None:
        if self.left:
            more = f" and {len(self.left) - 3} more" if len(self.left) > 3 else ""
            self.errors.append(f"clean-up stopped after {self.bound:g}s, not deleted: "
                               f"{', '.join(self.left[:3])}{more}"[:300])

    def labelled(self, selector: str, tool_namespace: str, planned: Sequence[ProbeSpec] = ()) -> None:
        """Jobs, their pods and target ConfigMaps, and the tool's ServiceAccount."""
        jobs = self.listed(f"{JOBS}/jobs", selector, "Jobs")
        configmaps: set[tuple[str | None, str]] = {(s.namespace, s.job) for s in planned if s.kind == "reach"}
        for job in jobs:
            meta: dict[str, Any] = job.get("metadata") or {}
            ns, name = meta.get("namespace"), meta.get("name")
            for volume in ((job.get("spec") or {}).get("template") or {}).get("spec", {}).get("volumes") or ():
                cm = (volume.get("configMap") or {}).get("name") if isinstance(volume, dict) else None
                if cm:
                    configmaps.add((ns, cm))
            # Background: the Job goes now, its pods with the garbage collector (and below)
            self.delete(f"{JOBS}/namespaces/{ns}/jobs/{name}", f"Job {ns}/{name}", propagationPolicy="Background")
        for pod in self.listed(f"{CORE}/pods", selector, "Pods"):
            meta = pod.get("metadata") or {}
            ns, name = meta.get("namespace"), meta.get("name")
            self.delete(f"{CORE}/namespaces/{ns}/pods/{name}", f"Pod {ns}/{name}", gracePeriodSeconds=0)
        for ns, name in sorted(configmaps):
            self.delete(f"{CORE}/namespaces/{ns}/configmaps/{name}", f"ConfigMap {ns}/{name}")
        account = f"{CORE}/namespaces/{tool_namespace}/serviceaccounts/{SERVICE_ACCOUNT}"
        what = f"ServiceAccount {tool_namespace}/{SERVICE_ACCOUNT}"
        if not self.in_time(f"{what} (if there)"):
            return
        try:
            found = self.api.get(account)
        except ApiStatusError as exc:
            found = None
            if exc.status not in (403, 404):
                self.errors.append(f"{what}: {exc.reason}: {exc.message}"[:300])
        if found and ((found.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == TOOL:
            self.delete(account, what)

    def listed(self, path: str, selector: str, what: str) -> list[dict]:
        if not self.in_time(f"{what} labelled {selector} (not listed)"):
            return []
        return (self.api.get(path, labelSelector=selector) or {}).get("items") or []

    def delete(self, path: str, what: str, **query: Any) -> None:
        if not self.in_time(what):
            return
        try:
            self.api.delete(path, **query)
            self.removed.append(what)
        except ApiStatusError as exc:
            if exc.status == 404:
                return
            if exc.status == 409 or (exc.status == 403 and "being terminated" in exc.message):
                return  # already going away with its namespace
            self.errors.append(f"{what}: {exc.reason}: {exc.message}"[:300])
