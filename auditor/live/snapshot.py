"""A snapshot: everything a live scan read, as one `List` JSON file the manifest loader audits
offline with the same findings. Secrets are never in it: the scan never reads them.

    {"apiVersion": "v1", "kind": "List",
     "metadata": {"annotations": {"isolation-audit.io/cluster": "prod-eu",
                                  "isolation-audit.io/snapshot-time": "2026-11-28T10:00:00Z",
                                  "isolation-audit.io/tool-version": "0.1.0",
                                  "isolation-audit.io/skipped": "[...]",
                                  "isolation-audit.io/not-installed": "[...]"}},
     "items": [...]}
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import orjson

from .. import __version__
from ..model import Inventory
from .cluster import DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, load_cluster
from .errors import ClusterError

CLUSTER_ANNOTATION = "isolation-audit.io/cluster"
TIME_ANNOTATION = "isolation-audit.io/snapshot-time"
VERSION_ANNOTATION = "isolation-audit.io/tool-version"
SKIPPED_ANNOTATION = "isolation-audit.io/skipped"
NOT_INSTALLED_ANNOTATION = "isolation-audit.io/not-installed"


def snapshot_document(inventory: Inventory, now: datetime | None = None) -> dict:
    clusters = sorted({r.origin.cluster for r in inventory.resources if r.origin.cluster})
    if len(clusters) > 1:
        raise ClusterError(f"a snapshot holds one cluster; this inventory holds {len(clusters)} "
                           f"({', '.join(clusters)}): snapshot one --context at a time")
    cluster = clusters[0] if clusters else (inventory.cluster or "")
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    annotations = {
        CLUSTER_ANNOTATION: cluster,
        TIME_ANNOTATION: when.isoformat().replace("+00:00", "Z"),
        VERSION_ANNOTATION: __version__,
    }
    if inventory.skipped:
        annotations[SKIPPED_ANNOTATION] = orjson.dumps(
            [{"source": s.source, "reason": s.reason} for s in inventory.skipped]).decode()
    if inventory.not_installed:
        annotations[NOT_INSTALLED_ANNOTATION] = orjson.dumps(list(inventory.not_installed)).decode()
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"annotations": annotations},
        "items": [r.obj for r in inventory.resources],
    }


def write_snapshot(inventory: Inventory, path: str | os.PathLike, now: datetime | None = None) -> int:
    """Write `inventory` (from load_cluster, one context) to `path`; returns the item count.

    Indented JSON, so findings on the snapshot point at useful lines; written to a temporary
    file beside `path` and renamed, so a failed write never leaves half a snapshot. The file
    is private (0600): a cluster's inventory is sensitive even without secrets. Written one
    item at a time: the text of a large cluster is several times its shared objects' size.
    """
    doc = snapshot_document(inventory, now)
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ClusterError(f"{target}: cannot write snapshot: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            _write_document(doc, out)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException as exc:  # items are written as they are encoded: any failure leaves a part
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ClusterError(f"{target}: cannot write snapshot: {exc.strerror or exc}") from None
        raise
    return len(doc["items"])


def _write_document(doc: dict, out: BinaryIO) -> None:
    """The bytes of `orjson.dumps(doc, OPT_INDENT_2 | OPT_APPEND_NEWLINE)`, whose last member
    is "items", written one item at a time. No JSON text holds a raw newline (strings escape
    it), so indenting an item's lines is indenting the item."""
    items = doc["items"]
    if not items:
        out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        return
    head = orjson.dumps({**doc, "items": []}, option=orjson.OPT_INDENT_2)
    out.write(head.removesuffix(b"[]\n}") + b"[")
    for at, item in enumerate(items):
        out.write(b",\n    " if at else b"\n    ")
        out.write(orjson.dumps(item, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    "))
    out.write(b"\n  ]\n}\n")


def snapshot(
    output: str | os.PathLike,
    kubeconfig: str | None = None,
    context: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float = DEFAULT_TIMEOUT,
    contexts: Sequence[str] | None = None,
) -> Inventory:
    """Read one context and write its snapshot; returns what was read (for the CLI's summary)."""
    chosen = [context] if context else (list(contexts) if contexts else None)
    inventory = load_cluster(kubeconfig, chosen, False, page_size, timeout)
    write_snapshot(inventory, output)
    return inventory
