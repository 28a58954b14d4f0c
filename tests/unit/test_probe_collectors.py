"""Namespaces, privileges, host facts, escape vectors and the assembled report on captured trees."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import jsonschema
import pytest

from auditor.probe import build_report, escapes, host, namespaces, privileges

REPO = Path(__file__).resolve().parents[2]
TREES = REPO / "fixtures" / "probe" / "trees"
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text()),
    format_checker=jsonschema.FormatChecker())


def tree(name: str) -> str:
    return str(TREES / name)


def shared(root: str) -> dict:
    return {t: v["shared_with_host"] for t, v in namespaces.collect_namespaces(root).items()}


def test_namespaces_of_a_runc_container():
    # The harness's containers get pid, net, ipc, uts, mnt namespaces and keep the host's user and cgroup ones.
    assert shared(tree("runc-v1-limited")) == {
        "pid": False, "net": False, "mnt": False, "ipc": False, "uts": False, "user": True, "cgroup": True}
    found = namespaces.collect_namespaces(tree("runc-v1-limited"))
    assert "a subdirectory bind-mounted as root" in found["mnt"]["evidence"]
    assert "interfaces in /proc/self/net/dev: lo;" in found["net"]["evidence"]


def test_namespaces_on_the_host():
    found = namespaces.collect_namespaces(tree("host-hybrid"))
    assert {t: v["shared_with_host"] for t, v in found.items()} == dict.fromkeys(namespaces.TYPES, True)
    assert "kthreadd" in found["pid"]["evidence"]
    assert "device-backed interfaces" in found["net"]["evidence"]
    assert "0 0 4294967295" in found["user"]["evidence"]


def test_inode_alone_decides_when_nothing_else_is_readable(tmp_path):
    ns = tmp_path / "proc/self/ns"
    ns.mkdir(parents=True)
    for t, inode in (("pid", 0xEFFFFFFC), ("ipc", 0xF0000123), ("net", 0xF0000099), ("mnt", 0xF0000098)):
        (ns / t).symlink_to(f"{t}:[{inode}]")
    found = shared(str(tmp_path))
    assert (found["pid"], found["ipc"]) == (True, False)
    assert (found["net"], found["mnt"], found["uts"]) == (None, None, None)  # older kernels: dynamic init inodes


def test_privileges_of_the_default_runc_profile():
    p = privileges.collect_privileges(tree("runc-v1-limited"))
    assert p["capabilities_effective"] == ["KILL", "NET_BIND_SERVICE", "AUDIT_WRITE"]
    assert p["capabilities_bounding"] == p["capabilities_effective"]
    assert (p["uid"], p["gid"], p["no_new_privs"], p["seccomp_mode"]) == (0, 0, True, "disabled")


def test_capability_bits_beyond_the_known_ones_are_reported_not_invented():
    names, unknown = privileges.decode_capabilities("0000060000200000")
    assert names == ["SYS_ADMIN"] and unknown == [41, 42]


@pytest.mark.parametrize("files, expected", [
    ({"proc/self/attr/apparmor/current": "cri-containerd.apparmor.d (enforce)\n"},
     ("cri-containerd.apparmor.d (enforce)", None)),
    ({"proc/self/attr/current": "system_u:system_r:container_t:s0:c12,c34\x00", "sys/fs/selinux/enforce": "1"},
     (None, "system_u:system_r:container_t:s0:c12,c34")),
    ({"proc/self/attr/current": "docker-default (enforce)\n"}, ("docker-default (enforce)", None)),
])
def test_lsm_labels(tmp_path, files, expected):
    status = (TREES / "runc-v1-limited/proc/self/status").read_text()
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/status").write_text(status)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    p = privileges.collect_privileges(str(tmp_path))
    assert (p["apparmor"], p["selinux"]) == expected


def test_host_facts_from_a_captured_container():
    h = host.collect_host(tree("runc-v1-limited"), in_container=True)
    root = TREES / "runc-v1-limited"
    assert h["kernel_release"] == (root / "proc/sys/kernel/osrelease").read_text().strip()
    assert h["boot_id"] == (root / "proc/sys/kernel/random/boot_id").read_text().strip()
    assert h["hypervisor"] is True and "CPUID hypervisor bit present" in h["hypervisor_evidence"][0]
    assert h["container_runtime"] == "runc" and h["sandbox"] is None
    assert h["sysctls"]["kernel.dmesg_restrict"] == (root / "proc/sys/kernel/dmesg_restrict").read_text().strip()
    assert h["sysctls"]["kernel.yama.ptrace_scope"] is None  # no Yama on that kernel: absent, not guessed


@pytest.mark.parametrize("name, runtime", [("v2-node", "containerd"), ("v2-cgroupns", "cri-o")])
def test_runtime_from_cgroup_paths_and_image_storage(name, runtime):
    found, evidence = host.container_runtime(tree(name), in_container=True)
    assert found == runtime, evidence


def test_markers_on_a_host_are_leftovers(tmp_path):
    (tmp_path / ".dockerenv").touch()
    found, evidence = host.container_runtime(str(tmp_path), in_container=False)
    assert found is None and "not inside a container" in evidence[-1] and "/.dockerenv exists" in evidence


@pytest.mark.parametrize(
    "files, expected",
    [
        (
            {
                "proc/sys/kernel/osrelease": "4.4.0\n",
                "proc/sys/kernel/version": "#1 SMP Sun Jan 10 15:06:54 PST 2016\n",
            },
            "gvisor",
        ),
        (
            {
                "proc/sys/kernel/osrelease": "6.1.62\n",
                "proc/cmdline": "console=hvc0 agent.log=debug systemd.unit=kata-containers.target\n",
            },
            "kata",
        ),
        ({"proc/sys/kernel/osrelease": "6.1.62\n", "proc/cmdline": "BOOT_IMAGE=/vmlinuz ro quiet\n"}, None),
    ],
)
def test_sandbox_fingerprints(tmp_path, files, expected):
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert host.collect_host(str(tmp_path))["sandbox"] == expected


def test_escape_vectors_in_a_kubernetes_pod():
    found = escapes.collect_escape_vectors(tree("v2-node"), {}, {})
    # /etc/hosts, hostname, resolv.conf, termination-log and kubelet pod volumes are every pod's
    assert [(v["id"], v["path"]) for v in found] == [
        ("host-mount", "/var/log/pods"),
        ("service-account-token", "/var/run/secrets/kubernetes.io/serviceaccount/token")]
    assert "read-only" in found[0]["detail"]


def test_a_socket_is_found_at_a_runtime_path_and_under_bind_mounts(tmp_path):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text(
        "60 50 254:0 /srv/rt /host-run ro,relatime - ext4 /dev/vda rw\n")
    for path in ("var/run/docker.sock", "host-run/k3s/agent.sock"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_UNIX) as s:  # bound, never listening: nothing to connect to
            s.bind(str(tmp_path / path))
    found = escapes.collect_escape_vectors(str(tmp_path), {}, {})
    sockets = {v["path"]: v["detail"] for v in found if v["id"] == "runtime-socket"}
    assert set(sockets) == {"/var/run/docker.sock", "/host-run/k3s/agent.sock"}
    assert all("not connected to" in d for d in sockets.values())
    writable = os.access(tmp_path / "var/run/docker.sock", os.W_OK)
    assert ("writable: this process may connect" in sockets["/var/run/docker.sock"]) == writable


@pytest.mark.parametrize("name", ["runc-v1-limited", "runc-v1-unlimited", "host-hybrid", "v2-node", "v2-cgroupns"])
def test_report_from_every_tree_is_valid(name):
    report = build_report(root=tree(name), node="n1", namespace="ns", pod="p", container="c")
    VALIDATOR.validate(report)
    assert report["probe"]["node"] == "n1" and report["probe"]["active"] is False


def test_failed_collectors_leave_one_line_each_and_a_valid_report(tmp_path):
    report = build_report(root=str(tmp_path))
    VALIDATOR.validate(report)
    failed = sorted(line.split(":")[0] for line in report["probe"]["errors"])
    assert failed == ["cgroup", "escape_vectors", "host", "privileges"]
    assert all("\n" not in line for line in report["probe"]["errors"])
    assert report["cgroup"]["memory_limit_bytes"] is None and "unknown" in report["cgroup"]["evidence"]["error"]


def test_recorded_reports_are_valid_and_labelled():
    expected = {"privileged.json": ("bm-1", "analytics", "nightly-etl-8xq2p"),
                "restricted.json": ("bm-2", "trading", "order-gateway-7d9f8b6c5d-x2x4k"),
                "unlimited.json": ("bm-1", "shop-db", "postgres-0")}
    for name, (node, namespace, pod) in expected.items():
        report = json.loads((REPO / "fixtures/demo/probe-results" / name).read_text())
        VALIDATOR.validate(report)
        assert (report["probe"]["node"], report["probe"]["namespace"], report["probe"]["pod"]) == (node, namespace, pod)
    unlimited = json.loads((REPO / "fixtures/demo/probe-results/unlimited.json").read_text())
    assert unlimited["probe"]["active"] and unlimited["cgroup"]["memory_limit_bytes"] is None
    assert unlimited["cgroup"]["enforcement"]["memory"]["enforced"] is None


def test_active_tests_do_not_run_against_limits_that_could_not_be_read(tmp_path):
    report = build_report(root=str(tmp_path), active=True)
    VALIDATOR.validate(report)
    for result in report["cgroup"]["enforcement"].values():
        assert (result["tested"], result["enforced"]) == (False, None)
        assert "could not be read" in result["detail"]


def test_a_refused_fork_without_a_visible_pids_limit_shows_a_limit_above_the_container(monkeypatch):
    """On cgroup v1 a container cannot read its pod's pids.max (the kubelet's podPidsLimit),
    but the pods controller still refuses forks past it: the refusal is the evidence."""
    from auditor.probe import enforcement

    seen = {}

    def outcome(script, args, timeout):
        seen["attempt"] = int(args[0])
        return {"created": 97, "errno": 11, "current": None}, None, ""

    monkeypatch.setattr(enforcement, "_child_outcome", outcome)
    result = enforcement.pids_test(None)
    assert seen["attempt"] == enforcement.PIDS_UNLIMITED
    assert (result["tested"], result["enforced"]) == (True, True)
    assert "above this container's cgroup" in result["detail"]
    enomem = {"created": 3, "errno": 12, "current": None}
    monkeypatch.setattr(enforcement, "_child_outcome", lambda *a: (enomem, None, ""))
    assert enforcement.pids_test(None)["enforced"] is None  # ENOMEM is not a pids limit
