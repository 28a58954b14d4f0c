"""Attack: `replicas: 0` used to fold a privileged workload into any owner it claims.

Only an old ReplicaSet that its Deployment keeps at zero runs nothing for sure (a rollback
changes the Deployment's own template, which is audited). Any other object at `replicas: 0`
claiming an owner -- a Deployment owned by a Pod, a StatefulSet owned by a Deployment, a
ReplicaSet owned by a custom kind -- can be scaled up by whoever edits it, so it is audited.
"""
from __future__ import annotations

import itertools

import pytest

from auditor.model import Resource
from auditor.workloads import TEMPLATE_POINTERS, top_level_workloads

BENIGN = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
EVIL = {"hostPID": True, "containers": [{"name": "c", "image": "busybox:1.36",
                                         "securityContext": {"privileged": True}}]}


def _obj(kind: str, name: str, spec: dict, api: str = "apps/v1", owner: tuple[str, str, str] | None = None,
         replicas: int | None = None) -> dict:
    meta: dict = {"name": name, "namespace": "t"}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "controller": True}]
    pointer = TEMPLATE_POINTERS.get(kind, "/spec/template")
    obj: dict = {"apiVersion": api, "kind": kind, "metadata": meta}
    if pointer == "":
        obj["spec"] = spec
        return obj
    body: dict = {"spec": spec}
    holder = obj
    for token in pointer.strip("/").split("/")[:-1]:
        holder = holder.setdefault(token, {})
    holder[pointer.rsplit("/", 1)[-1]] = body
    if replicas is not None:
        obj.setdefault("spec", {})["replicas"] = replicas
    return obj


def _audited(objects: list[dict]) -> set[tuple[str, str, str]]:
    resources = [Resource(o["kind"], o["apiVersion"], "t", o["metadata"]["name"], o) for o in objects]
    return {v.resource.key for v in top_level_workloads(resources)}


OWNER_KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicationController", "Rollout"]
IDLE_KINDS = ["Deployment", "StatefulSet", "ReplicationController", "Rollout", "ReplicaSet"]


@pytest.mark.parametrize(("owner_kind", "kind"), [
    pair for pair in itertools.product(OWNER_KINDS, IDLE_KINDS) if pair != ("Deployment", "ReplicaSet")])
def test_an_object_at_zero_replicas_is_folded_only_as_a_deployments_old_replicaset(owner_kind: str, kind: str):
    owner = _obj(owner_kind, "benign", BENIGN, api="v1" if owner_kind == "Pod" else "apps/v1")
    evil = _obj(kind, "evil", EVIL, owner=(owner["apiVersion"], owner_kind, "benign"), replicas=0)
    assert (kind, "t", "evil") in _audited([owner, evil])


def test_a_replicaset_at_zero_under_a_deployment_of_another_group_is_audited():
    owner = _obj("Deployment", "benign", BENIGN, api="example.com/v1")
    evil = _obj("ReplicaSet", "evil", EVIL, owner=("example.com/v1", "Deployment", "benign"), replicas=0)
    assert ("ReplicaSet", "t", "evil") in _audited([owner, evil])


def test_an_old_replicaset_its_deployment_keeps_at_zero_is_still_folded():
    owner = _obj("Deployment", "web", BENIGN)
    old = _obj("ReplicaSet", "web-1", EVIL, owner=("apps/v1", "Deployment", "web"), replicas=0)
    assert _audited([owner, old]) == {("Deployment", "t", "web")}
