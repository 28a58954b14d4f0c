"""One `scan --publish` cycle around the audit: read the previous state, add the drift
section, then apply the policy reports and write the new state (in that order: a run whose
reports could not be applied leaves the previous state, so the next run's drift still
compares with the last published run)."""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..live.errors import ClusterError
from ..live.transport import Api, connect_one
from ..model import Report, Rule, Skipped
from . import drift
from .publish import Published, PublishError, owner_references, publish_reports
from .state import Location, StateError, previous_state, read_configmap, write_configmap

DEFAULT_NAME = "k8s-isolation-audit-state"
FALLBACK_NAMESPACE = "isolation-audit"
POD_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def default_namespace(path: str = POD_NAMESPACE_FILE) -> str:
    """The pod's own namespace (the projected downward API file), else the chart's default."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(254).strip()
    except (OSError, UnicodeDecodeError):
        return FALLBACK_NAMESPACE
    return text or FALLBACK_NAMESPACE


@dataclass(frozen=True)
class Previous:
    configmap: Mapping[str, Any] | None  # as read: its resourceVersion guards the write
    state: drift.RunState | None
    problem: str | None  # why the previous state could not be used (one line, no values)


def read_previous(api: Api, where: Location) -> Previous:
    configmap = None
    try:
        configmap = read_configmap(api, where)
        return Previous(configmap, previous_state(configmap, where), None)
    except (StateError, ClusterError) as exc:  # ClusterError: no answer, or one that is not JSON
        return Previous(configmap, None, str(exc).removeprefix(f"{where}: "))


def with_drift(report: Report, previous: Previous, where: Location, finished: float) -> Report:
    """The report with its `drift` section. An unreadable previous state makes the drift
    unknown and the run partial (it is overwritten by this run's state, so the next run compares again)."""
    current = drift.run_state(report, finished)
    if previous.problem is None:
        return replace(report, sections={**report.sections, "drift": drift.drift(previous.state, current)})
    reason = f"previous state unreadable, drift unknown: {previous.problem}"
    coverage = replace(report.coverage, skipped=(*report.coverage.skipped, Skipped(str(where), reason)))
    return replace(report, coverage=coverage, sections={**report.sections, "drift": drift.unknown(previous.problem)})


def publish(api: Api, report: Report, rules: Iterable[Rule], api_version: str, where: Location,
            previous: Previous, started: float, finished: float,
            owners: Sequence[Mapping[str, str]] = ()) -> Published:
    """Raises PublishError or StateError (one line each). `owners`: ownerReferences every
    object written carries (see publish.owner_references)."""
    from ..reports.prometheus import render

    published = publish_reports(api, report, rules, api_version, finished, owners)
    write_configmap(api, where, previous.configmap, drift.run_state(report, finished),
                    render(report, started=started, finished=finished), owners)
    return published


class CycleError(Exception):
    """One line: what the cycle could not do (the CLI's usage error)."""


class Cycle:
    """`scan --publish` around one audit. Connected, and the owner looked up, before the scan:
    a wrong context or owner fails the run before it writes anything."""

    def __init__(self, kubeconfig: str | None, context: str | None, timeout: float, where: Location,
                 owner: str | None, api_version: str) -> None:
        self.where, self.api_version = where, api_version
        try:
            self.api = connect_one(kubeconfig, context, timeout)
        except ClusterError as exc:
            raise CycleError(str(exc)) from None
        try:
            self.owners = owner_references(self.api, owner) if owner else ()
        except PublishError as exc:
            self.api.close()
            raise CycleError(f"publish: {exc}") from None

    def with_drift(self, report: Report) -> Report:
        self.finished = time.time()
        self.previous = read_previous(self.api, self.where)
        return with_drift(report, self.previous, self.where, self.finished)

    def publish(self, report: Report, rules: Iterable[Rule], started: float) -> str:
        """The reports and the state written; the line saying so."""
        try:
            done = publish(self.api, report, rules, self.api_version, self.where, self.previous, started,
                           self.finished, self.owners)
        except (PublishError, StateError, ClusterError) as exc:
            raise CycleError(f"publish: {exc}") from None
        finally:
            self.api.close()
        gone = f", {done.gone} not written: namespace being deleted" if done.gone else ""
        return (f"published policy reports ({done.created} created, {done.updated} replaced, {done.deleted} stale "
                f"deleted{gone}) and the state in {self.where}")
