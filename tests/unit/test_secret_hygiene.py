"""Planted secret values never reach any output, whatever a rule pack points its evidence at."""
from __future__ import annotations

import json
from pathlib import Path

from scan_helpers import write

from auditor.cli import main
from auditor.reports import FORMATS  # every format, a new one included

PLANTED = ("s3cr3t-env-value-7f3a", "s3cr3t-secret-data-91c2", "s3cr3t-configmap-4e8d", "s3cr3t-string-data-0b6a",
           "s3cr3t-annotation-5d1e")

MANIFESTS = f"""apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: shop}}
stringData: {{password: {PLANTED[3]}}}
data: {{token: {PLANTED[1]}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: shop}}
data: {{api_key: {PLANTED[2]}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"spec": {{"env": [{{"value": "{PLANTED[0]}"}}]}}}}'
    vault.example.com/token: {PLANTED[4]}
    container.apparmor.security.beta.kubernetes.io/web: unconfined
spec:
  containers:
  - name: web
    image: nginx
    env:
    - {{name: DB_PASSWORD, value: {PLANTED[0]}}}
    - name: FROM_SECRET
      valueFrom: {{secretKeyRef: {{name: db, key: password}}}}
    securityContext: {{privileged: true}}
"""

NOSY_PACK = """pack: nosy
rules:
  - id: XX900
    name: nosy-env
    title: shows env
    severity: high
    controls: ["x:1"]
    message: "env is {value}"
    remediation: r
    docs: {what: w, why: because, bad_example: "", good_example: "", references: []}
    target: container
    match: {required: [env]}
    evidence: [/env, /env/0/value]
  - id: XX901
    name: nosy-data
    title: shows data
    severity: high
    controls: ["x:1"]
    message: "data is {value}"
    remediation: r
    docs: {what: w, why: because, bad_example: "", good_example: "", references: []}
    target: object
    kinds: [Secret, ConfigMap]
    match: {}
    evidence: [/data, /stringData, /data/token]
"""


def every_output(tmp: Path, manifest: Path, pack: Path, capsys) -> dict[str, str]:
    """What a scan of `manifest` with `pack` writes, by where: each format on stdout and
    stderr, and each file of its evidence bundle."""
    outputs = {}
    for fmt in FORMATS:
        main(["scan", str(manifest), "--rules", str(pack), "--format", fmt, "--fail-on", "none"])
        captured = capsys.readouterr()
        outputs[fmt], outputs[f"{fmt} stderr"] = captured.out, captured.err
    bundle = tmp / "bundle"
    main(["scan", str(manifest), "--rules", str(pack), "--evidence-dir", str(bundle), "--fail-on", "none",
          "--format", "json"])
    outputs["evidence-dir stderr"] = capsys.readouterr().err
    report = write(tmp, "report.json", outputs["json"])
    for fmt in ("json", "html", "markdown"):
        main(["report", "merge", str(report), "--format", fmt])
        outputs[f"report merge {fmt}"] = capsys.readouterr().out
    for path in bundle.rglob("*"):
        if path.is_file():
            outputs[f"evidence bundle {path.relative_to(bundle)}"] = path.read_text(errors="replace")
    return outputs


def test_planted_values_appear_in_no_output_format(tmp_path, capsys):
    manifests = write(tmp_path, "m/all.yaml", MANIFESTS)
    pack = write(tmp_path, "nosy.yaml", NOSY_PACK)
    outputs = every_output(tmp_path, manifests, pack, capsys)
    report = json.loads(outputs["json"])
    assert any(f["rule_id"] == "XX900" for f in report["findings"])  # the nosy rules did fire
    assert any(f["rule_id"] == "XX901" for f in report["findings"])
    for fmt, text in outputs.items():
        for value in PLANTED:
            assert value not in text, f"{value} leaked into the {fmt} report"
    apparmor = next(f for f in report["findings"] if f["rule_id"] == "IA122")["evidence"]["/metadata/annotations"]
    assert apparmor["container.apparmor.security.beta.kubernetes.io/web"] == "unconfined"  # kept: it is the finding
    env = next(f for f in report["findings"] if f["rule_id"] == "XX900")["evidence"]
    assert env["/spec/containers/0/env"][0] == {"name": "DB_PASSWORD", "value": "<redacted>"}
    assert env["/spec/containers/0/env"][1]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "password"}}


def test_the_probe_reports_no_environment_values(monkeypatch):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DB_PASSWORD": PLANTED[0], "POD_NAME": "web-0"}
    done = subprocess.run([sys.executable, "-m", "auditor", "probe"], capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2])})
    assert done.returncode == 0, done.stderr
    assert PLANTED[0] not in done.stdout and "web-0" in done.stdout
