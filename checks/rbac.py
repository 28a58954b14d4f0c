"""Tenant escapes through the API: what each tenant's identities may do, as RBAC decides.

Every finding is reported on the binding that grants the permission (fixing it is what
closes the escape), with the chain binding -> role -> rule as evidence. Which tenant an
identity acts for is `auditor.rbac.owners`; the platform's own identities are not audited.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.analysis import AnalysisContext, AnalysisResult, Check, Hit, Section
from auditor.model import Rule
from auditor.rbac import (
    ANY_NAME,
    AUTHENTICATED,
    EVERY_TENANT,
    RBAC_KINDS,
    Binding,
    Identity,
    Rbac,
    Request,
    Step,
    build,
    owners,
)
from auditor.token_mount import token_mounts

from .fleet import fleet

_REQUEST = {
    "type": "object", "additionalProperties": False, "required": ["verb"],
    "properties": {k: {"type": "string"} for k in ("verb", "group", "resource", "subresource", "name", "path")},
}
_REQUESTS = {"type": "array", "minItems": 1, "items": _REQUEST}
# Resources that have no namespace: a grant of only these reaches no tenant's objects.
CLUSTER_SCOPED = frozenset({
    "nodes", "namespaces", "persistentvolumes", "clusterroles", "clusterrolebindings", "certificatesigningrequests",
    "selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews", "subjectaccessreviews",
    "tokenreviews", "storageclasses", "customresourcedefinitions", "apiservices", "priorityclasses",
    "runtimeclasses", "mutatingwebhookconfigurations", "validatingwebhookconfigurations", "ingressclasses",
    "csidrivers", "csinodes", "volumeattachments", "componentstatuses", "flowschemas",
    "prioritylevelconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings",
})
# Anything that makes pods: a controller's pod runs with the same namespace's rights.
WORKLOADS = (Request("create", resource="pods"), Request("create", group="apps", resource="deployments"),
             Request("create", group="apps", resource="daemonsets"),
             Request("create", group="apps", resource="statefulsets"),
             Request("create", group="apps", resource="replicasets"),
             Request("create", group="batch", resource="jobs"), Request("create", group="batch", resource="cronjobs"),
             Request("create", resource="replicationcontrollers"))
CLUSTER_ADMIN = Request("*", group="*", resource="*", name=ANY_NAME)
# What lends a namespace's ServiceAccounts: a pod (or a workload's pod) runs as any of them,
# and a token request is one of them.
LENDING = (*WORKLOADS, Request("create", resource="serviceaccounts", subresource="token", name=ANY_NAME))
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
MAX_LISTED = 8  # tenants, namespaces or subjects named in one message


def _request(spec: Mapping[str, str]) -> Request:
    if "path" in spec:
        return Request(spec["verb"], path=spec["path"])
    # Requests without an object name are the ones a rule's resourceNames never allow.
    nameless = spec["verb"] in ("list", "watch", "create", "deletecollection") and "subresource" not in spec
    return Request(spec["verb"], group=spec.get("group", ""), resource=spec.get("resource", ""),
                   subresource=spec.get("subresource", ""), name=spec.get("name", "" if nameless else ANY_NAME))


@dataclass(frozen=True, slots=True)
class Scene:
    model: Rbac
    actors: Mapping[int, tuple[tuple[str, ...], tuple[str, ...]]]  # binding index -> (owners, subjects)
    ctx: AnalysisContext

    def grant(self, binding: Binding, request: Request) -> Step | None:
        grant = binding.grant_for(request)
        return Step(binding, grant) if grant is not None else None

    def outside(self, binding: Binding, tenants: Sequence[str]) -> list[str]:
        """Those of `tenants` for whom the binding reaches namespaces that are not theirs."""
        if binding.namespace is None:
            return list(tenants)
        return [t for t in tenants if self.ctx.tenancy.tenant_of(binding.namespace) != t]


def _scene(ctx: AnalysisContext) -> Scene:
    model = build(r for kind in RBAC_KINDS for r in ctx.of_kind(kind))
    actors = {}
    for i, binding in enumerate(model.bindings):
        found: dict[str, None] = {}
        named = []
        for subject in binding.subjects:
            mine = owners(subject, ctx.tenancy)
            if mine:
                named.append(subject.describe())
                found.update(dict.fromkeys(mine))
        if found:
            actors[i] = (tuple(found), tuple(named))
    return Scene(model, actors, ctx)


def _listed(values: Sequence[str]) -> str:
    more = f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else ""
    return ", ".join(values[:MAX_LISTED]) + more


def _hit(rule: Rule, binding: Binding, text: str, steps: Sequence[Step], **evidence: Any) -> Hit:
    return Hit(rule.id, binding.resource, text, {"chain": [s.as_dict() for s in steps], **evidence},
               pointer="/roleRef")


BINDINGS = ("RoleBinding", "ClusterRoleBinding")  # every check follows bindings to their subjects


class RbacAnalysis:
    checks = {
        # bindings that let a tenant's identities make one of `requests`: cluster-wide, outside
        # the tenant's own namespaces, or anywhere
        "grant": Check(params={"type": "object", "additionalProperties": False, "required": ["requests", "scope"],
                               "properties": {"check": {"const": "grant"}, "requests": _REQUESTS,
                                              "scope": {"enum": ["cluster", "outside-tenant", "anywhere"]}}},
                       reads=BINDINGS),
        "cross-tenant": Check(reads=BINDINGS),
        "wildcard": Check(reads=BINDINGS),
        "privileged-pods": Check(reads=BINDINGS),
        "escalation-path": Check(reads=BINDINGS),
        "exposed-token": Check(params={"type": "object", "additionalProperties": False, "required": ["requests"],
                                       "properties": {"check": {"const": "exposed-token"}, "requests": _REQUESTS}},
                               reads=BINDINGS),
    }
    sections = {"api_access": Section(empty=())}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        scene = ctx.shared(_scene)
        hits: list[Hit] = []
        for rule in rules:
            assert rule.check is not None  # the pack loader refuses an analysis rule without one
            hits += CHECKS[rule.check](scene, rule)
        return AnalysisResult(hits=tuple(hits), sections={"api_access": api_access(scene)})


def _grants(scene: Scene, rule: Rule) -> Iterator[Hit]:
    requests = [_request(r) for r in rule.params["requests"]]
    for i, (tenants, subjects) in scene.actors.items():
        binding = scene.model.bindings[i]
        if requests != [CLUSTER_ADMIN] and _cluster_admin(scene, binding):
            continue  # one finding for the binding, by the cluster-admin rule, not one per verb
        scope = rule.params["scope"]
        if scope == "cluster":
            reached = list(tenants) if binding.namespace is None else []
        else:
            reached = scene.outside(binding, tenants) if scope == "outside-tenant" else list(tenants)
        if not reached:
            continue
        allowed = [(r, step) for r in requests if (step := scene.grant(binding, r)) is not None]
        if allowed:
            where = "cluster-wide" if binding.namespace is None else f"in namespace {binding.namespace}"
            what = sorted({r.describe().removesuffix(" cluster-wide") for r, _ in allowed})
            yield _hit(rule, binding, f"{binding.describe()} lets {_listed(subjects)} ({_listed(reached)}) "
                       f"{'; '.join(what)} {where}", [allowed[0][1]], tenants=reached, subjects=list(subjects))


def _cluster_admin(scene: Scene, binding: Binding) -> bool:
    return binding.namespace is None and scene.grant(binding, CLUSTER_ADMIN) is not None


def namespaced_grant(binding: Binding) -> Step | None:
    """The first rule that reaches objects inside a namespace."""
    if binding.role is None:
        return None
    for grant in binding.role.grants:
        rule = grant.rule
        if rule.verbs and any(r.partition("/")[0] not in CLUSTER_SCOPED for r in rule.resources):
            return Step(binding, grant)
    return None


def _cross_tenant_pairs(scene: Scene) -> Iterator[tuple[Binding, Step, list[str], str, tuple[str, ...]]]:
    """Per binding into other tenants' objects: (binding, step, its owners reaching out, the
    tenant reached (`*` for every tenant, through a ClusterRoleBinding), subjects)."""
    for i, (tenants, subjects) in scene.actors.items():
        binding = scene.model.bindings[i]
        step = namespaced_grant(binding)
        target = scene.ctx.tenancy.tenant_of(binding.namespace) if binding.namespace else EVERY_TENANT
        if step is None or target is None:
            continue
        reaching = [t for t in tenants if target == EVERY_TENANT or t != target]
        if reaching:
            yield binding, step, reaching, target, subjects


def _cross_tenant(scene: Scene, rule: Rule) -> Iterator[Hit]:
    for binding, step, reaching, target, subjects in _cross_tenant_pairs(scene):
        where = "every tenant's namespaces" if target == EVERY_TENANT else \
            f"namespace {binding.namespace} of tenant {target}"
        yield _hit(rule, binding, f"{binding.describe()} gives {_listed(subjects)} ({_listed(reaching)}) "
                   f"access to {where}", [step], tenants=reaching, reaches=target)


def api_access(scene: Scene) -> list[dict[str, Any]]:
    """The tenant x tenant matrix: who may act on whose namespaced objects, and through what
    (`*`: every tenant, for groups everyone is in and for ClusterRoleBindings)."""
    pairs: dict[tuple[str, str], set[str]] = {}
    for binding, _, reaching, target, _ in _cross_tenant_pairs(scene):
        for source in reaching:
            pairs.setdefault((source, target), set()).add(binding.describe())
    return [{"from": s, "to": t, "bindings": sorted(b)[:MAX_LISTED], "count": len(b)}
            for (s, t), b in sorted(pairs.items())]


def _wildcard(scene: Scene, rule: Rule) -> Iterator[Hit]:
    for i, (tenants, subjects) in scene.actors.items():
        binding = scene.model.bindings[i]
        grant = next((g for g in (binding.role.grants if binding.role else ()) if g.rule.wildcards), None)
        if grant is not None:
            yield _hit(rule, binding, f"{binding.describe()} grants {_listed(subjects)} ({_listed(list(tenants))}) "
                       f"a rule with `*` in {', '.join(grant.rule.wildcards)}", [Step(binding, grant)],
                       tenants=list(tenants))


def _unenforced(ctx: AnalysisContext) -> list[str]:
    """Namespaces where Pod Security lets a privileged pod in (enforce is not baseline/restricted)."""
    return sorted({ns.name for ns in ctx.of_kind("Namespace")
                   if ns.labels.get(PSA_ENFORCE) not in ("baseline", "restricted")})


def _kernel_neighbours(ctx: AnalysisContext, tenant: str) -> tuple[list[str], list[str]]:
    """The nodes a tenant's pods run on without a sandbox, and the other tenants on them."""
    f = fleet(ctx)
    nodes = sorted({p.node for p in f.placements if p.tenant == tenant and p.sandbox is None})
    others = sorted({p.tenant for n in nodes for p in f.on(n) if p.sandbox is None and p.tenant not in (None, tenant)})
    return nodes, others


def _privileged_pods(scene: Scene, rule: Rule) -> Iterator[Hit]:
    open_namespaces = _unenforced(scene.ctx)
    is_open = set(open_namespaces)
    neighbours: dict[str, tuple[list[str], list[str]]] = {}
    for i, (tenants, _subjects) in scene.actors.items():
        binding = scene.model.bindings[i]
        where = open_namespaces if binding.namespace is None else \
            [binding.namespace] if binding.namespace in is_open else []
        step = next((s for s in (scene.grant(binding, r) for r in WORKLOADS) if s is not None), None) if where else None
        if step is None:
            continue
        for tenant in tenants:
            if tenant not in neighbours:
                neighbours[tenant] = _kernel_neighbours(scene.ctx, tenant)
            nodes, others = neighbours[tenant]
            shared = f"on nodes it shares with {_listed(others)}" if others else \
                "on its nodes" if nodes else "on any node it is scheduled to"
            yield _hit(rule, binding, f"tenant {tenant} can run a privileged pod in {_listed(where)} "
                       f"(Pod Security does not enforce baseline) {shared}, through {binding.describe()}",
                       [step], tenants=[tenant], namespaces=where[:MAX_LISTED], nodes=nodes[:MAX_LISTED],
                       kernel_shared_with=others)


def _escalation_paths(scene: Scene, rule: Rule) -> Iterator[Hit]:
    """Per tenant, the shortest chain from one of its identities, through pod creations that
    each lend the rights of a ServiceAccount of the namespace the pod runs in, to another
    tenant's objects or to cluster-admin-equivalent rights. Identities that hold those rights
    themselves are the other rules' findings, so chains start from the others."""
    model, tenancy = scene.model, scene.ctx.tenancy
    accounts: dict[str | None, dict[str, list[str]]] = {}  # tenant -> namespace -> names
    for ns, name in model.service_accounts:
        accounts.setdefault(tenancy.tenant_of(ns), {}).setdefault(ns, []).append(name)
    config = tenancy.config
    for tenant in tenancy.tenants():
        mine = accounts.get(tenant, {})
        identities = [Identity.service_account(ns, name) for ns, names in sorted(mine.items()) for name in names]
        identities += [Identity(u, frozenset({AUTHENTICATED})) for u, t in sorted(config.users.items()) if t == tenant]
        identities += [Identity("", frozenset({g, AUTHENTICATED}))
                       for g, t in sorted(config.groups.items()) if t == tenant]
        best = None
        classes = {id(c): c for c in map(model.class_of, identities)}  # identities alike are one class
        for bindings in (c.bindings for c in classes.values()):
            if _escape(scene, tenant, bindings, []) is not None:
                continue
            found = _shortest(scene, tenant, bindings, mine)
            if found is not None and (best is None or len(found[1]) < len(best[1])):
                best = found
        if best is not None:
            goal, steps = best
            first = steps[0]
            assert first.binding is not None
            yield Hit(
                rule.id,
                first.binding.resource,
                f"tenant {tenant} reaches {goal} in {len(steps)} steps: " + " -> ".join(_step_text(s) for s in steps),
                {"chain": [_step_dict(s) for s in steps], "tenants": [tenant]},
                pointer="/roleRef",
            )


@dataclass(frozen=True, slots=True)
class _Lend:
    """Acting as ServiceAccount `name` of `namespace`: a pod runs as it, or a token is made for it."""

    namespace: str
    name: str


def _step_text(step: Step | _Lend) -> str:
    if isinstance(step, _Lend):
        return f"acts as ServiceAccount {step.namespace}/{step.name}"
    assert step.binding is not None and step.binding.role is not None
    return f"{step.binding.describe()} ({step.binding.role.describe()})"


def _step_dict(step: Step | _Lend) -> dict[str, Any]:
    return {"runs_as": f"ServiceAccount {step.namespace}/{step.name}"} if isinstance(step, _Lend) else step.as_dict()


def _shortest(
    scene: Scene, tenant: str, start: Sequence[Binding], accounts: Mapping[str, list[str]], max_depth: int = 4
) -> tuple[str, list] | None:
    """Breadth first over lent identities, so the first escape found is a shortest one;
    `accounts` are the tenant's own (creating pods elsewhere is a cross-tenant finding)."""
    model = scene.model
    queue: deque[tuple[tuple[Binding, ...], list]] = deque([(tuple(start), [])])
    seen: set[int] = set()
    while queue:
        bindings, path = queue.popleft()
        if path:  # a lent identity: does it escape?
            goal = _escape(scene, tenant, bindings, path)
            if goal is not None:
                return goal
        if len(path) >= 2 * max_depth:
            continue
        for binding in bindings:
            step = next((s for s in (scene.grant(binding, r) for r in LENDING) if s is not None), None)
            if step is None:
                continue
            for ns in [binding.namespace] if binding.namespace else sorted(accounts):
                for name in accounts.get(ns, ()):
                    lent = model.class_of(Identity.service_account(ns, name))
                    if id(lent) in seen:
                        continue
                    seen.add(id(lent))
                    queue.append((lent.bindings, path + [step, _Lend(ns, name)]))
    return None


def _escape(scene: Scene, tenant: str, bindings: Sequence[Binding], path: list) -> tuple[str, list] | None:
    for binding in bindings:
        admin = scene.grant(binding, CLUSTER_ADMIN) if binding.namespace is None else None
        if admin is not None:
            return "cluster-admin-equivalent rights", path + [admin]
    for binding in bindings:
        step = namespaced_grant(binding)
        if step is None:
            continue
        target = scene.ctx.tenancy.tenant_of(binding.namespace) if binding.namespace else None
        if binding.namespace is None or (target is not None and target != tenant):
            return ("every tenant's namespaces" if binding.namespace is None else f"tenant {target}"), path + [step]
    return None


def _exposed_tokens(scene: Scene, rule: Rule) -> Iterator[Hit]:
    """Running pods holding a token whose ServiceAccount may do one of `requests` cluster-wide."""
    requests = [_request(r) for r in rule.params["requests"]]
    for view, mount in zip(scene.ctx.workloads, scene.ctx.shared(token_mounts), strict=True):
        ns = view.resource.namespace
        if ns is None or scene.ctx.tenancy.tenant_of(ns) is None:
            continue
        account = mount.account
        if account is None or not mount.mounted:
            continue
        permissions = scene.model.class_of(Identity.service_account(ns, account))
        found = next(((r, s) for r in requests if (s := permissions.allows(r)) is not None), None)
        if found is None or found[1].binding is None:
            continue
        request, step = found
        binding = found[1].binding
        yield Hit(
            rule.id,
            view.resource,
            f"{view.resource.kind} {view.resource.name} mounts the token of "
            f"ServiceAccount {ns}/{account}, which {binding.describe()} lets "
            f"{request.describe()}: a compromise of the pod is a tenant escape",
            {"chain": [{"runs_as": f"ServiceAccount {ns}/{account}"}, step.as_dict()], "token": mount.evidence},
            pointer=mount.pointer,
        )


CHECKS = {
    "grant": _grants,
    "cross-tenant": _cross_tenant,
    "wildcard": _wildcard,
    "privileged-pods": _privileged_pods,
    "escalation-path": _escalation_paths,
    "exposed-token": _exposed_tokens,
}
