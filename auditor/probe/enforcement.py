"""Bounded active tests (--active): are the memory, pids and CPU limits really enforced?

Each test runs the host's Python as a child in a session of its own, bounded in size (the
child caps its own address space; process and allocation counts have hard ceilings) and in
time (killed with its whole process group past the deadline). Every process a test starts
is reaped before the test returns, and the result says so.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from . import cgroups

MiB = 1 << 20
MEMORY_CEILING = 1 << 30  # never allocate more than this, whatever the limit
MEMORY_OVERSHOOT = 64 * MiB  # how far past the limit the child tries to go
MEMORY_UNLIMITED_CAP = 128 * MiB  # what the child allocates when there is no limit
MEMORY_STEP = 8 * MiB
PIDS_OVERSHOOT = 8
PIDS_CEILING = 512  # never more processes than this at once
# Without a visible pids.max the limit may still sit above the container's cgroup (the pod's,
# from the kubelet's podPidsLimit, which a container on cgroup v1 cannot read); a refusal then
# shows it. Threads count against a pids limit like processes but cost a small stack each, not
# a forked interpreter's pages, so this many fit under the tightest memory limit.
PIDS_UNLIMITED = 128
_THREAD_STACK = 64 * 1024
CPU_SECONDS = 1.0
TIME_CEILING = 10.0  # wall-clock seconds per test, child killed past it
_PR_SET_CHILD_SUBREAPER = 36


@dataclass
class ChildResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    elapsed: float
    leftovers: list[int] = field(default_factory=list)  # processes of the child's session still alive

    def reaped(self) -> str:
        return "all its processes reaped" if not self.leftovers else f"processes left: {self.leftovers}"


def _session_members(sid: int) -> list[tuple[int, int, str]]:
    """(pid, ppid, state) of every process whose session id is `sid`."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, ppid, session = fields[0].decode(), int(fields[1]), int(fields[3])
        if session == sid:
            members.append((int(name), ppid, state))
    return members


def _clear_session(sid: int, grace: float = 3.0) -> list[int]:
    """SIGKILL what is left of the child's process group and reap what was handed to us."""
    deadline = time.monotonic() + grace
    while True:
        members = _session_members(sid)
        if not members:  # the usual case: signal nothing, so a reused id is never hit
            return []
        try:
            os.killpg(sid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid, ppid, _ in members:
            try:
                os.kill(pid, signal.SIGKILL)  # also any that left the process group
            except (ProcessLookupError, PermissionError):
                pass
            if ppid == os.getpid():  # orphans re-parented to us (subreaper or pid 1)
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        members = _session_members(sid)
        if not members or time.monotonic() > deadline:
            return [pid for pid, _, _ in members]
        time.sleep(0.02)


def run_child(code: str, args: list[str], timeout: float) -> ChildResult:
    """Run `code` in a fresh Python in its own session; kill the session at `timeout`."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", code, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        stdout, stderr = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        leftovers = _clear_session(proc.pid)
    return ChildResult(proc.returncode, stdout, stderr, timed_out, time.monotonic() - started, leftovers)


class _Subreaper:
    """Make orphaned grandchildren come back to this process (so it can reap them) for a while."""

    def __enter__(self):
        self.libc = None
        try:
            self.libc = ctypes.CDLL(None, use_errno=True)
            self.libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            self.libc = None
        return self

    def __exit__(self, *exc):
        if self.libc is not None:
            self.libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        return False


def _result(tested: bool, enforced: bool | None, detail: str) -> dict:
    return {"tested": tested, "enforced": enforced, "detail": detail}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


# --- memory ----------------------------------------------------------------------------------

_MEMORY_CHILD = r"""
import resource, sys
target, step = int(sys.argv[1]), int(sys.argv[2])
try:  # be the OOM killer's first choice in this cgroup, never the probe
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
except OSError:
    pass
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
vm = int(status["VmSize"].split()[0]) * 1024
cap = vm + target + 64 * 2**20  # the address-space ceiling: this child can never take more
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
chunks, total = [], 0
print("start", flush=True)
try:
    while total < target:
        n = min(step, target - total)
        block = bytearray(n)
        block[::4096] = b"\x01" * len(range(0, n, 4096))  # touch every page
        chunks.append(block)
        total += n
        print(total, flush=True)
except MemoryError:
    print("memoryerror", total, flush=True)
    sys.exit(3)
hwm = int(dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)["VmHWM"].split()[0]) * 1024
print("done", total, hwm, flush=True)
"""


def _swap_devices() -> int:
    try:
        with open("/proc/swaps") as f:
            return max(0, len(f.read().strip().splitlines()) - 1)
    except OSError:
        return 0


def memory_test(limit: int | None, view: cgroups.CgroupView | None = None,
                ceiling: int = MEMORY_CEILING, timeout: float = TIME_CEILING) -> dict:
    if limit is None:
        target = min(MEMORY_UNLIMITED_CAP, ceiling)
    else:
        target = min(limit + MEMORY_OVERSHOOT, ceiling)
        if target <= limit:
            return _result(False, None, f"limit {limit // MiB} MiB is at or above the {ceiling // MiB} MiB test "
                                        "ceiling: not tested")
    before = cgroups.oom_kills(view) if view else None
    child = run_child(_MEMORY_CHILD, [str(target), str(MEMORY_STEP)], timeout)
    after = cgroups.oom_kills(view) if view else None
    touched, peak, outcome = 0, None, None
    for line in child.stdout.splitlines():
        words = line.split()
        if words and words[0].isdigit():
            touched = int(words[0])
        elif words and words[0] in ("done", "memoryerror"):
            outcome, touched = words[0], int(words[1])
            peak = int(words[2]) if len(words) > 2 else None
    counter = f"; oom_kill counter {before} -> {after}" if before is not None and after is not None else ""
    tail = f"; {child.elapsed:.1f}s, {child.reaped()}"
    mib = f"{touched // MiB} MiB"
    if child.timed_out:
        return _result(
            True, None, f"child did not finish within {timeout:.0f}s and was killed after touching {mib}{tail}"
        )
    if limit is None:
        if outcome == "done":
            return _result(True, None, f"no memory limit: touched {mib} (the {target // MiB} MiB cap) without being "
                                       f"stopped, peak RSS {peak // MiB if peak else '?'} MiB{tail}")
        return _result(True, None, f"no memory limit, yet the child stopped at {mib} "
                                   f"(exit {child.returncode}){counter}{tail}")
    if child.returncode == -signal.SIGKILL:
        return _result(True, touched <= limit, f"child OOM-killed after touching {mib} of a {limit // MiB} MiB "
                                               f"limit{counter}{tail}")
    if outcome == "memoryerror":
        return _result(True, touched <= limit, f"MemoryError after {mib} of a {limit // MiB} MiB limit{tail}")
    if outcome == "done":
        swap = _swap_devices()
        hint = f"; swap is on ({swap} device{'s' if swap > 1 else ''} in /proc/swaps) and may absorb it" if swap else ""
        return _result(True, False, f"touched {mib}, past the {limit // MiB} MiB limit, without being stopped "
                                    f"(peak RSS {peak // MiB if peak else '?'} MiB){hint}{tail}")
    return _result(True, None, f"child failed before the test (exit {child.returncode}: "
                               f"{_last_line(child.stderr)}){tail}")


# --- pids ------------------------------------------------------------------------------------

_PIDS_CHILD = r"""
import json, os, sys, threading
attempt, current_file, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kids, error, current = [], None, None

def now():
    try:
        return open(current_file).read().strip() if current_file else None
    except OSError:
        return None

if mode == "threads":
    threading.stack_size(int(sys.argv[4]))
    done = threading.Event()
    for _ in range(attempt):
        thread = threading.Thread(target=done.wait, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # clone() refused: EAGAIN, as fork() is refused
            error, current = 11, now()
            break
        kids.append(thread)
    done.set()
    for thread in kids:
        thread.join()
    print(json.dumps({"created": len(kids), "errno": error, "current": current}), flush=True)
    sys.exit(0)
r, w = os.pipe()
for _ in range(attempt):
    try:
        pid = os.fork()
    except OSError as exc:
        error, current = exc.errno, now()
        break
    if pid == 0:
        os.close(w)
        try:
            os.read(r, 1)  # wait for the parent to close its end
        finally:
            os._exit(0)
    kids.append(pid)
os.close(w)
for pid in kids:
    os.waitpid(pid, 0)
print(json.dumps({"created": len(kids), "errno": error, "current": current}), flush=True)
"""


def _child_outcome(script: str, args: list[str], timeout: float):
    """(outcome, None, tail) from a bounded child's last JSON line, or (None, result, tail)."""
    with _Subreaper():
        child = run_child(script, args, timeout)
    tail = f"; {child.elapsed:.1f}s, {child.reaped()}"
    if child.timed_out:
        return None, _result(True, None, f"child did not finish within {timeout:.0f}s and was killed{tail}"), tail
    try:
        return json.loads(_last_line(child.stdout)), None, tail
    except ValueError:
        return (
            None,
            _result(True, None, f"child failed (exit {child.returncode}: {_last_line(child.stderr)}){tail}"),
            tail,
        )


def pids_test(pids_max: int | None, view: cgroups.CgroupView | None = None,
              ceiling: int = PIDS_CEILING, timeout: float = TIME_CEILING) -> dict:
    if pids_max is None:
        attempt = min(PIDS_UNLIMITED, ceiling)
    else:
        attempt = pids_max + PIDS_OVERSHOOT
        if attempt > ceiling:
            return _result(False, None, f"pids.max {pids_max} is too close to or above the {ceiling}-process test "
                                        "ceiling: not tested")
    current_file = (view.own_file("pids", "pids.current") if view else None) or ""
    # Processes against a visible limit (what a fork bomb meets); cheap threads when none is visible.
    mode = "processes" if pids_max is not None else "threads"
    outcome, failed, tail = _child_outcome(_PIDS_CHILD, [str(attempt), current_file, mode, str(_THREAD_STACK)],
                                           timeout)
    if failed is not None:
        return failed
    created, errno_, current = outcome["created"], outcome["errno"], outcome["current"]
    at_failure = f", pids.current {current} at that moment" if current else ""
    if pids_max is None:
        if errno_ is None:
            return _result(True, None, f"no pids limit: created {created} threads without refusal{tail}")
        if errno_ == 11:  # EAGAIN: a limit this cgroup cannot show (the pod's) or RLIMIT_NPROC
            return _result(True, True, f"no pids.max visible, yet a new task was refused (EAGAIN) after {created} "
                                       f"threads{at_failure}: a task limit above this container's cgroup "
                                       f"(the pod's) is enforced{tail}")
        return _result(True, None, f"no pids limit, yet a new task failed with errno {errno_} after {created} "
                                   f"threads{at_failure}{tail}")
    if errno_ is None:
        return _result(True, False, f"created {created} processes, past pids.max {pids_max}, without refusal{tail}")
    if errno_ != 11:  # EAGAIN is what the pids controller returns
        return _result(True, None, f"fork failed with errno {errno_} (not EAGAIN) after {created} processes{tail}")
    # The forking child is one task of the cgroup too, so at most pids_max - 1 children fit.
    return _result(True, created + 1 <= pids_max,
                   f"fork refused (EAGAIN) after {created} child processes{at_failure}, pids.max {pids_max}{tail}")


# --- cpu -------------------------------------------------------------------------------------

_CPU_CHILD = r"""
import json, os, sys, time
workers, seconds = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
pids = []
for _ in range(workers):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
wall = time.monotonic() - start
t = os.times()
print(json.dumps({"cpu": t.children_user + t.children_system, "wall": wall}), flush=True)
"""


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_test(quota: float | None, seconds: float = CPU_SECONDS, timeout: float = TIME_CEILING) -> dict:
    cpus = usable_cpus()
    if quota is None:
        workers = 1
    elif quota >= cpus:
        return _result(False, None, f"quota {quota} cores is at or above the {cpus} CPUs this process may run on: "
                                    "a busy loop cannot exceed it, not tested")
    else:
        workers = min(cpus, math.floor(quota) + 1)  # enough busy loops to exceed the quota
    outcome, failed, tail = _child_outcome(_CPU_CHILD, [str(workers), str(seconds)], timeout)
    if failed is not None:
        return failed
    ratio = outcome["cpu"] / outcome["wall"] if outcome["wall"] > 0 else 0.0
    used = f"{workers} busy loop{'s' if workers > 1 else ''} used {ratio:.2f} cores over {outcome['wall']:.2f}s wall"
    if quota is None:
        return _result(True, None, f"no CPU quota: {used}{tail}")
    bound = quota * 1.3 + 0.05
    return _result(True, ratio <= bound, f"{used}; quota {quota} cores, enforced if at most {bound:.2f}{tail}")
