"""A Markdown summary sized for a pull-request comment (GitHub caps a comment at 65,536).

Counts by severity and tenant, the top findings, the gate verdict, and a note when rows
were left out. Every string from the report is escaped: a manifest's name must not turn
into a link, an image, a mention, HTML or a broken table.
"""
from __future__ import annotations

import re

from ..incluster.drift import describe
from ..model import Report, Severity
from ..terminal import escape
from . import services
from .rulemeta import object_label

LIMIT = 65_000
ICONS = {Severity.CRITICAL: "🟥", Severity.HIGH: "🟧", Severity.MEDIUM: "🟨", Severity.LOW: "🟦", Severity.INFO: "⬜"}
_SPECIAL = re.compile(r"([\\`*_\[\]()#!|~$])")  # what can start markup inside a table cell


def esc(value: object, limit: int = 200) -> str:
    """Plain text inside a table cell: no markup, no HTML, no newlines, bounded length.

    Line breaks and controls are escaped as on the terminal (a visible \\n), before the
    markup escapes, which then keep that backslash literal."""
    text = escape(value).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # GFM autolinks URLs, www. names and @mentions after escapes are resolved: break them.
    text = text.replace("://", ":\u200b//").replace("www.", "www\u200b.").replace("@", "@\u200b")
    return _SPECIAL.sub(r"\\\1", text)


def render(report: Report, limit: int = LIMIT, top: int = 50) -> str:
    head = _header(report)
    tail = _footer(report)
    rows = [_row(f) for f in report.findings[:top]]
    table_head = "| severity | rule | object | tenant | where | finding |\n|---|---|---|---|---|---|\n"
    budget = limit - len(head) - len(tail) - len(table_head) - 400  # room for the truncation note
    shown: list[str] = []
    for row in rows:
        if budget - len(row) < 0:
            break
        shown.append(row)
        budget -= len(row)
    body = ""
    if report.findings:
        body = f"### Top findings\n\n{table_head}{''.join(shown)}"
        left = len(report.findings) - len(shown)
        if left:
            body += (f"\n_Showing {len(shown)} of {len(report.findings)} findings, most severe first; "
                     f"{left} more in the full report (JSON, SARIF or HTML artifact)._\n")
        body += "\n"
    text = head + body + tail
    return text if len(text) <= limit else text[: limit - 40] + "\n\n_(truncated to fit a comment)_\n"


def _header(report: Report) -> str:
    cov = report.coverage
    counts = report.counts()
    failing = len(report.failing())
    if report.fail_on is None:
        gate = "gate off"
    elif failing:
        gate = f"❌ **{failing}** finding(s) at or above **{report.fail_on.label}**"
    else:
        gate = f"✅ nothing at or above **{report.fail_on.label}**"
    where = esc(report.source.get("cluster") or f"{len(cov.inputs)} input(s)")
    lines = [
        "## k8s-isolation-audit",
        "",
        f"{gate} · {where} · {cov.objects} objects · {cov.audited_workloads} workloads · {cov.rules_run} rules"
        f" · tool {esc(report.tool_version)}",
        "",
    ]
    if not cov.complete:
        lines += [f"> ⚠️ **Partial audit**: {len(cov.skipped)} input(s) or object(s) could not be read.", ""]
    lines += _drift(report.sections.get("drift"))
    lines += ["| " + " | ".join(f"{ICONS[s]} {s.label}" for s in sorted(Severity, reverse=True)) + " | total |",
              "|" + "---:|" * (len(Severity) + 1),
              "| " + " | ".join(str(counts[s.label]) for s in sorted(Severity, reverse=True))
              + f" | {len(report.findings)} |", ""]
    by_tenant = report.by_tenant()
    if by_tenant:
        lines += ["### By tenant", "", "| tenant | " + " | ".join(s.label for s in sorted(Severity, reverse=True))
                  + " |", "|---|" + "---:|" * len(Severity)]
        for tenant, row in list(by_tenant.items())[:100]:
            lines.append(f"| {esc(tenant, 60)} | " + " | ".join(str(row.get(s, 0) or "·")
                                                               for s in sorted(Severity, reverse=True)) + " |")
        if len(by_tenant) > 100:
            lines.append(f"\n_{len(by_tenant) - 100} more tenants in the full report._")
        lines.append("")
    return "\n".join(lines) + "\n"


def _drift(section) -> list[str]:
    """What changed since the previous in-cluster run (`scan --publish`), and which tenant pairs."""
    if not isinstance(section, dict):
        return []
    lines = [f"**Drift since the previous run:** {esc(describe(section), 400)}.", ""]
    gained = section.get("reachability", {}).get("gained") or []
    if gained:
        shown = ", ".join(f"{esc(r['from_tenant'], 40)} → {esc(r['to_tenant'], 40)}" for r in gained[:10])
        lines += [f"Newly reachable: {shown}.", ""]
    return lines


def _row(f) -> str:
    where = "—"
    if f.location is not None:
        where = esc(f.location.path, 80) + (f":{f.location.line}" if f.location.line else "")
    return (f"| {ICONS[f.severity]} {f.severity.label} | {esc(f.rule_id, 20)} | {esc(object_label(f), 100)} | "
            f"{esc(f.tenant or '(platform)', 40)} | {where} | {esc(f.message, 240)} |\n")


def _footer(report: Report) -> str:
    lines = []
    waived = [w for w in report.waivers if w.status == "active"]
    expired = [w for w in report.waivers if w.status == "expired"]
    if waived or expired:
        lines.append(f"{len(waived)} active waiver(s), {len(expired)} expired.")
    metal = [p for p in report.sections["placement"] if p.get("node_substrate") == "bare-metal"]
    if metal:
        justified = sum(1 for p in metal if p.get("verdict") == "bare-metal-justified")
        lines.append(f"{justified} of {len(metal)} workload(s) on bare metal justify it.")
    shown = services.notable(report.sections.get("reachability"))
    if shown:
        reached = sum(1 for r in shown if r.get("reachable_from_count"))
        exposed = sum(1 for r in shown if r.get("exposure"))
        lines.append(f"{reached} Service(s) reachable from other tenants; {exposed} listening on node ports, "
                     "load balancers or external IPs.")
    lines.append(
        "<sub>Generated by k8s-isolation-audit. Fingerprints and full evidence are in the JSON and SARIF reports.</sub>"
    )
    return "\n\n".join(lines) + "\n"
