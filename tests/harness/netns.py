"""Tenant network namespaces joined by a bridge, built with pyroute2, for real network-policy tests.

Layout: the bridge lives in a dedicated "fabric" namespace, so nothing (no address, route or
bridge) is added to the host's root namespace; each tenant namespace has `eth0` (one end of a
veth pair, with an address from the test subnet) whose peer is enslaved to the bridge.

Safety: addresses exist only inside namespaces created here, every connect has a timeout, and
every process started here has a bounded lifetime and is killed on exit.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute, netns

from harness.managed import Managed
from harness.run_id import RUN_ID

PREFIX = "iabn"  # namespace names, bridge names and listener argv carry it, for leftovers()
OURS = PREFIX + RUN_ID  # ... followed by this run's id
_NETNS_DIR = Path("/run/netns")
_EXEC_TIMEOUT = 20.0

# argv: prefix-tag mode port lifetime. Prints "ready" once bound; exits when its lifetime is up.
_SERVER = r"""
import socket, sys, time
tag, mode, port, lifetime = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + lifetime
kind = socket.SOCK_STREAM if mode == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
if mode == "tcp":
    s.listen(16)
s.settimeout(0.2)
print("ready", flush=True)
while time.monotonic() < deadline:
    try:
        if mode == "tcp":
            conn, peer = s.accept()
            with conn:
                conn.settimeout(1)
                conn.sendall(f"{tag} {peer[0]}\n".encode())
        else:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)
    except OSError:  # socket.timeout included: re-check the deadline
        pass
"""

# argv: mode host port timeout. Prints "ok <reply>" or "error <exception>"; never waits unbounded.
_CLIENT = r"""
import socket, sys
mode, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    if mode == "tcp":
        with socket.create_connection((host, port), timeout=timeout) as s:
            reply = s.recv(4096)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(b"ping", (host, port))
            reply = s.recv(4096)
    print("ok", reply.decode(errors="replace").strip())
except OSError as e:
    print("error", type(e).__name__, e)
"""


@dataclass(frozen=True)
class Tenant:
    index: int
    netns: str  # namespace name (under /run/netns)
    address: str
    prefixlen: int
    ifname: str = "eth0"


@dataclass(frozen=True)
class ConnectResult:
    ok: bool
    detail: str  # the server's reply, or the exception the client saw


@dataclass(frozen=True)
class Listener:
    tenant: Tenant
    protocol: str  # "tcp" or "udp"
    port: int
    process: subprocess.Popen


TenantRef = Tenant | int


def _in_netns(name: str, argv: Sequence[str]) -> list[str]:
    # pyroute2 cannot exec a program in a namespace; nsenter enters only the network namespace,
    # leaving the mount namespace (and so the filesystem) as it is.
    return ["nsenter", f"--net={_NETNS_DIR / name}", "--", *argv]


class TenantNetwork(Managed):
    """`with TenantNetwork(2) as net:` gives net.tenants[0..1] on one bridge; all removed on exit."""

    def __init__(self, tenants: int = 2, subnet: str | None = None):
        if not 1 <= tenants <= 200:
            raise ValueError("between 1 and 200 tenants")
        self.prefix = OURS + secrets.token_hex(2)  # every name of this network starts with it
        self.bridge = OURS  # 12 characters, within IFNAMSIZ; alone in the network's fabric namespace
        self.fabric = f"{self.prefix}-fabric"
        network = ipaddress.ip_network(subnet or f"10.213.{secrets.randbelow(256)}.0/24")
        hosts = network.hosts()
        self.tenants = tuple(Tenant(i, f"{self.prefix}-t{i}", str(next(hosts)), network.prefixlen)
                             for i in range(tenants))
        self._listeners: list[Listener] = []

    def __getitem__(self, index: int) -> Tenant:
        return self.tenants[index]

    def _tenant(self, ref: TenantRef) -> Tenant:
        return self.tenants[ref] if isinstance(ref, int) else ref

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        netns.create(self.fabric)
        for tenant in self.tenants:
            netns.create(tenant.netns)
        with IPRoute(netns=self.fabric) as fabric:
            fabric.link("add", ifname=self.bridge, kind="bridge")
            bridge = fabric.link_lookup(ifname=self.bridge)[0]
            for tenant in self.tenants:
                port = f"veth-t{tenant.index}"
                # The peer is created directly inside the tenant namespace: it never appears in ours.
                fabric.link("add", ifname=port, kind="veth",
                            peer={"ifname": tenant.ifname, "net_ns_fd": tenant.netns})
                fabric.link("set", index=fabric.link_lookup(ifname=port)[0], master=bridge, state="up")
            fabric.link("set", index=bridge, state="up")
        for tenant in self.tenants:
            with IPRoute(netns=tenant.netns) as ipr:
                eth = ipr.link_lookup(ifname=tenant.ifname)[0]
                ipr.addr("add", index=eth, address=tenant.address, prefixlen=tenant.prefixlen)
                ipr.link("set", index=eth, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    def stop(self) -> None:
        """Kill listeners, delete links, remove namespaces; try every step, then report failures."""
        errors: list[str] = []
        for listener in self._listeners:
            _stop(listener.process)
        self._listeners.clear()
        if self.fabric in netns.listnetns():
            try:
                with IPRoute(netns=self.fabric) as fabric:
                    for name in [self.bridge] + [f"veth-t{t.index}" for t in self.tenants]:
                        for index in fabric.link_lookup(ifname=name):
                            fabric.link("del", index=index)
            except Exception as e:  # the namespaces below must still go
                errors.append(f"deleting links in {self.fabric}: {e!r}")
        for name in [t.netns for t in self.tenants] + [self.fabric]:
            try:
                if name in netns.listnetns():
                    netns.remove(name)
            except Exception as e:
                errors.append(f"removing netns {name}: {e!r}")
        if errors:
            raise RuntimeError("TenantNetwork teardown: " + "; ".join(errors))

    # --- doing things inside tenants -----------------------------------------------------------

    def exec(self, tenant: TenantRef, argv: Sequence[str], timeout: float = _EXEC_TIMEOUT,
             input: str | None = None) -> subprocess.CompletedProcess:
        """Run argv in the tenant's network namespace; raises subprocess.TimeoutExpired past timeout."""
        return subprocess.run(_in_netns(self._tenant(tenant).netns, argv), input=input,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def listen(self, tenant: TenantRef, port: int, protocol: str = "tcp",
               lifetime: float = 120.0, ready_timeout: float = 10.0) -> Listener:
        """Start a TCP greeter or UDP echo server in the tenant; it exits after `lifetime` seconds."""
        t = self._tenant(tenant)
        argv = [sys.executable, "-c", _SERVER, t.netns, protocol, str(port), str(lifetime)]
        process = subprocess.Popen(_in_netns(t.netns, argv), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        listener = Listener(t, protocol, port, process)
        self._listeners.append(listener)  # registered first, so close() kills it even if not ready
        ready, _, _ = select.select([process.stdout], [], [], ready_timeout)
        line = process.stdout.readline().strip() if ready else ""
        if line != "ready":
            _stop(process)
            raise RuntimeError(f"{protocol} listener in {t.netns}:{port} did not start: "
                               f"{line!r} {process.stderr.read()!r}")
        return listener

    def connect(self, src: TenantRef, dst: TenantRef, port: int, protocol: str = "tcp",
                timeout: float = 2.0) -> ConnectResult:
        """A TCP connect (reading the greeting) or UDP round trip from src to dst's address."""
        address = self._tenant(dst).address
        argv = [sys.executable, "-c", _CLIENT, protocol, address, str(port), str(timeout)]
        out = self.exec(src, argv, timeout=timeout + _EXEC_TIMEOUT)
        if out.returncode != 0:
            raise RuntimeError(f"client failed: {out.stderr}")
        status, _, detail = out.stdout.strip().partition(" ")
        return ConnectResult(status == "ok", detail)

    def nft(self, tenant: TenantRef, ruleset: str) -> None:
        """Load an nftables ruleset (`nft -f` syntax) into the tenant's namespace."""
        out = self.exec(tenant, ["nft", "-f", "-"], input=ruleset)
        if out.returncode != 0:
            raise RuntimeError(f"nft failed in {self._tenant(tenant).netns}: {out.stderr}")

    def iptables(self, tenant: TenantRef, *args: str) -> None:
        out = self.exec(tenant, ["iptables", "-w", "5", *args])
        if out.returncode != 0:
            raise RuntimeError(f"iptables failed in {self._tenant(tenant).netns}: {out.stderr}")

    def deny_tcp(self, dst: TenantRef, src: TenantRef, port: int | None = None,
                 verdict: str = "drop") -> None:
        """In dst's namespace, drop (or reject) TCP from src's address, to `port` or any port."""
        match = f"tcp dport {port}" if port is not None else "meta l4proto tcp"
        self.nft(dst, f"""
            table inet {PREFIX}_policy {{
                chain input {{
                    type filter hook input priority 0; policy accept;
                    ip saddr {self._tenant(src).address} {match} {verdict}
                }}
            }}
        """)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


def leftovers(prefix: str = OURS) -> list[str]:
    """Namespaces, root-namespace links and processes named with `prefix` (default: any network of
    this run's, or pass one TenantNetwork's .prefix). Empty = nothing left behind."""
    found = [f"netns {name}" for name in netns.listnetns() if name.startswith(prefix)]
    with IPRoute() as ipr:
        found += [f"link {link.get('ifname')}" for link in ipr.get_links()
                  if (link.get("ifname") or "").startswith(prefix)]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # exited meanwhile
            continue
        if any(a.startswith(prefix.encode()) or f"/{prefix}".encode() in a for a in argv):
            found.append(f"process {proc.name}: {b' '.join(argv).decode(errors='replace')[:120]}")
    return found


def wait_for_no_leftovers(prefix: str = OURS, timeout: float = 5.0) -> list[str]:
    """leftovers(prefix), polled briefly: killed processes may take a moment to be reaped."""
    deadline = time.monotonic() + timeout
    while (found := leftovers(prefix)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found
