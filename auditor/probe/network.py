"""The probe's own network view, read over netlink (pyroute2, imported only here and only when asked).

Interfaces with their addresses and MACs, routes (every table but `local`), and the L2 neighbour
table (ARP / NDP cache, without multicast mappings). Read-only netlink dumps of this process's
network namespace: nothing is sent on the wire. Another tenant's address in the neighbour table
means that tenant shares this pod's broadcast domain.

Each list is capped at MAX_ENTRIES (a hostNetwork probe on a big node may see many routes); the
section's `truncated` names the lists that were cut.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any

MAX_ENTRIES = 4096
_LOCAL_TABLE = 255
_FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
# NUD_* bits of ndm_state (include/uapi/linux/neighbour.h)
_NUD = ((0x80, "permanent"), (0x40, "noarp"), (0x02, "reachable"), (0x04, "stale"), (0x08, "delay"),
        (0x10, "probe"), (0x20, "failed"), (0x01, "incomplete"))
# rtm_type (include/uapi/linux/rtnetlink.h)
_ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
                7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat", 11: "xresolve"}


def collect_network() -> dict:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        links, addrs = ipr.get_links(), ipr.get_addr()
        routes = [r for family in _FAMILIES for r in ipr.get_routes(family=family)]
        neighbours = [n for family in _FAMILIES for n in ipr.get_neighbours(family=family)]
    names = {link["index"]: link.get("IFLA_IFNAME") for link in links}
    truncated: list[str] = []

    def capped(name: str, items: list) -> list:
        if len(items) > MAX_ENTRIES:
            truncated.append(name)
        return items[:MAX_ENTRIES]

    by_index: dict[int, list[str]] = {}
    for a in addrs:
        address = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
        if address:
            by_index.setdefault(a["index"], []).append(f"{address}/{a['prefixlen']}")
    interfaces = [_interface(link, by_index.get(link["index"], [])) for link in links]
    route_view = [_route(r, names) for r in routes if r.get("RTA_TABLE", r["table"]) != _LOCAL_TABLE]
    neighbour_view = [n for n in (_neighbour(n, names) for n in neighbours) if n is not None]
    network: dict[str, Any] = {
        "interfaces": capped("interfaces", interfaces),
        "routes": capped("routes", route_view),
        "neighbours": capped("neighbours", neighbour_view),
    }
    if truncated:
        network["truncated"] = truncated
    return network


def _interface(link: Any, addresses: list[str]) -> dict:
    info = link.get("IFLA_LINKINFO")
    return {
        "name": link.get("IFLA_IFNAME"),
        "index": link["index"],
        "mac": link.get("IFLA_ADDRESS"),
        "state": str(link.get("IFLA_OPERSTATE") or "unknown").lower(),
        "mtu": link.get("IFLA_MTU"),
        "kind": info.get("IFLA_INFO_KIND") if info is not None else None,
        "addresses": addresses,
    }


def _route(route: Any, names: dict[int, str | None]) -> dict:
    family = route["family"]
    dst = route.get("RTA_DST")
    if dst is None:
        dst = "default" if route["dst_len"] == 0 else None
    else:
        dst = str(ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False))
    gateway, oif = route.get("RTA_GATEWAY"), route.get("RTA_OIF")
    hops = route.get("RTA_MULTIPATH")
    if hops and gateway is None and oif is None:  # an ECMP route: report its first hop
        first = hops[0]
        gateway, oif = first.get("RTA_GATEWAY"), first.get("oif")
    return {
        "family": _FAMILIES.get(family, str(family)),
        "dst": dst,
        "gateway": gateway,
        "dev": names.get(oif) if oif is not None else None,
        "table": route.get("RTA_TABLE", route["table"]),
        "type": _ROUTE_TYPES.get(route["type"], str(route["type"])),
    }


def _neighbour(entry: Any, names: dict[int, str | None]) -> dict | None:
    ip = entry.get("NDA_DST")
    if ip is None or ipaddress.ip_address(ip).is_multicast or ipaddress.ip_address(ip).is_unspecified:
        return None  # multicast mappings and placeholders say nothing about neighbours
    state = entry["state"]
    return {
        "ip": ip,
        "mac": entry.get("NDA_LLADDR"),
        "state": next((name for bit, name in _NUD if state & bit), "none"),
        "dev": names.get(entry["ifindex"]),
    }
