"""Reading what the kernel shows, under a root path (so tests can use captured file trees)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass


def at(root: str, path: str) -> str:
    """`path` (absolute, as seen inside the probed system) under `root`."""
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


def read(root: str, path: str, limit: int = 1 << 20) -> str | None:
    """The file's text, or None when it is absent or unreadable."""
    try:
        with open(at(root, path), "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def read_value(root: str, path: str) -> str | None:
    text = read(root, path, 4096)
    return None if text is None else text.strip()


def readlink(root: str, path: str) -> str | None:
    try:
        return os.readlink(at(root, path))
    except OSError:
        return None


def status(root: str, pid: str = "self") -> dict[str, str]:
    """/proc/<pid>/status as a dict (empty when unreadable)."""
    text = read(root, f"/proc/{pid}/status") or ""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/<pid>/mountinfo (see proc(5))."""
    mount_id: int
    parent_id: int
    major: int
    minor: int
    root: str  # the path inside the source filesystem that is mounted here
    mount_point: str
    options: tuple[str, ...]  # per-mount options (ro/rw, nosuid, ...)
    fstype: str
    source: str
    super_options: tuple[str, ...]

    @property
    def readonly(self) -> bool:
        return "ro" in self.options

    @property
    def device(self) -> str:
        return f"{self.major}:{self.minor}"


_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 3:
            continue
        major, _, minor = fields[2].partition(":")
        entries.append(
            MountEntry(
                mount_id=int(fields[0]),
                parent_id=int(fields[1]),
                major=int(major),
                minor=int(minor),
                root=_unescape(fields[3]),
                mount_point=_unescape(fields[4]),
                options=tuple(fields[5].split(",")),
                fstype=fields[sep + 1],
                source=_unescape(fields[sep + 2]),
                super_options=tuple(fields[sep + 3].split(",")) if len(fields) > sep + 3 else (),
            )
        )
    return entries


def mountinfo(root: str, pid: str = "self") -> list[MountEntry]:
    text = read(root, f"/proc/{pid}/mountinfo")
    if text is None:
        raise OSError(f"/proc/{pid}/mountinfo unreadable")
    return parse_mountinfo(text)


def root_mount(mounts: list[MountEntry]) -> MountEntry | None:
    """The mount visible at "/" (the last one mounted there wins)."""
    tops = [m for m in mounts if m.mount_point == "/"]
    return tops[-1] if tops else None


def parse_proc_cgroup(text: str) -> list[tuple[str, tuple[str, ...], str]]:
    """/proc/<pid>/cgroup lines as (hierarchy id, controllers, path)."""
    lines = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            hid, controllers, path = parts
            lines.append((hid, tuple(c for c in controllers.split(",") if c), path))
    return lines
