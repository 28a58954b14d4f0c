"""Namespaces as tenant boundaries: resource guards, use of `default` (network isolation is the
reachability analysis's: it weighs policies of every kind)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from auditor.analysis import WORKLOADS, AnalysisContext, AnalysisResult, Check, Hit
from auditor.model import Rule


class NamespacePosture:
    # every check is about the namespaces audited workloads run in
    checks = {name: Check(reads=(WORKLOADS,)) for name in ("resource-guard", "default-namespace")}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        hits: list[Hit] = []
        for rule in rules:
            check = rule.check
            if check == "resource-guard":
                hits.extend(_unguarded_namespaces(ctx, rule))
            elif check == "default-namespace":
                hits.extend(
                    Hit(rule.id, view.resource, "", pointer="/metadata")
                    for view in ctx.workloads
                    if view.resource.namespace == "default"
                )
        return AnalysisResult(hits=tuple(hits))


def _tenant_pod_labels(ctx: AnalysisContext) -> dict[str, list[Mapping[str, str]]]:
    """Pod-template labels per tenant namespace (the platform's namespaces are no boundary)."""
    found: dict[str, list[Mapping[str, str]]] = {}
    for view in ctx.workloads:
        namespace = view.resource.namespace
        if namespace is not None and ctx.tenancy.tenant_of(namespace) is not None:
            labels = view.metadata.get("labels")
            found.setdefault(namespace, []).append(labels if isinstance(labels, dict) else {})
    return dict(sorted(found.items()))


def _unguarded_namespaces(ctx: AnalysisContext, rule: Rule) -> Iterator[Hit]:
    guarded = {r.namespace for kind in ("LimitRange", "ResourceQuota") for r in ctx.of_kind(kind)}
    for namespace, pod_labels in _tenant_pod_labels(ctx).items():
        if namespace not in guarded:
            yield Hit(rule.id, ctx.namespace_subject(namespace), "", evidence={"workloads": len(pod_labels)})

