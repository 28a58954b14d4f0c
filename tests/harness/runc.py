"""Run commands in real runc containers built from `runc spec` plus a small declarative config.

There are no images: the root filesystem is an empty directory into which the host's /usr,
the running Python installation and the project tree are bind-mounted read-only at their own
paths, so `<sys.executable> -m auditor ...` works unchanged inside the container.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from harness.run_id import RUN_ID

PREFIX = "iabr-"  # container ids, cgroup leaves and bundle dirs all carry it, for leftovers()
OURS = PREFIX + RUN_ID  # ... followed by this run's id
# A private state root keeps our containers apart from any other runc user on the machine.
STATE_ROOT = "/run/iab-runc"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NAMESPACES = ("pid", "network", "ipc", "uts", "mount")
_RUNC_TIMEOUT = 30.0  # for runc's own bookkeeping commands (spec, kill, delete, list)

# Index = capability number (linux/capability.h); CapEff etc. in /proc/<pid>/status are masks of these.
CAPABILITY_NAMES = tuple("CAP_" + n for n in (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
    "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
    "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
    "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE").split())


def all_capabilities() -> tuple[str, ...]:
    """Every capability we hold in our bounding set: all that runc can grant a privileged container.

    Not simply every capability of the kernel: a sandboxed host may itself lack some, and runc
    fails to start a container asked for one its own bounding set does not have.
    """
    status = Path("/proc/self/status").read_text()
    mask = re.search(r"^CapBnd:\s*([0-9a-f]+)$", status, re.M).group(1)
    return tuple(sorted(capabilities_from_mask(mask), key=_capability_number))


def _capability_number(name: str) -> int:
    return CAPABILITY_NAMES.index(name) if name in CAPABILITY_NAMES else int(name[4:])


def capabilities_from_mask(mask: int | str) -> frozenset[str]:
    """Decode a CapEff/CapBnd/... value (hex string as in /proc/<pid>/status, or int) into names."""
    value = int(mask, 16) if isinstance(mask, str) else mask
    names = {CAPABILITY_NAMES[bit] if bit < len(CAPABILITY_NAMES) else f"CAP_{bit}"
             for bit in range(value.bit_length()) if value >> bit & 1}
    return frozenset(names)


@dataclass(frozen=True)
class Mount:
    """A bind mount from the host into the container (e.g. a runtime socket)."""
    source: str
    destination: str
    readonly: bool = True


@dataclass(frozen=True)
class IdMapping:
    container_id: int
    host_id: int
    size: int


@dataclass(frozen=True)
class ContainerConfig:
    """What to change in the `runc spec` defaults. None means: keep what `runc spec` generates."""
    # Namespaces to create; one left out is shared with the host (e.g. no "pid" = host PID ns).
    namespaces: tuple[str, ...] = DEFAULT_NAMESPACES
    uid_mappings: tuple[IdMapping, ...] = ()  # needed when "user" is in namespaces
    gid_mappings: tuple[IdMapping, ...] = ()
    # Applied to all five sets (bounding, effective, permitted, inheritable, ambient).
    capabilities: tuple[str, ...] | None = None
    seccomp: Mapping | None = field(default=None, hash=False)  # OCI seccomp; None = unconfined
    no_new_privileges: bool | None = None
    readonly_rootfs: bool | None = None
    # maskedPaths/readonlyPaths over /proc and /sys; privileged containers run without them.
    masked_paths: bool = True
    memory_bytes: int | None = None
    pids_max: int | None = None
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    hostname: str | None = None

    def __post_init__(self) -> None:
        # A frozen config should not change under a caller that kept a reference to the dict.
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        if self.seccomp is not None:
            object.__setattr__(self, "seccomp", MappingProxyType(copy.deepcopy(dict(self.seccomp))))

    def sharing_host(self, *namespaces: str) -> ContainerConfig:
        """The same config, but joined to the host's `namespaces` (e.g. "pid", "network")."""
        return replace(self, namespaces=tuple(n for n in self.namespaces if n not in namespaces))


def privileged(**overrides) -> ContainerConfig:
    """Like `docker run --privileged`: all capabilities, unconfined, nothing masked."""
    settings = dict(capabilities=all_capabilities(), seccomp=None, masked_paths=False,
                    no_new_privileges=False)
    settings.update(overrides)
    return ContainerConfig(**settings)


def python_argv(*args: str) -> list[str]:
    """argv running the host's Python inside the container (its prefix is bind-mounted there)."""
    return [sys.executable, *args]


@dataclass(frozen=True)
class Result:
    container_id: str
    returncode: int | None  # None when the container was killed for running past its timeout
    stdout: str
    stderr: str
    timed_out: bool = False


# --- bundle construction -------------------------------------------------------------------

def _host_trees() -> list[str]:
    """Host directories bind-mounted read-only at their own path: /usr, Python, the project."""
    candidates = {"/usr", str(PROJECT_ROOT), sys.prefix, sys.base_prefix,
                  str(Path(sys.executable).resolve().parent.parent)}
    candidates.update(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    real = sorted({os.path.realpath(p) for p in candidates if p and os.path.isdir(p)})
    # Keep only the outermost of nested paths, else mounts would shadow each other.
    return [p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real)]


_HOST_FILES = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache")
# Debian 12 merges these into /usr; on a host where one is a real directory, we bind it instead.
_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _bind(source: str, destination: str, readonly: bool = True) -> dict:
    options = ["rbind", "nosuid", "nodev"] + (["ro"] if readonly else [])
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def _make_rootfs(rootfs: Path) -> list[dict]:
    """Create the rootfs skeleton; return the mounts that fill it."""
    mounts = []
    rootfs.mkdir(mode=0o755)
    for top in _TOP_LEVEL:
        if os.path.islink(top):
            (rootfs / top.lstrip("/")).symlink_to(os.readlink(top))
        elif os.path.isdir(top):
            mounts.append(_bind(top, top))
    mounts.extend(_bind(tree, tree) for tree in _host_trees())
    (rootfs / "etc").mkdir()
    for path in _HOST_FILES:
        if os.path.isfile(path):
            (rootfs / path.lstrip("/")).touch()
            mounts.append(_bind(path, path))
    for directory in ("proc", "sys", "dev", "tmp", "root"):
        (rootfs / directory).mkdir(exist_ok=True)
    return mounts


def _chown_to_mapped_root(rootfs: Path, config: ContainerConfig) -> None:
    # runc creates mount points as the container's root, which in a user namespace is an
    # unprivileged host uid: it needs to own the skeleton (which holds no mounts yet).
    uid, gid = (_host_id(m, 0) for m in (config.uid_mappings, config.gid_mappings))
    for path in [rootfs, *rootfs.rglob("*")]:
        os.lchown(path, uid, gid)


def _host_id(mappings: Sequence[IdMapping], container_id: int) -> int:
    for m in mappings:
        if m.container_id <= container_id < m.container_id + m.size:
            return m.host_id + container_id - m.container_id
    raise ValueError(f"user namespace without a mapping for id {container_id}")


def _base_spec() -> dict:
    with tempfile.TemporaryDirectory(prefix=OURS + "-spec-") as tmp:
        subprocess.run(["runc", "spec"], cwd=tmp, check=True, capture_output=True, timeout=_RUNC_TIMEOUT)
        return json.loads(Path(tmp, "config.json").read_text())


def build_spec(config: ContainerConfig, argv: Sequence[str], container_id: str,
               rootfs_mounts: Sequence[dict] = ()) -> dict:
    """The OCI config.json for `config`: `runc spec` output with our changes applied."""
    spec = _base_spec()
    process, linux = spec["process"], spec["linux"]
    process["terminal"] = False  # we capture stdout/stderr through pipes
    process["args"] = list(argv)
    process["cwd"] = config.cwd
    process["user"] = {"uid": config.uid, "gid": config.gid}
    process["env"] = process.get("env", []) + [f"{k}={v}" for k, v in config.env.items()]
    if config.capabilities is not None:
        caps = list(config.capabilities)
        process["capabilities"] = {s: caps for s in
                                   ("bounding", "effective", "permitted", "inheritable", "ambient")}
    if config.no_new_privileges is not None:
        process["noNewPrivileges"] = config.no_new_privileges
    if config.readonly_rootfs is not None:
        spec["root"]["readonly"] = config.readonly_rootfs

    linux["namespaces"] = [{"type": ns} for ns in config.namespaces]
    if "user" in config.namespaces:
        linux["uidMappings"] = [_mapping(m) for m in config.uid_mappings]
        linux["gidMappings"] = [_mapping(m) for m in config.gid_mappings]
    if "uts" in config.namespaces:
        if config.hostname is not None:
            spec["hostname"] = config.hostname
    else:
        spec.pop("hostname", None)  # runc refuses to set a hostname in the host's UTS namespace
    if config.seccomp is not None:
        linux["seccomp"] = json.loads(json.dumps(config.seccomp, default=dict))
    else:
        linux.pop("seccomp", None)
    if not config.masked_paths:
        linux.pop("maskedPaths", None)
        linux.pop("readonlyPaths", None)

    resources = linux.setdefault("resources", {})
    if config.memory_bytes is not None:
        resources["memory"] = {"limit": config.memory_bytes}
    if config.pids_max is not None:
        resources["pids"] = {"limit": config.pids_max}
    if config.cpu_quota_us is not None or config.cpu_period_us is not None:
        resources["cpu"] = {k: v for k, v in (("quota", config.cpu_quota_us),
                                              ("period", config.cpu_period_us)) if v is not None}
    # A leaf of its own under the hierarchy root: limits land only on this container, and
    # `runc delete` removes exactly this directory.
    linux["cgroupsPath"] = "/" + container_id

    spec["mounts"] = (spec["mounts"] + list(rootfs_mounts)
                      + [_bind(m.source, m.destination, m.readonly) for m in config.mounts])
    return spec


def _mapping(m: IdMapping) -> dict:
    return {"containerID": m.container_id, "hostID": m.host_id, "size": m.size}


# --- running -------------------------------------------------------------------------------

def _runc(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["runc", "--root", STATE_ROOT, *args], capture_output=True, text=True,
                          timeout=_RUNC_TIMEOUT, check=check, stdin=subprocess.DEVNULL)


def run(config: ContainerConfig, argv: Sequence[str], timeout: float = 60.0) -> Result:
    """Run `argv` in a fresh container; the container, its cgroup and its bundle never outlive this."""
    container_id = f"{OURS}-{uuid.uuid4().hex[:12]}"
    bundle = Path(tempfile.mkdtemp(prefix=container_id + "-"))
    try:
        # Mapped (user-namespace) root must be able to reach the rootfs inside the 0700 tempdir.
        bundle.chmod(0o711)
        mounts = _make_rootfs(bundle / "rootfs")
        if "user" in config.namespaces:
            _chown_to_mapped_root(bundle / "rootfs", config)
        spec = build_spec(config, argv, container_id, mounts)
        (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        command = ["runc", "--root", STATE_ROOT, "run", "--bundle", str(bundle), container_id]
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
            return Result(container_id, proc.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            # Kill inside the container first: killing `runc run` alone would orphan the workload.
            _runc("kill", "--all", container_id, "KILL")
            try:
                stdout, stderr = proc.communicate(timeout=_RUNC_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate(timeout=_RUNC_TIMEOUT)
            return Result(container_id, None, stdout, stderr, timed_out=True)
        finally:
            if proc.poll() is None:  # e.g. KeyboardInterrupt while waiting
                proc.kill()
                proc.wait(timeout=_RUNC_TIMEOUT)
    finally:
        try:
            _runc("delete", "--force", container_id)
        finally:
            _remove_bundle(bundle)


def _mount_points() -> list[str]:
    # Field 5 of mountinfo is the mount point, with spaces etc. octal-escaped.
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4].encode().decode("unicode_escape") for line in f]


def _remove_bundle(bundle: Path) -> None:
    # rmtree would descend into a bind mount (e.g. of the host's /usr) if one were still visible
    # here: leaking a temp dir is better than deleting host files.
    inside = [m for m in _mount_points() if m == str(bundle) or m.startswith(str(bundle) + "/")]
    if inside:
        raise RuntimeError(f"not removing {bundle}: still mounted: {inside}")
    shutil.rmtree(bundle, ignore_errors=True)


def cgroup_dirs(container_id: str) -> list[Path]:
    """The container's cgroup directories that exist now (one per v1 hierarchy, plus v2)."""
    return [d / container_id for d in _hierarchies() if (d / container_id).is_dir()]


def _hierarchies() -> list[Path]:
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # pure cgroup v2
        return [CGROUP_ROOT]
    return [d for d in CGROUP_ROOT.iterdir() if d.is_dir() and not d.is_symlink()]


def leftovers() -> list[str]:
    """Everything this run may have left behind: containers, cgroups, bundle dirs. Empty = clean."""
    found = []
    if shutil.which("runc") and os.path.isdir(STATE_ROOT):
        listing = _runc("list", "--format", "json")
        for state in json.loads(listing.stdout or "null") or []:
            if state["id"].startswith(OURS):
                found.append(f"runc container {state['id']} ({state['status']})")
    if CGROUP_ROOT.is_dir():
        found.extend(f"cgroup {d / name}" for d in _hierarchies() for name in os.listdir(d)
                     if name.startswith(OURS))
    tmp = Path(tempfile.gettempdir())
    found.extend(f"bundle dir {p}" for p in tmp.glob(OURS + "*"))
    return found
