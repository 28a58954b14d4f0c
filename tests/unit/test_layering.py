"""Who may import whom: the core reads no input format, and plugins are reached only
through the entry-point registry."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ("engine", "rules", "config", "model", "analysis", "conditions", "projection", "registry", "pointer",
        "schema_walk", "schema_errors", "waivers", "workloads", "tenancy")


def imported(path: Path) -> set[str]:
    """Absolute module names a module imports (relative imports resolved inside auditor)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = ".".join(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
                base = f"{package}.{base}" if base else package
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("module", CORE)
def test_the_core_does_not_import_the_input_sources(module):
    names = imported(ROOT / "auditor" / f"{module}.py")
    assert not {n for n in names if n.startswith(("auditor.sources", "checks"))}, module


@pytest.mark.parametrize("path", sorted((ROOT / "checks").glob("*.py")), ids=lambda p: p.name)
def test_plugins_keep_no_audit_state_in_module_globals(path):
    """Per-audit state lives on the AnalysisContext (`ctx.shared`): a module-level cache would
    leak one audit into the next, or across the threads of a long-lived process."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Global), f"{path.name}:{node.lineno}: global statement"
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, (ast.List, ast.Set)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            raise AssertionError(f"{path.name}:{node.lineno}: mutable module-level {names}")
