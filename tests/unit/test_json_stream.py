"""The List read item by item (`json_stream`) held to the whole-file parse it stands in for:
the same documents, the same errors and partial marking, the same reports."""
from __future__ import annotations

import importlib.util
import json
import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scan_helpers import audit_inventory

from auditor.reports import renderer
from auditor.sources import json_stream, manifests
from auditor.sources.json_lines import Layout
from auditor.sources.json_stream import streamed_list
from auditor.sources.parsing import Limits
from auditor.sources.sharing import Shared

_GENERATE = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=12)
keys = st.sampled_from(["apiVersion", "kind", "metadata", "spec", "items", "x", "é"]) | st.text(max_size=4)
objects = st.dictionaries(keys, values, min_size=1, max_size=4)
members = st.dictionaries(keys.filter(lambda k: k != "items"), values, max_size=2)  # of the List itself
item_lists = st.lists(objects | values, max_size=5)
# kubectl's four spaces, jq's and the tool's snapshots' two, a tab, compact
styles = st.sampled_from([4, 2, "\t", None, "orjson"])
chunks = st.sampled_from([1, 7, 64, json_stream._CHUNK])


def _text(doc: dict, style, trailing: bool) -> bytes:
    if style == "orjson":
        try:
            data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        except TypeError:  # an integer orjson does not write: json.dumps's styles have it
            assume(False)
    else:
        data = json.dumps(doc, indent=style, ensure_ascii=False).encode()
    return data + (b"\n" if trailing else b"")


def _list(head: dict, items: list, tail: dict) -> dict:
    return {"apiVersion": "v1", "kind": "List", **head, "items": items, **tail}


@contextmanager
def _file(data: bytes):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "list.json")
        path.write_bytes(data)
        yield path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members, item_lists, members, styles,
       st.booleans(), st.booleans(), chunks)
def test_a_streamed_list_is_the_whole_files_document(head, items, tail, style, trailing, bom, chunk):
    doc = _list(head, items, tail)
    data = _text(doc, style, trailing)
    with _file((b"\xef\xbb\xbf" if bom else b"") + data) as path, mock.patch.object(json_stream, "_CHUNK", chunk):
        streamed = streamed_list(path, Limits(), Shared())
    if streamed is None:
        # Only a List whose items all open and close on lines of their own is cut.
        assert style is None or not items or not all(type(i) is dict and i for i in items)
        return
    found, layout = streamed
    assert orjson.dumps(found) == orjson.dumps(orjson.loads(data))  # JSON's equality: 1 and true apart
    expected = Layout.of(data)
    assert (layout.newlines, layout.bare_start, layout.trailing_newline) == (
        expected.newlines, expected.bare_start, expected.trailing_newline)


# (what, at which line, at which column, the byte inserted): lines, so that the List's own
# few lines are as likely a place as its items' many
_EDITS = st.tuples(st.sampled_from(["delete", "insert", "repeat line"]), st.integers(0, 4) | st.integers(0, 40),
                   st.integers(0, 40),
                   st.sampled_from(list(b'{}[],:" a0\n\\') + [0xC3]))


def _edited(data: bytes, edit) -> bytes:
    how, line, column, byte = edit
    lines = data.splitlines(keepends=True)
    line %= len(lines)
    start = sum(map(len, lines[:line]))
    at = start + column % (len(lines[line]) + 1)
    if how == "delete":
        return data[:at] + data[at + 1:]
    if how == "insert":
        return data[:at] + bytes([byte]) + data[at:]
    return data[:start] + lines[line] + data[start:]


def _loaded(path: Path, limits: Limits, streaming: bool) -> list:
    """What `load` makes of the file, as comparable values (lines resolved)."""
    if streaming:
        inventory = manifests.load([str(path)], limits=limits)
    else:
        with mock.patch.object(manifests, "streamed_list", lambda *_: None):
            inventory = manifests.load([str(path)], limits=limits)
    found = []
    for r in inventory.resources:
        assert r.origin.lines is not None
        line = r.origin.lines.resolve([r.origin.pointer + "/metadata"])
        found.append((r.kind, r.namespace, r.name, orjson.dumps(r.obj), r.origin.pointer, r.origin.cluster, line))
    return [found, inventory.skipped, inventory.not_objects]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"apiVersion": st.just("v1"), "kind": st.sampled_from(["Pod", "List"]),
                                       "metadata": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=4)}),
                                       "spec": values}), min_size=1, max_size=4),
       st.sampled_from([4, 2]), st.lists(_EDITS, max_size=2), st.sampled_from([3, 4, 6, 100]), chunks)
def test_an_edited_list_loads_as_the_whole_file_does(items, style, edits, depth, chunk):
    """Broken bytes, repeated keys, nesting past the bound: the same objects, the same one-line
    errors (file, line, what), the same partial marking, whether or not the file is cut."""
    data = _text(_list({}, items, {}), style, True)
    for edit in edits:
        data = _edited(data, edit)
    limits = Limits(max_depth=depth)
    with _file(data) as path, mock.patch.object(json_stream, "_CHUNK", chunk):
        assert _loaded(path, limits, True) == _loaded(path, limits, False)


def test_replicas_hold_their_template_once(tmp_path: Path):
    """Pods of one template differ in their names: what they have alike is one object."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a", "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}
    items = [{**pod, "metadata": {**pod["metadata"], "name": f"web-{i}"}, "spec": {**pod["spec"], "nodeName": f"n{i}"}}
             for i in range(3)]
    items.append({**items[0], "metadata": {**items[0]["metadata"], "name": "web-x", "labels": {"app": 1}}})
    path = tmp_path / "pods.json"
    path.write_bytes(_text(_list({}, items, {}), 4, True))
    a, b, _, x = (r.obj for r in manifests.load([str(path)]).resources)
    assert a is not b and a["metadata"] is not b["metadata"] and a["spec"] is not b["spec"]
    assert a["spec"]["containers"] is b["spec"]["containers"] and a["metadata"]["labels"] is b["metadata"]["labels"]
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"] and a["kind"] is b["kind"]
    assert x["metadata"]["labels"] == {"app": 1} and x["metadata"]["labels"] is not a["metadata"]["labels"]


def _generator():
    spec = importlib.util.spec_from_file_location("bench_generate", _GENERATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(path: Path, streaming: bool) -> dict:
    if streaming:
        inventory = manifests.load([str(path)])
    else:
        with mock.patch.object(manifests, "streamed_list", lambda *_: None):
            inventory = manifests.load([str(path)])
    return orjson.loads(renderer("json")(audit_inventory(inventory)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_streamed_snapshot_reports_as_the_whole_file_does(tmp_path: Path, seed: int):
    generate = _generator()
    doc = generate.generate(120, 8, 16, 6, seed, admin_policies=3, engine_policies=3)
    for name, data in (("kubectl.json", generate.kubectl_json(doc)),
                       ("snapshot.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2))):
        path = tmp_path / name
        path.write_bytes(data)
        assert streamed_list(path, Limits(), Shared()) is not None  # the fast path is the one held
        streamed, whole = _report(path, True), _report(path, False)
        assert streamed["findings"] and streamed == whole
