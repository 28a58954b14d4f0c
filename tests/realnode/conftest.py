"""The real-node fixtures (tests/harness/node_fixture.py) for the tests in this directory."""
from harness.node_fixture import helm_binary, node_binaries, node_cluster, node_images  # noqa: F401
