"""The engine on objects read back from a real kube-apiserver gives the file's findings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from scan_helpers import scan

from auditor.sources.manifests import load

pytestmark = pytest.mark.apiserver

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "cluster"

# (apiVersion, kind) -> (URL prefix, plural, namespaced) for the kinds the demo holds.
RESOURCES = {
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "Node"): ("/api/v1", "nodes", False),
    ("node.k8s.io/v1", "RuntimeClass"): ("/apis/node.k8s.io/v1", "runtimeclasses", False),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("apps/v1", "ReplicaSet"): ("/apis/apps/v1", "replicasets", True),
    ("apps/v1", "StatefulSet"): ("/apis/apps/v1", "statefulsets", True),
    ("apps/v1", "DaemonSet"): ("/apis/apps/v1", "daemonsets", True),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs", True),
    ("v1", "Pod"): ("/api/v1", "pods", True),
}


def create_all(server, objects):
    for obj in sorted(objects, key=lambda o: (o["kind"] != "Namespace", o["kind"] != "Node")):
        prefix, plural, namespaced = RESOURCES[(obj["apiVersion"], obj["kind"])]
        ns = obj["metadata"].get("namespace")
        path = f"{prefix}/namespaces/{ns}/{plural}" if namespaced else f"{prefix}/{plural}"
        status, body = server.request("POST", path, obj)
        # default and kube-system exist in every cluster
        assert status == 201 or (status == 409 and obj["kind"] == "Namespace"), (obj["kind"], obj["metadata"], body)


def read_back_as_list(server):
    """What `kubectl get <kinds> -A -o json` prints: one List, items with kind and apiVersion."""
    items = []
    for (api_version, kind), (prefix, plural, _) in RESOURCES.items():
        status, body = server.request("GET", f"{prefix}/{plural}")
        assert status == 200, body
        for item in body["items"]:
            items.append({"apiVersion": api_version, "kind": kind, **item})
    return {"apiVersion": "v1", "kind": "List", "items": items}


def finding_keys(report, objects):
    def namespace(o):  # findings on a Namespace belong to that namespace
        return o["metadata"]["name"] if o["kind"] == "Namespace" else o["metadata"].get("namespace")

    created = {(o["kind"], namespace(o), o["metadata"]["name"]) for o in objects}
    return sorted(
        (f.rule_id, f.namespace, f.kind, f.name, f.container, f.message)
        for f in report.findings
        if (f.kind, f.namespace, f.name) in created
    )


def test_findings_from_the_api_equal_findings_from_files(apiserver, tmp_path):
    objects = [r.obj for r in load([str(DEMO)]).resources]
    create_all(apiserver, objects)
    dump = tmp_path / "from-api.json"
    dump.write_text(json.dumps(read_back_as_list(apiserver), indent=1))

    from_api = scan([str(dump)])
    from_files = scan([str(DEMO)])
    assert from_api.coverage.complete
    assert finding_keys(from_api, objects) == finding_keys(from_files, objects)
    assert len(finding_keys(from_files, objects)) == len(from_files.findings) > 10
    # the API's own namespaces (kube-public, kube-node-lease) joined those we created
    assert from_api.coverage.objects > from_files.coverage.objects
    for f in from_api.findings:
        assert f.location.path == str(dump) and f.location.line >= 1
