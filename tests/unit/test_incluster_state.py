"""The state ConfigMap's state.json: what this tool writes reads back the same; anything else
is one line naming the ConfigMap and the field, never a value from it, and never a state."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.incluster.cycle import default_namespace
from auditor.incluster.drift import SEVERITIES, RunState
from auditor.incluster.state import (
    MAX_DATA_BYTES,
    MAX_STATE_BYTES,
    SCHEMA,
    Location,
    StateError,
    decode,
    encode,
    previous_state,
    write_configmap,
)

WHERE = Location("audit", "state")
SECRET = "s3cr3t-value"  # planted in every bad input: no error may quote it

runs = st.builds(
    RunState,
    st.floats(0, 2e9, allow_nan=False),
    st.lists(st.tuples(st.text("0123456789abcdef", min_size=32, max_size=32), st.sampled_from(SEVERITIES)),
             max_size=30).map(lambda xs: tuple(sorted(xs))),
    st.sets(st.tuples(st.text(max_size=20), st.text(max_size=20)), max_size=10).map(lambda s: tuple(sorted(s))),
)


@settings(max_examples=150, deadline=None)
@given(runs)
def test_what_is_written_reads_back_the_same(run):
    assert decode(encode(run), WHERE) == run


def good() -> dict:
    return json.loads(encode(RunState(5.0, (("a" * 32, "high"),), (("x", "y"),))))


BAD = {
    "not json": SECRET + "{",
    "a list": json.dumps([SECRET]),
    "another schema": json.dumps({**good(), "schema": SECRET}),
    "a string for finished": json.dumps({**good(), "finished": SECRET}),
    "NaN for finished": json.dumps(good(), separators=(",", ":")).replace('"finished":5.0', '"finished":NaN'),
    "true for finished": json.dumps({**good(), "finished": True}),
    "truncated": json.dumps({**good(), "truncated": True}),
    "findings not a list": json.dumps({**good(), "findings": {SECRET: 1}}),
    "a finding not a pair": json.dumps({**good(), "findings": [[SECRET]]}),
    "a fingerprint that is not one": json.dumps({**good(), "findings": [[SECRET, "high"]]}),
    "an unknown severity": json.dumps({**good(), "findings": [["a" * 32, SECRET]]}),
    "a pair of numbers": json.dumps({**good(), "reachable": [[1, 2]]}),
    "too many findings": json.dumps({**good(), "findings": [["a" * 32, "high"]] * 20_000}),
    "too large": json.dumps({**good(), "pad": SECRET * 100_000}),
    "nested too deep": "[" * 100_000,
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_state_this_tool_did_not_write_is_one_line_without_its_values(case):
    with pytest.raises(StateError) as err:
        decode(BAD[case], WHERE)
    message = str(err.value)
    assert message.startswith("configmap audit/state: state.json") and "\n" not in message
    assert SECRET not in message and "s3cr3t" not in message


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=10),
                              lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                              max_leaves=20).map(json.dumps),
                 st.fixed_dictionaries({"schema": st.just(SCHEMA), "finished": st.floats(), "truncated": st.booleans(),
                                        "findings": st.lists(st.lists(st.text(max_size=33), max_size=3), max_size=3),
                                        "reachable": st.lists(st.lists(st.text(max_size=3), max_size=3), max_size=3)})
                 .map(json.dumps)))
def test_any_text_is_a_state_or_one_line_state_error(text):
    try:
        state = decode(text, WHERE)
    except StateError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(state, RunState)


def test_a_run_too_large_for_the_state_is_stored_truncated_and_read_back_as_unknown():
    many = RunState(1.0, tuple((f"{n:032x}", "high") for n in range(MAX_STATE_BYTES // 40)), ())
    text = encode(many)
    assert len(text) < 200
    with pytest.raises(StateError, match="more findings than the state keeps"):
        decode(text, WHERE)
    fits = RunState(1.0, many.findings[:MAX_STATE_BYTES // 60], ())
    assert len(encode(fits)) <= MAX_STATE_BYTES and decode(encode(fits), WHERE) == fits


def test_no_configmap_or_one_without_state_is_the_first_run_and_a_non_string_is_unreadable():
    assert previous_state(None, WHERE) is None
    assert previous_state({"metadata": {"name": "state"}}, WHERE) is None  # made empty by a chart
    assert previous_state({"data": {"metrics": "x 1\n"}}, WHERE) is None
    with pytest.raises(StateError, match="state.json is not a string"):
        previous_state({"data": {"state.json": 7}}, WHERE)


def test_the_default_namespace_is_the_pods_else_the_charts(tmp_path):
    (tmp_path / "namespace").write_text("tenant-audit\n")
    assert default_namespace(str(tmp_path / "namespace")) == "tenant-audit"
    assert default_namespace(str(tmp_path / "absent")) == "isolation-audit"


class RecordingApi:
    def __init__(self) -> None:
        self.calls = []

    def create(self, path, body):
        self.calls.append(("POST", path, body))

    def json(self, method, path, query, body):
        self.calls.append((method, path, body))


def test_the_state_is_created_then_replaced_under_its_resource_version_and_metrics_that_do_not_fit_are_refused():
    run = RunState(1.0, (), ())
    api = RecordingApi()
    write_configmap(api, WHERE, None, run, "m 1\n")
    helm = {"labels": {"app.kubernetes.io/managed-by": "Helm"}, "annotations": {"meta.helm.sh/release-name": "r"}}
    write_configmap(api, WHERE, {"metadata": {"resourceVersion": "41", **helm}}, run, "m 1\n")
    (create, _, first), (put, path, second) = api.calls
    assert (create, put, path) == ("POST", "PUT", "/api/v1/namespaces/audit/configmaps/state")
    assert first["metadata"]["labels"] == {"app.kubernetes.io/part-of": "k8s-isolation-audit"}
    assert "resourceVersion" not in first["metadata"] and second["metadata"]["resourceVersion"] == "41"
    # a chart's ConfigMap stays the chart's: its labels and annotations kept, ours added
    assert helm["labels"].items() <= second["metadata"]["labels"].items()
    assert second["metadata"]["annotations"] == helm["annotations"]
    assert decode(second["data"]["state.json"], WHERE) == run and second["data"]["metrics"] == "m 1\n"
    with pytest.raises(StateError, match="do not fit"):
        write_configmap(api, WHERE, None, run, "#" * MAX_DATA_BYTES)
    assert len(api.calls) == 2
