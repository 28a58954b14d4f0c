"""A finding carries the controls of the condition it matched, and every report uses them.

Where Pod Security (what a spec declares) and the CIS Benchmark (what the container gets)
disagree, each view is its own condition with its own controls; the NET_RAW view assumes
containerd's default capability set unless a probe of the workload shows the effective one.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scan_helpers import audit_inventory, scan, write

from auditor.cli import _load_rules
from auditor.reports import controls, json_report, junit, sarif
from auditor.rules import RulePackError, load_pack, load_rules
from auditor.sources.manifests import load
from auditor.sources.probe_reports import with_reports

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rules"
RULES = _load_rules([])[0].rules
CIS_ROOT, PSS_NON_ROOT = "cis-k8s:5.2.7", "pss:restricted:running-as-non-root"
NET_RAW = "cis-k8s:5.2.8"

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: shop}}
spec:
  containers:
  - {{name: app, image: x, securityContext: {context}}}
"""


def findings(tmp_path: Path, rule_id: str, context: str, name: str = "p") -> list:
    path = write(tmp_path, f"{name}.yaml", POD.format(name=name, context=context))
    return [f for f in scan([str(path)], select=[rule_id]).findings if f.rule_id == rule_id]


@pytest.mark.parametrize("context, cis", [
    ("{runAsUser: 1000}", False),  # not root for CIS; Pod Security still wants runAsNonRoot
    ("{runAsUser: 1000, runAsNonRoot: false}", False),
    ("{runAsUser: 0}", True),
    ("{}", True),  # the image's user: possibly root
    ("{runAsNonRoot: false}", True),
])
def test_a_non_zero_user_is_not_root_for_cis_but_still_fails_pod_security(tmp_path, context, cis):
    [finding] = findings(tmp_path, "IA108", context)
    assert PSS_NON_ROOT in finding.controls
    assert (CIS_ROOT in finding.controls) is cis
    assert ("non-zero uid" in finding.message) is not cis


def test_net_raw_is_assumed_held_under_containerds_defaults_without_a_probe(tmp_path):
    [finding] = findings(tmp_path, "IA115", "{}")
    assert NET_RAW in finding.controls
    assert "containerd" in finding.message and "assumed" in finding.message and "CRI-O" in finding.message


@pytest.mark.parametrize("context", ["{capabilities: {drop: [NET_RAW]}}", "{capabilities: {drop: [cap_net_raw]}}"])
def test_dropping_net_raw_leaves_only_the_drop_all_controls(tmp_path, context):
    [finding] = findings(tmp_path, "IA115", context)
    assert NET_RAW not in finding.controls and "cis-k8s:5.2.10" in finding.controls


def test_drop_all_holds_no_net_raw(tmp_path):
    assert findings(tmp_path, "IA115", "{capabilities: {drop: [ALL]}}") == []


def _probe(pod: str, caps: list[str]) -> dict:
    base = json.loads((FIXTURES / "IA350" / "bad" / "probes" / "web.json").read_text())
    base["probe"]["pod"] = pod
    base["privileges"]["capabilities_effective"] = caps
    return base


@pytest.mark.parametrize("held, words", [
    (["CHOWN", "NET_RAW"], "a probe of the workload holds it"),
    (["CHOWN"], "NET_RAW is not held"),
])
def test_a_probe_of_the_workload_confirms_or_refutes_net_raw(tmp_path, held, words):
    path = write(tmp_path, "web.yaml", POD.format(name="web", context="{}"))
    probes = tmp_path / "probes"
    write(probes, "web.json", json.dumps(_probe("web", held)))
    report = audit_inventory(with_reports(load([str(path)]), [str(probes)]), select=["IA115"])
    [finding] = [f for f in report.findings if f.rule_id == "IA115"]
    assert words in finding.message
    assert (NET_RAW in finding.controls) is ("NET_RAW" in held)


def test_a_probe_of_another_workload_changes_nothing(tmp_path):
    path = write(tmp_path, "web.yaml", POD.format(name="web", context="{}"))
    probes = tmp_path / "probes"
    write(probes, "other.json", json.dumps(_probe("other", ["CHOWN"])))
    report = audit_inventory(with_reports(load([str(path)]), [str(probes)]), select=["IA115"])
    [finding] = [f for f in report.findings if f.rule_id == "IA115"]
    assert "assumed" in finding.message and NET_RAW in finding.controls


NODE = """apiVersion: v1
kind: Node
metadata: {{name: n1}}
status: {{nodeInfo: {{containerRuntimeVersion: "{runtime}"}}}}
---
"""


@pytest.mark.parametrize("runtime, held", [("cri-o://1.30.3", False), ("containerd://1.7.20", True),
                                           ("docker://24.0.7", True)])
def test_the_nodes_runtime_decides_the_assumed_default_set(tmp_path, runtime, held):
    pod = POD.format(name="p", context="{}").replace("spec:\n", "spec:\n  nodeName: n1\n")
    path = write(tmp_path, "p.yaml", NODE.format(runtime=runtime) + pod)
    [finding] = [f for f in scan([str(path)], select=["IA115"]).findings]
    assert (NET_RAW in finding.controls) is held
    assert ("CRI-O, whose default set omits it" in finding.message) is not held


def test_a_probe_outweighs_the_nodes_runtime(tmp_path):
    pod = POD.format(name="web", context="{}").replace("spec:\n", "spec:\n  nodeName: n1\n")
    path = write(tmp_path, "web.yaml", NODE.format(runtime="cri-o://1.30.3") + pod)
    probes = tmp_path / "probes"
    write(probes, "web.json", json.dumps(_probe("web", ["CHOWN", "NET_RAW"])))  # crio.conf added it back
    report = audit_inventory(with_reports(load([str(path)]), [str(probes)]), select=["IA115"])
    [finding] = [f for f in report.findings if f.rule_id == "IA115"]
    assert NET_RAW in finding.controls and "a probe of the workload holds it" in finding.message


# -- reports ---------------------------------------------------------------------------


@pytest.fixture()
def split_report(tmp_path):
    """One container that is not root for CIS (PSS only), nothing that is."""
    return scan([str(write(tmp_path, "p.yaml", POD.format(name="p", context="{runAsUser: 1000}")))],
                select=["IA108"])


def test_the_controls_report_fails_only_the_controls_findings_carry(split_report):
    data = controls.build(split_report, [r for r in RULES if r.id == "IA108"])
    status = {c["id"]: c["status"] for fw in data["frameworks"] for c in fw["controls"]}
    assert status[PSS_NON_ROOT] == "fail"
    assert status[CIS_ROOT] == "pass"


def test_sarif_and_junit_carry_the_findings_controls(split_report):
    [result] = json.loads(sarif.render(split_report))["runs"][0]["results"]
    assert result["properties"]["tags"] == [PSS_NON_ROOT]
    text = junit.render(split_report, [r for r in RULES if r.id == "IA108"])
    assert f"controls: {PSS_NON_ROOT}</failure>" in text and f"controls: {CIS_ROOT}" not in text


def test_rbac_controls_are_not_tested_without_bindings(tmp_path):
    path = write(tmp_path, "p.yaml", POD.format(name="p", context="{runAsNonRoot: true}"))
    report = scan([str(path)])
    assert {"IA611", "IA612"} <= set(report.coverage.unassessed)
    data = controls.build(report, RULES)
    status = {c["id"]: (c["status"], c["reason"]) for fw in data["frameworks"] for c in fw["controls"]}
    for cid in ("cis-k8s:5.1.1", "cis-k8s:5.1.3"):
        assert status[cid][0] == "not-tested" and "nothing to evaluate" in status[cid][1], status[cid]
    # the JSON report keeps it, for whoever builds the control mapping from report.json later
    assert {"IA611", "IA612"} <= set(json.loads(json_report.render(report))["coverage"]["unassessed"])


def test_rbac_controls_pass_when_bindings_were_audited_and_found_nothing(tmp_path):
    path = write(tmp_path, "rb.yaml", """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: view, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
""")
    report = scan([str(path)])
    assert "IA612" not in report.coverage.unassessed
    status = {c["id"]: c["status"] for fw in controls.build(report, RULES)["frameworks"] for c in fw["controls"]}
    assert status["cis-k8s:5.1.1"] == "pass"


WORKLOAD_ANALYSES = {"namespace-posture", "reachability"}


@pytest.mark.parametrize("rule", [r for r in RULES if r.declarative or r.analysis in WORKLOAD_ANALYSES
                                  and not r.needs_probe], ids=lambda r: r.id)
def test_a_rule_without_any_input_of_its_kind_has_no_evidence_either_way(tmp_path, rule):
    """Every declarative rule, and every analysis of workloads, is unassessed on an input with
    nothing it reads (here: one ConfigMap), and its controls are not-tested, not pass."""
    path = write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n")
    report = scan([str(path)], select=[rule.id])
    assert report.coverage.unassessed == (rule.id,)
    data = controls.build(report, [rule], probes_ran=True)
    assert {c["status"] for fw in data["frameworks"] for c in fw["controls"] if c["id"] in rule.controls} <= {
        "not-tested", "manual"}


# -- rule packs ------------------------------------------------------------------------


PACK = """pack: extra
rules:
  - id: XX100
    name: my-rule
    title: t
    severity: low
    message: rule message
    remediation: r
    docs: {{what: w, why: because, bad_example: "", good_example: "", references: []}}
    target: container
{body}
"""
CONDITIONS = """    conditions:
      - when: privileged
        controls: ["cis-k8s:5.2.2"]
        message: "{container} privileged"
        match: {required: [securityContext], properties: {securityContext: {properties: {privileged: {const: true}}}}}
      - when: anything else
        controls: ["nsa-cisa:pod-security"]
        match: true
"""


def test_the_first_condition_a_target_matches_decides(tmp_path):
    pack = write(tmp_path, "pack.yaml", PACK.format(body=CONDITIONS))
    rule = load_pack(pack)[0]
    assert rule.controls == ("cis-k8s:5.2.2", "nsa-cisa:pod-security")
    manifest = write(tmp_path, "p.yaml", POD.format(name="p", context="{privileged: true}")
                     + "  - {name: other, image: x}\n")
    found = {f.container: f for f in scan([str(manifest)], select=["XX100"], extra_rules=[pack]).findings}
    assert found["app"].controls == ("cis-k8s:5.2.2",) and found["app"].message == "app privileged"
    assert found["other"].controls == ("nsa-cisa:pod-security",) and found["other"].message == "rule message"


@pytest.mark.parametrize("body, field", [
    (CONDITIONS + '    controls: ["cis-k8s:5.2.2"]\n', "rules[0]"),  # controls twice
    (CONDITIONS + "    match: true\n", "rules[0]"),  # match beside conditions
    ("    match: true\n", "rules[0]"),  # no controls at all
    (CONDITIONS.replace('        controls: ["nsa-cisa:pod-security"]\n', ""), "rules[0].conditions[1]"),
    (CONDITIONS.replace("match: true", "match: {type: nonsense}"), "rules[0].conditions[1].match"),
])
def test_one_way_to_map_controls(tmp_path, body, field):
    with pytest.raises(RulePackError, match=r"pack\.yaml:\d+: " + re.escape(field)):
        load_pack(write(tmp_path, "pack.yaml", PACK.format(body=body)))


def test_builtin_rules_list_conditions_that_each_map_their_own_controls():
    mapped = [r for r in load_rules().rules if len(r.conditions) > 1]
    assert {r.id for r in mapped} >= {"IA108", "IA113", "IA115", "IA119", "IA121"}
    for rule in mapped:
        assert len({c.controls for c in rule.conditions}) > 1, rule.id  # else one condition would do


# -- evidence under `*` ----------------------------------------------------------------

# (rule, where the list is, a member that violates, one that does not)
HOST_PROCESS, UNCONFINED = {"hostProcess": True}, {"type": "Unconfined"}
WILDCARDS = [
    ("IA105", "/spec/volumes", {"name": "v", "hostPath": {"path": "/data/cache"}},
     {"name": "v", "hostPath": {"path": "/etc"}}),
    ("IA127", "/spec/volumes", {"name": "v", "hostPath": {"path": "/var/run/docker.sock"}},
     {"name": "v", "hostPath": {"path": "/data/cache"}}),
    ("IA126", "/spec/securityContext/sysctls", {"name": "kernel.msgmax", "value": "1"},
     {"name": "net.ipv4.tcp_syncookies", "value": "1"}),
    ("IA119", "/spec/containers", {"name": "c", "image": "x", "securityContext": {"runAsUser": 0}},
     {"name": "c", "image": "x", "securityContext": {"runAsUser": 1000}}),
    ("IA112", "/spec/containers", {"name": "c", "image": "x", "securityContext": {"windowsOptions": HOST_PROCESS}},
     {"name": "c", "image": "x", "securityContext": {"windowsOptions": {"hostProcess": False}}}),
    ("IA122", "/spec/containers", {"name": "c", "image": "x", "securityContext": {"appArmorProfile": UNCONFINED}},
     {"name": "c", "image": "x", "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}),
]


def _pod(where: str, members: list) -> dict:
    pod: dict = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
                 "spec": {"containers": [{"name": "base", "image": "x"}]}}
    node = pod
    tokens = where.strip("/").split("/")
    for token in tokens[:-1]:
        node = node.setdefault(token, {})
    node[tokens[-1]] = members
    return pod


@pytest.mark.parametrize("rule_id, where, bad, good", WILDCARDS, ids=[w[0] for w in WILDCARDS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.booleans(), min_size=1, max_size=6).filter(any))
def test_evidence_under_a_wildcard_shows_only_the_members_that_matched(tmp_path, rule_id, where, bad, good, layout):
    """`layout`: which members violate. The finding shows and points at violating ones only."""
    named = "image" in bad or "hostPath" in bad  # containers and volumes need unique names; sysctls keep theirs
    members = [dict(bad if b else good, **({"name": f"m{i}"} if named else {})) for i, b in enumerate(layout)]
    path = tmp_path / f"{rule_id}.yaml"
    path.write_text(json.dumps(_pod(where, members)))
    [finding] = [f for f in scan([str(path)], select=[rule_id]).findings if f.rule_id == rule_id]
    shown = {int(p[len(where) + 1:].split("/", 1)[0]) for p in finding.evidence if p.startswith(where + "/")}
    assert shown == {i for i, b in enumerate(layout) if b}, finding.evidence


@pytest.mark.parametrize("key", ["_observed: {capabilities_effective: [CHOWN]}", "_node: {containerRuntime: cri-o}"])
def test_a_manifest_cannot_vouch_for_itself(tmp_path, key):
    """`_observed` (probes) and `_node` (Node objects) are joined by the engine: container keys
    of those names in a manifest are ignored."""
    path = write(tmp_path, "p.yaml", POD.format(name="p", context="{}").replace("{name: app,", f"{{{key}, name: app,"))
    [finding] = [f for f in scan([str(path)], select=["IA115"]).findings]
    assert "assumed" in finding.message and NET_RAW in finding.controls
