"""Drift between two runs: pure functions of the previous run's state and this run's report.

Findings are matched by baseline fingerprint, counting repeats (two hostPath volumes of one
pod are two findings with one fingerprint). Reachability is the set of intended ordered tenant
pairs that reach each other on some port. The first run has nothing to compare with: it says
`first_run` and counts nothing as new, so installing the chart raises no alert storm.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..baseline import fingerprint
from ..model import Report, Severity

SEVERITIES = tuple(s.label for s in sorted(Severity, reverse=True))
FIRST_RUN, COMPARED, UNKNOWN = "first_run", "compared", "unknown"


@dataclass(frozen=True)
class RunState:
    """What the next run's drift needs from this one."""

    finished: float
    findings: tuple[tuple[str, str], ...]  # (fingerprint, severity), one per finding, sorted
    reachable: tuple[tuple[str, str], ...]  # intended (from_tenant, to_tenant) pairs, sorted


def run_state(report: Report, finished: float) -> RunState:
    return RunState(finished, tuple(sorted((fingerprint(f), f.severity.label) for f in report.findings)),
                    tuple(sorted(reachable_pairs(report))))


def reachable_pairs(report: Report) -> set[tuple[str, str]]:
    reach = report.sections.get("reachability")
    rows = reach.get("intended") if isinstance(reach, Mapping) else None
    return {(str(r.get("from_tenant")), str(r.get("to_tenant"))) for r in rows or ()
            if isinstance(r, Mapping) and r.get("allowed") is True}


def drift(previous: RunState | None, current: RunState) -> dict[str, Any]:
    """The report's `drift` section; `previous` None: the first run."""
    if previous is None:
        return {"status": FIRST_RUN, "previous_run": None, **_changes((), (), set(), set())}
    new = _minus(current.findings, previous.findings)
    fixed = _minus(previous.findings, current.findings)
    now, before = set(current.reachable), set(previous.reachable)
    return {"status": COMPARED, "previous_run": previous.finished,
            **_changes(new, fixed, now - before, before - now)}


def unknown(reason: str) -> dict[str, Any]:
    """The section when the previous state could not be read: nothing is claimed new or fixed."""
    return {"status": UNKNOWN, "previous_run": None, "reason": reason, **_changes((), (), set(), set())}


def _minus(a: Iterable[tuple[str, str]], b: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Findings of `a` not matched by one of `b` (same fingerprint; each match used once)."""
    left = Counter(fp for fp, _ in b)
    out = []
    for fp, severity in a:
        if left[fp] > 0:
            left[fp] -= 1
        else:
            out.append((fp, severity))
    return out


def _changes(new: list[tuple[str, str]] | tuple, fixed: list[tuple[str, str]] | tuple,
             gained: set[tuple[str, str]], lost: set[tuple[str, str]]) -> dict[str, Any]:
    def side(items) -> dict[str, Any]:
        counts = Counter(s for _, s in items)
        return {"count": len(items), "by_severity": {s: counts[s] for s in SEVERITIES},
                "fingerprints": sorted({fp for fp, _ in items})}

    def pairs(items) -> list[dict[str, str]]:
        return [{"from_tenant": a, "to_tenant": b} for a, b in sorted(items)]

    return {"findings": {"new": side(new), "fixed": side(fixed)},
            "reachability": {"gained": pairs(gained), "lost": pairs(lost)}}


def describe(section: Mapping[str, Any]) -> str:
    """The section in one line of plain text (renderers escape it for their format)."""
    status = section.get("status")
    if status == FIRST_RUN:
        return "first run, nothing to compare with"
    if status != COMPARED:
        return f"unknown ({section.get('reason') or 'no previous state'})"
    findings, reach = section.get("findings") or {}, section.get("reachability") or {}

    def side(name: str) -> str:
        counts = (findings.get(name) or {}).get("by_severity") or {}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        return f"{(findings.get(name) or {}).get('count', 0)} {name}" + (f" ({shown})" if shown else "")

    return (f"{side('new')}, {side('fixed')} finding(s); {len(reach.get('gained') or ())} tenant pair(s) "
            f"newly reachable, {len(reach.get('lost') or ())} no longer")


def new_fingerprints(report: Report) -> frozenset[str]:
    """Fingerprints the report's drift section calls new (empty without one)."""
    section = report.sections.get("drift")
    if not isinstance(section, Mapping):
        return frozenset()
    return frozenset(section.get("findings", {}).get("new", {}).get("fingerprints") or ())
