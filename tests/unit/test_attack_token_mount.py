"""Attack: ServiceAccounts that collide on the key a pod's account is looked up by.

Two documents for one ServiceAccount (two files, or one file applied over another) that
disagree: the audit cannot know which one the cluster holds, and the first one silently won,
so `false` written first hid IA130 whatever came after. And with several contexts in one
audit, a pod of one cluster was judged by the ServiceAccount of the same name in another."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from scan_helpers import TODAY

from auditor import __version__
from auditor.cli import _load_rules
from auditor.config import Config
from auditor.engine import audit
from auditor.model import Inventory, Origin, Resource

RULES, PLUGINS = _load_rules([])
IA130_ONLY = Config(select=("IA130",))
UNSET = "unset"
SETTINGS = st.sampled_from([UNSET, None, True, False, "false", 0])


def _pod(cluster: str | None = None) -> Resource:
    obj = {"kind": "Pod", "metadata": {"name": "w", "namespace": "shop"},
           "spec": {"serviceAccountName": "app", "containers": [{"name": "a", "image": "x"}]}}
    return Resource("Pod", "v1", "shop", "w", obj, Origin(cluster=cluster))


def _account(value: Any, cluster: str | None = None, path: str | None = None) -> Resource:
    obj: dict[str, Any] = {"kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "shop"}}
    if value != UNSET:
        obj["automountServiceAccountToken"] = value
    return Resource("ServiceAccount", "v1", "shop", "app", obj, Origin(path=path, cluster=cluster))


def _mounted(resources: list[Resource]) -> bool:
    return bool(audit(Inventory(tuple(resources)), RULES, PLUGINS, IA130_ONLY, TODAY, __version__).findings)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(SETTINGS, min_size=2, max_size=4))
def test_duplicate_accounts_pass_only_when_every_copy_turns_the_token_off(values):
    accounts = [_account(v, path=f"sa-{n}.yaml") for n, v in enumerate(values)]
    assert _mounted([_pod(), *accounts]) == (not all(v is False for v in values))


@settings(max_examples=50, deadline=None)
@given(here=SETTINGS, there=SETTINGS)
def test_a_pod_is_judged_by_the_account_of_its_own_cluster(here, there):
    """`there` (another context's account of the same name) never decides."""
    own = [] if here == UNSET else [_account(here, cluster="prod")]
    resources = [_pod("prod"), *own, _account(there, cluster="staging")]
    assert _mounted(resources) == (here is not False)
