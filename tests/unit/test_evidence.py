"""Evidence bundles: every file hashed in a signed manifest; any tampering is named."""
from __future__ import annotations

import base64
import errno
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor import __version__
from auditor.evidence import EvidenceError, verify_bundle, write_bundle
from auditor.redact import snapshot as sanitize
from auditor.rules import pack_files

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "fixtures" / "demo"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SNAPSHOT = {
    "apiVersion": "v1", "kind": "List",
    "metadata": {"annotations": {"isolation-audit.io/cluster": "prod-eu"}},
    "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
         "data": {"password": "aHVudGVyMg=="}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "app", "namespace": "shop", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"token":"hunter2"}}', "team": "web"}},
         "data": {"token": "hunter2"}, "binaryData": {"blob": "aHVudGVyMg=="}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"containers": [{"name": "web", "image": "nginx", "env": [
             {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}]}},
    ],
}


def keypair(directory: Path, name: str = "key") -> tuple[Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def signed(demo, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evidence")
    private, public = keypair(tmp)
    bundle = tmp / "bundle"
    manifest = write_bundle(bundle, demo, SNAPSHOT, pack_files(), DEMO / "config.yaml", [DEMO / "probe-results"],
                            {"name": "prod-eu", "server": "https://10.0.0.1:6443"}, private, now=NOW)
    return bundle, public, manifest


def copy(bundle: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(bundle, to)
    return to


def test_the_bundle_holds_everything_and_verifies(signed, demo):
    bundle, public, manifest = signed
    names = {f["path"] for f in manifest["files"]}
    assert {"report.json", "report.html", "controls.json", "controls.md", "inventory.json",
            "config/config.yaml"} <= names
    assert {f"probes/{p.name}" for p in (DEMO / "probe-results").glob("*.json")} <= names
    assert {f"rules/{p.name}" for p in pack_files()} <= names
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert on_disk == names | {"manifest.json", "manifest.sig"}
    assert manifest["tool"]["version"] == __version__ and manifest["created"] == "2026-11-28T12:00:00Z"
    assert manifest["cluster"] == {"name": "prod-eu", "server": "https://10.0.0.1:6443"}
    assert json.loads((bundle / "manifest.json").read_text()) == manifest
    assert json.loads((bundle / "report.json").read_text())["summary"]["findings"] == len(demo.findings)
    assert (bundle / "probes" / "privileged.json").read_bytes() == (
        DEMO / "probe-results" / "privileged.json"
    ).read_bytes()
    assert verify_bundle(bundle, public) == []
    assert verify_bundle(bundle) == []


def test_no_secret_material_in_the_snapshot(signed):
    bundle, _, _ = signed
    text = (bundle / "inventory.json").read_text()
    assert "hunter2" not in text and "aHVudGVyMg==" not in text and '"Secret"' not in text
    data = json.loads(text)
    assert [i["kind"] for i in data["items"]] == ["ConfigMap", "Pod"]
    # free-form annotations keep their keys only (last-applied-configuration copies a whole spec)
    annotations = data["items"][0]["metadata"]["annotations"]
    assert annotations["team"] == "<redacted>" and "hunter2" not in json.dumps(annotations)
    assert set(data["items"][0]["data"]) == {"token"}  # which keys exist is evidence; values are not
    for path in bundle.rglob("*"):
        if path.is_file() and path.name != "manifest.sig":
            assert b"hunter2" not in path.read_bytes(), path


def test_tampering_with_any_byte_of_any_file_is_named(signed, tmp_path):
    bundle, public, _ = signed
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert len(files) > 10
    for i, name in enumerate(files):
        copy_dir = copy(bundle, tmp_path / f"t{i}")
        target = copy_dir / name
        data = bytearray(target.read_bytes())
        offset = (len(data) * 7 // 11) if name != "manifest.sig" else 3
        data[offset] ^= 0x01
        target.write_bytes(bytes(data))
        problems = verify_bundle(copy_dir, public)
        assert problems, name
        assert any(p.startswith(name + ":") or (name == "manifest.json" and p.startswith("manifest.sig: bad signature"))
                   for p in problems), (name, problems)
        if name not in ("manifest.json", "manifest.sig"):
            assert f"{name}: changed (SHA-256 differs from the manifest)" in problems
            assert verify_bundle(copy_dir), name  # even without the key


def test_added_and_removed_files_are_named(signed, tmp_path):
    bundle, public, _ = signed
    tampered = copy(bundle, tmp_path / "b")
    (tampered / "controls.md").unlink()
    (tampered / "probes" / "extra.json").write_text("{}")
    problems = verify_bundle(tampered, public)
    assert "controls.md: removed (listed in the manifest, missing from the bundle)" in problems
    assert "probes/extra.json: added (not in the manifest)" in problems
    assert len(problems) == 2


def test_a_wrong_key_or_a_missing_signature_fails(signed, tmp_path):
    bundle, _, _ = signed
    _, other = keypair(tmp_path, "other")
    assert verify_bundle(bundle, other) == [
        "manifest.sig: bad signature: manifest.json was changed, or signed by another key"
    ]
    unsigned = copy(bundle, tmp_path / "u")
    (unsigned / "manifest.sig").unlink()
    assert verify_bundle(unsigned, other) == ["manifest.sig: missing (the bundle is not signed)"]


def test_a_re_signed_manifest_with_another_key_fails_against_the_real_key(signed, tmp_path):
    bundle, public, _ = signed
    forged = copy(bundle, tmp_path / "f")
    (forged / "report.json").write_text("{}")
    manifest = json.loads((forged / "manifest.json").read_text())
    import hashlib

    for f in manifest["files"]:
        if f["path"] == "report.json":
            f["sha256"] = hashlib.sha256(b"{}").hexdigest()
    body = (json.dumps(manifest, indent=2) + "\n").encode()
    (forged / "manifest.json").write_bytes(body)
    attacker = ed25519.Ed25519PrivateKey.generate()
    (forged / "manifest.sig").write_text(base64.b64encode(attacker.sign(body)).decode())
    assert verify_bundle(forged) == []  # consistent files: only a key can tell
    assert verify_bundle(forged, public) == [
        "manifest.sig: bad signature: manifest.json was changed, or signed by another key"]


def test_unsigned_bundles_and_openssh_keys(demo, tmp_path):
    manifest = write_bundle(tmp_path / "plain", demo)
    assert manifest["signature"] is None and not (tmp_path / "plain" / "manifest.sig").exists()
    assert verify_bundle(tmp_path / "plain") == []
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "id").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                    serialization.NoEncryption()))
    (tmp_path / "id.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                    serialization.PublicFormat.OpenSSH))
    write_bundle(tmp_path / "ssh", demo, sign_key=tmp_path / "id")
    assert verify_bundle(tmp_path / "ssh", tmp_path / "id.pub") == []


def test_refusals(demo, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(EvidenceError, match="new or empty"):
        write_bundle(tmp_path / "full", demo)
    from cryptography.hazmat.primitives.asymmetric import ec

    (tmp_path / "ec.pem").write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(EvidenceError, match="not an Ed25519 key"):
        write_bundle(tmp_path / "ec", demo, sign_key=tmp_path / "ec.pem")
    assert not (tmp_path / "ec").exists()  # nothing written before the key was checked
    assert verify_bundle(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: not a directory"]
    (tmp_path / "empty").mkdir()
    assert verify_bundle(tmp_path / "empty") == ["manifest.json: missing"]


def test_unsafe_manifest_paths_are_problems(demo, tmp_path):
    write_bundle(tmp_path / "b", demo)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["files"].append({"path": "../../etc/passwd", "sha256": "0" * 64, "bytes": 1})
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    assert verify_bundle(tmp_path / "b") == ["../../etc/passwd: unsafe path in the manifest"]


def test_sanitize_drops_nested_secrets():
    data = {"kind": "List", "items": [{"kind": "List", "items": [{"kind": "Secret", "metadata": {}, "data": {}}]}]}
    assert sanitize(data) == {"kind": "List", "items": [{"kind": "List", "items": []}]}


# -- non-regular files, links, subdirectories, keys of the wrong half -----------------------

def _verify_cli(bundle: Path, *argv: str) -> subprocess.CompletedProcess:
    """`evidence verify` in a subprocess with a timeout: a FIFO opened for reading would hang."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "auditor", "evidence", "verify", str(bundle), *argv],
                          capture_output=True, text=True, timeout=120, env=env)


def test_probe_reports_in_subdirectories_are_bundled_under_their_relative_path(demo, tmp_path):
    probes = tmp_path / "probes"
    (probes / "node-a").mkdir(parents=True)
    reports = sorted((DEMO / "probe-results").glob("*.json"))
    (probes / "top.json").write_bytes(reports[0].read_bytes())
    (probes / "node-a" / "deep.json").write_bytes(reports[1].read_bytes())
    manifest = write_bundle(tmp_path / "b", demo, probe_reports=[probes])
    names = {f["path"] for f in manifest["files"]}
    assert {"probes/top.json", "probes/node-a/deep.json"} <= names
    assert verify_bundle(tmp_path / "b") == []


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.symlink_to(DEMO / "config.yaml"), "symbolic link: not followed"),
    (os.mkfifo, "not a regular file (FIFO)"),
    (lambda p: p.symlink_to(p.parent / "gone"), "broken symbolic link"),
], ids=["link", "fifo", "dangling"])
def test_probe_results_that_are_not_regular_files_fail_the_bundle_before_it_is_written(demo, tmp_path, make, reason):
    probes = tmp_path / "probes"
    (probes / "deeper").mkdir(parents=True)
    (probes / "ok.json").write_bytes(next((DEMO / "probe-results").glob("*.json")).read_bytes())
    make(probes / "deeper" / "odd.json")
    with pytest.raises(EvidenceError) as raised:
        write_bundle(tmp_path / "b", demo, probe_reports=[probes])
    assert str(raised.value) == f"probe results: {probes / 'deeper' / 'odd.json'}: {reason}"
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("victim, expected", [
    ("manifest.json", "manifest.json: unreadable: not a regular file (FIFO)"),
    ("manifest.sig", "manifest.sig: unreadable: not a regular file (FIFO)"),
    ("report.json", "report.json: not a regular file (FIFO)"),
    ("probes/x.json", "probes/x.json: not a regular file (FIFO)"),
])
def test_verify_names_a_fifo_anywhere_in_the_bundle_without_opening_it(signed, tmp_path, victim, expected):
    bundle, public, _ = signed
    copy(bundle, tmp_path / "b")
    (tmp_path / "b" / victim).unlink(missing_ok=True)
    (tmp_path / "b" / victim).parent.mkdir(exist_ok=True)
    os.mkfifo(tmp_path / "b" / victim)
    done = _verify_cli(tmp_path / "b", "--public-key", str(public))
    assert done.returncode == 2
    assert f"k8s-isolation-audit: {tmp_path / 'b'}: {expected}" in done.stderr.splitlines()


def test_verify_fails_when_part_of_the_bundle_cannot_be_listed_or_read(signed, tmp_path, monkeypatch):
    from auditor.sources import files

    bundle, public, _ = signed
    copy(bundle, tmp_path / "b")
    real_scandir, real_open = os.scandir, os.open

    def scandir(path):
        if Path(path) == tmp_path / "b" / "rules":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_scandir(path)

    def open_(path, *args, **kwargs):
        if Path(path) == tmp_path / "b" / "controls.json":
            raise OSError(errno.EIO, "Input/output error")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files.os, "scandir", scandir)
    monkeypatch.setattr(files.os, "open", open_)
    problems = verify_bundle(tmp_path / "b", public)
    assert "rules: cannot list directory: Permission denied" in problems
    assert "controls.json: unreadable: Input/output error" in problems


def test_a_key_of_the_wrong_half_is_named_in_one_line(demo, tmp_path):
    private, public = keypair(tmp_path)
    write_bundle(tmp_path / "b", demo, sign_key=private)
    (problem,) = verify_bundle(tmp_path / "b", private)
    assert problem.startswith(f"{private}: a private key; verifying needs only its public key")
    with pytest.raises(EvidenceError, match="a public key; signing needs the Ed25519 private key"):
        write_bundle(tmp_path / "c", demo, sign_key=public)
    done = _verify_cli(tmp_path / "b", "--public-key", str(private))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "a private key" in done.stderr
    assert "PRIVATE KEY" not in done.stderr
