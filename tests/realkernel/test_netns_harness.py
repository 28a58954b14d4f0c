"""Tenant namespaces on a bridge really talk to each other, a real nftables rule really cuts them off,
and nothing is left behind."""
from __future__ import annotations

import ipaddress

import pytest
from harness.prereq import require_binary
from pyroute2 import IPRoute

pytestmark = pytest.mark.realkernel

PORT = 8080


def test_deny_rule_in_destination_namespace_blocks_tcp_from_one_tenant(netns_harness):
    require_binary("nft")

    with netns_harness.TenantNetwork(tenants=3) as net:
        a, b, c = net.tenants
        net.listen(b, PORT)

        before = net.connect(a, b, PORT)
        assert before.ok, before.detail
        assert before.detail.split()[-1] == a.address  # the listener saw A's own address

        net.deny_tcp(dst=b, src=a, port=PORT)

        after = net.connect(a, b, PORT, timeout=1)
        assert not after.ok
        assert "timed out" in after.detail  # dropped, not refused
        assert net.connect(c, b, PORT).ok  # the rule is about A only
        assert len(netns_harness.leftovers(net.prefix)) == 4 + 1  # fabric + 3 tenants, listener

    assert netns_harness.wait_for_no_leftovers(net.prefix) == []


def test_reject_refuses_tcp_and_leaves_udp_alone(tenant_network):
    require_binary("nft")
    net = tenant_network(tenants=2)
    a, b = net.tenants
    net.listen(b, PORT)
    net.listen(b, PORT, protocol="udp")

    net.deny_tcp(dst=b, src=a, verdict="reject with tcp reset")

    refused = net.connect(a, b, PORT, timeout=1)
    assert not refused.ok and "ConnectionRefusedError" in refused.detail
    echo = net.connect(a, b, PORT, protocol="udp")
    assert echo.ok and echo.detail == "ping"


def test_test_addresses_exist_only_inside_the_tenant_namespaces(tenant_network):
    net = tenant_network(tenants=1)
    tenant = net[0]
    subnet = ipaddress.ip_interface(f"{tenant.address}/{tenant.prefixlen}").network

    with IPRoute(netns=tenant.netns) as ipr:
        routes = [(r.get("dst"), r.get("dst_len")) for r in ipr.get_routes(family=2, table=254)]
    assert routes == [(str(subnet.network_address), subnet.prefixlen)]  # no default route out
    with IPRoute() as root:
        root_addresses = [ipaddress.ip_address(a.get("address")) for a in root.get_addr(family=2)]
    assert not [a for a in root_addresses if a in subnet]


def test_teardown_also_happens_when_the_body_fails(netns_harness):
    with pytest.raises(ZeroDivisionError):
        with netns_harness.TenantNetwork(tenants=2) as net:
            net.listen(0, PORT)
            raise ZeroDivisionError("the body fails")

    assert netns_harness.wait_for_no_leftovers(net.prefix) == []
