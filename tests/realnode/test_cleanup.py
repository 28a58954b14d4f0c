"""Clean-up on a real node: a `scan --probe` interrupted while its Jobs' pods run leaves
nothing of the tool's behind, checked through the API and in containerd."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from scenario import REPO, labelled, tool_objects_left, wait_for_no_containers

pytestmark = [pytest.mark.realnode, pytest.mark.slow]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_scan_probe_leaves_nothing(node_cluster, tmp_path, sig):
    tool = f"ia-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "auditor", "scan", "--kubeconfig", node_cluster.api.kubeconfig, "--probe",
            "--probe-image", node_cluster.probe.ref, "--probe-namespace", tool, "--format", "json",
            "-o", str(tmp_path / "report.json")]
    proc = subprocess.Popen(node_cluster.wrap(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        # interrupt once the node probes' pods exist: containers are being made or running
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if [p for p in labelled(node_cluster, "/api/v1/pods") if p["metadata"]["namespace"] == tool]:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the scan finished before it could be interrupted"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, stderr
    assert tool_objects_left(node_cluster, tool) == [], stderr[-2000:]
    assert wait_for_no_containers(node_cluster, tool) == []
