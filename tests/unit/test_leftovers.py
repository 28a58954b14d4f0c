"""The end-of-run leftover check sees only what this run created: another run's debris (or its
live containers, namespaces and servers) never fails this one, and this run's own always does."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from harness import apiserver, runc
from harness.run_id import RUN_ID

OTHER_RUN = "0000beef" if RUN_ID != "0000beef" else "0000cafe"


def _reported(found: list[str], name: str) -> bool:
    return any(name in item for item in found)


@pytest.mark.parametrize("module, prefix", [
    (runc, runc.PREFIX),  # bundle dirs
    (apiserver, "k8s-audit-apiserver-"),  # apiserver work dirs
])
def test_temp_dirs_of_another_run_are_ignored_and_this_runs_reported(module, prefix):
    tmp = Path(tempfile.gettempdir())
    theirs = Path(tempfile.mkdtemp(prefix=f"{prefix}{OTHER_RUN}-", dir=tmp))
    ours = Path(tempfile.mkdtemp(prefix=f"{prefix}{RUN_ID}-", dir=tmp))
    try:
        found = module.leftovers()
        assert _reported(found, ours.name)
        assert not _reported(found, theirs.name)
    finally:
        theirs.rmdir()
        ours.rmdir()
    assert not _reported(module.leftovers(), ours.name)


def test_processes_of_another_runs_network_are_ignored_and_this_runs_reported():
    netns = pytest.importorskip("harness.netns")
    names = {run: f"{netns.PREFIX}{run}0000-t0" for run in (OTHER_RUN, RUN_ID)}
    # Stand-ins for a tenant's listener: argv carries the network's names, as the real one does.
    processes = {run: subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", name],
                                       stdin=subprocess.PIPE) for run, name in names.items()}
    try:
        deadline = time.monotonic() + 10  # until exec: a fresh child still shows its parent's argv
        while not _reported(found := netns.leftovers(), names[RUN_ID]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _reported(found, names[RUN_ID])
        assert not _reported(found, names[OTHER_RUN])
    finally:
        for process in processes.values():
            process.stdin.close()
            process.wait()
    assert not _reported(netns.leftovers(), names[RUN_ID])


def test_each_run_has_its_own_id_short_enough_for_an_interface_name():
    other = subprocess.run([sys.executable, "-c", "from harness.run_id import RUN_ID; print(RUN_ID)"],
                           capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]).stdout.strip()
    assert other and other != RUN_ID
    assert len("iabn" + RUN_ID) <= 15  # a network's bridge is named with it
