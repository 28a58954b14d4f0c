"""Hostile and edge inputs found in review: each once broke the loader, the engine or the CLI."""
from __future__ import annotations

import json

import pytest
from scan_helpers import scan, write

from auditor.cli import main
from auditor.config import parse_config
from auditor.sources.manifests import Limits, load


def test_merge_key_bomb_is_refused_before_construction(tmp_path):
    lines = ["l0: &l0 {a: 1, b: 2}"] + [f"l{i}: &l{i} {{<<: [*l{i-1}, *l{i-1}]}}" for i in range(1, 40)]
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    (skip,) = load([str(tmp_path)], limits=Limits(max_expanded_nodes=100_000)).skipped
    assert "alias" in skip.reason


def test_non_json_tags_and_nested_lists_are_skipped(tmp_path):
    write(tmp_path, "set.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: !!set {x}\n")
    write(tmp_path, "nested.json", json.dumps({"kind": "List", "items": [{"kind": "List", "items": []}]}))
    reasons = sorted(s.reason for s in load([str(tmp_path)]).skipped)
    assert "a List inside a List" in reasons[0] and "invalid YAML" in reasons[1]


def test_kustomization_is_not_an_input_error(tmp_path):
    # Read as a document (a directory holding kustomization.yaml is built instead: test_repo_shaped.py)
    write(
        tmp_path,
        "overlay.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n",
    )
    inv = load([str(tmp_path)])
    assert not inv.resources and not inv.skipped and len(inv.not_objects) == 1


def test_huge_integer_in_evidence_does_not_crash(tmp_path, capsys):
    path = write(tmp_path, "p.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: t}\nspec:\n"
                 "  containers: [{name: a, image: x, ports: [{hostPort: 99999999999999999999999}]}]\n")
    code = main(["scan", str(path), "--format", "json", "--fail-on", "none"])
    out = capsys.readouterr().out
    assert code == 0 and "99999999999999999999999" in out


def test_escape_sequences_never_reach_the_terminal(tmp_path, capsys):
    path = write(tmp_path, "p.yaml", 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: t}\nspec:\n'
                 '  volumes: [{name: h, hostPath: {path: "/x\\e]2;pwned\\e[2J"}}]\n  containers: []\n')
    main(["scan", str(path)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "pwned" in out


@pytest.mark.parametrize("config", ["select: [ia104]\n", "severity: {no-such-rule: low}\n",
                                    "waivers: [{rule: XX999, reason: r}]\n"])
def test_config_typos_fail_loudly(tmp_path, capsys, config):
    manifest = write(tmp_path, "p.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    code = main(["scan", str(manifest), "--config", str(write(tmp_path, "c.yaml", config))])
    assert code == 2 and "c.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("size", ["infk", "-1", "0"])
def test_bad_max_file_size_is_a_usage_error(size):
    with pytest.raises(SystemExit) as exc:
        main(["scan", "x.yaml", "--max-file-size", size])
    assert exc.value.code == 2


def test_namespace_findings_belong_to_the_namespace_and_its_waivers(tmp_path):
    path = write(tmp_path, "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    (finding,) = scan([str(path)], select=["IA203"]).findings
    assert (finding.namespace, finding.tenant) == ("shop", "shop")
    waived = scan(
        [str(path)], parse_config({"waivers": [{"rule": "IA203", "tenant": "shop", "reason": "r"}]}), ["IA203"]
    )
    assert not waived.findings and waived.waivers[0].matched == 1


def test_egress_only_policy_does_not_protect_ingress(tmp_path):
    path = write(tmp_path, "m.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n"
                 "spec: {containers: [{name: a, image: x}]}\n---\napiVersion: networking.k8s.io/v1\n"
                 "kind: NetworkPolicy\nmetadata: {name: e, namespace: shop}\n"
                 "spec: {podSelector: {}, policyTypes: [Egress]}\n")
    assert [f.rule_id for f in scan([str(path)], select=["IA201"]).findings] == ["IA201"]


def test_null_in_the_container_inherits_the_pod_value(tmp_path):
    path = write(tmp_path, "p.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: t}\nspec:\n"
                 "  securityContext: {runAsNonRoot: true, seccompProfile: {type: Unconfined}}\n"
                 "  containers: [{name: a, image: x, securityContext: {runAsNonRoot: null, seccompProfile: null}}]\n")
    ids = sorted(f.rule_id for f in scan([str(path)], select=["IA108", "IA109", "IA120", "IA121"]).findings)
    assert ids == ["IA121"]
