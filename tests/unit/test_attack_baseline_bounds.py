"""Attack: `--baseline` was read with the standard library's JSON parser, outside the bounds of
every other input: a baseline nested 200,000 deep ended the scan with 'internal error:
RecursionError', and duplicate keys were kept silently. It is now read by the one JSON loader
(size, nesting a few levels past the inputs' bound since a report quotes their evidence,
duplicate keys refused), and every refusal is one line naming the file, never a value."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditor.baseline import BaselineError, load_baseline

REPO = Path(__file__).resolve().parents[2]
MARKER = "mk51e0c7a2b9d4f8"

BROKEN = {
    "nested 200,000 deep": '{"findings": [], "x": ' + "[" * 200_000 + "]" * 200_000 + "}",
    "nested just past the bound": '{"findings": [{"evidence": {"/a": ' + "[" * 120 + "]" * 120 + "}}]}",
    "a duplicate key": '{"findings": [], "findings": [{"rule_id": "IA101"}], "x": "' + MARKER + '"}',
    "a bad value": '{"findings": [], "x": ' + MARKER + "}",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_baseline_is_one_line_naming_the_file(tmp_path, case):
    path = tmp_path / "baseline.json"
    path.write_text(BROKEN[case])
    with pytest.raises(BaselineError) as err:
        load_baseline(path)
    message = str(err.value)
    assert message.startswith(f"{path}:") and "\n" not in message and MARKER not in message, message


def test_a_report_quoting_evidence_at_the_input_bound_is_a_baseline(tmp_path):
    evidence = "[" * 99 + "]" * 99
    baseline = tmp_path / "b.json"
    baseline.write_text('{"findings": [{"rule_id": "IA101", "evidence": {"/spec": ' + evidence + "}}]}")
    assert load_baseline(baseline)["findings"][0]["rule_id"] == "IA101"


def test_the_scan_names_the_deep_baseline_and_never_a_recursion_error(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(BROKEN["nested 200,000 deep"])
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", str(REPO / "fixtures" / "demo" / "cluster"),
                           "--baseline", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "RecursionError" not in done.stderr and str(path) in done.stderr, done.stderr


@pytest.mark.parametrize("body", ['{"files": ' + "[" * 200_000 + "]" * 200_000 + "}",
                                  '{"files": [], "files": [{"path": "x", "sha256": "0"}]}'],
                         ids=["nested 200,000 deep", "a duplicate key"])
def test_evidence_verify_names_a_deep_or_duplicated_manifest(tmp_path, body):
    (tmp_path / "manifest.json").write_text(body)
    done = subprocess.run([sys.executable, "-m", "auditor", "evidence", "verify", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "manifest.json: malformed" in done.stderr, done.stderr
    assert "RecursionError" not in done.stderr and "internal error" not in done.stderr
