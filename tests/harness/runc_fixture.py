"""pytest fixture `runc_container`: run commands in real runc containers (see harness.runc)."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from harness import runc
from harness.prereq import require, require_binary, require_root


@pytest.fixture
def runc_container() -> Iterator[Callable[..., runc.Result]]:
    """`runc_container(config, argv, timeout=60) -> Result`; errors if a container it ran left anything."""
    require_root()
    require_binary("runc")
    require(runc.CGROUP_ROOT.is_dir() and any(runc.CGROUP_ROOT.iterdir()), "cgroupfs at /sys/fs/cgroup")
    ids: list[str] = []

    def run(config: runc.ContainerConfig, argv: Sequence[str], timeout: float = 60.0) -> runc.Result:
        result = runc.run(config, argv, timeout=timeout)
        ids.append(result.container_id)
        return result

    yield run
    left = [item for item in runc.leftovers() if any(cid in item for cid in ids)]
    assert not left, f"runc containers left behind: {left}"
