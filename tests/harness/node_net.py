"""The network namespace a real-node cluster lives in, and a thread that works inside it.

Everything of the cluster (etcd, kube-apiserver, controllers, containerd, kubelets,
kube-router, the pods' bridge) runs in one namespace created here, so
- the nodes' addresses, the pod network, kube-router's iptables rules and ipsets exist only
  there and vanish with it;
- nothing in it has a route out: it has loopback, a veth pair (both ends inside) holding the
  apiserver's and the nodes' addresses, the pods' bridges, and no default route, so no traffic
  can leave it.
The test process reaches the API through `NetnsWorker`, a thread that has joined the
namespace (namespaces are per thread in Linux; sockets and child processes it creates
belong to the namespace). CLI runs are wrapped with `nsenter --net`.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import IPRoute, netns

PREFIX = "k8sia-node-"  # namespace names carry it, for leftovers()
NODE_LINK = "node0"
_NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
_SYSCTLS = {
    # pods on one bridge must pass iptables, or NetworkPolicy between them is never enforced
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/ipv4/ip_forward": "1",
}

T = TypeVar("T")


class NetnsError(RuntimeError):
    pass


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


class NetnsWorker:
    """One thread inside the namespace; `call` runs a function there and returns its result."""

    def __init__(self, path: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns",
                                        initializer=_setns, initargs=(path,))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class NodeNetwork:
    """A fresh namespace with loopback up and `addresses` (the apiserver's and the nodes' IPs) on a veth."""

    def __init__(self, name: str, addresses: Sequence[str]) -> None:
        if not name.startswith(PREFIX):
            raise ValueError(f"namespace name must start with {PREFIX}")
        self.name = name
        self.path = str(_NETNS_DIR / name)
        self.addresses = tuple(addresses)
        self.worker: NetnsWorker | None = None

    def create(self) -> None:
        netns.create(self.name)
        with IPRoute(netns=self.name) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            # a veth pair with both ends here: this kernel has no dummy links
            ipr.link("add", ifname=NODE_LINK, kind="veth", peer=NODE_LINK + "p")
            index = ipr.link_lookup(ifname=NODE_LINK)[0]
            for address in self.addresses:
                ipr.addr("add", index=index, address=address, prefixlen=32)
            for link in (NODE_LINK, NODE_LINK + "p"):
                ipr.link("set", index=ipr.link_lookup(ifname=link)[0], state="up")
        for key, value in _SYSCTLS.items():
            self.run(["sysctl", "-q", "-w", f"{key.replace('/', '.')}={value}"])
        self.worker = NetnsWorker(self.path)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv run inside the namespace (same mount namespace: kubelet and containerd must
        see each other's mounts)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.wrap(argv), capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise NetnsError(f"{argv[0]} in {self.name} failed: {proc.stderr.strip()[-500:]}")
        return proc

    def delete(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if Path(self.path).exists():
            netns.remove(self.name)


def leftovers() -> list[str]:
    if not _NETNS_DIR.is_dir():
        return []
    return [f"network namespace {p.name}" for p in sorted(_NETNS_DIR.glob(PREFIX + "*"))]
