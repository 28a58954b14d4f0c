"""Kubeconfig resolution as kubectl does it: --kubeconfig, then $KUBECONFIG (merged, first
wins), then ~/.kube/config, then the in-cluster account. No server needed."""
from __future__ import annotations

import json
import os

import pytest

from auditor.live.errors import ClusterError
from auditor.live.kubeconfig import IN_CLUSTER, kubeconfig_paths, load_kubeconfig, select_contexts


def write(path, contexts, current=None, server="https://a.example:6443"):
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": f"c-{c}", "cluster": {"server": server, "insecure-skip-tls-verify": True}} for c in contexts
        ],
        "users": [{"name": f"u-{c}", "user": {"token": f"token-{c}"}} for c in contexts],
        "contexts": [{"name": c, "context": {"cluster": f"c-{c}", "user": f"u-{c}"}} for c in contexts],
    }
    if current:
        doc["current-context"] = current
    path.write_text(json.dumps(doc))
    return str(path)


def test_precedence_flag_then_env_then_home(tmp_path):
    env = {"KUBECONFIG": f"/a{os.pathsep}/b{os.pathsep}{os.pathsep}", "HOME": "/home/x"}
    assert kubeconfig_paths("/flag", env) == ["/flag"]
    assert kubeconfig_paths(None, env) == ["/a", "/b"]
    assert kubeconfig_paths(None, {"HOME": "/home/x"}) == ["/home/x/.kube/config"]
    assert kubeconfig_paths(None, {"KUBECONFIG": "", "HOME": "/home/x"}) == ["/home/x/.kube/config"]


def test_merge_first_file_wins_names_and_current_context(tmp_path):
    one = write(tmp_path / "one", ["dev", "shared"], current="dev", server="https://one:6443")
    two = write(tmp_path / "two", ["prod", "shared"], current="prod", server="https://two:6443")
    env = {"KUBECONFIG": os.pathsep.join([one, str(tmp_path / "missing"), two]), "HOME": str(tmp_path)}
    config = load_kubeconfig(None, env)
    assert config.paths == (one, two)
    assert config.current_context == "dev"
    assert config.contexts == ["dev", "shared", "prod"]
    assert select_contexts(config, None, False) == ["dev"]
    assert select_contexts(config, ["prod", "dev", "prod"], False) == ["prod", "dev"]
    assert select_contexts(config, None, True) == ["dev", "shared", "prod"]
    # "shared" resolves to the first file's cluster
    from auditor.live.kubeconfig import client_configuration

    assert client_configuration(config, "shared").host == "https://one:6443"
    prod = client_configuration(config, "prod")
    assert prod.host == "https://two:6443"
    assert prod.auth_settings()["BearerToken"]["value"] == "Bearer token-prod"


def test_current_context_from_a_later_file_when_the_first_sets_none(tmp_path):
    one = write(tmp_path / "one", ["dev"])
    two = write(tmp_path / "two", ["prod"], current="prod")
    config = load_kubeconfig(None, {"KUBECONFIG": os.pathsep.join([one, two])})
    assert config.current_context == "prod"


def test_home_kubeconfig_and_flag(tmp_path):
    (tmp_path / ".kube").mkdir()
    write(tmp_path / ".kube" / "config", ["home"], current="home")
    assert load_kubeconfig(None, {"HOME": str(tmp_path)}).current_context == "home"
    flag = write(tmp_path / "flag.yaml", ["flag"], current="flag")
    assert load_kubeconfig(flag, {"HOME": str(tmp_path), "KUBECONFIG": "/nope"}).current_context == "flag"


def test_in_cluster_when_no_file_exists(tmp_path):
    env = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    config = load_kubeconfig(None, env)
    assert config.contexts == [IN_CLUSTER] and select_contexts(config, None, False) == [IN_CLUSTER]


def test_one_line_errors(tmp_path):
    with pytest.raises(ClusterError, match="no such file"):
        load_kubeconfig(str(tmp_path / "absent"), {})
    with pytest.raises(ClusterError, match=r"^no kubeconfig found at \$KUBECONFIG \(/x:/y\)"):
        load_kubeconfig(None, {"KUBECONFIG": "/x:/y"})
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n")
    with pytest.raises(ClusterError) as err:
        load_kubeconfig(str(bad), {})
    assert "\n" not in str(err.value) and str(bad) in str(err.value)
    no_current = write(tmp_path / "nocur", ["a"])
    config = load_kubeconfig(no_current, {})
    with pytest.raises(ClusterError, match="no current-context; give --context NAME"):
        select_contexts(config, None, False)
    with pytest.raises(ClusterError, match=r"context 'zzz' not found .* \(known: a\)"):
        select_contexts(config, ["zzz"], False)
    dangling = write(tmp_path / "dangling", ["a"], current="gone")
    with pytest.raises(ClusterError, match="current-context 'gone' is not defined"):
        select_contexts(load_kubeconfig(dangling, {}), None, False)


def test_credentials_that_cannot_load_are_one_line(tmp_path):
    path = tmp_path / "exec"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://x:6443"}}],
        "users": [{"name": "u", "user": {"client-certificate": str(tmp_path / "no-such.crt"),
                                         "client-key": str(tmp_path / "no-such.key")}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }))
    from auditor.live.kubeconfig import client_configuration

    with pytest.raises(ClusterError) as err:
        client_configuration(load_kubeconfig(str(path), {}), "x")
    assert str(err.value).startswith("context x: cannot load credentials: ") and "\n" not in str(err.value)


def test_nothing_is_written_back(tmp_path):
    path = tmp_path / "cfg"
    write(path, ["a"], current="a")
    before = path.read_bytes(), os.stat(path).st_mtime_ns
    from auditor.live.kubeconfig import client_configuration

    client_configuration(load_kubeconfig(str(path), {}), "a")
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
