"""Apply this run's policy reports through the API: create or replace ours, delete the stale ones.

"Ours" is a report with the managed-by label the renderer sets and a name the renderer gives.
A report of that name that lacks the label belongs to someone else and is left alone (the run
fails on it rather than overwrite it); so is a labelled report of another name: the label is
anyone's to set, and whoever may only update a report (relabel it) must not get it deleted.
Every failure is one line naming the object and the HTTP status, never a value from the cluster.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..live.errors import ApiStatusError
from ..live.transport import Api
from ..model import Report, Rule
from ..reports.policyreport import APIS, LABELS, SOURCE, to_list

SELECTOR = ",".join(f"{k}={v}" for k, v in LABELS.items())
# policyreport._reports' names: SOURCE, with a cluster's hash when one scan read several, then -2, -3, …
OUR_NAME = re.compile(rf"^{re.escape(SOURCE)}(-[0-9a-f]{{10}})?(-[0-9]+)?$")
PLURALS = {"PolicyReport": "policyreports", "ClusterPolicyReport": "clusterpolicyreports",
           "Report": "reports", "ClusterReport": "clusterreports"}


class PublishError(Exception):
    """One line naming the object or API that could not be written."""


@dataclass(frozen=True)
class Published:
    created: int
    updated: int
    deleted: int
    gone: int = 0  # not written: their namespace is being deleted (its report would go with it)


GONE = "<namespace gone>"  # _adopt's answer for a report whose namespace is going away


def _collection(api_version: str, kind: str, namespace: str | None) -> str:
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{api_version}{where}/{PLURALS[kind]}"


def _key(obj: Mapping[str, Any]) -> tuple[str, str | None, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), meta.get("namespace"), str(meta.get("name"))


def _label(key: tuple[str, str | None, str]) -> str:
    kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def owner_references(api: Api, cluster_role: str) -> tuple[dict[str, str], ...]:
    """The ownerReference to a ClusterRole: a cluster-scoped owner is the only kind a report
    in any namespace may have, and deleting it (helm uninstall deletes the chart's role) lets
    the garbage collector delete every object of ours. No blockOwnerDeletion: that would need
    delete rights on the role."""
    try:
        role = api.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{cluster_role}")
    except ApiStatusError as exc:
        raise PublishError(f"ClusterRole {cluster_role} (--publish-owner): cannot read: "
                           f"HTTP {exc.status} {exc.reason}") from None
    uid = ((role or {}).get("metadata") or {}).get("uid") if isinstance(role, dict) else None
    if not isinstance(uid, str) or not uid:
        raise PublishError(f"ClusterRole {cluster_role} (--publish-owner): the server's answer has no uid")
    return ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": cluster_role, "uid": uid},)


def publish_reports(api: Api, report: Report, rules: Iterable[Rule], api_version: str, now: float,
                    owners: Sequence[Mapping[str, str]] = ()) -> Published:
    desired = to_list(report, rules, api_version, now)["items"]
    if owners:
        desired = [{**o, "metadata": {**o["metadata"], "ownerReferences": [dict(r) for r in owners]}} for o in desired]
    existing = {}
    for kind in APIS[api_version]:
        existing.update(_ours(api, api_version, kind))
    created = updated = gone = 0
    for obj in desired:
        key = _key(obj)
        version = existing[key] if key in existing else _adopt(api, api_version, obj, key)
        if version is None:
            created += 1
        elif version is GONE:
            gone += 1
        else:
            _replace(api, api_version, obj, key, version)
            updated += 1
    deleted = _delete(api, api_version, set(existing) - {_key(o) for o in desired})
    for other in APIS:
        if other != api_version:
            deleted += _withdraw(api, other)
    return Published(created, updated, deleted, gone)


def _withdraw(api: Api, api_version: str) -> int:
    """Our reports under a report API this run does not write (an earlier run's
    --policyreport-api): as stale as a report whose findings are fixed, and deleted. An API the
    cluster does not serve, or this account may not list, has none of ours to delete."""
    found: dict[tuple[str, str | None, str], str] = {}
    for kind in APIS[api_version]:
        found.update(_ours(api, api_version, kind, required=False))
    return _delete(api, api_version, set(found))


def _delete(api: Api, api_version: str, keys: set[tuple[str, str | None, str]]) -> int:
    for key in sorted(keys, key=lambda k: (k[0], k[1] or "", k[2])):
        kind, namespace, name = key
        try:
            api.delete(f"{_collection(api_version, kind, namespace)}/{name}")
        except ApiStatusError as exc:
            if exc.status != 404:  # gone already: what we wanted
                raise PublishError(f"{_label(key)}: cannot delete: HTTP {exc.status} {exc.reason}") from None
    return len(keys)


def _ours(api: Api, api_version: str, kind: str, required: bool = True) -> dict[tuple[str, str | None, str], str]:
    """Our reports of this kind in every namespace (labelled, and named as we name them): key -> resourceVersion.
    Not `required`: none when the API is not served or not ours to list."""
    try:
        page = api.list_items(_collection(api_version, kind, None), 500, labelSelector=SELECTOR)
    except ApiStatusError as exc:
        if not required and exc.status in (403, 404):
            return {}
        if exc.status == 404:
            group = api_version.split("/")[0]
            raise PublishError(f"policy report API {api_version} is not installed (no CRD "
                               f"{PLURALS[kind]}.{group}); install the chart's CRDs or choose "
                               f"--policyreport-api") from None
        raise PublishError(f"{kind} ({api_version}): cannot list: HTTP {exc.status} {exc.reason}") from None
    out = {}
    for item in page:
        if isinstance(item, dict):
            key = _key({"kind": kind, **item})  # list items carry no kind
            if OUR_NAME.match(key[2]):
                out[key] = str((item.get("metadata") or {}).get("resourceVersion") or "")
    return out


def _adopt(api: Api, api_version: str, obj: Mapping[str, Any], key) -> str | None:
    """Create the object; None when created, else the resourceVersion of one of ours that a
    concurrent run created meanwhile (the list did not show it)."""
    kind, namespace, _ = key
    try:
        api.create(_collection(api_version, kind, namespace), obj)
        return None
    except ApiStatusError as exc:
        if namespace and exc.status in (403, 404) and _going_away(api, namespace):
            return GONE  # findings of pods still terminating: the API refuses new content there
        if exc.status != 409:
            raise PublishError(f"{_label(key)}: cannot create: HTTP {exc.status} {exc.reason}") from None
    try:
        current = api.get(f"{_collection(api_version, kind, namespace)}/{key[2]}")
    except ApiStatusError as exc:
        raise PublishError(f"{_label(key)}: cannot read: HTTP {exc.status} {exc.reason}") from None
    meta = (current or {}).get("metadata") or {}
    if not LABELS.items() <= dict(meta.get("labels") or {}).items():
        raise PublishError(f"{_label(key)}: exists and is not managed by k8s-isolation-audit; left alone")
    return str(meta.get("resourceVersion") or "")


def _going_away(api: Api, namespace: str) -> bool:
    try:
        found = api.get(f"/api/v1/namespaces/{namespace}")
    except ApiStatusError as exc:
        return exc.status == 404
    meta = found.get("metadata") if isinstance(found, dict) else None
    status = found.get("status") if isinstance(found, dict) else None
    return bool((isinstance(meta, dict) and meta.get("deletionTimestamp"))
                or (isinstance(status, dict) and status.get("phase") == "Terminating"))


def _replace(api: Api, api_version: str, obj: Mapping[str, Any], key, version: str) -> None:
    kind, namespace, name = key
    body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}
    try:
        api.json("PUT", f"{_collection(api_version, kind, namespace)}/{name}", (), body)
    except ApiStatusError as exc:
        raise PublishError(f"{_label(key)}: cannot update: HTTP {exc.status} {exc.reason}") from None
