"""Read live clusters into one Inventory: every kind the engine reads, permissions first.

Per context: who am I (SelfSubjectReview), may I list each kind at cluster scope
(SelfSubjectAccessReview), then paged lists of the kinds allowed, concurrently. A kind the
caller may not list is a `Skipped` entry naming the user, so the report's coverage says the
audit is partial; the scan never writes anything (the two reviews create nothing).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..model import Inventory, Origin, Resource, Skipped
from ..sources.sharing import Shared
from .errors import ApiStatusError, ClusterError
from .kinds import SCAN_KINDS, ApiKind
from .retry import RetryPolicy

DEFAULT_PAGE_SIZE = 500
DEFAULT_TIMEOUT = 30.0

# (context, kind plural, objects read) after each kind is read
Progress = Callable[[str, str, int], None]


@dataclass
class ContextRead:
    context: str
    server: str
    user: str | None
    resources: list[Resource] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    not_installed: list[str] = field(default_factory=list)  # optional kinds this cluster does not serve
    raw: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)  # plural.group -> objects, in list order


def load_cluster(
    kubeconfig: str | None = None,
    contexts: Sequence[str] | None = None,
    all_contexts: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
) -> Inventory:
    """One Inventory for the chosen contexts (default: the current one), read concurrently.

    Raises ClusterError (one line) when no context could be read at all. With several
    contexts, one that cannot be reached becomes a Skipped entry and the others are audited.
    """
    from .kubeconfig import load_kubeconfig, select_contexts

    if page_size < 1:
        raise ClusterError(f"page size must be at least 1, not {page_size}")
    if not timeout > 0:
        raise ClusterError(f"timeout must be more than 0 seconds, not {timeout}")
    config = load_kubeconfig(kubeconfig, environ)
    names = select_contexts(config, list(contexts) if contexts else None, all_contexts)

    def one(name: str) -> ContextRead | ClusterError:
        from .transport import connect

        try:
            api = connect(config, name, timeout=timeout, policy=policy)
        except ClusterError as exc:
            return exc
        try:
            return read_context(api, page_size, progress=progress)
        except ClusterError as exc:
            return exc
        finally:
            api.close()

    if len(names) == 1:
        results = [one(names[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(8, len(names)), thread_name_prefix="context") as pool:
            results = list(pool.map(one, names))
    failures = [r for r in results if isinstance(r, ClusterError)]
    if len(failures) == len(results):
        if len(failures) == 1:
            raise failures[0]
        raise ClusterError(f"none of the {len(failures)} contexts could be read; first: {failures[0]}")
    resources: list[Resource] = []
    skipped: list[Skipped] = []
    not_installed: list[str] = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, ClusterError):
            skipped.append(Skipped(f"cluster {name}", str(result)))
        else:
            resources.extend(result.resources)
            skipped.extend(result.skipped)
            not_installed.extend(result.not_installed)
    return Inventory(
        resources=tuple(resources),
        inputs=tuple(f"cluster {n}" for n in names),
        skipped=tuple(skipped),
        cluster=", ".join(names),
        not_installed=tuple(not_installed),
    )


def read_context(api: Any, page_size: int = DEFAULT_PAGE_SIZE, kinds: Sequence[ApiKind] = SCAN_KINDS,
                 *, progress: Progress | None = None, workers: int = 6) -> ContextRead:
    """Everything the scan reads from one context (`api`: a transport.Api)."""
    user = whoami(api)
    read = ContextRead(api.context, api.server, user)
    absent = set(not_served(api, [k for k in kinds if k.optional]))
    read.not_installed = [_source(api.context, k) for k in kinds if k in absent]
    kinds = [k for k in kinds if k not in absent]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(kinds))), thread_name_prefix="review") as pool:
        verdicts = dict(zip(kinds, pool.map(lambda k: may_list(api, k), kinds), strict=True))
    kept = SharedPages()

    def fetch(kind: ApiKind) -> tuple[ApiKind, list[dict] | Skipped | None]:
        allowed, why = verdicts[kind]
        if allowed is False:
            return kind, _forbidden(api.context, kind, user, why)
        try:
            items = api.list_items(kind.list_path, page_size, each_page=kept)
        except ApiStatusError as exc:
            if exc.status == 403:
                return kind, _forbidden(api.context, kind, user or _user_in(exc.message), "")
            if exc.status == 404:
                if kind.optional:  # removed between discovery and the list
                    return kind, None
                return kind, Skipped(_source(api.context, kind),
                                     f"not served by this cluster ({kind.api_version} {kind.plural})")
            return kind, Skipped(_source(api.context, kind), f"cannot list: HTTP {exc.status} {exc.reason}: "
                                                             f"{exc.message}"[:400])
        if progress is not None:
            progress(api.context, kind.plural, len(items))
        return kind, items

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(kinds))), thread_name_prefix="list") as pool:
        # Pods first: the longest list starts first, the short ones fill in around it.
        order = sorted(kinds, key=lambda k: k.kind != "Pod")
        fetched = dict(pool.map(fetch, order))
    for kind in kinds:  # inventory order is the kinds' order, whatever finished first
        got = fetched[kind]
        if got is None:
            read.not_installed.append(_source(api.context, kind))
            continue
        if isinstance(got, Skipped):
            read.skipped.append(got)
            continue
        objects = read.raw.setdefault(kind.display, [])
        for item in got:
            resource = _resource(item, kind, api.context)
            if resource is not None:
                read.resources.append(resource)
                objects.append(resource.obj)
    return read


def not_served(api: Any, kinds: Sequence[ApiKind]) -> Iterator[ApiKind]:
    """The optional kinds this cluster does not serve, from API discovery (which every
    authenticated user may read): a group version that is not found, or that lists no such
    resource. Discovery that cannot be read decides nothing: the list call will tell."""
    by_version: dict[str, list[ApiKind]] = {}
    for kind in kinds:
        by_version.setdefault(kind.prefix, []).append(kind)
    for prefix, wanted in by_version.items():
        try:
            served = api.get(prefix)
        except ApiStatusError as exc:
            if exc.status == 404:
                yield from wanted
            continue
        names = {r.get("name") for r in (served or {}).get("resources") or () if isinstance(r, dict)}
        yield from (k for k in wanted if k.plural not in names)


def whoami(api: Any) -> str | None:
    """The caller's user name (SelfSubjectReview, GA since 1.28); None when not available.
    Also the first call of a scan, so an unreachable server fails here, in one line."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = api.create("/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
    except ApiStatusError as exc:
        if exc.status in (403, 404, 405):
            # older servers, or a caller not allowed to ask; probe connectivity another way
            try:
                api.get("/version")
            except ApiStatusError:
                pass
            return None
        raise ClusterError(f"context {api.context}: {api.server}: {exc}") from None
    user = ((answer or {}).get("status") or {}).get("userInfo") or {}
    name = user.get("username")
    return name if isinstance(name, str) and name else None


def may_list(api: Any, kind: ApiKind) -> tuple[bool | None, str]:
    """(allowed, reason) for `list` at cluster scope; None when the API could not say."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "list", "group": kind.group, "version": kind.version,
                                        "resource": kind.plural}},
    }
    try:
        answer = api.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body)
    except ApiStatusError:
        return None, ""  # not allowed to ask: the list call itself will tell
    status = (answer or {}).get("status") or {}
    reason = str(status.get("reason") or status.get("evaluationError") or "")
    return bool(status.get("allowed")), reason


class SharedPages:
    """The `each_page` of one context's lists: each item as kept, its managedFields gone
    (kubectl hides them too; they are bookkeeping, large, and never evidence) and its
    subtrees equal to earlier ones, of any kind, held once (see sources.sharing)."""

    def __init__(self) -> None:
        self._shared = Shared()
        self._lock = threading.Lock()  # kinds are listed concurrently; Shared is one table

    def __call__(self, items: list) -> list:
        with self._lock:
            for item in items:
                if type(item) is dict:
                    meta = item.get("metadata")
                    if type(meta) is dict:
                        meta.pop("managedFields", None)
                    self._shared.members(item)
        return items


def _resource(item: Any, kind: ApiKind, context: str) -> Resource | None:
    if not isinstance(item, dict):
        return None
    meta = item.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return None
    obj = {"apiVersion": kind.api_version, "kind": kind.kind, **item}
    namespace = meta.get("namespace")
    return Resource(
        kind=kind.kind,
        api_version=kind.api_version,
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        name=meta["name"],
        obj=obj,
        origin=Origin(cluster=context),
    )


def _source(context: str, kind: ApiKind) -> str:
    # optional kinds repeat plurals of other groups (Calico's networkpolicies): name the group
    return f"cluster {context}: {kind.display if kind.optional else kind.plural}"


def _forbidden(context: str, kind: ApiKind, user: str | None, why: str) -> Skipped:
    who = f"user {user}" if user else "the current user"
    group = f" ({kind.group})" if kind.group else ""
    reason = f"forbidden: {who} cannot list {kind.plural}{group} at cluster scope"
    if why:
        reason += f": {why}"
    return Skipped(_source(context, kind), reason)


_USER = re.compile(r'User "([^"]+)"')


def _user_in(message: str) -> str | None:
    found = _USER.search(message)
    return found.group(1) if found else None
