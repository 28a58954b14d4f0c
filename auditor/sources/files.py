"""Finding and opening input files without trusting what sits in the file system.

A FIFO, device or socket must never be opened for reading (a FIFO blocks forever, a device
open can have side effects), and a directory that cannot be listed or a link that leads
nowhere must never pass silently: each is named as a `Skipped` entry by its path.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection
from pathlib import Path
from typing import BinaryIO

from ..model import Skipped

_KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
          (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link"))


class NotRegularFile(OSError):
    """A path that is not a regular file; `strerror` says what it is instead."""

    def __init__(self, path: Path | str, mode: int) -> None:
        kind = next((name for test, name in _KINDS if test(mode)), "special file")
        super().__init__(0, f"not a regular file ({kind})", str(path))


def open_regular(path: Path | str, follow_links: bool = True) -> BinaryIO:
    """`path` opened for reading, if it is a regular file; else NotRegularFile (or OSError).

    The stat first keeps devices from ever being opened; the non-blocking open and fstat
    then catch a file swapped for a FIFO in between without waiting for a writer."""
    mode = (os.stat if follow_links else os.lstat)(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | (0 if follow_links else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path | str, follow_links: bool = True) -> bytes:
    """The bytes of a regular file (see `open_regular`)."""
    with open_regular(path, follow_links) as fh:
        return fh.read()


def walk(root: Path, skipped: list[Skipped], suffixes: tuple[str, ...] | None = None,
         passed_over: Callable[[str], bool] | None = None, follow_links: bool = False,
         whole: Callable[[Collection[str]], bool] | None = None) -> list[Path]:
    """The regular files below `root` whose names end in `suffixes` (any name if None), sorted.

    Entries whose names `passed_over` accepts are not looked at. A directory (`root` too)
    whose entry names `whole` accepts is one input: it is in the list itself, and its
    entries are not. Symbolic links to files are read only with `follow_links`; links to
    directories are never followed (no loops, no leaving the tree). Everything else that
    could have held an input is named in `skipped`: a directory that cannot be listed, a
    broken link, a FIFO, device or socket."""
    found: list[Path] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name)  # errors mid-listing surface here too
        except OSError as exc:
            skipped.append(Skipped(str(directory), f"cannot list directory: {exc.strerror or exc}"))
            continue
        if whole is not None and whole([entry.name for entry in entries]):
            found.append(directory)
            continue
        for entry in entries:
            if passed_over is not None and passed_over(entry.name):
                continue
            path = Path(directory, entry.name)
            wanted = suffixes is None or entry.name.endswith(suffixes)
            verdict = _verdict(entry, wanted, follow_links)
            if verdict == _DESCEND:
                pending.append(path)
            elif verdict == _READ:
                found.append(path)
            elif verdict:
                skipped.append(Skipped(str(path), verdict))
    return sorted(found)


_DESCEND, _READ = "descend", "read"


def _verdict(entry: os.DirEntry, wanted: bool, follow_links: bool) -> str | None:
    """_DESCEND, _READ, the reason an entry cannot be read (to name it), or None to pass it over.
    The entry's type comes from the listing itself; only links and odd files cost a stat."""
    try:
        if not entry.is_symlink():
            if entry.is_dir(follow_symlinks=False):
                return _DESCEND
            if not wanted:
                return None
            if entry.is_file(follow_symlinks=False):
                return _READ
            return NotRegularFile(entry.path, entry.stat(follow_symlinks=False).st_mode).strerror
        target = os.stat(entry.path).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if entry.is_symlink() else None  # a file removed while listing
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISDIR(target):
        return "symbolic link to a directory: not followed"
    if not wanted:
        return None
    if not follow_links:
        return "symbolic link: not followed"
    return _READ if stat.S_ISREG(target) else NotRegularFile(entry.path, target).strerror
