"""One pod-spec view of every kind that runs pods, with pointers back to the original object."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Resource
from .pointer import at, split_pointer
from .template_match import essence

# Where each built-in kind keeps its pod template (metadata + spec).
TEMPLATE_POINTERS: Mapping[str, str] = {
    "Pod": "",
    "PodTemplate": "/template",
    "Deployment": "/spec/template",
    "ReplicaSet": "/spec/template",
    "StatefulSet": "/spec/template",
    "DaemonSet": "/spec/template",
    "Job": "/spec/template",
    "ReplicationController": "/spec/template",
    "CronJob": "/spec/jobTemplate/spec/template",
}

CONTAINER_FIELDS = (
    ("initContainers", "initContainer"),
    ("containers", "container"),
    ("ephemeralContainers", "ephemeralContainer"),
)

# Pod-level securityContext fields a container inherits unless it sets them itself.
INHERITED_SECURITY_FIELDS = (
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "windowsOptions",
)


# Pod-level fields a container rule may read as `_pod.<field>`.
POD_WIDE_FIELDS = ("hostUsers", "os", "hostPID", "hostIPC", "hostNetwork", "runtimeClassName")


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    type: str  # container | initContainer | ephemeralContainer
    pointer: str  # relative to the resource object
    spec: Mapping[str, Any]
    target: Mapping[str, Any]  # the container plus synthetic, read-only `_` keys for rules
    # synthetic target pointer prefix -> the pointer in the object it stands for
    sources: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PodView:
    resource: Resource
    pointer: str  # the pod template inside the resource object
    template: Mapping[str, Any]  # {"metadata": ..., "spec": ...}

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.template.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.template.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def node_name(self) -> str | None:
        node = self.spec.get("nodeName")
        return node if isinstance(node, str) and node else None

    def containers(self) -> Iterator[ContainerView]:
        spec = self.spec
        pod_context = spec.get("securityContext")
        pod_context = pod_context if isinstance(pod_context, dict) else {}
        for list_field, type_ in CONTAINER_FIELDS:
            items = spec.get(list_field)
            if not isinstance(items, list):
                continue
            for index, container in enumerate(items):
                if not isinstance(container, dict):
                    continue
                pointer = f"{self.pointer}/spec/{list_field}/{index}"
                yield _container_view(container, type_, pointer, spec, pod_context, self.pointer)


def _container_view(
    container: Mapping[str, Any],
    type_: str,
    pointer: str,
    pod_spec: Mapping[str, Any],
    pod_context: Mapping[str, Any],
    pod_pointer: str,
) -> ContainerView:
    own = container.get("securityContext")
    own = own if isinstance(own, dict) else {}
    effective = {k: v for k, v in own.items() if v is not None}
    sources = {"/_effectiveSecurityContext": f"{pointer}/securityContext", "/_pod": f"{pod_pointer}/spec"}
    for setting in INHERITED_SECURITY_FIELDS:
        if own.get(setting) is None and pod_context.get(setting) is not None:
            effective[setting] = pod_context[setting]
            sources[f"/_effectiveSecurityContext/{setting}"] = f"{pod_pointer}/spec/securityContext/{setting}"
    target = dict(container)
    target["_type"] = type_
    target["_effectiveSecurityContext"] = effective
    # the pod-wide settings container rules depend on (kept small: targets are memoised by content)
    target["_pod"] = {k: pod_spec[k] for k in POD_WIDE_FIELDS if k in pod_spec}
    name = container.get("name")
    return ContainerView(
        name=name if isinstance(name, str) else f"#{pointer.rsplit('/', 1)[-1]}",
        type=type_,
        pointer=pointer,
        spec=container,
        target=target,
        sources=sources,
    )


def pod_view(resource: Resource) -> PodView | None:
    """The pod template of a workload, or None for kinds that run no pods."""
    pointer = TEMPLATE_POINTERS.get(resource.kind)
    if pointer is None:
        # Custom kinds (Argo Rollouts, OpenKruise, ...) follow the Deployment shape.
        pointer = "/spec/template"
        template = at(resource.obj, ("spec", "template"))
        if not isinstance(template, dict) or not isinstance(at(template, ("spec", "containers")), list):
            return None
    else:
        template = at(resource.obj, split_pointer(pointer))
        if not isinstance(template, dict):
            return None
    return PodView(resource=resource, pointer=pointer, template=template)


def items(value: Any) -> list[Any]:
    """A list field as a list; anything else (a hostile or broken manifest) as empty."""
    return value if isinstance(value, list) else []


def controller_of(resource: Resource) -> tuple[str, str] | None:
    """(kind, name) of the controller that owns this object, if any."""
    refs = resource.metadata.get("ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, dict) and ref.get("controller") is True:
            kind, name = ref.get("kind"), ref.get("name")
            if isinstance(kind, str) and isinstance(name, str):
                return kind, name
    return None


# Controllers that name what they create "<owner>-<suffix>": a dump without the middle
# object (`kubectl get deploy,pods`) still shows who owns the pods.
_GENERATED_BY = {"ReplicaSet": "Deployment", "Job": "CronJob"}


def top_level_workloads(resources: Sequence[Resource]) -> list[PodView]:
    """Pod-running objects that no other object in the inventory stands for.

    A cluster dump holds a Deployment, its ReplicaSet and its Pods: auditing all three
    would triple every finding, so an owner stands for what it owns. That is an
    optimisation and never hides a pod: an object is folded into its owner only when the
    owner is present and its pod template has the same essence (template_match), so it
    would yield the same findings; an object whose owner is absent or differs is audited.
    """
    views = [v for v in map(pod_view, resources) if v is not None]
    folding = _Folding({})
    for view in reversed(views):  # the first of several objects with one key is the owner
        folding.by_key[view.resource.key] = view
    return [view for view in views if folding.representative(view) is view]


@dataclass(slots=True)
class _Folding:
    by_key: dict[tuple[str, str, str], PodView]
    # id(view) -> the audited view whose findings stand for it (itself when audited)
    stands_for: dict[int, PodView] = field(default_factory=dict)
    essences: dict[int, Any] = field(default_factory=dict)

    def representative(self, view: PodView) -> PodView:
        # Iterative: a hostile dump may chain thousands of owners, or loop.
        chain, seen = [view], {id(view)}
        above: PodView | None = None  # the representative of the last chain link's owner
        while (owner := self.owner(chain[-1])) is not None and id(owner) not in seen:
            if id(owner) in self.stands_for:
                above = self.stands_for[id(owner)]
                break
            chain.append(owner)
            seen.add(id(owner))
        for link in reversed(chain):
            if above is None or not (self.idle(link) or self.same(link, above)):
                above = link
            self.stands_for[id(link)] = above
        return self.stands_for[id(view)]

    def owner(self, view: PodView) -> PodView | None:
        ref = controller_of(view.resource)
        if ref is None:
            return None
        kind, name = ref
        namespace = view.resource.namespace or ""
        found = self.by_key.get((kind, namespace, name))
        parent = _GENERATED_BY.get(kind)
        if found is None and parent and "-" in name:
            found = self.by_key.get((parent, namespace, name.rsplit("-", 1)[0]))
        return found

    def idle(self, view: PodView) -> bool:
        """An old ReplicaSet its Deployment keeps at zero runs nothing (a rollback changes the
        Deployment's own template). Any other object at `replicas: 0` may be scaled up by
        whoever edits it, whatever owner it claims."""
        replicas = at(view.resource.obj, ("spec", "replicas"))
        owner = self.owner(view)
        return (type(replicas) is int and replicas == 0 and _is_apps(view, "ReplicaSet")
                and owner is not None and _is_apps(owner, "Deployment"))

    def same(self, view: PodView, other: PodView) -> bool:
        try:
            return _as_written(view) == _as_written(other) or self.essence(view) == self.essence(other)
        except RecursionError:  # too deep to compare: audited, never folded on trust
            return False

    def essence(self, view: PodView) -> Any:
        key = id(view)
        if key not in self.essences:
            owner = self.owner(view)
            claims = (
                _claim_templates(owner.resource) if owner is not None and owner.resource.kind == "StatefulSet" else ()
            )
            self.essences[key] = essence(view.template, view.resource.name, claims)
        return self.essences[key]


def _as_written(view: PodView) -> tuple[Any, Any, Any]:
    """The template as written but for the node it was scheduled to: equal ones need no essence."""
    spec = view.template.get("spec")
    spec = {k: v for k, v in spec.items() if k != "nodeName"} if isinstance(spec, dict) else spec
    return view.metadata.get("labels"), view.metadata.get("annotations"), spec


def _is_apps(view: PodView, kind: str) -> bool:
    return view.resource.kind == kind and view.resource.api_version == "apps/v1"


def _claim_templates(statefulset: Resource) -> tuple[str, ...]:
    claims = items(at(statefulset.obj, ("spec", "volumeClaimTemplates")))
    return tuple(n for c in claims if isinstance(n := at(c, ("metadata", "name")), str))
