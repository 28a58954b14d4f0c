"""The Markdown summary: fits a pull-request comment and never renders a manifest's markup."""
from __future__ import annotations

import re
from dataclasses import replace

from auditor.model import Finding, Location, Severity
from auditor.reports.markdown import LIMIT, esc, render


def test_demo_summary_has_counts_tenants_top_findings_and_gate(demo):
    text = render(demo)
    assert len(text) <= LIMIT
    counts = demo.counts()
    assert "| " + " | ".join(str(counts[s]) for s in ("critical", "high", "medium", "low", "info")) in text
    for tenant in demo.by_tenant():
        assert f"| {esc(tenant)} |" in text
    assert f"**{len(demo.failing())}** finding(s) at or above **high**" in text
    top = demo.findings[0]
    assert f"| {top.rule_id} |" in text and f"{top.location.path}:{top.location.line}" in text
    assert f"Showing 50 of {len(demo.findings)} findings" in text


def _finding(i: int, message: str = "x" * 300) -> Finding:
    return Finding(rule_id=f"IA{i % 900:03d}", severity=Severity(i % 5), title="t", message=message,
                   tenant=f"tenant-{i % 300}", namespace=f"ns-{i}", kind="Deployment", name=f"app-{i}" * 5,
                   container="c", node=None, controls=(), evidence={}, location=Location(f"deploy/{i}.yaml", i + 1),
                   remediation="r")


def test_a_huge_report_is_truncated_to_fit_with_a_note(demo):
    findings = tuple(_finding(i) for i in range(20_000))
    text = render(replace(demo, findings=findings), top=20_000)
    assert len(text) <= LIMIT
    shown = re.search(r"Showing (\d+) of 20000 findings", text)
    assert shown and 0 < int(shown.group(1)) < 20_000
    assert text.rstrip().endswith("</sub>")  # the footer survived


def test_hostile_strings_are_plain_text_in_one_cell(demo):
    hostile = ("a|b</td><script>alert(1)</script>![x](https://evil.example/p.png)[link](javascript:x)"
               "\n## heading @admin `code` *bold* $x$ www.evil.example")
    f = replace(_finding(1, hostile), name=hostile, tenant=hostile, location=Location("a|b\n.yaml", 3))
    text = render(replace(demo, findings=(f,)))
    row = next(line for line in text.splitlines() if line.startswith("| ") and "IA001" in line)
    cells = re.split(r"(?<!\\)\|", row)
    assert len(cells) == 8  # 6 columns, none added by the manifest's pipes
    assert "<script" not in text and "</td>" not in text
    assert "](" not in text.replace("\\](", "") and "![" not in text.replace("!\\[", "").replace("\\!", "")
    assert "@admin" not in text and "https://evil" not in text and "www.evil" not in text
    assert "\n## heading" not in text


def test_a_clean_report_says_so(demo):
    text = render(replace(demo, findings=()))
    assert "nothing at or above **high**" in text and "Top findings" not in text
