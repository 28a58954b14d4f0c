"""A state ConfigMap edited by whoever may write it, and a GET answer that is not a ConfigMap:
every shape is a state, the first run, or one line naming the ConfigMap (never a value), and a
ConfigMap that was read can always be written back. Nothing else may escape: an exception other
than StateError ends the run before it publishes, every run, until someone fixes the ConfigMap."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.incluster.drift import RunState
from auditor.incluster.state import (
    SCHEMA,
    Location,
    StateError,
    decode,
    previous_state,
    read_configmap,
    write_configmap,
)

WHERE = Location("audit", "state")
SECRET = "s3cr3t"


def state(finished: str) -> str:
    return f'{{"schema":"{SCHEMA}","finished":{finished},"truncated":false,"findings":[],"reachable":[]}}'


# numbers as JSON spells them: integers past a float's range, exponents past it, both signs
numbers = st.one_of(
    st.integers(300, 4200).map(lambda digits: "9" * digits),
    st.integers(300, 4200).map(lambda digits: "-1" + "0" * digits),
    st.integers(309, 10**6).map(lambda e: f"1e{e}"),
    st.integers(-(10**6), 10**6).map(lambda e: f"-2.5E{e}"),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@settings(max_examples=200, deadline=None)
@given(numbers)
def test_any_number_for_finished_is_a_time_or_one_line_state_error(number):
    try:
        run = decode(state(number), WHERE)
    except StateError as exc:
        assert str(exc) == "configmap audit/state: state.json: finished: not a time"
    else:
        assert isinstance(run, RunState) and abs(run.finished) < float("inf")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                           | st.just(SECRET),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=12)
answers = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "kind": json_values, "metadata": st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "labels": json_values, "annotations": json_values, "resourceVersion": json_values, "name": json_values})),
    "data": st.one_of(json_values, st.dictionaries(st.sampled_from(["state.json", "metrics", SECRET]), json_values)),
}))


class Answering:
    """The API answering one GET with `answer`, and recording writes."""

    def __init__(self, answer) -> None:
        self.answer, self.writes = answer, []

    def get(self, path):
        return self.answer

    def create(self, path, body):
        self.writes.append(body)

    def json(self, method, path, query, body):
        self.writes.append(json.loads(json.dumps(body)))  # what the transport would send


@settings(max_examples=300, deadline=None)
@given(answers)
def test_any_answer_is_read_as_a_configmap_or_refused_and_what_was_read_can_be_written_back(answer):
    api = Answering(answer)
    try:
        configmap = read_configmap(api, WHERE)
        previous_state(configmap, WHERE)
    except StateError as exc:
        assert "\n" not in str(exc) and SECRET not in str(exc) and str(exc).startswith(str(WHERE))
        configmap = None
    write_configmap(api, WHERE, configmap, RunState(1.0, (), ()), "m 1\n")
    assert api.writes[-1]["metadata"]["labels"]["app.kubernetes.io/part-of"]


@pytest.mark.parametrize("metadata", ["x", ["labels"], {"labels": "x"}, {"labels": ["a"]}, {"annotations": 1}])
def test_a_configmap_whose_metadata_is_of_another_shape_is_refused_on_reading(metadata):
    with pytest.raises(StateError, match="^configmap audit/state: the server's answer is not a ConfigMap$"):
        read_configmap(Answering({"metadata": metadata, "data": {}}), WHERE)
