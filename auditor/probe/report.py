"""Assemble the ProbeReport (auditor/schemas/probe-report.schema.json) from the collectors.

A collector that fails adds one line to probe.errors and leaves a placeholder that says
"unknown" where the schema allows it; the rest of the report stands.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from .. import __version__
from . import cgroups, enforcement
from .escapes import collect_escape_vectors
from .host import collect_host
from .namespaces import TYPES, collect_namespaces
from .privileges import collect_privileges

SCHEMA_VERSION = "1.0"
T = TypeVar("T")


def build_report(root: str = "/", active: bool = False, node: str | None = None,
                 namespace: str | None = None, pod: str | None = None,
                 container: str | None = None, reach: Sequence | None = None,
                 reach_timeout: float | None = None, latency: bool = False,
                 peer: tuple[str, int] | None = None) -> dict:
    """`reach`: validated targets (probe.reach.Target) to test; also adds the `network` view, read
    after the tests so that the neighbour table shows what they resolved. `latency`: run the bounded
    latency micro-benchmarks (probe.latency), with UDP round trips to `peer` (host, port) when given."""
    started, wall = time.monotonic(), datetime.now(UTC)
    errors: list[str] = []

    def attempt(name: str, collect: Callable[[], T], fallback: Callable[[], T]) -> T:
        try:
            return collect()
        except Exception as exc:  # one line in probe.errors, never a missing report
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return fallback()

    namespaces = attempt("namespaces", lambda: collect_namespaces(root),
                         lambda: {t: {"shared_with_host": None, "evidence": "collector failed"} for t in TYPES})
    shared = [namespaces[t]["shared_with_host"] for t in ("pid", "mnt")]
    in_container = True if False in shared else (False if all(s is True for s in shared) else None)
    host = attempt("host", lambda: collect_host(root, in_container), lambda: _host_fallback(root))
    privileges = attempt("privileges", lambda: collect_privileges(root, errors), _privileges_fallback)
    vectors = attempt("escape_vectors", lambda: collect_escape_vectors(root, privileges, namespaces), list)
    cgroup = attempt("cgroup", lambda: cgroups.collect_cgroup(root, errors), lambda: _cgroup_fallback(root))
    latency_section = None
    if latency:  # first of the active parts, on a machine the enforcement tests have not yet stirred
        from .latency import run_latency

        # timings are of the live machine whatever `root` is, so /proc/stat and the clocksource are the live ones
        latency_section = attempt("latency", lambda: run_latency(peer=peer, errors=errors), lambda: None)
    if active:
        view = attempt("cgroup", lambda: cgroups.locate(root), lambda: None)
        tests = (("memory", lambda: enforcement.memory_test(cgroup["memory_limit_bytes"], view)),
                 ("pids", lambda: enforcement.pids_test(cgroup["pids_max"], view)),
                 ("cpu", lambda: enforcement.cpu_test(cgroup["cpu_quota_cores"])))
        evidence = cgroup.get("evidence", {})
        cgroup["enforcement"] = {
            name: (attempt(f"enforcement.{name}", test,
                           lambda: {"tested": False, "enforced": None, "detail": "test failed to run"})
                   if view is not None and not str(evidence.get(name, "")).startswith("unknown") else
                   {"tested": False, "enforced": None, "detail": "the limit could not be read, so there is nothing "
                                                                 "to test it against (see probe.errors)"})
            for name, test in tests}
    reach_entries = network = None
    if reach is not None:
        from . import reach as reach_tests

        timeout = reach_tests.DEFAULT_TIMEOUT if reach_timeout is None else reach_timeout
        reach_entries = attempt("reach", lambda: reach_tests.run_reach(reach, timeout=timeout),
                                lambda: [reach_tests.entry(t, reach_tests.Outcome("error", "reach tests failed to run"))
                                         for t in reach])
        from .network import collect_network

        network = attempt("network", collect_network, lambda: None)
    report = {
        "schema_version": SCHEMA_VERSION,
        "probe": {
            "version": __version__,
            "time": wall.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration_seconds": round(time.monotonic() - started, 3),
            "active": active,
            "node": node,
            "namespace": namespace,
            "pod": pod,
            "container": container,
            "errors": errors,
        },
        "host": host,
        "namespaces": namespaces,
        "privileges": privileges,
        "escape_vectors": vectors,
        "cgroup": cgroup,
    }
    if latency_section is not None:
        report["latency"] = latency_section
    if reach_entries is not None:
        report["reach"] = reach_entries
    if network is not None:
        report["network"] = network
    return report


def _host_fallback(root: str) -> dict:
    return {"kernel_release": os.uname().release if root in ("", "/") else "unknown", "boot_id": None,
            "hypervisor": None, "hypervisor_evidence": [], "container_runtime": None, "sandbox": None,
            "clocksource": None, "sysctls": {}}


def _privileges_fallback() -> dict:
    return {"uid": os.geteuid(), "gid": os.getegid(), "capabilities_effective": [], "capabilities_bounding": [],
            "no_new_privs": False, "seccomp_mode": "disabled", "seccomp_filters": None, "apparmor": None,
            "selinux": None}


def _cgroup_fallback(root: str) -> dict:
    v2 = os.path.exists(os.path.join(root, "sys/fs/cgroup/cgroup.controllers"))
    return {"version": "v2" if v2 else "v1", "path": None, "memory_limit_bytes": None, "pids_max": None,
            "cpu_quota_cores": None, "evidence": {"error": "collector failed; limits unknown, not unlimited"}}
