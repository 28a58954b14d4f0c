"""Bounded active reachability tests: can this pod reach the listed targets, and how does it fail?

`load_targets(path)` reads and validates a targets file
(`{"targets": [{"tenant", "address", "port", "protocol", "namespace"?, "pod"?}]}`);
`run_reach(targets)` tests every target concurrently and returns one ProbeReport `reach`
entry per target, in file order.

Safety, by construction:
- traffic goes only to the listed addresses, which must be IP literals (no name is resolved, so no
  DNS server is contacted) and may not be unspecified, multicast or the limited broadcast address,
  nor an IPv6 form of one (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96); an IPv4-mapped
  address is tested, and reported, as the IPv4 address it is;
- nothing is sent beyond a TCP handshake (closed at once, no payload), one small UDP datagram,
  or one ICMP echo request with the same small payload;
- at most MAX_TARGETS targets per run, at most MAX_IN_FLIGHT at a time, each bounded by its timeout,
  and the whole run by a wall-clock deadline; targets not started by then are reported as `error`.

Results:
- `reachable`: a TCP handshake completed, a UDP reply or an ICMP echo reply came back;
- `refused`: something answered no — a TCP RST, or an ICMP port unreachable (ECONNREFUSED);
- `filtered`: no answer in time, or EHOSTUNREACH/ENETUNREACH, or the probe's own namespace
  firewall dropped the packet (EPERM); for UDP, silence is ambiguous (a listener may ignore us);
- `error`: the test could not be run (e.g. no ICMP socket available); `detail` says why.
"""
from __future__ import annotations

import errno
import ipaddress
import itertools
import json
import math
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..sources.files import open_regular

MAX_TARGETS = 4096
MAX_IN_FLIGHT = 64
MAX_FILE_BYTES = 4 * 2**20
DEFAULT_TIMEOUT = 1.0
MAX_TIMEOUT = 10.0
PAYLOAD = b"isolation-audit-probe"
PROTOCOLS = ("TCP", "UDP", "ICMP")
_FIELDS = {"tenant", "address", "port", "protocol", "namespace", "pod"}


class TargetError(ValueError):
    """A targets file that cannot be used; the message is one line naming the file and the field."""


@dataclass(frozen=True)
class Target:
    tenant: str
    address: str
    port: int | None
    protocol: str  # TCP, UDP or ICMP
    namespace: str | None = None
    pod: str | None = None

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.address)


# --- the targets file ------------------------------------------------------------------------------

def load_targets(path: str) -> list[Target]:
    """The validated targets of `path`; raises TargetError with `path: field: problem`."""
    def fail(field: str, problem: str) -> TargetError:
        return TargetError(f"{path}: {field}: {problem}")

    try:
        with open_regular(path) as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TargetError(f"{path}: cannot read reach targets: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail("(file)", f"larger than {MAX_FILE_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        where = f"line {exc.lineno}: " if isinstance(exc, json.JSONDecodeError) else ""
        raise fail("(file)", f"invalid JSON: {where}{getattr(exc, 'msg', exc)}") from None
    return parse_targets(document, fail)


def parse_targets(document: Any, fail: Callable[[str, str], TargetError]) -> list[Target]:
    if not isinstance(document, dict):
        raise fail("(top level)", 'must be an object {"targets": [...]}')
    extra = sorted(set(document) - {"targets"})
    if extra:
        raise fail(extra[0], "unknown field (expected only 'targets')")
    if "targets" not in document:
        raise fail("targets", "missing")
    items = document["targets"]
    if not isinstance(items, list):
        raise fail("targets", f"must be a list, not {_kind(items)}")
    if len(items) > MAX_TARGETS:
        raise fail("targets", f"{len(items)} targets; at most {MAX_TARGETS} per run")
    return [_target(i, item, fail) for i, item in enumerate(items)]


def _target(i: int, item: Any, fail: Callable[[str, str], TargetError]) -> Target:
    at = f"targets[{i}]"
    if not isinstance(item, dict):
        raise fail(at, f"must be an object, not {_kind(item)}")
    extra = sorted(set(item) - _FIELDS)
    if extra:
        raise fail(f"{at}.{extra[0]}", f"unknown field (expected {', '.join(sorted(_FIELDS))})")
    for name in ("tenant", "address", "protocol"):
        if name not in item:
            raise fail(f"{at}.{name}", "missing")
    for name in ("tenant", "address", "protocol", "namespace", "pod"):
        value = item.get(name)
        optional = name in ("namespace", "pod")
        if (value is None and optional) or (isinstance(value, str) and value.strip()):
            continue
        raise fail(f"{at}.{name}", f"must be a non-empty string{' or null' if optional else ''}, not {_kind(value)}")
    protocol = item["protocol"]
    if protocol not in PROTOCOLS:
        raise fail(f"{at}.protocol", f"{protocol!r} is not one of TCP, UDP, ICMP")
    try:
        ipaddress.ip_address(item["address"])
    except ValueError:
        raise fail(f"{at}.address", f"{item['address']!r} is not an IP address (names are not resolved)") from None
    try:
        address = single_host(item["address"])
    except ValueError as exc:
        raise fail(f"{at}.address", str(exc)) from None
    port = item.get("port")
    if protocol == "ICMP":
        if port is not None:
            raise fail(f"{at}.port", "must be null (or absent) for ICMP")
    elif "port" not in item:
        raise fail(f"{at}.port", f"missing (required for {protocol})")
    elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise fail(f"{at}.port", f"must be an integer 1-65535 for {protocol}, not {port!r}")
    return Target(item["tenant"], address, port, protocol, item.get("namespace"), item.get("pod"))


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# IPv6 prefixes whose last 32 bits are an IPv4 address the packet is delivered to: the NAT64
# well-known prefix and the local-use one in its /96 layout (through a translator), SIIT's
# IPv4-translated form and the deprecated IPv4-compatible one. 6to4 and Teredo carry theirs
# elsewhere (`sixtofour`, `teredo`).
_CARRYING_IPV4 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96",
                                                           "::/96"))


def single_host(address: str) -> str:
    """`address` as the probe sends to it, when it is an IP literal (names pass unchanged and
    are resolved later): an IPv4-mapped IPv6 address, in any spelling, is its IPv4 address.
    ValueError when the address, or the IPv4 address an IPv6 form carries, is unspecified,
    multicast or the limited broadcast address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    carried = [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) for net in _CARRYING_IPV4 if ip.version == 6 and ip in net]
    if isinstance(ip, ipaddress.IPv6Address):
        carried += [v4 for v4 in (ip.sixtofour, *(ip.teredo or ())) if v4 is not None]
    for candidate in (ip, *carried):
        if candidate.is_unspecified or candidate.is_multicast or candidate == _BROADCAST:
            carrying = f" (which carries {candidate})" if candidate is not ip else ""
            raise ValueError(f"{ip}{carrying} would not be a single host (unspecified, multicast or broadcast)")
    return str(ip)


def _kind(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


# --- running the tests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    result: str  # reachable | refused | filtered | error
    detail: str
    rtt_ms: float | None = None


def run_reach(targets: Sequence[Target], timeout: float = DEFAULT_TIMEOUT, workers: int = MAX_IN_FLIGHT,
              deadline_seconds: float | None = None) -> list[dict]:
    """One reach entry per target, in order. Each target is bounded by `timeout`; the whole run by
    `deadline_seconds` (default: the time the targets need at full concurrency, plus 5 s)."""
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be in (0, {MAX_TIMEOUT}] seconds")
    if len(targets) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} targets per run")
    workers = max(1, min(workers, MAX_IN_FLIGHT, len(targets) or 1))
    if deadline_seconds is None:
        deadline_seconds = math.ceil(len(targets) / workers) * timeout * 1.5 + 5.0
    deadline = time.monotonic() + deadline_seconds

    def run(target: Target) -> Outcome:
        if time.monotonic() >= deadline:
            return Outcome("error", f"not tested: the run's time bound of {deadline_seconds:.1f} s was reached")
        try:
            return _TESTS[target.protocol](target, timeout)
        except Exception as exc:  # one target's surprise is that target's error, never the run's
            return Outcome("error", f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reach") as pool:
        outcomes = list(pool.map(run, targets))
    return [entry(t, o) for t, o in zip(targets, outcomes, strict=True)]


def entry(target: Target, outcome: Outcome) -> dict:
    out: dict[str, Any] = {"tenant": target.tenant, "address": target.address, "port": target.port,
                           "protocol": target.protocol, "result": outcome.result}
    if target.namespace is not None:
        out["namespace"] = target.namespace
    if target.pod is not None:
        out["pod"] = target.pod
    if outcome.rtt_ms is not None:
        out["rtt_ms"] = outcome.rtt_ms
    out["detail"] = outcome.detail
    return out


def _family(target: Target) -> int:
    return socket.AF_INET6 if target.ip.version == 6 else socket.AF_INET


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def classify_errno(code: int, protocol: str) -> tuple[str, str]:
    """(result, detail) for a socket error seen while testing a target."""
    name = errno.errorcode.get(code, str(code))
    if code == errno.ECONNREFUSED:
        return "refused", ("connection refused (TCP RST or ICMP port unreachable)" if protocol == "TCP"
                           else "ICMP port unreachable: nothing listens on that port")
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "filtered", f"{name}: no route or no answer at the link layer (or an ICMP unreachable)"
    if code == errno.EPERM:
        return "filtered", "EPERM: blocked by a firewall in the probe's own network namespace"
    if code == errno.ETIMEDOUT:
        return "filtered", "ETIMEDOUT: no answer"
    return "error", f"{name}: {os.strerror(code)}"


def _tcp(target: Target, timeout: float) -> Outcome:
    with socket.socket(_family(target), socket.SOCK_STREAM) as s:
        s.setblocking(False)
        started = time.perf_counter()
        code = s.connect_ex((target.address, target.port))
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            poller = select.poll()
            poller.register(s, select.POLLOUT | select.POLLERR | select.POLLHUP)
            if not poller.poll(timeout * 1000):
                return Outcome("filtered", f"no answer to the TCP SYN within {timeout:g} s (dropped, or no host)")
            code = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        rtt = _ms(started)
        if code == 0:  # handshake done: close at once, nothing sent
            return Outcome("reachable", "TCP handshake completed; closed without sending data", rtt)
        result, detail = classify_errno(code, "TCP")
        return Outcome(result, detail, rtt if result == "refused" else None)


def _udp(target: Target, timeout: float) -> Outcome:
    with socket.socket(_family(target), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        started = time.perf_counter()
        try:
            s.connect((target.address, target.port))  # replies from anyone else are not ours
            s.send(PAYLOAD)
            reply = s.recv(512)
        except TimeoutError:
            return Outcome("filtered", f"no UDP reply within {timeout:g} s; silence is ambiguous for UDP "
                                       "(dropped, or open but not answering this datagram)")
        except OSError as exc:
            if exc.errno is None:
                raise
            result, detail = classify_errno(exc.errno, "UDP")
            return Outcome(result, detail, _ms(started) if result == "refused" else None)
        return Outcome("reachable", f"UDP reply of {len(reply)} bytes", _ms(started))


# ICMP: a raw socket when NET_RAW allows, else an unprivileged ICMP datagram ("ping") socket.

_ids = itertools.count(os.getpid() & 0xFFFF)
_ids_lock = threading.Lock()


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo(v6: bool, ident: int, seq: int) -> bytes:
    kind = 128 if v6 else 8
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    # ICMPv6 checksums cover a pseudo-header: the kernel fills them in for raw and ping sockets.
    check = 0 if v6 else _checksum(header + PAYLOAD)
    return struct.pack("!BBHHH", kind, 0, check, ident, seq) + PAYLOAD


def _icmp(target: Target, timeout: float) -> Outcome:
    v6 = target.ip.version == 6
    family, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP)
    with _ids_lock:
        ident = next(_ids) & 0xFFFF
    seq = int.from_bytes(os.urandom(2), "big")
    reasons = []
    for kind, how in ((socket.SOCK_RAW, "raw ICMP socket, NET_RAW"),
                      (socket.SOCK_DGRAM, "unprivileged ICMP datagram socket")):
        try:
            s = socket.socket(family, kind, proto)
        except OSError as exc:  # EPERM without NET_RAW; EACCES outside net.ipv4.ping_group_range
            reasons.append(f"{how}: {errno.errorcode.get(exc.errno or 0, exc.errno)}")
            continue
        with s:
            return _ping(s, target, kind == socket.SOCK_RAW, v6, ident, seq, timeout, how)
    return Outcome("error", "no ICMP socket available (" + "; ".join(reasons) +
                   "): needs NET_RAW or the group in net.ipv4.ping_group_range")


def _ping(s: socket.socket, target: Target, raw: bool, v6: bool, ident: int, seq: int, timeout: float,
          how: str) -> Outcome:
    reply_type = 129 if v6 else 0
    started = time.perf_counter()
    end = time.monotonic() + timeout
    try:
        if raw:
            s.sendto(_echo(v6, ident, seq), (target.address, 0))
        else:  # the kernel sets the identifier to the socket's and delivers only its replies
            s.connect((target.address, 0))
            s.send(_echo(v6, 0, seq))
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([s], [], [], left)
            if not ready:
                break
            data, peer = s.recvfrom(2048)
            if ipaddress.ip_address(peer[0].split("%")[0]) != target.ip:
                continue  # a raw socket sees every ICMP message; only the target's answer counts
            if raw and not v6:
                data = data[(data[0] & 0x0F) * 4:]  # raw IPv4 sockets include the IP header
            if len(data) < 8:
                continue
            kind, code, _, rid, rseq = struct.unpack("!BBHHH", data[:8])
            if kind == reply_type and rseq == seq and (rid == ident or not raw):
                return Outcome("reachable", f"ICMP echo reply (via {how})", _ms(started))
    except OSError as exc:
        if exc.errno is None:
            raise
        result, detail = classify_errno(exc.errno, "ICMP")
        return Outcome(result, f"{detail} (via {how})")
    return Outcome("filtered", f"no ICMP echo reply within {timeout:g} s (via {how})")


_TESTS: dict[str, Callable[[Target, float], Outcome]] = {"TCP": _tcp, "UDP": _udp, "ICMP": _icmp}
