"""The runc harness gives a container exactly the configuration asked for, and leaves nothing behind."""
from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path

import pytest
from harness import runc
from harness.runc import ContainerConfig, IdMapping, Mount, privileged

pytestmark = pytest.mark.realkernel

# Runs inside the container with the host's Python; reports what the container really sees.
# The cgroup files are looked up under both layouts: v1 per-controller dirs, v2 unified.
_SEE = r"""
import json, os, sys
from pathlib import Path

def first(*paths):
    for p in paths:
        if os.path.exists(p):
            return Path(p).read_text().strip()
    return None

status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines())
cg = "/sys/fs/cgroup"
seen = {
    "status": {k: status[k].strip() for k in ("CapEff", "CapBnd", "Seccomp", "NoNewPrivs")},
    "namespaces": {ns: os.readlink(f"/proc/self/ns/{ns}")
                   for ns in ("pid", "net", "ipc", "uts", "mnt", "user")},
    "memory": first(f"{cg}/memory/memory.limit_in_bytes", f"{cg}/memory.max"),
    "pids": first(f"{cg}/pids/pids.max", f"{cg}/pids.max"),
    "cpu_v1": [first(f"{cg}/cpu/cpu.cfs_quota_us"), first(f"{cg}/cpu/cpu.cfs_period_us")],
    "cpu_v2": first(f"{cg}/cpu.max"),
    "cgroup": Path("/proc/self/cgroup").read_text(),
    "uid_map": Path("/proc/self/uid_map").read_text().split(),
    "uid": os.getuid(),
}
attempts = {"write": lambda: Path("/tmp/x").write_text("x"), "mkdir": lambda: os.mkdir("/tmp/d")}
for name, action in attempts.items():
    try:
        action()
        seen[name] = "ok"
    except OSError as e:
        seen[name] = e.errno
if len(sys.argv) > 1:  # a unix socket to talk to, e.g. a bind-mounted runtime socket
    import socket
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sys.argv[1])
        seen["socket"] = s.recv(100).decode()
print(json.dumps(seen))
"""

UNLIMITED_V1_MEMORY = 2**62  # v1 reports "no limit" as a page-rounded near-2**63 value


def see(run, config: ContainerConfig, *args: str) -> dict:
    result = run(config, runc.python_argv("-c", _SEE, *args), timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def expected_capabilities(config: ContainerConfig) -> frozenset[str]:
    if config.capabilities is not None:
        return frozenset(config.capabilities)
    spec = runc.build_spec(config, ["true"], "unused")  # the `runc spec` default, as applied
    return frozenset(spec["process"]["capabilities"]["effective"])


def memory_limit(seen: dict) -> int | None:
    value = seen["memory"]
    if value == "max" or int(value) >= UNLIMITED_V1_MEMORY:
        return None
    return int(value)


RESTRICTED = ContainerConfig(capabilities=("CAP_CHOWN", "CAP_NET_BIND_SERVICE"),
                             memory_bytes=48 * 2**20, pids_max=32)


@pytest.mark.parametrize("config", [
    pytest.param(ContainerConfig(), id="default"),
    pytest.param(RESTRICTED, id="restricted"),
    pytest.param(ContainerConfig(capabilities=(), memory_bytes=16 * 2**20), id="no-caps"),
    pytest.param(privileged(memory_bytes=1 * 2**30), id="privileged"),
])
def test_container_sees_exactly_its_capabilities_and_limits(runc_container, config):
    seen = see(runc_container, config)

    assert runc.capabilities_from_mask(seen["status"]["CapEff"]) == expected_capabilities(config)
    assert runc.capabilities_from_mask(seen["status"]["CapBnd"]) == expected_capabilities(config)
    assert memory_limit(seen) == config.memory_bytes
    assert seen["pids"] == ("max" if config.pids_max is None else str(config.pids_max))


def test_pids_limit_is_enforced(runc_container):
    limit = 12
    # Forks until the kernel refuses; the forking process (pid 1) is one of the `limit` tasks.
    fork_until_refused = f"""
import os, time
children = 0
try:
    for _ in range({limit} * 2):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except BlockingIOError:
    pass
print(children)
"""
    config = ContainerConfig(pids_max=limit)
    result = runc_container(config, runc.python_argv("-c", fork_until_refused), timeout=30)

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == limit - 1


def test_cpu_limit_shows_up(runc_container):
    config = ContainerConfig(cpu_quota_us=25_000, cpu_period_us=100_000)
    seen = see(runc_container, config)

    quota, period = seen["cpu_v1"] if seen["cpu_v1"][0] is not None else seen["cpu_v2"].split()
    assert (int(quota), int(period)) == (config.cpu_quota_us, config.cpu_period_us)


def test_container_and_its_cgroup_are_gone_afterwards(runc_container):
    seen = see(runc_container, ContainerConfig(memory_bytes=32 * 2**20))
    container_id = next(line.split(":")[2].strip("/") for line in seen["cgroup"].splitlines()
                        if ":memory:" in line or line.startswith("0::"))

    assert container_id.startswith(runc.PREFIX)  # it ran in its own cgroup leaf...
    assert runc.cgroup_dirs(container_id) == []  # ...which runc removed
    assert [item for item in runc.leftovers() if container_id in item] == []


@pytest.mark.parametrize("config", [
    pytest.param(ContainerConfig(), id="own-pid-ns"),
    pytest.param(ContainerConfig().sharing_host("pid"), id="host-pid-ns"),
])
def test_timeout_kills_the_workload_and_cleans_up(runc_container, config):
    # A duration no other process uses, to find stragglers by their command line.
    marker = f"600.{secrets.randbelow(10**6):06d}"
    started = time.monotonic()
    result = runc_container(config, ["/bin/sh", "-c", f"sleep {marker} & sleep {marker}"], timeout=1)

    assert result.timed_out and result.returncode is None
    assert time.monotonic() - started < 15
    assert runc.cgroup_dirs(result.container_id) == []
    assert [item for item in runc.leftovers() if result.container_id in item] == []
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if marker.encode() in _read(p)]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process exited meanwhile
        return b""


def _host_namespaces() -> dict:
    return {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("pid", "net", "ipc", "uts", "mnt")}


@pytest.mark.parametrize("config, shared", [
    pytest.param(ContainerConfig(), set(), id="default"),
    pytest.param(ContainerConfig().sharing_host("pid"), {"pid"}, id="host-pid"),
    pytest.param(ContainerConfig().sharing_host("network"), {"net"}, id="host-network"),
])
def test_namespaces_are_created_or_shared_as_configured(runc_container, config, shared):
    seen = see(runc_container, config)

    host = _host_namespaces()
    assert {ns for ns in host if seen["namespaces"][ns] == host[ns]} == shared


def test_privileged_is_unconfined(runc_container):
    seen = see(runc_container, privileged())

    assert runc.capabilities_from_mask(seen["status"]["CapEff"]) == set(runc.all_capabilities())
    assert seen["status"]["Seccomp"] == "0" and seen["status"]["NoNewPrivs"] == "0"


def test_seccomp_profile_is_enforced(runc_container):
    deny_mkdir = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    seen = see(runc_container, ContainerConfig(seccomp=deny_mkdir, readonly_rootfs=False))

    assert seen["status"]["Seccomp"] == "2"  # filter mode
    assert seen["mkdir"] == 1  # EPERM from the filter, not EROFS
    assert seen["write"] == "ok"


@pytest.mark.parametrize("readonly", [True, False])
def test_readonly_rootfs(runc_container, readonly):
    seen = see(runc_container, ContainerConfig(readonly_rootfs=readonly))

    assert seen["write"] == (30 if readonly else "ok")  # 30 = EROFS


def test_bind_mounted_runtime_socket_is_reachable(runc_container, tmp_path):
    path = tmp_path / "runtime.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(30)

    def greet_once():
        try:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"runtime-api")
        except OSError:
            pass

    thread = threading.Thread(target=greet_once, daemon=True)
    thread.start()
    try:
        inside = "/run/containerd/containerd.sock"
        seen = see(runc_container, ContainerConfig(mounts=(Mount(str(path), inside),)), inside)
    finally:
        server.close()
        thread.join(timeout=5)

    assert seen["socket"] == "runtime-api"


def test_user_namespace_and_non_root_user(runc_container):
    mapping = IdMapping(container_id=0, host_id=200_000, size=65_536)
    config = ContainerConfig(namespaces=runc.DEFAULT_NAMESPACES + ("user",), uid_mappings=(mapping,),
                             gid_mappings=(mapping,), uid=1000, gid=1000)
    seen = see(runc_container, config)

    assert seen["uid_map"] == ["0", "200000", "65536"]
    assert seen["uid"] == 1000
    assert seen["namespaces"]["user"] != os.readlink("/proc/self/ns/user")
