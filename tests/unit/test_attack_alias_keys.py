"""Attack: a duplicate key written as an alias. The loader named the duplicate key, and an
alias's text is its anchor's scalar -- an env var's value, say -- so the value reached stderr,
`coverage.skipped` in every format and the evidence bundle. A key written through an alias is
no longer named; a key written in place still is."""
from __future__ import annotations

import subprocess
import sys

import pytest

from auditor.sources.parsing import ParseError, yaml_documents

MARKER = "mk2b9c4d1e7f3a60"

POD = """apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: a}}
spec:
  containers:
  - name: c
    image: "x:1"
    env:
{env}
"""
# Where the anchor sits, and where the duplicate aliased keys are written.
CASES = {
    "another env var": "    - {name: P, value: &s MKR}\n    - {name: Q, value: {*s : 1, *s : 2}}",
    "the same mapping": "    - {name: P, value: &s MKR, *s : 1, *s : 2}",
    "an anchored key and an alias": "    - {&s MKR : 1, *s : 2}",
    "block style": ("    - name: P\n      value: &s MKR\n    - name: Q\n      valueFrom:\n"
                    "        *s : 1\n        *s : 2"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_duplicate_alias_key_is_not_named(case: str):
    text = POD.format(env=CASES[case].replace("MKR", MARKER))
    errors = [d for d in yaml_documents(text) if isinstance(d, ParseError)]
    assert errors and all("duplicate key" in str(e) and MARKER not in str(e) for e in errors)


def test_a_duplicate_key_written_in_place_is_still_named():
    text = POD.format(env="    - {name: P, value: &s x, value: y}")
    errors = [str(d) for d in yaml_documents(text) if isinstance(d, ParseError)]
    assert errors and "duplicate key 'value'" in errors[0]


def test_no_format_and_no_bundle_holds_the_aliased_value(tmp_path):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD.format(env=CASES["another env var"].replace("MKR", MARKER)))
    for fmt in ("table", "json", "sarif", "junit", "markdown", "html"):
        bundle = tmp_path / f"bundle-{fmt}"
        run = subprocess.run([sys.executable, "-m", "auditor", "scan", "--format", fmt, "--evidence-dir", str(bundle),
                              str(manifest)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2, run.stderr
        assert "duplicate key" in run.stderr
        assert MARKER not in run.stdout + run.stderr, fmt
        for path in bundle.rglob("*"):
            if path.is_file():
                assert MARKER not in path.read_text(errors="replace"), path
