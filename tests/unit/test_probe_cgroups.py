"""The cgroup v1, v2 and hybrid parsers, on file trees under fixtures/probe/trees/.

runc-v1-limited, runc-v1-unlimited and host-hybrid were captured on the hybrid test machine
(v1 controllers plus cgroup2 at /sys/fs/cgroup/unified) by tests/realkernel/test_probe_record.py
with RECORD_PROBE_FIXTURES=1. v2-node and v2-cgroupns are written by hand in the kernel's cgroup
v2 file formats (Documentation/admin-guide/cgroup-v2.rst), since that machine has no cgroup v2
controllers to capture: a pod on a v2 node in the host cgroup namespace with limits set at the
pod level, and a container in its own cgroup namespace.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from auditor.probe import cgroups, procfs

TREES = Path(__file__).resolve().parents[2] / "fixtures" / "probe" / "trees"
MiB = 2**20


def collect(name: str) -> tuple[dict, list[str]]:
    errors: list[str] = []
    return cgroups.collect_cgroup(str(TREES / name), errors), errors


def test_v1_container_limits():
    c, errors = collect("runc-v1-limited")
    assert errors == []
    assert c["version"] == "v1"
    assert c["path"].startswith("/iabr-")
    assert (c["memory_limit_bytes"], c["pids_max"], c["cpu_quota_cores"]) == (96 * MiB, 24, 0.2)
    assert c["evidence"]["memory"] == "/sys/fs/cgroup/memory/memory.limit_in_bytes = 100663296 (binding)"
    assert "cpu.cfs_quota_us = 20000 (binding)" in c["evidence"]["cpu"]
    assert "cpu.cfs_period_us = 100000" in c["evidence"]["cpu"]


def test_v1_no_limits_read_as_unlimited():
    c, errors = collect("runc-v1-unlimited")
    assert errors == []
    assert (c["memory_limit_bytes"], c["pids_max"], c["cpu_quota_cores"]) == (None, None, None)
    # v1 says "no limit" with a huge byte count, pids with "max", CFS with a quota of -1
    assert "9223372036854771712" in c["evidence"]["memory"]
    assert c["evidence"]["pids"] == "/sys/fs/cgroup/pids/pids.max = max"
    assert "cpu.cfs_quota_us = -1" in c["evidence"]["cpu"]


def test_hybrid_host_walks_every_ancestor():
    c, errors = collect("host-hybrid")
    assert errors == []
    assert c["version"] == "hybrid"
    assert c["path"].count("/") == 2  # a nested memory cgroup, e.g. /process_api/<id>
    assert c["memory_limit_bytes"] is None
    assert c["evidence"]["memory"].count("memory.limit_in_bytes") == 3  # own, parent, root
    assert c["pids_max"] is None and "absent" in c["evidence"]["pids"]  # the root cgroup has no pids.max
    view = cgroups.locate(str(TREES / "host-hybrid"))
    assert view.hierarchy_for("memory").version == "v1"  # controllers live on v1 in hybrid mode
    assert view.hierarchy_for("hugetlb").version == "v2"


def test_v2_limits_of_the_pod_level_bind_the_container():
    c, errors = collect("v2-node")
    assert errors == []
    assert c["version"] == "v2"
    assert c["path"].endswith(".scope") and "kubepods" in c["path"]
    assert (c["memory_limit_bytes"], c["pids_max"], c["cpu_quota_cores"]) == (512 * MiB, 1024, 1.5)
    pod_level = "pod3f6b1c9e_8d0a_4c1b_9f1e_2a7d5e4c3b21.slice/memory.max = 536870912 (binding)"
    assert pod_level in c["evidence"]["memory"]
    assert "16106127360" in c["evidence"]["memory"]  # the looser kubepods.slice limit was read too


def test_v2_in_a_cgroup_namespace():
    c, errors = collect("v2-cgroupns")
    assert errors == []
    assert (c["version"], c["path"]) == ("v2", "/")
    assert (c["memory_limit_bytes"], c["pids_max"], c["cpu_quota_cores"]) == (128 * MiB, 64, 0.25)


@pytest.mark.parametrize("tree, kills", [("runc-v1-limited", 0), ("v2-node", 1), ("v2-cgroupns", 0)])
def test_oom_kill_counter(tree, kills):
    assert cgroups.oom_kills(cgroups.locate(str(TREES / tree))) == kills


def test_own_file_points_into_our_cgroup():
    view = cgroups.locate(str(TREES / "v2-node"))
    assert Path(view.own_file("pids", "pids.current")).read_text().strip() == "7"


def test_missing_controllers_are_unknown_and_reported(tmp_path):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text(
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n")
    (tmp_path / "proc/self/cgroup").write_text("1:cpu:/\n0::/\n")
    (tmp_path / "sys/fs/cgroup/cpu").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/cpu/cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "sys/fs/cgroup/cpu/cpu.cfs_period_us").write_text("100000\n")
    errors: list[str] = []
    c = cgroups.collect_cgroup(str(tmp_path), errors)
    assert c["cpu_quota_cores"] == 0.5
    assert c["memory_limit_bytes"] is None and c["evidence"]["memory"].startswith("unknown")
    assert [e.split(":")[1].strip() for e in errors] == ["memory", "pids"]


def test_mountinfo_parser_unescapes_and_keeps_optional_fields():
    line = r"42 27 254:0 /run/net\040ns /run/net\040ns rw,relatime shared:1 master:2 - ext4 /dev/vda rw,discard"
    (m,) = procfs.parse_mountinfo(line)
    assert (m.root, m.mount_point, m.fstype, m.source) == ("/run/net ns", "/run/net ns", "ext4", "/dev/vda")
    assert (m.major, m.minor, m.readonly, m.super_options) == (254, 0, False, ("rw", "discard"))


def test_v1_hierarchy_outside_the_mounted_part_falls_back_to_the_mount_point():
    h = cgroups.Hierarchy("v1", frozenset({"memory"}), "/sys/fs/cgroup/memory", "/a", "/b/c", True)
    assert h.own_dir == "/sys/fs/cgroup/memory"
    h = cgroups.Hierarchy("v1", frozenset({"memory"}), "/sys/fs/cgroup/memory", "/a", "/a/b/c", True)
    assert h.levels() == ["/sys/fs/cgroup/memory/b/c", "/sys/fs/cgroup/memory/b", "/sys/fs/cgroup/memory"]
