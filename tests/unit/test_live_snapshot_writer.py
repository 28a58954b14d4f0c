"""`write_snapshot` writes item by item: its bytes are orjson's of the whole document, and a
failure part way leaves no file behind."""
from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.live.snapshot import snapshot_document, write_snapshot
from auditor.model import Inventory, Origin, Resource, Skipped

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
# strings with newlines, quotes, backslashes and non-ASCII: what indenting by line could break
texts = st.text(st.sampled_from('a\n\r\t"\\é😀 '), max_size=6)
values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False,
                                                                                                 allow_infinity=False)
                      | texts, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                      max_leaves=10)


def inventory(objects, skipped=()):
    return Inventory(resources=tuple(Resource(kind="Pod", api_version="v1", namespace="t", name=f"p{i}",
                                              obj={"kind": "Pod", "body": obj}, origin=Origin(cluster="prod"))
                                     for i, obj in enumerate(objects)), cluster="prod", skipped=tuple(skipped))


@settings(max_examples=200, deadline=None)
@given(objects=st.lists(values, max_size=5), skipped=st.booleans())
def test_the_file_is_orjsons_indented_document(tmp_path_factory, objects, skipped):
    inv = inventory(objects, [Skipped("cluster prod: pods", "forbidden")] if skipped else [])
    out = tmp_path_factory.mktemp("snap") / "snap.json"
    assert write_snapshot(inv, out, now=NOW) == len(objects)
    want = orjson.dumps(snapshot_document(inv, NOW), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    assert out.read_bytes() == want


def test_an_item_that_cannot_be_written_leaves_no_file(tmp_path):
    inv = inventory([{"ok": 1}, {"too big": 2**64}])  # orjson writes 64-bit integers only
    with pytest.raises(orjson.JSONEncodeError):
        write_snapshot(inv, tmp_path / "snap.json", now=NOW)
    assert list(tmp_path.iterdir()) == []
