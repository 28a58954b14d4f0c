"""Inventory + rules + analyses + config -> Report. Pure: no I/O, no clock but `today`."""
from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import chain
from typing import Any

import orjson

from . import redact
from .analysis import WORKLOADS, AnalysisContext, Hit
from .conditions import compile_condition
from .config import Config
from .model import (
    Condition,
    Coverage,
    Fact,
    Finding,
    Inventory,
    LineIndex,
    Location,
    Origin,
    Report,
    Resource,
    Rule,
    Skipped,
    WaiverStatus,
)
from .narrowing import Scoped
from .pointer import split_pointer
from .probed import probed_container, probed_workload
from .projection import Reads, project
from .registry import Plugin, PluginError
from .rules import RuleSet
from .tenancy import Tenancy, resolve_tenancy
from .waivers import iso
from .workloads import PodView, top_level_workloads


@dataclass(slots=True)
class _Draft:
    """A finding before its line is known: lines are resolved in one batch per document."""

    rule: Rule
    condition: Condition | None  # the one a declarative rule's target matched first
    kind: str
    name: str
    namespace: str | None
    origin: Origin | None  # where the evidence was read: a manifest, a snapshot, a probe report
    message: str
    evidence: Mapping[str, Any]
    pointer: str = ""  # inside the origin's object
    container: str | None = None
    node: str | None = None
    location: Location | None = None


def _about(resource: Resource, **fields: Any) -> _Draft:
    return _Draft(
        kind=resource.kind, name=resource.name, namespace=resource.namespace, origin=resource.origin, **fields
    )


def audit(
    inventory: Inventory,
    ruleset: RuleSet,
    plugins: Mapping[str, Plugin],
    config: Config,
    today: date,
    tool_version: str,
) -> Report:
    """`plugins`: every plugin the rule set names (`registry.Plugins.loaded`), each run with
    its active rules; every section they declare is in the report, empty if none ran."""
    rules = [r for r in ruleset.rules if config.active(r)]
    tenancy = resolve_tenancy(inventory.resources, config.tenancy)
    workloads = top_level_workloads(inventory.resources)
    made = _Made(config, tenancy, inventory.cluster)
    unevaluated: dict[str, int] = {}
    made.add(_declarative(inventory, workloads, [r for r in rules if r.declarative], unevaluated))
    ctx = AnalysisContext(inventory, tenancy, workloads, config, today)
    by_plugin: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        if rule.analysis:
            by_plugin[rule.analysis].append(rule)
    declared = {name: section for p in plugins.values() for name, section in p.sections.items()}
    sections = {name: section.empty for name, section in declared.items()}
    for name in sorted(by_plugin):
        plugin = plugins[name]
        result = plugin.analysis.run(ctx, by_plugin[name])
        wanted = {r.id: r for r in by_plugin[name]}
        made.add(_from_hit(wanted[h.rule_id], h) for h in result.hits if h.rule_id in wanted)
        undeclared = sorted(set(result.sections) - set(plugin.sections))
        if undeclared:
            raise PluginError(f"analysis plugin '{name}' filled report section {undeclared[0]!r} it does not declare")
        sections.update(result.sections)
    ctx.release()
    findings, unwaivable = made.findings()
    findings, waiver_statuses = _apply_waivers(findings, config, today)
    findings.extend(unwaivable)
    _sort_findings(findings)
    for name, section in declared.items():
        if section.finish is not None:
            sections[name] = section.finish(sections[name], findings)
    return Report(
        tool_version=tool_version,
        source=_source(inventory),
        findings=tuple(findings),
        coverage=Coverage(
            inputs=inventory.inputs,
            objects=len(inventory.resources),
            audited_workloads=len(workloads),
            rules_run=len(rules),
            skipped=inventory.skipped + _unevaluated(unevaluated),
            not_objects=inventory.not_objects,
            unassessed=_unassessed(rules, inventory, workloads, plugins),
            not_installed=inventory.not_installed,
        ),
        waivers=tuple(waiver_statuses),
        sections=dict(sorted(sections.items())),
        fail_on=config.fail_on,
    )


def _source(inventory: Inventory) -> dict[str, Any]:
    if inventory.cluster is not None:
        return {"type": "cluster", "cluster": inventory.cluster, "inputs": list(inventory.inputs)}
    return {"type": "files", "cluster": None, "inputs": list(inventory.inputs)}


# -- declarative rules -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A declarative rule ready to run: each condition's predicate and evidence pointers."""

    rule: Rule
    conditions: tuple[tuple[Condition, Callable[[Any], bool], tuple[Scoped, ...]], ...]

    def first(self, target: Any) -> tuple[Condition, tuple[tuple[str, Any], ...]] | None:
        """The first condition the target matches, and the evidence it shows."""
        for condition, is_match, pointers in self.conditions:
            if is_match(target):
                return condition, _evidence(target, pointers)
        return None


def _compiled(rule: Rule, unevaluated: dict[str, int]) -> _Compiled:
    return _Compiled(rule, tuple(
        (c, _guarded(rule, compile_condition(c.match), unevaluated), tuple(_scoped(p, c.match) for p in rule.evidence))
        for c in rule.conditions))


def _scoped(pointer: str, condition: Any) -> Scoped:
    """An evidence pointer as far as its value may be shown, narrowed by the condition."""
    return Scoped(tuple(redact.shown_path(split_pointer(pointer))), condition)


def _declarative(
    inventory: Inventory, workloads: Sequence[PodView], rules: Sequence[Rule], unevaluated: dict[str, int]
) -> Iterator[_Draft]:
    by_target: dict[str, list[_Compiled]] = defaultdict(list)
    for rule in rules:
        by_target[rule.target or ""].append(_compiled(rule, unevaluated))
    pod_rules = _Matcher(by_target.get("pod", []))
    container_rules = _Matcher(by_target.get("container", []))
    observed = _observed_capabilities(workloads, inventory.facts) if container_rules else {}
    runtimes = _node_runtimes(inventory.resources) if container_rules else {}
    rebased = _Rebased()
    for view in workloads:
        resource, node = view.resource, view.node_name
        for rule, condition, found in pod_rules.matching(view.template):
            yield _draft(rule, condition, resource, rebased(found, view.pointer, {}), view.pointer, None, node)
        if container_rules:
            for container in view.containers():
                joined = {"_observed": observed.get((resource.key, container.pointer)),
                          "_node": runtimes.get(node) if node is not None else None}
                for rule, condition, found in container_rules.matching(_as_read(container.target, joined)):
                    evidence = rebased(found, container.pointer, container.sources)
                    yield _draft(rule, condition, resource, evidence, container.pointer, container.name, node)
    by_kind: dict[str, list[Resource]] = defaultdict(list)
    for resource in inventory.resources:
        by_kind[resource.kind].append(resource)
    for target, kind in (("namespace", "Namespace"), ("node", "Node")):
        for compiled in by_target.get(target, []):
            for resource in by_kind[kind]:
                if (hit := compiled.first(resource.obj)) is not None:
                    node_name = resource.name if target == "node" else None
                    yield _draft(compiled.rule, hit[0], resource, dict(hit[1]), "", None, node_name)
    for compiled in by_target.get("object", []):
        kinds = compiled.rule.kinds
        for resource in [r for k in kinds for r in by_kind[k]] if kinds else inventory.resources:
            if (hit := compiled.first(resource.obj)) is not None:
                yield _draft(compiled.rule, hit[0], resource, dict(hit[1]), "", None, None)
    for compiled in by_target.get("probe", []):
        for fact in inventory.facts:
            if (hit := compiled.first(fact.report)) is not None:
                yield _observed(compiled.rule, hit[0], fact, dict(hit[1]))


_ContainerKey = tuple[tuple[str, str, str], str]  # (the workload's key, the container's pointer)


def _as_read(target: Mapping[str, Any], joined: Mapping[str, Any]) -> Mapping[str, Any]:
    """The container as its rules read it, with what was joined from outside its manifest
    (`_observed` from probes, `_node` from its Node object; None: nothing known). A key of
    those names that the manifest wrote itself is dropped: it could vouch for itself."""
    known = {k: v for k, v in joined.items() if v is not None}
    if not known and not any(k in target for k in joined):
        return target
    return {**{k: v for k, v in target.items() if k not in joined}, **known}


def _node_runtimes(resources: Sequence[Resource]) -> dict[str, dict[str, str]]:
    """`_node` by node name: the runtime the Node reports (the scheme of
    status.nodeInfo.containerRuntimeVersion: containerd, cri-o, docker ...)."""
    found = {}
    for node in resources:
        status = node.obj.get("status") if node.kind == "Node" else None
        info = status.get("nodeInfo") if isinstance(status, dict) else None
        version = info.get("containerRuntimeVersion") if isinstance(info, dict) else None
        if isinstance(version, str) and "://" in version:
            found[node.name] = {"containerRuntime": version.split("://", 1)[0].lower()}
    return found


def _observed_capabilities(workloads: Sequence[PodView], facts: Sequence[Fact]) -> dict[_ContainerKey, dict[str, Any]]:
    """What probes of a container saw, as its rules read it under `_observed`: the capabilities
    any probed pod of the workload held (the union, so one replica holding one counts)."""
    held: dict[_ContainerKey, set[str]] = defaultdict(set)
    for fact in facts:
        view = probed_workload(workloads, fact)
        container = probed_container(view, fact) if view is not None else None
        privileges = fact.report.get("privileges")
        effective = privileges.get("capabilities_effective") if isinstance(privileges, dict) else None
        if view is not None and container is not None and isinstance(effective, list):
            held[(view.resource.key, container.pointer)].update(c for c in effective if isinstance(c, str))
    return {key: {"capabilities_effective": sorted(caps)} for key, caps in held.items()}


def _unassessed(rules: Sequence[Rule], inventory: Inventory, workloads: Sequence[PodView],
                plugins: Mapping[str, Plugin]) -> tuple[str, ...]:
    """The rules that ran with nothing to evaluate: no target of theirs was in the input."""
    kinds = {r.kind for r in inventory.resources} | ({WORKLOADS} if workloads else set())

    def idle(rule: Rule) -> bool:
        if rule.analysis is not None:
            plugin = plugins.get(rule.analysis)
            check = plugin.checks.get(rule.check or "") if plugin is not None else None
            return check is not None and check.reads is not None and not kinds.intersection(check.reads)
        if rule.target in ("pod", "container"):
            return not workloads
        if rule.target == "probe":
            return not inventory.facts
        wanted = {"namespace": ("Namespace",), "node": ("Node",)}.get(rule.target or "") or rule.kinds
        return not kinds.intersection(wanted) if wanted else not inventory.resources

    return tuple(sorted(r.id for r in rules if idle(r)))


def _guarded(rule: Rule, is_match: Callable[[Any], bool], unevaluated: dict[str, int]) -> Callable[[Any], bool]:
    """The condition, unless it recurses past Python's stack on a target: a third-party pack can
    recurse through `$ref` in ways no load-time bound catches. Such a target is counted (the
    audit is then partial), never a silent pass, and the scan goes on."""
    def check(target: Any) -> bool:
        try:
            return is_match(target)
        except RecursionError:
            unevaluated[rule.id] = unevaluated.get(rule.id, 0) + 1
            return False
    return check


def _unevaluated(counts: Mapping[str, int]) -> tuple[Skipped, ...]:
    return tuple(Skipped(f"rule {rule_id}", f"could not be evaluated on {n} target(s): its condition recurses "
                         "deeper than the evaluator's stack") for rule_id, n in sorted(counts.items()))


def _observed(rule: Rule, condition: Condition, fact: Fact, evidence: dict[str, Any]) -> _Draft:
    """A probe finding is about the pod it ran in (or the node, for a probe on the node)."""
    kind, name = ("Pod", fact.pod) if fact.pod else ("Node", fact.node or fact.probe_id)
    probe = fact.report.get("probe", {})
    return _Draft(
        rule=rule, condition=condition, kind=kind, name=name, namespace=fact.namespace, origin=fact.origin, message="",
        evidence=evidence, pointer=next(iter(evidence), ""), container=probe.get("container"), node=fact.node,
    )


class _Matcher:
    """The rules a target matches, and their evidence, memoised by the part of the target the
    rules and their evidence pointers can read.

    Replicas, copies of one chart and sidecars injected everywhere make most targets
    repeats once names, labels, images and env values are left out; projecting and
    serialising one costs a few microseconds, evaluating every rule on it hundreds.
    """

    def __init__(self, rules: Sequence[_Compiled]) -> None:
        self.rules = rules
        self.reads = Reads.of((c.match for compiled in rules for c in compiled.rule.conditions),
                              (split_pointer(p) for compiled in rules for p in compiled.rule.evidence))
        self.cache: dict[bytes, tuple[_Matched, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def matching(self, target: Any) -> tuple[_Matched, ...]:
        """(rule, condition, evidence as (pointer in the target, shown value)) for each rule matched."""
        if not self.rules:
            return ()
        try:
            key = orjson.dumps(project(target, self.reads))
        except (orjson.JSONEncodeError, TypeError):  # not JSON (a hostile value): evaluate directly
            return self._evaluate(target)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = self._evaluate(target)
        return found

    def _evaluate(self, target: Any) -> tuple[_Matched, ...]:
        return tuple((compiled.rule, *hit) for compiled in self.rules if (hit := compiled.first(target)) is not None)


_Matched = tuple[Rule, Condition, tuple[tuple[str, Any], ...]]


def _evidence(target: Any, pointers: Sequence[Scoped]) -> tuple[tuple[str, Any], ...]:
    """Observed values at the rule's evidence pointers, by pointer in the target.

    A `*` token walks the list items the condition matched (`narrowing`), or every mapping
    value; items lacking the rest of the path are left out, so `/spec/volumes/*/hostPath`
    shows the hostPath volumes only.
    """
    return tuple((path, redact.evidence(split_pointer(path), value)) for pointer in pointers
                 for path, value in pointer.walk(target))


class _Rebased:
    """`_rebased`, one dict for every finding of the same evidence at the same place: a fleet's
    replicas match alike, and their findings then share it (evidence is never changed once
    made). Each key holds its `found`, so its id is not reused while the key lives."""

    def __init__(self) -> None:
        self.made: dict[tuple[Any, ...], tuple[Sequence[tuple[str, Any]], dict[str, Any]]] = {}

    def __call__(self, found: Sequence[tuple[str, Any]], base: str, redirects: Mapping[str, str]) -> dict[str, Any]:
        key = (id(found), base, *redirects.items())
        made = self.made.get(key)
        if made is None:
            made = self.made[key] = (found, _rebased(found, base, redirects))
        return made[1]


def _rebased(found: Sequence[tuple[str, Any]], base: str, redirects: Mapping[str, str]) -> dict[str, Any]:
    """Evidence keyed by pointer in the object the target was taken from."""
    return {_object_pointer(path, base, redirects): value for path, value in found}


def _object_pointer(path: str, base: str, sources: Mapping[str, str]) -> str:
    """Map a target pointer to the object: synthetic `_` keys by their longest known prefix."""
    best = max((p for p in sources if path == p or path.startswith(p + "/")), key=len, default=None)
    return base + path if best is None else sources[best] + path[len(best):]


def _draft(
    rule: Rule, condition: Condition, resource: Resource, evidence: dict[str, Any], pointer: str,
    container: str | None, node: str | None,
) -> _Draft:
    # The finding points at the first observed value, else at the pod or container itself.
    pointer = next(iter(evidence), pointer)
    return _about(resource, rule=rule, condition=condition, message="", evidence=evidence, pointer=pointer,
                  container=container, node=node)


def _from_hit(rule: Rule, hit: Hit) -> _Draft:
    return _about(
        hit.resource, rule=rule, condition=None, message=hit.message, evidence=hit.evidence, pointer=hit.pointer,
        container=hit.container, node=hit.node,
    )


# -- findings --------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@functools.cache
def _parts(template: str) -> tuple[str, ...]:
    """The template split at its placeholders: literal text at even places, names at odd."""
    return tuple(_PLACEHOLDER.split(template))


def _format(template: str, fields: Mapping[str, Any]) -> str:
    """`{name}` placeholders only: a rule pack is data, so no attribute or index access."""
    parts = _parts(template)
    if len(parts) == 1:
        return template
    return "".join(part if i % 2 == 0 else str(fields.get(part, "{" + part + "}")) for i, part in enumerate(parts))


def _finding(d: _Draft, config: Config, tenancy: Tenancy, cluster: str | None) -> Finding:
    kind, name, namespace = d.kind, d.name, d.namespace
    if kind == "Namespace":
        namespace = name  # a namespace's findings belong to its tenant and match its waivers
    tenant = tenancy.tenant_of(namespace)
    message = d.message
    if not message:
        template = d.condition.message if d.condition is not None and d.condition.message else d.rule.message
        fields = {
            "kind": kind,
            "name": name,
            "namespace": namespace or "-",
            "container": d.container or "-",
            "node": d.node or "-",
            "tenant": tenant or "platform",
        }
        if "{value}" in template:  # serialising evidence is the costly part
            fields["value"] = next((_short(v) for v in d.evidence.values()), "-")
        message = _format(template, fields)
    return Finding(
        rule_id=d.rule.id,
        severity=config.severity_of(d.rule),
        title=d.rule.title,
        message=message,
        tenant=tenant,
        namespace=namespace,
        kind=kind,
        name=name,
        container=d.container,
        node=d.node,
        controls=d.rule.controls if d.condition is None else d.condition.controls,
        evidence=d.evidence,
        location=d.location,
        remediation=d.rule.remediation,
        cluster=(d.origin.cluster if d.origin is not None else None) or cluster,
    )


class _Made:
    """The findings, in their drafts' order, a waiver may cover and not. A draft whose place
    needs no line (a live object, a document without lines) becomes its finding as it comes;
    the others wait for their lines, found in one batch per document at the end. A fleet's
    two million drafts held until then cost a quarter of a gigabyte, and more in the
    fragments they left."""

    def __init__(self, config: Config, tenancy: Tenancy, cluster: str | None) -> None:
        self.config, self.tenancy, self.cluster = config, tenancy, cluster
        self.waivable: list[Finding | _Draft] = []
        self.unwaivable: list[Finding | _Draft] = []
        # Findings at one place share its Location: a document without lines gives every
        # finding in it the same one.
        self.places: dict[tuple[str, int | None], Location] = {}

    def add(self, drafts: Iterable[_Draft]) -> None:
        for d in drafts:
            origin, waits = d.origin, False
            if d.location is None and origin is not None and origin.path is not None:
                if origin.lines is None:
                    d.location = self._place(origin.path, None)
                else:
                    waits = True
            (self.waivable if d.rule.waivable else self.unwaivable).append(d if waits else self._finding(d))

    def findings(self) -> tuple[list[Finding], list[Finding]]:
        """(waivable, not), each draft given its line and made a finding; drafts are dropped
        as their findings are made."""
        by_document: dict[int, tuple[LineIndex, list[_Draft]]] = {}
        for d in chain(self.waivable, self.unwaivable):
            if isinstance(d, _Draft):
                assert d.origin is not None and d.origin.lines is not None
                by_document.setdefault(id(d.origin.lines), (d.origin.lines, []))[1].append(d)
        for lines, group in by_document.values():
            found = lines.resolve({d.origin.pointer + d.pointer for d in group if d.origin is not None})
            for d in group:
                assert d.origin is not None and d.origin.path is not None
                d.location = self._place(d.origin.path, found.get(d.origin.pointer + d.pointer))
        by_document.clear()
        for made in (self.waivable, self.unwaivable):
            for i, d in enumerate(made):
                if isinstance(d, _Draft):
                    made[i] = self._finding(d)
        return self.waivable, self.unwaivable  # type: ignore[return-value]  # every draft is now a finding

    def _place(self, path: str, line: int | None) -> Location:
        location = self.places.get((path, line))
        if location is None:
            location = self.places[path, line] = Location(path, line)
        return location

    def _finding(self, d: _Draft) -> Finding:
        return _finding(d, self.config, self.tenancy, self.cluster)


def _sort_findings(findings: list[Finding]) -> None:
    """In place, by `Finding.sort_key`, one (severity, rule) group at a time. Its first two
    parts order the groups, so the order is the same; but only one group's keys are held at
    once, not a tuple for each of a fleet's two million findings (180 MB of a live scan's peak)."""
    groups: dict[tuple[int, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((-finding.severity, finding.rule_id), []).append(finding)
    findings.clear()
    for key in sorted(groups):
        group = groups.pop(key)
        group.sort(key=lambda f: f.sort_key)
        findings.extend(group)


def _short(value: Any, limit: int = 80) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = ", ".join(value)
    else:
        try:
            text = orjson.dumps(value).decode()
        except orjson.JSONEncodeError:  # beyond 64-bit ints or orjson's depth limit
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- waivers ---------------------------------------------------------------------------


def _apply_waivers(findings: list[Finding], config: Config, today: date) -> tuple[list[Finding], list[WaiverStatus]]:
    if not config.waivers:
        return findings, []
    active = [w for w in config.waivers if not w.expired(today)]
    expired = [w for w in config.waivers if w.expired(today)]
    matched = [0] * len(active)
    kept = []
    for finding in findings:
        hit = next((i for i, w in enumerate(active) if w.matches(finding)), None)
        if hit is None:
            kept.append(finding)
        else:
            matched[hit] += 1
    statuses = [
        WaiverStatus(w.describe(), w.reason, iso(w.expires), "active" if n else "unused", n)
        for w, n in zip(active, matched, strict=True)
    ] + [WaiverStatus(w.describe(), w.reason, iso(w.expires), "expired", 0) for w in expired]
    return kept, statuses
