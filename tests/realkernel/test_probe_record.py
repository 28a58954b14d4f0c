"""The recorded probe fixtures (fixtures/probe/) are what the probe really says in real containers.

Every run re-probes the three recorded containers and requires the stable facts (capabilities,
seccomp, namespaces, limits, escape-vector kinds, enforcement verdicts) to equal the recorded
reports. With RECORD_PROBE_FIXTURES=1 the reports and the captured file trees used by the unit
tests are written afresh instead (see fixtures/demo/probe-results/RECORDED.md).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from harness import runc
from harness.runc import DEFAULT_NAMESPACES, ContainerConfig, IdMapping, privileged

pytestmark = pytest.mark.realkernel

REPO = runc.PROJECT_ROOT
FIXTURES = REPO / "fixtures" / "probe"
REPORTS = FIXTURES.parent / "demo" / "probe-results"  # the demo audits them
TREES = FIXTURES / "trees"
RECORD = os.environ.get("RECORD_PROBE_FIXTURES") == "1"
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text()),
    format_checker=jsonschema.FormatChecker())

MiB = 2**20
# A hardened profile: deny what container escapes and kernel attacks need, allow the rest.
HARDENED_SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [
    "mount", "umount2", "pivot_root", "unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "open_by_handle_at", "name_to_handle_at", "reboot",
    "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "syslog", "quotactl", "lookup_dcookie",
    "fsopen", "fsmount", "fsconfig", "move_mount", "open_tree"],
    "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
_MAP = IdMapping(container_id=0, host_id=200_000, size=65_536)
RESTRICTED = ContainerConfig(
    namespaces=DEFAULT_NAMESPACES + ("user", "cgroup"), uid_mappings=(_MAP,), gid_mappings=(_MAP,),
    uid=1000, gid=1000, capabilities=(), no_new_privileges=True, readonly_rootfs=True,
    seccomp=HARDENED_SECCOMP, memory_bytes=256 * MiB, pids_max=128, cpu_quota_us=50_000, cpu_period_us=100_000)

RECORDINGS = {  # file -> (container config, probe arguments)
    "privileged.json": (privileged(), ["--node", "bm-1", "--namespace", "analytics",
                                       "--pod", "nightly-etl-8xq2p", "--container", "etl"]),
    "restricted.json": (RESTRICTED, ["--node", "bm-2", "--namespace", "trading",
                                     "--pod", "order-gateway-7d9f8b6c5d-x2x4k", "--container", "gateway"]),
    "unlimited.json": (ContainerConfig(), ["--active", "--node", "bm-1", "--namespace", "shop-db",
                                           "--pod", "postgres-0", "--container", "postgres"]),
}


def probe(run, config: ContainerConfig, *args: str) -> dict:
    result = run(replace(config, cwd=str(REPO)), runc.python_argv("-m", "auditor", "probe", *args), timeout=90)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    VALIDATOR.validate(report)
    assert report["probe"]["errors"] == []
    return report


def stable_facts(report: dict) -> dict:
    """What the container's configuration decides, the same on any machine the suite runs on
    (kernel, boot id, bind-mount paths and the host's full capability set are the machine's)."""
    cgroup, p = report["cgroup"], report["privileges"]
    return {
        "probe": {k: report["probe"][k] for k in ("active", "node", "namespace", "pod", "container")},
        "runtime": (report["host"]["container_runtime"], report["host"]["sandbox"]),
        "namespaces": {t: v["shared_with_host"] for t, v in report["namespaces"].items()},
        "privileges": {k: p[k] for k in ("uid", "gid", "no_new_privs", "seccomp_mode", "apparmor", "selinux")},
        "sys_admin": "SYS_ADMIN" in p["capabilities_effective"],
        "escape_vector_kinds": sorted({v["id"] for v in report["escape_vectors"]}),
        "cgroup": {k: cgroup[k] for k in ("memory_limit_bytes", "pids_max", "cpu_quota_cores")},
        "enforcement": {k: (v["tested"], v["enforced"]) for k, v in cgroup.get("enforcement", {}).items()},
    }


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_recorded_report_matches_a_fresh_probe(runc_container, name):
    config, args = RECORDINGS[name]
    report = probe(runc_container, config, *args)
    path = REPORTS / name
    if RECORD:
        REPORTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    recorded = json.loads(path.read_text())
    VALIDATOR.validate(recorded)
    assert stable_facts(report) == stable_facts(recorded)


# --- captured file trees for the unit tests ---------------------------------------------------

_SYSCTL_FILES = ["/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/unprivileged_bpf_disabled",
                 "/proc/sys/kernel/kptr_restrict", "/proc/sys/kernel/dmesg_restrict",
                 "/proc/sys/kernel/perf_event_paranoid", "/proc/sys/kernel/unprivileged_userns_clone",
                 "/proc/sys/kernel/modules_disabled", "/proc/sys/kernel/yama/ptrace_scope",
                 "/sys/kernel/security/lockdown"]
_CGROUP_FILES = ["memory.limit_in_bytes", "memory.oom_control", "memory.max", "memory.events", "pids.max",
                 "pids.current", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.max"]
# Runs where the tree is captured (inside a container, or on the machine itself); prints
# {path: {"text": ...} | {"link": ...}} of exactly the files the probe's collectors read.
CAPTURE = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from auditor.probe import cgroups
out = {}
def text(p, first_block=False, drop=()):
    try:
        t = open(p, errors="replace").read()
    except OSError:
        return
    if first_block:
        t = t.split("\n\n")[0] + "\n"
    t = "".join(l for l in t.splitlines(True) if not any(d in l for d in drop))
    out[p] = {"text": t}
def link(p):
    try:
        out[p] = {"link": os.readlink(p)}
    except OSError:
        pass
for p in ["/proc/self/cgroup", "/proc/self/status", "/proc/self/uid_map", "/proc/self/net/dev", "/proc/2/status",
          "/proc/1/cgroup", "/proc/filesystems", "/proc/sys/kernel/osrelease", "/proc/sys/kernel/version",
          "/proc/sys/kernel/random/boot_id", "/sys/devices/system/clocksource/clocksource0/current_clocksource",
          *json.loads(sys.argv[2])]:
    text(p)
text("/proc/self/mountinfo", drop=("/mnt/sandboxing",))  # not the machine's own tooling mounts
text("/proc/cpuinfo", first_block=True)
for ns in ("pid", "net", "mnt", "ipc", "uts", "user", "cgroup"):
    link(f"/proc/self/ns/{ns}")
for line in open("/proc/self/net/dev").read().splitlines()[2:]:
    link("/sys/class/net/%s/device" % line.split(":")[0].strip())
for h in cgroups.locate("/").hierarchies:
    text(os.path.join(h.mount_point, "cgroup.controllers"))
    for d in h.levels():
        for name in json.loads(sys.argv[3]):
            text(os.path.join(d, name))
print(json.dumps(out))
"""

TREE_CONFIGS = {  # captured tree -> container config (None: the machine itself, outside any container)
    "runc-v1-limited": ContainerConfig(memory_bytes=96 * MiB, pids_max=24, cpu_quota_us=20_000, cpu_period_us=100_000),
    "runc-v1-unlimited": ContainerConfig(),
    "host-hybrid": None,
}


def _write_tree(tree: Path, captured: dict) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    for path, entry in captured.items():
        dest = tree / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if "link" in entry:
            dest.symlink_to(entry["link"])
        else:
            dest.write_text(entry["text"])


@pytest.mark.parametrize("name", sorted(TREE_CONFIGS))
def capture_tree(runc_container, name):
    """Collected as a test only when recording (RECORD_PROBE_FIXTURES=1)."""
    import subprocess
    import sys

    argv = ["-c", CAPTURE, str(REPO), json.dumps(_SYSCTL_FILES), json.dumps(_CGROUP_FILES)]
    config = TREE_CONFIGS[name]
    if config is None:
        out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=True, timeout=60).stdout
    else:
        result = runc_container(config, runc.python_argv(*argv), timeout=60)
        assert result.returncode == 0, result.stderr
        out = result.stdout
    _write_tree(TREES / name, json.loads(out))


if RECORD:
    test_capture_tree = capture_tree
