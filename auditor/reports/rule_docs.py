"""`rules list` and `rules explain`: rule docs in one shape, as ruff prints them."""
from __future__ import annotations

import textwrap
from typing import Sequence

from ..model import Rule
from ..terminal import escape


def listing(rules: Sequence[Rule]) -> str:
    lines = [f"{'ID':<7} {'SEVERITY':<9} {'NAME':<38} CONTROLS"]
    for r in sorted(rules, key=lambda r: r.id):
        lines.append(escape(f"{r.id:<7} {r.severity.label:<9} {r.name:<38} {', '.join(r.controls)}"))
    lines.append(f"\n{len(rules)} rules. 'k8s-isolation-audit rules explain ID' prints one rule's docs.")
    return "\n".join(lines) + "\n"


def explain(rule: Rule) -> str:
    kind = f"target: {rule.target}" if rule.declarative else f"analysis: {rule.analysis}"
    # A pack's one-line fields stay on their line; the caller escapes each line written.
    parts = [
        escape(f"{rule.id} {rule.name}: {rule.title}"),
        escape(f"severity: {rule.severity.label} · {kind} · pack: {rule.pack}"),
        escape(f"controls: {', '.join(rule.controls) or '-'}"),
        _section("What it does", rule.docs.what),
        _section("Why is this bad?", rule.docs.why),
        _section("Example", rule.docs.bad_example, code=True),
        _section("Use instead", rule.docs.good_example, code=True),
        _section("Fix", rule.remediation),
        _section("References", "\n".join(f"- {ref}" for ref in rule.docs.references) or "-", wrap=False),
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _section(title: str, body: str, code: bool = False, wrap: bool = True) -> str:
    if not body.strip():
        return ""
    if code:
        text = "```yaml\n" + body.rstrip() + "\n```"
    elif wrap:
        text = "\n\n".join(textwrap.fill(" ".join(p.split()), 88) for p in body.strip().split("\n\n"))
    else:
        text = body.rstrip()
    return f"\n## {title}\n{text}"
