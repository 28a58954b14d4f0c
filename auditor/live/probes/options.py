"""What the caller of a probe run may set."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ... import __version__

TOOL_NAMESPACE = "isolation-audit"
DEFAULT_IMAGE = f"ghcr.io/k8s-isolation-audit/k8s-isolation-audit:{__version__}"


@dataclass(frozen=True)
class ProbeOptions:
    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    namespace: str = TOOL_NAMESPACE
    timeout: float = 300.0  # the whole wait for Jobs, from the last one created
    active_deadline: int = 180  # activeDeadlineSeconds of each Job
    ttl_after_finished: int = 600  # ttlSecondsAfterFinished: the cluster's own backstop
    poll_interval: float = 2.0
    nodes: Sequence[str] | None = None  # None: every node
    namespaces: Sequence[str] | None = None  # tenant namespaces to probe reach from; None: all
    node_probes: bool = True
    reach_probes: bool = True
    max_targets: int = 256  # per reach Job; targets are equivalence classes, not all pods
    reach_timeout: float = 1.0
    # each clean-up pass (leftovers first, this run's objects last) starts no API call after
    # this long and names what it did not delete: Ctrl-C is held off while it runs. A call
    # already under way still ends at the API's own timeout.
    cleanup_timeout: float = 60.0
    namespace_wait: float = 60.0  # for a namespace of an earlier run to finish terminating
