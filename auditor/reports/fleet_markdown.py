"""The fleet view in Markdown: findings by severity per cluster, partial clusters, shared tenants."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .html import SEVERITIES
from .markdown import esc


def render(fleet: Mapping[str, Any]) -> str:
    summary = fleet["summary"]
    out = [f"## k8s-isolation-audit fleet report: {summary['clusters']} cluster(s), {summary['findings']} findings\n"]
    for problem in summary["not_merged"]:
        out.append(f"> **Not merged:** `{esc(problem['file'])}`: {esc(problem['reason'])}\n")
    if summary["partial"]:
        out.append("> **Partial:** " + ("some files were not merged; " if summary["not_merged"] else "")
                   + f"{len(summary['partial_clusters'])} cluster(s) with partial coverage.\n")
    out.append("| cluster | coverage | " + " | ".join(SEVERITIES) + " | failing |\n"
               "|---|---|" + "---:|" * len(SEVERITIES) + "---:|")
    for c in fleet["clusters"]:
        counts = " | ".join(str(c["by_severity"][s]) for s in SEVERITIES)
        out.append(f"| {esc(c['name'])} | {'**partial**' if c['partial'] else 'complete'} | {counts} | "
                   f"{c['failing']} |")
    totals = " | ".join(str(summary["by_severity"][s]) for s in SEVERITIES)
    out.append(f"| **all** | | {totals} | {summary['failing']} |\n")
    if summary["shared_tenants"]:
        out.append("### Tenants in several clusters\n\n| tenant | clusters |\n|---|---|")
        out.extend(f"| {esc(t['tenant'])} | {', '.join(esc(c) for c in t['clusters'])} |"
                   for t in summary["shared_tenants"])
    return "\n".join(out) + "\n"
