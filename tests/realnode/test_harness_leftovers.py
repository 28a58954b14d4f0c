"""The real-node harness's leftover check sees what a cluster could leave: were it blind,
the suite's end-of-run check would pass on a dirty machine."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from harness import node, node_net, prereq

pytestmark = pytest.mark.realnode


def test_leftovers_names_a_cluster_dir_a_cgroup_and_a_namespace():
    prereq.require_root()
    workdir = Path(tempfile.mkdtemp(prefix=node.WORKDIR_PREFIX + "selftest-"))
    cgroup = node.CGROUP_V1 / "pids" / (node.CGROUP_PREFIX + "selftest")
    net = node_net.NodeNetwork(node_net.PREFIX + "selftest", ["10.213.0.2"])
    try:
        cgroup.mkdir()
        net.create()
        found = node.leftovers()
        assert f"real-node cluster dir {workdir}" in found
        assert f"cgroup {cgroup}" in found
        assert f"network namespace {net.name}" in found
    finally:
        net.delete()
        if cgroup.exists():
            os.rmdir(cgroup)
        workdir.rmdir()
    left = node.leftovers()  # a session cluster may be running: only ours must be gone
    assert not [item for item in left if "selftest" in item], left
