"""Documented virtualization overhead, per node class and latency dimension.

Figures are what the layer ADDS over tuned bare metal, in microseconds, on the TAIL of the
distribution (p99.9), with the source ids of the reference they come from
(docs/latency-overheads.md, sources S1..S17). Verdicts use the upper end of a
documented range: a workload owner who budgets against the best case is surprised by the
worst. Measured values from probes replace these and say so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

REFERENCE = "docs/latency-overheads.md"
DIMENSIONS = ("network-rtt", "timer-jitter", "syscall", "storage")


@dataclass(frozen=True, slots=True)
class Overhead:
    node_class: str
    dimension: str
    low_us: float | None
    high_us: float | None  # None: documented as large but unmeasured
    sources: tuple[str, ...]
    note: str = ""

    @property
    def source(self) -> str:
        if self.sources == ("measured",):
            return self.note
        return (
            f"{REFERENCE} ({', '.join(self.sources)}): {self.note}"
            if self.note
            else f"{REFERENCE} ({', '.join(self.sources)})"
        )


def _o(
    node_class: str, dimension: str, low: float | None, high: float | None, sources: str, note: str = ""
) -> Overhead:
    return Overhead(node_class, dimension, low, high, tuple(sources.split()), note)


DEFAULTS: dict[tuple[str, str], Overhead] = {
    (o.node_class, o.dimension): o
    for o in (
        _o("shared-vm", "network-rtt", 20, 60, "S10 S11", "p99.9 +20 to +60 us, spikes to ms"),
        _o("dedicated-vm", "network-rtt", 2, 20, "S10 S11", "p99.9 +2 (SR-IOV) to +20 us"),
        _o(
            "gvisor",
            "network-rtt",
            None,
            None,
            "S1 S10 S11",
            "x1.5-2.5 on small RPCs at the median; tail large, unmeasured",
        ),
        _o("kata", "network-rtt", 60, 60, "S10 S11", "p99.9 +60 us"),
        _o("shared-vm", "timer-jitter", 100, 3000, "S7 S8 S9", "p99.9 100 to several 1000 us (steal, co-tenants)"),
        _o(
            "dedicated-vm",
            "timer-jitter",
            15,
            100,
            "S7 S8 S9",
            "15-40 us with RT guest and isolated cores; ~100 us with pinning only",
        ),
        _o("gvisor", "timer-jitter", 0, 0, "S7", "inherits the host's"),
        _o("kata", "timer-jitter", 0, 0, "S7", "inherits the host's or VM's"),
        _o("shared-vm", "syscall", 0, 0, "S4 S5", "syscalls do not exit to the hypervisor"),
        _o("dedicated-vm", "syscall", 0, 0, "S4 S5", "syscalls do not exit to the hypervisor"),
        _o("gvisor", "syscall", 0.8, 6, "S4 S5", "+0.8 us (KVM platform) to +6 us (ptrace)"),
        _o("kata", "syscall", 0, 0, "S4 S5"),
        _o("shared-vm", "storage", 20, 50, "S12", "4 KiB read QD1 +20 to +50 us"),
        _o("dedicated-vm", "storage", 0, 0, "S12", "about 0 with NVMe passthrough"),
        _o("gvisor", "storage", 0, 0, "S12", "about 0 raw; metadata-heavy x2 or worse"),
        _o("kata", "storage", 20, 50, "S12", "4 KiB read QD1 +20 to +50 us"),
    )
}

# "≥ 1 ms → any VM, gVisor included unless syscall- or RPC-bound" (the reference's reading):
# the floor at which a budget tolerates a sandbox whose tail is unmeasured.
SANDBOX_UNMEASURED_FLOOR_US = 1000.0

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ns|us|µs|ms|s)\s*$")
_SCALE = {"ns": 0.001, "us": 1.0, "µs": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def parse_budget(text: str) -> float:
    """'5us', '2ms', '0.5 ms' -> microseconds; ValueError names the bad value."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a latency budget: {text!r} (expected a number with ns, us, ms or s)")
    return float(match.group(1)) * _SCALE[match.group(2)]


def default(node_class: str, dimension: str) -> Overhead:
    return DEFAULTS[(node_class, dimension)]
