"""The real-apiserver harness itself: stamped version, admin access, RBAC, clean teardown."""
from __future__ import annotations

import json
import os
import uuid

import pytest
from harness.apiserver import ApiServer, k8s_version
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.apiserver


def _api(kubeconfig: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


def _unique(prefix: str) -> str:
    # Without a controller-manager deleted namespaces stay Terminating, so never reuse names.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_version_reports_the_stamped_release(apiserver: ApiServer) -> None:
    info = client.VersionApi(_api(apiserver.kubeconfig)).get_code()
    expected = k8s_version()
    assert info.git_version == expected
    assert info.git_version.startswith("v1.3")
    assert (info.major, info.minor) == tuple(expected.lstrip("v").split(".")[:2])


def test_admin_creates_and_reads_namespace_and_node(apiserver: ApiServer) -> None:
    core = client.CoreV1Api(_api(apiserver.kubeconfig))
    ns_name, node_name = _unique("harness-ns"), _unique("harness-node")

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns_name)))
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(
        name=node_name, labels={"audit.test/role": "worker"})))
    try:
        assert core.read_namespace(ns_name).status.phase == "Active"
        node = core.read_node(node_name)
        assert node.metadata.labels["audit.test/role"] == "worker"
        assert node_name in [n.metadata.name for n in core.list_node().items]
    finally:
        core.delete_node(node_name)
        core.delete_namespace(ns_name)


def test_restricted_user_gets_only_what_its_cluster_role_allows(apiserver: ApiServer) -> None:
    user = _unique("ns-lister")
    kubeconfig = apiserver.make_user(user, [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}])
    core = client.CoreV1Api(_api(kubeconfig))

    _, status, _ = core.list_namespace_with_http_info()
    assert status == 200
    with pytest.raises(ApiException) as denied:
        core.list_pod_for_all_namespaces()
    assert denied.value.status == 403
    # The server took the certificate's CN as the user name.
    assert f'User "{user}"' in json.loads(denied.value.body)["message"]


def test_teardown_stops_processes_and_removes_temp_dir_even_on_error(apiserver_bindir: str) -> None:
    server = ApiServer(apiserver_bindir)
    with pytest.raises(RuntimeError, match="simulated test failure"):
        with server:
            procs = [server.etcd, server.apiserver]
            workdir = server.workdir
            assert workdir is not None and workdir.is_dir()
            raise RuntimeError("simulated test failure")

    for proc in procs:
        assert proc is not None and proc.returncode is not None
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)  # nothing left in the process group either
    assert not workdir.exists()
