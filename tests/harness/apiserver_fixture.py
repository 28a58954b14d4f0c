"""pytest plugin: the session-wide `apiserver` fixture (a real kube-apiserver + etcd)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import prereq
from harness.apiserver import ApiServer, BuildError, build_binaries


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "apiserver: needs a real kube-apiserver + etcd (built from Go modules)")


@pytest.fixture(scope="session")
def apiserver_bindir() -> str:
    """Directory with kube-apiserver and etcd; a cold build takes 10-25 minutes, once per go.sum."""
    try:
        return str(build_binaries())
    except BuildError as err:
        prereq.require(False, f"kube-apiserver/etcd binaries ({err})")
        raise  # unreachable: require() skips or fails


@pytest.fixture(scope="session")
def apiserver(apiserver_bindir: str) -> Iterator[ApiServer]:
    # A failure to *start* is a real error, not a missing prerequisite, so it is not caught.
    with ApiServer(apiserver_bindir) as server:
        yield server
