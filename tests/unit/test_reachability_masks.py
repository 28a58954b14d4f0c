"""Class bitmasks: built byte by byte, listed bit by bit or through their binary, whatever
their width, sign or number of members; and the window of recent answers."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.netpol import FEW_MEMBERS, Endpoint, Evaluator, Recent, mask_from


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=40))
def test_a_mask_built_byte_by_byte_is_the_sum_of_its_bits(ids):
    assert mask_from(iter(ids)) == sum(1 << i for i in set(ids))


def evaluator(classes: int) -> Evaluator:
    return Evaluator([Endpoint("ns", f"p{i}", {"i": str(i)}) for i in range(classes)], {"ns": {}}, [])


# Both ways of listing: a few members spread over a wide mask, and more than FEW_MEMBERS.
members = st.integers(1, 700).flatmap(lambda n: st.tuples(
    st.just(n), st.one_of(st.sets(st.integers(0, n - 1), max_size=FEW_MEMBERS + 1),
                          st.sets(st.integers(0, n - 1), min_size=min(n, FEW_MEMBERS + 1), max_size=n))))


@settings(max_examples=150, deadline=None)
@given(members, st.booleans())
def test_a_masks_members_are_its_set_bits_in_order_whatever_its_form(world, complement):
    """A mask of these classes, or (negative, as EVERY holds it) of every class but these."""
    n, ids = world
    ev = evaluator(n)
    assert len(ev.classes) == n
    mask = ~mask_from(ids) if complement else mask_from(ids)
    want = [i for i in range(n) if (i not in ids) == complement]
    assert list(ev.members_ids(mask)) == want
    assert [c.id for c in ev.members(mask)] == want
    assert ev.size(mask) == len(want)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.lists(st.tuples(st.integers(0, 12), st.integers()), max_size=60))
def test_the_window_keeps_the_last_keys_put_in(size, puts):
    window: Recent[int, int] = Recent(size)
    order: list[int] = []  # keys by first put, the oldest first
    values: dict[int, int] = {}
    for key, value in puts:
        assert window.put(key, value) == value
        if key not in values:
            order.append(key)
            if len(order) > size:
                del values[order.pop(0)]
        values[key] = value
    assert dict(window) == values and list(window) == order
