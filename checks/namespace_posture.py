"""Namespaces as tenant boundaries: NetworkPolicy coverage and use of `default`."""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from auditor.analysis import AnalysisContext, AnalysisResult, Hit
from auditor.model import Resource, Rule
from auditor.selectors import selects


class NamespacePosture:
    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        hits: list[Hit] = []
        for rule in rules:
            check = rule.params.get("check")
            if check == "network-policy":
                hits.extend(_unprotected_namespaces(ctx, rule))
            elif check == "default-namespace":
                hits.extend(
                    Hit(rule.id, view.resource, "", pointer="/metadata")
                    for view in ctx.workloads
                    if view.resource.namespace == "default"
                )
        return AnalysisResult(hits=tuple(hits))


def _unprotected_namespaces(ctx: AnalysisContext, rule: Rule) -> Iterator[Hit]:
    policies: dict[str, list[Mapping[str, Any]]] = {}
    for policy in ctx.of_kind("NetworkPolicy"):
        spec = policy.obj.get("spec")
        if policy.namespace and isinstance(spec, dict) and _governs_ingress(spec):
            selector = spec.get("podSelector")
            policies.setdefault(policy.namespace, []).append(selector if isinstance(selector, dict) else {})
    namespaces = {r.name: r for r in ctx.of_kind("Namespace")}
    pods_by_namespace: dict[str, list[Mapping[str, str]]] = {}
    for view in ctx.workloads:
        if view.resource.namespace is not None:
            labels = view.metadata.get("labels")
            pods_by_namespace.setdefault(view.resource.namespace, []).append(labels if isinstance(labels, dict) else {})
    for namespace, pod_labels in sorted(pods_by_namespace.items()):
        if ctx.tenancy.tenant_of(namespace) is None:
            continue  # the platform's namespaces are not a tenant boundary
        selectors = policies.get(namespace, [])
        if any(selects(s, labels) for s in selectors for labels in pod_labels):
            continue
        subject = namespaces.get(namespace) or _placeholder(namespace, ctx)
        yield Hit(
            rule.id,
            subject,
            "",
            evidence={"workloads": len(pod_labels), "network_policies": len(selectors)},
        )


def _governs_ingress(spec: Mapping[str, Any]) -> bool:
    """policyTypes defaults to Ingress (plus Egress when egress rules exist)."""
    types = spec.get("policyTypes")
    return "Ingress" in types if isinstance(types, list) else True


def _placeholder(namespace: str, ctx: AnalysisContext) -> Resource:
    """Manifests often omit the Namespace object; report on the first workload in it."""
    view = next(v for v in ctx.workloads if v.resource.namespace == namespace)
    r = view.resource
    return Resource("Namespace", "v1", None, namespace, {"metadata": {"name": namespace}}, r.origin)
