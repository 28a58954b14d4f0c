"""`probe --reach` and `--peer`: an IPv4 address written in any IPv6 form gets the IPv4 address's verdict.

Nothing is sent: only the targets' validation and the option parsing run.
"""
from __future__ import annotations

import argparse
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.cli import _peer
from auditor.probe.reach import TargetError, parse_targets

# Every IPv4 range a reach target or a peer may not be: not a single host.
FORBIDDEN = [ipaddress.IPv4Network(n) for n in ("0.0.0.0/32", "224.0.0.0/4", "255.255.255.255/32")]


def _hex(ip: ipaddress.IPv4Address) -> str:
    packed = ip.packed
    return f"{packed[0] << 8 | packed[1]:x}:{packed[2] << 8 | packed[3]:x}"


# name -> (IPv6 spelling of an IPv4 address, whether the probe sends to the IPv4 address itself)
FORMS = {
    "mapped dotted": (lambda ip: f"::ffff:{ip}", True),
    "mapped hex": (lambda ip: f"::ffff:{_hex(ip)}", True),
    "mapped upper case": (lambda ip: f"::FFFF:{_hex(ip).upper()}", True),
    "mapped written out": (lambda ip: f"0:0:0:0:0:ffff:{_hex(ip)}", True),
    "mapped zero-padded": (
        lambda ip: "0000:" * 5 + "ffff:" + ":".join(f"{int(h, 16):04x}" for h in _hex(ip).split(":")),
        True,
    ),
    "mapped dotted, written out": (lambda ip: f"0:0:0:0:0:FFFF:{ip}", True),
    "NAT64 dotted": (lambda ip: f"64:ff9b::{ip}", False),
    "NAT64 hex": (lambda ip: f"64:ff9b::{_hex(ip)}", False),
    "IPv4-compatible": (lambda ip: f"::{ip}", False),
}


def forbidden_ipv4() -> st.SearchStrategy[ipaddress.IPv4Address]:
    return st.sampled_from(FORBIDDEN).flatmap(
        lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address))


def any_ipv4() -> st.SearchStrategy[ipaddress.IPv4Address]:
    return st.one_of(forbidden_ipv4(), st.ip_addresses(v=4), st.sampled_from(
        [ipaddress.IPv4Address(a) for a in ("169.254.169.254", "127.0.0.1", "10.0.0.1", "0.0.0.1", "223.255.255.255",
                                            "240.0.0.0", "255.255.255.254")]))


def _fail(field: str, problem: str) -> TargetError:
    return TargetError(f"targets.json: {field}: {problem}")


def reach_address(address: str) -> str | None:
    """The address the target is tested at, or None when the targets file is refused."""
    try:
        [target] = parse_targets(
            {"targets": [{"tenant": "t", "address": address, "port": 80, "protocol": "TCP"}]}, _fail
        )
    except TargetError as exc:
        assert "address" in str(exc)
        return None
    return target.address


def peer_address(address: str) -> str | None:
    try:
        return _peer(f"[{address}]:7" if ":" in address else f"{address}:7")[0]
    except argparse.ArgumentTypeError:
        return None


@settings(max_examples=300, deadline=None)
@given(ip=any_ipv4(), form=st.sampled_from(sorted(FORMS)))
def test_an_ipv6_form_of_an_ipv4_address_gets_its_verdict(ip, form):
    spell, same_host = FORMS[form]
    refused = any(ip in net for net in FORBIDDEN)
    for check in (reach_address, peer_address):
        assert (check(str(ip)) is None) is refused
        found = check(spell(ip))
        if refused:
            assert found is None, f"{form} of {ip} accepted by {check.__name__}"
        elif same_host:
            assert found == str(ip)  # tested and reported as the IPv4 address it is
        else:
            assert found == str(ipaddress.ip_address(spell(ip)))


@settings(max_examples=200, deadline=None)
@given(ip=forbidden_ipv4(), form=st.sampled_from(sorted(FORMS)))
def test_every_forbidden_ipv4_range_is_refused_in_every_ipv6_form(ip, form):
    address = FORMS[form][0](ip)
    assert reach_address(address) is None
    assert peer_address(address) is None


def test_names_given_as_peers_are_resolved_later_not_refused():
    assert peer_address("echo.internal") == "echo.internal"
