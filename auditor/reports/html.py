"""The HTML report: one self-contained file for a person (inline CSS and JS, no fetches).

Summary, tenant x tenant reachability heatmaps (intended, and observed when probes ran),
nodes by substrate with the tenants sharing each kernel, placement verdicts with their
arithmetic, and the findings, filterable by tenant, severity and control.

Every string from the report is escaped: manifests are hostile input. A Content Security
Policy allows only this file's own script and style (by hash), so even a string that got
through could neither run script nor load anything.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..incluster.drift import describe
from ..model import Report, Severity
from ..terminal import escape_lines
from . import services

SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]
RANK = {s.label: int(s) for s in Severity}

CSS = """
:root{--bg:#fff;--fg:#1d2330;--mute:#5d6677;--line:#d9dee7;--crit:#b0182a;--high:#d9480f;--med:#c08a00;
--low:#1c6dd0;--info:#6b7280;--ok:#2b8a3e}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{padding:18px 28px;background:#1d2330;color:#fff}header h1{margin:0 0 4px;font-size:20px}
header .meta{color:#c7cfdd;font-size:13px}main{padding:8px 28px 40px;max-width:1400px}
h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 8px}.note{color:var(--mute);font-size:13px}
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f9;font-weight:600}td.num,th.num{text-align:right}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0}.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:96px}
.card b{display:block;font-size:22px}.gate-fail{color:var(--crit);font-weight:600}.gate-ok{color:var(--ok);font-weight:600}
.sev{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px;font-weight:600}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--med)}
.sev-low{background:var(--low)}.sev-info{background:var(--info)}
.partial{border:1px solid var(--med);background:#fff8e1;padding:8px 12px;border-radius:6px}
.heat td{text-align:center;min-width:64px;font-size:12px}.heat th.row{text-align:right}
.h-self{background:#eef0f4;color:#9aa1ad}.h-deny{background:#e8f5ec;color:#2b8a3e}.h-allow{background:#fbd5d5;color:#8a1020;font-weight:600}
.h-reachable{background:#d6336c;color:#fff;font-weight:600}.h-refused{background:#ffe8cc}.h-filtered{background:#d3f9d8}
.h-none{background:#fff;color:#c0c6d0}
.substrate{border:1px solid var(--line);border-radius:6px;padding:4px 14px 10px;margin:10px 0}
.shared{color:var(--crit);font-weight:600}.tag{display:inline-block;border:1px solid var(--line);border-radius:10px;padding:0 7px;margin:1px;font-size:12px}
.v-bare-metal-unjustified{color:var(--high);font-weight:600}.v-vm-insufficient{color:var(--crit);font-weight:600}
.v-bare-metal-justified,.v-vm-adequate{color:var(--ok);font-weight:600}.v-no-budget{color:var(--mute)}
.filters{display:flex;gap:12px;flex-wrap:wrap;align-items:end;margin:8px 0}.filters label{font-size:12px;color:var(--mute);display:flex;flex-direction:column}
.filters select,.filters input{font:inherit;padding:3px 6px;min-width:160px}
#findings td{font-size:13px}#findings td.msg{max-width:560px}details summary{cursor:pointer;color:var(--low)}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fb;border:1px solid var(--line);padding:6px;margin:4px 0;font-size:12px}
table.wide{width:100%}.wide td.arith{min-width:280px}.wide td.budget,.wide td.over{min-width:140px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
"""

JS = """
(function () {
  'use strict';
  var rows = Array.prototype.slice.call(document.querySelectorAll('#findings tbody tr'));
  var tenant = document.getElementById('f-tenant'), sev = document.getElementById('f-severity');
  var control = document.getElementById('f-control'), text = document.getElementById('f-text');
  var count = document.getElementById('f-count');
  if (!tenant) { return; }
  function apply() {
    var shown = 0, needle = text.value.toLowerCase();
    rows.forEach(function (row) {
      var ok = (!tenant.value || row.dataset.tenant === tenant.value) &&
        Number(row.dataset.sev) >= Number(sev.value) &&
        (!control.value || JSON.parse(row.dataset.controls).indexOf(control.value) >= 0) &&
        (!needle || row.textContent.toLowerCase().indexOf(needle) >= 0);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + ' of ' + rows.length + ' findings shown';
  }
  [tenant, sev, control, text].forEach(function (el) { el.addEventListener('input', apply); el.addEventListener('change', apply); });
  Array.prototype.forEach.call(document.querySelectorAll('[data-pick-tenant]'), function (el) {
    el.addEventListener('click', function () {
      tenant.value = el.getAttribute('data-pick-tenant');
      apply();
      document.getElementById('findings-section').scrollIntoView();
    });
  });
  apply();
  document.body.setAttribute('data-ready', 'true');
}());
"""


def e(value: Any) -> str:
    """Escape any report string for HTML text or a quoted attribute. What is invisible or
    reorders text (controls, bidi and zero-width characters, other spaces) is shown as an
    escape, as on the terminal, so `pro\\u200bd` cannot pass for `prod`."""
    text = "" if value is None else str(value)
    return html.escape(escape_lines(text), quote=True)


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def render(report: Report | Mapping[str, Any]) -> str:
    if isinstance(report, Report):
        from .json_report import to_dict

        report = to_dict(report)
    summary, tool = report.get("summary", {}), report.get("tool", {})
    meta = f'version {e(tool.get("version"))} · {e(_where(report))}'
    sections = [_summary(report, summary), _heatmaps(report), _api_access(report), _nodes(report),
                _placement(report), _findings(report), _waivers(report)]
    return document("k8s-isolation-audit report", meta, sections, CSS, JS)


def document(title: str, meta: str, sections: list[str], css: str, js: str) -> str:
    """The page around the sections (`meta`: HTML, escaped by the caller): only this style
    and this script may apply, by hash, and nothing may be fetched."""
    csp = (f"default-src 'none'; script-src {_hash(js)}; style-src {_hash(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',  # our constant: no report data
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{e(title)}</title>", f"<style>{css}</style>", "</head>", "<body>",
        "<header>", f"<h1>{e(title)}</h1>", f'<div class="meta">{meta}</div>', "</header>", "<main>",
        *sections, "</main>", f"<script>{js}</script>", "</body>", "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _where(report: Mapping[str, Any]) -> str:
    source = report.get("source") or {}
    if source.get("cluster"):
        return f"cluster {source['cluster']}"
    inputs = list(source.get("inputs") or [])
    return f"{len(inputs)} input(s): " + ", ".join(inputs[:5]) + (" …" if len(inputs) > 5 else "")


def _summary(report: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    cov = report.get("coverage") or {}
    by_sev = summary.get("by_severity") or {}
    fail_on, failing = summary.get("fail_on", "high"), summary.get("failing", 0)
    if fail_on == "none":
        gate = '<span class="gate-ok">gate off</span>'
    elif failing:
        gate = f'<span class="gate-fail">{e(failing)} finding(s) at or above {e(fail_on)}: gate fails</span>'
    else:
        gate = f'<span class="gate-ok">nothing at or above {e(fail_on)}: gate passes</span>'
    cards = "".join(f'<div class="card"><span class="sev sev-{s}">{s}</span><b>{e(by_sev.get(s, 0))}</b></div>'
                    for s in SEVERITIES)
    out = ['<section id="summary"><h2>Summary</h2>',
           f"<p>{gate} · {e(cov.get('objects', 0))} objects · {e(cov.get('audited_workloads', 0))} workloads · "
           f"{e(cov.get('rules_run', 0))} rules</p>", f'<div class="cards">{cards}</div>']
    if cov.get("skipped"):
        items = "".join(f"<li><span class=\"mono\">{e(s.get('source'))}{':' + e(s['line']) if s.get('line') else ''}"
                        f"</span>: {e(s.get('reason'))}</li>" for s in cov["skipped"][:200])
        out.append(f'<div class="partial"><b>Partial audit</b>: {len(cov["skipped"])} input(s) or object(s) '
                   f"were not audited.<ul>{items}</ul></div>")
    if isinstance(report.get("drift"), Mapping):
        out.append(f'<p id="drift"><b>Since the previous run:</b> {e(describe(report["drift"]))}</p>')
    by_tenant = summary.get("by_tenant") or {}
    if by_tenant:
        head = "".join(f'<th class="num">{s}</th>' for s in SEVERITIES)
        rows = "".join(
            f'<tr><td><a href="#findings-section" data-pick-tenant="{e(t)}">{e(t)}</a></td>'
            + "".join(f'<td class="num">{e(row.get(s, 0) or "·")}</td>' for s in SEVERITIES) + "</tr>"
            for t, row in by_tenant.items())
        out.append(f"<h3>Findings by tenant</h3><table><thead><tr><th>tenant</th>{head}</tr></thead>"
                   f"<tbody>{rows}</tbody></table>")
    out.append("</section>")
    return "\n".join(out)


def report_tenants(report: Mapping[str, Any]) -> list[str]:
    """Every tenant the report knows of: in reachability, on nodes, with findings (the fleet view uses it too)."""
    names: set[str] = set()
    for kind in ("intended", "observed"):
        for r in (report.get("reachability") or {}).get(kind) or []:
            names.update((str(r.get("from_tenant")), str(r.get("to_tenant"))))
    for n in report.get("nodes") or []:
        names.update(map(str, n.get("tenants") or []))
    names.update(t for t in (report.get("summary") or {}).get("by_tenant") or {} if t != "(platform)")
    return sorted(names)


def _heatmaps(report: Mapping[str, Any]) -> str:
    reach = report.get("reachability") or {}
    tenants = report_tenants(report)
    out = ['<section id="reachability"><h2>Tenant × tenant reachability</h2>']
    if len(tenants) < 2:
        out.append('<p class="note">Fewer than two tenants: nothing to compare.</p></section>')
        return "\n".join(out)
    intended = {(str(r.get("from_tenant")), str(r.get("to_tenant"))): r for r in reach.get("intended") or []}
    denied = {(str(r.get("from_tenant")), str(r.get("to_tenant"))): r for r in reach.get("denied") or []}
    engines = (reach.get("enforcer") or {}).get("engines") or []
    by = f"; network plugin: {', '.join(map(str, engines))}" if engines else "; network plugin not identified"
    out.append(f"<h3>Intended (network policies{e(by)})</h3>")
    out.append(_matrix(tenants, lambda a, b: _intended_cell(intended.get((a, b)),
                                                            denied.get((a, b)) or denied.get(("*", b)))))
    observed = list(reach.get("observed") or [])
    out.append("<h3>Observed (probes)</h3>")
    if observed:
        seen: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for r in observed:
            seen.setdefault((str(r.get("from_tenant")), str(r.get("to_tenant"))), []).append(r)
        names = sorted(set(tenants) | {t for pair in seen for t in pair})
        out.append(_matrix(names, lambda a, b: _observed_cell(seen.get((a, b)))))
    else:
        out.append('<p class="note">No probe tested reachability (<code>probe --reach</code>); '
                   "the intended matrix is what the policies say, not what the network does.</p>")
    out.append('<p class="note">Rows: from; columns: to. Red: a tenant can open connections to another.</p>')
    out.append(_services(reach))
    out.append("</section>")
    return "\n".join(out)


def _services(reach: Mapping[str, Any], limit: int = 50) -> str:
    rows = services.notable(reach)
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{e(r.get('namespace'))}/{e(r.get('service'))}</td><td>{e(r.get('tenant') or '(platform)')}</td>"
        f"<td>{e(r.get('type'))}</td><td class=\"num\">{e(r.get('backend_count'))}</td>"
        f"<td>{e(services.reached_by(r))}</td><td>{e(services.exposed_on(r))}</td></tr>"
        for r in rows[:limit])
    more = f'<p class="note">{len(rows) - limit} more in the JSON report.</p>' if len(rows) > limit else ""
    return ("<h3>Services other tenants reach, or exposed outside the pods</h3><table><thead><tr><th>service</th>"
            "<th>tenant</th><th>type</th><th>backends</th><th>reachable from</th><th>exposed on</th></tr></thead>"
            f"<tbody>{body}</tbody></table>{more}")


def _api_access(report: Mapping[str, Any]) -> str:
    """Tenant x tenant API access (rbac): who may act on whose objects, and through what."""
    rows = report.get("api_access") or []
    if not rows:
        return ""
    pairs = {(str(r.get("from")), str(r.get("to"))): r for r in rows}
    names = sorted({t for pair in pairs for t in pair})

    def cell(a: str, b: str) -> str:
        r = pairs.get((a, b))
        if r is None:
            return '<td class="h-deny" title="no binding">none</td>'
        return f'<td class="h-allow" title="{e(", ".join(r.get("bindings") or []))}">{e(r.get("count"))}</td>'

    return ('<section id="api-access"><h2>Tenant × tenant API access</h2>' + _matrix(names, cell)
            + '<p class="note">Rows: whose identities; columns: whose namespaces. A number: how many '
              "bindings let them act on the other tenant's objects.</p></section>")


def _matrix(tenants: list[str], cell) -> str:
    head = "".join(f"<th>{e(t)}</th>" for t in tenants)
    rows = []
    for a in tenants:
        cells = "".join('<td class="h-self">—</td>' if a == b else cell(a, b) for b in tenants)
        rows.append(f'<tr><th class="row">{e(a)}</th>{cells}</tr>')
    return f'<table class="heat"><thead><tr><th>from \\ to</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _intended_cell(r: Mapping[str, Any] | None, denied: Mapping[str, Any] | None = None) -> str:
    if r is None or not r.get("allowed"):
        return f'<td class="h-deny" title="no path allowed{e(_deciders(denied))}">deny</td>'
    ports = ", ".join(map(str, r.get("ports") or [])) or "all"
    return f'<td class="h-allow" title="allowed: {e(ports)}{e(_deciders(r))}">{e(ports)}</td>'


def _deciders(r: Mapping[str, Any] | None) -> str:
    """'; decided by KIND NAME RULE (TIER)' for a cell's title: which policy decided the pair."""
    found = [f"{d.get('kind')} {d.get('name')} {d.get('rule')} ({d.get('tier')})"
             for d in (r or {}).get("decided_by") or [] if isinstance(d, Mapping)]
    return "; decided by " + ", ".join(found) if found else ""


def _observed_cell(rows: list[Mapping[str, Any]] | None) -> str:
    if not rows:
        return '<td class="h-none">not probed</td>'
    order = ("reachable", "refused", "filtered")
    worst = min((str(r.get("result")) for r in rows), key=lambda x: order.index(x) if x in order else 9)
    ports = sorted({str(p) for r in rows if r.get("result") == worst for p in r.get("ports") or []})
    label = worst + (f" {', '.join(ports)}" if worst == "reachable" and ports else "")
    css = f"h-{worst}" if worst in order else "h-none"
    return f'<td class="{css}" title="{e(len(rows))} probe result(s)">{e(label)}</td>'


def _nodes(report: Mapping[str, Any]) -> str:
    nodes = report.get("nodes") or []
    if not nodes:
        return ""
    out = ['<section id="nodes"><h2>Nodes by substrate: who shares each kernel</h2>']
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for n in nodes:
        groups.setdefault(str(n.get("substrate") or "unknown"), []).append(n)
    for substrate in sorted(groups, key=lambda s: ("bare-metal", "vm", "unknown").index(s) if s in ("bare-metal", "vm", "unknown") else 9):
        rows = []
        for n in groups[substrate]:
            shared = [str(t) for t in n.get("kernel_shared_by") or []]
            css = ' class="shared"' if len(shared) > 1 else ""
            rows.append(
                f"<tr><td class=\"mono\">{e(n.get('name'))}</td><td{css}>{_tags(shared) or '—'}</td>"
                f"<td>{_tags(n.get('sandboxed_tenants') or []) or '—'}</td><td>{e(n.get('kernel_version') or '?')}</td>"
                f"<td>{e(n.get('container_runtime') or '?')}</td><td class=\"num\">{e(n.get('pods', ''))}</td>"
                f"<td class=\"num\">{e(n.get('findings', 0))}</td>"
                f"<td><ul>{''.join(f'<li>{e(x)}</li>' for x in n.get('substrate_evidence') or [])}</ul></td></tr>")
        out.append(f'<div class="substrate"><h3>{e(substrate)} ({len(groups[substrate])})</h3>'
                   "<table><thead><tr><th>node</th><th>tenants sharing the kernel</th><th>sandboxed (own kernel)</th>"
                   "<th>kernel</th><th>runtime</th><th class=\"num\">pods</th><th class=\"num\">findings</th>"
                   f"<th>substrate evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    out.append("</section>")
    return "\n".join(out)


def _tags(items: Iterable[Any]) -> str:
    return "".join(f'<span class="tag">{e(x)}</span>' for x in items)


def _yes_no(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return e(value)


def _us(value: Any) -> str:
    return f"{value:g} µs" if isinstance(value, (int, float)) else "—"


def _placement(report: Mapping[str, Any]) -> str:
    placement = report.get("placement") or []
    if not placement:
        return ""
    rows = []
    unbudgeted = [p for p in placement if p.get("verdict") == "no-budget"]
    for p in (p for p in placement if p.get("verdict") != "no-budget"):
        b, o = p.get("budget") or {}, p.get("overhead") or {}
        budget = (f"{e(b.get('declared'))} = {_us(b.get('value_us'))} {e(b.get('dimension'))} {e(b.get('percentile'))}"
                  f"<br><span class=\"note\">{e(b.get('source'))}</span>") if b else "—"
        overhead = (f"{_us(o.get('value_us'))} on {e(o.get('node_class'))}<br><span class=\"note\">{e(o.get('source'))}</span>"
                    if o else "—")
        verdict = str(p.get("verdict"))
        reasons = "".join(f"<li>{e(r)}</li>" for r in p.get("reasons") or [])
        rows.append(
            f"<tr><td class=\"mono\">{e(p.get('namespace'))}/{e(p.get('kind'))}/{e(p.get('name'))}</td>"
            f"<td>{e(p.get('tenant') or '(platform)')}</td><td>{e(p.get('node_substrate'))}</td>"
            f"<td class=\"budget\">{budget}</td><td class=\"over\">{overhead}</td><td class=\"num\">{_us(p.get('margin_us'))}</td>"
            f"<td class=\"v-{e(verdict)}\">{e(verdict)}</td><td>{_yes_no(p.get('sandbox_eligible'))}</td>"
            f"<td class=\"arith\"><ul>{reasons}</ul></td></tr>")
    table = ("<table class=\"wide\"><thead><tr><th>workload</th><th>tenant</th><th>on</th><th>budget</th><th>VM overhead</th>"
             "<th class=\"num\">margin</th><th>verdict</th><th>sandbox eligible</th><th>arithmetic</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>") if rows else ""
    rest = ""
    if unbudgeted:
        names = "".join(f'<span class="tag">{e(p.get("namespace"))}/{e(p.get("name"))} '
                        f'({e(p.get("node_substrate"))})</span>' for p in unbudgeted)
        rest = (f'<p><span class="v-no-budget">no-budget</span>: {len(unbudgeted)} workload(s) declare no latency '
                f"budget or mandate, so nothing justifies bare metal for them: {names}</p>")
    return ('<section id="placement"><h2>Placement: does the latency budget justify bare metal?</h2>'
            '<p class="note">margin = budget − overhead: negative means a VM would break the budget.</p>'
            f"{table}{rest}</section>")


def _findings(report: Mapping[str, Any]) -> str:
    findings = report.get("findings") or []
    tenants = sorted({f.get("tenant") or "(platform)" for f in findings})
    controls = sorted({c for f in findings for c in f.get("controls") or []})
    options = lambda values: "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)  # noqa: E731
    sev_options = "".join(f'<option value="{RANK[s]}">{s} and above</option>' for s in SEVERITIES[:-1])
    rows = []
    for f in findings:
        loc = f.get("location") or {}
        where = f"{e(loc.get('path'))}:{e(loc.get('line') or '?')}" if loc.get("path") else "—"
        label = "/".join(e(p) for p in (f.get("namespace"), f.get("kind"), f.get("name")) if p)
        if f.get("container"):
            label += f"[{e(f['container'])}]"
        sev = str(f.get("severity"))
        evidence = json.dumps(f.get("evidence"), indent=2, sort_keys=True, default=str, ensure_ascii=False)
        rows.append(
            f'<tr data-tenant="{e(f.get("tenant") or "(platform)")}" data-sev="{RANK.get(sev, 0)}" '
            f'data-controls="{e(json.dumps(list(f.get("controls") or [])))}">'
            f'<td><span class="sev sev-{e(sev)}">{e(sev)}</span></td><td class="mono">{e(f.get("rule_id"))}</td>'
            f'<td class="mono">{label}</td><td>{e(f.get("tenant") or "(platform)")}</td><td class="mono">{where}</td>'
            f'<td class="msg"><b>{e(f.get("title"))}</b><br>{e(f.get("message"))}<details><summary>evidence, fix, '
            f'controls</summary><pre>{e(evidence)}</pre><p><b>Fix:</b> {e(f.get("remediation"))}</p>'
            f'<p>{_tags(f.get("controls") or [])}</p></details></td></tr>')
    return ('<section id="findings-section"><h2>Findings</h2><div class="filters">'
            f'<label>tenant<select id="f-tenant"><option value="">all tenants</option>{options(tenants)}</select></label>'
            f'<label>severity<select id="f-severity"><option value="0">all severities</option>{sev_options}</select></label>'
            f'<label>control<select id="f-control"><option value="">all controls</option>{options(controls)}</select></label>'
            '<label>text<input id="f-text" type="search" placeholder="rule, object, message"></label>'
            '<span id="f-count" class="note"></span></div>'
            '<table id="findings" class="wide"><thead><tr><th>severity</th><th>rule</th><th>object</th><th>tenant</th><th>where</th>'
            f"<th>finding</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _waivers(report: Mapping[str, Any]) -> str:
    waivers = report.get("waivers") or []
    if not waivers:
        return ""
    rows = "".join(f"<tr><td class=\"mono\">{e(w.get('rule'))}</td><td>{e(w.get('status'))}</td>"
                   f"<td>{e(w.get('expires') or 'never')}</td><td class=\"num\">{e(w.get('matched'))}</td>"
                   f"<td>{e(w.get('reason'))}</td></tr>" for w in waivers)
    return ('<section id="waivers"><h2>Waivers</h2><table><thead><tr><th>waiver</th><th>status</th><th>expires</th>'
            f'<th class="num">matched</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table></section>')
