"""Discovery of analysis plugins through the `k8s_isolation_audit.checks` entry points."""
from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Iterable, Mapping

from .analysis import Analysis

GROUP = "k8s_isolation_audit.checks"


class PluginError(Exception):
    """A duplicate or broken plugin: loud, never a silent skip."""


def discover() -> Mapping[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise PluginError(
                f"analysis plugin '{ep.name}' is registered twice: {found[ep.name].value} and {ep.value}"
            )
        found[ep.name] = ep
    return found


def load(names: Iterable[str], available: Mapping[str, EntryPoint] | None = None) -> dict[str, Analysis]:
    """Import only the plugins the active rules name."""
    available = discover() if available is None else available
    loaded: dict[str, Analysis] = {}
    for name in sorted(set(names)):
        ep = available.get(name)
        if ep is None:
            raise PluginError(f"analysis plugin '{name}' is not installed (entry-point group {GROUP})")
        try:
            obj = ep.load()
            plugin = obj() if isinstance(obj, type) else obj
        except Exception as exc:  # a broken plugin must stop the run, naming itself
            raise PluginError(f"analysis plugin '{name}' ({ep.value}) failed to load: {exc!r}") from exc
        if not callable(getattr(plugin, "run", None)):
            raise PluginError(f"analysis plugin '{name}' ({ep.value}) has no run(ctx, rules) method")
        loaded[name] = plugin
    return loaded
