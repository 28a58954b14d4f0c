"""The audit leaves no cyclic garbage that grows with the fleet: a scan runs with Python's
cyclic collector off, so whatever the audit leaves in a cycle (a shared computation that holds
the context, a recursive closure and the tables it fills) stays until exit, beside the
report being written."""
from __future__ import annotations

import gc
import sys
from datetime import date
from pathlib import Path

import orjson

from auditor.cli import _load_rules
from auditor.config import Config
from auditor.engine import audit
from auditor.sources.manifests import load

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from generate import generate  # noqa: E402


def _cyclic_garbage_after_audit(tmp_path: Path, pods: int) -> int:
    snapshot = tmp_path / f"cluster-{pods}.json"  # kubectl's layout: lines come from the layout model
    snapshot.write_bytes(orjson.dumps(generate(pods=pods, namespaces=4, policies=8, nodes=3, seed=5),
                                      option=orjson.OPT_INDENT_2))
    ruleset, plugins = _load_rules([])
    inventory = load([str(snapshot)])
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        report = audit(inventory, ruleset, plugins, Config(), date(2026, 12, 3), "test")
        assert report.findings and all(f.location and f.location.line for f in report.findings if f.location)
        return gc.collect()
    finally:
        if was_enabled:
            gc.enable()


def test_cyclic_garbage_does_not_grow_with_the_fleet(tmp_path):
    small, large = _cyclic_garbage_after_audit(tmp_path, 20), _cyclic_garbage_after_audit(tmp_path, 400)
    assert large <= small + 10, (small, large)
