"""Attack: Calico selectors evaluated against the labels of a broken or hostile object.

Labels come from the audited objects, where a value can be a number, a list, a mapping or
null, and `metadata.labels` itself may be no mapping at all. `contains`, `starts with` and
`ends with` raised on them (TypeError, AttributeError), and `contains` matched a list that
held the string. A label that is not a string is no label, for every operator."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.calico_selector import parse

SELECTORS = [
    "a == 'x'", "a != 'x'", "a contains 'x'", "a starts with 'x'", "a ends with 'x'", "a in {'x', 'y'}",
    "a not in {'x'}", "has(a)", "!has(a)", "all()", "global()", "a contains 'x' || b ends with 'y'",
    "projectcalico.org/name starts with 'sh'", "!(a starts with 'x' && has(b))",
]
NOT_STRINGS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                        st.lists(st.sampled_from(["x", "y", 1]), max_size=3),
                        st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["x", 1]), max_size=2),
                        st.binary(max_size=3))
VALUES = st.one_of(st.sampled_from(["x", "y", "xy", "yx", "", "sh"]), NOT_STRINGS)
KEYS = st.one_of(st.sampled_from(["a", "b", "projectcalico.org/name"]), st.integers(), st.none())
LABELS = st.one_of(st.dictionaries(KEYS, VALUES, max_size=4), NOT_STRINGS)


def _as_calico(labels: Any) -> dict[str, str]:
    """What Calico would hold: only string keys with string values."""
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


@settings(max_examples=400, deadline=None)
@given(selector=st.sampled_from(SELECTORS), labels=LABELS, name=st.one_of(st.sampled_from(["shop", None]), NOT_STRINGS))
def test_a_label_that_is_not_a_string_is_no_label(selector, labels, name):
    parsed = parse(selector)
    assert parsed.matches(labels) == parsed.matches(_as_calico(labels))
    if isinstance(name, str) or name is None:
        assert parsed.selects_namespace(name, labels) == parsed.selects_namespace(name, _as_calico(labels))
    else:  # a namespace name that is not a string is no name label either
        assert isinstance(parsed.selects_namespace(name, labels), bool)


def test_contains_never_matches_a_list_that_holds_the_string():
    assert not parse("a contains 'x'").matches({"a": ["x"]})
    assert parse("a != 'x'").matches({"a": ["x"]})
