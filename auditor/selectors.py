"""Kubernetes label selectors (matchLabels + matchExpressions), as the API server evaluates them."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """True when `selector` selects an object with `labels`; an empty selector selects all.

    A malformed selector selects nothing: the API server would have rejected it, and an
    audit must not widen what a broken policy protects.
    """
    if not selector:
        return True
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        return False
    for key, value in match_labels.items():
        if labels.get(key) != value:
            return False
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        return False
    return all(_expression(e, labels) for e in expressions)


def _expression(expr: Any, labels: Mapping[str, str]) -> bool:
    if not isinstance(expr, dict):
        return False
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not isinstance(key, str) or not isinstance(values, list):
        return False
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False
