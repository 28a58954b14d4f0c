"""The fleet view: one report over many clusters, from the JSON reports of their scans.

Each input names its cluster (`source.cluster`, set by live scans and the in-cluster mode);
a report of files names none, and its file name stands in. A file that is not a JSON report
of this tool, or one of a schema version this one cannot read, is one line naming the file
(never a value from it); the other files are still merged and the fleet is marked partial.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from . import __version__
from .model import Severity
from .reports.html import report_tenants
from .rules import SCHEMAS
from .sources.parsing import Limits, ParseError, TooLarge, json_document, read_input

SCHEMA_VERSION = "1.0"
_READS = re.compile(r"^1\.[0-9]+$")  # the major version this tool reads
_LIMITS = Limits()
SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    file: str
    report: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Fleet:
    clusters: tuple[Cluster, ...]
    problems: tuple[tuple[str, str], ...]  # (file, reason): inputs that could not be merged

    @property
    def partial(self) -> bool:
        """A file was not merged, or a cluster's own scan was partial."""
        return bool(self.problems) or any(c.report["summary"]["partial"] for c in self.clusters)

    @property
    def failing(self) -> int:
        return sum(int(c.report["summary"]["failing"]) for c in self.clusters)

    def one_lines(self) -> list[str]:
        return [f"{file}: {reason}" for file, reason in self.problems]


def merge(paths: Sequence[str]) -> Fleet:
    clusters: list[Cluster] = []
    problems: list[tuple[str, str]] = []
    for path in paths:
        report, reason = _load(path)
        if report is None:
            problems.append((path, reason))
            continue
        clusters.append(Cluster(_name(report, path, {c.name for c in clusters}), path, report))
    return Fleet(tuple(clusters), tuple(problems))


def _load(path: str) -> tuple[dict[str, Any] | None, str]:
    try:
        data = json_document(read_input(Path(path), None, _LIMITS.max_file_bytes), _LIMITS)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or type(exc).__name__}"
    except TooLarge as exc:
        return None, f"cannot read: {exc}"
    except ParseError as exc:
        return None, "not JSON" + (f" (line {exc.line})" if exc.line is not None else "")
    if not isinstance(data, dict) or not isinstance(data.get("tool"), dict) or (
            data["tool"].get("name") != "k8s-isolation-audit"):
        return None, "not a k8s-isolation-audit JSON report"
    version = data.get("schema_version")
    if not isinstance(version, str) or not _READS.match(version):
        return None, "schema_version is not 1.x, the version this tool reads"
    error = next(_validator().iter_errors(data), None)
    if error is not None:
        top = error.absolute_path[0] if error.absolute_path else None
        field = f" (field {top})" if isinstance(top, str) and top in _validator().schema["properties"] else ""
        return None, f"not a valid k8s-isolation-audit JSON report{field}"
    return data, ""


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads((SCHEMAS / "report.schema.json").read_text()))


def _name(report: Mapping[str, Any], path: str, taken: set[str]) -> str:
    name = report["source"].get("cluster") or Path(path).name
    if name in taken:
        name = f"{name} ({path})"
    n = 2
    base = name
    while name in taken:
        name, n = f"{base} #{n}", n + 1
    return str(name)


def to_dict(fleet: Fleet) -> dict[str, Any]:
    tenants: dict[str, list[str]] = {}
    rows = []
    for c in fleet.clusters:
        summary = c.report["summary"]
        present = report_tenants(c.report)
        for t in present:
            tenants.setdefault(t, []).append(c.name)
        rows.append({
            "name": c.name, "file": c.file, "partial": summary["partial"],
            "findings": summary["findings"], "by_severity": {s: summary["by_severity"].get(s, 0) for s in SEVERITIES},
            "fail_on": summary["fail_on"], "failing": summary["failing"], "tenants": present,
            "report": c.report,
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "fleet",
        "tool": {"name": "k8s-isolation-audit", "version": __version__},
        "summary": {
            "clusters": len(rows),
            "findings": sum(r["findings"] for r in rows),
            "by_severity": {s: sum(r["by_severity"][s] for r in rows) for s in SEVERITIES},
            "failing": fleet.failing,
            "partial": fleet.partial,
            "partial_clusters": [r["name"] for r in rows if r["partial"]],
            "shared_tenants": [{"tenant": t, "clusters": names} for t, names in sorted(tenants.items())
                               if len(names) > 1],
            "not_merged": [{"file": file, "reason": reason} for file, reason in fleet.problems],
        },
        "clusters": rows,
    }


def render(fleet: Fleet, fmt: str) -> str:
    data = to_dict(fleet)
    if fmt == "html":
        from .reports.fleet_html import render as html

        return html(data)
    if fmt == "markdown":
        from .reports.fleet_markdown import render as markdown

        return markdown(data)
    from .reports.json_report import dumps

    return dumps(data)
