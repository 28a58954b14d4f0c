"""SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps).

Manifest findings carry a physical location (the path as the report has it, relative to
the repository root when the scan ran there, and the line) so annotations land on the
right line; findings without a file (a live cluster) carry a logical location naming the
object. Rules carry their docs, controls and GitHub's `security-severity`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from ..baseline import fingerprint
from ..model import Finding, Report, Rule, Severity
from .json_report import finding_dict
from .rulemeta import SEVERITY_SCORE, first_url, object_label, rule_index

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}


def to_sarif(report: Report, rules: Iterable[Rule] | None = None, root: str | None = None) -> dict[str, Any]:
    """`rules`: the rules that ran (default: the built-in packs). `root`: absolute paths
    under it become relative URIs (GitHub resolves them against the repository root)."""
    index = rule_index(report, rules)
    position = {rule_id: i for i, rule_id in enumerate(index)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "k8s-isolation-audit",
            "version": report.tool_version,
            "semanticVersion": report.tool_version,
            "rules": [_descriptor(r) for r in index.values()],
        }},
        "invocations": [_invocation(report)],
        "results": [_result(f, position[f.rule_id], root) for f in report.findings],
        "columnKind": "unicodeCodePoints",
        "properties": {
            "source": dict(report.source),
            "fail_on": report.fail_on.label if report.fail_on is not None else "none",
            "by_severity": report.counts(),
        },
    }
    if any(f.location and not _absolute(f.location.path) for f in report.findings):
        run["originalUriBaseIds"] = {"%SRCROOT%": {"description": {"text": "The directory the scan ran in."}}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render(report: Report, rules: Iterable[Rule] | None = None, root: str | None = None) -> str:
    return json.dumps(to_sarif(report, rules, root), indent=2, ensure_ascii=False, default=str) + "\n"


def _descriptor(rule: Rule) -> dict[str, Any]:
    docs = rule.docs
    full = " ".join(p.strip() for p in (docs.what, docs.why) if p and p.strip()) or rule.title
    help_text = [f"Fix: {rule.remediation}"] if rule.remediation else []
    help_md = [f"**Fix:** {rule.remediation}"] if rule.remediation else []
    if docs.why:
        help_text.append(f"Why: {docs.why.strip()}")
        help_md.append(f"**Why it matters:** {docs.why.strip()}")
    if docs.good_example:
        help_text.append("Use instead:\n" + docs.good_example.rstrip())
        help_md.append("**Use instead:**\n\n```yaml\n" + docs.good_example.rstrip() + "\n```")
    if rule.controls:
        help_text.append("Controls: " + ", ".join(rule.controls))
        help_md.append("**Controls:** " + ", ".join(f"`{c}`" for c in rule.controls))
    if len(rule.conditions) > 1:
        help_text.append("Controls by condition (a finding carries its condition's):\n"
                         + "\n".join(f"- {c.when}: {', '.join(c.controls)}" for c in rule.conditions))
        help_md.append("**Controls by condition** (a finding carries its condition's):\n"
                       + "\n".join(f"- {c.when}: " + ", ".join(f"`{x}`" for x in c.controls) for c in rule.conditions))
    if docs.references:
        help_text.append("References:\n" + "\n".join(f"- {r}" for r in docs.references))
        help_md.append("**References:**\n" + "\n".join(f"- {r}" for r in docs.references))
    help_text.append(f"Docs: k8s-isolation-audit rules explain {rule.id}")
    props: dict[str, Any] = {
        "tags": ["security", "kubernetes", "isolation", *rule.controls],
        "precision": "high",
        "severity": rule.severity.label,
        "controls": list(rule.controls),
        "pack": rule.pack,
    }
    if rule.severity.label in SEVERITY_SCORE:
        props["security-severity"] = SEVERITY_SCORE[rule.severity.label]
    descriptor: dict[str, Any] = {
        "id": rule.id,
        "name": _pascal(rule.name),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": full},
        "help": {"text": "\n\n".join(help_text), "markdown": "\n\n".join(help_md) or rule.title},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": props,
    }
    url = first_url(docs.references)
    if url:
        descriptor["helpUri"] = url
    return descriptor


def _pascal(name: str) -> str:
    """SARIF recommends a rule name that is an identifier; `host-pid` -> `HostPid`."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part) or name


def _result(f: Finding, rule_index: int, root: str | None) -> dict[str, Any]:
    label = object_label(f)
    logical = {"name": f.name, "fullyQualifiedName": "/".join(p for p in (f.cluster, label) if p), "kind": "resource"}
    location: dict[str, Any] = {"logicalLocations": [logical]}
    if f.location is not None and f.location.path:
        physical: dict[str, Any] = {"artifactLocation": _artifact(f.location.path, root)}
        if f.location.line and f.location.line > 0:
            physical["region"] = {"startLine": f.location.line}
        location["physicalLocation"] = physical
    return {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": LEVELS[f.severity],
        "message": {"text": f"{f.message} ({label})" if label not in f.message else f.message},
        "locations": [location],
        "partialFingerprints": {"k8sIsolationAudit/v1": fingerprint(f)},
        # the JSON report's fields, less what SARIF already says in its own terms; the tags are
        # the controls this finding's condition violates (the rule's tags list every one it may)
        "properties": {
            "tags": list(f.controls),
            **{k: v for k, v in finding_dict(f).items() if k not in ("rule_id", "title", "message", "location")},
        },
    }


def _absolute(path: str) -> bool:
    return PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute()


def _artifact(path: str, root: str | None) -> dict[str, Any]:
    if _absolute(path) and root:
        rel = os.path.relpath(path, root)
        if not rel.startswith(".."):
            path = rel
    posix = path.replace("\\", "/") if PureWindowsPath(path).drive or "\\" in path else path
    if _absolute(posix):
        return {"uri": "file://" + quote(posix if posix.startswith("/") else "/" + posix)}
    posix = posix[2:] if posix.startswith("./") else posix
    return {"uri": quote(posix), "uriBaseId": "%SRCROOT%"}


def _invocation(report: Report) -> dict[str, Any]:
    notes = [
        {"level": "warning", "message": {"text": f"not audited: {s.one_line()}"},
         **({"locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(s.source.replace("\\", "/"))},
                                                 **({"region": {"startLine": s.line}} if s.line else {})}}]}
            if s.source and s.source != "-" and not _absolute(s.source) else {})}
        for s in report.coverage.skipped
    ]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation
