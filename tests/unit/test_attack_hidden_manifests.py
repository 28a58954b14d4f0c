"""Attack: a privileged pod in a hidden file (`.evil.yaml`) or a hidden directory (`.sub/`) of a
scanned directory. `kubectl apply -f DIR` (and `-R`) applies them -- it filters by extension
only -- but the scan passed over names starting with '.', so the gate passed (exit 0) while
the pod was there. Manifests in hidden files and directories are audited like any other."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: a}}
spec: {{hostPID: true, containers: [{{name: c, image: "x:1"}}]}}
"""


@pytest.mark.parametrize("where", [".evil.yaml", ".sub/p.yaml", ".a/.b/p.yml", "sub/.p.json"])
def test_a_pod_in_a_hidden_file_or_directory_fails_the_gate(tmp_path, where):
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: a}\n")
    path = tmp_path / where
    path.parent.mkdir(parents=True, exist_ok=True)
    if where.endswith(".json"):
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hidden", "namespace": "a"},
                                    "spec": {"hostPID": True, "containers": [{"name": "c", "image": "x:1"}]}}))
    else:
        path.write_text(POD.format(name="hidden"))
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", "--fail-on", "critical", "--format", "json",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "hidden" in {f["name"] for f in json.loads(done.stdout)["findings"]}
