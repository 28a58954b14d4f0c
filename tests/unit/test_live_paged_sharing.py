"""A live list is kept page by page in its shared form (`cluster.SharedPages`): the objects a
scan holds equal the ones the server sent, in the same order, with managedFields removed,
whatever the page size, and their equal subtrees are one object."""
from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_live_optional_kinds import Server
from test_live_retry import _Resp

from auditor.live.cluster import read_context
from auditor.live.kinds import BY_KIND
from auditor.live.transport import Api

POD, NAMESPACE = BY_KIND["Pod"], BY_KIND["Namespace"]

# JSON values where Python's == and JSON's equality disagree (1, 1.0, true) and that repeat
scalars = st.sampled_from([0, 1, 1.0, True, False, None, "", "a", "x" * 70, -(2**63)])
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from("abc"), inner, max_size=3), max_leaves=8)


@st.composite
def items(draw, max_size=12):
    count = draw(st.integers(0, max_size))
    made = []
    for i in range(count):
        meta = {"name": f"p{i}", "namespace": draw(st.sampled_from(["t1", "t2"])),
                "labels": draw(st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["web", "db"]),
                                               max_size=2))}
        if draw(st.booleans()):
            meta["managedFields"] = [{"manager": "kubectl", "fieldsV1": draw(values)}]
        made.append({"metadata": meta, "spec": draw(values), "status": draw(values)})
    if made and draw(st.booleans()):  # not an object, or without a name: never a resource
        made.insert(draw(st.integers(0, len(made))), draw(st.sampled_from([[], "x", {"metadata": {}}])))
    return made


class PagedServer(Server):
    """Serves `lists` (path -> items) `limit` at a time, the continue token an offset."""

    def __init__(self, lists):
        super().__init__({})
        self.paged = lists

    def call_api(self, method, url, header_params=None, body=None, post_params=None, _request_timeout=None):
        parts = urlsplit(url)
        if parts.path not in self.paged:
            return super().call_api(method, url, header_params, body, post_params, _request_timeout)
        query = parse_qs(parts.query)
        start, limit = int(query.get("continue", ["0"])[0]), int(query["limit"][0])
        rest = self.paged[parts.path][start:]
        more = {"continue": str(start + limit)} if len(rest) > limit else {}
        return _Resp(200, json.dumps({"items": rest[:limit], "metadata": more}).encode())


def expected(item, kind):
    meta = dict(item["metadata"])
    meta.pop("managedFields", None)
    return {"apiVersion": kind.api_version, "kind": kind.kind, **item, "metadata": meta}


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(pods=items(), namespaces=items(max_size=4), page_size=st.integers(1, 5))
def test_paged_shared_objects_equal_the_servers_in_order_without_managed_fields(pods, namespaces, page_size):
    sent = {POD.list_path: copy.deepcopy(pods), NAMESPACE.list_path: copy.deepcopy(namespaces)}
    read = read_context(Api("ctx", PagedServer(sent), sleep=lambda s: None), page_size, kinds=[POD, NAMESPACE])
    want = [expected(i, k) for k, got in ((POD, pods), (NAMESPACE, namespaces)) for i in got
            if isinstance(i, dict) and i["metadata"].get("name")]
    # orjson's bytes: JSON's equality, key order included (1, 1.0 and true stay apart)
    assert [orjson.dumps(r.obj) for r in read.resources] == [orjson.dumps(w) for w in want]
    assert [(r.kind, r.namespace, r.name) for r in read.resources] == [
        (w["kind"], w["metadata"].get("namespace"), w["metadata"]["name"]) for w in want]


def test_equal_subtrees_of_a_list_are_held_once_across_pages_and_kinds():
    spec = {"containers": [{"name": "app", "image": "registry.example/app:1.0", "ports": [{"containerPort": 80}]}]}
    pods = [{"metadata": {"name": f"p{i}", "namespace": "t1", "managedFields": [{"manager": "m"}]},
             "spec": copy.deepcopy(spec)} for i in range(6)]
    namespaces = [{"metadata": {"name": "t1"}, "spec": copy.deepcopy(spec)}]
    read = read_context(Api("ctx", PagedServer({POD.list_path: pods, NAMESPACE.list_path: namespaces}),
                            sleep=lambda s: None), 2, kinds=[POD, NAMESPACE])
    specs = {id(r.obj["spec"]) for r in read.resources}
    assert len(read.resources) == 7 and len(specs) == 1
    assert all("managedFields" not in r.obj["metadata"] for r in read.resources)
