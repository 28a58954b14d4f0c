"""Planted secret values never reach any output, whatever a rule pack points its evidence at."""
from __future__ import annotations

import json

from auditor.cli import main
from scan_helpers import write

PLANTED = ("s3cr3t-env-value-7f3a", "s3cr3t-secret-data-91c2", "s3cr3t-configmap-4e8d", "s3cr3t-string-data-0b6a")

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
metadata: {{name: web, namespace: shop}}
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


def test_planted_values_appear_in_no_output_format(tmp_path, capsys):
    manifests = write(tmp_path, "m/all.yaml", MANIFESTS)
    pack = write(tmp_path, "nosy.yaml", NOSY_PACK)
    outputs = {}
    for fmt in ("json", "table"):
        main(["scan", str(manifests), "--rules", str(pack), "--format", fmt, "--fail-on", "none"])
        outputs[fmt] = capsys.readouterr().out
    report = json.loads(outputs["json"])
    assert any(f["rule_id"] == "XX900" for f in report["findings"])  # the nosy rules did fire
    assert any(f["rule_id"] == "XX901" for f in report["findings"])
    for fmt, text in outputs.items():
        for value in PLANTED:
            assert value not in text, f"{value} leaked into the {fmt} report"
    env = next(f for f in report["findings"] if f["rule_id"] == "XX900")["evidence"]
    assert env["/spec/containers/0/env"][0] == {"name": "DB_PASSWORD", "value": "<redacted>"}
    assert env["/spec/containers/0/env"][1]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "password"}}
