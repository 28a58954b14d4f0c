"""The JSON report: the stable contract, valid against schemas/report.schema.json."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from ..model import Finding, Report

SCHEMA_VERSION = "1.0"


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id,
        "severity": f.severity.label,
        "title": f.title,
        "message": f.message,
        "tenant": f.tenant,
        "namespace": f.namespace,
        "kind": f.kind,
        "name": f.name,
        "container": f.container,
        "node": f.node,
        "cluster": f.cluster,
        "controls": list(f.controls),
        "evidence": dict(f.evidence),
        "location": {"path": f.location.path, "line": f.location.line} if f.location else None,
        "remediation": f.remediation,
    }


def to_dict(report: Report, findings: bool = True) -> dict[str, Any]:
    """`findings`: False leaves the list empty (`render` writes it a batch at a time)."""
    cov = report.coverage
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "k8s-isolation-audit", "version": report.tool_version},
        "source": dict(report.source),
        "summary": {
            "findings": len(report.findings),
            "by_severity": report.counts(),
            "by_tenant": {t: {s.label: n for s, n in row.items()} for t, row in report.by_tenant().items()},
            "fail_on": report.fail_on.label if report.fail_on is not None else "none",
            "failing": len(report.failing()),
            "partial": not cov.complete,
        },
        "findings": [finding_dict(f) for f in report.findings] if findings else [],
        **report.sections,  # nodes, placement, reachability: filled by the plugins that declare them
        "coverage": {
            "complete": cov.complete,
            "inputs": list(cov.inputs),
            "objects": cov.objects,
            "audited_workloads": cov.audited_workloads,
            "rules_run": cov.rules_run,
            "skipped": [{"source": s.source, "line": s.line, "reason": s.reason} for s in cov.skipped],
            "not_objects": [{"source": n.source, "line": n.line, "reason": n.reason} for n in cov.not_objects],
            "unassessed": list(cov.unassessed),
            "not_installed": list(cov.not_installed),
        },
        "waivers": [
            {"rule": w.rule, "reason": w.reason, "expires": w.expires, "status": w.status, "matched": w.matched}
            for w in report.waivers
        ],
    }


_BATCH = 2048  # items of a list written at a time, at most
_FIRST = 16  # in the first batch of a list, or of a rule's findings
_BATCH_BYTES = 2 << 20
_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def render(report: Report) -> str:
    return "".join(pieces(report))


def pieces(report: Report) -> Iterator[str]:
    """`dumps(to_dict(report))` in pieces: a member at a time, and a long list (the findings, a
    fleet's placement) a batch of items at a time, so that a fleet's report is never held
    whole, as dicts or as text (the CLI writes each piece as it comes)."""
    yield "{\n"
    for n, (key, value) in enumerate(to_dict(report, findings=False).items()):
        yield "" if n == 0 else ",\n"
        findings = key == "findings" and "findings" not in report.sections  # a plugin's section may take the name
        items = report.findings if findings else value
        if not isinstance(items, (list, tuple)) or not items:
            yield _member(key, value)
            continue
        yield f"  {orjson.dumps(key).decode()}: [\n"
        start, count = 0, min(_FIRST, _BATCH)
        while start < len(items):
            end = min(len(items), start + count)
            if findings:  # one rule's findings at a time, since their size goes with the rule
                end = next((i for i in range(start + 1, end) if items[i].rule_id != items[start].rule_id), end)
            text = _batch([finding_dict(f) for f in items[start:end]] if findings else items[start:end])
            yield ("" if start == 0 else ",\n") + text
            # as many items as about _BATCH_BYTES of text at the last ones' size (a reachability
            # finding listing a fleet's namespaces weighs a thousand others); a new rule starts small
            new_rule = findings and end < len(items) and items[end].rule_id != items[start].rule_id
            count = min(_FIRST, _BATCH) if new_rule else max(1, min(_BATCH, (end - start) * _BATCH_BYTES // len(text)))
            start = end
        yield "\n  ]"
    yield "\n}\n"


def _member(key: str, value: Any) -> str:
    """One member, indented as in the report."""
    try:
        text = orjson.dumps({key: value}, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        text = _standard({key: value})
    return text[len("{\n") : -len("\n}")]


def _batch(items: Sequence[Any]) -> str:
    """Items of a member's list as they sit in it. Written as a list inside one more, they are as
    deep as in the report (orjson's depth bound falls where it falls for the whole report) and,
    indented, at the report's indentation. A batch orjson refuses (evidence from hostile input) is
    written as `dumps` writes such a report: by the standard library."""
    wrapped = [list(items)]
    try:
        text = orjson.dumps(wrapped, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        text = _standard(wrapped)
    return text[len("[\n  [\n") : -len("\n  ]\n]")]


def dumps(data: Any) -> str:
    """Indented JSON, as every JSON this tool writes."""
    try:
        return orjson.dumps(data, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE).decode()
    except orjson.JSONEncodeError:
        return _standard(data) + "\n"


def _standard(data: Any) -> str:
    """What orjson refuses (evidence copied from hostile input: integers past 64 bits, or
    deeper than orjson goes), by the standard library, with infinities written as orjson
    writes them (null): its `Infinity` is no JSON."""
    return json.dumps(_finite(data), indent=2, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
