"""Whether a pod gets a ServiceAccount token, decided as Kubernetes decides it.

The ServiceAccount admission plugin mounts the token of the pod's account (`serviceAccountName`,
else the deprecated `serviceAccount`, else `default`, in the pod's namespace) unless the pod's
`automountServiceAccountToken` says false; when the pod does not set it, the ServiceAccount's
field decides; when neither sets it, the token is mounted. Mirror pods (static pods the kubelet
runs) get none. A projected volume with a `serviceAccountToken` source gets a token whatever
those fields say.

What the audited objects cannot say is never guessed silently: a ServiceAccount that is not
among them, or a field that is not a boolean (the API server would refuse it), leaves the
default, a mounted token, and the answer says which assumption it made.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import Resource
from .workloads import PodView, items

if TYPE_CHECKING:
    from .analysis import AnalysisContext

FIELD = "automountServiceAccountToken"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

AccountKey = tuple[str | None, str]


@dataclass(frozen=True, slots=True)
class ServiceAccounts:
    """The audited ServiceAccounts by (namespace, name), and where each one's field was read."""

    by_key: Mapping[AccountKey, Sequence[Resource]]
    _found: dict[tuple[AccountKey, str | None], Resource | None] = field(default_factory=dict, repr=False,
                                                                         compare=False)
    _places: dict[int, str] = field(default_factory=dict, repr=False, compare=False)

    def find(self, key: AccountKey, cluster: str | None) -> Resource | None:
        """The account a pod of `cluster` runs as: one of that cluster, or of none named (a file
        beside a snapshot). Of several (two files, two documents), one that does not turn the
        token off: which one the cluster holds is not known, and a pass must not rest on that."""
        if (key, cluster) not in self._found:  # once per account and cluster, however many pods
            found = [r for r in self.by_key.get(key, ()) if r.origin.cluster in (cluster, None) or cluster is None]
            chosen = next((r for r in found if r.obj.get(FIELD) is not False), found[0] if found else None)
            self._found[(key, cluster)] = chosen
        return self._found[(key, cluster)]

    def place(self, account: Resource) -> str:
        """`file:line` of the account's automount field (or of the account), or its cluster."""
        if id(account) not in self._places:  # the accounts live as long as this object
            self._places[id(account)] = _place(account)
        return self._places[id(account)]


def service_accounts(ctx: AnalysisContext) -> ServiceAccounts:
    """For `ctx.shared`: built once per audit."""
    found: dict[AccountKey, list[Resource]] = {}
    for r in ctx.of_kind("ServiceAccount"):
        found.setdefault((r.namespace, r.name), []).append(r)
    return ServiceAccounts(found)


def token_mounts(ctx: AnalysisContext) -> tuple[TokenMount, ...]:
    """For `ctx.shared`: each of `ctx.workloads`' verdicts, in its order (two checks read them)."""
    accounts = ctx.shared(service_accounts)
    return tuple(token_mount(view, accounts) for view in ctx.workloads)


@dataclass(frozen=True, slots=True)
class TokenMount:
    """The verdict for one pod template, with what decided it."""

    mounted: bool
    account: str | None  # None when the pod names its account with something other than a string
    account_name: str  # `namespace/name`, for messages
    decided_by: str  # pod | service-account | default | mirror-pod | projected-volume
    reason: str  # one clause, for messages
    pointer: str  # in the pod's object: the field that decided, else the account's name, else the spec
    evidence: Mapping[str, Any]


def token_mount(view: PodView, accounts: ServiceAccounts) -> TokenMount:
    spec, base = view.spec, f"{view.pointer}/spec"
    namespace = view.resource.namespace
    account, account_pointer = _account(spec, base)
    shown = account if account is not None else "(serviceAccountName not a string)"
    named = f"{namespace}/{shown}" if namespace else shown
    projected = _projected_tokens(spec, base)
    evidence: dict[str, Any] = {"service_account": named}
    if projected:
        evidence["projected_token_sources"] = projected
    mounted, decided_by, reason, pointer = _chain(view, account, named, accounts, evidence)
    if not mounted and projected:
        mounted, decided_by, pointer = True, "projected-volume", projected[0]
        reason = (f"its volume at {pointer} projects a serviceAccountToken, which is mounted whatever "
                  f"{FIELD} says ({reason})")
    evidence.update(token_mounted=mounted, decided_by=decided_by)
    return TokenMount(mounted, account, named, decided_by, reason, pointer or account_pointer or base, evidence)


def _chain(view: PodView, account: str | None, named: str, accounts: ServiceAccounts,
           evidence: dict[str, Any]) -> tuple[bool, str, str, str | None]:
    """(mounted, decided_by, reason, pointer) from the automount fields alone."""
    spec, base = view.spec, f"{view.pointer}/spec"
    annotations = view.metadata.get("annotations")
    if isinstance(annotations, dict) and MIRROR_ANNOTATION in annotations:
        return False, "mirror-pod", "it is a mirror pod (a static pod of the kubelet), which gets no token", None
    if spec.get(FIELD) is not None:  # null is unset, as the API server decodes it
        setting, pointer = spec[FIELD], f"{base}/{FIELD}"
        evidence["pod_field"] = {"pointer": pointer, "value": _shown(setting)}
        if isinstance(setting, bool):
            return setting, "pod", f"the pod sets {FIELD}: {str(setting).lower()}, which wins", pointer
        return True, "pod", (f"the pod's {FIELD} is not a boolean (the API server refuses such a pod): "
                             "a mounted token is assumed"), pointer
    if account is None:
        return True, "default", (f"the pod does not set {FIELD} and names its ServiceAccount with something "
                                 "other than a string: Kubernetes' default, a mounted token, is assumed"), None
    shown = f"ServiceAccount {named}"
    found = accounts.find((view.resource.namespace, account), view.resource.origin.cluster)
    if found is None:
        evidence["assumption"] = (f"{shown} was not among the audited objects: Kubernetes' default "
                                  f"({FIELD}: true) is assumed")
        return True, "default", (f"the pod does not set {FIELD} and {shown} was not among the audited "
                                 "objects, so Kubernetes' default, a mounted token, is assumed"), None
    setting = found.obj.get(FIELD)
    evidence["service_account_field"] = {"at": accounts.place(found), "value": _shown(setting)}
    if setting is None:
        return True, "default", (f"neither the pod nor {shown} sets {FIELD}, and Kubernetes mounts "
                                 "the token by default"), None
    if isinstance(setting, bool):
        return setting, "service-account", (f"the pod does not set {FIELD} and {shown} sets it to "
                                            f"{str(setting).lower()}"), None
    return True, "service-account", (f"the pod does not set {FIELD} and {shown}'s is not a boolean (the API "
                                     "server refuses it): a mounted token is assumed"), None


def _account(spec: Mapping[str, Any], base: str) -> tuple[str | None, str | None]:
    """(name, pointer of the field naming it) as the API server reads them: an empty
    `serviceAccountName` falls back to the deprecated `serviceAccount`, then to `default`."""
    for name in ("serviceAccountName", "serviceAccount"):
        value = spec.get(name)
        if value not in (None, ""):
            return (value if isinstance(value, str) else None), f"{base}/{name}"
    return "default", None


def _projected_tokens(spec: Mapping[str, Any], base: str) -> list[str]:
    """Pointers of the projected volumes' serviceAccountToken sources."""
    found = []
    for v, volume in enumerate(items(spec.get("volumes"))):
        projected = volume.get("projected") if isinstance(volume, dict) else None
        sources = projected.get("sources") if isinstance(projected, dict) else None
        for s, source in enumerate(items(sources)):
            if isinstance(source, dict) and "serviceAccountToken" in source:
                found.append(f"{base}/volumes/{v}/projected/sources/{s}/serviceAccountToken")
    return found


def _shown(value: Any) -> Any:
    """A boolean as it is; anything else only by its type (a field is no place for data)."""
    return value if isinstance(value, bool) or value is None else f"({type(value).__name__}, not a boolean)"


def _place(account: Resource) -> str:
    origin = account.origin
    if origin.path is None:
        return f"cluster {origin.cluster}" if origin.cluster else f"ServiceAccount {account.name}"
    pointer = origin.pointer + (f"/{FIELD}" if FIELD in account.obj else "")
    line = origin.lines.resolve([pointer]).get(pointer) if origin.lines is not None else None
    return origin.path if line is None else f"{origin.path}:{line}"
