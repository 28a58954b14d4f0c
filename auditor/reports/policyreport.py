"""Policy reports: the findings as Kubernetes objects the policy ecosystem reads.

Two APIs with the same result shape: the wg-policy `wgpolicyk8s.io/v1alpha2` PolicyReport
and ClusterPolicyReport (what Kyverno writes by default, Kubescape's `--format policyreport`,
Policy Reporter), and their successor `openreports.io/v1alpha1` Report and ClusterReport
(Kyverno 1.15+ opt-in, Kubewarden's default since 2026, Policy Reporter 3.2+). A cluster has
the CRDs of one or both, so the caller chooses.

Findings about namespaced objects go into a report in their namespace; the rest (nodes,
cluster-scoped objects, tenant pairs), and every input that was not audited (an `error`
result: never a silent pass), into the cluster-scoped one. The output is one `v1` List, as
JSON (which is also YAML): `kubectl apply -f` takes it. Every object carries the label
`app.kubernetes.io/managed-by: k8s-isolation-audit`, so a later run can replace them all
(delete by that label, then apply): a namespace whose findings are fixed keeps no stale report.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..baseline import fingerprint
from ..incluster.drift import COMPARED, UNKNOWN, new_fingerprints
from ..model import Finding, Report, Rule, Severity, Skipped
from . import POLICYREPORT_APIS
from .json_report import dumps
from .rulemeta import rule_index

SOURCE = "k8s-isolation-audit"
LABELS = {"app.kubernetes.io/managed-by": SOURCE}
CLUSTER_ANNOTATION = "isolation-audit.io/cluster"  # an annotation: a cluster's name need not be a label value
# kind of the namespaced report, kind of the cluster-scoped one
APIS = dict(zip(POLICYREPORT_APIS, (("PolicyReport", "ClusterPolicyReport"), ("Report", "ClusterReport")), strict=True))
DEFAULT_API = POLICYREPORT_APIS[0]
# An object in etcd is at most 1.5 MiB. A report holds at most MAX_RESULTS results and
# MAX_REPORT_BYTES of them; a message or property is cut at MAX_TEXT characters, because
# evidence is a value of the audited object, whose size its author (a tenant) chooses, and one
# report too large for etcd would fail the whole publish.
MAX_RESULTS = 500
MAX_REPORT_BYTES = 1_000_000
MAX_TEXT = 2048
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # DNS-1123 label
OUTCOMES = ("pass", "fail", "warn", "error", "skip")


def render(report: Report, rules: Iterable[Rule] | None = None, api: str = DEFAULT_API,
           now: float | None = None) -> str:
    """`now`: the results' timestamp (seconds since the epoch; default: the time of the call)."""
    return dumps(to_list(report, rules, api, now))


def to_list(report: Report, rules: Iterable[Rule] | None = None, api: str = DEFAULT_API,
            now: float | None = None) -> dict[str, Any]:
    if api not in APIS:
        raise ValueError(f"unknown policy report API {api!r}")
    stamp = time.time() if now is None else now
    timestamp = {"seconds": int(stamp), "nanos": int(round((stamp % 1) * 1e9)) % 1_000_000_000}
    index = rule_index(report, rules)
    # A scan of several contexts: each cluster's reports get their own names, or applying the
    # List would keep only the last of each.
    several = len({f.cluster or "" for f in report.findings}) > 1
    new = new_fingerprints(report)
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for f in report.findings:
        namespace = f.namespace if f.namespace and _NAMESPACE.match(f.namespace) else None
        key = (f.cluster or "" if several else "", namespace)
        groups.setdefault(key, []).append(_result(f, index, report.fail_on, timestamp, new))
    cluster_wide = groups.setdefault(("", None), [])
    cluster_wide.extend(_not_audited(s, timestamp) for s in report.coverage.skipped)
    drift = report.sections.get("drift")
    if isinstance(drift, Mapping):
        cluster_wide.append(_drift(drift, timestamp))
    items = []
    for cluster, namespace in sorted(groups, key=lambda k: (k[0], k[1] or "")):
        items.extend(_reports(api, cluster, namespace, groups[(cluster, namespace)]))
    return {"apiVersion": "v1", "kind": "List", "items": items}


def _reports(api: str, cluster: str, namespace: str | None, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One report, or several of MAX_RESULTS each: `k8s-isolation-audit`, `k8s-isolation-audit-2`, …
    (`k8s-isolation-audit-<hash of the cluster name>-…` when the scan read several clusters)."""
    namespaced, cluster_kind = APIS[api]
    chunks = _chunks(results)
    base = f"{SOURCE}-{hashlib.sha256(cluster.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}" if cluster \
        else SOURCE
    out = []
    for n, chunk in enumerate(chunks, 1):
        metadata: dict[str, Any] = {"name": base if n == 1 else f"{base}-{n}", "labels": dict(LABELS)}
        if cluster:
            metadata["annotations"] = {CLUSTER_ANNOTATION: cluster}
        if namespace is not None:
            metadata["namespace"] = namespace
        obj: dict[str, Any] = {"apiVersion": api, "kind": namespaced if namespace else cluster_kind,
                               "metadata": metadata}
        if api.startswith("openreports.io/"):
            obj["source"] = SOURCE
        if namespace is not None:
            obj["scope"] = {"apiVersion": "v1", "kind": "Namespace", "name": namespace}
        obj["summary"] = {o: sum(1 for r in chunk if r["result"] == o) for o in OUTCOMES}
        obj["results"] = chunk
        out.append(obj)
    return out


def _chunks(results: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The results in order, in runs of at most MAX_RESULTS and MAX_REPORT_BYTES (one at least)."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for result in results:
        n = len(json.dumps(result))  # ASCII-escaped: never less than its UTF-8 size
        if chunks[-1] and (len(chunks[-1]) == MAX_RESULTS or size + n > MAX_REPORT_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(result)
        size += n
    return chunks


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "\u2026"


def _result(f: Finding, index: Mapping[str, Rule], fail_on: Severity | None,
            timestamp: Mapping[str, int], new: frozenset[str]) -> dict[str, Any]:
    rule = index[f.rule_id]
    resource = {"kind": f.kind, "name": _clip(f.name), **({"namespace": _clip(f.namespace)} if f.namespace else {})}
    return {
        "source": SOURCE,
        "policy": f.rule_id,
        "rule": rule.name,
        "category": rule.pack,
        # the scan's own gate: at or above --fail-on fails, below it warns
        "result": "fail" if fail_on is not None and f.severity >= fail_on else "warn",
        "severity": f.severity.label,  # the five labels are the CRDs' enum
        "scored": True,
        "message": _clip(f.message),
        "timestamp": dict(timestamp),
        "resources": [resource],
        "properties": _properties(f, new),
    }


def _properties(f: Finding, new: frozenset[str]) -> dict[str, str]:
    """The finding's other fields as strings. Evidence was redacted when the finding was made."""
    fp = fingerprint(f)
    props = {
        "title": f.title,
        "tenant": f.tenant or "",
        "container": f.container or "",
        "node": f.node or "",
        "cluster": f.cluster or "",
        "controls": ", ".join(f.controls),
        "location": f"{f.location.path}:{f.location.line or ''}".rstrip(":") if f.location else "",
        "remediation": f.remediation,
        "fingerprint": fp,  # the baseline's id: the same finding keeps it from run to run
        "drift": "new" if fp in new else "",  # not in the previous in-cluster run
    }
    for pointer, value in f.evidence.items():
        props[f"evidence {pointer}"] = value if isinstance(value, str) else json.dumps(value, default=str)
    return {k: _clip(v) for k, v in props.items() if v}


def _drift(section: Mapping[str, Any], timestamp: Mapping[str, int]) -> dict[str, Any]:
    """One result on the cluster-scoped report for the change since the previous run (the
    fixed findings have no object left to carry them): `pass` when nothing new appeared."""
    findings, reach = section.get("findings") or {}, section.get("reachability") or {}
    new, fixed = findings.get("new") or {}, findings.get("fixed") or {}
    status = str(section.get("status"))
    props = {"status": status, "new": str(new.get("count", 0)), "fixed": str(fixed.get("count", 0)),
             "reachability gained": str(len(reach.get("gained") or ())),
             "reachability lost": str(len(reach.get("lost") or ()))}
    for side, counts in (("new", new), ("fixed", fixed)):
        props.update({f"{side} {s}": str(n) for s, n in (counts.get("by_severity") or {}).items()})
    if section.get("reason"):
        props["reason"] = str(section["reason"])
    worse = new.get("count", 0) or reach.get("gained")
    return {
        "source": SOURCE,
        "policy": "drift",
        "rule": "since-previous-run",
        "result": "error" if status == UNKNOWN else "warn" if worse else "pass",
        "message": (f"drift since the previous run: {props['new']} new, {props['fixed']} fixed findings; "
                    f"{props['reachability gained']} tenant pairs gained, {props['reachability lost']} lost"
                    if status == COMPARED else f"drift: {status}"),
        "timestamp": dict(timestamp),
        "properties": props,
    }


def _not_audited(skipped: Skipped, timestamp: Mapping[str, int]) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "policy": "coverage",
        "rule": "input-audited",
        "result": "error",
        "message": _clip(f"not audited: {skipped.one_line()}"),
        "timestamp": dict(timestamp),
        "properties": {"input": _clip(skipped.source), "reason": _clip(skipped.reason)},
    }
