"""Discovery of analysis plugins through the `k8s_isolation_audit.checks` entry points."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .analysis import Analysis, Check, Section

GROUP = "k8s_isolation_audit.checks"
# Plugins the engine provides itself: name -> "module:attribute", as an entry point's value.
BUILTIN = {"waivers": "auditor.waivers:Waivers"}


class PluginError(Exception):
    """A duplicate or broken plugin: loud, never a silent skip."""


@dataclass(frozen=True, slots=True)
class Plugin:
    """A loaded plugin and its declarations, checked once here."""

    name: str
    analysis: Analysis
    checks: Mapping[str, Check]
    sections: Mapping[str, Section]


def discover() -> Mapping[str, EntryPoint]:
    found: dict[str, EntryPoint] = {
        name: EntryPoint(name, value, GROUP) for name, value in BUILTIN.items()
    }
    for ep in entry_points(group=GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise PluginError(
                f"analysis plugin '{ep.name}' is registered twice: {found[ep.name].value} and {ep.value}"
            )
        found[ep.name] = ep
    return found


class Plugins:
    """The installed plugins by name, each imported on first use (only those rules name)."""

    def __init__(self, available: Mapping[str, EntryPoint] | None = None) -> None:
        self.available = discover() if available is None else available
        self.loaded: dict[str, Plugin] = {}

    def names(self) -> list[str]:
        return sorted(self.available)

    def get(self, name: str) -> Plugin | None:
        """The plugin, None if no plugin has that name; PluginError if it is broken."""
        if name not in self.loaded:
            ep = self.available.get(name)
            if ep is None:
                return None
            self.loaded[name] = self._load(ep)
        return self.loaded[name]

    def _load(self, ep: EntryPoint) -> Plugin:
        try:
            obj = ep.load()
            analysis = obj() if isinstance(obj, type) else obj
        except Exception as exc:  # a broken plugin must stop the run, naming itself
            raise PluginError(f"analysis plugin '{ep.name}' ({ep.value}) failed to load: {exc!r}") from exc
        where = f"analysis plugin '{ep.name}' ({ep.value})"
        if not callable(getattr(analysis, "run", None)):
            raise PluginError(f"{where} has no run(ctx, rules) method")
        checks = _declared(where, analysis, "checks", Check)
        if not checks:
            raise PluginError(f"{where} declares no checks (a class attribute checks = {{name: Check(...)}})")
        sections = _declared(where, analysis, "sections", Section)
        for other in self.loaded.values():
            clash = sorted(set(sections) & set(other.sections))
            if clash:
                raise PluginError(f"{where} declares report section {clash[0]!r}, "
                                  f"which analysis plugin '{other.name}' fills already")
        return Plugin(ep.name, analysis, checks, sections)


def _declared(where: str, analysis: Any, attribute: str, kind: type) -> dict[str, Any]:
    found = getattr(analysis, attribute, {})
    if not isinstance(found, Mapping) or not all(isinstance(k, str) and isinstance(v, kind) for k, v in found.items()):
        raise PluginError(f"{where}: {attribute} must map names to {kind.__name__}(...) declarations")
    return dict(found)
