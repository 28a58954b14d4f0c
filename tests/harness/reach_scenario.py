"""A reachability scenario on a TenantNetwork: Kubernetes manifests that describe it, and the
ProbeReports that `probe --reach` writes from inside every tenant — so that
`scan MANIFESTS --probe-results REPORTS` can be asserted end to end (intended versus observed).

    net = tenant_network(tenants=3)
    listeners = [net.listen(1, 8080), net.listen(2, 8080)]
    denies = [Deny(dst=1, src=0, port=8080)]          # B drops TCP/8080 from A
    install_denies(net, denies)                        # the real nftables rules
    s = run_scenario(net, tmp_path, listeners, denies)  # manifests mirror them (mirror=False: none)
    scan(s.manifests, "--probe-results", s.reports)

Tenant i is namespace `namespaces[i]` (default tenant-a, tenant-b, ...) with one Pod `web-0` whose
status.podIP is the tenant's address. Each tenant's probe targets every *other* tenant's listeners
and is run with --namespace/--pod/--node set; its report is REPORTS/<namespace>.json.

The mirrored NetworkPolicy (in each destination namespace that has denies) allows ingress from every
namespace except the denied sources on all ports, and from each denied source every port but the
denied TCP ones (UDP and SCTP whole, TCP as endPort ranges around the denied ports; none if a deny
covers every TCP port). It selects peers by namespace only: like the nftables rule, it is about pods.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.netns import Listener, Tenant, TenantNetwork

REPO = Path(__file__).resolve().parents[2]
POD = "web-0"
NAME_LABEL = "kubernetes.io/metadata.name"
PROBE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Deny:
    """In tenant `dst`, TCP from tenant `src` (to `port`, or any port) gets `verdict` (nft syntax)."""
    dst: int
    src: int
    port: int | None = None
    verdict: str = "drop"


@dataclass
class Scenario:
    manifests: Path  # directory with cluster.json (a v1 List)
    reports: Path  # directory with <namespace>.json ProbeReports
    namespaces: tuple[str, ...]  # index = tenant index
    targets: dict[str, list[dict]] = field(default_factory=dict)  # namespace -> its targets
    reports_by_namespace: dict[str, dict] = field(default_factory=dict)

    def result(self, src: int, dst: int, port: int, protocol: str = "TCP") -> str:
        """What tenant src's probe saw for tenant dst's port."""
        report = self.reports_by_namespace[self.namespaces[src]]
        return next(e["result"] for e in report["reach"] if e["namespace"] == self.namespaces[dst]
                    and e["port"] == port and e["protocol"] == protocol)


def install_denies(net: TenantNetwork, denies: Sequence[Deny]) -> None:
    for d in denies:
        net.deny_tcp(dst=d.dst, src=d.src, port=d.port, verdict=d.verdict)


def default_namespaces(count: int) -> tuple[str, ...]:
    return tuple(f"tenant-{chr(ord('a') + i)}" if i < 26 else f"tenant-{i}" for i in range(count))


def run_scenario(net: TenantNetwork, workdir: Path, listeners: Sequence[Listener],
                 denies: Sequence[Deny] = (), mirror: bool = True, namespaces: Sequence[str] | None = None,
                 node: str = "netns-node", reach_timeout: float = 1.0) -> Scenario:
    """Write the manifests (with NetworkPolicies mirroring `denies` when `mirror`), probe from every
    tenant against every other tenant's listeners, and collect the reports."""
    names = tuple(namespaces) if namespaces is not None else default_namespaces(len(net.tenants))
    if len(names) != len(net.tenants):
        raise ValueError("one namespace per tenant")
    scenario = Scenario(workdir / "manifests", workdir / "reports", names)
    scenario.manifests.mkdir(parents=True, exist_ok=True)
    scenario.reports.mkdir(parents=True, exist_ok=True)
    (workdir / "targets").mkdir(exist_ok=True)

    items = manifests(net.tenants, names, listeners, denies if mirror else (), node)
    (scenario.manifests / "cluster.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items},
                                                                indent=2) + "\n")
    for src in net.tenants:
        ns = names[src.index]
        targets = [{"tenant": names[lsn.tenant.index], "address": lsn.tenant.address, "port": lsn.port,
                    "protocol": lsn.protocol.upper(), "namespace": names[lsn.tenant.index], "pod": POD}
                   for lsn in listeners if lsn.tenant.index != src.index]
        scenario.targets[ns] = targets
        targets_file = workdir / "targets" / f"{ns}.json"
        targets_file.write_text(json.dumps({"targets": targets}, indent=2) + "\n")
        output = scenario.reports / f"{ns}.json"
        done = probe(net, src, targets_file, "--namespace", ns, "--pod", POD, "--node", node,
                     "--reach-timeout", str(reach_timeout), "--output", str(output))
        if done.returncode != 0:
            raise RuntimeError(f"probe in {ns} failed ({done.returncode}): {done.stderr.strip()}")
        scenario.reports_by_namespace[ns] = json.loads(output.read_text())
    return scenario


def probe(net: TenantNetwork, tenant: Tenant, targets: Path, *args: str,
          timeout: float = PROBE_TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m auditor probe --reach TARGETS ARGS` inside the tenant's network namespace, using this
    checkout's auditor (not whichever is installed)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    argv = ["env", f"PYTHONPATH={path}", sys.executable, "-m", "auditor", "probe", "--reach", str(targets), *args]
    return net.exec(tenant, argv, timeout=timeout)


def manifests(tenants: Sequence[Tenant], names: Sequence[str], listeners: Sequence[Listener],
              denies: Sequence[Deny], node: str) -> list[dict]:
    items: list[dict] = []
    for tenant in tenants:
        ns = names[tenant.index]
        items.append({"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": ns, "labels": {NAME_LABEL: ns, "tenant": ns}}})
        ports = [{"name": f"{lsn.protocol}-{lsn.port}", "containerPort": lsn.port, "protocol": lsn.protocol.upper()}
                 for lsn in listeners if lsn.tenant.index == tenant.index]
        items.append(_pod(ns, tenant.address, ports, node))
    by_dst: dict[int, list[Deny]] = {}
    for d in denies:
        by_dst.setdefault(d.dst, []).append(d)
    for dst, ds in sorted(by_dst.items()):
        items.append(_policy(names[dst], {names[d.src] for d in ds},
                             {names[d.src]: [d.port for d in ds if d.src == src] for src in {d.src for d in ds}}))
    return items


def _pod(ns: str, address: str, ports: list[dict], node: str) -> dict:
    container: dict[str, Any] = {
        "name": "listener",
        "image": "registry.example/isolation-audit/listener:1.0",
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": 10001,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
    }
    if ports:
        container["ports"] = ports
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": POD, "namespace": ns, "labels": {"app": "web", "tenant": ns}},
        "spec": {"nodeName": node, "automountServiceAccountToken": False,
                 "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [container]},
        "status": {"phase": "Running", "podIP": address, "podIPs": [{"ip": address}]},
    }


def _policy(ns: str, denied: set[str], denied_ports: dict[str, list[int | None]]) -> dict:
    ingress: list[dict] = [{"from": [{"namespaceSelector": {"matchExpressions": [
        {"key": NAME_LABEL, "operator": "NotIn", "values": sorted(denied)}]}}]}]
    for src in sorted(denied):
        ports: list[dict] = [{"protocol": "UDP"}, {"protocol": "SCTP"}]
        if None not in denied_ports[src]:
            ports += _tcp_ranges_without(sorted(set(denied_ports[src])))  # type: ignore[arg-type]
        ingress.append({"from": [{"namespaceSelector": {"matchLabels": {NAME_LABEL: src}}}], "ports": ports})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "mirror-nft-denies", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress}}


def _tcp_ranges_without(denied: list[int]) -> list[dict]:
    ranges, start = [], 1
    for port in denied + [65536]:
        if start <= port - 1:
            entry: dict[str, Any] = {"protocol": "TCP", "port": start}
            if port - 1 > start:
                entry["endPort"] = port - 1
            ranges.append(entry)
        start = port + 1
    return ranges
