"""The data model: frozen dataclasses shared by sources, the engine and renderers.

Raw Kubernetes objects are kept as the plain dicts the loader produced. They are treated as
read-only by every consumer; deep-freezing them would double the cost of a large snapshot.
"""
from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Location:
    path: str
    line: int | None


class LineIndex(Protocol):
    """Finds the 1-based lines of JSON pointers inside one source document, on demand.

    Lines are resolved in one batch per document after the audit, and only for findings,
    so loading never pays for position tracking.
    """

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]: ...


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an object came from: a file document (path + pointer) or a cluster."""

    path: str | None = None
    pointer: str = ""
    cluster: str | None = None
    lines: LineIndex | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    api_version: str
    namespace: str | None
    name: str
    obj: Mapping[str, Any] = field(repr=False)
    origin: Origin = field(default_factory=Origin)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace or "", self.name)

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def labels(self) -> Mapping[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}


@dataclass(frozen=True, slots=True)
class Fact:
    """Something a probe observed, attached to the node (and pod) it ran in."""

    probe_id: str
    node: str | None
    namespace: str | None
    pod: str | None
    report: Mapping[str, Any] = field(repr=False)
    origin: Origin = field(default_factory=Origin)
    # The labels of the pod the probe ran in, when that pod is the tool's own (a `--probe`
    # reach Job, never in the inventory): NetworkPolicies decide by them.
    pod_labels: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input, or part of one, that could not be audited."""

    source: str
    reason: str
    line: int | None = None

    def one_line(self) -> str:
        return _one_line(self.source, self.line, self.reason)


@dataclass(frozen=True, slots=True)
class NotObject:
    """A file, or a document in one, that holds no Kubernetes object (a CI workflow, a chart's
    values): listed in coverage, not audited, and no gap in the audit."""

    source: str
    reason: str
    line: int | None = None

    def one_line(self) -> str:
        return _one_line(self.source, self.line, self.reason)


def _one_line(source: str, line: int | None, reason: str) -> str:
    return f"{source}: {reason}" if line is None else f"{source}:{line}: {reason}"


@dataclass(frozen=True, slots=True)
class Inventory:
    resources: tuple[Resource, ...]
    facts: tuple[Fact, ...] = ()
    inputs: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    cluster: str | None = None
    not_objects: tuple[NotObject, ...] = ()
    # optional API kinds the cluster does not serve (e.g. Cilium's, where Cilium is not
    # installed): nothing of that kind exists, so the audit stays complete
    not_installed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleDocs:
    what: str
    why: str
    bad_example: str
    good_example: str
    references: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """One way a declarative rule's target can match, and the controls that way violates.

    Frameworks disagree on some settings (Pod Security reads what a spec declares, the CIS
    Benchmark what the container gets), so a finding carries its condition's controls, not
    every control of the rule. The first condition a target matches decides."""

    when: str  # what the condition means, for the docs ("" for a rule's only condition)
    match: Mapping[str, Any] | bool = field(repr=False)
    controls: tuple[str, ...]
    message: str | None = None  # the rule's message unless the condition has its own


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    title: str
    severity: Severity
    controls: tuple[str, ...]
    message: str
    remediation: str
    docs: RuleDocs
    pack: str
    target: str | None = None
    kinds: tuple[str, ...] = ()
    match: Mapping[str, Any] | None = field(default=None, repr=False)  # any of the conditions
    conditions: tuple[Condition, ...] = ()  # a declarative rule's, in the order they are tried
    evidence: tuple[str, ...] = ()
    analysis: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # From the declaration of the rule's check (a declarative rule: from its target).
    needs_probe: bool = False  # can find something only when probe results joined the audit
    waivable: bool = True

    @property
    def declarative(self) -> bool:
        return self.analysis is None

    @property
    def check(self) -> str | None:
        """The analysis plugin's check this rule runs (`params.check`)."""
        return self.params.get("check") if self.analysis is not None else None


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    title: str
    message: str
    tenant: str | None
    namespace: str | None
    kind: str
    name: str
    container: str | None
    node: str | None
    controls: tuple[str, ...]
    evidence: Mapping[str, Any]
    location: Location | None
    remediation: str
    cluster: str | None = None

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (
            -self.severity,
            self.rule_id,
            self.namespace or "",
            self.kind,
            self.name,
            self.container or "",
            self.message,
        )


@dataclass(frozen=True, slots=True)
class WaiverStatus:
    rule: str
    reason: str
    expires: str | None
    status: str  # active | expired | unused
    matched: int


@dataclass(frozen=True, slots=True)
class Coverage:
    inputs: tuple[str, ...]
    objects: int
    audited_workloads: int
    rules_run: int
    skipped: tuple[Skipped, ...]
    not_objects: tuple[NotObject, ...] = ()
    # Rules that ran with nothing to evaluate (no object of a kind they read): their controls
    # have no evidence either way in this run.
    unassessed: tuple[str, ...] = ()
    not_installed: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.skipped


@dataclass(frozen=True, slots=True)
class Report:
    tool_version: str
    source: Mapping[str, Any]
    findings: tuple[Finding, ...]
    coverage: Coverage
    waivers: tuple[WaiverStatus, ...] = ()
    # Filled by the analysis plugins that declare them (`nodes`, `placement`, `reachability`).
    sections: Mapping[str, Any] = field(default_factory=dict)
    fail_on: Severity | None = Severity.HIGH

    def counts(self) -> dict[str, int]:
        counts = {s.label: 0 for s in sorted(Severity, reverse=True)}
        for f in self.findings:
            counts[f.severity.label] += 1
        return counts

    def by_tenant(self) -> dict[str, dict[Severity, int]]:
        """Finding counts per tenant ("(platform)" for the platform and cluster-scoped objects)."""
        rows: dict[str, dict[Severity, int]] = {}
        for f in self.findings:
            row = rows.setdefault(f.tenant or "(platform)", {})
            row[f.severity] = row.get(f.severity, 0) + 1
        return dict(sorted(rows.items()))

    def failing(self) -> Sequence[Finding]:
        if self.fail_on is None:
            return ()
        return [f for f in self.findings if f.severity >= self.fail_on]
