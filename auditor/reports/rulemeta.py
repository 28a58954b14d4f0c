"""Rule metadata for renderers that describe rules (SARIF, JUnit, controls).

A Report carries findings, not rules. Callers pass the rules that ran; without them the
built-in packs give the docs, and a rule known only from its findings (an extra pack the
caller did not pass) is described from what its findings carry.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache

from ..model import Finding, Report, Rule, RuleDocs

SEVERITY_SCORE = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}  # GitHub's bands


@cache
def builtin_rules() -> tuple[Rule, ...]:
    from ..rules import RulePackError, load_rules

    try:
        return load_rules([]).rules
    except RulePackError:  # a broken install still renders, from the findings alone
        return ()


def rule_index(report: Report, rules: Iterable[Rule] | None = None) -> dict[str, Rule]:
    """Every rule by id: the given ones (or the built-ins), plus any rule only findings name."""
    index = {r.id: r for r in (builtin_rules() if rules is None else rules)}
    for f in report.findings:
        if f.rule_id not in index:
            index[f.rule_id] = from_finding(f)
    return dict(sorted(index.items()))


def from_finding(f: Finding) -> Rule:
    return Rule(
        id=f.rule_id, name=f.rule_id, title=f.title, severity=f.severity, controls=f.controls,
        message=f.title, remediation=f.remediation, docs=RuleDocs(f.title, "", "", "", ()), pack="(unknown)",
    )


def first_url(references: Sequence[str]) -> str | None:
    return next((r for r in references if r.startswith(("https://", "http://"))), None)


def object_label(f: Finding | Mapping) -> str:
    """namespace/Kind/name[container], the way every renderer names what a finding is about."""
    get = f.get if isinstance(f, Mapping) else (lambda k: getattr(f, k))
    label = "/".join(p for p in (get("namespace"), get("kind"), get("name")) if p)
    return label + (f"[{get('container')}]" if get("container") else "")
