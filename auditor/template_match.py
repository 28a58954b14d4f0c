"""Whether a live pod (or a controller's template) still is its owner's pod template.

`essence(template)` keeps every field a rule or an analysis may read and drops only what the
cluster itself writes into a pod: scheduling results, API-server defaults equal to their
default value, the service-account token volume and its mounts, controller labels, condition
tolerations, the DaemonSet node pin, StatefulSet claim volumes. Two templates with equal
essences yield the same findings, so one may stand for the other; anything else a pod carries
(a changed image, a capability, a host namespace, an injected container, an unknown field)
makes the essences differ and the pod is audited itself.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Written per pod by the scheduler, admission or a controller, from fields that are compared:
# nodeName (scheduler), priority (priorityClassName), overhead (runtimeClassName),
# hostname and subdomain (StatefulSet DNS names), serviceAccount (the old alias of
# serviceAccountName, normalised below).
_ASSIGNED = ("nodeName", "priority", "overhead", "hostname", "subdomain", "serviceAccount")

_POD_DEFAULTS: Mapping[str, Any] = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "schedulerName": "default-scheduler",
    "terminationGracePeriodSeconds": 30,
    "enableServiceLinks": True,
    "securityContext": {},
    "serviceAccountName": "default",
    "preemptionPolicy": "PreemptLowerPriority",
}
_CONTAINER_DEFAULTS: Mapping[str, Any] = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}
_PROBE_DEFAULTS: Mapping[str, Any] = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                      "failureThreshold": 3}
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_FILE_MODE_SOURCES = ("configMap", "secret", "projected", "downwardAPI")

# Labels the Deployment, DaemonSet, StatefulSet and Job controllers add to what they create.
_CONTROLLER_LABELS = frozenset({
    "pod-template-hash", "controller-revision-hash", "pod-template-generation",
    "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
    "controller-uid", "job-name", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name",
    "batch.kubernetes.io/job-completion-index",
    # copied from the node onto a bound pod by the PodTopologyLabels admission plugin
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
})
# Annotations written into running pods by admission, CNI plugins and controllers.
_RUNTIME_ANNOTATIONS = ("kubernetes.io/psp", "openshift.io/scc", "cni.projectcalico.org/", "k8s.v1.cni.cncf.io/",
                        "batch.kubernetes.io/job-completion-index")

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_TOKEN_VOLUME = re.compile(r"kube-api-access-[a-z0-9]{5}")
_LEGACY_TOKEN_VOLUME = re.compile(r"[a-z0-9.-]+-token-[a-z0-9]{5}")


def essence(template: Mapping[str, Any], pod_name: str = "", claim_templates: Sequence[str] = ()) -> dict[str, Any]:
    """The comparable part of a pod template ({"metadata": ..., "spec": ...}) or a Pod.

    `claim_templates` are the volumeClaimTemplates of the StatefulSet that owns `pod_name`:
    their per-pod claim volumes are the owner's, not the pod's own.
    """
    meta = template.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    labels = {k: v for k, v in _mapping(meta.get("labels")).items() if k not in _CONTROLLER_LABELS}
    annotations = {k: v for k, v in _mapping(meta.get("annotations")).items()
                   if not (isinstance(k, str) and k.startswith(_RUNTIME_ANNOTATIONS))}
    spec = template.get("spec")
    return {"labels": labels, "annotations": annotations,
            "spec": _spec(spec, pod_name, claim_templates) if isinstance(spec, dict) else spec}


def _spec(spec: Mapping[str, Any], pod_name: str, claim_templates: Sequence[str]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in _ASSIGNED}
    account = spec.get("serviceAccountName", spec.get("serviceAccount"))
    if account is not None:
        out["serviceAccountName"] = account
    _drop_defaults(out, _POD_DEFAULTS)
    tokens: set[str] = set()
    if isinstance(spec.get("volumes"), list):
        claims = {(name, f"{name}-{pod_name}") for name in claim_templates}
        volumes = []
        for volume in spec["volumes"]:
            if _is_token_volume(volume):
                tokens.add(volume["name"])
            elif not _is_claim_volume(volume, claims):
                volumes.append(_volume(volume))
        out["volumes"] = volumes
    for field in _CONTAINER_LISTS:
        if isinstance(spec.get(field), list):
            out[field] = [_container(c, tokens) if isinstance(c, dict) else c for c in spec[field]]
    if isinstance(spec.get("tolerations"), list):
        out["tolerations"] = [t for t in spec["tolerations"] if not _is_condition_toleration(t)]
    if isinstance(spec.get("affinity"), dict):
        out["affinity"] = _without_node_pin(spec["affinity"])
    return _without_empty(out, ("volumes", "tolerations", "affinity"))


def _volume(volume: Any) -> Any:
    if not isinstance(volume, dict):
        return volume
    out = dict(volume)
    for source in _FILE_MODE_SOURCES:
        if isinstance(out.get(source), dict):
            out[source] = _drop_defaults(dict(out[source]), {"defaultMode": 420})
    if isinstance(out.get("hostPath"), dict):
        out["hostPath"] = _drop_defaults(dict(out["hostPath"]), {"type": ""})
    if isinstance(out.get("downwardAPI"), dict):
        out["downwardAPI"] = _downward_field_refs(out["downwardAPI"])
    return out


def _container(container: Mapping[str, Any], tokens: set[str]) -> dict[str, Any]:
    out = _drop_defaults(dict(container), _CONTAINER_DEFAULTS)
    if isinstance(out.get("resources"), dict):
        out["resources"] = _requests_from_limits(out["resources"])
    if out.get("imagePullPolicy") == _default_pull_policy(container.get("image")):
        del out["imagePullPolicy"]
    if isinstance(out.get("volumeMounts"), list):
        out["volumeMounts"] = [m for m in out["volumeMounts"] if not (
            isinstance(m, dict) and isinstance(m.get("name"), str) and m["name"] in tokens
            and m.get("mountPath") == TOKEN_MOUNT_PATH
            and m.get("readOnly") is True and set(m) <= {"name", "mountPath", "readOnly"})]
    if isinstance(out.get("ports"), list):
        out["ports"] = [
            _drop_defaults(dict(p), {"protocol": "TCP"}) if isinstance(p, dict) else p for p in out["ports"]
        ]
    for probe in _PROBES:
        if isinstance(out.get(probe), dict):
            found = _drop_defaults(dict(out[probe]), _PROBE_DEFAULTS)
            if isinstance(found.get("httpGet"), dict):
                found["httpGet"] = _drop_defaults(dict(found["httpGet"]), {"scheme": "HTTP"})
            out[probe] = found
    _env_field_refs(out)
    return _without_empty(out, ("volumeMounts",))


def _requests_from_limits(resources: dict[str, Any]) -> dict[str, Any]:
    """Resources without the requests a Pod's defaulting copies from its limits (templates
    are not defaulted that way): a request equal to its limit says nothing either side."""
    limits, requests = resources.get("limits"), resources.get("requests")
    if not isinstance(limits, dict) or not isinstance(requests, dict):
        return resources
    kept = {k: v for k, v in requests.items() if limits.get(k) != v}
    out = {k: v for k, v in resources.items() if k != "requests"}
    return {**out, "requests": kept} if kept else out


def _default_pull_policy(image: Any) -> str:
    """What the API server fills in: Always for an untagged or `latest` image, else IfNotPresent."""
    if not isinstance(image, str) or "@" in image:
        return "IfNotPresent"
    tail = image.rsplit("/", 1)[-1]
    return "IfNotPresent" if ":" in tail and not tail.endswith(":latest") else "Always"


def _is_token_volume(volume: Any) -> bool:
    """The service-account token volume admission adds, recognised by its whole shape, not its name alone."""
    if not isinstance(volume, dict) or not isinstance(volume.get("name"), str):
        return False
    name = volume["name"]
    if _TOKEN_VOLUME.fullmatch(name) and set(volume) == {"name", "projected"} and isinstance(volume["projected"], dict):
        sources = volume["projected"].get("sources")
        return isinstance(sources, list) and [_source_kind(s) for s in sources] == [
            "serviceAccountToken", "configMap:kube-root-ca.crt", "downwardAPI"]
    secret = volume.get("secret")
    return (_LEGACY_TOKEN_VOLUME.fullmatch(name) is not None and set(volume) == {"name", "secret"}
            and isinstance(secret, dict) and secret.get("secretName") == name)


def _source_kind(source: Any) -> str:
    if not isinstance(source, dict) or len(source) != 1:
        return "?"
    (kind, value), = source.items()
    if kind == "configMap":
        return f"configMap:{value.get('name')}" if isinstance(value, dict) else "?"
    return kind if isinstance(kind, str) else "?"


def _is_claim_volume(volume: Any, claims: set[tuple[str, str]]) -> bool:
    if not isinstance(volume, dict) or set(volume) != {"name", "persistentVolumeClaim"}:
        return False
    claim = volume["persistentVolumeClaim"]
    return (isinstance(claim, dict) and set(claim) == {"claimName"}
            and isinstance(volume["name"], str) and isinstance(claim["claimName"], str)
            and (volume["name"], claim["claimName"]) in claims)


def _is_condition_toleration(toleration: Any) -> bool:
    """node.kubernetes.io/not-ready and its kin: added to every pod, they tolerate node conditions, not tenants."""
    return isinstance(toleration, dict) and str(toleration.get("key", "")).startswith("node.kubernetes.io/")


def _without_node_pin(affinity: Mapping[str, Any]) -> dict[str, Any]:
    """Without the `metadata.name` field match the DaemonSet controller pins each pod to its node with."""
    out = dict(affinity)
    node = _mapping(out.get("nodeAffinity"))
    required = _mapping(node.get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms = required.get("nodeSelectorTerms")
    if not isinstance(terms, list):
        return out
    kept = []
    for term in terms:
        if isinstance(term, dict) and isinstance(term.get("matchFields"), list):
            fields = [f for f in term["matchFields"] if not (isinstance(f, dict) and f.get("key") == "metadata.name")]
            term = _without_empty({**term, "matchFields": fields}, ("matchFields",))
        if term:
            kept.append(term)
    required = _without_empty({**required, "nodeSelectorTerms": kept}, ("nodeSelectorTerms",))
    node = _without_empty({**node, "requiredDuringSchedulingIgnoredDuringExecution": required},
                          ("requiredDuringSchedulingIgnoredDuringExecution",))
    out["nodeAffinity"] = node
    return _without_empty(out, ("nodeAffinity",))


def _env_field_refs(container: dict[str, Any]) -> None:
    """`fieldRef.apiVersion: v1` (the default) dropped from env values."""
    if isinstance(container.get("env"), list):
        container["env"] = [_with_field_ref_default(e, "valueFrom") for e in container["env"]]


def _downward_field_refs(source: dict[str, Any]) -> dict[str, Any]:
    """The same for the items of a downwardAPI volume or projection."""
    if isinstance(source.get("items"), list):
        source["items"] = [_with_field_ref_default(i, None) for i in source["items"]]
    return source


def _with_field_ref_default(item: Any, under: str | None) -> Any:
    holder = item.get(under) if under and isinstance(item, dict) else item
    if not isinstance(holder, dict) or not isinstance(holder.get("fieldRef"), dict):
        return item
    holder = {**holder, "fieldRef": _drop_defaults(dict(holder["fieldRef"]), {"apiVersion": "v1"})}
    return {**item, under: holder} if under else holder


def _drop_defaults(obj: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    for key, default in defaults.items():
        if key in obj and obj[key] == default and type(obj[key]) is type(default):
            del obj[key]
    return obj


def _without_empty(obj: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not (k in keys and v in ([], {}))}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
