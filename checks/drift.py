"""Declared versus observed: what a workload's manifest asked for against what a probe saw.

Which workload and container a probe report is about: `auditor.probed`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.analysis import AnalysisContext, AnalysisResult, Check, Hit
from auditor.model import Rule
from auditor.probed import probed_container, probed_workload
from auditor.workloads import ContainerView, PodView

ESCAPE_CAPABILITIES = frozenset(
    {"SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "DAC_READ_SEARCH", "NET_ADMIN", "BPF", "PERFMON",
     "SYS_BOOT", "MAC_ADMIN", "MAC_OVERRIDE"}
)


class Drift:
    # Every check compares a manifest with what a probe saw.
    checks = {name: Check(needs_probe=True) for name in ("privilege", "host-namespace", "limits", "root", "seccomp")}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        checks: dict[str, Rule] = {}
        for rule in rules:
            assert rule.check is not None  # the engine hands a plugin only its analysis rules
            checks[rule.check] = rule
        hits: list[Hit] = []
        for fact in ctx.inventory.facts:
            view = probed_workload(ctx.workloads, fact)
            if view is None:
                continue
            container = probed_container(view, fact)
            for check, rule in checks.items():
                found = CHECKS[check](view, container, fact.report)
                if found is not None:
                    message, evidence = found
                    evidence = {**evidence, "probe_report": fact.origin.path, "probed_pod": fact.pod}
                    pointer = container.pointer if container else view.pointer
                    name = container.name if container else None
                    hits.append(Hit(rule.id, view.resource, message, evidence, pointer, name, fact.node))
        return AnalysisResult(hits=tuple(hits))


Found = tuple[str, dict[str, Any]] | None


def _privilege(view: PodView, container: ContainerView | None, report: Mapping[str, Any]) -> Found:
    observed = set(report["privileges"]["capabilities_effective"]) & ESCAPE_CAPABILITIES
    if container is None or not observed:
        return None
    context = container.target["_effectiveSecurityContext"]
    if context.get("privileged") is True:
        return None
    added = context.get("capabilities", {}).get("add", []) if isinstance(context.get("capabilities"), dict) else []
    declared = {str(c).upper().removeprefix("CAP_") for c in added if isinstance(c, str)}
    undeclared = sorted(observed - declared)
    if not undeclared:
        return None
    return (
        f"container {container.name} declares no privileges but the probe holds {', '.join(undeclared)}",
        {"declared_add": sorted(declared), "observed_effective": sorted(observed)},
    )


def _host_namespace(view: PodView, container: ContainerView | None, report: Mapping[str, Any]) -> Found:
    drifted = {
        field: kind
        for field, kind in (("hostPID", "pid"), ("hostNetwork", "net"), ("hostIPC", "ipc"))
        if view.spec.get(field) is not True and report["namespaces"][kind]["shared_with_host"] is True
    }
    if not drifted:
        return None
    return (
        f"{view.resource.kind} {view.resource.name} declares no host namespaces but the probe shares the host's "
        + ", ".join(drifted.values()),
        {"undeclared": sorted(drifted), "observed": {k: report["namespaces"][k] for k in drifted.values()}},
    )


def _limits(view: PodView, container: ContainerView | None, report: Mapping[str, Any]) -> Found:
    if container is None:
        return None
    resources = container.spec.get("resources")
    limits = resources.get("limits", {}) if isinstance(resources, dict) else {}
    limits = limits if isinstance(limits, dict) else {}
    cgroup = report["cgroup"]
    enforcement = cgroup.get("enforcement", {})
    problems = {}
    if "memory" in limits:
        if cgroup["memory_limit_bytes"] is None:
            problems["memory"] = "no memory limit in the probe's cgroup"
        elif enforcement.get("memory", {}).get("enforced") is False:
            problems["memory"] = "the memory limit was exceeded"
    if "cpu" in limits:
        if cgroup["cpu_quota_cores"] is None:
            problems["cpu"] = "no CPU quota in the probe's cgroup"
        elif enforcement.get("cpu", {}).get("enforced") is False:
            problems["cpu"] = "the CPU quota was exceeded"
    if not problems:
        return None
    return (
        f"container {container.name} declares {', '.join(sorted(problems))} limits but "
        + "; ".join(problems[k] for k in sorted(problems)),
        # only what was compared: the declared limit and the cgroup's readings of it
        {"declared_limits": {k: limits[k] for k in sorted(problems)},
         "observed_cgroup": {k: cgroup.get(k) for k in ("memory_limit_bytes", "cpu_quota_cores", "enforcement")}},
    )


def _root(view: PodView, container: ContainerView | None, report: Mapping[str, Any]) -> Found:
    if container is None or report["privileges"]["uid"] != 0:
        return None
    context = container.target["_effectiveSecurityContext"]
    user = context.get("runAsUser")
    if context.get("runAsNonRoot") is not True and not (isinstance(user, int) and user > 0):
        return None
    return (
        f"container {container.name} declares a non-root user but the probe ran as uid 0",
        {"declared": {"runAsNonRoot": context.get("runAsNonRoot"), "runAsUser": user}, "observed_uid": 0},
    )


def _seccomp(view: PodView, container: ContainerView | None, report: Mapping[str, Any]) -> Found:
    if container is None or report["privileges"]["seccomp_mode"] != "disabled":
        return None
    profile = container.target["_effectiveSecurityContext"].get("seccompProfile")
    if not (isinstance(profile, dict) and profile.get("type") in ("RuntimeDefault", "Localhost")):
        return None
    return (
        f"container {container.name} declares seccomp {profile.get('type')} but the probe ran without seccomp",
        {"declared": profile, "observed_seccomp_mode": "disabled"},
    )


CHECKS = {
    "privilege": _privilege,
    "host-namespace": _host_namespace,
    "limits": _limits,
    "root": _root,
    "seccomp": _seccomp,
}
