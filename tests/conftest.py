"""Shared pytest configuration: the real-infrastructure fixtures and the leftover check."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))

pytest_plugins = ["harness.runc_fixture", "harness.netns_fixture", "harness.apiserver_fixture"]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo():
    """The demo's report: its cluster, probe results and config, as the `demo` command runs it."""
    from scan_helpers import demo_report

    return demo_report()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing this run created may outlive it: containers, namespaces, bridges, cgroups, temp dirs.

    Only names carrying this run's id are looked at, so another run on the machine is left alone.
    """
    from harness import leftovers
    from harness.run_id import RUN_ID

    left = leftovers.everything()
    if left:
        print(f"\nleft behind by this test run ({RUN_ID}):\n  " + "\n  ".join(left), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
