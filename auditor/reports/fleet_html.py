"""The fleet view as one self-contained HTML file: the cross-cluster summary, the tenants
found in several clusters, and every cluster's findings behind a cluster selector.

The single-cluster report's style, escaping and Content Security Policy (auditor/reports/html.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .html import CSS, RANK, SEVERITIES, document, e

JS = """
(function () {
  'use strict';
  var rows = Array.prototype.slice.call(document.querySelectorAll('#findings tbody tr'));
  var clusterRows = Array.prototype.slice.call(document.querySelectorAll('#clusters tbody tr'));
  var cluster = document.getElementById('f-cluster'), sev = document.getElementById('f-severity');
  var count = document.getElementById('f-count');
  function apply() {
    var shown = 0;
    rows.forEach(function (row) {
      var ok = (!cluster.value || row.dataset.cluster === cluster.value) &&
        Number(row.dataset.sev) >= Number(sev.value);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    clusterRows.forEach(function (row) {
      row.classList.toggle('picked', !!cluster.value && row.dataset.cluster === cluster.value);
    });
    count.textContent = shown + ' of ' + rows.length + ' findings shown';
  }
  [cluster, sev].forEach(function (el) { el.addEventListener('change', apply); });
  Array.prototype.forEach.call(document.querySelectorAll('[data-pick-cluster]'), function (el) {
    el.addEventListener('click', function () {
      cluster.value = el.getAttribute('data-pick-cluster');
      apply();
    });
  });
  apply();
  document.body.setAttribute('data-ready', 'true');
}());
"""
STYLE = CSS + ("tr.picked td{background:#eef4ff}"
               "button.link{border:0;background:none;color:var(--low);cursor:pointer;padding:0;font:inherit}\n")


def render(fleet: Mapping[str, Any]) -> str:
    summary, tool = fleet["summary"], fleet["tool"]
    meta = f'version {e(tool["version"])} · {e(summary["clusters"])} cluster(s)'
    return document("k8s-isolation-audit fleet report", meta, [_summary(fleet), _shared(summary), _findings(fleet)],
                    STYLE, JS)


def _summary(fleet: Mapping[str, Any]) -> str:
    summary = fleet["summary"]
    out = ['<section id="summary"><h2>Across clusters</h2><div class="cards">',
           f'<div class="card"><b>{e(summary["clusters"])}</b>clusters</div>',
           f'<div class="card"><b>{e(summary["findings"])}</b>findings</div>',
           *(f'<div class="card"><b>{e(summary["by_severity"][s])}</b>'
             f'<span class="sev sev-{s}">{s}</span></div>' for s in SEVERITIES),
           "</div>"]
    if summary["not_merged"]:
        items = "".join(f"<li><code>{e(p['file'])}</code>: {e(p['reason'])}</li>" for p in summary["not_merged"])
        out.append(f'<div class="partial" id="not-merged"><b>Partial: files not merged</b><ul>{items}</ul></div>')
    if summary["partial_clusters"]:
        out.append(f'<div class="partial" id="partial-clusters"><b>Partial coverage</b> in '
                   f'{", ".join(e(n) for n in summary["partial_clusters"])}: some inputs were not audited there.</div>')
    head = "".join(f'<th class="num">{s}</th>' for s in SEVERITIES)
    rows = "".join(
        f'<tr data-cluster="{e(c["name"])}"><td><button class="link" data-pick-cluster="{e(c["name"])}">'
        f'{e(c["name"])}</button></td><td class="mono">{e(c["file"])}</td>'
        f'<td>{"<b class=gate-fail>partial</b>" if c["partial"] else "complete"}</td>'
        + "".join(f'<td class="num">{e(c["by_severity"][s] or "·")}</td>' for s in SEVERITIES)
        + f'<td class="num">{e(c["failing"])} (≥ {e(c["fail_on"])})</td><td class="num">{len(c["tenants"])}</td></tr>'
        for c in fleet["clusters"])
    out.append(f'<table id="clusters"><thead><tr><th>cluster</th><th>file</th><th>coverage</th>{head}'
               f'<th class="num">failing</th><th class="num">tenants</th></tr></thead><tbody>{rows}</tbody></table>'
               "</section>")
    return "\n".join(out)


def _shared(summary: Mapping[str, Any]) -> str:
    shared = summary["shared_tenants"]
    if not shared:
        return '<section id="shared"><h2>Tenants in several clusters</h2><p class="note">None.</p></section>'
    tags = lambda names: "".join(f'<span class="tag">{e(n)}</span>' for n in names)  # noqa: E731
    rows = "".join(f"<tr><td>{e(t['tenant'])}</td><td>{tags(t['clusters'])}</td></tr>" for t in shared)
    return ('<section id="shared"><h2>Tenants in several clusters</h2><table><thead><tr><th>tenant</th>'
            f"<th>clusters</th></tr></thead><tbody>{rows}</tbody></table></section>")


def _findings(fleet: Mapping[str, Any]) -> str:
    rows = []
    for c in fleet["clusters"]:
        for f in c["report"]["findings"]:
            label = "/".join(e(p) for p in (f.get("namespace"), f.get("kind"), f.get("name")) if p)
            sev = str(f.get("severity"))
            rows.append(
                f'<tr data-cluster="{e(c["name"])}" data-sev="{RANK.get(sev, 0)}"><td>{e(c["name"])}</td>'
                f'<td><span class="sev sev-{e(sev)}">{e(sev)}</span></td><td class="mono">{e(f.get("rule_id"))}</td>'
                f'<td class="mono">{label}</td><td>{e(f.get("tenant") or "(platform)")}</td>'
                f'<td class="msg"><b>{e(f.get("title"))}</b><br>{e(f.get("message"))}</td></tr>')
    clusters = "".join(f'<option value="{e(c["name"])}">{e(c["name"])}</option>' for c in fleet["clusters"])
    sev_options = "".join(f'<option value="{RANK[s]}">{s} and above</option>' for s in SEVERITIES[:-1])
    return ('<section id="findings-section"><h2>Findings</h2><div class="filters">'
            f'<label>cluster<select id="f-cluster"><option value="">all clusters</option>{clusters}</select></label>'
            f'<label>severity<select id="f-severity"><option value="0">all severities</option>{sev_options}</select>'
            '</label><span id="f-count" class="note"></span></div>'
            '<table id="findings" class="wide"><thead><tr><th>cluster</th><th>severity</th><th>rule</th><th>object</th>'
            f"<th>tenant</th><th>finding</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")
