"""Run the real engine on files, the way the CLI does, for tests."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path

from auditor import __version__
from auditor.cli import _load_rules
from auditor.config import Config
from auditor.engine import audit
from auditor.model import Inventory, Report
from auditor.sources.manifests import load

TODAY = date(2026, 11, 28)


REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "fixtures" / "demo"


def demo_report(base: str | None = None) -> Report:
    """The demo audit as `k8s-isolation-audit demo` runs it (paths relative to the cwd by default)."""
    from auditor.config import load_config
    from auditor.sources.probe_reports import with_reports

    base = base or os.path.relpath(DEMO)
    inventory = with_reports(load([os.path.join(base, "cluster")]), [os.path.join(base, "probe-results")])
    return audit_inventory(inventory, load_config(os.path.join(base, "config.yaml")))


def scan_cli(path: Path, tools: Path, cwd: Path = REPO, stdin: str | None = None,
             fail_on: str = "critical") -> tuple[int, dict, str]:
    """The console command as a user runs it (`path` may be '-' with `stdin`), with only the
    directory `tools` on PATH: (exit code, JSON report, stderr)."""
    env = {**os.environ, "PATH": str(tools), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", str(path), "--format", "json", "--fail-on",
                           fail_on], input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
                          check=False)
    return done.returncode, json.loads(done.stdout), done.stderr


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def scan(paths: Iterable[str], config: Config | None = None, select: Iterable[str] = (), extra_rules=()) -> Report:
    return audit_inventory(load(list(paths)), config, select, extra_rules)


def audit_inventory(
    inventory: Inventory, config: Config | None = None, select: Iterable[str] = (), extra_rules=()
) -> Report:
    ruleset, analyses = _load_rules(list(extra_rules))
    config = config or Config()
    if select:
        config = replace(config, select=tuple(select))
    return audit(inventory, ruleset, analyses, config, TODAY, __version__)
