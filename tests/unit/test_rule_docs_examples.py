"""Every rule's docs examples are fixtures: scanned with that rule alone, the bad example
fires and the good one does not. An example that cannot run alone starts with
`# illustrative: REASON` and names the rule fixture (`rule fixture IA301`: fixtures/rules/IA301)
or unit test (`unit test test_engine.py`) where the complete case runs, by a name that is not a
path: rule docs reach users of the installed package, who have no repository."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from scan_helpers import scan, write

from auditor.rules import load_rules

REPO = Path(__file__).resolve().parents[2]
RULES = load_rules().rules
ILLUSTRATIVE = "# illustrative:"
CASES = [(rule, kind) for rule in RULES for kind in ("bad", "good")]


def example(rule, kind: str) -> str:
    return rule.docs.bad_example if kind == "bad" else rule.docs.good_example


@pytest.mark.parametrize("rule, kind", CASES, ids=[f"{r.id}-{k}" for r, k in CASES])
def test_docs_example(rule, kind, tmp_path):
    text = example(rule, kind)
    assert text.strip(), f"{rule.id}: docs.{kind}_example is empty"
    if text.startswith(ILLUSTRATIVE):
        reason = text.splitlines()[0][len(ILLUSTRATIVE):].strip()
        named = [REPO / "fixtures" / "rules" / f for f in re.findall(r"rule fixture (IA\d+)", reason)]
        named += [REPO / "tests" / "unit" / t for t in re.findall(r"unit test (test_\w+\.py)", reason)]
        assert named, f"{rule.id}: an illustrative {kind} example names where the complete case runs"
        for path in named:
            assert path.exists(), f"{rule.id}: {path.relative_to(REPO)} does not exist"
        return
    path = write(tmp_path, "example.yaml", text)
    report = scan([str(path)], select=[rule.id])
    assert not report.coverage.skipped, [s.one_line() for s in report.coverage.skipped]
    fired = [f for f in report.findings if f.rule_id == rule.id]
    if kind == "bad":
        assert fired, f"{rule.id}: docs.bad_example does not make the rule fire"
    else:
        assert not fired, f"{rule.id}: docs.good_example fires: {[f.message for f in fired]}"


def test_rules_over_manifests_have_runnable_examples():
    """Only rules that need probe reports or config may illustrate instead of run."""
    for rule, kind in CASES:
        if rule.declarative and rule.target != "probe":
            assert not example(rule, kind).startswith(ILLUSTRATIVE), f"{rule.id}: docs.{kind}_example must run"


def test_references_to_repository_files_exist():
    """A reference is a URL, a citation, or a path inside this repository (readers have nothing else)."""
    for rule in RULES:
        for ref in rule.docs.references:
            if not ref.startswith("https://") and re.fullmatch(r"[\w.-]+(/[\w.-]+)+", ref):
                assert (REPO / ref).exists(), f"{rule.id}: reference {ref} is not a file in the repository"
