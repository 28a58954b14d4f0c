"""The benchmark generator: seeded, and its JSON snapshot and YAML manifests say the same."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scan_helpers import scan

GENERATE = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"
SMALL = ["--pods", "90", "--namespaces", "10", "--policies", "20", "--nodes", "6"]


def generate(*args: str) -> None:
    subprocess.run([sys.executable, str(GENERATE), *SMALL, *args], check=True)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path):
    for name, seed in (("a.json", "7"), ("b.json", "7"), ("c.json", "8")):
        generate("--seed", seed, "-o", str(tmp_path / name))
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.json", "b.json", "c.json"))
    assert a == b and a != c
    assert a.startswith(b'{\n    "apiVersion": "v1",\n    "kind": "List"')  # kubectl's layout


def test_snapshot_and_manifest_directory_give_the_same_findings(tmp_path: Path):
    generate("-o", str(tmp_path / "snapshot.json"))
    generate("--format", "yaml-dir", "-o", str(tmp_path / "manifests"))
    assert len(list((tmp_path / "manifests").glob("*.yaml"))) == 11  # ten namespaces + cluster-scoped

    def key(f):
        return (f.rule_id, f.namespace, f.kind, f.name, f.container, f.message)

    from_snapshot = scan([str(tmp_path / "snapshot.json")])
    from_manifests = scan([str(tmp_path / "manifests")])
    assert not from_snapshot.coverage.skipped and not from_manifests.coverage.skipped
    assert len(from_snapshot.findings) > 50
    assert sorted(map(key, from_snapshot.findings)) == sorted(map(key, from_manifests.findings))
    assert all(f.location and f.location.line for f in from_manifests.findings)


def test_deployments_alone_are_manifests_without_server_fields(tmp_path: Path):
    out = tmp_path / "d.yaml"
    subprocess.run(
        [sys.executable, str(GENERATE), "--deployments", "25", "--format", "yaml", "-o", str(out)], check=True
    )
    text = out.read_text()
    assert text.count("kind: Deployment") == 25 and "managedFields" not in text and "%YAML" not in text
    assert len({f.name for f in scan([str(out)]).findings if f.kind == "Deployment"}) == 25


def test_repository_mixes_every_common_kind_in_one_file_per_namespace(tmp_path: Path):
    for name, seed in (("a", "7"), ("b", "7")):
        subprocess.run([sys.executable, str(GENERATE), "--repository", "3", "--format", "yaml-dir", "--seed", seed,
                        "-o", str(tmp_path / name)], check=True)
    files = sorted(p.name for p in (tmp_path / "a").glob("*.yaml"))
    assert files == ["_cluster.yaml", "team-000.yaml", "team-001.yaml", "team-002.yaml"]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    report = scan([str(tmp_path / "a")])
    assert not report.coverage.skipped
    kinds = {f.kind for f in report.findings}
    assert {"Deployment", "StatefulSet", "DaemonSet", "CronJob", "ClusterRoleBinding", "Namespace"} <= kinds
    assert all(f.location and f.location.line for f in report.findings)
