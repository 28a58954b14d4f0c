"""Compliance control mapping: one report per framework, each control with a status.

- `fail`: an active (unwaived) finding maps to the control;
- `pass`: rules mapping to it ran on some input of theirs and found nothing;
- `not-tested`: no rule mapping to it ran, or only rules that had nothing to evaluate:
  that need probe results and had none, or read kinds of object the input lacks (the RBAC
  rules without a single binding); PCI DSS 11.4.5 (segmentation testing) is decided by the
  observed reachability instead: `not-tested` without probes, `fail` with IA407, else `pass`;
- `manual`: a short curated list of controls no rule can evidence, for the auditor.

Controls come from the rules' `controls` (`scheme:id`), so a rule pack that maps a new
control adds it here without code. A control fails on the findings that carry it: a
finding carries the controls of the condition it matched, not every control of its rule.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from ..model import Finding, Report, Rule
from .markdown import esc
from .rulemeta import object_label

SCHEMA_VERSION = "1.0"
FRAMEWORKS = {
    "cis-k8s": "CIS Kubernetes Benchmark",
    "nsa-cisa": "NSA/CISA Kubernetes Hardening Guide",
    "nist-800-190": "NIST SP 800-190 Application Container Security Guide",
    "pci-dss-4": "PCI DSS v4.0",
    "soc2": "SOC 2 (Trust Services Criteria)",
    "pss": "Kubernetes Pod Security Standards",
}
SEGMENTATION = "pci-dss-4:11.4.5"
SEGMENTATION_RULE = "IA407"
TITLES = {
    "cis-k8s:5.1.1": "Ensure that the cluster-admin role is only used where required",
    "cis-k8s:5.1.3": "Minimize wildcard use in Roles and ClusterRoles",
    "cis-k8s:5.1.6": "Ensure that Service Account Tokens are only mounted where necessary",
    "cis-k8s:5.2.1": "Ensure that the cluster has at least one active policy control mechanism in place",
    "cis-k8s:5.2.2": "Minimize the admission of privileged containers",
    "cis-k8s:5.2.3": "Minimize the admission of containers wishing to share the host process ID namespace",
    "cis-k8s:5.2.4": "Minimize the admission of containers wishing to share the host IPC namespace",
    "cis-k8s:5.2.5": "Minimize the admission of containers wishing to share the host network namespace",
    "cis-k8s:5.2.6": "Minimize the admission of containers with allowPrivilegeEscalation",
    "cis-k8s:5.2.7": "Minimize the admission of root containers",
    "cis-k8s:5.2.8": "Minimize the admission of containers with the NET_RAW capability",
    "cis-k8s:5.2.9": "Minimize the admission of containers with added capabilities",
    "cis-k8s:5.2.10": "Minimize the admission of containers with capabilities assigned",
    "cis-k8s:5.2.11": "Minimize the admission of Windows HostProcess containers",
    "cis-k8s:5.2.12": "Minimize the admission of HostPath volumes",
    "cis-k8s:5.2.13": "Minimize the admission of containers which use HostPorts",
    "cis-k8s:5.3.1": "Ensure that the CNI in use supports NetworkPolicies",
    "cis-k8s:5.3.2": "Ensure that all Namespaces have NetworkPolicies defined",
    "cis-k8s:5.4.1": "Prefer using Secrets as files over Secrets as environment variables",
    "cis-k8s:5.5.1": "Configure Image Provenance using ImagePolicyWebhook admission controller",
    "cis-k8s:5.7.2": "Ensure that the seccomp profile is set to docker/default in your Pod definitions",
    "cis-k8s:5.7.4": "The default namespace should not be used",
    "nsa-cisa:pod-security": "Kubernetes Pod security",
    "nsa-cisa:network-separation": "Network separation and hardening",
    "nsa-cisa:resource-policies": "Resource policies (quotas and limits)",
    "nsa-cisa:authentication-authorization": "Authentication and authorization",
    "nsa-cisa:audit-logging": "Audit logging and threat detection",
    "nsa-cisa:upgrading": "Upgrading and application security practices",
    "nist-800-190:4.1.4": "Image risks: embedded clear text secrets",
    "nist-800-190:4.1.5": "Image risks: use of untrusted images",
    "nist-800-190:4.3.1": "Orchestrator risks: unbounded administrative access",
    "nist-800-190:4.3.3": "Orchestrator risks: poorly separated inter-container network traffic",
    "nist-800-190:4.4.1": "Container risks: vulnerabilities within the runtime software",
    "nist-800-190:4.4.2": "Container risks: unbounded network access from containers",
    "nist-800-190:4.4.3": "Container risks: insecure container runtime configurations",
    "nist-800-190:4.5.1": "Host OS risks: large attack surface",
    "nist-800-190:4.5.2": "Host OS risks: shared kernel",
    "nist-800-190:4.5.3": "Host OS risks: host OS component vulnerabilities",
    "nist-800-190:4.5.5": "Host OS risks: host OS file system tampering",
    "pci-dss-4:1.3.1": "Inbound traffic to the CDE is restricted",
    "pci-dss-4:1.3.2": "Outbound traffic from the CDE is restricted",
    "pci-dss-4:2.2.1": "Configuration standards are developed, implemented and maintained",
    "pci-dss-4:2.2.6": "System security parameters are configured to prevent misuse",
    "pci-dss-4:6.3.3": "System components are protected from known vulnerabilities by installing patches",
    "pci-dss-4:7.2.1": "An access control model is defined",
    "pci-dss-4:8.6.2": (
        "Passwords for application and system accounts are not hard coded in scripts or configuration files"
    ),
    "pci-dss-4:10.2.1": "Audit logs are enabled and active for all system components",
    "pci-dss-4:11.4.5": "Segmentation controls are tested and isolate the CDE from out-of-scope systems",
    "soc2:CC6.1": "Logical access security over protected information assets",
    "soc2:CC6.2": "Registration and authorization of new users",
    "soc2:CC6.3": "Role-based access: authorizing, modifying and removing access",
    "soc2:CC6.6": "Logical access measures against threats from outside the system boundaries",
    "soc2:CC6.8": "Prevention and detection of unauthorized or malicious software",
    "soc2:CC7.1": "Detection of configuration changes and new vulnerabilities",
    "soc2:CC7.2": "Monitoring of system components for anomalies",
}
# Controls no rule of this tool can evidence: listed so the auditor sees what remains.
MANUAL = {
    "cis-k8s:5.5.1": "Review the image admission policy (signatures, allowed registries).",
    "nsa-cisa:audit-logging": "Review the API server audit policy and where its logs go.",
    "nsa-cisa:upgrading": "Review the patch cadence of the control plane, nodes and images.",
    "nist-800-190:4.1.4": "Scan images for embedded secrets.",
    "nist-800-190:4.1.5": "Review image provenance and the registries workloads pull from.",
    "nist-800-190:4.3.1": "Review who holds cluster-admin and how administrative access is granted.",
    "pci-dss-4:10.2.1": "Review API server and node audit logging.",
    "soc2:CC6.2": "Review user and service-account provisioning.",
    "soc2:CC6.8": "Review image scanning and runtime malware detection.",
}


def build(report: Report, rules: Iterable[Rule], probes_ran: bool | None = None,
          catalog: Iterable[Rule] | None = None) -> dict[str, Any]:
    """The control reports. `rules`: the rules that ran (a RuleSet's rules the config
    selects). `catalog`: every rule known (the whole RuleSet), so controls of deselected
    rules show as not-tested. `probes_ran`: whether probe results joined the audit
    (default: inferred from observed reachability and from findings of probe rules)."""
    rules = list(rules)
    by_id = {r.id: r for r in rules}
    ran = set(by_id)
    known = {r.id: r for r in catalog} if catalog is not None else {}
    known.update(by_id)
    observed = list(report.sections["reachability"].get("observed") or [])
    if probes_ran is None:
        probes_ran = bool(observed) or any(by_id[f.rule_id].needs_probe for f in report.findings if f.rule_id in by_id)
    mapped: dict[str, list[Rule]] = {}
    for r in known.values():
        for c in r.controls:
            mapped.setdefault(c, []).append(r)
    hits: dict[str, list[Finding]] = {}
    for f in report.findings:
        for c in f.controls:
            hits.setdefault(c, []).append(f)
    frameworks = []
    for scheme, title in FRAMEWORKS.items():
        ids = {c for c in [*mapped, *hits, *MANUAL] if c.split(":", 1)[0] == scheme}
        if scheme == "pci-dss-4":
            ids.add(SEGMENTATION)
        controls = [_control(c, mapped.get(c, []), ran, hits.get(c, []), report, probes_ran, observed)
                    for c in sorted(ids, key=_natural)]
        summary = {s: sum(1 for c in controls if c["status"] == s) for s in ("fail", "pass", "not-tested", "manual")}
        frameworks.append({"id": scheme, "title": title, "summary": summary, "controls": controls})
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "k8s-isolation-audit", "version": report.tool_version},
        "source": dict(report.source),
        "complete": report.coverage.complete,
        "probes_ran": probes_ran,
        "frameworks": frameworks,
    }


def _natural(control: str) -> list:
    return [int(p) if p.isdigit() else p for p in control.replace(":", ".").split(".")]


def _control(cid: str, mapped: list[Rule], ran: set[str], findings: list[Finding], report: Report,
             probes_ran: bool, observed: list[Mapping[str, Any]]) -> dict[str, Any]:
    evidence: list[str] = []
    rules = [r for r in mapped if r.id in ran]
    idle = set(report.coverage.unassessed)
    checked = [r for r in rules if (probes_ran or not r.needs_probe) and r.id not in idle]
    if cid == SEGMENTATION:
        status, reason = _segmentation(findings, observed, evidence)
    elif findings:
        status, reason = "fail", f"{len(findings)} finding(s) from {', '.join(sorted({f.rule_id for f in findings}))}"
    elif checked:
        status = "pass"
        reason = f"{len(checked)} rule(s) ran and found nothing: {', '.join(r.id for r in checked)}"
        evidence.append(f"audited {report.coverage.audited_workloads} workload(s) in {report.coverage.objects} "
                        f"object(s) from {len(report.coverage.inputs)} input(s)")
        if not report.coverage.complete:
            evidence.append(f"partial audit: {len(report.coverage.skipped)} input(s) or object(s) not read")
    elif rules:
        waiting = sorted(r.id for r in rules if r.needs_probe and not probes_ran)
        empty = sorted(r.id for r in rules if r.id in idle and r.id not in waiting)
        why = []
        if waiting:
            why.append(f"{', '.join(waiting)} need probe results (--probe-results) and none were given")
        if empty:
            why.append(f"{', '.join(empty)} ran with nothing to evaluate: no object of the kinds they read was in "
                       "the input")
        status, reason = "not-tested", "; ".join(why)
    elif cid in MANUAL:
        status, reason = "manual", MANUAL[cid]
    else:
        skipped = ", ".join(sorted(r.id for r in mapped)) or "none"
        status, reason = "not-tested", f"no rule mapping to this control ran (deselected: {skipped})"
    return {
        "id": cid,
        "control": cid.split(":", 1)[1],
        "title": TITLES.get(cid) or "; ".join(sorted({r.title for r in mapped})[:3]) or cid,
        "status": status,
        "reason": reason,
        "rules": [
            {
                "id": r.id,
                "name": r.name,
                "ran": r.id in ran,
                "needs_probe": r.needs_probe,
                "findings": sum(1 for f in findings if f.rule_id == r.id),
            }
            for r in sorted(mapped, key=lambda r: r.id)
        ],
        "findings": [_finding(f) for f in findings],
        "evidence": evidence,
        "waivers": _waivers(report, mapped),
    }


def _segmentation(findings: list[Finding], observed: list[Mapping[str, Any]], evidence: list[str]) -> tuple[str, str]:
    if not observed:
        return "not-tested", "no probe tested reachability between tenants (probe --reach)"
    pairs = sorted({(str(o.get("from_tenant")), str(o.get("to_tenant")), str(o.get("result"))) for o in observed})
    evidence.extend(f"observed {a} -> {b}: {result}" for a, b, result in pairs[:200])
    if len(pairs) > 200:
        evidence.append(f"... and {len(pairs) - 200} more observed tenant pairs in report.json")
    broken = [f for f in findings if f.rule_id == SEGMENTATION_RULE]
    if broken:
        return "fail", f"{len(broken)} connection(s) the NetworkPolicies deny succeeded ({SEGMENTATION_RULE})"
    return "pass", f"{len(observed)} probed connection(s); every one the policies deny was blocked"


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id, "severity": f.severity.label, "tenant": f.tenant, "object": object_label(f),
        "message": f.message, "evidence": dict(f.evidence),
        "location": {"path": f.location.path, "line": f.location.line} if f.location else None,
    }


def _waivers(report: Report, rules: list[Rule]) -> list[dict[str, Any]]:
    out = []
    for w in report.waivers:
        pattern = w.rule.split(" ", 1)[0]
        if any(fnmatchcase(r.id, pattern) or r.name == pattern for r in rules):
            out.append({"rule": w.rule, "reason": w.reason, "expires": w.expires, "status": w.status,
                        "matched": w.matched})
    return out


def render_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


STATUS_ICONS = {"fail": "❌ fail", "pass": "✅ pass", "not-tested": "➖ not tested", "manual": "📝 manual"}


def render_markdown(data: Mapping[str, Any], max_findings: int = 5) -> str:
    lines = ["# Compliance controls", "",
             f"k8s-isolation-audit {esc(data['tool']['version'])} · "
             f"{'complete audit' if data['complete'] else '**partial audit**'} · "
             f"probes {'joined' if data['probes_ran'] else 'not run'}", ""]
    for fw in data["frameworks"]:
        s = fw["summary"]
        lines += [f"## {fw['title']}", "",
                  f"{s['fail']} fail · {s['pass']} pass · {s['not-tested']} not tested · {s['manual']} manual", "",
                  "| control | title | status | why | rules |", "|---|---|---|---|---|"]
        for c in fw["controls"]:
            lines.append(f"| {esc(c['control'])} | {esc(c['title'], 120)} | {STATUS_ICONS[c['status']]} | "
                         f"{esc(c['reason'], 160)} | {esc(', '.join(r['id'] for r in c['rules']) or '—')} |")
        lines.append("")
        for c in fw["controls"]:
            if not (c["findings"] or c["waivers"] or (c["evidence"] and c["status"] != "pass")):
                continue
            lines.append(f"### {esc(c['id'])}: {STATUS_ICONS[c['status']]}")
            lines.append("")
            for f in c["findings"][:max_findings]:
                where = f" ({esc(f['location']['path'])}:{f['location']['line']})" if f["location"] else ""
                lines.append(f"- **{esc(f['rule_id'])}** {esc(f['severity'])} {esc(f['object'])}{where}: "
                             f"{esc(f['message'], 240)}")
            if len(c["findings"]) > max_findings:
                lines.append(f"- … and {len(c['findings']) - max_findings} more in controls.json")
            for e in c["evidence"][:20]:
                lines.append(f"- {esc(e, 240)}")
            for w in c["waivers"]:
                lines.append(f"- waiver {esc(w['rule'])} ({esc(w['status'])}, expires {esc(w['expires'] or 'never')}): "
                             f"{esc(w['reason'], 200)}")
            lines.append("")
    return "\n".join(lines) + "\n"
