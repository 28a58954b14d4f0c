"""The state ConfigMap: this run's metrics (`metrics`) and what the next run's drift needs
(`state.json`). Bounded both ways: a ConfigMap holds at most 1 MiB, and what is read back is
checked against a small schema before it is used. A state that is too large, not JSON, of
another schema version or of another shape is *unreadable*: a one-line reason that names the
ConfigMap and the field, never a value from it (the ConfigMap is writable by whoever may
update it; its content is not trusted)."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..live.errors import ApiStatusError
from ..live.transport import Api
from .drift import SEVERITIES, RunState

STATE_KEY, METRICS_KEY = "state.json", "metrics"
SCHEMA = "k8s-isolation-audit/state/v1"
# part-of, not managed-by: the probe clean-up and its leftover checks own the managed-by label
LABELS = {"app.kubernetes.io/part-of": "k8s-isolation-audit"}
# A ConfigMap's data may take at most 1 MiB (1,048,576 bytes); some room is left for the rest.
MAX_DATA_BYTES = 1_000_000
MAX_STATE_BYTES = 600_000  # about 12,000 findings; the metrics get the rest
_FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")
_TENANT_MAX = 253


class StateError(Exception):
    """The state could not be read or written: one line naming the ConfigMap, never a value."""


@dataclass(frozen=True)
class Location:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"configmap {self.namespace}/{self.name}"

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/configmaps/{self.name}"


def encode(state: RunState) -> str:
    """state.json; a run whose findings and pairs do not fit MAX_STATE_BYTES is stored as
    `truncated`, and the next run's drift is then unknown rather than wrong."""
    def doc(truncated: bool) -> str:
        return json.dumps({"schema": SCHEMA, "finished": state.finished, "truncated": truncated,
                           "findings": [] if truncated else [list(f) for f in state.findings],
                           "reachable": [] if truncated else [list(p) for p in state.reachable]},
                          separators=(",", ":"), ensure_ascii=True)

    full = doc(False)
    return full if len(full) <= MAX_STATE_BYTES else doc(True)


def decode(text: str, where: Location) -> RunState:
    """The previous run's state; StateError when it is not one this tool wrote."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_STATE_BYTES:
        raise StateError(f"{where}: {STATE_KEY} is larger than {MAX_STATE_BYTES} bytes")
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise StateError(f"{where}: {STATE_KEY} is not JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise StateError(f"{where}: {STATE_KEY}: not a state of this tool (schema is not {SCHEMA})")
    finished = _time(doc.get("finished"))
    if finished is None:
        raise StateError(f"{where}: {STATE_KEY}: finished: not a time")
    if doc.get("truncated") is not False:
        raise StateError(f"{where}: {STATE_KEY}: the previous run had more findings than the state keeps")
    findings = _pairs(doc.get("findings"), "findings", where)
    for index, (fp, severity) in enumerate(findings):
        if not _FINGERPRINT.match(fp) or severity not in SEVERITIES:
            raise StateError(f"{where}: {STATE_KEY}: findings[{index}]: not a fingerprint and severity")
    reachable = _pairs(doc.get("reachable"), "reachable", where)
    if any(len(a) > _TENANT_MAX or len(b) > _TENANT_MAX for a, b in reachable):
        raise StateError(f"{where}: {STATE_KEY}: reachable: tenant name too long")
    return RunState(finished, tuple(sorted(findings)), tuple(sorted(set(reachable))))


def _time(value: Any) -> float | None:
    """A finite number of seconds, else None (an integer beyond a float's range included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _pairs(value: Any, field: str, where: Location) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise StateError(f"{where}: {STATE_KEY}: {field}: not a list")
    out = []
    for index, item in enumerate(value):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise StateError(f"{where}: {STATE_KEY}: {field}[{index}]: not a pair of strings")
        out.append((item[0], item[1]))
    return out


def read_configmap(api: Api, where: Location) -> Mapping[str, Any] | None:
    """The ConfigMap, or None when there is none (the first run). A GET by name: the chart
    grants `get` on this one name only."""
    try:
        obj = api.get(where.path)
    except ApiStatusError as exc:
        if exc.status == 404:
            return None
        raise StateError(f"{where}: cannot read: HTTP {exc.status} {exc.reason}") from None
    metadata = obj.get("metadata") or {} if isinstance(obj, dict) else None
    if not (isinstance(metadata, dict) and isinstance(obj.get("data") or {}, dict)
            and all(isinstance(metadata.get(k) or {}, dict) for k in ("labels", "annotations"))):
        raise StateError(f"{where}: the server's answer is not a ConfigMap")
    return obj


def previous_state(configmap: Mapping[str, Any] | None, where: Location) -> RunState | None:
    """None for the first run: no ConfigMap, or one without state.json (made by a chart ahead
    of the first run, so that uninstalling the chart removes it)."""
    text = (configmap.get("data") or {}).get(STATE_KEY) if configmap is not None else None
    if text is None:
        return None
    if not isinstance(text, str):
        raise StateError(f"{where}: {STATE_KEY} is not a string")
    return decode(text, where)


def write_configmap(api: Api, where: Location, existing: Mapping[str, Any] | None, state: RunState,
                    metrics: str, owners: Sequence[Mapping[str, str]] = ()) -> None:
    """Create the ConfigMap, or replace the one read at the start of the run (its
    resourceVersion: a concurrent run's write makes this one fail rather than interleave)."""
    state_json = encode(state)
    room = MAX_DATA_BYTES - len(state_json)
    if len(metrics.encode("utf-8")) > room:
        raise StateError(f"{where}: the run's metrics ({len(metrics.encode('utf-8'))} bytes) do not fit "
                         f"the {room} bytes the ConfigMap has left")
    metadata: dict[str, Any] = {"name": where.name, "namespace": where.namespace, "labels": dict(LABELS)}
    if existing is not None:
        # read, modify, write: a ConfigMap a chart made keeps its labels and annotations (Helm's ownership)
        before = {k: v for k, v in (existing.get("metadata") or {}).items() if k != "managedFields"}
        metadata = {**before, **metadata, "labels": {**LABELS, **(before.get("labels") or {})}}
    if owners:
        metadata["ownerReferences"] = [dict(r) for r in owners]
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            "data": {STATE_KEY: state_json, METRICS_KEY: metrics}}
    try:
        if existing is None:
            api.create(f"/api/v1/namespaces/{where.namespace}/configmaps", body)
        else:
            api.json("PUT", where.path, (), body)
    except ApiStatusError as exc:
        verb = "create" if existing is None else "update"
        raise StateError(f"{where}: cannot {verb}: HTTP {exc.status} {exc.reason}") from None
