"""Missing prerequisites skip locally but fail under CI=true, where every real test must run."""
from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(ok: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) with `what` when a prerequisite is missing."""
    if ok:
        return
    message = f"prerequisite missing: {what}"
    if in_ci():
        pytest.fail(message + " (CI=true: real tests must run, not skip)", pytrace=False)
    pytest.skip(message)


def require_root() -> None:
    require(os.geteuid() == 0, "root privileges")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"'{name}' on PATH (installed by tests/install-deps.sh)")
    return path  # type: ignore[return-value]
