"""`k8s-isolation-audit probe` in real runc containers, and on the machine itself, fact by fact.

Each test runs `python -m auditor probe` inside a container configured one way, validates the
ProbeReport against its schema, and checks every fact against the configuration the harness
applied (or against what the machine shows, read here independently).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from harness import runc
from harness.runc import ContainerConfig, Mount, privileged

pytestmark = pytest.mark.realkernel

REPO = runc.PROJECT_ROOT
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text()),
    format_checker=jsonschema.FormatChecker())
MiB = 2**20
OCI_TO_PROC = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user",
               "cgroup": "cgroup"}
PASSIVE_SECONDS = 5.0


def probe(run, config: ContainerConfig, *args: str, timeout: float = 90) -> tuple[dict, runc.Result, float]:
    started = time.monotonic()
    result = run(replace(config, cwd=str(REPO)), runc.python_argv("-m", "auditor", "probe", *args), timeout=timeout)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    VALIDATOR.validate(report)
    assert report["probe"]["errors"] == [], report["probe"]["errors"]
    return report, result, elapsed


def caps(config: ContainerConfig) -> list[str]:
    """The capabilities the harness gives `config`, in kernel order, without CAP_."""
    if config.capabilities is not None:
        names = config.capabilities
    else:
        names = runc.build_spec(config, ["true"], "unused")["process"]["capabilities"]["effective"]
    return [n[4:] for n in sorted(names, key=runc.CAPABILITY_NAMES.index)]


def effective_caps(config: ContainerConfig) -> list[str]:
    """Root keeps its sets; a non-root user keeps only ambient capabilities, which the kernel
    allows only within permitted and inheritable."""
    if config.uid == 0:
        return caps(config)
    sets = runc.build_spec(config, ["true"], "unused")["process"]["capabilities"]
    kept = set(sets.get("ambient", [])) & set(sets.get("inheritable", [])) & set(sets.get("permitted", []))
    return [n[4:] for n in sorted(kept, key=runc.CAPABILITY_NAMES.index)]


def expected_sharing(config: ContainerConfig) -> dict[str, bool]:
    created = {OCI_TO_PROC[n] for n in config.namespaces}
    return {t: t not in created for t in OCI_TO_PROC.values()}


def host_flags() -> list[str]:
    line = next((row for row in Path("/proc/cpuinfo").read_text().splitlines() if row.startswith("flags")), "")
    return line.split(":", 1)[-1].split()


def ids(report: dict) -> set[str]:
    return {v["id"] for v in report["escape_vectors"]}


def check_common(report: dict, result: runc.Result, config: ContainerConfig) -> None:
    """The facts every container shares with the machine, and those its configuration decides."""
    h = report["host"]
    assert h["kernel_release"] == os.uname().release
    assert h["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert h["hypervisor"] is ("hypervisor" in host_flags())
    assert h["container_runtime"] == "runc" and h["sandbox"] is None
    assert {t: v["shared_with_host"] for t, v in report["namespaces"].items()} == expected_sharing(config)
    p = report["privileges"]
    assert p["capabilities_effective"] == effective_caps(config)
    assert p["capabilities_bounding"] == caps(config)
    assert (p["uid"], p["gid"]) == (config.uid, config.gid)
    c = report["cgroup"]
    assert c["memory_limit_bytes"] == config.memory_bytes
    assert c["pids_max"] == config.pids_max
    quota = None if config.cpu_quota_us is None else config.cpu_quota_us / (config.cpu_period_us or 100_000)
    assert c["cpu_quota_cores"] == quota
    # Our own cgroup: the container's leaf, unless a cgroup namespace hides the path above it.
    assert c["path"] == ("/" if "cgroup" in config.namespaces else "/" + result.container_id)
    assert report["probe"]["active"] is False or "enforcement" in c


def test_default_runc_profile(runc_container):
    config = ContainerConfig()
    report, result, elapsed = probe(runc_container, config)
    check_common(report, result, config)
    p = report["privileges"]
    assert (p["no_new_privs"], p["seccomp_mode"]) == (True, "disabled")  # `runc spec` sets no seccomp
    # Only the harness's read-only binds of the host's disk (/usr, Python, the project) are exposed.
    assert ids(report) == {"host-mount"}
    mounts = {v["path"]: v["detail"] for v in report["escape_vectors"]}
    assert {"/usr", str(REPO)} <= set(mounts) and "/" not in mounts
    assert all("read-only" in d for d in mounts.values())
    assert report["probe"]["duration_seconds"] < PASSIVE_SECONDS and elapsed < PASSIVE_SECONDS + 5


def test_privileged_container(runc_container):
    config = privileged()
    report, result, _ = probe(runc_container, config)
    check_common(report, result, config)
    p = report["privileges"]
    assert p["capabilities_effective"] == [c[4:] for c in runc.all_capabilities()]
    assert (p["no_new_privs"], p["seccomp_mode"], p["seccomp_filters"]) == (False, "disabled", 0)
    assert {"writable-core-pattern", "writable-proc-sys", "cgroup-release-agent"} <= ids(report)
    # runc mounts /sys and the cgroup hierarchies read-only even when privileged
    assert "writable-sys" not in ids(report)
    agent = next(v for v in report["escape_vectors"] if v["id"] == "cgroup-release-agent")
    assert "can mount a cgroup v1 hierarchy" in agent["detail"] and "nothing mounted" in agent["detail"]


def test_host_pid_namespace(runc_container):
    config = ContainerConfig().sharing_host("pid")
    report, result, _ = probe(runc_container, config)
    check_common(report, result, config)
    assert "Name kthreadd, PPid 0" in report["namespaces"]["pid"]["evidence"]


def test_host_network_namespace(runc_container):
    config = ContainerConfig().sharing_host("network")
    report, result, _ = probe(runc_container, config)
    check_common(report, result, config)
    devices = [i for i in os.listdir("/sys/class/net") if os.path.lexists(f"/sys/class/net/{i}/device")]
    evidence = report["namespaces"]["net"]["evidence"]
    assert all(f"{i} (/sys/class/net/{i}/device" in evidence for i in devices)


def test_bind_mounted_runtime_socket(runc_container, tmp_path):
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as s:  # a socket file with nothing listening behind it
        s.bind(str(path))
    config = ContainerConfig(mounts=(Mount(str(path), "/var/run/docker.sock"),))
    report, result, _ = probe(runc_container, config)
    check_common(report, result, config)
    (vector,) = [v for v in report["escape_vectors"] if v["id"] == "runtime-socket"]
    assert vector["path"] == "/var/run/docker.sock"
    assert "writable: this process may connect" in vector["detail"] and "not connected to" in vector["detail"]


LIMITED = ContainerConfig(memory_bytes=96 * MiB, pids_max=24, cpu_quota_us=20_000, cpu_period_us=100_000)


def test_limits_passive(runc_container):
    report, result, elapsed = probe(runc_container, LIMITED)
    check_common(report, result, LIMITED)
    assert "enforcement" not in report["cgroup"]
    assert "(binding)" in report["cgroup"]["evidence"]["memory"]
    assert elapsed < PASSIVE_SECONDS + 5


def test_limits_active_are_enforced(runc_container):
    report, result, elapsed = probe(runc_container, LIMITED, "--active")
    check_common(report, result, LIMITED)
    enforcement = report["cgroup"]["enforcement"]
    assert {k: (v["tested"], v["enforced"]) for k, v in enforcement.items()} == {
        "memory": (True, True), "pids": (True, True), "cpu": (True, True)}, enforcement
    assert (
        "OOM-killed" in enforcement["memory"]["detail"] and "oom_kill counter 0 -> 1" in enforcement["memory"]["detail"]
    )
    assert "EAGAIN" in enforcement["pids"]["detail"]
    assert all("all its processes reaped" in v["detail"] for v in enforcement.values())
    assert report["probe"]["duration_seconds"] < 3 * 10 + 5  # three tests, each under its 10 s ceiling
    print(f"active probe with limits: {report['probe']['duration_seconds']}s in the probe, {elapsed:.1f}s with runc")


def test_no_limits_active_sees_none(runc_container):
    config = ContainerConfig()
    report, result, elapsed = probe(runc_container, config, "--active")
    check_common(report, result, config)
    enforcement = report["cgroup"]["enforcement"]
    assert {k: (v["tested"], v["enforced"]) for k, v in enforcement.items()} == {
        "memory": (True, None), "pids": (True, None), "cpu": (True, None)}, enforcement
    assert enforcement["memory"]["detail"].startswith("no memory limit")
    assert enforcement["pids"]["detail"].startswith("no pids limit")
    assert enforcement["cpu"]["detail"].startswith("no CPU quota")
    print(f"active probe without limits: {report['probe']['duration_seconds']}s in the probe, {elapsed:.1f}s with runc")


@pytest.mark.parametrize("readonly", [True, False])
def test_read_only_rootfs(runc_container, readonly):
    config = ContainerConfig(readonly_rootfs=readonly)
    report, result, _ = probe(runc_container, config)  # no errors: the probe never needs to write
    check_common(report, result, config)
    assert f"on / {'ro' if readonly else 'rw'}: a subdirectory" in report["namespaces"]["mnt"]["evidence"]


def test_output_to_a_read_only_place_is_exit_2(runc_container):
    config = replace(ContainerConfig(readonly_rootfs=True), cwd=str(REPO))
    result = runc_container(config, runc.python_argv("-m", "auditor", "probe", "--output", "/report.json"), timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "/report.json: cannot write probe report" in result.stderr


def test_seccomp_profile(runc_container):
    deny = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mount", "unshare", "setns", "ptrace", "bpf", "keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    config = ContainerConfig(seccomp=deny)
    report, result, _ = probe(runc_container, config)
    check_common(report, result, config)
    p = report["privileges"]
    assert p["seccomp_mode"] == "filter" and p["seccomp_filters"] >= 1


def test_user_namespace_and_non_root(runc_container):
    mapping = runc.IdMapping(container_id=0, host_id=200_000, size=65_536)
    config = ContainerConfig(namespaces=runc.DEFAULT_NAMESPACES + ("user", "cgroup"), uid_mappings=(mapping,),
                             gid_mappings=(mapping,), uid=1000, gid=1000, memory_bytes=64 * MiB)
    report, result, _ = probe(runc_container, config)
    check_common(report, result, config)
    assert "0 200000 65536" in report["namespaces"]["user"]["evidence"]


def test_the_machine_itself():
    """Outside any container: the probe must be truthful about this very machine."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "auditor", "probe", "--node", "this-machine"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    VALIDATOR.validate(report)
    assert report["probe"]["errors"] == [] and report["probe"]["node"] == "this-machine"
    h = report["host"]
    assert h["kernel_release"] == os.uname().release and h["kernel_version"] == os.uname().version
    assert h["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert h["hypervisor"] is ("hypervisor" in host_flags())
    if "hypervisor" in host_flags():
        assert "/proc/cpuinfo flags: CPUID hypervisor bit present" in h["hypervisor_evidence"]
    assert (
        h["clocksource"] == Path("/sys/devices/system/clocksource/clocksource0/current_clocksource").read_text().strip()
    )
    assert {t: v["shared_with_host"] for t, v in report["namespaces"].items()} == dict.fromkeys(
        OCI_TO_PROC.values(), True
    )
    assert h["container_runtime"] is None  # not in a container, whatever files the image left behind
    if os.path.exists("/.dockerenv"):
        assert "/.dockerenv exists" in h["container_runtime_evidence"]
    blocks = {f"/dev/{d}" for d in os.listdir("/dev") if Path(f"/dev/{d}").is_block_device()}
    assert blocks == {v["path"] for v in report["escape_vectors"] if v["id"] == "block-device"}
    assert report["probe"]["duration_seconds"] < PASSIVE_SECONDS and elapsed < PASSIVE_SECONDS
    print(f"passive probe on the machine: {report['probe']['duration_seconds']}s in the probe, {elapsed:.2f}s wall")
