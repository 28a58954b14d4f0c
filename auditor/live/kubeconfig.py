"""Kubeconfig resolution as kubectl does it, and an API client per context.

Order: `--kubeconfig FILE`, else `$KUBECONFIG` (a list joined by os.pathsep; files that do
not exist are ignored; maps merge with the first file to define a name winning, and the
first file that sets `current-context` decides it), else `~/.kube/config`, else the
in-cluster service account when running in a pod. Nothing is ever written back to the
kubeconfig (no token persistence): the scan is read-only, on the local disk too.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ClusterError

IN_CLUSTER = "in-cluster"


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The kubeconfig files to merge, in priority order (existence is checked later)."""
    env = os.environ if environ is None else environ
    if explicit:
        return [os.path.expanduser(explicit)]
    listed = env.get("KUBECONFIG", "")
    if listed:
        return [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
    home = env.get("HOME") or os.path.expanduser("~")
    return [str(Path(home) / ".kube" / "config")]


@dataclass(frozen=True)
class KubeConfig:
    """The merged kubeconfig (or the in-cluster account when `merged` is None)."""

    paths: tuple[str, ...]
    merged: Any  # kubernetes.config.kube_config.ConfigNode, or None for in-cluster
    current_context: str | None

    @property
    def contexts(self) -> list[str]:
        if self.merged is None:
            return [IN_CLUSTER]
        return [str(c.value["name"]) for c in self.merged.value.get("contexts") or [] if c.value.get("name")]

    def describe(self) -> str:
        return ", ".join(self.paths) if self.paths else "in-cluster service account"


def load_kubeconfig(explicit: str | None, environ: Mapping[str, str] | None = None) -> KubeConfig:
    env = os.environ if environ is None else environ
    candidates = kubeconfig_paths(explicit, env)
    if explicit and not os.path.isfile(candidates[0]):
        raise ClusterError(f"kubeconfig {candidates[0]}: no such file")
    existing = [p for p in candidates if os.path.isfile(p)]
    if not existing:
        if env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT"):
            return KubeConfig((), None, IN_CLUSTER)
        where = "$KUBECONFIG (" + env.get("KUBECONFIG", "") + ")" if env.get("KUBECONFIG") else candidates[0]
        raise ClusterError(f"no kubeconfig found at {where}; give --kubeconfig FILE or PATHs to scan files")

    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigMerger

    try:
        merger = KubeConfigMerger(os.pathsep.join(existing))
    except (ConfigException, OSError, ValueError) as exc:
        raise ClusterError(f"kubeconfig {', '.join(existing)}: {exc}") from None
    except Exception as exc:  # yaml errors: one line, never a traceback
        raise ClusterError(f"kubeconfig {', '.join(existing)}: not valid YAML: {_first_line(exc)}") from None
    if merger.config is None:
        raise ClusterError(f"kubeconfig {', '.join(existing)}: empty")
    # kubectl: the first file that sets current-context wins (the client library lets the last win)
    current = next(
        (
            merger.config_files[p].get("current-context")
            for p in merger.paths
            if isinstance(merger.config_files[p], dict) and merger.config_files[p].get("current-context")
        ),
        None,
    )
    merger.config.value["current-context"] = current or ""
    return KubeConfig(tuple(merger.paths), merger.config, current or None)


def select_contexts(config: KubeConfig, contexts: list[str] | None, all_contexts: bool) -> list[str]:
    known = config.contexts
    if all_contexts:
        if not known:
            raise ClusterError(f"kubeconfig {config.describe()}: defines no contexts")
        return known
    if contexts:
        unknown = [c for c in contexts if c not in known]
        if unknown:
            raise ClusterError(f"context {unknown[0]!r} not found in kubeconfig {config.describe()} "
                               f"(known: {', '.join(known) or 'none'})")
        return list(dict.fromkeys(contexts))
    if not config.current_context:
        raise ClusterError(f"kubeconfig {config.describe()}: no current-context; give --context NAME")
    if config.current_context not in known:
        raise ClusterError(f"kubeconfig {config.describe()}: current-context {config.current_context!r} is not defined")
    return [config.current_context]


def client_configuration(config: KubeConfig, context: str):
    """A kubernetes.client.Configuration holding the context's server and credentials."""
    import urllib3
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException

    cfg = Configuration()
    try:
        if config.merged is None:
            from kubernetes.config.incluster_config import (
                SERVICE_CERT_FILENAME,
                SERVICE_TOKEN_FILENAME,
                InClusterConfigLoader,
            )

            InClusterConfigLoader(SERVICE_TOKEN_FILENAME, SERVICE_CERT_FILENAME).load_and_set(cfg)
        else:
            from kubernetes.config.kube_config import KubeConfigLoader

            loader = KubeConfigLoader(config_dict=config.merged, active_context=context,
                                      config_base_path=None, config_persister=None)
            loader.load_and_set(cfg)
    except ConfigException as exc:
        raise ClusterError(f"context {context}: cannot load credentials: {_first_line(exc)}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterError(
            f"context {context}: cannot load credentials: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    # No retries inside urllib3 (they log warnings to stderr); transport.Api has the policy.
    cfg.retries = urllib3.Retry(total=0, redirect=0, raise_on_redirect=True)
    cfg.client_go_retries = False
    return cfg


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
