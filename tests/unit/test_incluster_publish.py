"""Publishing policy reports through an in-memory API: create, replace, delete stale ones of
ours only, and one-line errors for a missing CRD or someone else's report."""
from __future__ import annotations

from dataclasses import replace

import pytest

from auditor.cli import main
from auditor.incluster.publish import PublishError, publish_reports
from auditor.live.errors import ApiStatusError
from auditor.reports.policyreport import LABELS

API = "wgpolicyk8s.io/v1alpha2"


class MemoryApi:
    """The few calls publishing makes, on a dict of path -> object; `served` lists the collections
    whose CRD exists."""

    def __init__(self, served=("policyreports", "clusterpolicyreports")) -> None:
        self.objects: dict[str, dict] = {}
        self.served, self.version, self.writes = served, 0, []

    def _check(self, path: str) -> None:
        if not any(f"/{plural}" in path for plural in self.served):
            raise ApiStatusError("GET", path, 404, "NotFound", "the server could not find the requested resource")

    def list_items(self, path: str, page_size: int, labelSelector: str) -> list[dict]:
        self._check(path)
        plural = path.rsplit("/", 1)[1]
        key, value = labelSelector.split("=")
        return [obj for p, obj in self.objects.items()
                if p.split("/")[-2] == plural and obj["metadata"].get("labels", {}).get(key) == value]

    def get(self, path: str):
        self._check(path)
        if path not in self.objects:
            raise ApiStatusError("GET", path, 404, "NotFound", "")
        return self.objects[path]

    def create(self, path: str, body: dict):
        self._check(path)
        target = f"{path}/{body['metadata']['name']}"
        if target in self.objects:
            raise ApiStatusError("POST", path, 409, "AlreadyExists", "")
        return self._store("POST", target, body)

    def json(self, method: str, path: str, query, body: dict):
        assert method == "PUT" and body["metadata"]["resourceVersion"] == \
            self.objects[path]["metadata"]["resourceVersion"]
        return self._store(method, path, body)

    def delete(self, path: str):
        self.writes.append(("DELETE", path))
        del self.objects[path]

    def _store(self, method: str, path: str, body: dict):
        self.version += 1
        self.writes.append((method, path))
        self.objects[path] = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        return self.objects[path]


def namespaces(api: MemoryApi) -> set[str]:
    return {p.split("/")[5] for p in api.objects if "/namespaces/" in p}


def test_reports_are_created_then_replaced_and_a_fixed_namespace_loses_its_report(demo):
    api = MemoryApi()
    first = publish_reports(api, demo, None, API, 1.0)
    before = namespaces(api)
    assert first.created == len(api.objects) and first.updated == first.deleted == 0 and len(before) > 1
    gone = sorted(before)[0]
    fixed = replace(demo, findings=tuple(f for f in demo.findings if f.namespace != gone))
    api.writes.clear()
    second = publish_reports(api, fixed, None, API, 2.0)
    assert namespaces(api) == before - {gone}
    assert second.deleted == 1 and ("DELETE", f"/apis/{API}/namespaces/{gone}/policyreports/k8s-isolation-audit") \
        in api.writes
    assert second.created == 0 and second.updated == len(api.objects)


def test_someone_elses_report_of_our_name_is_left_alone_and_named(demo):
    api = MemoryApi()
    path = f"/apis/{API}/clusterpolicyreports/k8s-isolation-audit"
    theirs = {"metadata": {"name": "k8s-isolation-audit", "labels": {"owner": "s3cr3t"}, "resourceVersion": "7"}}
    api.objects[path] = theirs
    unlabelled_stale = f"/apis/{API}/namespaces/x/policyreports/other"
    api.objects[unlabelled_stale] = {"metadata": {"name": "other", "namespace": "x", "resourceVersion": "8"}}
    with pytest.raises(PublishError) as err:
        publish_reports(api, demo, None, API, 1.0)
    assert str(err.value) == ("ClusterPolicyReport k8s-isolation-audit: exists and is not managed by "
                              "k8s-isolation-audit; left alone")
    assert api.objects[path] is theirs and unlabelled_stale in api.objects


def test_a_missing_crd_is_one_line_naming_the_api(demo):
    api = MemoryApi(served=())
    with pytest.raises(PublishError) as err:
        publish_reports(api, demo, None, "openreports.io/v1alpha1", 1.0)
    assert str(err.value).startswith("policy report API openreports.io/v1alpha1 is not installed (no CRD ")
    assert api.writes == []


def test_every_object_we_write_carries_our_label(demo):
    api = MemoryApi()
    publish_reports(api, demo, None, API, 1.0)
    assert all(LABELS.items() <= obj["metadata"]["labels"].items() for obj in api.objects.values())


@pytest.mark.parametrize("argv", [["scan", "--publish", "fixtures/demo/cluster"],
                                  ["scan", "--publish", "--all-contexts"],
                                  ["scan", "--publish", "--context", "a", "--context", "b"],
                                  ["scan", "--publish", "--baseline", "old.json"]])
def test_publish_needs_a_live_scan_of_one_cluster_and_is_its_own_baseline(argv, capsys):
    assert main(argv) == 2
    assert "error: --publish " in capsys.readouterr().err


class TerminatingApi(MemoryApi):
    """The API refuses new content in namespaces being deleted (403), as the NamespaceLifecycle
    admission plugin does; `/api/v1/namespaces/NS` answers with the namespace's phase."""

    def __init__(self, terminating: set[str]) -> None:
        super().__init__()
        self.terminating = terminating

    def get(self, path: str):
        if path.startswith("/api/v1/namespaces/"):
            name = path.rsplit("/", 1)[1]
            return {"metadata": {"name": name}, "status": {"phase": "Terminating" if name in self.terminating
                                                           else "Active"}}
        return super().get(path)

    def create(self, path: str, body: dict):
        if any(f"/namespaces/{ns}/" in path for ns in self.terminating):
            raise ApiStatusError("POST", path, 403, "Forbidden", "namespace is being terminated")
        return super().create(path, body)


def test_a_namespace_being_deleted_gets_no_report_and_the_rest_are_published(demo):
    dying = sorted({f.namespace for f in demo.findings if f.namespace})[0]
    api = TerminatingApi({dying})
    done = publish_reports(api, demo, None, API, 1.0)
    assert done.gone == 1 and dying not in namespaces(api) and done.created == len(api.objects) > 1
    # a 403 anywhere else is still the run's failure
    api.terminating = set()
    other = sorted(namespaces(api))[0]
    api.objects = {p: o for p, o in api.objects.items() if f"/namespaces/{other}/" not in p}
    refused = MemoryApi.create

    def forbidden(self, path, body):
        if f"/namespaces/{other}/" in path:
            raise ApiStatusError("POST", path, 403, "Forbidden", "no")
        return refused(self, path, body)

    api.create = forbidden.__get__(api)
    with pytest.raises(PublishError, match="cannot create: HTTP 403 Forbidden"):
        publish_reports(api, demo, None, API, 2.0)


class ForbiddenApi(MemoryApi):
    """Serves both report APIs but lets this account list only `allowed`."""

    def __init__(self, allowed: str) -> None:
        super().__init__(served=("policyreports", "clusterpolicyreports", "reports", "clusterreports"))
        self.allowed = allowed

    def list_items(self, path: str, page_size: int, labelSelector: str) -> list[dict]:
        if self.allowed not in path:
            raise ApiStatusError("GET", path, 403, "Forbidden", "")
        return super().list_items(path, page_size, labelSelector)


def test_the_other_report_api_is_withdrawn_from_where_it_may_be_read(demo):
    """Ours under the API not written are deleted; an API not served (404) or not ours to
    list (403) has none, and the run is published all the same."""
    both = MemoryApi(served=("policyreports", "clusterpolicyreports", "reports", "clusterreports"))
    old = publish_reports(both, demo, None, "openreports.io/v1alpha1", 1.0)
    assert old.created and all("/openreports.io/" in p for p in both.objects)
    switched = publish_reports(both, demo, None, API, 2.0)
    assert switched.deleted == old.created and all(f"/{API}/" in p for p in both.objects)
    for api in (MemoryApi(), ForbiddenApi(allowed=API)):
        assert publish_reports(api, demo, None, API, 1.0).deleted == 0 and api.objects
