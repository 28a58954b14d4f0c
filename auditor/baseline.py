"""Baselines: report only the findings a previous report (JSON) did not already have.

A finding's fingerprint names what it is about, never where it was printed: rule id,
cluster, kind, namespace, name, container and a normalised evidence key. Line numbers,
document order and list indexes in evidence pointers (`/spec/containers/0/...`) are left
out, so moving or reordering manifests keeps every fingerprint. Two findings may share a
fingerprint (two hostPath volumes of one pod); matching counts them, so a third one is new.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .model import Finding, Report
from .sources.parsing import Limits, ParseError, TooLarge, json_document, read_input

FINGERPRINT_VERSION = "v1"
# Evidence of analyses is a free-form dict; these keys identify *which* relation a finding
# is about (an edge between tenants, a port). Counts, lists of examples and paths of probe
# reports change from run to run and are left out.
IDENTITY_KEYS = ("to_tenant", "from", "to", "port", "check")
_INDEX = re.compile(r"/\d+(?=/|$)")
# The bounds of every input, but a report quotes an input's evidence a few levels below its root.
_LIMITS = Limits(max_depth=Limits().max_depth + 8)


class BaselineError(Exception):
    """A baseline that cannot be used; a one-line reason naming the file."""


def _get(f: Finding | Mapping[str, Any], key: str) -> Any:
    return f.get(key) if isinstance(f, Mapping) else getattr(f, key)


def evidence_key(evidence: Mapping[str, Any] | None) -> str:
    if not isinstance(evidence, Mapping):
        return ""
    parts = set()
    for key, value in evidence.items():
        key = str(key)
        if key.startswith("/"):
            parts.add(_INDEX.sub("/*", key))
        elif key in IDENTITY_KEYS:
            parts.add(f"{key}={json.dumps(value, sort_keys=True, default=str)}")
    return "|".join(sorted(parts))


def fingerprint(f: Finding | Mapping[str, Any]) -> str:
    """A stable id for a Finding or a finding dict of the JSON report (they agree)."""
    fields = [_get(f, k) or "" for k in ("rule_id", "cluster", "kind", "namespace", "name", "container")]
    text = "\x1f".join([FINGERPRINT_VERSION, *map(str, fields), evidence_key(_get(f, "evidence"))])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read a JSON report written by `--format json`; BaselineError with one line otherwise."""
    try:
        data = json_document(read_input(Path(path), None, _LIMITS.max_file_bytes), _LIMITS)
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc.strerror or exc}") from None
    except TooLarge as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc}") from None
    except ParseError as exc:
        where = f"{path}:{exc.line}" if exc.line is not None else str(path)
        raise BaselineError(f"{where}: baseline is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise BaselineError(f"{path}: not a k8s-isolation-audit JSON report (no 'findings' list)")
    if not all(isinstance(f, dict) for f in data["findings"]):
        raise BaselineError(f"{path}: findings: every finding must be an object")
    return data


def new_findings(report: Report, baseline: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> Report:
    """The report with only the findings the baseline (a JSON report, or its findings) lacks.

    Everything else (nodes, placement, reachability, coverage, waivers) is kept, so the
    filtered report renders in every format and gates the same way.
    """
    items = baseline.get("findings", []) if isinstance(baseline, Mapping) else baseline
    known = Counter(fingerprint(f) for f in items if isinstance(f, Mapping))
    kept = []
    for finding in report.findings:
        fp = fingerprint(finding)
        if known[fp] > 0:
            known[fp] -= 1
        else:
            kept.append(finding)
    return replace(report, findings=tuple(kept))
