"""What the plugin benchmarks (rbac.py, reachability.py) share: generated objects as the
analysis context one audit would give a plugin, and the built-in rules a plugin runs."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.analysis import AnalysisContext  # noqa: E402
from auditor.cli import _load_rules  # noqa: E402
from auditor.config import Config  # noqa: E402
from auditor.model import Inventory, Origin, Resource, Rule  # noqa: E402
from auditor.tenancy import TenancyConfig, resolve_tenancy  # noqa: E402
from auditor.workloads import top_level_workloads  # noqa: E402


def analysis_context(objects: Iterable[dict[str, Any]]) -> AnalysisContext:
    resources = tuple(
        Resource(o["kind"], o["apiVersion"], o["metadata"].get("namespace"), o["metadata"]["name"], o,
                 Origin(cluster="bench"))
        for o in objects
    )
    tenancy = resolve_tenancy(resources, TenancyConfig(label="tenant"))
    return AnalysisContext(Inventory(resources=resources), tenancy, top_level_workloads(resources), Config(),
                           date.today())


def builtin_rules(plugin: str) -> list[Rule]:
    return [r for r in _load_rules([])[0].rules if r.analysis == plugin]
