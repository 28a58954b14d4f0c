"""`probe --latency` measured for real on this machine, alone and against a loopback UDP echo peer.

These need no root. They assert structure and sane ranges only (p50 <= p99 <= p99.9 <= max, samples
present, a clock read between 1 ns and 100 us, a syscall between 10 ns and 1 ms, the run within its
ceiling), never a timing as a pass/fail threshold: the numbers are this machine's, whatever it is.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from auditor.probe import latency

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text()),
    format_checker=jsonschema.FormatChecker())
CEILING = latency.CEILING_SECONDS
STARTUP_ALLOWANCE = 10.0  # interpreter start and the passive probe around the latency run; generous on a busy CI host
ECHO_LIFETIME = 60.0


class EchoServer:
    """A UDP echo server on 127.0.0.1 in a thread, with a bounded lifetime (stopped by the fixture, or after
    ECHO_LIFETIME seconds whatever happens)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.echoed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="udp-echo", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + ECHO_LIFETIME
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                data, address = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            self.sock.sendto(data, address)
            self.echoed += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def run_cli(*args: str) -> tuple[dict, float, datetime, datetime]:
    before = datetime.now(UTC)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "auditor", "probe", "--latency", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    after = datetime.now(UTC)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout), elapsed, before, after


@pytest.fixture(scope="module")
def plain():
    return run_cli()


@pytest.fixture(scope="module")
def echo():
    server = EchoServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def with_peer(echo):
    return run_cli("--peer", f"127.0.0.1:{echo.port}")


def ordered(summary: dict) -> None:
    """p50 <= p99 <= p99.9 <= max, all present when there are samples and all null when there are none."""
    values = [summary[k] for k in ("p50_us", "p99_us", "p99_9_us", "max_us")]
    if summary["samples"] == 0:
        assert values == [None] * 4, summary
    else:
        assert all(v is not None and v >= 0 for v in values), summary
        assert values == sorted(values), summary


def check_benchmark(bench: dict, windows: int = latency.DEFAULT_PLAN.windows) -> None:
    ordered(bench)
    assert bench["windows"] == windows == len(bench["per_window"])
    assert bench["samples"] == sum(w["samples"] for w in bench["per_window"])
    for window in bench["per_window"]:
        ordered(window)
        assert window["max_us"] is None or bench["max_us"] >= window["max_us"]
        assert 0 <= window["wall_seconds"] <= bench["wall_seconds"] + 1e-6
    assert 0 < bench["wall_seconds"] <= CEILING
    tails = [w["p99_9_us"] for w in bench["per_window"] if w["p99_9_us"] is not None]
    assert bench["window_p99_9_range_us"] == ([min(tails), max(tails)] if tails else None)
    assert bench["measured"] and bench["method"]


def check_section(report: dict, elapsed: float, before: datetime, after: datetime) -> dict:
    VALIDATOR.validate(report)
    assert not [e for e in report["probe"]["errors"] if e.startswith("latency")]
    section = report["latency"]
    measured_at = datetime.fromisoformat(section["measured_at"].replace("Z", "+00:00"))
    assert before.replace(microsecond=0) <= measured_at <= after
    assert 0 < section["wall_seconds"] <= section["ceiling_seconds"] == CEILING
    assert elapsed <= CEILING + STARTUP_ALLOWANCE
    assert section["unit"] == "us"

    slack = section["timer_slack"]
    assert isinstance(slack["set"], bool)
    if slack["set"]:
        assert slack["effective_ns"] == 1

    jitter = section["timer_jitter"]
    gaps, sleeps = jitter["gap_detector"], jitter["oversleep"]
    check_benchmark(gaps)
    assert gaps["iterations"] > 0 and gaps["threshold_us"] == 5
    assert gaps["gaps"] == gaps["samples"] == sum(w["gaps"] for w in gaps["per_window"])
    assert gaps["samples"] == 0 or gaps["p50_us"] > gaps["threshold_us"]  # only gaps over the threshold are kept
    assert 0 <= gaps["stalled_fraction"] <= 1 and gaps["total_stalled_us"] >= (gaps["max_us"] or 0)
    assert 0 < gaps["loop_ns"] < 5_000  # the detector resolves gaps well under its threshold
    check_benchmark(sleeps)
    assert sleeps["samples"] > 0 and sleeps["p50_us"] >= 0
    assert jitter["p99_9_us"] == max(b["p99_9_us"] for b in (gaps, sleeps) if b["p99_9_us"] is not None)
    assert jitter["tail_from"] in ("gap_detector", "oversleep")

    syscall = section["syscall"]
    check_benchmark(syscall)
    assert syscall["samples"] > 0 and 0.01 <= syscall["p50_us"] <= 1000  # 10 ns .. 1 ms
    assert 0 < syscall["interpreter_overhead_us"] < syscall["p50_us"]

    clock = section["clock_read"]
    check_benchmark(clock)
    assert clock["samples"] > 0 and 0.001 <= clock["p50_us"] <= 100  # 1 ns .. 100 us
    assert clock["vdso_fallback"] == ((clock["net_p50_us"]) >= 1.0)
    assert clock["clocksource"] == section["clocksource"] == _current_clocksource()
    assert clock["vdso_mapped"] in (True, False, None)

    steal = section["steal"]
    assert steal["user_hz"] >= 1
    if steal["available"]:
        assert steal["ticks_after"] >= steal["ticks_before"] and steal["delta_ticks"] >= 0
        assert steal["delta_ms"] == round(steal["delta_ticks"] * 1000 / steal["user_hz"], 3)
    assert any("not proof of dedication" in note for note in section["notes"])
    assert any("NOT tell a VM from bare metal" in note for note in section["notes"])
    return section


def _current_clocksource():
    path = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    return path.read_text().strip() if path.exists() else None


def test_latency_on_this_machine(plain):
    section = check_section(*plain)
    assert "network_rtt" not in section
    assert not any("loopback" in note for note in section["notes"])


def test_latency_with_a_loopback_echo_peer(with_peer, echo):
    section = check_section(*with_peer)
    rtt = section["network_rtt"]
    check_benchmark(rtt)
    assert rtt["peer"] == f"127.0.0.1:{echo.port}" and rtt["address"] == "127.0.0.1" and rtt["loopback"] is True
    assert any("never crosses virtio-net" in note for note in section["notes"])
    assert rtt["received"] == rtt["samples"] > 0 and rtt["lost"] == rtt["sent"] - rtt["received"]
    assert rtt["sent"] + rtt["not_sent"] == rtt["requested"]
    assert rtt["sent"] == sum(w["sent"] for w in rtt["per_window"])
    assert 0 < rtt["p50_us"] < 1_000_000 and rtt["wall_seconds"] <= 1.0 + 0.2
    assert echo.echoed >= rtt["received"]


def test_a_silent_peer_costs_the_udp_budget_and_no_more():
    """Nothing answers: every datagram times out, and the benchmark still ends within about a second."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        rtt = latency.udp_rtt(("127.0.0.1", silent.getsockname()[1]), latency.DEFAULT_PLAN,
                              latency._Clock(CEILING))
        elapsed = time.monotonic() - started
    check_benchmark(rtt)
    assert rtt["received"] == rtt["samples"] == 0 and rtt["lost"] == rtt["sent"] > 0
    assert rtt["not_sent"] > 0 and rtt["warmup_answered"] is False
    assert elapsed <= latency.DEFAULT_PLAN.udp_budget + 0.5


def test_a_closed_port_is_refused_not_timed_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_port:
        probe_port.bind(("127.0.0.1", 0))
        port = probe_port.getsockname()[1]
    rtt = latency.udp_rtt(("127.0.0.1", port), latency.DEFAULT_PLAN, latency._Clock(CEILING))
    assert rtt["received"] == 0 and rtt["refused"] > 0 and rtt["lost"] == rtt["sent"]


def test_the_ceiling_cuts_every_window_short():
    """With a ceiling far below the plan's ~4 s, the run ends at the ceiling; late benchmarks get empty windows."""
    errors: list[str] = []
    plan = latency.Plan(ceiling=0.3)
    started = time.monotonic()
    section = latency.run_latency(plan=plan, errors=errors)
    elapsed = time.monotonic() - started
    assert errors == [] and elapsed <= 0.3 + 0.5 and section["wall_seconds"] <= 0.3 + 0.5
    assert section["clock_read"]["samples"] == 0 and section["clock_read"]["p50_us"] is None
    assert section["clock_read"]["vdso_fallback"] is None
    check_benchmark(section["timer_jitter"]["gap_detector"])
