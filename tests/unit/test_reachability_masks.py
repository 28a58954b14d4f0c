"""The bitmask of a set of class ids, built byte by byte, is the sum of their bits."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.netpol import mask_from as _mask


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=40))
def test_a_mask_built_byte_by_byte_is_the_sum_of_its_bits(ids):
    assert _mask(iter(ids)) == sum(1 << i for i in set(ids))
