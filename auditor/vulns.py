"""Container-escape vulnerabilities of the kernel and runtimes, and a matcher for versions.

The data is `auditor/data/escape-cves.yaml` (checked against its schema when first read):
per CVE, its source (title, URL, date), reference URLs, and ranges of upstream releases from
`introduced` (inclusive) to `fixed` (exclusive). A range's `fixed` release names the
stable branch (major.minor) it fixes and counts for that branch only, so 5.15.25 fixes
5.15.x from .25 on but says nothing about 5.16.x.

Versions are read as nodes and probes report them (`uname -r`, `containerd://1.6.20`).
Only the upstream base is compared; a distribution suffix (`-1051-aws`, `.el8_9.x86_64`,
`-0ubuntu1`) is kept aside. Distributions backport fixes without changing the base, so a
vendor build inside an affected range is only *possibly* affected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from auditor.citation import DATA as DATA_DIR
from auditor.citation import SCHEMAS, Citation, citation, load_checked

__all__ = [
    "AFFECTED", "POSSIBLY_AFFECTED", "NOT_AFFECTED", "COMPONENTS",
    "Version", "Range", "Vulnerability", "Match",
    "parse_kernel", "parse_runtime", "entries", "match",
]

DATA = DATA_DIR / "escape-cves.yaml"
SCHEMA = SCHEMAS / "escape-cves.schema.json"

AFFECTED = "affected"
POSSIBLY_AFFECTED = "possibly-affected"
NOT_AFFECTED = "not-affected"

COMPONENTS = ("linux-kernel", "runc", "containerd", "cri-o", "docker")
# The scheme of a node's status.nodeInfo.containerRuntimeVersion, per component.
_SCHEMES = {"containerd": "containerd", "docker": "docker", "cri-o": "cri-o", "crio": "cri-o", "runc": "runc"}
_PRE_RANK = {"alpha": 0, "beta": 1, "rc": 2}

_KERNEL = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?(.*)", re.DOTALL)
_RUNTIME = re.compile(r"v?(\d+(?:\.\d+){0,3})(?:-?(alpha|beta|rc)\.?(\d+))?(.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Version:
    """An upstream release plus whatever a vendor appended to it."""

    release: tuple[int, ...]          # (5, 15, 0) for 5.15.0-1051-aws
    pre: tuple[str, int] | None       # ("rc", 6) for 5.17-rc6 and 1.0.0-rc6
    suffix: str                       # "-1051-aws"; "" for an upstream build
    raw: str

    @property
    def key(self) -> tuple[int, ...]:
        """Comparable tuple: 5.9 == 5.9.0, and 1.0.0-rc93 < 1.0.0."""
        numbers = (self.release + (0, 0, 0, 0))[:4]
        if self.pre is None:
            return numbers + (1, 0, 0)
        return numbers + (0, _PRE_RANK[self.pre[0]], self.pre[1])

    @property
    def branch(self) -> tuple[int, int]:
        release = (*self.release, 0)
        return release[0], release[1]

    @property
    def vendor_build(self) -> bool:
        return bool(self.suffix)

    @property
    def base(self) -> str:
        """The upstream part as written: `19.03.1` of `19.03.1-ce`, `5.15.0` of `5.15.0-1051-aws`."""
        return self.raw[: len(self.raw) - len(self.suffix)]

    def __str__(self) -> str:
        return self.raw


def parse_kernel(release: str) -> Version:
    """`5.15.0-1051-aws`, `6.1.79-99.167.amzn2023.x86_64`, `6.8.0-rc3`, `5.10.102`."""
    text = release.strip()
    m = _KERNEL.fullmatch(text)
    if not m:
        raise ValueError(f"not a kernel release: {release!r}")
    numbers = tuple(int(g) for g in m.group(1, 2, 3) if g is not None)
    pre = ("rc", int(m.group(4))) if m.group(4) else None
    return Version(numbers, pre, m.group(5), text)


def parse_runtime(version: str, component: str | None = None) -> Version:
    """`containerd://1.6.20`, `docker://24.0.7`, `cri-o://1.28.1`, `1.1.5`, `1.0.0-rc93`.

    With `component`, a `scheme://` prefix naming another runtime is an error.
    """
    text = version.strip()
    if "://" in text:
        scheme, text = text.split("://", 1)
        named = _SCHEMES.get(scheme.lower())
        if named is None:
            raise ValueError(f"unknown runtime scheme {scheme!r} in {version!r}")
        if component is not None and named != component:
            raise ValueError(f"{version!r} is a {named} version, not {component}")
    m = _RUNTIME.fullmatch(text)
    if not m:
        raise ValueError(f"not a runtime version: {version!r}")
    numbers = tuple(int(n) for n in m.group(1).split("."))
    pre = (m.group(2).lower(), int(m.group(3))) if m.group(2) else None
    return Version(numbers, pre, m.group(4), text)


@dataclass(frozen=True)
class Range:
    introduced: Version
    fixed: Version

    def covers(self, version: Version) -> bool:
        return self.introduced.key <= version.key < self.fixed.key


@dataclass(frozen=True)
class Vulnerability:
    id: str
    name: str
    component: str
    summary: str
    severity: str
    affected: tuple[Range, ...]
    requires: tuple[str, ...]
    mitigations: tuple[str, ...]
    source: Citation
    references: tuple[str, ...]
    note: str | None = None

    @property
    def introduced(self) -> Version:
        return min((r.introduced for r in self.affected), key=lambda v: v.key)

    def fixes(self) -> str:
        return ", ".join(r.fixed.base for r in sorted(self.affected, key=lambda r: r.fixed.key))


@dataclass(frozen=True)
class Match:
    entry: Vulnerability
    verdict: str      # AFFECTED, POSSIBLY_AFFECTED or NOT_AFFECTED
    reason: str


@lru_cache(maxsize=1)
def entries() -> tuple[Vulnerability, ...]:
    """The curated data, loaded once (the test suite holds it to its schema)."""
    _, data = load_checked(DATA, "escape-CVE data", "escape-cves.schema.json", shipped=True)
    parse = {"linux-kernel": parse_kernel}
    result = []
    for e in data["entries"]:
        read = parse.get(e["component"], parse_runtime)
        ranges = tuple(Range(read(r["introduced"]), read(r["fixed"])) for r in e["affected"])
        result.append(Vulnerability(
            id=e["id"], name=e["name"], component=e["component"], summary=e["summary"],
            severity=e["severity"], affected=ranges, requires=tuple(e["requires"]),
            mitigations=tuple(e["mitigations"]), source=citation(e["source"]), references=tuple(e["references"]),
            note=e.get("note"),
        ))
    return tuple(result)


def match(component: str, version_string: str) -> list[Match]:
    """Judge `version_string` of `component` against every entry for that component."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)}")
    if component == "linux-kernel":
        version = parse_kernel(version_string)
    else:
        version = parse_runtime(version_string, component)
    return [_judge(e, version) for e in entries() if e.component == component]


def _judge(entry: Vulnerability, v: Version) -> Match:
    kernel = entry.component == "linux-kernel"
    backports = "distribution kernels backport fixes" if kernel else "vendor builds backport fixes"
    numbered = re.match(r"v?(\d+\.\d+)", v.base)
    branch = numbered.group(1) if numbered else v.base
    own = [r for r in entry.affected if r.fixed.branch == v.branch]
    if own:
        fix = min(own, key=lambda r: r.fixed.key)
        if v.key >= fix.fixed.key:
            return Match(entry, NOT_AFFECTED, f"{v.base} is at or past the {branch} branch fix {fix.fixed.base}")
        covering = fix if fix.covers(v) else None
        where = f"below the {branch} branch fix {fix.fixed.base} ({_since(fix.introduced)})"
    else:
        covering = next((r for r in entry.affected if r.covers(v)), None)
        where = f"{_since(entry.introduced)}, and the {branch} branch got no fix (fixed in {entry.fixes()})"
    see_note = "; see the entry's note" if entry.note else ""
    if covering is not None:
        if v.vendor_build:
            return Match(entry, POSSIBLY_AFFECTED,
                         f"base version {v.base} of {v.raw} is {where}, but {backports}; "
                         f"check the vendor's advisory{see_note}")
        return Match(entry, AFFECTED, f"{v.base} is {where}{see_note}")
    if v.key < entry.introduced.key:
        if kernel and v.vendor_build:
            # RHEL-style kernels carry features far newer than their base version.
            return Match(entry, POSSIBLY_AFFECTED,
                         f"base version {v.base} of {v.raw} predates the upstream introduction in "
                         f"{entry.introduced.base}, but distribution kernels backport newer code as well "
                         f"as fixes; check the vendor's advisory")
        return Match(
            entry, NOT_AFFECTED, f"{v.base} predates the vulnerable code (introduced in {entry.introduced.base})"
        )
    return Match(entry, NOT_AFFECTED, f"{v.base} is newer than every affected range (fixed in {entry.fixes()})")


def _since(introduced: Version) -> str:
    if not any(introduced.release):
        return "vulnerable in every earlier release"
    return f"vulnerable since {introduced.base}"
