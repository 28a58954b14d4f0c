"""The benchmark's findings counts: kube-score's from its real output, this tool's from its report."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import peers  # noqa: E402

KUBE_SCORE = REPO / "tests" / "data" / "kube-score"


def test_kube_score_count_is_its_failed_checks_as_its_human_output_lists_them():
    output = (KUBE_SCORE / "kube-score.json").read_bytes()
    assert peers.kube_score_findings(output) == 18  # see tests/data/kube-score/README.md
    per_object = {o["object_name"]: peers.kube_score_findings(json.dumps([o]).encode()) for o in json.loads(output)}
    assert per_object == {"Deployment/apps/v1/shop/web": 10, "Service/v1/shop/web": 0,
                          "StatefulSet/apps/v1/shop/db": 8}


@pytest.mark.parametrize(("grade", "skipped", "counted"), [
    (1, False, 1), (5, False, 1), (7, False, 0), (10, False, 0), (1, True, 0), (5, True, 0), (0, True, 0),
])
def test_kube_score_counts_critical_and_warning_checks_that_ran(grade: int, skipped: bool, counted: int):
    check = {"check": {"id": "x"}, "grade": grade, "skipped": skipped, "comments": [{}, {}]}
    assert peers.kube_score_findings(json.dumps([{"checks": [check]}]).encode()) == counted


def test_kube_score_object_without_checks_counts_nothing():
    assert peers.kube_score_findings(b'[{"object_name": "x", "checks": null}]') == 0


def test_tool_count_is_the_reports_findings(tmp_path: Path):
    from auditor.cli import main

    report = tmp_path / "r.json"
    assert main(["scan", str(KUBE_SCORE / "manifests.yaml"), "--format", "json", "-o", str(report)]) == 1
    count = peers.tool_findings(report.read_bytes())
    assert count == len(json.loads(report.read_bytes())["findings"]) > 0
    assert peers.count_apart("this-tool", report) == count


def test_the_kube_score_version_is_the_modules_requirement():
    assert peers.kube_score_version() == "v1.20.0"
