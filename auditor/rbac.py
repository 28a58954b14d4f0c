"""RBAC as the API server's authorizer decides it (plugin/pkg/auth/authorizer/rbac).

A request is allowed when a rule of a role bound to the identity allows it: every
ClusterRoleBinding applies everywhere, a RoleBinding only to requests in its own namespace
(whether it names a Role there or a ClusterRole). ClusterRoles with an aggregationRule get
the rules of the ClusterRoles their selectors pick, as kube-controller-manager writes them.
The `system:masters` group is allowed everything by the API server before RBAC is asked.

Identities whose bindings are the same are one equivalence class, so a cluster of many
ServiceAccounts that share their bindings is evaluated once per class, not per account.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Resource
from .selectors import selects
from .tenancy import Tenancy

ALL = "*"
SA_PREFIX = "system:serviceaccount:"
SUPERUSER_GROUP = "system:masters"
AUTHENTICATED = "system:authenticated"
ALL_SERVICE_ACCOUNTS = "system:serviceaccounts"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount")
# A name no rule lists: a request for "any object" of a kind (resourceNames restrict a rule
# to the objects they name, and a request without a name matches none of them).
ANY_NAME = "\x00any"


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class Request:
    """What SubjectAccessReview asks: a resource request, or a non-resource one (`path`)."""

    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str | None = None

    def describe(self) -> str:
        if self.path is not None:
            return f"{self.verb} {self.path}"
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        what = f"{what}.{self.group}" if self.group else what
        where = f" in {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {what}{where}"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def parse(cls, obj: Any) -> PolicyRule | None:
        if not isinstance(obj, dict):
            return None
        return cls(_strings(obj.get("verbs")), _strings(obj.get("apiGroups")), _strings(obj.get("resources")),
                   _strings(obj.get("resourceNames")), _strings(obj.get("nonResourceURLs")))

    def as_dict(self) -> dict[str, list[str]]:
        fields = (("verbs", self.verbs), ("apiGroups", self.api_groups), ("resources", self.resources),
                  ("resourceNames", self.resource_names), ("nonResourceURLs", self.non_resource_urls))
        return {k: list(v) for k, v in fields if v}

    def allows(self, request: Request) -> bool:
        if not verb_matches(self, request.verb):
            return False
        if request.path is not None:
            return non_resource_url_matches(self, request.path)
        combined = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
        return (api_group_matches(self, request.group) and resource_matches(self, combined, request.subresource)
                and resource_name_matches(self, request.name))

    @property
    def wildcards(self) -> tuple[str, ...]:
        """The fields that say `*` (a `*/subresource` is a wildcard over resources too)."""
        found = [name for name, values in (("verbs", self.verbs), ("apiGroups", self.api_groups),
                                           ("nonResourceURLs", self.non_resource_urls)) if ALL in values]
        if any(r == ALL or r.startswith("*/") for r in self.resources):
            found.append("resources")
        return tuple(found)


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    for resource in rule.resources:
        if resource in (ALL, combined):
            return True
        # `*/scale` is the scale subresource of every resource; nothing else is a pattern.
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url in (ALL, path):
            return True
        if url.endswith(ALL) and path.startswith(url.rstrip(ALL)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Grant:
    """One rule and where it came from; aggregated_from names the ClusterRole that holds it."""

    rule: PolicyRule
    aggregated_from: str | None = None


@dataclass(frozen=True, slots=True)
class Role:
    kind: str  # Role | ClusterRole
    namespace: str | None
    name: str
    grants: tuple[Grant, ...]
    resource: Resource | None

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # User | Group | ServiceAccount
    name: str
    namespace: str | None = None  # a ServiceAccount's, defaulted to the RoleBinding's

    @property
    def key(self) -> tuple[str, str]:
        """How an identity is looked up: its user name, or a group name."""
        if self.kind == "ServiceAccount":
            return ("User", f"{SA_PREFIX}{self.namespace}:{self.name}")
        return (self.kind, self.name)

    def describe(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Binding:
    resource: Resource
    namespace: str | None  # None for a ClusterRoleBinding: it applies everywhere
    subjects: tuple[Subject, ...]
    role_ref: tuple[str, str]  # (kind, name)
    role: Role | None  # None when the role does not exist: the binding grants nothing

    def describe(self) -> str:
        return (
            f"{self.resource.kind} {self.namespace}/{self.resource.name}"
            if self.namespace
            else f"{self.resource.kind} {self.resource.name}"
        )

    def grant_for(self, request: Request) -> Grant | None:
        """The first rule of the bound role that allows `request`, wherever the binding applies."""
        if self.role is None:
            return None
        return next((g for g in self.role.grants if g.rule.allows(request)), None)

    def in_scope(self, namespace: str) -> bool:
        """A RoleBinding answers only requests in its namespace (never cluster-scoped ones)."""
        return self.namespace is None or self.namespace == namespace


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    groups: frozenset[str] = frozenset()

    @classmethod
    def service_account(cls, namespace: str, name: str) -> Identity:
        """What the authenticator makes of a ServiceAccount token."""
        return cls(
            f"{SA_PREFIX}{namespace}:{name}",
            frozenset({ALL_SERVICE_ACCOUNTS, f"{ALL_SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED}),
        )


@dataclass(frozen=True, slots=True)
class Step:
    """binding -> role -> rule: why a request is allowed."""

    binding: Binding | None  # None for the system:masters group
    grant: Grant | None

    def as_dict(self) -> dict[str, Any]:
        if self.binding is None or self.grant is None:
            return {"group": SUPERUSER_GROUP, "authorizer": "the API server allows this group everything"}
        role = self.binding.role
        assert role is not None
        step: dict[str, Any] = {
            "binding": self.binding.describe(),
            "role": role.describe(),
            "rule": self.grant.rule.as_dict(),
        }
        if self.grant.aggregated_from:
            step["aggregated_from"] = f"ClusterRole {self.grant.aggregated_from}"
        return step


SUPERUSER = Step(None, None)


@dataclass(frozen=True, slots=True)
class BindingSet:
    """Bindings that apply to one subject key (a user, or one group), by namespace ("" for
    the ClusterRoleBindings) so that a request reads only the bindings of its namespace."""

    bindings: tuple[Binding, ...]
    by_namespace: Mapping[str, tuple[Binding, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        found: dict[str, list[Binding]] = {"": []}
        for b in self.bindings:
            found.setdefault(b.namespace or "", []).append(b)
        object.__setattr__(self, "by_namespace", {k: tuple(v) for k, v in found.items()})


@dataclass(frozen=True, slots=True)
class PermissionClass:
    """Identities with the same bindings: the authorizer gives them the same answers.

    A class is its user's bindings plus one shared BindingSet per group, so that thousands
    of ServiceAccounts in groups bound everywhere do not each hold a copy of those bindings.
    """

    parts: tuple[BindingSet, ...]
    superuser: bool

    @property
    def bindings(self) -> tuple[Binding, ...]:
        return tuple({id(b): b for part in self.parts for b in part.bindings}.values())

    def allows(self, request: Request) -> Step | None:
        if self.superuser:
            return SUPERUSER
        # ClusterRoleBindings first, as the authorizer visits them; then the namespace's
        scopes = ("", request.namespace) if request.namespace else ("",)
        for scope in scopes:
            for part in self.parts:
                for binding in part.by_namespace.get(scope, ()):
                    grant = binding.grant_for(request) if binding.in_scope(request.namespace) else None
                    if grant is not None:
                        return Step(binding, grant)
        return None


@dataclass(frozen=True, slots=True)
class Rbac:
    """The cluster's roles and bindings, resolved, with an index from subject to bindings."""

    cluster_roles: Mapping[str, Role]
    roles: Mapping[tuple[str, str], Role]
    bindings: tuple[Binding, ...]  # ClusterRoleBindings first, as the authorizer visits them
    service_accounts: tuple[tuple[str, str], ...]  # (namespace, name), from objects and references

    by_subject: Mapping[tuple[str, str], BindingSet] = field(init=False, repr=False)
    _classes: dict[tuple, PermissionClass] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], dict[int, Binding]] = {}
        for i, binding in enumerate(self.bindings):
            for subject in binding.subjects:
                index.setdefault(subject.key, {})[i] = binding
        object.__setattr__(self, "by_subject", {k: BindingSet(tuple(v.values())) for k, v in index.items()})
        object.__setattr__(self, "_classes", {})

    def class_of(self, identity: Identity) -> PermissionClass:
        keys = [("User", identity.user)] + sorted(("Group", g) for g in identity.groups)
        present = tuple(k for k in keys if k in self.by_subject)
        key = (SUPERUSER_GROUP in identity.groups, present)
        if key not in self._classes:
            self._classes[key] = PermissionClass(tuple(self.by_subject[k] for k in present), key[0])
        return self._classes[key]

    def allows(self, identity: Identity, request: Request) -> Step | None:
        return self.class_of(identity).allows(request)


def build(resources: Iterable[Resource]) -> Rbac:
    resources = list(resources)
    cluster_role_objs = [r for r in resources if r.kind == "ClusterRole" and r.namespace is None]
    cluster_roles = aggregate(cluster_role_objs)
    roles = {(r.namespace, r.name): _role(r, None) for r in resources if r.kind == "Role" and r.namespace}
    bindings: list[Binding] = []
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for r in resources:
            if r.kind != kind or (kind == "RoleBinding") != (r.namespace is not None):
                continue
            binding = _binding(r, cluster_roles, roles)
            if binding is not None:
                bindings.append(binding)
    accounts = {(r.namespace, r.name) for r in resources if r.kind == "ServiceAccount" and r.namespace}
    accounts.update(
        (s.namespace, s.name) for b in bindings for s in b.subjects if s.kind == "ServiceAccount" and s.namespace
    )
    return Rbac(cluster_roles, roles, tuple(bindings), tuple(sorted(accounts)))


def _rules(obj: Mapping[str, Any]) -> tuple[PolicyRule, ...]:
    rules = obj.get("rules")
    parsed = (PolicyRule.parse(r) for r in (rules if isinstance(rules, list) else ()))
    return tuple(r for r in parsed if r is not None)


def _role(resource: Resource, rules: Sequence[tuple[PolicyRule, str | None]] | None) -> Role:
    pairs = rules if rules is not None else [(r, None) for r in _rules(resource.obj)]
    return Role(
        resource.kind, resource.namespace, resource.name, tuple(Grant(rule, origin) for rule, origin in pairs), resource
    )


def _selectors(resource: Resource) -> list[Mapping[str, Any]] | None:
    """The clusterRoleSelectors of an aggregated ClusterRole, or None for a plain one."""
    rule = resource.obj.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    found = rule.get("clusterRoleSelectors")
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def aggregate(cluster_roles: Sequence[Resource]) -> dict[str, Role]:
    """Every ClusterRole with the rules the aggregation controller gives it.

    The controller replaces an aggregated role's rules with the distinct rules of the roles
    its selectors pick (by name, itself excepted), reading their rules as stored, so it
    reaches a fixed point over aggregated roles that pick aggregated roles; so does this.
    """
    by_name = {r.name: r for r in cluster_roles}
    current: dict[str, list[tuple[PolicyRule, str | None]]] = {
        r.name: [(rule, None) for rule in _rules(r.obj)] for r in cluster_roles
    }
    aggregated = {r.name: s for r in cluster_roles if (s := _selectors(r)) is not None}
    for _ in range(len(aggregated) + 1):
        changed = False
        for name, selectors in sorted(aggregated.items()):
            merged: list[tuple[PolicyRule, str | None]] = []
            seen: set[PolicyRule] = set()
            for selector in selectors:
                for other in sorted(by_name):
                    if other == name or not selects(selector, by_name[other].labels):
                        continue
                    for rule, origin in current[other]:
                        if rule not in seen:
                            seen.add(rule)
                            merged.append((rule, origin or other))
            if [r for r, _ in merged] != [r for r, _ in current[name]]:
                changed = True
            current[name] = merged
        if not changed:
            break
    return {name: _role(r, current[name]) for name, r in by_name.items()}


def _binding(
    resource: Resource, cluster_roles: Mapping[str, Role], roles: Mapping[tuple[str, str], Role]
) -> Binding | None:
    ref = resource.obj.get("roleRef")
    if not isinstance(ref, dict) or not isinstance(ref.get("kind"), str) or not isinstance(ref.get("name"), str):
        return None
    kind, name = ref["kind"], ref["name"]
    namespace = resource.namespace
    role: Role | None = None
    if kind == "ClusterRole":
        role = cluster_roles.get(name)
    elif kind == "Role" and namespace is not None:
        role = roles.get((namespace, name))
    subjects = []
    raw = resource.obj.get("subjects")
    for s in raw if isinstance(raw, list) else ():
        subject = _subject(s, namespace)
        if subject is not None:
            subjects.append(subject)
    return Binding(resource, namespace, tuple(subjects), (kind, name), role)


def _subject(obj: Any, binding_namespace: str | None) -> Subject | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    kind = obj.get("kind")
    if kind in ("User", "Group"):
        return Subject(kind, obj["name"])
    if kind == "ServiceAccount":
        namespace = (
            obj.get("namespace")
            if isinstance(obj.get("namespace"), str) and obj.get("namespace")
            else binding_namespace
        )
        return Subject(kind, obj["name"], namespace) if namespace else None  # nobody's, as upstream
    return None


# Groups every tenant's identities are in: what they are granted, every tenant is granted.
EVERYONE = frozenset({AUTHENTICATED, "system:unauthenticated", ALL_SERVICE_ACCOUNTS})
EVERY_TENANT = "*"  # one owner standing for them all, so a fleet of tenants is not a list of them
UNMAPPED = "unmapped"


def owners(subject: Subject, tenancy: Tenancy) -> tuple[str, ...]:
    """The tenants a binding's subject acts for: () for the platform's own identities, `*` for
    groups every tenant is in, and `unmapped KIND NAME` for a user or group the config does
    not place."""
    if subject.kind == "ServiceAccount" or subject.name.startswith(SA_PREFIX):
        namespace = (
            subject.namespace if subject.kind == "ServiceAccount" else subject.name[len(SA_PREFIX) :].partition(":")[0]
        )
        return _tenant(tenancy, namespace)
    if subject.kind == "Group":
        if subject.name in EVERYONE:
            return (EVERY_TENANT,)
        if subject.name.startswith(ALL_SERVICE_ACCOUNTS + ":"):
            return _tenant(tenancy, subject.name[len(ALL_SERVICE_ACCOUNTS) + 1 :])
    mapped = (tenancy.config.groups if subject.kind == "Group" else tenancy.config.users).get(subject.name)
    if mapped:
        return (mapped,)
    if subject.name.startswith("system:"):
        return ()  # the control plane's and nodes' own identities
    return (f"{UNMAPPED} {subject.kind.lower()} {subject.name}",)


def _tenant(tenancy: Tenancy, namespace: str | None) -> tuple[str, ...]:
    tenant = tenancy.tenant_of(namespace) if namespace else None
    return (tenant,) if tenant else ()
