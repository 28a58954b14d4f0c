"""Compiled rule conditions answer exactly as jsonschema does."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from auditor.conditions import Unsupported, _Compiler, compile_condition, equal
from auditor.rules import load_rules
from auditor.sources.manifests import load
from auditor.workloads import top_level_workloads

RULES = [r for r in load_rules([]).rules if r.match is not None]
PAIRS = [(r, _Compiler(r.match).compile(r.match), Draft202012Validator(r.match).is_valid) for r in RULES]
REPO = Path(__file__).resolve().parents[2]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.floats(allow_nan=False),
                    st.sampled_from(["", "ALL", "SYS_ADMIN", "cap_net_raw", "Unconfined", "RuntimeDefault", "/",
                                     "/var/run/docker.sock", "Localhost", "true", "0", "kernel.shm_rmid_forced"]))
KEYS = ["spec", "containers", "securityContext", "capabilities", "add", "drop", "privileged", "hostPID", "hostNetwork",
        "hostIPC", "volumes", "hostPath", "path", "ports", "hostPort", "resources", "limits", "memory", "cpu",
        "seccompProfile", "type", "runAsNonRoot", "runAsUser", "procMount", "sysctls", "name", "value", "_pod",
        "hostUsers", "os", "appArmorProfile", "seLinuxOptions", "windowsOptions", "hostProcess", "metadata",
        "annotations", "labels", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "automountServiceAccountToken",
        "_effectiveSecurityContext", "probe", "namespaces", "pid", "escapes", "shared_with_host", "cgroups", "kernel"]
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_every_built_in_condition_agrees_with_jsonschema_on_any_value(value):
    for rule, compiled, reference in PAIRS:
        assert compiled(value) == reference(value), rule.id


@pytest.mark.slow
def test_every_built_in_condition_agrees_on_every_fixture_target():
    inventory = load([str(p) for p in (REPO / "fixtures").rglob("*.yaml") if "probe" not in p.parts])
    targets = []
    for view in top_level_workloads(inventory.resources):
        targets.append(view.template)
        targets += [c.target for c in view.containers()]
    targets += [r.obj for r in inventory.resources]
    assert len(targets) > 500
    for rule, compiled, reference in PAIRS:
        assert [compiled(t) for t in targets] == [reference(t) for t in targets], rule.id


def test_json_equality_keeps_booleans_apart_from_numbers():
    assert equal(1, 1.0) and equal([1, {"a": 2}], [1.0, {"a": 2}])
    assert not equal(True, 1) and not equal(0, False) and not equal([True], [1]) and not equal("1", 1)


@pytest.mark.parametrize("schema", [
    {"minContains": 2, "contains": {"const": 1}},
    {"$ref": "https://example.com/x"},
    {"prefixItems": [{"type": "string"}]},
    {"ref": "#/x"},  # not a keyword: jsonschema ignores it, and so does the fallback
])
def test_what_the_compiler_does_not_know_goes_to_jsonschema(schema):
    with pytest.raises(Unsupported):
        _Compiler(schema).compile(schema)
    if "$ref" not in schema:
        for value in ([1, 1], [1], ["a"], {"ref": 1}):
            assert compile_condition(schema)(value) == Draft202012Validator(schema).is_valid(value)


def _fixture_targets() -> list:
    inventory = load([str(p) for p in (REPO / "fixtures" / "rules").rglob("*.yaml")])
    found = []
    for view in top_level_workloads(inventory.resources):
        found.append(view.template)
        found += [c.target for c in view.containers()]
    return found


FIXTURE_TARGETS = _fixture_targets()


def _paths(value, prefix=()):
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_conditions_agree_on_fixture_targets_with_one_value_changed(data):
    """Bad and good fixtures sit right at rules' boundaries: change one value anywhere."""
    target = data.draw(st.sampled_from(FIXTURE_TARGETS))
    path = data.draw(st.sampled_from(list(_paths(target))))
    changed = _replaced(target, path, data.draw(values))
    for rule, compiled, reference in PAIRS:
        assert compiled(changed) == reference(changed), rule.id
