"""Placement verdicts: does a workload's latency budget justify bare metal, or fit a VM?

Each verdict carries its arithmetic — budget, overhead, margin — and where every number
came from: the platform's config, the owner's annotations, the overhead figures (the
package's cited defaults or a team's `--overheads` file, with their sources), or probe
measurements.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.analysis import AnalysisContext, AnalysisResult, Check, Hit, Section
from auditor.model import Rule
from auditor.overhead import (
    DIMENSIONS,
    SANDBOX_UNMEASURED_FLOOR_US,
    Overhead,
    OverheadTable,
    defaults,
    parse_budget,
)
from auditor.pointer import at
from auditor.selectors import selects
from auditor.substrate import BARE_METAL, UNKNOWN, VM
from auditor.workloads import PodView, items

from .fleet import Fleet, annotation, escape_grade, fleet

PREFIX = "isolation-audit.io/"
DEDICATED = "dedicated-hardware"


@dataclass(frozen=True, slots=True)
class Budget:
    value_us: float | None
    text: str | None
    dimension: str
    workload_class: str | None
    mandates: tuple[str, ...]
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"value_us": self.value_us, "declared": self.text, "dimension": self.dimension, "percentile": "p99.9",
                "class": self.workload_class, "mandates": list(self.mandates), "source": self.source}


class Placement:
    checks = {
        "unjustified": Check(),
        "vm-insufficient": Check(),
        "compensating-controls": Check(),
        "nodes-without-justification": Check(),
    }
    # which overhead figures the verdicts used: the package's defaults or a team's file, with its citation
    sections = {"placement": Section(empty=()), "overheads": Section(empty=None)}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        f = fleet(ctx)
        settings = ctx.settings.get("placement", {})
        measured = measured_overheads(ctx, f)
        table = ctx.config.overheads or defaults()
        verdicts = [verdict(ctx, f, view, settings, measured, table) for view in ctx.workloads]
        entries = [e for e in verdicts if e is not None]
        hits: list[Hit] = []
        by_key = {(v.resource.kind, v.resource.namespace, v.resource.name): v for v in ctx.workloads}
        for rule in rules:
            check = rule.check
            assert check is not None  # the engine hands a plugin only its analysis rules
            if check == "nodes-without-justification":
                hits += _idle_bare_metal(f, rule, entries)
                continue
            for entry in entries:
                view = by_key[(entry["kind"], entry["namespace"], entry["name"])]
                hit = _verdict_hit(rule, check, entry, view, f)
                if hit is not None:
                    hits.append(hit)
        return AnalysisResult(hits=tuple(hits),
                              sections={"placement": [_public(e) for e in entries], "overheads": table.describe()})


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def budget_of(view: PodView, settings: Mapping[str, Any]) -> Budget | None:
    """The platform's word (config) wins over the owner's (annotations); both are reported as such."""
    r = view.resource
    for index, entry in enumerate(settings.get("budgets", ())):
        if _selected(entry.get("selector", {}), view):
            return Budget(
                parse_budget(entry["latency_budget"]) if entry.get("latency_budget") else None,
                entry.get("latency_budget"), entry.get("dimension", "network-rtt"), entry.get("class"),
                tuple(entry.get("mandates", ())), f"config placement.budgets[{index}] (the platform's word)",
            )
    text = annotation(view, r, PREFIX + "latency-budget")
    mandates = annotation(view, r, PREFIX + "mandate")
    workload_class = annotation(view, r, PREFIX + "workload-class")
    if text is None and mandates is None:
        return None
    dimension = annotation(view, r, PREFIX + "latency-dimension") or "network-rtt"
    try:
        value = parse_budget(text) if text is not None else None
    except ValueError:
        value = None
    return Budget(value, text, dimension if dimension in DIMENSIONS else "network-rtt", workload_class,
                  tuple(m.strip() for m in str(mandates or "").split(",") if m.strip()),
                  f"annotations {PREFIX}* on {r.kind} {r.name} (the owner's word)")


def _selected(selector: Mapping[str, Any], view: PodView) -> bool:
    r = view.resource
    for key, value in (("namespace", r.namespace), ("kind", r.kind), ("name", r.name)):
        if key in selector and selector[key] != value:
            return False
    labels = view.metadata.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    return selects({k: v for k, v in selector.items() if k in ("matchLabels", "matchExpressions")}, labels)


def verdict(ctx: AnalysisContext, f: Fleet, view: PodView, settings: Mapping[str, Any],
            measured: Mapping[str, Overhead] | None = None,
            table: OverheadTable | None = None) -> dict[str, Any] | None:
    r = view.resource
    if ctx.tenancy.tenant_of(r.namespace) is None and r.namespace is not None:
        return None  # the platform's own workloads are not placed by tenants' budgets
    nodes = sorted({p.node for p in f.by_workload.get(r.key, ())} | _pinned(view))
    kinds = {f.substrates[n].kind for n in nodes if n in f.substrates}
    substrate = BARE_METAL if BARE_METAL in kinds else VM if VM in kinds else UNKNOWN
    budget = budget_of(view, settings)
    entry: dict[str, Any] = {
        "namespace": r.namespace, "kind": r.kind, "name": r.name, "tenant": ctx.tenancy.tenant_of(r.namespace),
        "node_substrate": substrate, "nodes": nodes, "budget": budget.as_dict() if budget else None,
        "overhead": None, "margin_us": None, "verdict": "no-budget", "sandbox_eligible": None, "reasons": [],
        "_budget": budget,
    }
    if budget is None:
        entry["reasons"].append("no latency budget or mandate declared (config placement.budgets or annotations)")
        return entry
    reasons = entry["reasons"]
    if budget.text is not None and budget.value_us is None:
        reasons.append(f"latency budget {budget.text!r} is not a duration; treated as undeclared")
    vm_class = settings.get("compare_with", "dedicated-vm") if substrate != VM else _vm_class(f, nodes)
    table = table or defaults()
    overhead = (measured or {}).get(budget.dimension) or table.get(vm_class, budget.dimension)
    entry["overhead"] = overhead.as_dict()
    mandated = DEDICATED in budget.mandates
    tighter = budget.value_us is not None and overhead.high_us is not None and budget.value_us < overhead.high_us
    if budget.value_us is not None and overhead.high_us is not None:
        entry["margin_us"] = round(budget.value_us - overhead.high_us, 3)
        relation = "<" if tighter else ">="
        reasons.append(f"budget {budget.value_us:g} us ({budget.dimension} p99.9, {budget.source}) {relation} "
                       f"{vm_class} overhead {overhead.high_us:g} us ({overhead.source})")
    if mandated:
        reasons.append(f"mandate {DEDICATED} declared ({budget.source})")
    if substrate == BARE_METAL:
        entry["verdict"] = "bare-metal-justified" if (tighter or mandated) else "bare-metal-unjustified"
    elif substrate == VM:
        entry["verdict"] = "vm-insufficient" if (tighter or mandated) else "vm-adequate"
    else:
        reasons.append("node substrate unknown: the verdict says what the workload needs")
        entry["verdict"] = "bare-metal-justified" if (tighter or mandated) else "vm-adequate"
    entry["sandbox_eligible"] = _sandbox_eligible(budget, reasons, table)
    return entry


# probe latency key per budget dimension (storage is not measured by the probe)
LATENCY_KEYS = {"timer-jitter": "timer_jitter", "network-rtt": "network_rtt", "syscall": "syscall"}


def measured_overheads(ctx: AnalysisContext, f: Fleet) -> dict[str, Overhead]:
    """Overhead per dimension from probes on both substrates: VM tail minus bare-metal tail.

    Measured values replace the documented defaults, and name the probes, nodes and times.
    """
    by_substrate: dict[str, list[tuple[float, str]]] = {BARE_METAL: [], VM: []}
    samples: dict[str, dict[str, list[tuple[float, str]]]] = {}
    for fact in ctx.inventory.facts:
        latency = fact.report.get("latency")
        substrate = f.substrates.get(fact.node or "")
        if not isinstance(latency, dict) or substrate is None or substrate.kind not in by_substrate:
            continue
        for dimension, key in LATENCY_KEYS.items():
            tail = (latency.get(key) or {}).get("p99_9_us")
            if isinstance(tail, (int, float)):
                where = f"probe {fact.probe_id} on {fact.node} at {latency.get('measured_at')} (p99.9 {tail:g} us)"
                samples.setdefault(dimension, {BARE_METAL: [], VM: []})[substrate.kind].append((float(tail), where))
    found = {}
    for dimension, sides in samples.items():
        if sides[BARE_METAL] and sides[VM]:
            vm = max(sides[VM])  # the worst VM tail against the best bare-metal one
            metal = min(sides[BARE_METAL])
            value = round(max(0.0, vm[0] - metal[0]), 3)
            found[dimension] = Overhead("measured-vm", dimension, value, value, (),
                                        f"{vm[1]} minus {metal[1]}", "measured by probes")
    return found


def _pinned(view: PodView) -> set[str]:
    selector = view.spec.get("nodeSelector")
    host = selector.get("kubernetes.io/hostname") if isinstance(selector, dict) else None
    return {host} if isinstance(host, str) else set()


def _vm_class(f: Fleet, nodes: list[str]) -> str:
    classes = {f.substrates[n].vm_class for n in nodes if n in f.substrates and f.substrates[n].kind == VM}
    return "shared-vm" if "shared-vm" in classes or not classes else "dedicated-vm"


def _sandbox_eligible(budget: Budget, reasons: list[str], table: OverheadTable) -> bool | None:
    if budget.value_us is None:
        return False if DEDICATED in budget.mandates else None
    fits = []
    for sandbox in ("gvisor", "kata"):
        o = table.get(sandbox, budget.dimension)
        limit = o.high_us if o.high_us is not None else SANDBOX_UNMEASURED_FLOOR_US
        if budget.value_us >= limit:
            unmeasured = "" if o.high_us is not None else "unmeasured tail: the 1 ms floor this tool assumes; "
            fits.append(f"{sandbox} (+{limit:g} us, {unmeasured}{o.source})")
    if fits:
        reasons.append("a sandboxed runtime fits the budget: " + "; ".join(fits))
    return bool(fits) and DEDICATED not in budget.mandates


def _verdict_hit(rule: Rule, check: str, entry: dict[str, Any], view: PodView, f: Fleet) -> Hit | None:
    r = view.resource
    evidence = {"verdict": entry["verdict"], "budget": entry["budget"], "overhead": entry["overhead"],
                "margin_us": entry["margin_us"], "nodes": entry["nodes"]}
    if check == "unjustified" and entry["verdict"] == "bare-metal-unjustified":
        return Hit(rule.id, r, f"{r.kind} {r.name} runs on bare metal ({', '.join(entry['nodes'])}) but "
                   + entry["reasons"][0] + ": a VM would do, with the hypervisor bounding its blast radius", evidence)
    if check == "vm-insufficient" and entry["verdict"] == "vm-insufficient":
        return Hit(rule.id, r, f"{r.kind} {r.name} runs on a VM but " + "; ".join(entry["reasons"]), evidence)
    if (
        check == "compensating-controls"
        and entry["verdict"] == "bare-metal-justified"
        and entry["node_substrate"] == BARE_METAL
    ):
        missing = _missing_controls(view, f, entry)
        if missing:
            return Hit(rule.id, r, f"{r.kind} {r.name} justifies bare metal but lacks: {'; '.join(missing)}",
                       {**evidence, "missing_controls": missing})
    return None


def _missing_controls(view: PodView, f: Fleet, entry: dict[str, Any]) -> list[str]:
    r = view.resource
    missing = []
    for node in entry["nodes"]:
        n = f.nodes.get(node)
        taints = at(n.obj, ("spec", "taints")) if n is not None else None
        taints = taints if isinstance(taints, list) else []
        # condition taints (node.kubernetes.io/not-ready, ...) come and go; they dedicate nothing
        taints = [
            t
            for t in taints
            if isinstance(t, dict)
            and t.get("effect") in ("NoSchedule", "NoExecute")
            and not str(t.get("key", "")).startswith(("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/"))
        ]
        if not taints:
            missing.append(f"dedicated node: {node} has no NoSchedule taint keeping others off")
        kernel_sharers, escape_grade_pods = _neighbours(f, node)
        others = sorted({t for w, t in kernel_sharers if w is not r} - {None, entry["tenant"]})
        if others:
            missing.append(f"no co-tenants: {node}'s kernel is shared with {', '.join(others)}")
        privileged = sorted({name for w, name in escape_grade_pods if w is not r})
        if privileged:
            missing.append(f"no privileged neighbour: {', '.join(privileged)} on {node}")
    weak = _hardening_gaps(view)
    if weak:
        missing.append("hardened pod spec: " + ", ".join(weak))
    return missing


def _neighbours(f: Fleet, node: str) -> tuple[list, list]:
    """Once per node, not per justified workload on it: (workload, tenant) of each pod on the
    node's own kernel, and (workload, name) of each escape-grade pod there."""
    key = ("neighbours", node)
    if key not in f.memo:
        placements = f.on(node)
        f.memo[key] = (
            [(p.workload, p.tenant) for p in placements if p.sandbox is None],
            [(p.workload, f"{p.workload.namespace}/{p.workload.name}") for p in placements if escape_grade(p.pod)],
        )
    return f.memo[key]


def _hardening_gaps(view: PodView) -> list[str]:
    gaps = []
    for c in view.containers():
        ctx = c.target["_effectiveSecurityContext"]
        caps = ctx.get("capabilities") if isinstance(ctx.get("capabilities"), dict) else {}
        if ctx.get("privileged") is True:
            gaps.append(f"{c.name} privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            gaps.append(f"{c.name} allows privilege escalation")
        if ctx.get("runAsNonRoot") is not True:
            gaps.append(f"{c.name} may run as root")
        if "ALL" not in items(caps.get("drop")):
            gaps.append(f"{c.name} keeps default capabilities")
        profile = ctx.get("seccompProfile")
        if not (isinstance(profile, dict) and profile.get("type") in ("RuntimeDefault", "Localhost")):
            gaps.append(f"{c.name} has no seccomp profile")
    return gaps


def _idle_bare_metal(f: Fleet, rule: Rule, entries: list[dict[str, Any]]) -> Iterator[Hit]:
    justified = {(e["namespace"], e["name"]) for e in entries if e["verdict"] == "bare-metal-justified"}
    for name, node in sorted(f.nodes.items()):
        if f.substrates[name].kind != BARE_METAL:
            continue
        tenant_pods = [p for p in f.on(name) if p.tenant is not None]
        if tenant_pods and not any((p.workload.namespace, p.workload.name) in justified for p in tenant_pods):
            workloads = sorted({f"{p.workload.namespace}/{p.workload.name}" for p in tenant_pods})
            yield Hit(rule.id, node, f"bare-metal node {name} carries only workloads that do not need bare metal: "
                      + ", ".join(workloads), {"workloads": workloads}, node=name)
