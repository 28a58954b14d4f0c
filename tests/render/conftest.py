"""The real helm, kustomize and kubectl the tests of this directory render with."""
from __future__ import annotations

from pathlib import Path

import pytest
from harness import prereq
from harness.apiserver import BuildError, build_binaries


@pytest.fixture(scope="module")
def tools() -> Path:
    """The directory holding helm, kustomize and kubectl (and nothing else the scan could pick up)."""
    try:
        return build_binaries(target="render-tools", names=("helm", "kustomize", "kubectl"), timeout=30 * 60)
    except BuildError as err:
        prereq.require(False, f"helm, kustomize and kubectl binaries ({err})")
        raise


@pytest.fixture
def on_path(tools, monkeypatch) -> Path:
    monkeypatch.setenv("PATH", str(tools))
    return tools
