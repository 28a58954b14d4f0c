"""`probe --latency`: percentile and summary helpers, /proc/stat steal, --peer parsing, the CLI wiring and
the shape of the `latency` section against the ProbeReport schema. Fast and with no timing assertions:
the real measurements are checked for sane ranges in tests/realkernel/test_probe_latency.py."""
from __future__ import annotations

import copy
import gc
import json
import socket
from pathlib import Path

import jsonschema
import pytest

from auditor.cli import main
from auditor.probe import latency
from auditor.probe.latency import (
    NOTE_LOOPBACK,
    NOTE_STEAL,
    NOTE_SYSCALL,
    PeerError,
    Plan,
    parse_peer,
    parse_steal,
    percentile,
    steal,
    summarize,
    timer_jitter,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
# Every window a few milliseconds: the shape of a real run in a fraction of a second.
TINY = Plan(windows=2, gap_window=0.002, oversleep_window=0.002, syscall_window=0.002, clock_window=0.002,
            udp_budget=0.02, udp_packets=6, udp_timeout=0.002, ceiling=1.0)


# --- percentiles and summaries --------------------------------------------------------------------

def test_percentile_is_nearest_rank_and_always_an_observed_value():
    values = list(range(1, 1001))
    assert [percentile(values, q) for q in (50, 99, 99.9, 100)] == [500, 990, 999, 1000]
    assert percentile([7], 50) == percentile([7], 99.9) == 7
    assert percentile([], 50) is None
    small = list(range(1, 11))
    assert percentile(small, 99.9) == 10  # under 1000 samples p99.9 is the maximum
    assert percentile(small, 0) == 1
    with pytest.raises(ValueError):
        percentile(small, 101)


def test_summarize_converts_nanoseconds_to_microseconds_and_sorts():
    values = [3000, 1000, 2000, 250_000, 1500]
    assert summarize(values) == {"samples": 5, "p50_us": 2.0, "p99_us": 250.0, "p99_9_us": 250.0, "max_us": 250.0}
    assert summarize([]) == {"samples": 0, "p50_us": None, "p99_us": None, "p99_9_us": None, "max_us": None}
    assert summarize([45.26])["p50_us"] == 0.045
    assert summarize([45.26], digits=4)["p50_us"] == 0.0453


def test_benchmark_keeps_every_window_and_the_spread_of_their_tails():
    w0 = latency.window_summary(0, [1000, 2000, 3000], 200_000_000)
    w1 = latency.window_summary(1, [1000, 40_000], 200_000_000)
    w2 = latency.window_summary(2, [], 200_000_000)
    result = latency.benchmark("what", "how", [w0, w1, w2], [1000, 2000, 3000, 1000, 40_000], 600_000_000, 0.2)
    assert result["windows"] == 3 and len(result["per_window"]) == 3
    assert result["window_p99_9_range_us"] == [3.0, 40.0]
    assert result["samples"] == 5 and result["max_us"] == 40.0
    assert w2["p99_9_us"] is None and w2["samples"] == 0
    assert result["wall_seconds"] == 0.6 and result["window_seconds"] == 0.2
    none = latency.benchmark("what", "how", [w2], [], 1, 0.2)
    assert none["window_p99_9_range_us"] is None and none["p50_us"] is None


def test_timer_jitter_takes_the_worse_tail_and_says_which():
    gaps = {"p99_9_us": 60.0, "max_us": 80.0}
    sleeps = {"p99_9_us": 190.0, "max_us": 2400.0}
    assert {k: v for k, v in timer_jitter(gaps, sleeps).items() if k not in ("gap_detector", "oversleep")} == {
        "p99_9_us": 190.0, "max_us": 2400.0, "tail_from": "oversleep"}
    assert timer_jitter({"p99_9_us": None, "max_us": None}, None) == {
        "p99_9_us": None, "max_us": None, "tail_from": None, "gap_detector": {"p99_9_us": None, "max_us": None}}
    assert timer_jitter(gaps, None)["tail_from"] == "gap_detector"


# --- steal ----------------------------------------------------------------------------------------

STAT = """cpu  202572 0 35028 541566 2116 0 729 635 0 0
cpu0 71663 0 15771 302736 285 0 271 312 0 0
intr 1 2 3
"""


def test_steal_is_the_eighth_counter_of_the_cpu_line_converted_with_user_hz():
    assert parse_steal(STAT) == 635
    assert parse_steal("cpu  1 2 3 4\n") is None  # kernels before 2.6.11 have no steal column
    assert parse_steal("intr 1\n") is None
    result = steal(635, 700, 3_000_000_000, user_hz=100)
    assert (result["delta_ticks"], result["delta_ms"], result["delta_us"]) == (65, 650.0, 650_000.0)
    assert result["available"] and result["resolution_us"] == 10_000.0 and result["interval_seconds"] == 3.0
    assert steal(None, 5, 1, user_hz=250)["available"] is False
    assert steal(None, 5, 1, user_hz=250)["delta_ms"] is None


# --- --peer ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("10.0.3.7:7", ("10.0.3.7", 7)),
    ("echo.shop.svc:9000", ("echo.shop.svc", 9000)),
    ("[::1]:65535", ("::1", 65535)),
    ("[fe80::1%eth0]:1", ("fe80::1%eth0", 1)),
])
def test_peer_parses_host_and_port(text, expected):
    assert parse_peer(text) == expected


@pytest.mark.parametrize("text", ["10.0.3.7", "10.0.3.7:", ":7", "10.0.3.7:0", "10.0.3.7:65536", "::1:7",
                                  "[::1]7", "[::1", "host:http"])
def test_peer_rejects_anything_but_host_colon_port(text):
    with pytest.raises(PeerError):
        parse_peer(text)


def test_cli_peer_needs_latency(capsys):
    assert main(["probe", "--peer", "127.0.0.1:7", "--output", "/dev/null"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--peer needs --latency" in err


def test_cli_bad_peer_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["probe", "--latency", "--peer", "10.0.3.7:99999"])
    assert exit_.value.code == 2
    assert "port must be 1-65535" in capsys.readouterr().err


def test_cli_unresolvable_peer_is_exit_2_before_any_measurement(capsys, monkeypatch):
    def unresolvable(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(latency.socket, "getaddrinfo", unresolvable)
    monkeypatch.setattr("auditor.probe.run_probe", lambda **kw: pytest.fail("probed with an unresolvable peer"))
    assert main(["probe", "--latency", "--peer", "echo.nowhere:7"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--peer: cannot resolve 'echo.nowhere'" in err


def test_cli_passes_latency_and_peer_through(capsys, monkeypatch):
    seen = {}

    def fake_run_probe(**kwargs):
        seen.update(kwargs)
        return {"ok": True}

    monkeypatch.setattr("auditor.probe.run_probe", fake_run_probe)
    assert main(["probe", "--latency", "--peer", "127.0.0.1:7007"]) == 0
    assert (seen["latency"], seen["peer"]) == (True, ("127.0.0.1", 7007))
    assert main(["probe"]) == 0
    assert (seen["latency"], seen["peer"]) == (False, None)


# --- shape against the schema ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_report():
    """A real ProbeReport with a latency section measured in tiny windows (shape only, not numbers)."""
    from auditor.probe import run_probe

    original = latency.DEFAULT_PLAN
    latency.DEFAULT_PLAN = TINY
    try:
        return run_probe(latency=True)
    finally:
        latency.DEFAULT_PLAN = original


def test_latency_section_is_valid_and_has_every_dimension_but_network(tiny_report):
    VALIDATOR.validate(tiny_report)
    section = tiny_report["latency"]
    assert {"timer_jitter", "syscall", "clock_read", "steal"} <= set(section) and "network_rtt" not in section
    assert set(section["timer_jitter"]) >= {"gap_detector", "oversleep", "p99_9_us", "max_us", "tail_from"}
    for bench in (section["timer_jitter"]["gap_detector"], section["timer_jitter"]["oversleep"], section["syscall"],
                  section["clock_read"]):
        assert bench["windows"] == TINY.windows == len(bench["per_window"])
        assert [w["index"] for w in bench["per_window"]] == list(range(TINY.windows))
        assert bench["samples"] == sum(w["samples"] for w in bench["per_window"])
        assert bench["measured"] and bench["method"]
    assert NOTE_SYSCALL in section["notes"] and NOTE_STEAL in section["notes"]
    assert "NOT tell a VM from bare metal" in NOTE_SYSCALL and "not proof of dedication" in NOTE_STEAL
    assert section["measured_at"].endswith("Z") and section["ceiling_seconds"] == TINY.ceiling
    assert isinstance(section["clock_read"]["vdso_fallback"], bool)
    assert tiny_report["probe"]["errors"] == []


def test_the_run_restores_gc_and_timer_slack():
    assert gc.isenabled()
    before, _ = latency._prctl(latency.PR_GET_TIMERSLACK, 0)
    latency.run_latency(plan=TINY)
    assert gc.isenabled()
    assert latency._prctl(latency.PR_GET_TIMERSLACK, 0)[0] == before


def test_a_failing_benchmark_is_left_out_with_one_line_in_errors(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(latency, "syscall_cost", broken)
    errors: list[str] = []
    section = latency.run_latency(plan=TINY, errors=errors)
    assert "syscall" not in section and "clock_read" in section
    assert errors == ["latency.syscall: RuntimeError: boom"]


@pytest.mark.parametrize("mutate, where", [
    (lambda s: s.pop("measured_at"), "measured_at"),
    (lambda s: s["syscall"].update(extra=1), "unevaluated"),
    (lambda s: s["timer_jitter"].update(tail_from="cyclictest"), "tail_from"),
    (lambda s: s["clock_read"].pop("vdso_fallback"), "vdso_fallback"),
    (lambda s: s["timer_jitter"]["gap_detector"]["per_window"][0].update(p99_9_us=-1), "minimum"),
    (lambda s: s.update(unit="ms"), "unit"),
    (lambda s: s["steal"].pop("delta_ms"), "delta_ms"),
])
def test_schema_rejects_a_malformed_latency_section(tiny_report, mutate, where):
    report = copy.deepcopy(tiny_report)
    mutate(report["latency"])
    errors = list(VALIDATOR.iter_errors(report))
    assert errors, where


def test_network_rtt_to_a_silent_loopback_peer_is_bounded_lost_and_noted():
    """A bound socket that never answers: every datagram is lost within the budget, and the loopback note is added."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        errors: list[str] = []
        section = latency.run_latency(peer=("127.0.0.1", port), plan=TINY, errors=errors)
    assert errors == []
    rtt = section["network_rtt"]
    assert rtt["loopback"] is True and NOTE_LOOPBACK in section["notes"]
    assert rtt["received"] == rtt["samples"] == 0 and rtt["p50_us"] is None
    assert rtt["lost"] == rtt["sent"] and rtt["sent"] + rtt["not_sent"] == rtt["requested"] == TINY.udp_packets
    assert rtt["warmup_answered"] is False and rtt["peer"] == f"127.0.0.1:{port}"
    VALIDATOR.validate({**_minimal_report(), "latency": section})


def _minimal_report() -> dict:
    return {"schema_version": "1.0",
            "probe": {"version": "0", "time": "2026-01-01T00:00:00Z", "duration_seconds": 0, "active": False},
            "host": {"kernel_release": "6", "boot_id": None, "hypervisor": None, "hypervisor_evidence": [],
                     "container_runtime": None, "sandbox": None, "clocksource": None, "sysctls": {}},
            "namespaces": {t: {"shared_with_host": None, "evidence": ""}
                           for t in ("pid", "net", "mnt", "ipc", "uts", "user", "cgroup")},
            "privileges": {"uid": 0, "gid": 0, "capabilities_effective": [], "capabilities_bounding": [],
                           "no_new_privs": False, "seccomp_mode": "disabled", "apparmor": None, "selinux": None},
            "escape_vectors": [],
            "cgroup": {"version": "v2", "memory_limit_bytes": None, "pids_max": None, "cpu_quota_cores": None}}
