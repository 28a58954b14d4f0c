"""Other tools measured beside this one, and how many problems each reports.

kube-score is built from its Go module (tests/apiserver/kube-score) by the same script that
builds the test cluster, cached by that module's go.sum. A findings count sits beside every
time in the suite's table, so a speed-up cannot come from checking less unnoticed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "tests" / "apiserver" / "build.sh"
KUBE_SCORE_MODULE = REPO / "tests" / "apiserver" / "kube-score"

# kube-score's grades (scorecard.Grade): 1 critical, 5 warning, 7 almost OK, 10 OK. Its own
# human output lists a check when it is not skipped and graded below "almost OK".
_KUBE_SCORE_ALMOST_OK = 7


def kube_score() -> tuple[Path | None, str]:
    """(kube-score's executable, its name and version), or (None, why it is missing)."""
    version = kube_score_version()
    try:
        built = subprocess.run(["bash", str(BUILD), "kube-score"], capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not build kube-score {version}: {exc}"
    if built.returncode != 0:
        last = built.stderr.strip().splitlines()[-1:] or [f"exit {built.returncode}"]
        return None, f"could not build kube-score {version}: {last[0]}"
    return Path(built.stdout.strip().splitlines()[-1]) / "kube-score", f"kube-score {version}"


def kube_score_version() -> str:
    for line in (KUBE_SCORE_MODULE / "go.mod").read_text().splitlines():
        words = line.split()
        if words[:2] == ["require", "github.com/zegl/kube-score"]:
            return words[2]
    raise ValueError(f"{KUBE_SCORE_MODULE / 'go.mod'}: no kube-score requirement")


def kube_score_command(exe: Path, inputs: list[Path]) -> list[str]:
    """Its default checks, as JSON (format v2) on stdout. kube-score reads files, not directories."""
    return [str(exe), "score", "--output-format", "json", *map(str, inputs)]


def kube_score_findings(output: bytes) -> int:
    """Checks kube-score reports as failed: graded critical or warning and not skipped, one per
    check and object (a check's several comments, one per container say, count once)."""
    return sum(
        1
        for scored in json.loads(output)
        for check in scored["checks"] or ()
        if not check["skipped"] and check["grade"] < _KUBE_SCORE_ALMOST_OK
    )


def tool_findings(report: bytes) -> int:
    """Findings in this tool's JSON report."""
    return len(json.loads(report)["findings"])


COUNTERS = {"this-tool": tool_findings, "kube-score": kube_score_findings}


def count_apart(tool: str, output: Path) -> int:
    """`COUNTERS[tool]` of the file, counted in a process of its own: a child's peak memory
    as the kernel reports it includes its parent's at the time it was started, so the
    suite's own process must not grow by holding the reports it counts."""
    counted = subprocess.run([sys.executable, __file__, tool, str(output)], capture_output=True, text=True,
                             check=True)
    return int(counted.stdout)


if __name__ == "__main__":
    print(COUNTERS[sys.argv[1]](Path(sys.argv[2]).read_bytes()))
