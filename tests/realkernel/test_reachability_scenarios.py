"""Intended versus observed reachability on real network namespaces: an enforcing network plugin
(the policy mirrored by nftables rules in the destination) and a non-enforcing one (policies,
no rules). Only addresses inside the namespaces the test creates are contacted."""
from __future__ import annotations

import json
import subprocess

import pytest
from harness.prereq import require_binary
from harness.reach_scenario import Deny, install_denies, run_scenario
from harness.runc import python_argv

pytestmark = pytest.mark.realkernel

TCP = 8080


def scan(scenario) -> dict:
    done = subprocess.run(
        python_argv("-m", "auditor", "scan", str(scenario.manifests), "--probe-results", str(scenario.reports),
                    "--format", "json", "--fail-on", "none"),
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def observed(report) -> dict[tuple[str, str, str], str]:
    return {(r["from_tenant"], r["to_tenant"], r["ports"][0]): r["result"] for r in report["reachability"]["observed"]}


def drift(report, rule_id) -> list[tuple[str, str]]:
    return sorted((f["evidence"]["from"], f["evidence"]["to"]) for f in report["findings"] if f["rule_id"] == rule_id)


@pytest.mark.parametrize("enforcing", [True, False], ids=["enforcing-cni", "non-enforcing-cni"])
def test_observed_matrix_and_drift(tenant_network, tmp_path, enforcing):
    require_binary("nft")
    net = tenant_network(tenants=3)
    a, b, c = net.tenants
    listeners = [net.listen(t, TCP) for t in (a, b, c)]
    denies = [Deny(dst=b.index, src=a.index, port=TCP), Deny(dst=c.index, src=a.index, port=TCP)]
    if enforcing:
        install_denies(net, denies)  # the network plugin does what the policies say
    scenario = run_scenario(net, tmp_path, listeners, denies)  # the manifests always carry the policies
    report = scan(scenario)

    blocked = "filtered" if enforcing else "reachable"
    assert observed(report) == {
        ("tenant-a", "tenant-b", f"TCP/{TCP}"): blocked,
        ("tenant-a", "tenant-c", f"TCP/{TCP}"): blocked,
        ("tenant-b", "tenant-a", f"TCP/{TCP}"): "reachable",
        ("tenant-b", "tenant-c", f"TCP/{TCP}"): "reachable",
        ("tenant-c", "tenant-a", f"TCP/{TCP}"): "reachable",
        ("tenant-c", "tenant-b", f"TCP/{TCP}"): "reachable",
    }
    intended = {(r["from_tenant"], r["to_tenant"]) for r in report["reachability"]["intended"]}
    assert ("tenant-b", "tenant-a") in intended and ("tenant-c", "tenant-b") in intended

    not_enforced = drift(report, "IA407")
    if enforcing:
        assert not_enforced == []
    else:
        assert not_enforced == [("tenant-a/web-0", "tenant-b/web-0"), ("tenant-a/web-0", "tenant-c/web-0")]
        assert {f["severity"] for f in report["findings"] if f["rule_id"] == "IA407"} == {"critical"}
    assert drift(report, "IA408") == []  # nothing the policies allow was filtered
    # all three share one bridge: each tenant sees the others in its neighbour table
    shared = {f["namespace"] for f in report["findings"] if f["rule_id"] == "IA409"}
    assert shared == {"tenant-a", "tenant-b", "tenant-c"}
