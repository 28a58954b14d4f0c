"""docs/rules.md is generated from the packs; the committed file must be what the generator writes."""
from __future__ import annotations

from pathlib import Path

from auditor.reports.rule_docs import REGENERATE, builtin_reference
from auditor.rules import load_rules

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_committed_rule_reference_is_current():
    assert REFERENCE.exists(), f"docs/rules.md is missing: run `{REGENERATE}`"
    assert REFERENCE.read_text(encoding="utf-8") == builtin_reference(), (
        f"docs/rules.md differs from the rule packs: run `{REGENERATE}` and commit the result"
    )


def test_reference_has_one_section_per_rule_with_every_field():
    text = builtin_reference()
    for rule in load_rules().rules:
        section = text.split(f"\n### {rule.id} {rule.name}\n", 1)[1].split("\n### ", 1)[0]
        for part in (rule.title, f"severity: {rule.severity.label}", *rule.controls,
                     "#### What it does", "#### Why is this bad?", "#### Fix"):
            assert part in section, (rule.id, part)
        for example in (rule.docs.bad_example, rule.docs.good_example):
            assert example.rstrip() in section, rule.id
