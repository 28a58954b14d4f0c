"""Evidence is minimal and redacted whatever the types.

A marker planted in any field whose values never leave the tool (command lines, exec probes,
lifecycle hooks, env and header values, CSI volumeAttributes, flexVolume options, annotations),
as any type and nesting, appears in no output format and in no file of an evidence bundle,
even when a rule pack points its evidence straight at it. Built-in rules show only what
their conditions read.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scan_helpers import audit_inventory, write
from test_secret_hygiene import every_output

from auditor import redact
from auditor.cli import _load_rules
from auditor.conditions import compile_condition
from auditor.engine import _evidence, _scoped
from auditor.model import Inventory, Resource
from auditor.pointer import split_pointer
from auditor.projection import Reads, project
from auditor.sources.manifests import load
from auditor.workloads import top_level_workloads

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# Evidence pointed at every planted field, and at whole pods: redaction must hold whatever
# a (third-party) pack shows.
NOSY_PACK = """pack: nosy
rules:
  - id: XX910
    name: nosy-container
    title: shows the container's command lines
    severity: high
    controls: ["x:1"]
    message: "container shows {value}"
    remediation: r
    docs: {what: w, why: because, bad_example: "", good_example: "", references: []}
    target: container
    match: {}
    evidence: [/command, /args, /env, /env/0, /env/0/value, /env/*, /livenessProbe, /readinessProbe, /startupProbe,
               /lifecycle, /lifecycle/postStart/exec, /lifecycle/preStop/exec/command,
               /livenessProbe/httpGet/httpHeaders/0/value, /lifecycle/postStart/httpGet/httpHeaders,
               /command/*, /args/*/*, /env/1/value/*, /readinessProbe/exec/*, /livenessProbe/exec/command/*/*]
  - id: XX911
    name: nosy-pod
    title: shows the pod
    severity: high
    controls: ["x:1"]
    message: "pod shows {value}"
    remediation: r
    docs: {what: w, why: because, bad_example: "", good_example: "", references: []}
    target: pod
    match: {}
    evidence: [/spec/volumes/*/csi/volumeAttributes, /spec/volumes/*/flexVolume/options, /metadata/annotations/note,
               /metadata/annotations, /metadata, /spec]
  - id: XX912
    name: nosy-object
    title: shows the object
    severity: high
    controls: ["x:1"]
    message: "object shows {value}"
    remediation: r
    docs: {what: w, why: because, bad_example: "", good_example: "", references: []}
    target: object
    kinds: [Pod, Deployment]
    match: {}
    evidence: [/spec, /metadata]
"""

Site = Callable[[Any], tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]  # -> container, pod spec, metadata


def _container(**fields: Any) -> Site:
    return lambda v: ({k: f(v) for k, f in fields.items()}, {}, {})


SITES: dict[str, Site] = {
    "command": _container(command=lambda v: v),
    "args": _container(args=lambda v: v),
    "env": _container(env=lambda v: v),
    "env list": _container(env=lambda v: [v, v]),
    "env value": _container(
        env=lambda v: [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_PASSWORD", "value": v}]
    ),
    "liveness exec command": _container(livenessProbe=lambda v: {"exec": {"command": v}}),
    "readiness exec": _container(readinessProbe=lambda v: {"exec": v}),
    "startup exec command": _container(startupProbe=lambda v: {"exec": {"command": v}}),
    "postStart exec command": _container(lifecycle=lambda v: {"postStart": {"exec": {"command": v}}}),
    "preStop exec": _container(lifecycle=lambda v: {"preStop": {"exec": v}}),
    "postStart headers": _container(lifecycle=lambda v: {"postStart": {"httpGet": {"port": 80, "httpHeaders": v}}}),
    "liveness header value": _container(
        livenessProbe=lambda v: {"httpGet": {"port": 80, "httpHeaders": [{"name": "Authorization", "value": v}]}}
    ),
    "csi volumeAttributes": lambda v: (
        {},
        {"volumes": [{"name": "v", "csi": {"driver": "d", "volumeAttributes": v}}]},
        {},
    ),
    "csi attribute": lambda v: (
        {},
        {"volumes": [{"name": "v", "csi": {"driver": "d", "volumeAttributes": {"k": v}}}]},
        {},
    ),
    "flexVolume options": lambda v: ({}, {"volumes": [{"name": "v", "flexVolume": {"driver": "d", "options": v}}]}, {}),
    "annotations": lambda v: ({}, {}, {"annotations": v}),
    "annotation": lambda v: (
        {},
        {},
        {"annotations": {"note": v, "container.apparmor.security.beta.kubernetes.io/app": "x"}},
    ),
}

# Sites whose values are hidden whole, member names included; elsewhere (env vars, headers,
# volumeAttributes, annotations) which members exist is evidence and only values are hidden.
HIDDEN_WHOLE = frozenset({"command", "args", "env value", "liveness exec command", "readiness exec",
                          "startup exec command", "postStart exec command", "preStop exec", "liveness header value"})


def planted(marker: str, site: str) -> st.SearchStrategy[Any]:
    # Member names a planted structure may use: none is one the redaction shows on purpose
    # (an env var's or header's `name`, `valueFrom`, a safe annotation's key).
    names = ["a", "value", "command", "data", "items", "0"] + ([marker] if site in HIDDEN_WHOLE else [])
    text = st.sampled_from(["", "x ", "--password=", "--token ", "-p", "$("]).map(lambda prefix: prefix + marker)
    leaf = st.one_of(text, text, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.sampled_from(names), inner, max_size=3)),
                        max_leaves=8)


def _manifest(kind: str, site: str, value: Any) -> dict[str, Any]:
    container, spec, metadata = SITES[site](value)
    pod = {"metadata": {"name": "p", "namespace": "shop", **metadata},
           "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", **container}], **spec}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", **pod}
    template = {"metadata": {"labels": {"app": "p"}, **pod["metadata"]}, "spec": pod["spec"]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "p", "namespace": "shop", **metadata},
            "spec": {"selector": {"matchLabels": {"app": "p"}}, "template": template}}


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), site=st.sampled_from(sorted(SITES)), kind=st.sampled_from(["Pod", "Deployment"]),
       token=st.uuids())
def test_a_planted_value_appears_in_no_output_and_no_bundle(tmp_path_factory, capsys, data, site, kind, token):
    marker = f"mk{token.hex[:16]}"
    value = data.draw(planted(marker, site), label="value")
    assume(marker in json.dumps(value))
    tmp = tmp_path_factory.mktemp("plant")
    manifest = write(tmp, "m/all.yaml", json.dumps(_manifest(kind, site, value)))
    pack = write(tmp, "nosy.yaml", NOSY_PACK)
    outputs = every_output(tmp, manifest, pack, capsys)
    report = json.loads(outputs["json"])
    assert {"XX910", "XX911", "XX912"} <= {f["rule_id"] for f in report["findings"]}  # the nosy rules did show
    for where, text in outputs.items():
        assert marker not in text, f"the value planted in {site} ({kind}) leaked into the {where}"
    for finding in report["findings"]:
        if finding["rule_id"] in POINTED:
            assert all(POINTED[finding["rule_id"]].search(key) for key in finding["evidence"]), finding


def test_credential_rule_names_the_key_and_never_the_value(tmp_path, capsys):
    value = "s3cr3t-credential-0c5e"
    manifest = write(tmp_path, "m/p.yaml", json.dumps(_manifest("Deployment", "env value", value)).replace(
        '"image"', f'"args": ["--db-host=db", "--api-key", "{value}"], "image"'))
    outputs = every_output(tmp_path, manifest, write(tmp_path, "empty.yaml", "pack: empty\nrules: []\n"), capsys)
    found = [f for f in json.loads(outputs["json"])["findings"] if f["rule_id"] == "IA135"]
    assert len(found) == 1
    assert "DB_PASSWORD" in found[0]["message"] and "--api-key" in found[0]["message"]
    assert found[0]["evidence"] == {"credential_env_vars": ["DB_PASSWORD"], "credential_flags": ["--api-key"]}
    assert "LOG_LEVEL" not in found[0]["message"] and "--db-host" not in found[0]["message"]
    for where, text in outputs.items():
        assert value not in text, f"the credential leaked into the {where}"


# -- evidence holds what the rule reads --------------------------------------------------

BUILTIN = [r for r in _load_rules([])[0].rules if r.declarative and r.target in ("pod", "container")]


def _pointed(pointers: tuple[str, ...]) -> re.Pattern[str]:
    """Evidence keys a rule's pointers can give, in the object (a synthetic `/_pod` is the pod's
    spec, `/_effectiveSecurityContext` a container's or the pod's securityContext)."""
    patterns = [re.escape(p.replace("/_effectiveSecurityContext", "/securityContext").replace("/_pod", "/spec"))
                .replace(r"\*", "[^/]+") for p in pointers]
    return re.compile("(" + "|".join(patterns or ["(?!)"]) + ")$")


POINTED = {r.id: _pointed(r.evidence) for r in _load_rules([])[0].rules if r.declarative}
INPUTS = sorted(str(p) for p in (FIXTURES / "rules").glob("*/*.yaml")) + [str(FIXTURES / "demo" / "cluster")]


def _reads_at(reads: Reads | None, value: Any, tokens: list[str]) -> Reads | None:
    """What the condition reads at a path in the target; None where it reads nothing."""
    for token in tokens:
        if reads is None or reads.whole:
            return reads
        if isinstance(value, list):
            reads, value = reads.elements, value[int(token)]
        else:
            reads, value = reads.members.get(token), value[token]
    return reads


def _targets(rule_target: str, inputs: list[str]) -> list[Any]:
    views = top_level_workloads(load(inputs).resources)
    if rule_target == "pod":
        return [v.template for v in views]
    return [c.target for v in views for c in v.containers()]


@pytest.mark.parametrize("rule", BUILTIN, ids=[r.id for r in BUILTIN])
def test_builtin_evidence_shows_only_what_the_condition_reads(rule):
    reads = Reads.of([rule.match])
    matches = compile_condition(rule.match)
    for target in _targets(rule.target, INPUTS):
        if not matches(target):
            continue
        for pointer in rule.evidence:
            for path, shown in _scoped(pointer, rule.match).walk(target):
                node = _reads_at(reads, target, split_pointer(path))
                assert node is not None, f"{rule.id} shows {path}, which its condition never reads"
                assert project(shown, node) == shown, f"{rule.id} shows more at {path} than its condition reads"


# -- the redaction itself ----------------------------------------------------------------

R = redact.REDACTED


@pytest.mark.parametrize(
    "tokens, value, shown",
    [
        (["env"], "DB_PASSWORD=x", R),
        (["env"], ["DB_PASSWORD=x", "B=y"], [R, R]),
        (["env"], [{"name": "A", "value": ["x", {"y": 1}]}], [{"name": "A", "value": R}]),
        (
            ["env"],
            [{"name": "A", "value": 5, "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            [{"name": "A", "value": R, "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        ),
        (["env"], [{"name": {"x": "y"}, "other": "z"}], [{"name": {"x": R}, "other": R}]),
        (["env"], {"A": "x"}, {"A": R}),
        (["env", "0", "value"], {"deep": ["x"]}, R),
        (["command"], "sh -c 'x'", R),
        (["args"], ["--password", "x"], R),
        (
            ["spec", "containers"],
            [{"name": "a", "args": {"k": "v"}, "image": "i"}],
            [{"name": "a", "args": R, "image": "i"}],
        ),
        (["livenessProbe"], {"exec": "x", "periodSeconds": 5}, {"exec": R, "periodSeconds": 5}),
        (
            ["lifecycle", "preStop", "httpGet"],
            {"httpHeaders": [{"name": "Authorization", "value": "x"}], "port": 80},
            {"httpHeaders": [{"name": "Authorization", "value": R}], "port": 80},
        ),
        (
            ["spec", "volumes"],
            [{"name": "v", "csi": {"driver": "d", "volumeAttributes": {"k": ["x"]}}}],
            [{"name": "v", "csi": {"driver": "d", "volumeAttributes": {"k": R}}}],
        ),
        (["spec", "volumes", "0", "csi", "volumeAttributes"], "x", R),
        (["flexVolume"], {"driver": "d", "options": "x"}, {"driver": "d", "options": R}),
        (["metadata"], {"annotations": "x", "name": "n"}, {"annotations": R, "name": "n"}),
        (["metadata", "annotations"], ["a: x"], [R]),
        (
            ["metadata", "annotations"],
            {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default", "note": "x"},
            {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default", "note": R},
        ),
        (["metadata", "annotations", "container.apparmor.security.beta.kubernetes.io/a"], {"x": "y"}, {"x": R}),
        (["data"], {"password": {"x": "y"}}, {"password": R}),
        (["securityContext"], {"runAsUser": 0}, {"runAsUser": 0}),
    ],
)
def test_redaction_is_decided_by_the_path_whatever_the_type(tokens, value, shown):
    assert redact.evidence(tokens, value) == shown


@pytest.mark.parametrize("pointer, shown", [
    ("/args/*", {"/args": R}),
    ("/command/*/*", {"/command": R}),
    ("/env/*/value/*", {"/env/0/value": R}),
    ("/livenessProbe/exec/command/0", {"/livenessProbe/exec": R}),
    ("/data/*", {"/data/k": R}),
    ("/metadata/annotations/*", {"/metadata/annotations/note": R}),
])
def test_a_wildcard_never_walks_into_a_hidden_value(pointer, shown):
    """Member names under a hidden value are part of it: the evidence stops where hiding starts."""
    target = {"args": {"s3cr3t": 1}, "command": [{"s3cr3t": 1}], "env": [{"name": "A", "value": {"s3cr3t": 1}}],
              "livenessProbe": {"exec": {"command": ["s3cr3t"]}}, "data": {"k": "s3cr3t"},
              "metadata": {"annotations": {"note": "s3cr3t"}}}
    assert dict(_evidence(target, [_scoped(pointer, True)])) == shown


def test_redaction_survives_any_depth_the_loaders_accept():
    depth = 2 * max(sys.getrecursionlimit(), 5_000)  # deeper than Python recursion, and than the loaders' limit
    value: Any = {"command": "x", "env": [{"name": "A", "value": "x"}]}
    for _ in range(depth):
        value = {"a": [value]}
    node = redact.scrub(value)
    for _ in range(depth):
        node = node["a"][0]
    assert node == {"command": R, "env": [{"name": "A", "value": R}]}


def test_drift_evidence_holds_the_limits_it_compared(tmp_path):
    from test_observed_and_drift import audit, report

    drifted = report(**{"cgroup.memory_limit_bytes": None})
    (finding,) = audit(tmp_path, {"p": drifted}, select=["IA352"]).findings
    assert finding.evidence["declared_limits"] == {"memory": "256Mi"}  # the cpu limit is declared and enforced
    assert set(finding.evidence["observed_cgroup"]) == {"memory_limit_bytes", "cpu_quota_cores", "enforcement"}


_CREDENTIAL_NAMES = st.tuples(
    st.lists(st.sampled_from(["db", "app", "stripe", "github", "root", "client"]), max_size=2),
    st.sampled_from(["password", "passwd", "secret", "token", "api key", "access key", "private key", "credentials"]),
).map(lambda t: [*t[0], *t[1].split()])


@settings(max_examples=40, deadline=None)
@given(words=_CREDENTIAL_NAMES, style=st.sampled_from(["SNAKE", "snake", "kebab", "camel"]),
       where=st.sampled_from(["env", "--flag=value", "--flag value", "sh -c"]), token=st.uuids())
def test_credential_rule_names_any_credential_key_never_its_value(words, style, where, token):
    name = {"SNAKE": "_".join(words).upper(), "snake": "_".join(words), "kebab": "-".join(words),
            "camel": words[0] + "".join(w.title() for w in words[1:])}[style]
    value = f"v{token.hex}"
    container: dict[str, Any] = {"name": "app", "image": "registry.example/app:1"}
    if where == "env":
        container["env"] = [{"name": name, "value": value}]
    elif where == "--flag=value":
        container["args"] = [f"--{name}={value}"]
    elif where == "--flag value":
        container["args"] = [f"--{name}", value]
    else:
        container["command"] = ["sh", "-c", f"exec app --{name} '{value}'"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [container]}}
    (finding,) = _audit_one(pod, "IA135")
    key = name if where == "env" else f"--{name}"
    assert key in finding.message and value not in finding.message
    assert key in json.dumps(finding.evidence) and value not in json.dumps(finding.evidence)


def _audit_one(obj: dict[str, Any], rule_id: str):
    meta = obj["metadata"]
    resource = Resource(obj["kind"], obj["apiVersion"], meta.get("namespace"), meta["name"], obj)
    return audit_inventory(Inventory(resources=(resource,)), select=[rule_id]).findings
