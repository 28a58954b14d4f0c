"""Escape vectors this process could use, detected with stat() and access() only.

Nothing here connects, opens a device, reads a token or writes anything: presence and
permission bits are the whole evidence. Each vector is {id, path, detail}.
"""
from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator

from . import procfs

RUNTIME_SOCKETS = (
    "/var/run/docker.sock", "/run/docker.sock",
    "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock",
    "/run/crio/crio.sock", "/var/run/crio/crio.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/cri-dockerd.sock", "/var/run/cri-dockerd.sock",
    "/run/podman/podman.sock", "/var/run/dockershim.sock",
)
# What runtimes bind into every container; not a tenant's choice, not an escape.
STANDARD_BINDS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/termination-log"})
# Kubelet-managed pod volumes (emptyDir, configMap, secret, projected, ...) live under
# .../pods/<pod uid>/: per-pod storage, not the host's filesystem.
_KUBELET_POD_DIR = re.compile(r"/pods/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/")
_PSEUDO_FS = frozenset("proc sysfs cgroup cgroup2 devpts mqueue securityfs debugfs tracefs bpf pstore "
                       "hugetlbfs configfs fusectl binfmt_misc autofs nsfs devtmpfs".split())
# Global (not namespaced) sysctls: writing any of them changes the whole host.
GLOBAL_SYSCTLS = ("/proc/sys/kernel/modprobe", "/proc/sys/kernel/sysrq", "/proc/sys/kernel/panic",
                  "/proc/sys/vm/drop_caches", "/proc/sys/kernel/hotplug", "/proc/sys/fs/suid_dumpable")
CORE_PATTERN = "/proc/sys/kernel/core_pattern"
MEMORY_DEVICES = ("/dev/mem", "/dev/kmem", "/dev/port")
SERVICE_ACCOUNT_TOKENS = ("/var/run/secrets/kubernetes.io/serviceaccount/token",
                          "/run/secrets/kubernetes.io/serviceaccount/token")
_WALK_DEPTH, _WALK_ENTRIES, _WALK_SECONDS = 3, 2000, 1.0


def _access(path: str) -> str:
    r, w = os.access(path, os.R_OK), os.access(path, os.W_OK)
    return {(True, True): "readable and writable", (True, False): "read-only",
            (False, True): "writable", (False, False): "neither readable nor writable"}[(r, w)] + " by this process"


def _vector(id_: str, path: str, detail: str) -> dict:
    return {"id": id_, "path": path, "detail": detail}


def collect_escape_vectors(root: str = "/", privileges: dict | None = None,
                           namespaces: dict | None = None) -> list[dict]:
    privileges = privileges or {}
    namespaces = namespaces or {}
    mounts = procfs.mountinfo(root)
    host_mnt = (namespaces.get("mnt") or {}).get("shared_with_host") is True
    vectors = []
    vectors += runtime_sockets(root, mounts, walk_binds=not host_mnt)
    vectors += host_mounts(mounts, host_mnt)
    vectors += writable_kernel_interfaces(root, mounts)
    vectors += cgroup_release_agent(root, mounts, privileges, namespaces)
    vectors += devices(root)
    vectors += service_account_token(root)
    return vectors


def runtime_sockets(root: str, mounts: list[procfs.MountEntry], walk_binds: bool) -> list[dict]:
    seen, out = set(), []

    def consider(path: str, how: str) -> None:
        try:
            st = os.stat(procfs.at(root, path))
        except OSError:
            return
        if not stat.S_ISSOCK(st.st_mode) or (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        writable = os.access(procfs.at(root, path), os.W_OK)
        out.append(
            _vector(
                "runtime-socket",
                path,
                (
                    f"unix socket ({how}), "
                    f"{'writable: this process may connect' if writable else 'not writable by this process'}"
                    f"; owner uid {st.st_uid} gid {st.st_gid} mode {stat.S_IMODE(st.st_mode):o}; not connected to"
                ),
            )
        )

    for path in RUNTIME_SOCKETS:
        consider(path, "a container runtime API path")
    if walk_binds:
        for m in mounts:
            if _walkable(m):
                for path in _sockets_under(root, m.mount_point):
                    consider(path, f"found under the mount {m.mount_point} from {m.root}")
    return out


def _walkable(m: procfs.MountEntry) -> bool:
    return (
        m.mount_point != "/"
        and m.fstype not in _PSEUDO_FS
        and not m.mount_point.startswith(("/proc/", "/sys/", "/dev/"))
        and m.mount_point not in ("/proc", "/sys", "/dev")
    )


def _sockets_under(root: str, top: str) -> Iterator[str]:
    """Sockets named *.sock under `top` (or `top` itself), bounded in depth, entries and time."""
    deadline, budget = time.monotonic() + _WALK_SECONDS, _WALK_ENTRIES
    try:
        if stat.S_ISSOCK(os.stat(procfs.at(root, top)).st_mode):
            yield top
            return
    except OSError:
        return
    stack = [(top, 0)]
    while stack and budget > 0 and time.monotonic() < deadline:
        directory, depth = stack.pop()
        try:
            with os.scandir(procfs.at(root, directory)) as entries:
                for entry in entries:
                    budget -= 1
                    if budget <= 0:
                        break
                    path = os.path.join(directory, entry.name)
                    if entry.is_dir(follow_symlinks=False):
                        if depth + 1 < _WALK_DEPTH:
                            stack.append((path, depth + 1))
                    elif entry.name.endswith(".sock") and stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode):
                        yield path
        except OSError:
            continue


def host_mounts(mounts: list[procfs.MountEntry], host_mnt: bool) -> list[dict]:
    if host_mnt:
        return [
            _vector(
                "host-mount", "/", "this process shares the host's mount namespace: every host filesystem is visible"
            )
        ]
    out = []
    for m in mounts:
        if m.major == 0 or m.mount_point in STANDARD_BINDS or _KUBELET_POD_DIR.search(m.root):
            continue  # not a block device, or what every container gets
        if m.mount_point in ("/proc", "/sys", "/dev") or m.mount_point.startswith(("/proc/", "/sys/", "/dev/")):
            continue
        access = "read-only" if m.readonly else "read-write"
        if m.mount_point == "/":
            if m.root != "/":
                continue  # the container's own rootfs directory
            out.append(_vector("host-mount", "/", f"the root of block device {m.source} (dev {m.device}, {m.fstype}) "
                                                  f"is this container's root filesystem, {access}"))
            continue
        out.append(
            _vector(
                "host-mount",
                m.mount_point,
                f"bind of {m.root} from host block device {m.source} (dev {m.device}, {m.fstype}), {access}",
            )
        )
    return out


def _mount_for(mounts: list[procfs.MountEntry], path: str) -> procfs.MountEntry | None:
    """The mount that `path` lives on: the longest mount point above it, the last one mounted."""
    best = None
    for m in mounts:
        top = m.mount_point.rstrip("/") + "/"
        if (path + "/").startswith(top) and (best is None or len(m.mount_point) >= len(best.mount_point)):
            best = m
    return best


def _writable(root: str, mounts: list[procfs.MountEntry], path: str) -> bool:
    """access(W_OK) succeeds and the mount holding `path` is not read-only (both must say yes)."""
    full = procfs.at(root, path)
    mount = _mount_for(mounts, path)
    return (os.path.exists(full) and not (mount is not None and mount.readonly)
            and os.access(full, os.W_OK))


def writable_kernel_interfaces(root: str, mounts: list[procfs.MountEntry]) -> list[dict]:
    out = []
    if _writable(root, mounts, CORE_PATTERN):
        out.append(
            _vector(
                "writable-core-pattern",
                CORE_PATTERN,
                "access(W_OK) succeeds: a crash handler written here runs as root on the host (not written)",
            )
        )
    writable = [p for p in GLOBAL_SYSCTLS + (CORE_PATTERN,) if _writable(root, mounts, p)]
    if writable:
        out.append(_vector("writable-proc-sys", "/proc/sys",
                           f"host-global sysctls writable (access W_OK): {', '.join(writable)}; none written"))
    if os.path.isdir(procfs.at(root, "/sys")) and _writable(root, mounts, "/sys"):
        helper = "/sys/kernel/uevent_helper"
        extra = (f"; {helper} {'writable' if _writable(root, mounts, helper) else 'not writable'}"
                 if os.path.exists(procfs.at(root, helper)) else "")
        out.append(
            _vector(
                "writable-sys", "/sys", f"sysfs is mounted read-write and access(W_OK) succeeds{extra}; nothing written"
            )
        )
    return out


def cgroup_release_agent(root: str, mounts: list[procfs.MountEntry], privileges: dict, namespaces: dict) -> list[dict]:
    """CVE-2022-0492 class: CAP_SYS_ADMIN plus a writable (or mountable) cgroup v1 hierarchy."""
    if "SYS_ADMIN" not in privileges.get("capabilities_effective", ()):
        return []
    rw_v1 = [m for m in mounts if m.fstype == "cgroup" and not m.readonly
             and os.access(procfs.at(root, m.mount_point), os.W_OK)]
    if rw_v1:
        m = rw_v1[0]
        agent = os.path.exists(procfs.at(root, os.path.join(m.mount_point, "release_agent")))
        return [_vector("cgroup-release-agent", m.mount_point, (
            f"cgroup v1 hierarchy mounted read-write ({len(rw_v1)} such mounts) and CAP_SYS_ADMIN effective: "
            f"notify_on_release/release_agent can run a command on the host; release_agent "
            f"{'visible here' if agent else 'not visible at this mount (a hierarchy root has it)'}; nothing written"))]
    host_user = (namespaces.get("user") or {}).get("shared_with_host") is True
    unconfined = privileges.get("seccomp_mode") == "disabled" and privileges.get("apparmor") in (None, "unconfined")
    v1_supported = re.search(r"^nodev\s+cgroup$", procfs.read(root, "/proc/filesystems") or "", re.M)
    if host_user and unconfined and v1_supported:
        return [_vector("cgroup-release-agent", "/sys/fs/cgroup", (
            "no read-write cgroup v1 mount, but CAP_SYS_ADMIN in the host's user namespace with seccomp disabled and "
            "no AppArmor profile can mount a cgroup v1 hierarchy (cgroup in /proc/filesystems) and set its "
            "release_agent; nothing mounted"))]
    return []


def devices(root: str) -> list[dict]:
    out = []
    for directory in ("/dev", "/dev/mapper"):
        try:
            entries = sorted(os.scandir(procfs.at(root, directory)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISBLK(st.st_mode):
                path = os.path.join(directory, entry.name)
                out.append(_vector("block-device", path, f"block device {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}, "
                                                         f"{_access(entry.path)}; not opened"))
    for path in MEMORY_DEVICES:
        full = procfs.at(root, path)
        try:
            st = os.stat(full)
        except OSError:
            continue
        kind = "character device" if stat.S_ISCHR(st.st_mode) else "file"
        out.append(_vector("memory-device", path, f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}, "
                                                   f"{_access(full)}; not opened"))
    return out


def service_account_token(root: str) -> list[dict]:
    for path in SERVICE_ACCOUNT_TOKENS:  # /var/run is usually a link to /run: report the first only
        if os.path.exists(procfs.at(root, path)):  # existence only: the token is never opened or read
            return [_vector("service-account-token", path,
                            "a Kubernetes service-account token is mounted (existence checked only; never read)")]
    return []
