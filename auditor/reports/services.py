"""The Services worth a line in a human-readable report: those other tenants reach, and
those listening outside the pods' view. Every Service is in the JSON report."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def notable(reachability: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    rows: Sequence[Any] = (reachability or {}).get("services") or []
    return [r for r in rows if isinstance(r, Mapping) and (r.get("reachable_from_count") or r.get("exposure"))]


def reached_by(row: Mapping[str, Any]) -> str:
    listed = [str(t) for t in row.get("reachable_from") or []]
    more = (row.get("reachable_from_count") or 0) - len(listed)
    return ", ".join(listed) + (f" (+{more})" if more > 0 else "") if listed else "-"


def exposed_on(row: Mapping[str, Any]) -> str:
    """Node ports with the node count, load balancer and external addresses, and the traffic policy."""
    x = row.get("exposure")
    if not isinstance(x, Mapping):
        return "-"
    parts = []
    if x.get("node_ports"):
        nodes = x.get("node_address_count") or 0
        parts.append(f"nodePort {', '.join(map(str, x['node_ports']))} on {nodes or 'every'} node address(es)")
    for key, what in (("load_balancer_ingress", "LB"), ("external_ips", "externalIPs")):
        if x.get(key):
            parts.append(f"{what} {', '.join(map(str, x[key][:3]))}")
    parts.append(f"eTP {x.get('external_traffic_policy')}")
    return "; ".join(parts)
