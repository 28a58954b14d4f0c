"""The active tests' own ceilings hold: time, memory, process count, and nothing left running."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from harness import runc
from harness.runc import ContainerConfig

from auditor.probe import enforcement

pytestmark = pytest.mark.realkernel

REPO = runc.PROJECT_ROOT
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text()))
MiB = 2**20


def processes_with(marker: str) -> list[int]:
    found = []
    for p in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in p.read_bytes():
                found.append(int(p.parent.name))
        except OSError:
            pass
    return found


def test_time_ceiling_kills_the_child_and_its_children():
    marker = f"iab-probe-{secrets.token_hex(6)}"
    # The child starts a grandchild, then both would sleep for a minute.
    code = f"import os, time\nif os.fork() == 0:\n    time.sleep(60)\ntime.sleep(60)  # {marker}"
    started = time.monotonic()
    child = enforcement.run_child(code, [], timeout=1.0)
    elapsed = time.monotonic() - started
    assert child.timed_out and elapsed < 3.0
    assert child.leftovers == [] and processes_with(marker) == []


def test_cpu_test_respects_its_time_ceiling():
    started = time.monotonic()
    result = enforcement.cpu_test(None, seconds=30, timeout=1.0)
    assert time.monotonic() - started < 3.0
    assert (result["tested"], result["enforced"]) == (True, None)
    assert "did not finish within 1s" in result["detail"] and "all its processes reaped" in result["detail"]


def test_memory_test_never_takes_more_than_its_ceiling():
    result = enforcement.memory_test(None, ceiling=32 * MiB)
    assert "touched 32 MiB (the 32 MiB cap)" in result["detail"], result
    peak = int(result["detail"].split("peak RSS ")[1].split(" MiB")[0])
    assert peak < 32 + 40  # the allocation plus a bare interpreter


def test_memory_limit_above_the_ceiling_is_not_tested():
    started = time.monotonic()
    result = enforcement.memory_test(2 << 30)
    assert time.monotonic() - started < 0.5  # no child was started
    assert (result["tested"], result["enforced"]) == (False, None) and "1024 MiB test ceiling" in result["detail"]


def test_pids_test_stays_under_its_process_ceiling():
    result = enforcement.pids_test(None, ceiling=4)
    assert (
        result["detail"].startswith("no pids limit: created 4 threads")
        and "all its processes reaped" in result["detail"]
    )
    result = enforcement.pids_test(600)
    assert (result["tested"], result["enforced"]) == (False, None) and "512-process test ceiling" in result["detail"]


def test_cpu_quota_a_busy_loop_cannot_exceed_is_not_tested():
    result = enforcement.cpu_test(float(enforcement.usable_cpus()))
    assert (result["tested"], result["enforced"]) == (False, None)


def test_limits_beyond_the_ceilings_in_a_container(runc_container):
    cpus = enforcement.usable_cpus()
    config = ContainerConfig(memory_bytes=2 << 30, pids_max=600, cpu_quota_us=cpus * 100_000, cpu_period_us=100_000,
                             cwd=str(REPO))
    started = time.monotonic()
    result = runc_container(config, runc.python_argv("-m", "auditor", "probe", "--active"), timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    VALIDATOR.validate(report)
    enforcement_ = report["cgroup"]["enforcement"]
    assert {k: (v["tested"], v["enforced"]) for k, v in enforcement_.items()} == {
        "memory": (False, None), "pids": (False, None), "cpu": (False, None)}
    assert time.monotonic() - started < 10


def test_a_tight_memory_limit_kills_only_the_test_child(runc_container):
    # 48 MiB: the probe itself fits, its allocating child does not. The probe must survive and report.
    config = replace(ContainerConfig(memory_bytes=48 * MiB), cwd=str(REPO))
    result = runc_container(config, runc.python_argv("-m", "auditor", "probe", "--active"), timeout=60)
    assert result.returncode == 0, result.stderr
    memory = json.loads(result.stdout)["cgroup"]["enforcement"]["memory"]
    assert (memory["tested"], memory["enforced"]) == (True, True), memory
