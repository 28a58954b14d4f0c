"""The built wheel carries rules/ and the demo, and works from any working directory."""
from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs_from_another_directory(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        check=True, timeout=300, capture_output=True,
    )
    (wheel,) = dist.glob("k8s_isolation_audit-*.whl")
    env_dir = tmp_path / "venv"
    # System site-packages provide the dependencies offline; the wheel provides the tool.
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([py, "-c", "import auditor; print(auditor.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(env_dir)), where
    tool = env_dir / "bin" / "k8s-isolation-audit"
    listed = subprocess.run([tool, "rules", "list"], cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "IA101" in listed.stdout
    demo = subprocess.run([tool, "demo", "--format", "json"], cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert demo.returncode == 1, demo.stderr
    report = json.loads(demo.stdout)
    assert report["findings"] and all(
        "_demo" in f["location"]["path"] for f in report["findings"] if f["rule_id"] != "IA001"
    )
    # the knowledge the verdicts use ships as package data and is cited by URL, not by a repository file
    overheads = [p["overhead"] for p in report["placement"] if p["overhead"]]
    assert overheads and all(o["citations"] and "latency-overheads.md" not in o["source"] for o in overheads)
    assert any(n["provider"] for n in report["nodes"])
    module = subprocess.run([py, "-m", "auditor", "--version"], cwd=elsewhere, capture_output=True, text=True)
    assert module.returncode == 0 and "k8s-isolation-audit" in module.stdout
