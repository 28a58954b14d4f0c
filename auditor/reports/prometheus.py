"""Prometheus metrics in the text exposition format (version 0.0.4).

For node_exporter's textfile collector (`-o /var/lib/node_exporter/textfile/isolation.prom`),
and the body an HTTP endpoint serves (Content-Type `text/plain; version=0.0.4`). Written by
hand rather than with `prometheus-client`: a renderer is a pure function of one Report,
the client's registry is process-wide state built for a long-running exporter, and the base
install stays as it is. The format is small; label values are escaped as it specifies
(backslash, double quote, newline), and tests read the output back with the client's parser.

Families whose label values are known in advance (severities, substrates, verdicts) list
every value, zero included, so an alert on `> 0` never waits on a series that is absent.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..model import Report, Severity

PREFIX = "isolation_audit_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SUBSTRATES = ("bare-metal", "vm", "unknown")
VERDICTS = ("bare-metal-justified", "bare-metal-unjustified", "vm-adequate", "vm-insufficient", "no-budget")
Sample = tuple[Mapping[str, str], float]
Family = tuple[str, str, Sequence[Sample]]  # name, help, samples


def render(report: Report, started: float | None = None, finished: float | None = None) -> str:
    """`started`, `finished`: the run's wall-clock times (seconds since the epoch); the run's
    families are left out without them, the time of the call stands in for `finished`."""
    finished = time.time() if finished is None else finished
    families = [*_findings(report), *_nodes(report), *_placement(report), *_reachability(report),
                *_drift(report), *_coverage(report, started, finished)]
    return "".join(_family(*family) for family in families)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _text(value: Any) -> str:
    """A label value as UTF-8 can carry it: a lone surrogate (from a JSON escape) becomes `?`."""
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _family(name: str, help_text: str, samples: Iterable[Sample]) -> str:
    lines = [f"# HELP {PREFIX}{name} {_escape_help(help_text)}", f"# TYPE {PREFIX}{name} gauge"]
    for labels, value in samples:
        pairs = ",".join(f'{k}="{escape_label(_text(v))}"' for k, v in labels.items())
        lines.append(f"{PREFIX}{name}{{{pairs}}} {_number(value)}" if pairs else f"{PREFIX}{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _findings(report: Report) -> list[Family]:
    counts = Counter((f.cluster or "", f.tenant or "(platform)", f.rule_id, f.severity.label) for f in report.findings)
    by_rule = [({**({"cluster": c} if c else {}), "tenant": t, "rule": r, "severity": s}, float(n))
               for (c, t, r, s), n in sorted(counts.items())]
    by_severity = report.counts()
    return [
        ("findings", "Findings by tenant, rule and severity ((platform): no tenant).", by_rule),
        ("findings_by_severity", "Findings by severity, every severity listed.",
         [({"severity": s.label}, float(by_severity[s.label])) for s in sorted(Severity, reverse=True)]),
        ("failing_findings", "Findings at or above the scan's --fail-on severity (0 when the gate is off).",
         [({}, float(len(report.failing())))]),
    ]


def _rows(report: Report, section: str) -> list[Mapping[str, Any]]:
    rows = report.sections.get(section) or ()
    return [r for r in rows if isinstance(r, Mapping)]


def _nodes(report: Report) -> list[Family]:
    nodes = _rows(report, "nodes")
    shared = Counter((str(n.get("substrate")), len(n.get("kernel_shared_by") or ()) > 1) for n in nodes)
    substrates = sorted({*SUBSTRATES, *(s for s, _ in shared)})
    return [
        ("nodes", "Nodes by substrate, and whether more than one tenant shares the node's kernel.",
         [({"substrate": s, "kernel_shared": str(k).lower()}, float(shared[(s, k)]))
          for s in substrates for k in (True, False)]),
        ("node_kernel_tenants", "Tenants whose pods share this node's kernel.",
         [({"node": str(n.get("name")), "substrate": str(n.get("substrate"))},
           float(len(n.get("kernel_shared_by") or ()))) for n in nodes]),
    ]


def _placement(report: Report) -> list[Family]:
    verdicts = Counter(str(p.get("verdict")) for p in _rows(report, "placement"))
    return [("placement_verdicts", "Workloads with a latency budget, by placement verdict.",
             [({"verdict": v}, float(verdicts[v])) for v in sorted({*VERDICTS, *verdicts})])]


def _reachability(report: Report) -> list[Family]:
    reach = report.sections.get("reachability")
    reach = reach if isinstance(reach, Mapping) else {}
    pairs: dict[tuple[str, str, str], bool] = {}
    # `denied` rows are intended pairs too: a pair denied on every port shows as 0
    for section, source in (("intended", "intended"), ("denied", "intended"), ("observed", "observed")):
        for row in reach.get(section) or ():
            if isinstance(row, Mapping):
                key = (source, str(row.get("from_tenant")), str(row.get("to_tenant")))
                pairs[key] = pairs.get(key, False) or row.get("allowed") is True
    return [
        ("tenant_reachable", "1 when the first tenant reaches the second (intended: by policy; observed: by probes).",
         [({"source": s, "from_tenant": a, "to_tenant": b}, float(v)) for (s, a, b), v in sorted(pairs.items())]),
        ("reachable_tenant_pairs", "Ordered tenant pairs that reach each other.",
         [({"source": s}, float(sum(1 for (src, _, _), v in pairs.items() if src == s and v)))
          for s in ("intended", "observed")]),
    ]


def _drift(report: Report) -> list[Family]:
    """Only a run that compared itself with a previous one (`scan --publish`) has a drift section."""
    drift = report.sections.get("drift")
    if not isinstance(drift, Mapping):
        return []
    findings, reach = drift.get("findings") or {}, drift.get("reachability") or {}
    return [
        ("drift_compared", "1 when this run was compared with the previous one (0: first run, or state unreadable).",
         [({}, float(drift.get("status") == "compared"))]),
        ("drift_findings", "Findings new or fixed since the previous run, by severity.",
         [({"change": change, "severity": s.label}, float(((findings.get(change) or {}).get("by_severity") or {})
                                                          .get(s.label, 0)))
          for change in ("new", "fixed") for s in sorted(Severity, reverse=True)]),
        ("reachability_drift_pairs", "Intended tenant pairs that reach each other and did not before (gained), "
                                     "or no longer do (lost).",
         [({"change": change}, float(len(reach.get(change) or ()))) for change in ("gained", "lost")]),
    ]


def _coverage(report: Report, started: float | None, finished: float) -> list[Family]:
    cov = report.coverage
    families: list[Family] = [
        ("coverage_complete", "1 when every input was audited, 0 when the results are partial.",
         [({}, float(cov.complete))]),
        ("skipped_inputs", "Inputs or parts of inputs that could not be audited.", [({}, float(len(cov.skipped)))]),
        ("objects", "Objects read.", [({}, float(cov.objects))]),
        ("rules_run", "Rules that ran.", [({}, float(cov.rules_run))]),
        ("info", "The tool's version.", [({"version": report.tool_version}, 1.0)]),
        ("last_run_timestamp_seconds", "When the run finished (seconds since the epoch).", [({}, finished)]),
    ]
    if started is not None:
        families.append(("last_run_duration_seconds", "How long the run took.", [({}, max(0.0, finished - started))]))
    return families
