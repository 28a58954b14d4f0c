"""Probe facts in the audit: observed rules, and drift between manifests and probe reports."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from scan_helpers import audit_inventory, write

from auditor.sources.manifests import load
from auditor.sources.probe_reports import load_reports, with_reports

BASE = {
    "schema_version": "1.0",
    "probe": {"version": "0.1.0", "time": "2026-11-28T10:00:00Z", "duration_seconds": 0.4, "active": True,
              "node": "bm-1", "namespace": "shop", "pod": "web-5c8d7f9b4-abcde", "container": None, "errors": []},
    "host": {"kernel_release": "6.1.0", "kernel_version": None, "boot_id": "b1", "hypervisor": False,
             "hypervisor_evidence": [], "container_runtime": "containerd", "sandbox": None, "clocksource": "tsc",
             "sysctls": {"kernel.unprivileged_bpf_disabled": "2", "kernel.kptr_restrict": "1"}},
    "namespaces": {k: {"shared_with_host": False, "evidence": "inode differs"}
                   for k in ("pid", "net", "mnt", "ipc", "uts", "user", "cgroup")},
    "privileges": {"uid": 1000, "gid": 1000, "capabilities_effective": [], "capabilities_bounding": ["CHOWN"],
                   "no_new_privs": True, "seccomp_mode": "filter", "seccomp_filters": 1, "apparmor": None,
                   "selinux": None},
    "escape_vectors": [],
    "cgroup": {"version": "v2", "path": "/", "memory_limit_bytes": 268435456, "pids_max": 1024,
               "cpu_quota_cores": 1.0,
               "enforcement": {"memory": {"tested": True, "enforced": True, "detail": "OOM-killed at 256 MiB"}}},
}

MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: web
        image: nginx
        resources: {limits: {memory: 256Mi, cpu: "1"}}
        securityContext: {capabilities: {drop: [ALL]}}
"""


def report(**changes):
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    return data


def audit(tmp_path: Path, reports: dict[str, dict], select=("IA3", "IA35")):
    write(tmp_path, "m/web.yaml", MANIFEST)
    for name, data in reports.items():
        write(tmp_path, f"probes/{name}.json", json.dumps(data, indent=1))
    inventory = with_reports(load([str(tmp_path / "m")]), [str(tmp_path / "probes")])
    return audit_inventory(inventory, select=select)


def test_a_matching_report_gives_no_finding(tmp_path):
    assert audit(tmp_path, {"clean": report()}).findings == ()


def test_observed_escape_capability_names_the_pod_and_the_report_line(tmp_path):
    (finding,) = audit(tmp_path, {"p": report(**{"privileges.capabilities_effective": ["CHOWN", "SYS_ADMIN"]})},
                       select=["IA301"]).findings
    assert (finding.kind, finding.name, finding.namespace, finding.node) == (
        "Pod",
        "web-5c8d7f9b4-abcde",
        "shop",
        "bm-1",
    )
    assert finding.location.path.endswith("p.json") and finding.location.line > 1
    assert "SYS_ADMIN" in finding.evidence["/privileges/capabilities_effective"]


def test_drift_undeclared_privilege_points_at_the_manifest(tmp_path):
    (finding,) = audit(tmp_path, {"p": report(**{"privileges.capabilities_effective": ["SYS_ADMIN"]})},
                       select=["IA350"]).findings
    assert (finding.kind, finding.name, finding.container) == ("Deployment", "web", "web")
    assert finding.location.path.endswith("web.yaml")
    assert finding.evidence["observed_effective"] == ["SYS_ADMIN"] and finding.evidence["probe_report"].endswith(
        "p.json"
    )


def test_drift_limits_root_seccomp_and_namespaces(tmp_path):
    drifted = report(**{
        "cgroup.memory_limit_bytes": None,
        "privileges.uid": 0,
        "privileges.seccomp_mode": "disabled",
        "namespaces.pid": {"shared_with_host": True, "evidence": "pid 2 is kthreadd"},
    })
    findings = audit(tmp_path, {"p": drifted}, select=["IA35"]).findings
    assert sorted(f.rule_id for f in findings) == ["IA351", "IA352", "IA353", "IA354"]


def test_unenforced_limit_and_weak_kernel_are_observed(tmp_path):
    weak = report(**{"cgroup.enforcement": {"pids": {"tested": True, "enforced": False, "detail": "forked 1032"}},
                     "host.sysctls": {"kernel.unprivileged_bpf_disabled": "0"}})
    ids = sorted(f.rule_id for f in audit(tmp_path, {"p": weak}, select=["IA308", "IA310"]).findings)
    assert ids == ["IA308", "IA310"]


def test_a_report_for_an_unknown_pod_gives_observed_findings_only(tmp_path):
    stray = report(**{"probe.pod": "other-1", "privileges.capabilities_effective": ["SYS_ADMIN"]})
    assert [f.rule_id for f in audit(tmp_path, {"p": stray}, select=["IA301", "IA350"]).findings] == ["IA301"]


def test_invalid_reports_are_skipped_with_the_field(tmp_path):
    write(tmp_path, "r/bad.json", json.dumps(report(**{"privileges.seccomp_mode": "sometimes"})))
    write(tmp_path, "r/broken.json", "{")
    facts, skipped, inputs = load_reports([str(tmp_path / "r"), str(tmp_path / "missing")])
    assert facts == [] and len(inputs) == 2
    reasons = sorted(s.reason for s in skipped)
    assert reasons[0].startswith("invalid JSON") and "privileges.seccomp_mode:" in reasons[1]
    assert reasons[2] == "probe results: not a directory"


def test_demo_shows_drift_from_reports_recorded_in_real_containers(capsys):
    from auditor.cli import main

    main(["demo", "--format", "json"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    drift = {(f["rule_id"], f["kind"], f["name"]): f for f in findings if f["rule_id"].startswith("IA35")}
    assert ("IA350", "Job", "nightly-etl") in drift  # the manifest grants etl nothing; the kernel gave it all
    assert ("IA353", "StatefulSet", "postgres") in drift  # runAsUser 999 declared, uid 0 observed
    assert ("IA352", "StatefulSet", "postgres") in drift  # limits declared, none in the cgroup
    recorded = drift[("IA350", "Job", "nightly-etl")]["evidence"]["probe_report"]
    assert recorded.endswith("probe-results/privileged.json")
