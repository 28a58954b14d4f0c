"""The cgroup this process is in and the limits that bind it, for cgroup v1, v2 and hybrid.

A hierarchy is located through /proc/self/mountinfo (where it is mounted, and which part of it)
and /proc/self/cgroup (our path in it). A limit set on an ancestor binds too, so every level
from our cgroup up to the top of the mounted part is read, and the smallest limit wins.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import procfs

V1_UNLIMITED_MEMORY = 2**62  # v1 shows "no limit" as PAGE_COUNTER_MAX pages in bytes (~2**63)
_V1_CONTROLLERS = frozenset("cpu cpuacct cpuset memory devices freezer net_cls blkio perf_event "
                            "net_prio hugetlb pids rdma misc".split())


@dataclass(frozen=True)
class Hierarchy:
    version: str  # "v1" or "v2"
    controllers: frozenset[str]
    mount_point: str  # as seen by the probed process
    mount_root: str  # which directory of the hierarchy is mounted there
    own_path: str | None  # our cgroup, from /proc/self/cgroup
    readonly: bool

    @property
    def own_dir(self) -> str:
        """Our cgroup's directory (as seen by the probed process)."""
        if self.own_path is None:
            return self.mount_point
        base = self.mount_root.rstrip("/")
        if self.own_path == self.mount_root or self.own_path.startswith(base + "/"):
            rel = self.own_path[len(base):].strip("/")
            return os.path.join(self.mount_point, rel) if rel else self.mount_point
        return self.mount_point  # our cgroup lies outside the mounted part: the nearest we can see

    def levels(self) -> list[str]:
        """Our directory and each ancestor up to the mount point."""
        out, d = [], self.own_dir
        while True:
            out.append(d)
            if d == self.mount_point or len(d) <= len(self.mount_point):
                return out
            d = os.path.dirname(d)


@dataclass(frozen=True)
class CgroupView:
    root: str
    version: str
    hierarchies: tuple[Hierarchy, ...]
    proc_cgroup: str  # /proc/self/cgroup as read

    def hierarchy_for(self, controller: str) -> Hierarchy | None:
        v1 = [h for h in self.hierarchies if h.version == "v1" and controller in h.controllers]
        v2 = [h for h in self.hierarchies if h.version == "v2" and controller in h.controllers]
        return v1[0] if v1 else v2[0] if v2 else None

    def own_file(self, controller: str, name: str) -> str | None:
        """Path (under root) of `name` in our own cgroup of `controller`'s hierarchy."""
        h = self.hierarchy_for(controller)
        return None if h is None else procfs.at(self.root, os.path.join(h.own_dir, name))


def locate(root: str = "/") -> CgroupView:
    mounts = procfs.mountinfo(root)
    proc_cgroup = procfs.read(root, "/proc/self/cgroup") or ""
    lines = procfs.parse_proc_cgroup(proc_cgroup)
    hierarchies = []
    for m in mounts:
        if m.fstype == "cgroup":
            controllers = frozenset(o for o in m.super_options if o in _V1_CONTROLLERS or o.startswith("name="))
            own = next((path for hid, names, path in lines if hid != "0" and frozenset(names) == controllers), None)
            hierarchies.append(Hierarchy("v1", controllers, m.mount_point, m.root, own, m.readonly))
        elif m.fstype == "cgroup2":
            available = procfs.read_value(root, os.path.join(m.mount_point, "cgroup.controllers")) or ""
            own = next((path for hid, _, path in lines if hid == "0"), None)
            hierarchies.append(Hierarchy("v2", frozenset(available.split()), m.mount_point, m.root, own, m.readonly))
    kinds = {h.version for h in hierarchies}
    if kinds == {"v1", "v2"}:
        version = "hybrid"
    elif kinds:
        version = kinds.pop()
    else:  # nothing mounted: /proc/self/cgroup still tells v2-only from v1
        version = "v2" if lines and all(hid == "0" for hid, _, _ in lines) else "v1"
    return CgroupView(root, version, tuple(hierarchies), proc_cgroup)


def _read_levels(view: CgroupView, controller: str, name: str) -> list[tuple[str, str]]:
    """(path as seen by the probed process, value) of `name` from our cgroup upwards, where present."""
    h = view.hierarchy_for(controller)
    if h is None:
        return []
    found = []
    for d in h.levels():
        value = procfs.read_value(view.root, os.path.join(d, name))
        if value is not None:
            found.append((os.path.join(d, name), value))
    return found


def _smallest(values: list[tuple[str, float | None]]) -> tuple[float | None, str | None]:
    limited = [(v, path) for path, v in values if v is not None]
    return min(limited) if limited else (None, None)


def _describe(read: list[tuple[str, str]], decided_by: str | None) -> str:
    parts = [f"{path} = {value}" + (" (binding)" if path == decided_by else "") for path, value in read]
    return "; ".join(parts)


def _absent(view: CgroupView, controller: str, name: str) -> str:
    h = view.hierarchy_for(controller)
    where = os.path.join(h.own_dir, name) if h else name
    return (
        f"{where} absent, and at every level up to {h.mount_point if h else '?'}: no limit set (a root cgroup has none)"
    )


def memory_limit(view: CgroupView) -> tuple[int | None, str]:
    h = view.hierarchy_for("memory")
    if h is None:
        raise LookupError("no memory controller visible (no cgroup v1 memory mount, no cgroup2 with memory)")
    name = "memory.limit_in_bytes" if h.version == "v1" else "memory.max"
    read = _read_levels(view, "memory", name)

    def parse(value: str) -> int | None:
        if value == "max":
            return None
        n = int(value)
        return None if h.version == "v1" and n >= V1_UNLIMITED_MEMORY else n
    limit, path = _smallest([(p, parse(v)) for p, v in read])
    return (None if limit is None else int(limit)), _describe(read, path) or _absent(view, "memory", name)


def pids_limit(view: CgroupView) -> tuple[int | None, str]:
    if view.hierarchy_for("pids") is None:
        raise LookupError("no pids controller visible")
    read = _read_levels(view, "pids", "pids.max")
    limit, path = _smallest([(p, None if v == "max" else int(v)) for p, v in read])
    return (None if limit is None else int(limit)), _describe(read, path) or _absent(view, "pids", "pids.max")


def cpu_quota(view: CgroupView) -> tuple[float | None, str]:
    h = view.hierarchy_for("cpu")
    if h is None:
        raise LookupError("no cpu controller visible")
    if h.version == "v1":
        quotas = dict(_read_levels(view, "cpu", "cpu.cfs_quota_us"))
        periods = dict(_read_levels(view, "cpu", "cpu.cfs_period_us"))
        read, cores = [], []
        for qpath, quota in quotas.items():
            ppath = os.path.join(os.path.dirname(qpath), "cpu.cfs_period_us")
            period = periods.get(ppath)
            read += [(qpath, quota), (ppath, period or "?")]
            cores.append((qpath, None if int(quota) < 0 or not period else int(quota) / int(period)))
    else:
        read = _read_levels(view, "cpu", "cpu.max")
        cores = []
        for path, value in read:
            quota, _, period = value.partition(" ")
            cores.append((path, None if quota == "max" else int(quota) / int(period or "100000")))
    limit, decided = _smallest(cores)
    return (None if limit is None else round(limit, 4)), _describe(read, decided) or _absent(
        view, "cpu", "cpu.max" if h.version == "v2" else "cpu.cfs_quota_us"
    )


def oom_kills(view: CgroupView) -> int | None:
    """The OOM-kill counter of our memory cgroup (v1 memory.oom_control, v2 memory.events)."""
    h = view.hierarchy_for("memory")
    if h is None:
        return None
    name = "memory.oom_control" if h.version == "v1" else "memory.events"
    text = procfs.read(view.root, os.path.join(h.own_dir, name)) or ""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def collect_cgroup(root: str = "/", errors: list[str] | None = None) -> dict:
    errors = [] if errors is None else errors
    view = locate(root)
    mounted = "; ".join(
        f"{'cgroup2' if h.version == 'v2' else 'cgroup'} at {h.mount_point} (root {h.mount_root}, "
        f"{','.join(sorted(h.controllers)) or 'no controllers'}, {'ro' if h.readonly else 'rw'})"
        for h in view.hierarchies) or "no cgroup filesystem mounted"
    evidence = {"version": mounted, "proc_self_cgroup": view.proc_cgroup.strip().replace("\n", "; ")}
    memory_h = view.hierarchy_for("memory")
    path_source = memory_h or next((h for h in view.hierarchies if h.version == "v2"), None)
    own = path_source.own_path if path_source else None
    if own is None:
        lines = procfs.parse_proc_cgroup(view.proc_cgroup)
        own = next((p for hid, _, p in lines if hid == "0"), lines[0][2] if lines else None)
    result: dict[str, Any] = {"version": view.version, "path": own}
    for key, reader in (("memory_limit_bytes", memory_limit), ("pids_max", pids_limit), ("cpu_quota_cores", cpu_quota)):
        name = key.split("_")[0]
        try:
            result[key], evidence[name] = reader(view)
        except (LookupError, ValueError, OSError) as exc:
            result[key] = None
            evidence[name] = f"unknown: {exc}"
            errors.append(f"cgroup: {name}: {exc}; {key} reported null")
    result["evidence"] = evidence
    return result
