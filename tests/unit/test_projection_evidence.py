"""A target's projection (the rule memo's key) keeps what every rule's evidence shows, not
only what its condition decides: equal projections must mean equal findings. A pointer's
`*` keeps an object's members whole but a list's items only down the rest of its path, so
replicas that differ in images, names or env values share one class."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.cli import _load_rules
from auditor.engine import _compiled, _Matcher
from auditor.narrowing import Scoped
from auditor.projection import Reads, project

RULES = [r for r in _load_rules([])[0].rules if r.declarative and r.target in ("pod", "container")]

keys = st.sampled_from(["a", "b", "0", "1", "securityContext", "privileged", "env", "name", "value"])
docs = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "x", "RuntimeDefault"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=20)
pointers = st.lists(st.sampled_from(["a", "b", "0", "1", "*", "env", "value"]), min_size=1, max_size=4)


@settings(max_examples=400, deadline=None)
@given(docs, st.lists(pointers, min_size=1, max_size=3))
def test_a_projection_shows_what_the_pointers_show(doc, tokens):
    reads = Reads.of([], tokens)
    for path in tokens:
        walk = Scoped(tuple(path), {}).walk
        assert list(walk(project(doc, reads))) == list(walk(doc))


capabilities = st.lists(st.sampled_from(["ALL", "NET_RAW", "SYS_ADMIN", "NET_BIND_SERVICE"]), max_size=2)
security = st.fixed_dictionaries({}, optional={
    "privileged": st.booleans(), "allowPrivilegeEscalation": st.booleans(), "runAsNonRoot": st.booleans(),
    "runAsUser": st.integers(0, 2), "readOnlyRootFilesystem": st.booleans(),
    "capabilities": st.fixed_dictionaries({}, optional={"add": capabilities, "drop": capabilities}),
    "seccompProfile": st.fixed_dictionaries({"type": st.sampled_from(["RuntimeDefault", "Unconfined"])}),
    "appArmorProfile": st.fixed_dictionaries({"type": st.sampled_from(["RuntimeDefault", "Unconfined"])}),
    "windowsOptions": st.fixed_dictionaries({"hostProcess": st.booleans()}),
    "seLinuxOptions": st.fixed_dictionaries({"type": st.sampled_from(["spc_t", "container_t"])}),
})
containers = st.lists(st.fixed_dictionaries({
    "name": st.sampled_from(["app", "sidecar"]), "image": st.sampled_from(["a:1", "b:2"]),
    "env": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["MODE", "PASSWORD"]),
                                           "value": st.sampled_from(["1", "2"])}), max_size=2),
}, optional={"securityContext": security, "ports": st.just([{"containerPort": 80, "hostPort": 80}])}),
    min_size=1, max_size=3)
specs = st.fixed_dictionaries({"containers": containers}, optional={
    "initContainers": containers, "hostPID": st.booleans(), "hostNetwork": st.booleans(), "securityContext": security,
    "volumes": st.just([{"name": "v", "hostPath": {"path": "/"}}, {"name": "w", "emptyDir": {}}]),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs, st.dictionaries(st.sampled_from(["note", "container.apparmor.security.beta.kubernetes.io/app"]),
                              st.sampled_from(["x", "unconfined"]), max_size=2))
def test_built_in_rules_find_the_same_on_a_projection(spec, annotations):
    """Each rule's condition and evidence, on the pod and each container as the engine
    reads them, against the projection the memo keys them by."""
    pod = {"metadata": {"name": "p", "annotations": annotations}, "spec": spec}
    targets = {"pod": [pod], "container": spec["containers"] + spec.get("initContainers", [])}
    for kind, found in targets.items():
        compiled = [_compiled(r, {}) for r in RULES if r.target == kind]
        reads = _Matcher(compiled).reads
        for target in found:
            projected = project(target, reads)
            for rule in compiled:
                assert rule.first(projected) == rule.first(target), rule.rule.id


def test_replicas_that_differ_in_images_and_env_are_one_class():
    pod_rules = _Matcher([_compiled(r, {}) for r in RULES if r.target == "pod"])

    def pod(image: str, shard: str) -> dict:
        return {"metadata": {"name": f"app-{shard}"}, "spec": {"containers": [
            {"name": "app", "image": image, "env": [{"name": "SHARD", "value": shard}],
             "securityContext": {"runAsUser": 0}}]}}

    for n in range(5):
        pod_rules.matching(pod(f"registry.example/app:{n}", str(n)))
    assert len(pod_rules.cache) == 1
    assert "image" not in str(project(pod("x", "1"), pod_rules.reads))
