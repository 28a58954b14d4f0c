"""Reports cite what a user of the installed package can follow: URLs and titles, never a
file of this repository (docs/, fixtures/, ../shared, ...), which the package does not ship."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.reports import FORMATS
from auditor.rules import load_rules

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "fixtures" / "demo"
# a repository-relative path: not part of a URL or of a longer path
RELATIVE = re.compile(r"(?<![\w/.:-])(?:\.\./)*(?:docs|fixtures|tests|examples|benchmarks|deploy|shared)/[\w./-]+")
NAMED = ("latency-overheads.md", "/work/shared", "../shared", "DESIGN.md")


def repository_paths(text: str) -> list[str]:
    found = RELATIVE.findall(text) + [n for n in NAMED if n in text]
    # a file inside the checkout; the demo's probe reports saw a mount of a checkout at its root
    inside = str(REPO) + "/"
    return found + ([inside] if inside in text else [])


def test_the_pattern_sees_repository_paths_and_not_urls():
    assert repository_paths("see docs/latency-overheads.md (S10)") == ["docs/latency-overheads.md",
                                                                       "latency-overheads.md"]
    assert repository_paths("from ../shared/reference/x.md") == ["../shared/reference/x.md", "../shared"]
    assert not repository_paths("https://kubernetes.io/docs/concepts/security/ and https://gvisor.dev/docs/x/")


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    """The demo inputs outside the repository, so input paths in a report name no repository file."""
    root = tmp_path_factory.mktemp("inputs")
    for part in ("cluster", "probe-results"):
        shutil.copytree(DEMO / part, root / part)
    shutil.copy(DEMO / "config.yaml", root / "config.yaml")
    return root


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_report_names_a_repository_path(fmt, demo_copy, monkeypatch, capsys):
    monkeypatch.chdir(demo_copy)
    code = main(["scan", "cluster", "--probe-results", "probe-results", "--config", "config.yaml", "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 1 and out
    assert not repository_paths(out), repository_paths(out)[:5]
    assert not repository_paths(err)


def test_rules_list_and_explain_cite_no_repository_document(capsys):
    assert main(["rules", "list"]) == 0
    out, _ = capsys.readouterr()
    assert not repository_paths(out)
    for rule in load_rules().rules:
        assert main(["rules", "explain", rule.id]) == 0
        out, _ = capsys.readouterr()
        references = out.split("References", 1)[1] if "References" in out else ""
        assert not repository_paths(references), (rule.id, repository_paths(references))
        assert not any(n in out for n in NAMED), rule.id


def test_rule_references_are_urls_or_citations_never_repository_files():
    for rule in load_rules().rules:
        for ref in rule.docs.references:
            assert ref.startswith("https://") or not re.fullmatch(r"[\w.-]+(/[\w.-]+)+", ref), (rule.id, ref)
