"""Clean-up is bounded by `ProbeOptions.cleanup_timeout`: it holds off Ctrl-C while it runs, so
an API that never finishes deleting must not hold a run for longer than that. The clean-up's
clock is a fake one that each API call moves on, so no test waits for the bound."""
from __future__ import annotations

import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_live_plan import FakeApi, cluster

from auditor.live.errors import ClusterError
from auditor.live.probes import cleanup as cleanup_module
from auditor.live.probes.cleanup import cleanup, remove_leftovers
from auditor.live.probes.manifests import RUN_ID, job_manifest, service_account_manifest, targets_configmap
from auditor.live.probes.options import ProbeOptions
from auditor.live.probes.plan import plan_probes
from auditor.live.probes.results import ProbeRun
from auditor.live.probes.run import run_probes
from auditor.model import Inventory
from auditor.tenancy import TenancyConfig


class NeverGone(FakeApi):
    """Every call takes `step` seconds of the fake clock; a DELETE is accepted but the object
    stays (a finalizer nobody removes), so deleting never finishes."""

    def __init__(self, behaviour, step):
        super().__init__(behaviour)
        self.now = 0.0
        self.step = step
        self.calls: list[tuple[float, str, str]] = []  # (start, method, path)

    def _call(self, method, path):
        self.calls.append((self.now, method, path))
        self.now += self.step

    def get(self, path, **query):
        self._call("GET", path)
        return super().get(path, **query)

    def delete(self, path, **query):
        self._call("DELETE", path)
        self.deleted.append(path)


@pytest.fixture
def fake_clock(monkeypatch):
    """Point the clean-up's clock at the API's (set by `use`)."""
    holder = {}
    monkeypatch.setattr(cleanup_module, "time", types.SimpleNamespace(monotonic=lambda: holder["api"].now))
    return lambda api: holder.update(api=api) or api


def leftovers(api, run_id, options):
    """What a run that was killed left: its Jobs (with their pods and ConfigMaps) and the ServiceAccount."""
    specs = plan_probes(cluster(), run_id, options, TenancyConfig(label="tenant"))
    for spec in specs:
        job = api.create(f"/apis/batch/v1/namespaces/{spec.namespace}/jobs", job_manifest(spec, run_id, options))
        if spec.kind == "reach":
            api.create(f"/api/v1/namespaces/{spec.namespace}/configmaps", targets_configmap(spec, run_id, job))
    api.create(f"/api/v1/namespaces/{options.namespace}/serviceaccounts",
               service_account_manifest(options.namespace, run_id))
    return specs


def test_a_clean_up_that_never_finishes_deleting_stops_at_the_bound_and_says_what_is_left(fake_clock):
    api = fake_clock(NeverGone(lambda job: ("pending", None), step=15.0))
    inventory = Inventory(resources=tuple(cluster()))
    run = run_probes(api=api, inventory=inventory, run_id="5107c1ea",
                     options=ProbeOptions(timeout=0.1, poll_interval=0.05, reach_probes=False, cleanup_timeout=50))
    # 2 Jobs, 2 pods, the ServiceAccount and the namespace to go, one call every 15 s: list
    # the Jobs at 0 s, delete them at 15 and 30 s, list the pods at 45 s, and stop
    assert [p.rsplit("/", 2)[-2] for p in api.deleted] == ["jobs", "jobs"]
    [error] = run.cleanup_errors
    assert error == ("clean-up stopped after 50s, not deleted: Pod isolation-audit/ia-5107c1ea-node-0-p, "
                     "Pod isolation-audit/ia-5107c1ea-node-1-p, ServiceAccount isolation-audit/isolation-audit-probe "
                     "(if there) and 1 more")
    [note] = [s for s in run.join(inventory).skipped if s.source == "probe clean-up"]
    assert note.reason == (f"clean-up incomplete: {error}; what is left is labelled {RUN_ID}=5107c1ea "
                           "and the next --probe run removes it")


def test_leftovers_that_never_finish_deleting_stop_the_run_at_the_bound(fake_clock):
    api = fake_clock(NeverGone(lambda job: ("pending", None), step=40.0))
    options = ProbeOptions(cleanup_timeout=100)
    leftovers(api, "0dd0dd00", options)
    with pytest.raises(ClusterError) as err:
        remove_leftovers(api, options)
    assert len(api.deleted) == 2  # calls start at 0 (list), 40 and 80 s; none at 120 s
    message = str(err.value)
    assert message.startswith("context c1: cannot remove the leftovers of an earlier probe run: "
                              "clean-up stopped after 100s, not deleted: Job ")
    assert "\n" not in message


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(bound=st.floats(0, 300), step=st.floats(0.5, 120), node_probes=st.booleans(), reach_probes=st.booleans(),
       delete_namespace=st.booleans())
def test_no_clean_up_call_starts_past_the_bound_and_all_not_deleted_is_named(
        fake_clock, bound, step, node_probes, reach_probes, delete_namespace):
    api = fake_clock(NeverGone(lambda job: ("pending", None), step=step))
    options = ProbeOptions(cleanup_timeout=bound, node_probes=node_probes, reach_probes=reach_probes)
    specs = leftovers(api, "abcd1234", options)
    api.calls.clear()
    run = ProbeRun("abcd1234", "c1", options.namespace, planned=specs)
    start = api.now
    cleanup(api, options, run, delete_namespace)

    assert all(at < start + bound for at, _, _ in api.calls)
    # jobs, their pods, the reach ConfigMaps, the ServiceAccount, and the namespace if ours
    expected = len(specs) * 2 + sum(s.kind == "reach" for s in specs) + 1 + delete_namespace
    if len(api.deleted) == expected:
        assert run.cleanup_errors == []
    else:
        [error] = run.cleanup_errors
        assert error.startswith(f"clean-up stopped after {bound:g}s, not deleted: ")
        named = error.split(", not deleted: ", 1)[1].rsplit(" and ", 1)[0].split(", ")
        # each is one that was not deleted, or a listing it never made
        assert all(what.endswith("(not listed)") or path_of(what) not in api.deleted for what in named)


def path_of(what):
    """The DELETE path of 'Kind namespace/name' as the clean-up names it."""
    kind, _, name = what.removesuffix(" (if there)").partition(" ")
    if kind == "Namespace":
        return f"/api/v1/namespaces/{name}"
    ns, name = name.split("/")
    group = "/apis/batch/v1" if kind == "Job" else "/api/v1"
    return f"{group}/namespaces/{ns}/{kind.lower()}s/{name}"
