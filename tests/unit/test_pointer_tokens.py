"""JSON pointers split back into the tokens they were joined from, `~` and `/` included."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.pointer import join, split_pointer

tokens = st.lists(st.text(alphabet=st.sampled_from("ab~/01"), max_size=5), max_size=5)


@given(tokens)
def test_split_is_the_inverse_of_join(path):
    assert split_pointer(join(path)) == path


def test_escapes_are_undone_in_order():
    assert split_pointer("/a~01/~10") == ["a~1", "/0"]
