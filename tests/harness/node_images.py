"""Container images for the real-node tests, built offline as OCI image archives.

Nothing can be pulled on the test machine, so both images are assembled from what it has:
- pause: a static Go binary (tests/images/pause), the pod sandbox's only process;
- probe: the machine's own Python (the interpreter, its standard library and the shared
  libraries `ldd` says they load), the installed distributions the project depends on, and
  the project's wheel built from this tree. It runs `k8s-isolation-audit` as uid 65532 like
  the image the Dockerfile builds (the Dockerfile stays the users' way to build it).

Layers are uncompressed tars with fixed owners and times, so the same inputs give the same
digests. `ctr -n k8s.io images import` reads the archives (see node.Containerd.import_image).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
PAUSE_SOURCE = TESTS / "images" / "pause"
PROJECT = "k8s-isolation-audit"

PAUSE_REF = "localhost/k8s-isolation-audit-test/pause:1"
PROBE_REF = "localhost/k8s-isolation-audit-test/probe:test"
PROBE_UID = 65532  # the Dockerfile's user; the probe Jobs run as it

# Parts of the standard library a probe never imports: tests, GUIs, the static library.
_STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages",
                "__pycache__", "pydoc_data"}
_STDLIB_SKIP_PREFIX = ("config-",)


class ImageError(RuntimeError):
    """An image could not be built from what the machine has."""


@dataclass(frozen=True)
class Image:
    ref: str
    archive: Path


# --- OCI layout ---------------------------------------------------------------------------

class Layer:
    """An uncompressed layer tar built in memory: regular files, symlinks and directories."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buffer, mode="w", format=tarfile.PAX_FORMAT)
        self._dirs: set[str] = set()

    def _parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.directory("/".join(parts[:i]))

    def _info(self, path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(path)
        info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, 0, 0, 0
        return info

    def directory(self, path: str, mode: int = 0o755) -> None:
        path = path.strip("/")
        if not path or path in self._dirs:
            return
        self._parents(path)
        self._dirs.add(path)
        self._tar.addfile(self._info(path, tarfile.DIRTYPE, mode))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        path = path.strip("/")
        self._parents(path)
        info = self._info(path, tarfile.REGTYPE, mode)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))

    def copy(self, source: Path, path: str) -> None:
        """A host file, symlinks followed, keeping its executable bit."""
        mode = 0o755 if os.access(source, os.X_OK) else 0o644
        self.file(path, source.read_bytes(), mode)

    def symlink(self, path: str, target: str) -> None:
        path = path.strip("/")
        self._parents(path)
        info = self._info(path, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self._tar.addfile(info)

    def finish(self) -> bytes:
        self._tar.close()
        return self._buffer.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes, media_type: str) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def write_oci_archive(path: Path, ref: str, layer: bytes, config: dict) -> Image:
    """One-layer image `ref` as an OCI image-layout tar, named the way containerd imports it."""
    blobs: dict[str, bytes] = {}
    layer_desc = _blob(blobs, layer, "application/vnd.oci.image.layer.v1.tar")
    image_config = {
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }
    config_desc = _blob(blobs, json.dumps(image_config, sort_keys=True).encode(),
                        "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = _blob(blobs, json.dumps(manifest, sort_keys=True).encode(),
                          "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"io.containerd.image.name": ref,
                                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest_desc]}
    out = Layer()
    out.file("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    out.file("index.json", json.dumps(index, sort_keys=True).encode())
    for digest, data in sorted(blobs.items()):
        out.file(f"blobs/sha256/{digest.split(':', 1)[1]}", data)
    path.write_bytes(out.finish())
    return Image(ref, path)


# --- pause --------------------------------------------------------------------------------

def build_pause(out_dir: Path) -> Image:
    with tempfile.TemporaryDirectory(prefix="k8s-audit-pause-") as tmp:
        binary = Path(tmp) / "pause"
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        proc = subprocess.run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "."],
                              cwd=PAUSE_SOURCE, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise ImageError(f"building the pause binary failed: {proc.stderr[-2000:]}")
        layer = Layer()
        layer.copy(binary, "pause")
    config = {"Entrypoint": ["/pause"], "User": "65535:65535", "WorkingDir": "/"}
    return write_oci_archive(out_dir / "pause.oci.tar", PAUSE_REF, layer.finish(), config)


# --- probe --------------------------------------------------------------------------------

def build_wheel(out_dir: Path) -> Path:
    """The project's wheel from this tree, as its packaging test builds it."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    wheels = sorted(out_dir.glob("k8s_isolation_audit-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ImageError(f"building the project's wheel failed: {proc.stderr[-2000:]}")
    return wheels[-1]


def _requirement_closure(name: str) -> list[metadata.Distribution]:
    """The installed distributions `name` needs at run time (markers evaluated, no extras)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        dist = metadata.distribution(current)
        for spec in dist.requires or ():
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            key = re.sub(r"[-_.]+", "-", req.name).lower()
            if key not in seen:
                try:
                    seen[key] = metadata.distribution(req.name)
                except metadata.PackageNotFoundError as exc:
                    raise ImageError(f"{current} needs {req.name}, which is not installed") from exc
                todo.append(req.name)
    return [seen[k] for k in sorted(seen)]


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _shared_libraries(elves: Iterable[Path]) -> set[Path]:
    libs: set[Path] = set()
    for elf in elves:
        proc = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, timeout=60)
        for line in proc.stdout.splitlines():
            match = re.search(r"(/\S+) \(0x", line)
            if match:
                libs.add(Path(match.group(1)))
    return libs


def _stdlib_files(stdlib: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in _STDLIB_SKIP and not d.startswith(_STDLIB_SKIP_PREFIX))
        for name in sorted(files):
            if not name.endswith((".pyc", ".a")):
                yield Path(root) / name


def build_probe(out_dir: Path, wheel: Path) -> Image:
    prefix = "/usr/local"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = f"{prefix}/lib/{version}/site-packages"
    layer = Layer()
    elves: list[Path] = []

    interpreter = Path(os.path.realpath(sys.executable))
    layer.copy(interpreter, f"{prefix}/bin/{version}")
    layer.symlink(f"{prefix}/bin/python3", version)
    elves.append(interpreter)
    for path in _stdlib_files(stdlib):
        layer.copy(path, f"{prefix}/lib/{version}/{path.relative_to(stdlib)}")
        if path.suffix == ".so":
            elves.append(path)

    for dist in _requirement_closure(PROJECT):
        for entry in dist.files or ():
            source = Path(dist.locate_file(entry))
            if entry.suffix == ".pyc" or "__pycache__" in entry.parts or not source.is_file():
                continue
            target = os.path.normpath(f"{site}/{entry}")
            if not target.startswith(site + "/"):
                continue  # console scripts and data outside site-packages: the probe needs none
            layer.copy(source, target)
            if _is_elf(source):
                elves.append(source)

    with zipfile.ZipFile(wheel) as whl:
        for name in sorted(whl.namelist()):
            if not name.endswith("/"):
                layer.file(f"{site}/{name}", whl.read(name))

    for lib in sorted(_shared_libraries(elves)):
        if str(lib).startswith(sys.prefix + "/"):
            layer.copy(lib, f"{prefix}/lib/{lib.name}")
        else:
            layer.copy(lib, str(lib))
    layer.file(f"{prefix}/bin/{PROJECT}",
               f"#!{prefix}/bin/{version}\nimport sys\nfrom auditor.cli import run\nsys.exit(run())\n".encode(),
               0o755)
    layer.file("etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\n"
                             f"audit:x:{PROBE_UID}:{PROBE_UID}::/nonexistent:/sbin/nologin\n".encode())
    layer.file("etc/group", f"root:x:0:\naudit:x:{PROBE_UID}:\n".encode())
    layer.directory("tmp", 0o1777)
    config = {
        "Entrypoint": [f"{prefix}/bin/{PROJECT}"], "Cmd": ["--help"], "User": f"{PROBE_UID}:{PROBE_UID}",
        "WorkingDir": "/",
        "Env": [f"PATH={prefix}/bin:/usr/bin:/bin", f"LD_LIBRARY_PATH={prefix}/lib",
                "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"],
    }
    return write_oci_archive(out_dir / "probe.oci.tar", PROBE_REF, layer.finish(), config)


def build_all(out_dir: Path) -> tuple[Image, Image]:
    """(pause, probe) archives in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return build_pause(out_dir), build_probe(out_dir, build_wheel(out_dir))


if __name__ == "__main__":
    for image in build_all(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(image.ref, image.archive)
