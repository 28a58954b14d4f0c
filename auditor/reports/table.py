"""The terminal report: summary by severity and tenant, then findings; fits 80 columns.

Every string from an input goes through `cell` (escaped, and never read as rich markup),
and every line that can wrap is indented after its first: only the tool starts a line.
"""
from __future__ import annotations

import io

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..incluster.drift import describe
from ..model import Finding, Report, Severity
from ..terminal import escape
from . import services

STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


INDENT = 2


def cell(value: object, style: str = "") -> Text:
    """Input text for the terminal: escaped, and a Text so that '[bold]' or '[/]' in a name
    is shown as written instead of styling (or crashing) the report."""
    return Text(escape(value), style=style)


def _print_table(console: Console, table: Table) -> None:
    """Tables are indented: a cell that wraps never starts a line at the left margin."""
    console.print(Padding(table, (0, 0, 0, INDENT)))


def _print_hanging(console: Console, text: Text) -> None:
    """`text` wrapped with every line after the first indented, for lines that quote inputs."""
    first, *rest = text.wrap(console, console.width, overflow="fold")
    console.print(first)
    for line in rest:
        for part in line.wrap(console, console.width - 2 * INDENT, overflow="fold"):
            console.print(Text(" " * 2 * INDENT) + part)


def render(report: Report, width: int = 80, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    _header(console, report)
    _summary(console, report)
    _nodes(console, report)
    _placement(console, report)
    _reachability(console, report)
    _services(console, report)
    _api_access(console, report)
    _findings(console, report.findings)
    _skipped(console, report)
    _verdict(console, report)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _header(console: Console, report: Report) -> None:
    cov = report.coverage
    where = report.source.get("cluster") or f"{len(cov.inputs)} input(s)"
    _print_hanging(console, Text.assemble(
        ("k8s-isolation-audit ", "bold"),
        escape(report.tool_version),
        f" · {escape(where)} · {cov.objects} objects · {cov.audited_workloads} workloads · {cov.rules_run} rules",
    ))
    if not cov.complete:
        console.print(
            Text(f"PARTIAL AUDIT: {len(cov.skipped)} input(s) or object(s) skipped, see below", style="bold yellow")
        )
    console.print()


def _summary(console: Console, report: Report) -> None:
    drift = report.sections.get("drift")
    if isinstance(drift, dict):
        _print_hanging(console, Text(f"Since the previous run: {escape(describe(drift))}"))
    counts = report.counts()
    line = Text("Findings: ")
    for i, sev in enumerate(sorted(Severity, reverse=True)):
        if i:
            line.append(" · ")
        line.append(f"{sev.label} {counts[sev.label]}", style=STYLES[sev] if counts[sev.label] else "dim")
    console.print(line)
    if not report.findings:
        console.print()
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("tenant", overflow="ellipsis", max_width=30)
    for sev in sorted(Severity, reverse=True):
        table.add_column(sev.label[:4], justify="right")
    for tenant, row in report.by_tenant().items():
        table.add_row(cell(tenant), *(str(row.get(s, 0) or "·") for s in sorted(Severity, reverse=True)))
    _print_table(console, table)
    console.print()


def _nodes(console: Console, report: Report) -> None:
    if not report.sections["nodes"]:
        return
    console.print(Text("Nodes and the tenants sharing each kernel", style="bold"))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("node")
    table.add_column("substrate")
    table.add_column("kernel shared by", overflow="fold")
    table.add_column("findings", justify="right")
    table.add_column("evidence", overflow="fold", style="dim")
    for n in report.sections["nodes"]:
        shared = n["kernel_shared_by"]
        table.add_row(
            cell(n["name"]),
            cell(n["substrate"], style="bold red" if n["substrate"] == "bare-metal" and len(shared) > 1 else ""),
            cell(", ".join(shared) or "-"),
            str(n["findings"]),
            cell(n["substrate_evidence"][0] if n["substrate_evidence"] else "-"),
        )
    _print_table(console, table)
    console.print()


SHORT_DIMENSIONS = {"network-rtt": "rtt", "timer-jitter": "jitter", "syscall": "syscall", "storage": "storage"}
VERDICT_STYLES = {"bare-metal-unjustified": "yellow", "vm-insufficient": "bold red", "bare-metal-justified": "green",
                  "vm-adequate": "green", "no-budget": "dim"}


def _placement(console: Console, report: Report) -> None:
    placed = [p for p in report.sections["placement"] if p["verdict"] != "no-budget"]
    if not report.sections["placement"]:
        return
    console.print(Text("Placement: does the latency budget justify bare metal?", style="bold"))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name, kwargs in (
        ("workload", {"overflow": "fold", "ratio": 1}),
        ("on", {"no_wrap": True}),
        ("budget", {"justify": "right", "no_wrap": True}),
        ("overhead", {"justify": "right", "no_wrap": True}),
        ("verdict", {"no_wrap": True}),
    ):
        table.add_column(name, **kwargs)
    for p in placed:
        budget, overhead = p["budget"] or {}, p["overhead"] or {}
        dimension = SHORT_DIMENSIONS.get(budget.get("dimension", ""), budget.get("dimension", ""))
        table.add_row(
            cell(f"{p['namespace']}/{p['name']}"),
            cell("metal" if p["node_substrate"] == "bare-metal" else p["node_substrate"]),
            cell(f"{budget.get('declared') or '-'} {dimension}".strip()),
            f"{overhead['value_us']:g} us" if overhead.get("value_us") is not None else "-",
            cell(p["verdict"], style=VERDICT_STYLES.get(p["verdict"], "")),
        )
    _print_table(console, table)
    justified = sum(1 for p in report.sections["placement"] if p["verdict"] == "bare-metal-justified")
    on_metal = sum(1 for p in report.sections["placement"] if p["node_substrate"] == "bare-metal")
    console.print(Text(f"{justified} of {on_metal} workload(s) on bare metal justify it; "
                       f"{len(report.sections['placement']) - len(placed)} declare no budget.", style="dim"))
    console.print()


def _reachability(console: Console, report: Report, limit: int = 20) -> None:
    rows = [
        (kind, r)
        for kind in ("intended", "observed")
        for r in report.sections["reachability"].get(kind, ())
        if r.get("allowed") or r.get("result") == "reachable"
    ]
    if not rows:
        return
    console.print(Text("Cross-tenant reachability", style="bold"))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in ("from", "to", "ports", "source", "decided by"):
        table.add_column(name, overflow="fold")
    for kind, r in rows[:limit]:
        decided = ", ".join(f"{d.get('kind')} {d.get('name')} {d.get('rule')}" for d in r.get("decided_by") or [])
        table.add_row(cell(r["from_tenant"]), cell(r["to_tenant"]), cell(", ".join(map(str, r.get("ports", [])))),
                      "policy" if kind == "intended" else "probe", cell(decided))
    _print_table(console, table)
    if len(rows) > limit:
        console.print(Text(f"... and {len(rows) - limit} more in the JSON report", style="dim"))
    console.print()


def _services(console: Console, report: Report, limit: int = 20) -> None:
    rows = services.notable(report.sections.get("reachability"))
    if not rows:
        return
    console.print(Text("Services other tenants reach, or exposed outside the pods", style="bold"))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in ("service", "tenant", "type", "backends", "reachable from", "exposed on"):
        table.add_column(name, overflow="fold")
    for r in rows[:limit]:
        table.add_row(cell(f"{r['namespace']}/{r['service']}"), cell(r.get("tenant") or "(platform)"), cell(r["type"]),
                      str(r["backend_count"]), cell(services.reached_by(r)), cell(services.exposed_on(r)))
    _print_table(console, table)
    if len(rows) > limit:
        console.print(Text(f"... and {len(rows) - limit} more in the JSON report", style="dim"))
    console.print()


def _api_access(console: Console, report: Report, limit: int = 20) -> None:
    rows = report.sections.get("api_access") or ()
    if not rows:
        return
    console.print(Text("Cross-tenant API access (RBAC)", style="bold"))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in ("from", "to", "bindings"):
        table.add_column(name, overflow="fold")
    for r in rows[:limit]:
        more = f" (+{r['count'] - len(r['bindings'])})" if r["count"] > len(r["bindings"]) else ""
        table.add_row(cell(r["from"]), cell(r["to"]), cell(", ".join(r["bindings"]) + more))
    _print_table(console, table)
    if len(rows) > limit:
        console.print(Text(f"... and {len(rows) - limit} more in the JSON report", style="dim"))
    console.print()


def _findings(console: Console, findings: tuple[Finding, ...]) -> None:
    if not findings:
        return
    # A grid keeps wrapped lines under their column instead of under the severity.
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=8, no_wrap=True)
    grid.add_column(overflow="fold")
    for f in findings:
        obj = "/".join(p for p in (f.namespace, f.kind, f.name) if p)
        if f.container:
            obj += f" [{f.container}]"
        body = Text()
        body.append(escape(f.rule_id) + " ", style="bold")
        body.append(escape(f.title) + "\n")
        body.append(escape(obj), style="bold")
        if f.location is not None:
            where = f"  {f.location.path}" + (f":{f.location.line}" if f.location.line else "")
            body.append(escape(where), style="dim")
        body.append("\n" + escape(f.message))
        grid.add_row(Text(f.severity.label.upper(), style=STYLES[f.severity]), body)
    console.print(grid)
    console.print()


def _skipped(console: Console, report: Report) -> None:
    if not report.coverage.complete:
        console.print(Text("Not audited:", style="bold yellow"))
        for s in report.coverage.skipped:
            _print_hanging(console, Text(" " * INDENT + escape(s.one_line())))
        console.print()
    if report.coverage.not_objects:
        console.print(Text("Not Kubernetes objects (no gap in the audit):", style="dim"))
        for n in report.coverage.not_objects:
            _print_hanging(console, Text(" " * INDENT + escape(n.one_line()), style="dim"))
        console.print()


def _verdict(console: Console, report: Report) -> None:
    if report.fail_on is None:
        console.print("Gate: off (--fail-on none)")
        return
    failing = len(report.failing())
    style = "bold red" if failing else "bold green"
    console.print(Text(f"Gate: {failing} finding(s) at or above {report.fail_on.label}", style=style))
