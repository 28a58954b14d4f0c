"""The in-pod / on-node probe: what the kernel shows about this process's isolation.

`run_probe()` returns a ProbeReport dict (auditor/schemas/probe-report.schema.json). It needs
no Kubernetes access, reads only kernel-provided files, attempts no escape and changes
nothing on the host; `active=True` adds bounded memory/pids/CPU enforcement tests; `reach` (targets
from `probe.reach.load_targets`) adds bounded reachability tests and the probe's network view.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from .report import SCHEMA_VERSION, build_report

__all__ = ["SCHEMA_VERSION", "build_report", "run_probe"]


def run_probe(active: bool = False, node: str | None = None, namespace: str | None = None,
              pod: str | None = None, container: str | None = None, root: str = "/",
              reach: Sequence | None = None, reach_timeout: float | None = None,
              latency: bool = False, peer: tuple[str, int] | None = None) -> dict:
    """Probe this process's view of the machine. node/namespace/pod default to the downward-API
    environment variables NODE_NAME, POD_NAMESPACE and POD_NAME."""
    return build_report(
        root=root, active=active,
        node=node if node is not None else os.environ.get("NODE_NAME"),
        namespace=namespace if namespace is not None else os.environ.get("POD_NAMESPACE"),
        pod=pod if pod is not None else os.environ.get("POD_NAME"),
        container=container, reach=reach, reach_timeout=reach_timeout, latency=latency, peer=peer,
    )
