"""`--probe` on a real node: the per-node Job runs in containerd, its report is read from the
pod's log, and the node's facts are this machine's; afterwards nothing of the run is left."""
from __future__ import annotations

import os
import uuid

import pytest
from scenario import (
    machine_boot_id,
    machine_is_vm,
    machine_pod_cgroup_version,
    scan_probe,
    tool_objects_left,
    wait_for_no_containers,
)

from auditor.live.probes.options import ProbeOptions
from auditor.live.probes.run import run_probes

pytestmark = [pytest.mark.realnode, pytest.mark.slow]


def test_node_probe_report_comes_from_the_pod_log_and_describes_this_machine(node_cluster):
    tool = f"ia-{uuid.uuid4().hex[:6]}"
    options = ProbeOptions(image=node_cluster.probe.ref, namespace=tool, reach_probes=False, timeout=240,
                           poll_interval=1)
    run = node_cluster.call(run_probes, node_cluster.api.kubeconfig, options=options)

    assert run.not_run == [] and run.cleanup_errors == []
    assert sorted(r.node for r in run.results) == sorted(n.spec.name for n in node_cluster.nodes)
    for result in run.results:
        report = result.report
        assert result.kind == "node"
        assert report["probe"]["active"] is True and report["probe"]["node"] == result.node
        host = report["host"]
        assert host["kernel_release"] == os.uname().release
        assert host["boot_id"] == machine_boot_id()  # both kubelets: one kernel
        assert host["hypervisor"] is machine_is_vm()
        assert report["cgroup"]["version"] == machine_pod_cgroup_version()
        # the Job's own limit (256Mi) is what the probe's cgroup has: the kubelet applied it
        assert report["cgroup"]["memory_limit_bytes"] == 256 * 1024 * 1024

    assert tool_objects_left(node_cluster, tool) == []
    assert wait_for_no_containers(node_cluster, tool) == []


@pytest.fixture(scope="module")
def cli_scan(node_cluster, tmp_path_factory):
    tool = f"ia-{uuid.uuid4().hex[:6]}"
    proc, report = scan_probe(node_cluster, tmp_path_factory.mktemp("scan") / "report.json",
                              "--probe-namespace", tool)
    return tool, proc, report


def test_scan_probe_through_the_cli_joins_the_node_report(node_cluster, cli_scan):
    tool, _, report = cli_scan
    assert report["coverage"]["complete"] is True, report["coverage"]
    for node in node_cluster.nodes:
        assert f"probe node-{node.spec.name}" in report["coverage"]["inputs"]
        (entry,) = [n for n in report["nodes"] if n["name"] == node.spec.name]
        assert entry["kernel_version"] == os.uname().release
    assert tool_objects_left(node_cluster, tool) == []
    assert wait_for_no_containers(node_cluster, tool) == []


def test_scan_probe_classifies_this_vm_as_a_vm_whatever_the_labels(node_cluster, cli_scan):
    assert machine_is_vm()
    _, _, report = cli_scan
    for entry in report["nodes"]:
        assert entry["substrate"] == "vm", entry["substrate_evidence"]

