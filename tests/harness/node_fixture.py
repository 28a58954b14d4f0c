"""pytest fixtures of the real-node tests: binaries, offline images, and the cluster.

Imported by tests/realnode/conftest.py. A missing prerequisite (root, a Debian package, Go
for a cold build) skips locally and fails under CI=true; a cluster that does not start is
an error either way."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import prereq
from harness.apiserver import BuildError, build_binaries
from harness.node import NodeCluster, build_node_binaries
from harness.node_images import Image, ImageError, build_all

# What the harness runs from the machine: containerd, runc, ctr, CNI plugins, iptables, ipset.
MACHINE_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "iptables-save",
                    "iptables-restore", "ipset", "nsenter", "go")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")


@pytest.fixture(scope="session")
def node_binaries() -> tuple[Path, Path]:
    prereq.require_root()
    for name in MACHINE_BINARIES:
        prereq.require_binary(name)
    for plugin in CNI_PLUGINS:
        prereq.require(Path("/usr/lib/cni", plugin).exists(),
                       f"CNI plugin /usr/lib/cni/{plugin} (Debian's containernetworking-plugins)")
    try:
        return build_node_binaries()
    except BuildError as err:
        prereq.require(False, f"kubelet/kube-scheduler/kube-controller-manager/kube-router binaries ({err})")
        raise


@pytest.fixture(scope="session")
def node_images(node_binaries, tmp_path_factory) -> tuple[Image, Image]:
    try:
        return build_all(tmp_path_factory.mktemp("images"))
    except ImageError as err:
        prereq.require(False, f"offline images ({err})")
        raise


@pytest.fixture(scope="session")
def node_cluster(node_binaries, node_images) -> Iterator[NodeCluster]:
    """Two real nodes on this one kernel (as kind and k3d make them), kube-router enforcing
    NetworkPolicy, shared by the session."""
    with NodeCluster(*node_binaries, node_images, nodes=2) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """helm from `tests/apiserver/build.sh render-tools` (cached; built if missing)."""
    try:
        return build_binaries(target="render-tools", names=("helm",), timeout=30 * 60) / "helm"
    except BuildError as err:
        prereq.require(False, f"helm binary ({err})")
        raise
