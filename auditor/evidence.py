"""Evidence bundles: what an auditor needs to trust a report, in one directory.

    report.json  report.html  controls.json  controls.md
    inventory.json            the inventory snapshot, without Secrets or ConfigMap data
    probes/...                the raw probe reports
    rules/...  config/...     the rule packs, and the configuration and overhead figures that were used
    manifest.json             SHA-256 of every file, tool version, time, cluster identity
    manifest.sig              with a key: Ed25519 signature over manifest.json (base64)

`verify_bundle` names every changed, added or removed file and a bad or missing signature.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from . import __version__, redact
from .model import Report, Rule, Skipped
from .sources.files import open_regular, read_regular, walk
from .sources.parsing import ParseError, json_document
from .sources.probe_reports import report_files

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
    overheads_path: str | Path | None = None,
    probes_ran: bool | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the bundle into `directory` (new or empty) and return its manifest.

    `snapshot`: the inventory snapshot (a snapshot file, or its parsed JSON); `rule_packs`:
    the pack files used (RuleSet.packs); `overheads_path`: a `scan --overheads` file;
    `probe_reports`: ProbeReport files or directories of them; `cluster`: the cluster
    identity (name, or a mapping: context, server, uid...);
    `rules`: the rules that ran, for the control report (default: the built-in packs);
    `sign_key`: an Ed25519 private key (PEM/PKCS8 or OpenSSH) to sign the manifest.
    """
    from .reports import controls, html, json_report
    from .reports.rulemeta import builtin_rules

    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise EvidenceError(f"{root}: evidence directory must be new or empty")
    # Fail before writing anything.
    private = _private_key(sign_key) if sign_key is not None else None
    probes = _probe_files(probe_reports)
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
        put(
            "inventory.json",
            (json.dumps(redact.snapshot(data), indent=2, ensure_ascii=False, default=str) + "\n").encode(),
        )
    for name, path in _unique_names(probes):
        put(f"probes/{name}", _read(path, follow_links=False))
    used = [Path(p) for p in (config_path, overheads_path) if p]
    for folder, files in (("rules", map(Path, rule_packs)), ("config", used)):
        for name, path in _unique_names((p.name, p) for p in files):
            put(f"{folder}/{name}", _read(path))

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": {"name": "k8s-isolation-audit", "version": __version__, "report_version": report.tool_version},
        "created": (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "cluster": cluster if cluster is not None else report.source.get("cluster"),
        "report": {
            "findings": len(report.findings),
            "failing": len(report.failing()),
            "complete": report.coverage.complete,
        },
        "files": [
            {"path": n, "sha256": _sha256(root / n), "bytes": (root / n).stat().st_size} for n in sorted(written)
        ],
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


def _probe_files(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """(name in the bundle, path): the files `scan --probe-results` reads, subdirectories
    included. A link, FIFO or unlistable directory among them fails the bundle, by name:
    evidence must hold what the audit read, and nothing from outside the directory."""
    files: list[tuple[str, Path]] = []
    unreadable: list[Skipped] = []
    for p in map(Path, paths):
        files.extend(report_files([p], unreadable) if p.is_dir() else [(p.name, p)])
    if unreadable:
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise EvidenceError(f"probe results: {unreadable[0].one_line()}{more}")
    return files


def _unique_names(files: Iterable[tuple[str, Path]]) -> Iterable[tuple[str, Path]]:
    seen: set[str] = set()
    for wanted, path in files:
        name, n = wanted, 1
        while name in seen:
            n += 1
            first = PurePosixPath(wanted)
            name = str(first.with_name(f"{first.stem}-{n}{first.suffix}"))
        seen.add(name)
        yield name, path


def _read(path: Path, follow_links: bool = True) -> bytes:
    try:
        return read_regular(path, follow_links=follow_links)
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_json(path: str | Path) -> Any:
    try:
        return json.loads(_read(Path(path)))
    except ValueError as exc:
        raise EvidenceError(f"{path}: snapshot is not JSON: {exc}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path, follow_links=False) as fh:
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
    _, ed25519 = _crypto()
    data = _read(Path(path))
    key = _parse(data, private=True)
    if key is None:
        if _parse(data, private=False) is not None:
            raise EvidenceError(f"{path}: a public key; signing needs the Ed25519 private key")
        raise EvidenceError(f"{path}: not an unencrypted PEM or OpenSSH private key")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise EvidenceError(f"{path}: not an Ed25519 key")
    return key


def _public_key(path: Path):
    _, ed25519 = _crypto()
    data = _read(Path(path))
    key = _parse(data, private=False)
    if key is None:
        if _parse(data, private=True) is not None:
            # Refused, not used: a private key has no business on the verifying side.
            raise EvidenceError(f"{path}: a private key; verifying needs only its public key "
                                "(ssh-keygen -y -f KEY or openssl pkey -pubout -in KEY prints it)")
        raise EvidenceError(f"{path}: not a PEM or OpenSSH public key")
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise EvidenceError(f"{path}: not an Ed25519 key")
    return key


def _parse(data: bytes, private: bool):
    """The private (or public) key in `data`, PEM or OpenSSH, or None."""
    from cryptography.exceptions import UnsupportedAlgorithm

    serialization, _ = _crypto()
    if private:
        loaders = (partial(serialization.load_pem_private_key, password=None),
                   partial(serialization.load_ssh_private_key, password=None))
    else:
        loaders = (serialization.load_pem_public_key, serialization.load_ssh_public_key)
    for load in loaders:
        try:
            return load(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return None


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
        body = read_regular(root / MANIFEST, follow_links=False)
    except FileNotFoundError:
        return [f"{MANIFEST}: missing"]
    except OSError as exc:
        return [f"{MANIFEST}: unreadable: {exc.strerror or exc}"]
    problems = _signature(root, body, public_key)
    try:
        manifest = json_document(body)  # the bounds of every input: a bundle may have been edited
        listed = {str(f["path"]): str(f["sha256"]) for f in manifest["files"]}
    except ParseError as exc:
        return problems + [f"{MANIFEST}: malformed: {exc}"]
    except (KeyError, TypeError) as exc:
        return problems + [f"{MANIFEST}: malformed: {type(exc).__name__}: {exc}"]
    on_disk, named = _files(root, problems)
    for name in sorted(listed):
        if not _safe(name):
            problems.append(f"{name}: unsafe path in the manifest")
        elif name in named:
            continue
        elif name not in on_disk:
            problems.append(f"{name}: removed (listed in the manifest, missing from the bundle)")
        else:
            problems.extend(_changed(root, name, listed[name]))
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
    try:
        data = read_regular(root / SIGNATURE, follow_links=False)
    except FileNotFoundError:
        return [f"{SIGNATURE}: missing (the bundle is not signed)"]
    except OSError as exc:
        return [f"{SIGNATURE}: unreadable: {exc.strerror or exc}"]
    try:
        signature = base64.b64decode(data.strip(), validate=True)
        key.verify(signature, body)
    except Exception:  # InvalidSignature, binascii.Error, ValueError: all mean "does not verify"
        return [f"{SIGNATURE}: bad signature: {MANIFEST} was changed, or signed by another key"]
    return []


def _files(root: Path, problems: list[str]) -> tuple[set[str], set[str]]:
    """(regular files, everything else) in the bundle, relative to it; the others are named
    in `problems`: links, FIFOs, devices, and directories that cannot be listed."""
    others: list[Skipped] = []
    regular = {path.relative_to(root).as_posix() for path in walk(root, others)}
    named: set[str] = set()
    for other in others:
        name = Path(other.source).relative_to(root).as_posix()
        problems.append(f"{name}: {other.reason}")
        named.add(name)
    return regular, named


def _changed(root: Path, name: str, sha256: str) -> list[str]:
    try:
        if _sha256(root / name) == sha256:
            return []
    except OSError as exc:
        return [f"{name}: unreadable: {exc.strerror or exc}"]
    return [f"{name}: changed (SHA-256 differs from the manifest)"]


def _safe(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts and "\\" not in name
