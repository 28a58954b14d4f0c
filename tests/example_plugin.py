"""A third-party analysis plugin, as CONTRIBUTING.md describes one, for tests of the plugin
interface: one check with params, one report section."""
from __future__ import annotations

from collections.abc import Sequence

from auditor.analysis import AnalysisContext, AnalysisResult, Check, Hit, Section
from auditor.model import Rule


class NamespaceLabels:
    checks = {
        "missing-label": Check(params={
            "type": "object",
            "required": ["label"],
            "properties": {"label": {"type": "string", "minLength": 1}, "only_tenants": {"type": "boolean"}},
            "additionalProperties": False,
        }),
        "probed-label": Check(needs_probe=True),
    }
    sections = {"unlabelled": Section(empty=())}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        hits = []
        unlabelled = []
        for rule in rules:
            if rule.check != "missing-label":
                continue
            for namespace in ctx.of_kind("Namespace"):
                if rule.params.get("only_tenants") and ctx.tenancy.tenant_of(namespace.name) is None:
                    continue
                if rule.params["label"] not in namespace.labels:
                    unlabelled.append(namespace.name)
                    hits.append(Hit(rule.id, namespace, "", pointer="/metadata"))
        return AnalysisResult(hits=tuple(hits), sections={"unlabelled": tuple(sorted(unlabelled))})
