"""Attack: an env var's (or header's) `valueFrom` was shown whole, whatever it held, so a value
written there -- `valueFrom: s3cr3t`, a list, a source given as a string, a nested mapping --
left the tool through any pack whose evidence pointed at the env. A `valueFrom` is shown only
as what it is for: a mapping of reference sources, each with scalar fields."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import redact

MARKER = "mk7f3e9a1c55d0b2"
ENV = ["spec", "containers", "0", "env"]


def planted() -> st.SearchStrategy[object]:
    # A reference's own fields (`name`, `key`...) are shown on purpose, so none is planted here.
    names = st.sampled_from(["secretKeyRef", "configMapKeyRef", "fieldRef", "value", "valueFrom", "0", "a"])
    leaf = st.one_of(st.just(MARKER), st.just([{"name": MARKER}]), st.just(f"--password={MARKER}"),
                     st.integers(), st.none())
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(names, inner, max_size=3)), max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(value=planted(), pointer=st.sampled_from([ENV, [*ENV, "0"], [*ENV, "0", "valueFrom"], ["spec"], []]))
def test_no_value_planted_in_value_from_is_shown(value, pointer):
    env = [{"name": "DB_PASSWORD", "valueFrom": value}]
    obj = {"spec": {"containers": [{"name": "c", "env": env}]}}
    target = obj
    for token in pointer:
        target = target[int(token)] if isinstance(target, list) else target[token]
    assert MARKER not in json.dumps(redact.evidence(pointer, target))


def test_a_reference_is_still_shown():
    env = [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": False}}},
           {"name": "B", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
           {"name": "C", "valueFrom": {"resourceFieldRef": {"containerName": "c", "resource": "limits.cpu",
                                                           "divisor": "1m"}}}]
    assert redact.evidence(ENV, env) == env
