"""One pod-spec view of every kind that runs pods, with pointers back to the original object."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from .model import Resource
from .pointer import at, split_pointer

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
        for field, type_ in CONTAINER_FIELDS:
            items = spec.get(field)
            if not isinstance(items, list):
                continue
            for index, container in enumerate(items):
                if not isinstance(container, dict):
                    continue
                pointer = f"{self.pointer}/spec/{field}/{index}"
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
    for field in INHERITED_SECURITY_FIELDS:
        if own.get(field) is None and pod_context.get(field) is not None:
            effective[field] = pod_context[field]
            sources[f"/_effectiveSecurityContext/{field}"] = f"{pod_pointer}/spec/securityContext/{field}"
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


def items(value: Any) -> list:
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
    """Pod-running objects not owned by another one in the inventory.

    A cluster dump holds a Deployment, its ReplicaSet and its Pods: auditing all three
    would triple every finding, so the highest present owner stands for the rest.
    """
    present = {r.key for r in resources}
    views = []
    for resource in resources:
        view = pod_view(resource)
        if view is None:
            continue
        owner = controller_of(resource)
        if owner is not None:
            kind, name = owner
            namespace = resource.namespace or ""
            if (kind, namespace, name) in present:
                continue
            parent = _GENERATED_BY.get(kind)
            if parent and "-" in name and (parent, namespace, name.rsplit("-", 1)[0]) in present:
                continue
        views.append(view)
    return views
