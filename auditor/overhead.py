"""Virtualization overhead, per node class and latency dimension, as cited data.

Figures are what the layer ADDS over tuned bare metal, in microseconds, on the TAIL of the
distribution (p99.9). The package's defaults are auditor/data/overheads.yaml, each figure
with the sources (title, URL, date) it was read from; a team's own measurements
(`scan --overheads FILE`, same format) replace the figures they give. Verdicts use the upper
end of a range: a workload owner who budgets against the best case is surprised by the
worst. Measured values from probes replace both and say so.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .citation import DATA, Citation, DataFileError, citation, load_checked
from .schema_errors import located

DIMENSIONS = ("network-rtt", "timer-jitter", "syscall", "storage")
DEFAULTS_FILE = DATA / "overheads.yaml"


@dataclass(frozen=True, slots=True)
class Overhead:
    node_class: str
    dimension: str
    low_us: float | None
    high_us: float | None  # None: documented as large but unmeasured
    citations: tuple[Citation, ...]
    note: str = ""
    table: str = ""  # the figures it belongs to: the built-in defaults, a team's file, or "measured"

    @property
    def source(self) -> str:
        """One line a reader can follow: whose figure, what it says, where it comes from."""
        cited = ", ".join(c.url for c in self.citations)
        return "; ".join(part for part in (self.table, self.note, f"sources: {cited}" if cited else "") if part)

    def as_dict(self) -> dict[str, Any]:
        return {"node_class": self.node_class, "dimension": self.dimension, "value_us": self.high_us,
                "range_us": [self.low_us, self.high_us], "percentile": "p99.9", "source": self.source,
                "table": self.table, "citations": [c.as_dict() for c in self.citations]}


@dataclass(frozen=True, slots=True)
class OverheadTable:
    """The figures placement verdicts use, and where they come from."""

    name: str
    citation: Citation | None
    figures: Mapping[tuple[str, str], Overhead]

    def get(self, node_class: str, dimension: str) -> Overhead:
        return self.figures[(node_class, dimension)]

    def describe(self) -> dict[str, Any]:
        """What the report records: whose figures, where they are written up, and which
        figures replace the package's defaults (all of them for the defaults themselves)."""
        replaced = sorted(f"{c}/{d}" for (c, d), o in self.figures.items() if o.table == self.name)
        return {"name": self.name, "citation": self.citation.as_dict() if self.citation else None,
                "figures": replaced}


# "≥ 1 ms → any VM, gVisor included unless syscall- or RPC-bound": the floor at which a
# budget tolerates a sandbox whose tail is unmeasured.
SANDBOX_UNMEASURED_FLOOR_US = 1000.0

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ns|us|µs|ms|s)\s*$")
_SCALE = {"ns": 0.001, "us": 1.0, "µs": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def parse_budget(text: str) -> float:
    """'5us', '2ms', '0.5 ms' -> microseconds; ValueError names the bad value."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a latency budget: {text!r} (expected a number with ns, us, ms or s)")
    return float(match.group(1)) * _SCALE[match.group(2)]


@cache
def defaults() -> OverheadTable:
    """The package's figures, loaded once."""
    return _table(DEFAULTS_FILE, "built-in overhead defaults", None, shipped=True)


def load_overheads(path: str | Path) -> OverheadTable:
    """A team's measurements over the defaults: each figure it gives replaces the default
    for its node class and dimension. Raises DataFileError (`file:line: field: reason`)."""
    return _table(Path(path), "overheads file", defaults())


def default(node_class: str, dimension: str) -> Overhead:
    return defaults().get(node_class, dimension)


def _table(path: Path, what: str, base: OverheadTable | None, shipped: bool = False) -> OverheadTable:
    node, data = load_checked(path, what, "overheads.schema.json", shipped=shipped)
    own = citation(data["citation"]) if "citation" in data else None
    name = data.get("name")
    label = str(name or path) if base is None else f"{name + ', ' if name else ''}overheads file {path}"
    sources = {key: citation(value) for key, value in data.get("sources", {}).items()}
    figures = dict(base.figures) if base is not None else {}
    seen: set[tuple[str, str]] = set()
    for index, f in enumerate(data["figures"]):
        where = ["figures", str(index)]
        key = (f["node_class"], f["dimension"])
        if key in seen:
            raise DataFileError(located(path, node, where, "a second figure for this node class and dimension"))
        seen.add(key)
        low, high = f["low_us"], f["high_us"]
        if low is not None and high is not None and low > high:
            raise DataFileError(located(path, node, [*where, "low_us"], "must not be more than high_us"))
        cited = []
        for n, ref in enumerate(f.get("sources", ())):
            if ref not in sources:
                raise DataFileError(located(path, node, [*where, "sources", str(n)], "names no entry of `sources`"))
            cited.append(sources[ref])
        figures[key] = Overhead(key[0], key[1], low, high, tuple(cited) or ((own,) if own else ()),
                                f.get("note", ""), label)
    if base is None:
        missing = [f"{c}/{d}" for c in ("shared-vm", "dedicated-vm", "gvisor", "kata") for d in DIMENSIONS
                   if (c, d) not in figures]
        if missing:
            raise DataFileError(f"{path}: figures: no figure for {', '.join(missing)}")
    return OverheadTable(label, own, figures)
