"""Kernel domains: per node, the tenants whose non-sandboxed pods share its kernel.

On a bare-metal node that kernel is the whole machine's; on a VM it is the VM's. Probe
reports that carry the same boot_id ran on one kernel, whatever the API says.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from auditor.analysis import AnalysisContext, AnalysisResult, Check, Hit, Section
from auditor.model import Finding, Rule
from auditor.pointer import at
from auditor.substrate import BARE_METAL, VM
from auditor.vulns import AFFECTED, NOT_AFFECTED, match

from .fleet import Fleet, Placement, escape_grade, fleet


def _count_findings(rows: Sequence[dict[str, Any]], findings: Sequence[Finding]) -> tuple[dict[str, Any], ...]:
    per_node: dict[str, int] = defaultdict(int)
    for finding in findings:
        if finding.node:
            per_node[finding.node] += 1
    return tuple(dict(row, findings=per_node.get(row["name"], 0)) for row in rows)


class KernelDomains:
    checks = {
        "escape-cves": Check(),
        "shared-bare-metal-kernel": Check(),
        "privileged-neighbour": Check(),
        "vm-co-tenancy": Check(),
        "shared-boot-id": Check(needs_probe=True),  # boot ids come from probes
    }
    sections = {"nodes": Section(empty=(), finish=_count_findings)}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        f = fleet(ctx)
        hits: list[Hit] = []
        for rule in rules:
            assert rule.check is not None  # the engine hands a plugin only its analysis rules
            hits += CHECKS[rule.check](ctx, f, rule)
        return AnalysisResult(hits=tuple(hits), sections={"nodes": node_table(f)})


def _sharing(f: Fleet, node: str) -> list[Placement]:
    return [p for p in f.on(node) if p.sandbox is None]


def _tenants(placements: Iterable[Placement]) -> list[str]:
    return sorted({p.tenant for p in placements if p.tenant is not None})


def node_table(f: Fleet) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(set(f.nodes) | {p.node for p in f.placements}):
        substrate = f.substrates.get(name)
        node = f.nodes.get(name)
        info = at(node.obj, ("status", "nodeInfo")) if node is not None else None
        info = info if isinstance(info, dict) else {}
        probed = next((fact.report["host"]["kernel_release"] for fact in f.facts_by_node.get(name, ())
                       if fact.pod is None), None)
        rows.append({
            "name": name,
            "substrate": substrate.kind if substrate else "unknown",
            "provider": substrate.provider if substrate else None,  # an id of the package's provider data
            "substrate_evidence": list(substrate.evidence) if substrate else ["node object not in the inventory"],
            "tenants": _tenants(f.on(name)),
            "kernel_shared_by": _tenants(_sharing(f, name)),
            "sandboxed_tenants": _tenants([p for p in f.on(name) if p.sandbox is not None]),
            "kernel_version": probed or _text(info.get("kernelVersion")),
            "container_runtime": _text(info.get("containerRuntimeVersion")),
            "pods": len(f.on(name)),
            "findings": 0,  # counted once the audit's findings are known (_count_findings)
        })
    return rows


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _shared_bare_metal(ctx, f: Fleet, rule: Rule) -> Iterator[Hit]:
    yield from _co_tenancy(f, rule, BARE_METAL, "bare-metal node {node} runs {n} tenants on one kernel: {tenants}")


def _vm_co_tenancy(ctx, f: Fleet, rule: Rule) -> Iterator[Hit]:
    yield from _co_tenancy(f, rule, VM, "VM node {node} runs {n} tenants on one guest kernel: {tenants}")


def _co_tenancy(f: Fleet, rule: Rule, substrate: str, text: str) -> Iterator[Hit]:
    for name, node in sorted(f.nodes.items()):
        if f.substrates[name].kind != substrate:
            continue
        tenants = _tenants(_sharing(f, name))
        if len(tenants) >= 2:
            yield Hit(rule.id, node, text.format(node=name, n=len(tenants), tenants=", ".join(tenants)),
                      {"kernel_shared_by": tenants, "substrate_evidence": list(f.substrates[name].evidence)},
                      node=name)


def _privileged_neighbour(ctx, f: Fleet, rule: Rule) -> Iterator[Hit]:
    """A tenant's escape-grade pod on a kernel it shares with another tenant."""
    reported: set[tuple] = set()
    for name in sorted({p.node for p in f.placements}):
        sharing = _sharing(f, name)
        tenants = _tenants(sharing)  # once a node: asked of each pod, the node's pods times its pods
        for p in sharing:
            if p.tenant is None:
                continue  # the platform's own agents are the platform's responsibility
            key = (p.workload.key, name)
            if key in reported or not (reasons := escape_grade(p.pod)):
                continue
            others = [t for t in tenants if t != p.tenant]
            if others:
                reported.add(key)
                yield Hit(
                    rule.id,
                    p.workload,
                    f"{p.workload.kind} {p.workload.name} ({', '.join(reasons)}) shares node {name}'s kernel with "
                    f"{', '.join(others)}: one escape reaches them",
                    {"escape_grade": reasons, "neighbours": others},
                    pointer=p.pod.pointer,
                    node=name,
                )


def _boot_id(ctx, f: Fleet, rule: Rule) -> Iterator[Hit]:
    """Probes that saw one boot_id ran on one kernel."""
    by_boot: dict[str, list] = defaultdict(list)
    for fact in ctx.inventory.facts:
        boot_id = fact.report.get("host", {}).get("boot_id")
        if boot_id and fact.pod:
            by_boot[boot_id].append(fact)
    for boot_id, facts in sorted(by_boot.items()):
        tenants = sorted({ctx.tenancy.tenant_of(x.namespace) for x in facts} - {None})
        if len(tenants) < 2:
            continue
        nodes = sorted({x.node or "?" for x in facts})
        pods = [f"{x.namespace}/{x.pod}" for x in facts]
        subject = next(
            (
                p.workload
                for p in f.placements
                for x in facts
                if (p.pod.resource.namespace, p.pod.resource.name) == (x.namespace, x.pod)
            ),
            None,
        )
        if subject is None:
            continue
        where = "on one node" if len(nodes) == 1 else f"though the API places them on {', '.join(nodes)}"
        yield Hit(rule.id, subject, f"probes in {', '.join(pods)} saw boot_id {boot_id[:8]}: tenants "
                  f"{', '.join(tenants)} share one kernel ({where})",
                  {"boot_id": boot_id, "pods": pods, "tenants": tenants, "nodes": nodes,
                   "probe_reports": [x.origin.path for x in facts]}, node=nodes[0])


def _escape_cves(ctx, f: Fleet, rule: Rule) -> Iterator[Hit]:
    """Node kernel and runtime versions against the curated container-escape CVE list."""
    for row in node_table(f):
        node = f.nodes.get(row["name"])
        if node is None:
            continue
        found = []
        runtime = row["container_runtime"]
        for component, version in (("linux-kernel", row["kernel_version"]),
                                   (_runtime_component(runtime), runtime)):
            if not component or not isinstance(version, str):
                continue
            try:
                matches = match(component, version)
            except ValueError:
                continue  # a version string the data cannot place: nothing to claim
            found += [m for m in matches if m.verdict != NOT_AFFECTED]
        if found:
            affected = [m for m in found if m.verdict == AFFECTED]
            summary = ", ".join(f"{m.entry.id}{' (' + m.entry.name + ')' if m.entry.name else ''}" for m in found[:6])
            more = f" and {len(found) - 6} more" if len(found) > 6 else ""
            plainly = "affected" if affected and len(affected) == len(found) else (
                "possibly affected (distribution kernels backport fixes: check the vendor's advisory)"
                if not affected else f"affected by {len(affected)}, possibly affected by {len(found) - len(affected)}")
            yield Hit(rule.id, node, f"node {row['name']} ({row['kernel_version']}, {runtime or 'runtime unknown'}) is "
                      f"{plainly}: {summary}{more}",
                      {"cves": [{"id": m.entry.id, "component": m.entry.component, "verdict": m.verdict,
                                 "reason": m.reason, "source": m.entry.source.as_dict(),
                                 "references": list(m.entry.references)} for m in found]}, node=row["name"])


def _runtime_component(runtime: str | None) -> str | None:
    if not isinstance(runtime, str) or "://" not in runtime:
        return None
    scheme = runtime.split("://", 1)[0]
    return {"containerd": "containerd", "cri-o": "cri-o", "docker": "docker"}.get(scheme)


CHECKS = {
    "escape-cves": _escape_cves,
    "shared-bare-metal-kernel": _shared_bare_metal,
    "privileged-neighbour": _privileged_neighbour,
    "vm-co-tenancy": _vm_co_tenancy,
    "shared-boot-id": _boot_id,
}
