"""Renderers: pure functions of the Report. Each module imports its own heavy dependencies."""
from __future__ import annotations

from typing import Callable

FORMATS = ("table", "json")


def renderer(name: str) -> Callable[..., str]:
    if name == "table":
        from .table import render
    elif name == "json":
        from .json_report import render
    else:
        raise ValueError(f"unknown format {name!r}")
    return render
