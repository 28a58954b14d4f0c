"""The kubernetes client is imported only when a cluster is read, never on `scan PATH`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.strip().splitlines()[-1].split())


def test_scan_of_files_never_imports_kubernetes():
    modules = _modules_after(
        "from auditor.cli import main\n"
        "main(['scan', 'fixtures/demo/cluster', '--format', 'json', '--output', '/dev/null'])")
    assert "auditor.engine" in modules
    assert not {m for m in modules if m == "kubernetes" or m.startswith("kubernetes.")}


def test_the_live_package_imports_kubernetes_only_to_connect():
    modules = _modules_after(
        "import auditor.live, auditor.live.cluster, auditor.live.snapshot, auditor.live.probes.run, "
        "auditor.live.errors, auditor.live.retry, auditor.live.kinds, auditor.live.transport, auditor.live.kubeconfig")
    assert "auditor.live.cluster" in modules
    assert "kubernetes" not in modules
