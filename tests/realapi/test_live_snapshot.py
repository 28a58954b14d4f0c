"""A snapshot holds everything a live scan reads (never a Secret or ConfigMap) and audits
offline with identical findings."""
from __future__ import annotations

import copy
import json
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scan_helpers import audit_inventory, scan

from auditor.live.cluster import load_cluster
from auditor.live.errors import ClusterError
from auditor.live.snapshot import CLUSTER_ANNOTATION, SKIPPED_ANNOTATION, TIME_ANNOTATION, snapshot, write_snapshot
from auditor.sources.manifests import load

pytestmark = pytest.mark.apiserver

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "cluster"


def full_keys(report):
    return sorted(
        (f.rule_id, f.severity.label, f.tenant or "", f.namespace or "", f.kind, f.name, f.container or "",
         f.node or "", f.message, f.cluster or "", json.dumps(f.evidence, sort_keys=True, default=str))
        for f in report.findings)


def populate(apiserver) -> str:
    sfx = uuid.uuid4().hex[:6]
    tenant = f"snap-{sfx}"
    for path, body in [
        ("/api/v1/namespaces", {"metadata": {"name": tenant, "labels": {"tenant": "snap"}}}),
        (
            f"/api/v1/namespaces/{tenant}/secrets",
            {"metadata": {"name": "db"}, "stringData": {"password": "hunter2-" + sfx}},
        ),
        (
            f"/api/v1/namespaces/{tenant}/configmaps",
            {"metadata": {"name": "cfg"}, "data": {"token": "cm-value-" + sfx}},
        ),
        (
            f"/api/v1/namespaces/{tenant}/limitranges",
            {"metadata": {"name": "lr"}, "spec": {"limits": [{"type": "Container", "default": {"memory": "256Mi"}}]}},
        ),
        (f"/api/v1/namespaces/{tenant}/resourcequotas", {"metadata": {"name": "rq"}, "spec": {"hard": {"pods": "10"}}}),
        (
            f"/api/v1/namespaces/{tenant}/services",
            {
                "metadata": {"name": "web"},
                "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
            },
        ),
        (
            f"/api/v1/namespaces/{tenant}/replicationcontrollers",
            {
                "metadata": {"name": "legacy"},
                "spec": {
                    "replicas": 1,
                    "selector": {"app": "legacy"},
                    "template": {
                        "metadata": {"labels": {"app": "legacy"}},
                        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "legacy:1"}]},
                    },
                },
            },
        ),
        (
            f"/apis/batch/v1/namespaces/{tenant}/cronjobs",
            {
                "metadata": {"name": "nightly"},
                "spec": {
                    "schedule": "0 3 * * *",
                    "jobTemplate": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [
                                        {"name": "c", "image": "cron:1", "securityContext": {"privileged": True}}
                                    ],
                                }
                            }
                        }
                    },
                },
            },
        ),
    ]:
        status, resp = apiserver.request("POST", path, body)
        assert status == 201, (path, resp)
    return tenant


def test_snapshot_audits_offline_with_identical_findings_and_no_secrets(apiserver, tmp_path):
    tenant = populate(apiserver)
    inventory = load_cluster(apiserver.kubeconfig)
    kinds = {r.kind for r in inventory.resources if r.namespace == tenant}
    assert kinds == {"LimitRange", "ResourceQuota", "Service", "ReplicationController", "CronJob"}

    out = tmp_path / "snap.json"
    when = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    count = write_snapshot(inventory, out, now=when)
    assert count == len(inventory.resources)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    raw = out.read_text()
    doc = json.loads(raw)
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1" and len(doc["items"]) == count
    assert doc["metadata"]["annotations"][CLUSTER_ANNOTATION] == "admin"
    assert doc["metadata"]["annotations"][TIME_ANNOTATION] == "2026-11-28T09:30:00Z"
    assert SKIPPED_ANNOTATION not in doc["metadata"]["annotations"]
    assert not {i["kind"] for i in doc["items"]} & {"Secret", "ConfigMap"}
    assert "hunter2" not in raw and "cm-value" not in raw

    offline = load([str(out)])
    assert offline.skipped == ()
    assert all(r.origin.cluster == "admin" for r in offline.resources)
    live_report = audit_inventory(inventory)
    offline_report = audit_inventory(offline)
    assert full_keys(offline_report) == full_keys(live_report)
    assert any(f.namespace == tenant for f in offline_report.findings)
    # offline findings point into the snapshot file, at a line
    assert all(f.location.path == str(out) and f.location.line >= 1 for f in offline_report.findings)
    # and the CLI's plain file scan reads it the same way
    assert full_keys(scan([str(out)])) == full_keys(live_report)


def test_snapshot_records_what_could_not_be_read(apiserver, tmp_path):
    user = f"snap-narrow-{uuid.uuid4().hex[:6]}"
    kubeconfig = apiserver.make_user(
        user, [{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list"]}]
    )
    out = tmp_path / "partial.json"
    inventory = snapshot(out, kubeconfig=kubeconfig)
    doc = json.loads(out.read_text())
    recorded = json.loads(doc["metadata"]["annotations"][SKIPPED_ANNOTATION])
    assert [s["source"] for s in recorded] == [s.source for s in inventory.skipped]
    assert any(s["source"] == f"cluster {user}: nodes" for s in recorded)


def test_a_snapshot_holds_one_cluster(apiserver, tmp_path):
    admin = json.loads(Path(apiserver.kubeconfig).read_text())
    two = copy.deepcopy(admin)
    two["contexts"].append({"name": "again", "context": copy.deepcopy(admin["contexts"][0]["context"])})
    path = tmp_path / "two.json"
    path.write_text(json.dumps(two))
    inventory = load_cluster(str(path), all_contexts=True)
    with pytest.raises(ClusterError, match="a snapshot holds one cluster"):
        write_snapshot(inventory, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
