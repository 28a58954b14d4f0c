"""Who owns a namespace: one namespace is one tenant unless config groups them."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .model import Resource

DEFAULT_PLATFORM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "isolation-audit")


@dataclass(frozen=True, slots=True)
class TenancyConfig:
    label: str | None = None  # group namespaces by this namespace label
    map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # tenant -> namespaces
    platform_namespaces: tuple[str, ...] = DEFAULT_PLATFORM_NAMESPACES
    # who a user or group of the API works for: name -> tenant (ServiceAccounts go by namespace)
    users: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tenancy:
    """Resolved namespace -> tenant; None means the platform (or a cluster-scoped object)."""

    by_namespace: Mapping[str, str | None]
    config: TenancyConfig

    def tenant_of(self, namespace: str | None) -> str | None:
        if namespace is None:
            return None
        if namespace in self.by_namespace:
            return self.by_namespace[namespace]
        return _resolve(namespace, {}, self.config)

    def tenants(self) -> list[str]:
        return sorted({t for t in self.by_namespace.values() if t is not None})


def resolve_tenancy(resources: Iterable[Resource], config: TenancyConfig) -> Tenancy:
    namespaces: dict[str, Mapping[str, str]] = {}
    for r in resources:
        if r.kind == "Namespace":
            namespaces[r.name] = r.labels
        elif r.namespace is not None:
            namespaces.setdefault(r.namespace, {})
    return Tenancy({ns: _resolve(ns, labels, config) for ns, labels in namespaces.items()}, config)


def _resolve(namespace: str, labels: Mapping[str, str], config: TenancyConfig) -> str | None:
    if namespace in config.platform_namespaces:
        return None
    for tenant, members in config.map.items():
        if namespace in members:
            return tenant
    if config.label:
        value = labels.get(config.label)
        if isinstance(value, str) and value:
            return value
    return namespace
