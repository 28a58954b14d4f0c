"""Rule docs in one shape, as ruff prints them: `rules list`, `rules explain` and the
generated reference `docs/rules.md` (`python3 -m auditor.reports.rule_docs docs/rules.md`)."""
from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from itertools import groupby
from pathlib import Path

from ..model import Rule
from ..terminal import escape

REGENERATE = "python3 -m auditor.reports.rule_docs docs/rules.md"


def listing(rules: Sequence[Rule]) -> str:
    lines = [f"{'ID':<7} {'SEVERITY':<9} {'NAME':<38} CONTROLS"]
    for r in sorted(rules, key=lambda r: r.id):
        lines.append(escape(f"{r.id:<7} {r.severity.label:<9} {r.name:<38} {', '.join(r.controls)}"))
    lines.append(f"\n{len(rules)} rules. 'k8s-isolation-audit rules explain ID' prints one rule's docs.")
    return "\n".join(lines) + "\n"


def explain(rule: Rule) -> str:
    # A pack's one-line fields stay on their line; the caller escapes each line written.
    parts = [
        escape(f"{rule.id} {rule.name}: {rule.title}"),
        escape(f"severity: {rule.severity.label} · {_kind(rule)} · pack: {rule.pack}"),
        escape(f"controls: {', '.join(rule.controls) or '-'}"),
        "\n".join(map(escape, _mapping(rule, "##", "{}").splitlines())),
        _body(rule, "##"),
    ]
    return "\n".join(p for p in parts if p) + "\n"


def reference(rules: Sequence[Rule], descriptions: Mapping[str, str]) -> str:
    """docs/rules.md: every rule, grouped by pack (packs and rules in id order)."""
    packs = [
        (pack, list(group)) for pack, group in groupby(sorted(rules, key=_pack_order(rules)), key=lambda r: r.pack)
    ]
    out = [
        "# Rule reference",
        "",
        f"<!-- Generated from rules/*.yaml by `{REGENERATE}`; do not edit by hand. -->",
        "",
        _wrap(f"{len(rules)} rules in {len(packs)} packs. `k8s-isolation-audit rules explain ID` prints one "
              "rule's section in the terminal. An example marked `# illustrative:` cannot run alone "
              "(the comment says why and where the complete case runs); every other example is "
              "scanned by the tests: the bad one must fire and the good one must not."),
        "",
    ]
    for pack, members in packs:
        out.append(f"- [{pack}](#pack-{pack}): " + ", ".join(f"[{r.id}](#{_anchor(r)})" for r in members))
    for pack, members in packs:
        out += ["", f"## Pack: {pack}", ""]
        if descriptions.get(pack):
            out += [_wrap(descriptions[pack]), ""]
        for rule in members:
            out += [
                f"### {rule.id} {rule.name}",
                "",
                f"**{rule.title}**",
                "",
                f"- severity: {rule.severity.label}",
                f"- {_kind(rule)}",
                "- controls: " + (", ".join(f"`{c}`" for c in rule.controls) or "-"),
                _mapping(rule, "####", "`{}`"),
                _body(rule, "####"),
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


def _pack_order(rules: Sequence[Rule]) -> Callable[[Rule], tuple[str, str]]:
    """Packs in the order of their first rule's id, rules by id within a pack."""
    first: dict[str, str] = {}
    for r in sorted(rules, key=lambda r: r.id):
        first.setdefault(r.pack, r.id)
    return lambda r: (first[r.pack], r.id)


def _anchor(rule: Rule) -> str:
    return f"{rule.id}-{rule.name}".lower()


def _kind(rule: Rule) -> str:
    if not rule.declarative:
        return f"analysis: {rule.analysis}"
    return f"target: {rule.target}" + (f" ({', '.join(rule.kinds)})" if rule.kinds else "")


def _mapping(rule: Rule, heading: str, control: str) -> str:
    """A rule's controls by condition, when they differ by condition ("" otherwise): a
    finding carries only the controls of the first condition its target matches."""
    if len(rule.conditions) < 2:
        return ""
    lines = [f"- {' '.join(c.when.split())} → " + (", ".join(control.format(x) for x in c.controls) or "-")
             for c in rule.conditions]
    body = "A finding carries the controls of the first condition it matches:\n" + "\n".join(lines)
    return _section(heading, "Controls by condition", body, wrap=False)


def _body(rule: Rule, heading: str) -> str:
    sections = [
        _section(heading, "What it does", rule.docs.what),
        _section(heading, "Why is this bad?", rule.docs.why),
        _section(heading, "Example", rule.docs.bad_example, code=True),
        _section(heading, "Use instead", rule.docs.good_example, code=True),
        _section(heading, "Fix", rule.remediation),
        _section(heading, "References", "\n".join(f"- {ref}" for ref in rule.docs.references) or "-", wrap=False),
    ]
    return "\n".join(s for s in sections if s)


def _section(heading: str, title: str, body: str, code: bool = False, wrap: bool = True) -> str:
    if not body.strip():
        return ""
    if code:
        text = "```yaml\n" + body.rstrip() + "\n```"
    elif wrap:
        text = _wrap(body)
    else:
        text = body.rstrip()
    return f"\n{heading} {title}\n{text}"


def _wrap(text: str) -> str:
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 88) for p in text.strip().split("\n\n"))


def builtin_reference() -> str:
    """The reference of the built-in packs, as committed in docs/rules.md."""
    from ..rules import RulePackError, builtin_rules_dir, load_rules
    from ..yamlfile import load_one

    descriptions: dict[str, str] = {}
    for path in sorted(builtin_rules_dir().glob("*.y*ml")):
        _, data = load_one(path, "rule pack", RulePackError)
        descriptions[data["pack"]] = data.get("description", "")
    return reference(load_rules().rules, descriptions)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {REGENERATE}")
    Path(sys.argv[1]).write_text(builtin_reference(), encoding="utf-8")
