"""The command line against a real kube-apiserver: scan, snapshot, partial audits, --probe."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_live_cluster import create_all, demo_objects, unique
from test_live_probes import assert_nothing_left, make_tenants

pytestmark = pytest.mark.apiserver


def cli(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditor", *argv], capture_output=True, text=True, timeout=timeout)


def keys(report: dict, namespaces: set[str]) -> list[tuple]:
    return sorted((f["rule_id"], f["namespace"], f["kind"], f["name"], f["container"]) for f in report["findings"]
                  if f["namespace"] in namespaces)


def test_scan_a_snapshot_and_the_snapshot_offline_agree(apiserver, tmp_path):
    sfx = unique("cli")
    objects = demo_objects(sfx)
    create_all(apiserver, objects)
    ours = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}

    live = cli("scan", "--kubeconfig", apiserver.kubeconfig, "--format", "json", "--fail-on", "none")
    assert live.returncode == 0, live.stderr
    live_report = json.loads(live.stdout)
    assert live_report["source"]["type"] == "cluster" and live_report["coverage"]["complete"]
    assert keys(live_report, ours)

    snap = tmp_path / "snapshot.json"
    written = cli("snapshot", "--kubeconfig", apiserver.kubeconfig, "-o", str(snap))
    assert written.returncode == 0, written.stderr
    assert '"kind": "Secret"' not in snap.read_text() and '"kind":"Secret"' not in snap.read_text()
    offline = cli("scan", str(snap), "--format", "json", "--fail-on", "none")
    assert offline.returncode == 0, offline.stderr
    assert keys(json.loads(offline.stdout), ours) == keys(live_report, ours)


def test_a_restricted_user_gets_a_partial_audit_and_exit_2(apiserver):
    kubeconfig = apiserver.make_user(unique("viewer"), [
        {"apiGroups": [""], "resources": ["namespaces", "nodes"], "verbs": ["get", "list"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"], "verbs": ["create"]},
    ])
    done = cli("scan", "--kubeconfig", kubeconfig, "--format", "json")
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["summary"]["partial"] is True
    skipped = " ".join(s["source"] + " " + s["reason"] for s in report["coverage"]["skipped"])
    assert "pods" in skipped and "networkpolicies" in skipped and "forbidden" in skipped
    assert "Traceback" not in done.stderr and "skipped cluster" in done.stderr


def test_probe_from_the_cli_times_out_cleanly_and_leaves_nothing(apiserver):
    sfx = unique("clip")
    _, tenants, _ = make_tenants(apiserver, sfx)
    tool_namespace = unique("audit")
    done = cli("scan", "--kubeconfig", apiserver.kubeconfig, "--probe", "--probe-timeout", "3",
               "--probe-namespace", tool_namespace, "--format", "json", timeout=240)
    assert done.returncode == 2, done.stderr  # probes that did not run make the audit partial
    report = json.loads(done.stdout)
    not_run = [s for s in report["coverage"]["skipped"] if "probe" in s["source"] or "probe" in s["reason"]]
    assert not_run and all("Pending" in s["reason"] or "timed out" in s["reason"] for s in not_run)
    assert_nothing_left(apiserver, tool_namespace, tenants)


def test_connection_refused_is_one_line_and_exit_2(apiserver, tmp_path):
    from harness.apiserver import free_port

    config = json.loads(open(apiserver.kubeconfig).read())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    broken = tmp_path / "refused.json"
    broken.write_text(json.dumps(config))
    done = cli("scan", "--kubeconfig", str(broken), "--probe", "--probe-timeout", "3", timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "refused" in done.stderr.lower() and "Traceback" not in done.stderr
