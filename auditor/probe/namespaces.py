"""Which of the host's namespaces this process shares.

The strongest signal needs no comparison at all: the kernel gives its initial namespaces fixed
nsfs inode numbers (include/uapi/linux/nsfs.h: ipc 0xEFFFFFFF, uts 0xEFFFFFFE, user
0xEFFFFFFD, pid 0xEFFFFFFC, cgroup 0xEFFFFFFB; net 0xEFFFFFF9 and mnt 0xEFFFFFF8 on recent
kernels only) and every other namespace a dynamic inode from 0xF0000000 up. So for ipc, uts,
user, pid and cgroup the link /proc/self/ns/<type> alone answers. For net and mnt, whose
initial inode older kernels allocate dynamically, a dynamic inode proves nothing, and the
answer comes from what the namespace contains: a device-backed network interface, the host's
root block device mounted whole at "/".
"""
from __future__ import annotations

import os
import re

from . import procfs

TYPES = ("pid", "net", "mnt", "ipc", "uts", "user", "cgroup")
INIT_INODES = {"ipc": 0xEFFFFFFF, "uts": 0xEFFFFFFE, "user": 0xEFFFFFFD, "pid": 0xEFFFFFFC,
               "cgroup": 0xEFFFFFFB, "net": 0xEFFFFFF9, "mnt": 0xEFFFFFF8}
# Types whose initial inode is fixed on every kernel that has the namespace type at all.
ALWAYS_FIXED = frozenset({"ipc", "uts", "user", "pid", "cgroup"})
DYNAMIC_FIRST = 0xF0000000
IDENTITY_MAP = ["0", "0", "4294967295"]


def _inode(link: str | None) -> int | None:
    match = re.fullmatch(r"\w+:\[(\d+)\]", link or "")
    return int(match.group(1)) if match else None


def _entry(shared: bool | None, evidence: list[str]) -> dict:
    return {"shared_with_host": shared, "evidence": "; ".join(evidence)}


def collect_namespaces(root: str = "/") -> dict:
    links = {t: procfs.readlink(root, f"/proc/self/ns/{t}") for t in TYPES}
    result = {"pid": _pid(root, links["pid"])}
    host_pid = result["pid"]["shared_with_host"] is True
    # /proc/1 is the host's init only in the host's pid namespace; elsewhere it is our own init.
    host_links = {t: procfs.readlink(root, f"/proc/1/ns/{t}") for t in TYPES} if host_pid else {}
    result["net"] = _net(root, links["net"], host_links.get("net"))
    result["mnt"] = _mnt(root, links["mnt"], host_links.get("mnt"))
    result["user"] = _user(root, links["user"])
    for t in ("ipc", "uts", "cgroup"):
        result[t] = _by_inode(root, t, links[t], host_links.get(t))
    return {t: result[t] for t in TYPES}


def _inode_evidence(t: str, link: str | None) -> tuple[bool | None, str]:
    """(verdict or None, what was read) from the inode of /proc/self/ns/<t> alone."""
    inode = _inode(link)
    if inode is None:
        return None, f"/proc/self/ns/{t} unreadable"
    if inode == INIT_INODES[t]:
        return True, f"/proc/self/ns/{t} -> {link}: the initial {t} namespace (fixed inode {INIT_INODES[t]:#x})"
    if inode >= DYNAMIC_FIRST and t in ALWAYS_FIXED:
        return (
            False,
            f"/proc/self/ns/{t} -> {link}: a dynamically allocated inode, "
            f"not the initial {t} namespace ({INIT_INODES[t]:#x})",
        )
    return None, f"/proc/self/ns/{t} -> {link}"


def _compare_with_host_init(t: str, link: str | None, host_link: str | None) -> tuple[bool | None, str | None]:
    if host_link is None or link is None:
        return None, None
    same = host_link == link
    return same, f"/proc/1/ns/{t} (host init) -> {host_link} {'==' if same else '!='} /proc/self/ns/{t}"


def _pid(root: str, link: str | None) -> dict:
    verdict, evidence = _inode_evidence("pid", link)
    notes = [evidence]
    kthreadd = procfs.status(root, "2")
    kernel_threads = kthreadd.get("Name") == "kthreadd" and kthreadd.get("PPid") == "0"
    if kernel_threads:
        notes.append("/proc/2/status: Name kthreadd, PPid 0 (kernel threads visible)")
    else:
        notes.append(
            f"/proc/2/status: {'absent' if not kthreadd else 'Name ' + kthreadd.get('Name', '?')} "
            "(no kernel threads visible)"
        )
    nspid = procfs.status(root).get("NSpid")
    nested = nspid is not None and len(nspid.split()) > 1
    if nspid is not None:
        notes.append(f"/proc/self/status NSpid: {nspid}" + (" (nested pid namespace)" if nested else ""))
    if verdict is None:
        verdict = True if kernel_threads else (False if nested else None)
    return _entry(verdict, notes)


def _interfaces(root: str) -> list[str]:
    text = procfs.read(root, "/proc/self/net/dev") or ""
    return [line.split(":", 1)[0].strip() for line in text.splitlines()[2:] if ":" in line]


def _net(root: str, link: str | None, host_link: str | None) -> dict:
    verdict, notes = _by_identity("net", link, host_link)
    interfaces = _interfaces(root)  # /proc/self/net/dev lists exactly this namespace's interfaces
    backed = [i for i in interfaces if os.path.lexists(procfs.at(root, f"/sys/class/net/{i}/device"))]
    if interfaces:
        if backed:
            targets = [os.path.basename(procfs.readlink(root, f"/sys/class/net/{i}/device") or "?") for i in backed]
            notes.append(
                "device-backed interfaces in this namespace: "
                + ", ".join(f"{i} (/sys/class/net/{i}/device -> {t})" for i, t in zip(backed, targets, strict=True))
            )
        else:
            notes.append(
                f"interfaces in /proc/self/net/dev: {', '.join(interfaces)}; none has /sys/class/net/<if>/device"
            )
        if verdict is None:
            verdict = bool(backed)
    else:
        notes.append("/proc/self/net/dev unreadable")
    return _entry(verdict, notes)


def _mnt(root: str, link: str | None, host_link: str | None) -> dict:
    verdict, notes = _by_identity("mnt", link, host_link)
    try:
        top = procfs.root_mount(procfs.mountinfo(root))
    except OSError:
        top = None
    if top is None:
        notes.append("root mount not found in /proc/self/mountinfo")
        return _entry(verdict, notes)
    access = "ro" if top.readonly else "rw"
    described = f"root mount: {top.root} of {top.source} ({top.fstype}, dev {top.device}) on / {access}"
    if top.root != "/":
        notes.append(described + ": a subdirectory bind-mounted as root, i.e. a container rootfs")
        guess = False
    elif top.fstype in ("overlay", "aufs", "fuse-overlayfs"):
        notes.append(described + ": a layered image filesystem, i.e. a container rootfs")
        guess = False
    elif top.major != 0:
        notes.append(described + ": a block device mounted whole, as the host's root")
        guess = True
    else:
        notes.append(described)
        guess = None
    if verdict is None:
        verdict = guess
    return _entry(verdict, notes)


def _user(root: str, link: str | None) -> dict:
    verdict, evidence = _inode_evidence("user", link)
    notes = [evidence]
    uid_map = (procfs.read(root, "/proc/self/uid_map") or "").split()
    if uid_map:
        identity = uid_map == IDENTITY_MAP
        notes.append(f"/proc/self/uid_map: {' '.join(uid_map)}"
                     + (" (identity map of all ids: the initial user namespace)" if identity else " (remapped ids)"))
        if verdict is None:
            verdict = identity
    else:
        notes.append("/proc/self/uid_map unreadable")
    return _entry(verdict, notes)


def _by_identity(t: str, link: str | None, host_link: str | None) -> tuple[bool | None, list[str]]:
    """The verdict from namespace inode numbers, else from comparing with the host's init."""
    verdict, evidence = _inode_evidence(t, link)
    notes = [evidence]
    compared, how = _compare_with_host_init(t, link, host_link)
    if how:
        notes.append(how)
    return (compared if verdict is None else verdict), notes


def _by_inode(root: str, t: str, link: str | None, host_link: str | None) -> dict:
    verdict, notes = _by_identity(t, link, host_link)
    if t == "cgroup":
        lines = procfs.parse_proc_cgroup(procfs.read(root, "/proc/self/cgroup") or "")
        paths = sorted({path for _, _, path in lines})
        if paths:
            absolute = [p for p in paths if p not in ("/",) and not p.startswith("/..")]
            notes.append(f"/proc/self/cgroup paths: {', '.join(paths)}"
                         + (" (paths below the hierarchy root visible)" if absolute else ""))
    return _entry(verdict, notes)
