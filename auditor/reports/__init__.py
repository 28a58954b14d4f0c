"""Renderers: pure functions of the Report. Each module imports its own heavy dependencies.

`renderer(name)(report)` works for every format. SARIF and JUnit also take `rules=` (the
rules that ran: SARIF describes them, JUnit lists those without findings as passing, policy
reports name each finding's rule). Policy reports and Prometheus metrics take the run's times.
"""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

# APIs --format policyreport writes (the first is the default); the CLI lists them without
# importing the renderer.
POLICYREPORT_APIS = ("wgpolicyk8s.io/v1alpha2", "openreports.io/v1alpha1")

FORMATS = ("table", "json", "sarif", "junit", "markdown", "html", "policyreport", "prometheus")
_MODULES = {"table": "table", "json": "json_report", "sarif": "sarif", "junit": "junit", "markdown": "markdown",
            "html": "html", "policyreport": "policyreport", "prometheus": "prometheus"}


def renderer(name: str) -> Callable[..., str]:
    if name not in _MODULES:
        raise ValueError(f"unknown format {name!r}")
    return import_module(f".{_MODULES[name]}", __name__).render
