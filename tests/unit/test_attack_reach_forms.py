"""Attack: more IPv6 forms that deliver to an embedded IPv4 address, and peer names.

- SIIT's IPv4-translated form (`::ffff:0:a.b.c.d`), the local-use NAT64 prefix
  (`64:ff9b:1::/48`, its /96 layout), 6to4 (`2002:AABB:CCDD::`) and Teredo (server and
  obfuscated client) all carry an IPv4 address; a multicast or broadcast one was accepted.
- `--peer NAME:PORT` was checked only when NAME was a literal: a name resolving to a multicast,
  broadcast or unspecified address was sent to. The resolved address is now checked too.

Nothing is sent: target parsing only, and name resolution is replaced.
"""
from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.probe.latency import PeerError, resolve_peer
from auditor.probe.reach import single_host

FORBIDDEN = [ipaddress.IPv4Network(n) for n in ("0.0.0.0/32", "224.0.0.0/4", "255.255.255.255/32")]


def _teredo(server: ipaddress.IPv4Address, client: ipaddress.IPv4Address) -> str:
    obfuscated = int(client) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (int(server) << 64) | obfuscated))


FORMS = {
    "IPv4-translated": lambda ip: f"::ffff:0:{ip}",
    "local-use NAT64": lambda ip: f"64:ff9b:1::{ip}",
    "6to4": lambda ip: str(ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | 1)),
    "Teredo server": lambda ip: _teredo(ip, ipaddress.IPv4Address("192.0.2.1")),
    "Teredo client": lambda ip: _teredo(ipaddress.IPv4Address("192.0.2.1"), ip),
}


@settings(max_examples=60, deadline=None)
@given(net=st.sampled_from(FORBIDDEN), offset=st.integers(0, 2**28 - 1), form=st.sampled_from(sorted(FORMS)))
def test_a_forbidden_ipv4_address_in_any_carrying_form_is_refused(net, offset, form):
    ip = net.network_address + offset % net.num_addresses
    with pytest.raises(ValueError):
        single_host(FORMS[form](ip))


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_single_host_in_those_forms_is_allowed(form):
    address = FORMS[form](ipaddress.IPv4Address("10.1.2.3"))
    assert single_host(address) == str(ipaddress.ip_address(address))


@pytest.mark.parametrize("resolved", ["224.0.0.251", "255.255.255.255", "0.0.0.0", "ff02::1", "::ffff:239.1.1.1"])
def test_a_peer_name_resolving_to_no_single_host_is_refused(monkeypatch, resolved):
    family = socket.AF_INET6 if ":" in resolved else socket.AF_INET
    sockaddr = (resolved, 9, 0, 0) if family == socket.AF_INET6 else (resolved, 9)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(family, socket.SOCK_DGRAM, 17, "", sockaddr)])
    with pytest.raises(PeerError, match="single host"):
        resolve_peer("echo.internal", 9)


def test_a_peer_name_resolving_to_a_host_is_kept(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *a, **k: [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("10.0.0.7", 9))])
    assert resolve_peer("echo.internal", 9) == (socket.AF_INET, ("10.0.0.7", 9))
