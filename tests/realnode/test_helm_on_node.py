"""helm (tests/apiserver/build.sh render-tools) against the real-node cluster as its admin: what
the in-cluster chart's tests install it with. A tiny chart goes in and out again."""
from __future__ import annotations

import uuid

import pytest
from scenario import helm, ok

pytestmark = [pytest.mark.realnode, pytest.mark.slow, pytest.mark.rendertools]

CHART = "apiVersion: v2\nname: tiny\nversion: 0.1.0\n"
CONFIGMAP = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tiny\n"
             "data:\n  greeting: {{ .Values.greeting | quote }}\n")


def test_helm_installs_and_uninstalls_a_chart_in_the_cluster(node_cluster, helm_binary, tmp_path):
    version = helm(node_cluster, helm_binary, "version", "--short")
    assert version.returncode == 0 and version.stdout.startswith("v4."), version.stderr
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    release, ns = f"tiny-{uuid.uuid4().hex[:6]}", f"helm-{uuid.uuid4().hex[:6]}"
    path = f"/api/v1/namespaces/{ns}/configmaps/{release}-tiny"
    try:
        done = helm(node_cluster, helm_binary, "install", release, str(chart), "--namespace", ns,
                    "--create-namespace", "--set", "greeting=hi")
        assert done.returncode == 0, done.stderr
        assert ok(node_cluster.request("GET", path))["data"] == {"greeting": "hi"}
        done = helm(node_cluster, helm_binary, "uninstall", release, "--namespace", ns)
        assert done.returncode == 0, done.stderr
        assert node_cluster.request("GET", path)[0] == 404
        listed = helm(node_cluster, helm_binary, "list", "--namespace", ns, "--short")
        assert listed.returncode == 0 and listed.stdout.strip() == "", listed.stderr
    finally:
        node_cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
