"""Run the real engine on files, the way the CLI does, for tests."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Iterable

from auditor import __version__
from auditor.cli import _load_rules
from auditor.config import Config
from auditor.engine import audit
from auditor.model import Inventory, Report
from auditor.sources.manifests import load

TODAY = date(2026, 11, 28)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def scan(paths: Iterable[str], config: Config | None = None, select: Iterable[str] = (), extra_rules=()) -> Report:
    return audit_inventory(load(list(paths)), config, select, extra_rules)


def audit_inventory(inventory: Inventory, config: Config | None = None, select: Iterable[str] = (), extra_rules=()) -> Report:
    ruleset, analyses = _load_rules(list(extra_rules))
    config = config or Config()
    if select:
        config = replace(config, select=tuple(select))
    return audit(inventory, ruleset, analyses, config, TODAY, __version__)
