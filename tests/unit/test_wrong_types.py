"""Wrong types in the fields rules read: never a traceback, never a false violation."""
from __future__ import annotations

from pathlib import Path

from scan_helpers import scan

from auditor.rules import typed

HOSTILE = """apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: [1, 2], ownerReferences: "x"}
spec: "nope"
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec: {containers: "str", initContainers: [null, 5, {name: 7, securityContext: "x"}], securityContext: [1]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: c, namespace: x}
spec: {template: null}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: x}
spec: {podSelector: {matchLabels: [1], matchExpressions: "x"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: "x"}
---
apiVersion: v1
kind: Pod
metadata: {name: d, namespace: x}
spec: {volumes: {a: 1}, hostPID: "true",
  containers: [{name: z, securityContext: {capabilities: {add: SYS_ADMIN}}, resources: [1]}]}
"""


def test_malformed_fields_are_not_violations_of_positive_rules(tmp_path: Path):
    path = tmp_path / "h.yaml"
    path.write_text(HOSTILE)
    report = scan([str(path)])
    found = {(f.rule_id, f.name, f.container) for f in report.findings}
    # nothing here is privileged, host-namespaced, hostPath or adds capabilities
    assert not {r for r, _, _ in found} & {"IA101", "IA102", "IA103", "IA104", "IA105", "IA106"}
    # a malformed securityContext or resources is not compliance either
    assert ("IA107", "b", "#2") in found and ("IA110", "d", "z") in found
    assert report.coverage.complete


def test_typed_adds_types_where_keywords_imply_them():
    schema = {"properties": {"a": {"required": ["b"]}, "l": {"contains": {"const": 1}}}, "not": {"required": ["x"]}}
    out = typed(schema)
    assert out["type"] == "object" and out["properties"]["a"]["type"] == "object"
    assert out["properties"]["l"]["type"] == "array" and out["not"]["type"] == "object"
    assert typed({"$ref": "#/$defs/x"}) == {"$ref": "#/$defs/x"}


def test_duplicate_objects_are_audited_without_error(tmp_path: Path):
    """kustomize overlays and copied charts repeat objects: each copy is audited, nothing breaks."""
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n"
           "spec: {hostPID: true, containers: [{name: a, image: x}]}\n")
    (tmp_path / "base").mkdir()
    (tmp_path / "overlay").mkdir()
    (tmp_path / "base" / "p.yaml").write_text(pod)
    (tmp_path / "overlay" / "p.yaml").write_text(pod + "---\n" + pod)
    report = scan([str(tmp_path)], select=["IA101", "IA4", "IA5"])
    assert report.coverage.complete
    hits = [f for f in report.findings if f.rule_id == "IA101"]
    assert sorted((f.location.path.split("/")[-2], f.location.line) for f in hits) == [
        ("base", 4), ("overlay", 4), ("overlay", 9)]
