"""Hostile chart values: a string value is data wherever it lands. Whatever it holds (a newline
and a YAML key, a flow mapping, an option, template syntax), the schema refuses it naming the
field, or the rendering carries it verbatim as that one value: it never adds a key, an object
or an argument."""
from __future__ import annotations

import json

import pytest
import yaml
from test_helm_chart import CHART, RELEASE, helm

pytestmark = pytest.mark.rendertools

MARK = "injectedKey"
PAYLOADS = (
    f"x\n{MARK}: true",                          # a key at the top of the enclosing mapping
    f"x\n    {MARK}: true\n  {MARK}: true",      # ...and at deeper indents
    f"x\n{MARK}: true\n---\nkind: Pod",          # a document of its own
    f"{{{MARK}: true}}",                         # a flow mapping where a scalar was meant
    f"--{MARK}",                                 # an option where an argument value was meant
    "{{ .Release.Name }}",                       # template syntax: never rendered again
)
# Every string a user sets in values.yaml (map values: a key of the map).
STRINGS = ("fullnameOverride", "namespace", "image.repository", "image.tag", "probe.image", "scan.schedule",
           "scan.timeZone", "priorityClassName", "serviceMonitor.interval", "serviceMonitor.scrapeTimeout",
           "serviceMonitor.labels.team", "prometheusRule.labels.team", "podAnnotations.note", "podLabels.team",
           "nodeSelector.pool", "config.tenancy.label")
ENABLE = ("probe.enabled=true", "serviceMonitor.enabled=true", "prometheusRule.enabled=true")


def keys(node) -> set[str]:
    if isinstance(node, dict):
        return {str(k) for k in node} | {k for v in node.values() for k in keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in keys(v)}
    return set()


def strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


@pytest.mark.slow
@pytest.mark.parametrize("path", STRINGS)
def test_a_string_value_is_refused_or_rendered_as_that_one_value(tools, path):
    for payload in PAYLOADS:
        args = ["template", RELEASE, str(CHART), "--namespace", "isolation-audit",
                "--set-json", f"{path}={json.dumps(payload)}"]
        for value in ENABLE:
            args += ["--set", value]
        done = helm(tools, *args)
        if done.returncode != 0:
            assert "/" + path.replace(".", "/") in done.stderr, (payload, done.stderr)
            continue
        docs = [d for d in yaml.safe_load_all(done.stdout) if d]
        assert all(MARK not in keys(d) for d in docs), payload
        assert all(d.get("kind") != "Pod" for d in docs), payload
        containers = [c for d in docs for c in _containers(d)]
        assert not any(a.startswith(f"--{MARK}") for c in containers for a in c.get("args") or ()), payload


def test_template_syntax_in_the_config_reaches_the_tool_verbatim(tools):
    config = {"tenancy": {"label": "{{ .Release.Name }}"}}
    done = helm(tools, "template", RELEASE, str(CHART), "--set-json", f"config={json.dumps(config)}")
    assert done.returncode == 0, done.stderr
    maps = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "ConfigMap"]
    assert [yaml.safe_load(m["data"]["config.yaml"]) for m in maps] == [config]


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec") or {}
    pod = ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template", {}).get("spec") or {}
    return pod.get("containers") or []


def test_the_publisher_may_do_to_reports_only_what_publishing_does(tools):
    """list (ours, by label), get (one a concurrent run made), create, update (PUT under the
    resourceVersion), delete (stale ones): no patch, which no run sends."""
    done = helm(tools, "template", RELEASE, str(CHART))
    roles = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "ClusterRole"
             and d["metadata"]["name"].endswith("-publisher")]
    assert [sorted(rule["verbs"]) for role in roles for rule in role["rules"]] == \
        [["create", "delete", "get", "list", "update"]] * 2
