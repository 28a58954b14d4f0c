"""`probe --reach` run inside a tenant's network namespace against other tenants on one bridge: real
handshakes, RSTs, ICMP port unreachables, silences and nftables verdicts.

Only addresses inside the namespaces the test creates are contacted (the tenants' and one unused
address of the test subnet, which has no route out of it).
"""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from harness.prereq import require_binary
from harness.reach_scenario import Deny, install_denies, probe, run_scenario
from pyroute2 import IPRoute

pytestmark = pytest.mark.realkernel

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text()),
    format_checker=jsonschema.FormatChecker())
TCP, UDP = 8080, 5353


def run(net, tenant, tmp_path: Path, targets: list[dict], *args: str, name: str = "targets.json") -> dict:
    path = tmp_path / name
    path.write_text(json.dumps({"targets": targets}))
    done = probe(net, tenant, path, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    VALIDATOR.validate(report)
    assert report["probe"]["errors"] == [], report["probe"]["errors"]
    assert len(report["reach"]) == len(targets)
    return report


def target(tenant: str, address: str, port, protocol: str) -> dict:
    return {"tenant": tenant, "address": address, "port": port, "protocol": protocol}


def results(report: dict) -> dict:
    return {(e["address"], e["port"], e["protocol"]): e for e in report["reach"]}


def unused_address(net) -> str:
    """An address of the test subnet that no tenant has: nothing answers ARP for it."""
    first = net[0]
    subnet = ipaddress.ip_interface(f"{first.address}/{first.prefixlen}").network
    taken = {t.address for t in net.tenants}
    return str(next(h for h in reversed(list(subnet.hosts())) if str(h) not in taken))


def mac_of(tenant) -> str:
    with IPRoute(netns=tenant.netns) as ipr:
        return ipr.get_links(ipr.link_lookup(ifname=tenant.ifname)[0])[0].get("IFLA_ADDRESS")


def test_reach_from_inside_a_tenant_then_a_drop_rule_filters(tenant_network, tmp_path):
    require_binary("nft")
    net = tenant_network(tenants=3)
    a, b, c = net.tenants
    net.listen(b, TCP)
    net.listen(b, UDP, protocol="udp")
    nobody = unused_address(net)
    targets = [target("b", b.address, TCP, "TCP"), target("b", b.address, 9999, "TCP"),
               target("b", b.address, UDP, "UDP"), target("b", b.address, UDP + 1, "UDP"),
               target("c", c.address, None, "ICMP"),
               target("nobody", nobody, None, "ICMP"), target("nobody", nobody, TCP, "TCP")]
    targets[0].update(namespace="tenant-b", pod="web-0")

    report = run(net, a, tmp_path, targets)
    seen = results(report)
    by = lambda address, port, protocol: seen[(address, port, protocol)]  # noqa: E731

    assert by(b.address, TCP, "TCP")["result"] == "reachable"
    assert (by(b.address, TCP, "TCP")["namespace"], by(b.address, TCP, "TCP")["pod"]) == ("tenant-b", "web-0")
    assert by(b.address, 9999, "TCP")["result"] == "refused"  # B's kernel answers the SYN with a RST
    assert by(b.address, UDP, "UDP")["result"] == "reachable"  # the echo server sent the datagram back
    # A closed UDP port on a live Linux host is not silent: B's kernel answers with ICMP port
    # unreachable, which the connected UDP socket reports as ECONNREFUSED. (With no firewall in the
    # way and one datagram per port, the ICMP rate limit does not get in the way.)
    assert by(b.address, UDP + 1, "UDP")["result"] == "refused"
    assert by(c.address, None, "ICMP")["result"] == "reachable"
    assert "raw ICMP socket" in by(c.address, None, "ICMP")["detail"]  # root in A: NET_RAW
    # No host: ARP goes unanswered, so nothing comes back within the 1 s timeout (the kernel's own
    # EHOSTUNREACH would only arrive after its ~3 s of ARP probes).
    assert by(nobody, None, "ICMP")["result"] == "filtered"
    assert by(nobody, TCP, "TCP")["result"] == "filtered"
    for e in report["reach"]:
        assert ("rtt_ms" in e) == (e["result"] in ("reachable", "refused")), e

    network = report["network"]
    eth0 = next(i for i in network["interfaces"] if i["name"] == a.ifname)
    assert eth0["addresses"][0] == f"{a.address}/{a.prefixlen}" and eth0["mac"] == mac_of(a)
    assert {"dst": str(ipaddress.ip_interface(f"{a.address}/{a.prefixlen}").network), "gateway": None,
            "dev": a.ifname} in [{k: r[k] for k in ("dst", "gateway", "dev")} for r in network["routes"]]
    neighbours = {n["ip"]: n for n in network["neighbours"]}
    # B and C answered ARP: they share A's broadcast domain, and the probe can say so.
    for other in (b, c):
        assert neighbours[other.address]["mac"] == mac_of(other)
        assert neighbours[other.address]["state"] in ("reachable", "stale", "delay", "probe")
    assert neighbours[nobody]["mac"] is None and neighbours[nobody]["state"] in ("incomplete", "failed")

    # B drops TCP from A: the handshake now meets silence.
    net.deny_tcp(dst=b, src=a, port=TCP)
    after = results(run(net, a, tmp_path, targets[:3], name="after.json"))
    assert after[(b.address, TCP, "TCP")]["result"] == "filtered"
    assert after[(b.address, 9999, "TCP")]["result"] == "refused"  # the rule is about port 8080 only
    assert after[(b.address, UDP, "UDP")]["result"] == "reachable"  # and about TCP only
    from_c = results(run(net, c, tmp_path, targets[:1], name="from-c.json"))
    assert from_c[(b.address, TCP, "TCP")]["result"] == "reachable"  # and about A only


def test_reject_verdicts_are_refused_or_filtered_by_what_they_send(tenant_network, tmp_path):
    require_binary("nft")
    net = tenant_network(tenants=2)
    a, b = net.tenants
    verdicts = {8081: "reject", 8082: "reject with tcp reset", 8083: "reject with icmp type admin-prohibited",
                8084: "drop"}
    for port in verdicts:
        net.listen(b, port)
    install_denies(net, [Deny(dst=b.index, src=a.index, port=p, verdict=v) for p, v in verdicts.items()])

    seen = results(run(net, a, tmp_path, [target("b", b.address, p, "TCP") for p in verdicts]))
    result = {p: seen[(b.address, p, "TCP")] for p in verdicts}
    # plain `reject` sends ICMP port unreachable for TCP in an inet table: Linux turns it into ECONNREFUSED
    assert result[8081]["result"] == "refused"
    assert result[8082]["result"] == "refused"
    # admin-prohibited is an ICMP "communication administratively filtered": EHOSTUNREACH, an answer
    # that says "filtered" rather than "nothing listens"
    assert result[8083]["result"] == "filtered" and result[8083]["detail"].startswith("EHOSTUNREACH")
    assert result[8084]["result"] == "filtered" and "no answer" in result[8084]["detail"]


def test_icmp_without_net_raw_uses_the_unprivileged_ping_socket(tenant_network, tmp_path):
    require_binary("setpriv")
    net = tenant_network(tenants=2)
    a, b = net.tenants
    ping_range = Path("/proc/sys/net/ipv4/ping_group_range")
    host_range = ping_range.read_text()
    no_raw = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--"]
    targets = [target("b", b.address, None, "ICMP")]

    def icmp_from_a_without_net_raw() -> dict:
        path = tmp_path / "icmp.json"
        path.write_text(json.dumps({"targets": targets}))
        done = net.exec(a, no_raw + probe_argv(path))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        VALIDATOR.validate(report)
        assert "NET_RAW" not in report["privileges"]["capabilities_effective"]
        return report["reach"][0]

    # A new network namespace starts with ping_group_range "1 0": nobody may open a ping socket.
    first = icmp_from_a_without_net_raw()
    assert first["result"] == "error", first
    assert "raw ICMP socket, NET_RAW: EPERM" in first["detail"] and "datagram socket: EACCES" in first["detail"]

    # The sysctl is per network namespace: allow group 0 in A only.
    done = net.exec(a, ["sh", "-c", f"echo '0 0' > {ping_range}"])
    assert done.returncode == 0, done.stderr
    second = icmp_from_a_without_net_raw()
    assert second["result"] == "reachable" and "unprivileged ICMP datagram socket" in second["detail"], second
    assert ping_range.read_text() == host_range  # the host's setting was not touched


def python_argv(*args: str) -> list[str]:
    """This checkout's auditor, whichever one is installed."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return ["env", f"PYTHONPATH={path}", sys.executable, *args]


def probe_argv(path: Path) -> list[str]:
    return python_argv("-m", "auditor", "probe", "--reach", str(path))


def test_timing_of_1000_tcp_targets(tenant_network, tmp_path):
    net = tenant_network(tenants=2)
    a, b = net.tenants
    base = 20000
    listening = list(range(base, base + 1000, 100))  # 10 of the 1,000 ports listen
    for port in listening:
        net.listen(b, port)
    targets = [target("b", b.address, port, "TCP") for port in range(base, base + 1000)]

    started = time.monotonic()
    report = run(net, a, tmp_path, targets)
    elapsed = time.monotonic() - started

    counts = {r: sum(e["result"] == r for e in report["reach"]) for r in ("reachable", "refused", "filtered", "error")}
    assert counts == {"reachable": 10, "refused": 990, "filtered": 0, "error": 0}
    assert {e["port"] for e in report["reach"] if e["result"] == "reachable"} == set(listening)
    print(f"\nprobe --reach, 1,000 TCP targets (10 listening): {elapsed:.2f} s wall clock including "
          f"interpreter start-up; the probe itself reports {report['probe']['duration_seconds']:.2f} s")


def test_scenario_helper_writes_manifests_and_reports_that_scan_reads(tenant_network, tmp_path):
    require_binary("nft")
    net = tenant_network(tenants=3)
    a, b, c = net.tenants
    listeners = [net.listen(t, TCP) for t in (a, b, c)] + [net.listen(b, UDP, protocol="udp")]
    denies = [Deny(dst=b.index, src=a.index, port=TCP)]
    install_denies(net, denies)

    s = run_scenario(net, tmp_path, listeners, denies)

    assert s.result(0, 1, TCP) == "filtered"  # A -> B dropped by the rule
    assert s.result(2, 1, TCP) == "reachable"
    assert s.result(0, 1, UDP, "UDP") == "reachable"
    assert s.result(1, 0, TCP) == "reachable"  # the rule is in B, on B's input
    for ns, report in s.reports_by_namespace.items():
        VALIDATOR.validate(report)
        assert (report["probe"]["namespace"], report["probe"]["pod"], report["probe"]["node"]) == (ns, "web-0",
                                                                                                  "netns-node")
        assert {e["namespace"] for e in report["reach"]} == set(s.namespaces) - {ns}
    items = json.loads((s.manifests / "cluster.json").read_text())["items"]
    assert [i["kind"] for i in items].count("NetworkPolicy") == 1
    pods = {i["metadata"]["namespace"]: i["status"]["podIP"] for i in items if i["kind"] == "Pod"}
    assert pods == dict(zip(s.namespaces, (t.address for t in net.tenants), strict=True))

    # The files load as scan inputs (0 or 1 = findings gate; 2 = an input could not be read).
    done = subprocess.run(python_argv("-m", "auditor", "scan", str(s.manifests), "--probe-results", str(s.reports),
                                      "--format", "json", "--fail-on", "none"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    scan = json.loads(done.stdout)
    assert scan["coverage"].get("skipped", []) == []
