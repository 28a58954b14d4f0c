"""Bounded latency micro-benchmarks (`probe --latency`): what a thread on this node really sees.

Pure standard library (ctypes only for prctl). Every benchmark runs over several short
wall-clock windows, because tails on shared hosts vary by 10x from one window to the next;
each keeps its per-window summaries next to the pooled percentiles. The whole run has a hard
ceiling (CEILING_SECONDS): every window ends at its own deadline or at the ceiling, whichever
comes first, so a starved or throttled host makes the run shorter, never longer.

Dimensions (all figures in microseconds, see the `latency` property of
auditor/schemas/probe-report.schema.json):
- timer_jitter: a busy-loop gap detector (stalls of the spinning thread: preemption, IRQs,
  steal) and the oversleep of 100 us sleeps, with timer slack set to 1 ns first;
- syscall: cost of getppid() per call (spots gVisor; NOT a VM/bare-metal discriminator);
- clock_read: cost of clock_gettime(CLOCK_MONOTONIC) per read; >= 1 us means no vDSO;
- steal: /proc/stat steal ticks over the whole run;
- network_rtt: UDP round trips to an echo peer (only with --peer).

The numbers include CPython's own overhead (tens of ns per call); syscall and clock_read also
report the interpreter's cost of an equivalent call that enters no kernel, so the difference is
what the kernel (or sandbox) adds.
"""
from __future__ import annotations

import ctypes
import gc
import ipaddress
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .reach import single_host

CEILING_SECONDS = 6.0
PR_SET_TIMERSLACK, PR_GET_TIMERSLACK = 29, 30
GAP_THRESHOLD_NS = 5_000
SLEEP_NS = 100_000
VDSO_FALLBACK_NS = 1_000
UDP_PACKETS = 200
UDP_TIMEOUT = 0.05  # seconds per datagram
UDP_PAYLOAD = 32
CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0/current_clocksource"

NOTE_SYSCALL = ("syscall: getppid() cost spots a syscall-intercepting sandbox (gVisor adds ~1-6 us); it does NOT "
                "tell a VM from bare metal, since a syscall does not exit to the hypervisor. Seccomp filters add "
                "tens of ns.")
NOTE_STEAL = ("steal: zero is not proof of dedication: the hypervisor may not report steal, or the host was quiet "
              "during these few seconds.")
NOTE_LOOPBACK = ("network_rtt: the peer is on loopback; loopback RTT never crosses virtio-net or the physical network, "
                 "so it shows no VM network overhead. Measure across the node boundary (pod to another node).")
NOTE_CPYTHON = (
    "all figures are measured from CPython and include interpreter overhead (tens of ns per call, "
    "~0.1 us per gap-detector iteration); tails are what a Python thread saw, an upper bound for native code."
)


@dataclass(frozen=True)
class Plan:
    """Windows per benchmark and their wall-clock length in seconds (the budget of each benchmark)."""
    windows: int = 5
    gap_window: float = 0.2
    oversleep_window: float = 0.2
    syscall_window: float = 0.2
    clock_window: float = 0.2
    udp_budget: float = 1.0
    udp_packets: int = UDP_PACKETS
    udp_timeout: float = UDP_TIMEOUT
    ceiling: float = CEILING_SECONDS


DEFAULT_PLAN = Plan()


# --- percentiles and summaries ------------------------------------------------------------------

def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of an ascending sequence: always an observed value;
    None when empty. With fewer than 1000 samples p99.9 is the maximum."""
    if not ordered:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    rank = max(1, math.ceil(round(q * len(ordered) / 100, 9)))  # round: 99.9 * 1000 / 100 is 999.0000000000001
    return ordered[rank - 1]


def _us(ns: float | None, digits: int = 3) -> float | None:
    return None if ns is None else round(ns / 1000, digits)


def summarize(values_ns: Sequence[float], digits: int = 3) -> dict:
    """{samples, p50_us, p99_us, p99_9_us, max_us} of nanosecond values (percentiles null when empty),
    rounded to `digits` decimals of a microsecond (3: 1 ns)."""
    ordered = sorted(values_ns)
    return {"samples": len(ordered), **{key: _us(percentile(ordered, q), digits) for key, q in
                                        (("p50_us", 50), ("p99_us", 99), ("p99_9_us", 99.9), ("max_us", 100))}}


def window_summary(index: int, values_ns: Sequence[float], wall_ns: int, digits: int = 3, **extra) -> dict:
    return {"index": index, **summarize(values_ns, digits), "wall_seconds": round(wall_ns / 1e9, 6), **extra}


def benchmark(measured: str, method: str, windows: list[dict], pooled_ns: Sequence[float], wall_ns: int,
              window_seconds: float, digits: int = 3, **extra) -> dict:
    """One benchmark's result: pooled percentiles over every window, and each window's own summary."""
    tails = [w["p99_9_us"] for w in windows if w["p99_9_us"] is not None]
    return {"measured": measured, "method": method, **summarize(pooled_ns, digits), "windows": len(windows),
            "window_seconds": window_seconds, "wall_seconds": round(wall_ns / 1e9, 6),
            "window_p99_9_range_us": [min(tails), max(tails)] if tails else None,
            **extra, "per_window": windows}


# --- the run --------------------------------------------------------------------------------------

class _Clock:
    """The run's hard ceiling: every window ends at min(its own end, the ceiling)."""

    def __init__(self, ceiling: float):
        self.deadline = time.perf_counter_ns() + int(ceiling * 1e9)

    def window_end(self, seconds: float) -> int:
        return min(time.perf_counter_ns() + int(seconds * 1e9), self.deadline)


def run_latency(peer: tuple[str, int] | None = None, errors: list[str] | None = None,
                plan: Plan | None = None, root: str = "/") -> dict:
    """The `latency` section of a ProbeReport. `peer` is (host, port) of a UDP echo server. A benchmark
    that fails to run is left out, with one line in `errors` (probe.errors). `plan` defaults to DEFAULT_PLAN."""
    errors = [] if errors is None else errors
    plan = DEFAULT_PLAN if plan is None else plan
    measured_at = datetime.now(UTC)
    started = time.perf_counter_ns()
    clock = _Clock(plan.ceiling)
    steal_before = read_steal(root)
    slack = set_timer_slack(1)
    notes = [NOTE_CPYTHON, NOTE_SYSCALL, NOTE_STEAL]
    if not slack["set"]:
        notes.append("timer slack could not be set to 1 ns: oversleep includes the default timer slack "
                     f"(usually 50 us); {slack['detail']}")
    source = _clocksource(root)
    result: dict = {
        "measured_at": measured_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "wall_seconds": 0.0, "ceiling_seconds": plan.ceiling, "unit": "us",
        "timer_slack": slack, "clocksource": source, "notes": notes,
    }
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection would show up as a stall of the measuring thread
    try:
        def attempt(name: str, run: Callable[[], dict]) -> dict | None:
            try:
                return run()
            except Exception as exc:  # one line in probe.errors; the other benchmarks stand
                errors.append(f"latency.{name}: {type(exc).__name__}: {exc}")
                return None

        gaps = attempt("timer_jitter.gap_detector", lambda: gap_detector(plan, clock))
        oversleep = attempt("timer_jitter.oversleep", lambda: timer_oversleep(plan, clock))
        if gaps is not None or oversleep is not None:
            result["timer_jitter"] = timer_jitter(gaps, oversleep)
        syscall = attempt("syscall", lambda: syscall_cost(plan, clock))
        if syscall is not None:
            result["syscall"] = syscall
        clock_read = attempt("clock_read", lambda: clock_read_cost(plan, clock, source, root))
        if clock_read is not None:
            result["clock_read"] = clock_read
        if peer is not None:
            rtt = attempt("network_rtt", lambda: udp_rtt(peer, plan, clock))
            if rtt is not None:
                result["network_rtt"] = rtt
                if rtt["loopback"]:
                    notes.append(NOTE_LOOPBACK)
    finally:
        if gc_was_enabled:
            gc.enable()
        if slack["set"] and slack["previous_ns"] is not None:
            _prctl(PR_SET_TIMERSLACK, slack["previous_ns"])
    wall_ns = time.perf_counter_ns() - started
    result["steal"] = steal(steal_before, read_steal(root), wall_ns)
    result["wall_seconds"] = round(wall_ns / 1e9, 6)
    return result


# --- timer slack ----------------------------------------------------------------------------------

def _prctl(option: int, arg: int) -> tuple[int, int]:
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    rc = prctl(option, arg, 0, 0, 0)
    return rc, ctypes.get_errno()


def set_timer_slack(ns: int = 1) -> dict:
    """prctl(PR_SET_TIMERSLACK, ns) for this thread; the default 50 us slack would dominate every sleep."""
    try:
        previous, _ = _prctl(PR_GET_TIMERSLACK, 0)
        rc, err = _prctl(PR_SET_TIMERSLACK, ns)
        effective, _ = _prctl(PR_GET_TIMERSLACK, 0)
    except (OSError, AttributeError) as exc:
        return {"requested_ns": ns, "set": False, "previous_ns": None, "effective_ns": None,
                "detail": f"prctl unavailable: {exc}"}
    ok = rc == 0 and effective == ns
    detail = (f"prctl(PR_SET_TIMERSLACK, {ns}) succeeded" if ok else
              f"prctl(PR_SET_TIMERSLACK, {ns}) returned {rc} ({os.strerror(err) if rc else 'not applied'}), "
              f"slack now {effective} ns")
    return {"requested_ns": ns, "set": ok, "previous_ns": previous if previous >= 0 else None,
            "effective_ns": effective if effective >= 0 else None, "detail": detail}


# --- timer jitter ---------------------------------------------------------------------------------

def gap_detector(plan: Plan, clock: _Clock, threshold_ns: int = GAP_THRESHOLD_NS) -> dict:
    """Spin on CLOCK_MONOTONIC and record every gap between two consecutive reads above the threshold:
    the time this thread was not running (preemption, interrupts, steal, SMIs)."""
    now = time.perf_counter_ns
    chunk = range(256)
    windows, pooled = [], []
    total_iterations, started = 0, now()
    for index in range(plan.windows):
        end = clock.window_end(plan.gap_window)
        gaps: list[int] = []
        append = gaps.append
        iterations = 0
        begin = last = now()
        while last < end:
            for _ in chunk:
                t = now()
                if t - last > threshold_ns:
                    append(t - last)  # rare: the second subtraction costs nothing on the common path
                last = t
            iterations += 256
        wall = now() - begin
        total_iterations += iterations
        pooled.extend(gaps)
        windows.append(window_summary(index, gaps, wall, iterations=iterations, gaps=len(gaps),
                                      total_stalled_us=_us(sum(gaps)) or 0.0))
    wall_ns = now() - started
    stalled = sum(pooled)
    spun_ns = sum(int(w["wall_seconds"] * 1e9) for w in windows)
    return benchmark(
        f"gaps over {threshold_ns / 1000:g} us between consecutive CLOCK_MONOTONIC reads of a spinning thread "
        "(percentiles are over the gaps, not over all iterations)",
        "busy loop on time.perf_counter_ns (clock_gettime(CLOCK_MONOTONIC)), GC disabled",
        windows, pooled, wall_ns, plan.gap_window,
        threshold_us=threshold_ns / 1000, iterations=total_iterations, gaps=len(pooled),
        total_stalled_us=_us(stalled) or 0.0,
        stalled_fraction=round(stalled / spun_ns, 6) if spun_ns else 0.0,
        loop_ns=round(spun_ns / total_iterations, 1) if total_iterations else None)


def timer_oversleep(plan: Plan, clock: _Clock, sleep_ns: int = SLEEP_NS) -> dict:
    """Many short sleeps; the overshoot past the requested duration is the wake-up latency."""
    now, sleep, seconds = time.perf_counter_ns, time.sleep, sleep_ns / 1e9
    windows, pooled, started = [], [], now()
    for index in range(plan.windows):
        end = clock.window_end(plan.oversleep_window)
        over: list[int] = []
        begin = now()
        while now() + sleep_ns < end:
            t0 = now()
            sleep(seconds)
            over.append(max(0, now() - t0 - sleep_ns))
        pooled.extend(over)
        windows.append(window_summary(index, over, now() - begin))
    return benchmark(
        f"overshoot past a requested {sleep_ns / 1000:g} us sleep (wake-up latency)",
        "time.sleep (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) on Linux), timed with CLOCK_MONOTONIC",
        windows, pooled, now() - started, plan.oversleep_window, requested_sleep_us=sleep_ns / 1000)


def timer_jitter(gaps: dict | None, oversleep: dict | None) -> dict:
    """The dimension: both measurements, and the worse of their tails as the figure to compare budgets with."""
    candidates = [(name, b) for name, b in (("gap_detector", gaps), ("oversleep", oversleep))
                  if b is not None and b["p99_9_us"] is not None]
    worst = max(candidates, key=lambda c: c[1]["p99_9_us"], default=None)
    maxes = [b["max_us"] for _, b in candidates]
    out: dict = {"p99_9_us": worst[1]["p99_9_us"] if worst else None, "max_us": max(maxes) if maxes else None,
                 "tail_from": worst[0] if worst else None}
    if gaps is not None:
        out["gap_detector"] = gaps
    if oversleep is not None:
        out["oversleep"] = oversleep
    return out


# --- per-call costs -------------------------------------------------------------------------------

def call_cost(call: Callable[[], object], windows: int, window_seconds: float, clock: _Clock,
              batch: int = 100, baseline: Callable[[], object] = sys.getrecursionlimit) -> dict:
    """ns per call of `call`, timed over batches of `batch` calls (one sample per batch). Each batch is
    followed by a batch of `baseline`, an equivalent call that enters no kernel, under the same conditions:
    the difference of their medians is what the kernel (or a sandbox) adds to the interpreter's cost."""
    now = time.perf_counter_ns
    reps = range(batch // 10)
    calls = len(reps) * 10
    summaries, pooled, base, started = [], [], [], now()
    for index in range(windows):
        end = clock.window_end(window_seconds)
        samples: list[float] = []
        begin = now()
        while now() < end:
            t0 = now()
            for _ in reps:  # unrolled by ten: the loop's own cost stays small next to a vDSO read
                call(); call(); call(); call(); call(); call(); call(); call(); call(); call()  # noqa: E702
            t1 = now()
            for _ in reps:
                baseline(); baseline(); baseline(); baseline(); baseline()  # noqa: E702
                baseline(); baseline(); baseline(); baseline(); baseline()  # noqa: E702
            t2 = now()
            samples.append((t1 - t0) / calls)
            base.append((t2 - t1) / calls)
        pooled.extend(samples)
        summaries.append(window_summary(index, samples, now() - begin, digits=4))
    return {"windows": summaries, "pooled": pooled, "wall_ns": now() - started, "batch": calls,
            "p50_ns": percentile(sorted(pooled), 50), "base_p50_ns": percentile(sorted(base), 50)}


def _per_call(result: dict, measured: str, method: str, window_seconds: float, **extra) -> dict:
    p50, base_p50 = result["p50_ns"], result["base_p50_ns"]
    interp = None if base_p50 is None else round(base_p50 / 1000, 4)
    net = None if p50 is None or base_p50 is None else round(max(0.0, p50 - base_p50) / 1000, 4)
    return benchmark(measured, method, result["windows"], result["pooled"], result["wall_ns"], window_seconds,
                     digits=4, batch=result["batch"], interpreter_overhead_us=interp, net_p50_us=net, **extra)


def syscall_cost(plan: Plan, clock: _Clock) -> dict:
    result = call_cost(os.getppid, plan.windows, plan.syscall_window, clock)
    return _per_call(result, "cost of one getppid() system call, per call, averaged over batches of "
                             f"{result['batch']}",
                     "os.getppid() (a real syscall: glibc does not cache it); interpreter_overhead_us: the median "
                     "cost of an equivalent call that enters no kernel (sys.getrecursionlimit), in interleaved batches",
                     plan.syscall_window, call="getppid")


def clock_read_cost(plan: Plan, clock: _Clock, source: str | None, root: str = "/") -> dict:
    result = call_cost(time.monotonic_ns, plan.windows, plan.clock_window, clock)
    out = _per_call(result, "cost of one clock_gettime(CLOCK_MONOTONIC) read, per read, averaged over batches of "
                            f"{result['batch']}",
                    "time.monotonic_ns(); interpreter_overhead_us: the median cost of an equivalent call that "
                    "enters no kernel (sys.getrecursionlimit), in interleaved batches; vdso_fallback: net_p50_us >= 1",
                    plan.clock_window, clocksource=source, vdso_mapped=_vdso_mapped(root))
    cost = out["net_p50_us"] if out["net_p50_us"] is not None else out["p50_us"]
    out["vdso_fallback"] = None if cost is None else cost * 1000 >= VDSO_FALLBACK_NS
    return out


def _vdso_mapped(root: str) -> bool | None:
    try:
        with open("/proc/self/maps" if root in ("", "/") else os.path.join(root, "proc/self/maps")) as f:
            return any(line.rstrip().endswith("[vdso]") for line in f)
    except OSError:
        return None


def _clocksource(root: str) -> str | None:
    try:
        with open(CLOCKSOURCE if root in ("", "/") else os.path.join(root, CLOCKSOURCE.lstrip("/"))) as f:
            return f.read().strip() or None
    except OSError:
        return None


# --- steal ----------------------------------------------------------------------------------------

def parse_steal(stat: str) -> int | None:
    """Steal ticks (USER_HZ) of the aggregate `cpu` line of /proc/stat; None when absent."""
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            return int(fields[8]) if len(fields) > 8 and fields[8].isdigit() else None
    return None


def read_steal(root: str = "/") -> int | None:
    try:
        with open("/proc/stat" if root in ("", "/") else os.path.join(root, "proc/stat")) as f:
            return parse_steal(f.read())
    except (OSError, ValueError):
        return None


def steal(before: int | None, after: int | None, wall_ns: int, user_hz: int | None = None) -> dict:
    if user_hz is None:
        try:
            user_hz = os.sysconf("SC_CLK_TCK")
        except (ValueError, OSError):
            user_hz = 100
    delta = None if before is None or after is None else max(0, after - before)
    ms = None if delta is None else round(delta * 1000 / user_hz, 3)
    cpus: int | None
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count()
    return {"measured": "CPU time stolen by the hypervisor over the whole latency run, summed over all CPUs "
                        "(/proc/stat cpu steal)",
            "available": delta is not None, "ticks_before": before, "ticks_after": after, "delta_ticks": delta,
            "user_hz": user_hz, "delta_ms": ms, "delta_us": None if ms is None else round(ms * 1000, 1),
            "resolution_us": round(1e6 / user_hz, 1), "interval_seconds": round(wall_ns / 1e9, 6),
            "cpus_allowed": cpus, "windows": 1, "wall_seconds": round(wall_ns / 1e9, 6)}


# --- network RTT ----------------------------------------------------------------------------------

class PeerError(ValueError):
    """A --peer that is not HOST:PORT or does not resolve."""


def parse_peer(text: str) -> tuple[str, int]:
    """'HOST:PORT' or '[IPv6]:PORT' -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if not sep:
            raise PeerError(f"not [ADDRESS]:PORT: {text!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise PeerError(f"not ADDRESS:PORT (write an IPv6 address as [ADDRESS]:PORT): {text!r}")
    if not host:
        raise PeerError(f"no address in {text!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise PeerError(f"port must be 1-65535: {text!r}")
    return host, int(port)


def resolve_peer(host: str, port: int) -> tuple[int, tuple]:
    """(address family, sockaddr) of the first UDP address of host:port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise PeerError(f"cannot resolve {host!r}: {exc}") from None
    if not infos:
        raise PeerError(f"cannot resolve {host!r}")
    family, _, _, _, sockaddr = infos[0]
    try:  # a name may stand for what a literal could not be
        single_host(str(sockaddr[0]))
    except ValueError as exc:
        raise PeerError(f"{host!r} resolves to {exc}") from None
    return family, sockaddr


def udp_rtt(peer: tuple[str, int], plan: Plan, clock: _Clock) -> dict:
    """Sequential small datagrams to an echo peer: one warm-up (not counted), then plan.udp_packets spread
    over plan.windows windows; the whole benchmark ends within plan.udp_budget seconds."""
    now = time.perf_counter_ns
    started = now()
    budget_end = min(started + int(plan.udp_budget * 1e9), clock.deadline)
    family, sockaddr = resolve_peer(*peer)
    address = sockaddr[0]
    loopback = ipaddress.ip_address(address.split("%")[0]).is_loopback
    label = f"[{peer[0]}]:{peer[1]}" if ":" in peer[0] else f"{peer[0]}:{peer[1]}"
    nonce = os.urandom(8)
    counts = {"sent": 0, "received": 0, "refused": 0, "failed": 0, "timed_out": 0, "stale": 0}
    last_error: list[str] = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(sockaddr)

        def round_trip(seq: int, until: int) -> int | None:
            """RTT in ns of datagram `seq`, or None (timed out, refused or failed). Stale echoes are skipped."""
            payload = nonce + seq.to_bytes(4, "big") + bytes(UDP_PAYLOAD - 12)
            counts["sent"] += 1
            t0 = now()
            try:
                sock.send(payload)
            except ConnectionRefusedError:  # an earlier datagram's ICMP port unreachable
                counts["refused"] += 1
                return None
            except OSError as exc:  # no route, network down, ...: lost, and said why
                counts["failed"] += 1
                last_error[:] = [f"send: {exc.strerror or exc}"]
                return None
            limit = min(t0 + int(plan.udp_timeout * 1e9), until)
            while True:
                left = limit - now()
                if left <= 0:
                    counts["timed_out"] += 1
                    return None
                sock.settimeout(left / 1e9)
                try:
                    data = sock.recv(2048)
                except TimeoutError:
                    counts["timed_out"] += 1
                    return None
                except ConnectionRefusedError:
                    counts["refused"] += 1
                    return None
                except OSError as exc:
                    counts["failed"] += 1
                    last_error[:] = [f"recv: {exc.strerror or exc}"]
                    return None
                if data[:12] == payload[:12]:
                    counts["received"] += 1
                    return now() - t0
                counts["stale"] += 1

        warm = dict(counts)
        warmup = round_trip(0xFFFFFFFF, min(budget_end, now() + int(min(0.1, plan.udp_budget / 10) * 1e9)))
        counts.update(warm)  # the warm-up (ARP/neighbour resolution, cold caches) is not counted
        last_error.clear()
        per_window = max(1, math.ceil(plan.udp_packets / plan.windows))
        window_seconds = plan.udp_budget / plan.windows
        windows, pooled, seq = [], [], 0
        for index in range(plan.windows):
            remaining_windows = plan.windows - index
            end = min(now() + max(0, (budget_end - now()) // remaining_windows), budget_end)
            rtts: list[int] = []
            begin, sent_before = now(), counts["sent"]
            for _ in range(min(per_window, plan.udp_packets - seq)):
                if now() >= end:
                    break
                rtt = round_trip(seq, end)
                seq += 1
                if rtt is not None:
                    rtts.append(rtt)
            pooled.extend(rtts)
            windows.append(window_summary(index, rtts, now() - begin,
                                          sent=counts["sent"] - sent_before, received=len(rtts)))
    attempted = counts["sent"]
    return benchmark(
        f"UDP round trip of a {UDP_PAYLOAD}-byte datagram to the echo peer {label}, one in flight",
        f"connected UDP socket, per-datagram timeout {plan.udp_timeout * 1000:g} ms, one uncounted warm-up datagram",
        windows, pooled, now() - started, round(window_seconds, 6),
        peer=label, address=address, loopback=loopback, requested=plan.udp_packets,
        sent=attempted, received=counts["received"], lost=attempted - counts["received"],
        refused=counts["refused"], failed=counts["failed"], last_error=last_error[0] if last_error else None,
        not_sent=plan.udp_packets - attempted,
        timeout_ms=plan.udp_timeout * 1000, warmup_answered=warmup is not None)
