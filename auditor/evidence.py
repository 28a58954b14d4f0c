"""Evidence bundles: what an auditor needs to trust a report, in one directory.

    report.json  report.html  controls.json  controls.md
    inventory.json            the inventory snapshot, without Secrets or ConfigMap data
    probes/...                the raw probe reports
    rules/...  config/...     the rule packs and the configuration that were used
    manifest.json             SHA-256 of every file, tool version, time, cluster identity
    manifest.sig              with a key: Ed25519 signature over manifest.json (base64)

`verify_bundle` names every changed, added or removed file and a bad or missing signature.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import __version__, redact
from .model import Report, Rule

FORMAT = "k8s-isolation-audit/evidence-bundle"
FORMAT_VERSION = 1
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
# Annotations that copy a whole object, ConfigMap data included.


class EvidenceError(Exception):
    """A bundle that cannot be written, or a key that cannot be used; one line."""


# -- writing -------------------------------------------------------------------------------

def write_bundle(
    directory: str | Path,
    report: Report,
    snapshot: Mapping[str, Any] | str | Path | None = None,
    rule_packs: Iterable[str | Path] = (),
    config_path: str | Path | None = None,
    probe_reports: Iterable[str | Path] = (),
    cluster: str | Mapping[str, Any] | None = None,
    sign_key: Path | None = None,
    *,
    rules: Sequence[Rule] | None = None,
    probes_ran: bool | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the bundle into `directory` (new or empty) and return its manifest.

    `snapshot`: the inventory snapshot (a snapshot file, or its parsed JSON); `rule_packs`:
    the pack files used (RuleSet.packs); `probe_reports`: ProbeReport files or directories
    of them; `cluster`: the cluster identity (name, or a mapping: context, server, uid...);
    `rules`: the rules that ran, for the control report (default: the built-in packs);
    `sign_key`: an Ed25519 private key (PEM/PKCS8 or OpenSSH) to sign the manifest.
    """
    from .reports import controls, html, json_report
    from .reports.rulemeta import builtin_rules

    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise EvidenceError(f"{root}: evidence directory must be new or empty")
    private = _private_key(sign_key) if sign_key is not None else None  # fail before writing anything
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def put(name: str, data: bytes) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(name)

    control_data = controls.build(report, builtin_rules() if rules is None else rules, probes_ran)
    put("report.json", json_report.render(report).encode())
    put("report.html", html.render(report).encode())
    put("controls.json", controls.render_json(control_data).encode())
    put("controls.md", controls.render_markdown(control_data).encode())
    if snapshot is not None:
        data = _read_json(snapshot) if isinstance(snapshot, (str, Path)) else snapshot
        put("inventory.json", (json.dumps(redact.snapshot(data), indent=2, ensure_ascii=False, default=str) + "\n").encode())
    for folder, files in (("probes", _probe_files(probe_reports)), ("rules", [Path(p) for p in rule_packs]),
                          ("config", [Path(config_path)] if config_path else [])):
        for name, path in _unique_names(files):
            put(f"{folder}/{name}", _read(path))

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": {"name": "k8s-isolation-audit", "version": __version__, "report_version": report.tool_version},
        "created": (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "cluster": cluster if cluster is not None else report.source.get("cluster"),
        "report": {"findings": len(report.findings), "failing": len(report.failing()),
                   "complete": report.coverage.complete},
        "files": [{"path": n, "sha256": _sha256(root / n), "bytes": (root / n).stat().st_size} for n in sorted(written)],
        "signature": None,
    }
    if private is not None:
        manifest["signature"] = {"algorithm": "ed25519", "file": SIGNATURE,
                                 "public_key_sha256": _public_fingerprint(private.public_key())}
    body = (json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n").encode()
    (root / MANIFEST).write_bytes(body)
    if private is not None:
        (root / SIGNATURE).write_text(base64.b64encode(private.sign(body)).decode() + "\n")
    return manifest


def _probe_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(x for x in p.iterdir() if x.suffix == ".json" and x.is_file()))
        else:
            files.append(p)
    return files


def _unique_names(files: Iterable[Path]) -> Iterable[tuple[str, Path]]:
    seen: set[str] = set()
    for path in files:
        name, n = path.name, 1
        while name in seen:
            n += 1
            name = f"{path.stem}-{n}{path.suffix}"
        seen.add(name)
        yield name, path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_json(path: str | Path) -> Any:
    try:
        return json.loads(_read(Path(path)))
    except ValueError as exc:
        raise EvidenceError(f"{path}: snapshot is not JSON: {exc}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- keys ----------------------------------------------------------------------------------

def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - cryptography is a dependency
        raise EvidenceError("signing needs the 'cryptography' package") from None
    return serialization, ed25519


def _private_key(path: Path):
    serialization, ed25519 = _crypto()
    data = _read(Path(path))
    for load in (serialization.load_pem_private_key, serialization.load_ssh_private_key):
        try:
            key = load(data, password=None)
            break
        except (ValueError, TypeError):
            continue
    else:
        raise EvidenceError(f"{path}: not an unencrypted PEM or OpenSSH private key")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise EvidenceError(f"{path}: not an Ed25519 key")
    return key


def _public_key(path: Path):
    serialization, ed25519 = _crypto()
    data = _read(Path(path))
    for load in (serialization.load_pem_public_key, serialization.load_ssh_public_key):
        try:
            key = load(data)
            break
        except (ValueError, TypeError):
            continue
    else:
        try:  # a private key file also holds the public key
            key = _private_key(path).public_key()
        except EvidenceError:
            raise EvidenceError(f"{path}: not a PEM or OpenSSH public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise EvidenceError(f"{path}: not an Ed25519 key")
    return key


def _public_fingerprint(public) -> str:
    serialization, _ = _crypto()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


# -- verifying -----------------------------------------------------------------------------

def verify_bundle(directory: str | Path, public_key: Path | None = None) -> list[str]:
    """Problems with the bundle, one line each naming the file; [] when it verifies.

    Without `public_key` only the files are checked against the manifest; with it the
    manifest's signature must also verify (a missing or bad signature is a problem)."""
    root = Path(directory)
    if not root.is_dir():
        return [f"{root}: not a directory"]
    try:
        body = (root / MANIFEST).read_bytes()
    except FileNotFoundError:
        return [f"{MANIFEST}: missing"]
    except OSError as exc:
        return [f"{MANIFEST}: unreadable: {exc.strerror or exc}"]
    problems = _signature(root, body, public_key)
    try:
        manifest = json.loads(body)
        listed = {str(f["path"]): str(f["sha256"]) for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        return problems + [f"{MANIFEST}: malformed: {type(exc).__name__}: {exc}"]
    on_disk = _files(root, problems)
    for name in sorted(listed):
        if not _safe(name):
            problems.append(f"{name}: unsafe path in the manifest")
        elif name not in on_disk:
            problems.append(f"{name}: removed (listed in the manifest, missing from the bundle)")
        elif _sha256(root / name) != listed[name]:
            problems.append(f"{name}: changed (SHA-256 differs from the manifest)")
    for name in sorted(on_disk - set(listed) - {MANIFEST, SIGNATURE}):
        problems.append(f"{name}: added (not in the manifest)")
    if SIGNATURE in on_disk and public_key is None and not isinstance(manifest.get("signature"), dict):
        problems.append(f"{SIGNATURE}: added (the manifest says the bundle is unsigned)")
    return problems


def _signature(root: Path, body: bytes, public_key: Path | None) -> list[str]:
    if public_key is None:
        return []
    try:
        key = _public_key(public_key)
    except EvidenceError as exc:
        return [str(exc)]
    sig_path = root / SIGNATURE
    if not sig_path.is_file():
        return [f"{SIGNATURE}: missing (the bundle is not signed)"]
    try:
        signature = base64.b64decode(sig_path.read_bytes().strip(), validate=True)
        key.verify(signature, body)
    except Exception:  # InvalidSignature, binascii.Error, ValueError: all mean "does not verify"
        return [f"{SIGNATURE}: bad signature: {MANIFEST} was changed, or signed by another key"]
    return []


def _files(root: Path, problems: list[str]) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() or not path.is_file():
                problems.append(f"{rel}: not a regular file")
            found.add(rel)
    return found


def _safe(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts and "\\" not in name
