"""Inventory + rules + analyses + config -> Report. Pure: no I/O, no clock but `today`."""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from . import redact
from .analysis import AnalysisContext, Hit
from .conditions import compile_condition
from .config import Config
from .model import (
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
from .pointer import split_pointer, walk
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
    drafts: list[_Draft] = []
    unevaluated: dict[str, int] = {}
    drafts.extend(_declarative(inventory, workloads, [r for r in rules if r.declarative], unevaluated))
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
        drafts.extend(_from_hit(wanted[h.rule_id], h) for h in result.hits if h.rule_id in wanted)
        undeclared = sorted(set(result.sections) - set(plugin.sections))
        if undeclared:
            raise PluginError(f"analysis plugin '{name}' filled report section {undeclared[0]!r} it does not declare")
        sections.update(result.sections)
    _resolve_locations(drafts)
    findings = [_finding(d, config, tenancy, inventory.cluster) for d in drafts if d.rule.waivable]
    findings, waiver_statuses = _apply_waivers(findings, config, today)
    findings.extend(_finding(d, config, tenancy, inventory.cluster) for d in drafts if not d.rule.waivable)
    findings.sort(key=lambda f: f.sort_key)
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


def _declarative(
    inventory: Inventory, workloads: Sequence[PodView], rules: Sequence[Rule], unevaluated: dict[str, int]
) -> Iterator[_Draft]:
    by_target: dict[str, list[tuple[Rule, Any]]] = defaultdict(list)
    for rule in rules:
        by_target[rule.target or ""].append((rule, _guarded(rule, compile_condition(rule.match), unevaluated)))
    pod_rules = _Matcher(by_target.get("pod", []))
    container_rules = _Matcher(by_target.get("container", []))
    for view in workloads:
        resource, node = view.resource, view.node_name
        for rule, found in pod_rules.matching(view.template):
            yield _draft(rule, resource, _rebased(found, view.pointer, {}), view.pointer, None, node)
        if container_rules:
            for container in view.containers():
                for rule, found in container_rules.matching(container.target):
                    evidence = _rebased(found, container.pointer, container.sources)
                    yield _draft(rule, resource, evidence, container.pointer, container.name, node)
    by_kind: dict[str, list[Resource]] = defaultdict(list)
    for resource in inventory.resources:
        by_kind[resource.kind].append(resource)
    for target, kind in (("namespace", "Namespace"), ("node", "Node")):
        for rule, is_match in by_target.get(target, []):
            for resource in by_kind[kind]:
                if is_match(resource.obj):
                    evidence = dict(_evidence(resource.obj, rule.evidence))
                    yield _draft(rule, resource, evidence, "", None, resource.name if target == "node" else None)
    for rule, is_match in by_target.get("object", []):
        candidates = [r for k in rule.kinds for r in by_kind[k]] if rule.kinds else inventory.resources
        for resource in candidates:
            if is_match(resource.obj):
                yield _draft(rule, resource, dict(_evidence(resource.obj, rule.evidence)), "", None, None)
    for rule, is_match in by_target.get("probe", []):
        for fact in inventory.facts:
            if is_match(fact.report):
                yield _observed(rule, fact, dict(_evidence(fact.report, rule.evidence)))


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


def _observed(rule: Rule, fact: Fact, evidence: dict[str, Any]) -> _Draft:
    """A probe finding is about the pod it ran in (or the node, for a probe on the node)."""
    kind, name = ("Pod", fact.pod) if fact.pod else ("Node", fact.node or fact.probe_id)
    probe = fact.report.get("probe", {})
    return _Draft(
        rule=rule, kind=kind, name=name, namespace=fact.namespace, origin=fact.origin, message="",
        evidence=evidence, pointer=next(iter(evidence), ""), container=probe.get("container"), node=fact.node,
    )


class _Matcher:
    """The rules a target matches, and their evidence, memoised by the part of the target the
    rules and their evidence pointers can read.

    Replicas, copies of one chart and sidecars injected everywhere make most targets
    repeats once names, labels, images and env values are left out; projecting and
    serialising one costs a few microseconds, evaluating every rule on it hundreds.
    """

    def __init__(self, rules: Sequence[tuple[Rule, Any]]) -> None:
        self.rules = rules
        self.reads = Reads.of((rule.match for rule, _ in rules),
                              (split_pointer(p) for rule, _ in rules for p in rule.evidence))
        self.cache: dict[bytes, tuple[tuple[Rule, tuple[tuple[str, Any], ...]], ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def matching(self, target: Any) -> tuple[tuple[Rule, tuple[tuple[str, Any], ...]], ...]:
        """(rule, evidence as (pointer in the target, shown value)) for each rule matched."""
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

    def _evaluate(self, target: Any) -> tuple[tuple[Rule, tuple[tuple[str, Any], ...]], ...]:
        return tuple((rule, _evidence(target, rule.evidence)) for rule, is_match in self.rules if is_match(target))


def _evidence(target: Any, pointers: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """Observed values at the rule's evidence pointers, by pointer in the target.

    A `*` token walks every list item (or mapping value); items lacking the rest of the
    path are left out, so `/spec/volumes/*/hostPath` shows the hostPath volumes only.
    """
    return tuple((path, redact.evidence(split_pointer(path), value)) for pointer in pointers
                 for path, value in walk(target, list(redact.shown_path(split_pointer(pointer))), ""))


def _rebased(found: Sequence[tuple[str, Any]], base: str, redirects: Mapping[str, str]) -> dict[str, Any]:
    """Evidence keyed by pointer in the object the target was taken from."""
    return {_object_pointer(path, base, redirects): value for path, value in found}


def _object_pointer(path: str, base: str, sources: Mapping[str, str]) -> str:
    """Map a target pointer to the object: synthetic `_` keys by their longest known prefix."""
    best = max((p for p in sources if path == p or path.startswith(p + "/")), key=len, default=None)
    return base + path if best is None else sources[best] + path[len(best):]


def _draft(
    rule: Rule, resource: Resource, evidence: dict[str, Any], pointer: str, container: str | None, node: str | None
) -> _Draft:
    # The finding points at the first observed value, else at the pod or container itself.
    pointer = next(iter(evidence), pointer)
    return _about(resource, rule=rule, message="", evidence=evidence, pointer=pointer, container=container, node=node)


def _from_hit(rule: Rule, hit: Hit) -> _Draft:
    return _about(
        hit.resource, rule=rule, message=hit.message, evidence=hit.evidence, pointer=hit.pointer,
        container=hit.container, node=hit.node,
    )


# -- findings --------------------------------------------------------------------------


def _resolve_locations(drafts: Iterable[_Draft]) -> None:
    by_document: dict[int, tuple[LineIndex, list[_Draft]]] = {}
    for draft in drafts:
        origin = draft.origin
        if origin is None or origin.path is None or draft.location is not None:
            continue
        if origin.lines is None:
            draft.location = Location(origin.path, None)
        else:
            by_document.setdefault(id(origin.lines), (origin.lines, []))[1].append(draft)
    for lines, group in by_document.values():
        found = lines.resolve({d.origin.pointer + d.pointer for d in group if d.origin is not None})
        for d in group:
            assert d.origin is not None and d.origin.path is not None
            d.location = Location(d.origin.path, found.get(d.origin.pointer + d.pointer))


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _format(template: str, fields: Mapping[str, Any]) -> str:
    """`{name}` placeholders only: a rule pack is data, so no attribute or index access."""
    return _PLACEHOLDER.sub(lambda m: str(fields.get(m.group(1), m.group(0))), template)


def _finding(d: _Draft, config: Config, tenancy: Tenancy, cluster: str | None) -> Finding:
    kind, name, namespace = d.kind, d.name, d.namespace
    if kind == "Namespace":
        namespace = name  # a namespace's findings belong to its tenant and match its waivers
    fields = {
        "kind": kind,
        "name": name,
        "namespace": namespace or "-",
        "container": d.container or "-",
        "node": d.node or "-",
        "tenant": tenancy.tenant_of(namespace) or "platform",
    }
    if not d.message and "{value}" in d.rule.message:  # serialising evidence is the costly part
        fields["value"] = next((_short(v) for v in d.evidence.values()), "-")
    message = d.message or _format(d.rule.message, fields)
    return Finding(
        rule_id=d.rule.id,
        severity=config.severity_of(d.rule),
        title=d.rule.title,
        message=message,
        tenant=tenancy.tenant_of(namespace),
        namespace=namespace,
        kind=kind,
        name=name,
        container=d.container,
        node=d.node,
        controls=d.rule.controls,
        evidence=d.evidence,
        location=d.location,
        remediation=d.rule.remediation,
        cluster=(d.origin.cluster if d.origin is not None else None) or cluster,
    )


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
