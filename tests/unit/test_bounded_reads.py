"""Inputs are read as they are, never by reserving the input limit up front: a read of
`limit + 1` bytes takes 2 GiB of address space for every file under the default limit, and
fails under an address-space limit (ulimit -v) that a small scan fits in many times over."""
from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from auditor.sources import parsing

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = b"""apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, securityContext: {privileged: true}}]
"""


@given(st.binary(max_size=300), st.integers(0, 400), st.integers(0, 400))
def test_a_bounded_read_is_the_first_limit_plus_one_bytes_whatever_was_expected(data, limit, expected):
    """`expected` short of the data is a file that grew, or a pipe (0)."""
    assert parsing._read_bounded(io.BytesIO(data), limit, min(expected, len(data))) == data[: limit + 1]


def test_a_bounded_read_of_a_pipe_crosses_chunks(monkeypatch):
    monkeypatch.setattr(parsing, "_CHUNK", 7)
    data = bytes(range(256)) * 3
    assert parsing._read_bounded(io.BytesIO(data), 10_000, 0) == data
    assert parsing._read_bounded(io.BytesIO(data), 100, 0) == data[:101]


def _one_gib() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_a_scan_runs_under_a_one_gib_address_space_limit(tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_bytes(DEPLOYMENT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for args, stdin in (([str(manifest)], None), (["-"], DEPLOYMENT)):
        done = subprocess.run([sys.executable, "-m", "auditor", "scan", *args, "--format", "json"], input=stdin,
                              capture_output=True, preexec_fn=_one_gib, env=env, cwd=tmp_path, timeout=120)
        assert done.returncode == 1, done.stderr.decode()[-500:]  # findings, and no MemoryError
        assert b'"IA' in done.stdout
