"""Property tests: arbitrary documents never crash the loader or the engine."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scan_helpers import audit_inventory

from auditor.sources.manifests import load

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=20)
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                      max_leaves=30)
KEYS = ["spec", "containers", "initContainers", "securityContext", "capabilities", "add", "privileged", "hostPID",
        "volumes", "hostPath", "path", "ports", "hostPort", "resources", "limits", "seccompProfile", "type",
        "template", "metadata", "labels", "podSelector", "ingress", "from", "policyTypes", "runAsUser", "env"]
k8s_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=25)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_loads(text):
    inventory = load(["-"], stdin=io.BytesIO(text.encode()))
    assert all(s.reason for s in inventory.skipped)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["Pod", "Deployment", "CronJob", "NetworkPolicy", "Namespace", "Node", "Service", "Custom"]),
       k8s_values, k8s_values)
def test_any_object_shape_audits(kind, spec, extra):
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "t"}, "spec": spec, "status": extra}
    data = json.dumps({"apiVersion": "v1", "kind": "List", "items": [obj, {**obj, "kind": "Pod"}]}, default=str)
    report = audit_inventory(load(["-"], stdin=io.BytesIO(data.encode())))
    for finding in report.findings:
        assert finding.rule_id and finding.message


# -- fast paths agree with the general ones --------------------------------------------------

yaml_scalars = st.one_of(
    st.sampled_from(
        ["yes", "No", "on", "~", "null", "0755", "0x1F", "1_000", "1.5e3", ".inf", "2026-11-01", "<<", "''"]
    ),
    st.text(alphabet="abcyn01:-_ .\"'", max_size=8),
    st.integers(-1000, 1000),
)
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(alphabet="abyn<", min_size=1, max_size=3), inner, max_size=3)),
    max_leaves=12)


def _yaml_text(value, indent=0) -> str:
    """Block YAML written by hand, scalars unquoted where they parse, so implicit tags are hit."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        return "".join(f"{pad}{k}:\n{_yaml_text(v, indent + 2)}" for k, v in value.items())
    if isinstance(value, list) and value:
        return "".join(f"{pad}-\n{_yaml_text(v, indent + 2)}" for v in value)
    return f"{pad}{value if not isinstance(value, (dict, list)) else json.dumps(value)}\n"


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_the_direct_builder_agrees_with_ruamels_constructor(value):
    from auditor.sources.limits import MAX_DEPTH
    from auditor.sources.yaml_loader import YAMLError, _KubeLoader, _NotPlain

    text = _yaml_text({"root": value})
    try:
        loader = _KubeLoader(text)
        node = loader.get_single_node()
        expected = loader.construct_document(node)
    except YAMLError:
        return
    fresh = _KubeLoader(text)
    try:
        built = fresh.build(fresh.get_single_node(), MAX_DEPTH, [], [])
    except _NotPlain:
        return
    assert built == expected and json.dumps(built, default=str) == json.dumps(expected, default=str)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k8s_values, k8s_values)
def test_projection_keeps_every_rule_result(spec, security):
    """A rule gives the same answer on a target and on its projection, so equal projections
    share results (the engine's memo key)."""
    from jsonschema import Draft202012Validator

    from auditor.projection import Reads, project
    from auditor.rules import load_rules

    rules = [r for r in load_rules([]).rules if r.target in ("pod", "container")]
    container = {"name": "c", "securityContext": security, **(spec if isinstance(spec, dict) else {})}
    targets = {"pod": {"metadata": {"annotations": {"a": "b"}}, "spec": spec}, "container": container}
    for target_kind, target in targets.items():
        chosen = [r for r in rules if r.target == target_kind]
        projected = project(target, Reads.of(r.match for r in chosen))
        for rule in chosen:
            is_valid = Draft202012Validator(rule.match).is_valid
            assert is_valid(target) == is_valid(projected), rule.id


json_keys = st.text(alphabet="ab~/ é", min_size=1, max_size=4)
json_docs = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(json_keys, inner, max_size=4)),
    max_leaves=25,
)


def _pointers(value, prefix=""):
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _pointers(child, f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(json_keys, json_docs, min_size=1, max_size=4), st.sampled_from([None, 0, 1, 2, 4, "\t"]),
       st.booleans())
def test_lines_from_the_layout_model_equal_lines_from_walking_the_text(doc, indent, trailing):
    import orjson

    from auditor.sources.json_lines import Layout, json_lines, layout_lines

    text = json.dumps(doc, indent=indent, ensure_ascii=False) + ("\n" if trailing else "")
    pointers = set(_pointers(doc)) | {"/missing", next(iter(_pointers(doc))) + "/x/y"}
    modelled = layout_lines(orjson.loads(text), Layout.of(text.encode()), pointers)
    walked = json_lines(text, pointers)
    if indent is None or indent == 0 and "\n" not in text.rstrip("\n"):
        assert modelled == {p: 1 for p in pointers} or modelled == walked
    else:
        assert modelled == walked  # json.dumps(indent=0) still puts a member per line
    squeezed = text.replace(",\n", ", ", 1)  # two members on one line: the model must step aside
    if squeezed != text:
        assert layout_lines(orjson.loads(squeezed), Layout.of(squeezed.encode()), pointers) in (
            None,
            json_lines(squeezed, pointers),
        )


def test_layout_lines_of_a_long_list_summed_member_by_member():
    from auditor.sources.json_lines import _SUMMED, Layout, json_lines, layout_lines

    doc = {"kind": "List", "items": [{"a": i, "b": {"c": [i] * (i % 3)}, "d": {}} for i in range(_SUMMED + 200)]}
    text = json.dumps(doc, indent=4) + "\n"
    pointers = {f"/items/{i}/b/c/{j}" for i in range(0, len(doc["items"]), 97) for j in range(2)} | {"/items/5/d/x"}
    assert layout_lines(json.loads(text), Layout.of(text.encode()), pointers) == json_lines(text, pointers)
