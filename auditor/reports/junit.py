"""JUnit XML for CI test reports (GitLab, Jenkins, Azure): one testsuite per rule, one
testcase per rule x object. A testcase with findings fails, its failure carrying the
messages, the remediation and the evidence; a rule that ran and found nothing is one
passing testcase; an active waiver is a skipped testcase with its reason.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable

from ..model import Finding, Report, Rule
from .rulemeta import object_label, rule_index

# XML 1.0 cannot carry these at all, not even escaped; hostile manifests may contain them.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: object) -> str:
    return _ILLEGAL.sub("\N{REPLACEMENT CHARACTER}", str(text))


def render(report: Report, rules: Iterable[Rule] | None = None) -> str:
    """`rules`: the rules that ran; each without findings becomes a passing testcase.
    Without them only the rules with findings appear."""
    index = rule_index(report, rules)
    ran = set(index) if rules is not None else {f.rule_id for f in report.findings}
    groups: dict[str, dict[tuple, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for f in report.findings:
        groups[f.rule_id][(f.cluster or "", f.namespace or "", f.kind, f.name, f.container or "")].append(f)
    waived = _waivers_by_rule(report, index)

    root = ET.Element("testsuites", name="k8s-isolation-audit")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for rule_id in sorted(ran | set(groups) | set(waived)):
        rule = index[rule_id]
        suite = ET.SubElement(root, "testsuite", name=_x(f"{rule.id} {rule.name}: {rule.title}"))
        props = ET.SubElement(suite, "properties")
        for name, value in (("severity", rule.severity.label), ("controls", ", ".join(rule.controls)),
                            ("remediation", rule.remediation)):
            ET.SubElement(props, "property", name=name, value=_x(value))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for _key, findings in sorted(groups.get(rule_id, {}).items()):
            _failing_case(suite, rule, findings)
            counts["tests"] += 1
            counts["failures"] += 1
        if rule_id in ran and rule_id not in groups:
            ET.SubElement(suite, "testcase", classname=_x(rule.id), name=_x(f"{rule.name}: no finding"), time="0")
            counts["tests"] += 1
        for text in waived.get(rule_id, ()):
            case = ET.SubElement(suite, "testcase", classname=_x(rule.id), name=_x(f"waiver {text[0]}"), time="0")
            ET.SubElement(case, "skipped", message=_x(f"waived: {text[1]}"))
            counts["tests"] += 1
            counts["skipped"] += 1
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", "0")
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _failing_case(suite: ET.Element, rule: Rule, findings: list[Finding]) -> None:
    first = findings[0]
    case = ET.SubElement(suite, "testcase", classname=_x(f"{rule.id}.{first.tenant or '(platform)'}"),
                         name=_x(object_label(first)), time="0")
    if first.location is not None:
        case.set("file", _x(first.location.path))
        if first.location.line:
            case.set("line", str(first.location.line))
    worst = max(f.severity for f in findings)
    lines = []
    for f in findings:
        where = f" at {f.location.path}:{f.location.line or '?'}" if f.location else ""
        lines.append(f"[{f.severity.label}] {f.message}{where}")
        lines.append("evidence: " + json.dumps(dict(f.evidence), sort_keys=True, default=str, ensure_ascii=False))
    lines.append(f"remediation: {first.remediation}")
    controls = dict.fromkeys(c for f in findings for c in f.controls)  # each finding's condition's, in order
    if controls:
        lines.append("controls: " + ", ".join(controls))
    failure = ET.SubElement(case, "failure", message=_x(first.message), type=worst.label)
    failure.text = _x("\n".join(lines))


def _waivers_by_rule(report: Report, index: dict[str, Rule]) -> dict[str, list[tuple[str, str]]]:
    from fnmatch import fnmatchcase

    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for w in report.waivers:
        if w.status != "active":
            continue
        pattern = w.rule.split(" ", 1)[0]
        for rule_id in index:
            if fnmatchcase(rule_id, pattern) or index[rule_id].name == pattern:
                out[rule_id].append((w.rule, f"{w.reason} (matched {w.matched}, expires {w.expires or 'never'})"))
    return out
