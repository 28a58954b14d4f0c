"""pytest fixtures `tenant_network` (factory) and `netns_harness` (the module, prerequisites checked)."""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from types import ModuleType
from typing import Any

import pytest

from harness.prereq import require, require_binary, require_root


@pytest.fixture
def netns_harness() -> ModuleType:
    """The harness.netns module, once its prerequisites are checked (for tests driving it directly)."""
    require_root()
    require_binary("nsenter")
    try:  # imported here so that a missing pyroute2 skips (or fails in CI) instead of erroring
        return importlib.import_module("harness.netns")
    except ImportError as e:
        require(False, f"pyroute2 importable ({e})")


@pytest.fixture
def tenant_network(netns_harness) -> Iterator[Callable[..., Any]]:
    """`tenant_network(tenants=2, subnet=None) -> TenantNetwork`, entered; torn down after the test."""
    netns = netns_harness
    with ExitStack() as stack:

        def make(tenants: int = 2, subnet: str | None = None):
            return stack.enter_context(netns.TenantNetwork(tenants, subnet))

        yield make
