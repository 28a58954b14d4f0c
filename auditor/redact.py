"""What never leaves the tool: env var values, Secret and ConfigMap data, free-form annotations.

Evidence in findings and the inventory snapshot in evidence bundles both pass through here,
whatever a (possibly third-party) rule pack points its evidence at.
"""
from __future__ import annotations

from typing import Any, Sequence

REDACTED = "<redacted>"
SECRET_KEYS = frozenset({"data", "stringData", "binaryData"})
# Annotations are free-form (last-applied-configuration holds a whole spec, env values
# included); only the ones that configure isolation keep their values.
SAFE_ANNOTATIONS = ("container.apparmor.security.beta.kubernetes.io/", "seccomp.security.alpha.kubernetes.io/",
                    "container.seccomp.security.alpha.kubernetes.io/", "pod-security.kubernetes.io/",
                    "isolation-audit.io/")


def annotations(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: v if str(k).startswith(SAFE_ANNOTATIONS) else REDACTED for k, v in value.items()}


def scrub(value: Any, in_env: bool = False) -> Any:
    """A value with env var values, Secret/ConfigMap data and free-form annotations removed."""
    if isinstance(value, dict):
        return {
            k: _keys_only(v) if k in SECRET_KEYS else REDACTED if in_env and k == "value"
            else annotations(v) if k == "annotations" else scrub(v, in_env or k == "env")
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, in_env) for v in value]
    return value


def _keys_only(value: Any) -> Any:
    """Which keys a Secret or ConfigMap holds is evidence; their values are not."""
    return {k: REDACTED for k in value} if isinstance(value, dict) else REDACTED


def evidence(tokens: Sequence[str], value: Any) -> Any:
    """The observed value at a pointer (its tokens), as a finding may show it."""
    in_env = "env" in tokens
    if SECRET_KEYS.intersection(tokens) or (in_env and tokens[-1:] == ["value"]):
        return REDACTED
    if tokens[-2:-1] == ["annotations"] and not tokens[-1].startswith(SAFE_ANNOTATIONS):
        return REDACTED
    if tokens[-1:] == ["annotations"]:
        return annotations(value)
    return scrub(value, in_env)


def snapshot(value: Any) -> Any:
    """Objects for a snapshot or evidence bundle: Secrets dropped (wherever they nest), the rest scrubbed."""
    if isinstance(value, list):
        return [snapshot(v) for v in value if not _is_secret(v)]
    if isinstance(value, dict):
        if _is_secret(value):
            return None
        if isinstance(value.get("items"), list):
            return {**value, "items": snapshot(value["items"])}
        return scrub(value)
    return value


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == "Secret" and "metadata" in value
