"""Non-regular files and unreadable trees: a FIFO, device or socket among the inputs is named
without being opened, and anything in a scanned tree that cannot be read makes the audit
partial (exit 2), never a silent pass.

Every run that meets a FIFO is a subprocess with a timeout: a regression hangs in open(),
and must fail the test rather than the suite. The tests run as root, so unreadable paths
are made by other means: a patched os.scandir/os.open, a dangling link, a FIFO."""
from __future__ import annotations

import errno
import io
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.sources import files as files_module
from auditor.sources.files import NotRegularFile, open_regular
from auditor.sources.manifests import load
from auditor.sources.probe_reports import load_reports

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "fixtures" / "demo"
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: shop}\nspec: {containers: [{name: c, image: i}]}\n"
# Each kind of non-regular file, made at a path: (what the refusal calls it, how to make it).
KINDS = {
    "fifo": ("FIFO", os.mkfifo),
    "socket": ("socket", lambda path: socket.socket(socket.AF_UNIX).bind(str(path))),
    "device": ("character device", lambda path: os.mknod(path, stat.S_IFCHR | 0o600, os.stat("/dev/null").st_rdev)),
}


def scan(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "auditor", "scan", *argv], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def test_every_kind_named_directly_in_a_tree_or_in_probe_results_is_refused_unopened(tmp_path):
    """One run meets every kind three ways; it ends (no hang), names each path, and still
    audits the regular file beside them."""
    tree, probes = tmp_path / "tree", tmp_path / "probes"
    (tree / "deep").mkdir(parents=True)
    (probes / "node").mkdir(parents=True)
    (tree / "deep" / "ok.yaml").write_text(POD % "ok")
    expected = {}
    for kind, (label, make) in KINDS.items():
        for path in (tmp_path / f"named-{kind}.yaml", tree / "deep" / f"{kind}.yaml", probes / "node" / f"{kind}.json"):
            make(path)
            expected[str(path)] = label
    named = [str(tmp_path / f"named-{kind}.yaml") for kind in KINDS]
    done = scan(*named, str(tree), "--probe-results", str(probes), "--format", "json")
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["coverage"]["objects"] == 1  # ok.yaml was still audited
    skipped = {s["source"]: s["reason"] for s in report["coverage"]["skipped"]}
    for path, label in expected.items():
        assert f"not a regular file ({label})" in skipped[path], (path, skipped)
        assert f"skipped {path}: " in done.stderr
    assert all(line.startswith("k8s-isolation-audit: skipped ") for line in done.stderr.splitlines())


def test_a_file_swapped_for_a_fifo_after_its_stat_is_caught_by_fstat_without_blocking(tmp_path):
    """The race: stat said regular, open finds a FIFO. The non-blocking open returns at once
    and fstat refuses it; a blocking open would wait for a writer forever."""
    fifo = tmp_path / "swapped.yaml"
    os.mkfifo(fifo)
    code = f"""
import os, stat
from auditor.sources import files
real = os.stat
regular = real({str(REPO / 'pyproject.toml')!r})
files.os.stat = lambda p, *a, **k: regular if str(p) == {str(fifo)!r} else real(p, *a, **k)
try:
    files.open_regular({str(fifo)!r})
except files.NotRegularFile as exc:
    print(exc.strerror)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "not a regular file (FIFO)", done.stderr


@pytest.mark.parametrize("follow_links", [True, False])
def test_open_regular_refuses_directories_and_links_when_asked(tmp_path, follow_links):
    (tmp_path / "real.yaml").write_text("x")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yaml")
    with pytest.raises(NotRegularFile, match=r"\(directory\)"):
        open_regular(tmp_path, follow_links)
    if follow_links:
        with open_regular(tmp_path / "link.yaml", follow_links) as fh:
            assert fh.read() == b"x"
    else:
        with pytest.raises(NotRegularFile, match=r"\(symbolic link\)"):
            open_regular(tmp_path / "link.yaml", follow_links)


def _failing_scandir(monkeypatch, bad: Path, exc: OSError, after: int = 0) -> None:
    """os.scandir as the walker sees it, failing for `bad`: at once, or after `after` entries."""
    real = os.scandir

    class Listing:
        def __init__(self, path):
            self.inner = real(path)
            self.seen = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.inner.close()

        def close(self):
            self.inner.close()

        def __iter__(self):
            return self

        def __next__(self):
            if self.seen == after:
                raise exc
            self.seen += 1
            return next(self.inner)

    def scandir(path):
        if Path(path) != bad:
            return real(path)
        if not after:
            raise exc
        return Listing(path)

    monkeypatch.setattr(files_module.os, "scandir", scandir)


@pytest.mark.parametrize("failure", [
    pytest.param((PermissionError(errno.EACCES, "Permission denied"), 0), id="cannot-list"),
    pytest.param((OSError(errno.EIO, "Input/output error"), 1), id="io-error-mid-listing"),
])
def test_a_directory_that_cannot_be_listed_is_named_and_the_rest_is_audited(tmp_path, monkeypatch, failure):
    exc, after = failure
    for name in ("a/one.yaml", "b/two.yaml", "b/three.yaml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(POD % Path(name).stem)
    _failing_scandir(monkeypatch, tmp_path / "b", exc, after)
    inventory = load([str(tmp_path)])
    assert "one" in {r.name for r in inventory.resources}
    (skip,) = inventory.skipped
    assert skip.source == str(tmp_path / "b") and skip.reason == f"cannot list directory: {exc.strerror}"


def test_an_unlistable_tree_fails_the_scan_with_exit_2(tmp_path, monkeypatch, capsys):
    from auditor.cli import main

    (tmp_path / "ok.yaml").write_text(POD % "ok")
    (tmp_path / "locked").mkdir()
    _failing_scandir(monkeypatch, tmp_path / "locked", PermissionError(errno.EACCES, "Permission denied"))
    assert main(["scan", str(tmp_path), "--format", "json", "--fail-on", "none"]) == 2
    assert f"skipped {tmp_path / 'locked'}: cannot list directory: Permission denied" in capsys.readouterr().err


def test_a_file_that_cannot_be_opened_is_named(tmp_path, monkeypatch):
    (tmp_path / "ok.yaml").write_text(POD % "ok")
    (tmp_path / "secret.yaml").write_text(POD % "hidden")

    def denying(real):
        def opener(path, *args, **kwargs):
            if Path(str(path)).name == "secret.yaml":
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(path, *args, **kwargs)
        return opener

    monkeypatch.setattr(os, "open", denying(os.open))
    monkeypatch.setattr(io, "open", denying(io.open))  # what Path.open calls
    inventory = load([str(tmp_path)])
    assert [r.name for r in inventory.resources] == ["ok"]
    assert [s.one_line() for s in inventory.skipped] == [f"{tmp_path / 'secret.yaml'}: cannot read: Permission denied"]


def test_broken_links_and_linked_directories_in_a_tree_are_named(tmp_path):
    """A dangling link might have been a whole directory of manifests; a linked directory is
    not followed (no loops, no leaving the tree) but is said to be left out."""
    (tmp_path / "ok.yaml").write_text(POD % "ok")
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing.yaml")
    (tmp_path / "gone-dir").symlink_to(tmp_path / "missing")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)
    inventory = load([str(tmp_path)])
    assert [r.name for r in inventory.resources] == ["ok"]
    assert {s.source: s.reason for s in inventory.skipped} == {
        str(tmp_path / "gone.yaml"): "broken symbolic link",
        str(tmp_path / "gone-dir"): "broken symbolic link",
        str(tmp_path / "sub" / "loop"): "symbolic link to a directory: not followed",
    }


def test_a_named_broken_link_or_missing_path_is_named(tmp_path):
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing.yaml")
    inventory = load([str(tmp_path / "gone.yaml"), str(tmp_path / "nothing.yaml")])
    assert [s.one_line() for s in inventory.skipped] == [
        f"{tmp_path / 'gone.yaml'}: broken symbolic link", f"{tmp_path / 'nothing.yaml'}: no such file or directory"]


def test_probe_results_walk_subdirectories_and_refuse_links(tmp_path):
    probes = tmp_path / "probes"
    (probes / "node-a").mkdir(parents=True)
    report = next((DEMO / "probe-results").glob("*.json"))
    (probes / "node-a" / report.name).write_bytes(report.read_bytes())
    (probes / "linked.json").symlink_to(report)
    facts, skipped, inputs = load_reports([str(probes)])
    assert inputs == [str(probes / "node-a" / report.name)] and len(facts) == 1
    assert [s.one_line() for s in skipped] == [f"{probes / 'linked.json'}: symbolic link: not followed"]


@pytest.mark.parametrize("flag", ["--baseline", "--config", "--rules"])
def test_every_other_file_option_refuses_a_fifo_without_opening_it(tmp_path, flag):
    """A baseline, config or rule pack given as a FIFO is one line and exit 2, not a hang."""
    fifo = tmp_path / "input.yaml"
    os.mkfifo(fifo)
    done = scan(str(DEMO / "cluster"), flag, str(fifo), "--format", "json", timeout=60)
    assert done.returncode == 2, done.stderr
    assert str(fifo) in done.stderr and "not a regular file (FIFO)" in done.stderr


def test_reach_targets_as_a_fifo_are_refused_without_opening_them(tmp_path):
    fifo = tmp_path / "targets.json"
    os.mkfifo(fifo)
    code = f"""
from auditor.probe.reach import TargetError, load_targets
try:
    load_targets({str(fifo)!r})
except TargetError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "not a regular file (FIFO)" in done.stdout, done.stderr
