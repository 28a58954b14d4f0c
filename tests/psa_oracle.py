"""Pod Security Admission (PSA) of a real kube-apiserver as the oracle for our PSS findings.

The corpus is every Pod fixture of the pod-security-admission module the apiserver was
built from (`test/testdata/{baseline,restricted}/v1.X/{pass,fail}`) plus our own edge cases
in fixtures/psa-corpus/. Each pod is created with `dryRun=All` in namespaces that enforce
`baseline` and `restricted`; PSA's answer (201, or 403 with its reasons) is the truth our
`pss:<level>:<control>` findings must equal, reason for reason.

This module holds no pytest code: corpus discovery, the message parser, the control ->
reason mapping and the oracle itself, so each part can be tested on its own.
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
GO_MOD = TESTS / "apiserver" / "go.mod"
OUR_CORPUS = REPO / "fixtures" / "psa-corpus"
PSA_MODULE = "k8s.io/pod-security-admission"
LEVELS = ("baseline", "restricted")

# --------------------------------------------------------------------------------------
# Our controls -> PSA's reasons.
#
# A rule names the Pod Security Standards control it evidences as `pss:<level>:<control>`.
# PSA names what it rejects by a fixed reason string per check (policy/check_*.go,
# `ForbiddenReason`). At evaluation level L:
#   * a `pss:baseline:*` control counts at both levels, a `pss:restricted:*` control only
#     at L=restricted (baseline is a subset of restricted);
#   * at L=restricted, PSA's restricted checks *override* two baseline checks
#     (`OverrideCheckIDs`): capabilities_restricted replaces capabilities_baseline and
#     restrictedVolumes replaces hostPathVolumes. The same violation is then reported under
#     the restricted check's reason, hence the second column below. (procMount_restricted
#     and seccompProfile_restricted override their baseline checks too, with the same
#     reason string, so they need no second value.)
# Every `pss:baseline:*` / `pss:restricted:*` control a rule uses must be listed here;
# an unknown one is an error, so the mapping cannot silently fall behind the rules.
# --------------------------------------------------------------------------------------

# control -> (reason at L=baseline, reason at L=restricted)
BASELINE_CONTROL_REASONS: dict[str, tuple[str, str]] = {
    "host-process": ("hostProcess", "hostProcess"),
    "host-namespaces": ("host namespaces", "host namespaces"),
    "privileged-containers": ("privileged", "privileged"),
    "capabilities": ("non-default capabilities", "unrestricted capabilities"),
    "hostpath-volumes": ("hostPath volumes", "restricted volume types"),
    "host-ports": ("hostPort", "hostPort"),
    "host-probes": ("probe or lifecycle host", "probe or lifecycle host"),
    "apparmor": ("forbidden AppArmor profile", "forbidden AppArmor profile"),
    "selinux": ("seLinuxOptions", "seLinuxOptions"),
    "proc-mount": ("procMount", "procMount"),
    "seccomp": ("seccompProfile", "seccompProfile"),
    "sysctls": ("forbidden sysctls", "forbidden sysctls"),
}

# control -> reason (these count at L=restricted only)
RESTRICTED_CONTROL_REASONS: dict[str, str] = {
    "volume-types": "restricted volume types",
    "privilege-escalation": "allowPrivilegeEscalation != false",
    "running-as-non-root": "runAsNonRoot != true",
    "running-as-non-root-user": "runAsUser=0",
    "seccomp": "seccompProfile",
    "capabilities": "unrestricted capabilities",
    "proc-mount": "procMount",
}

# `pss:` controls that are not about a pod spec (namespace posture); never compared to PSA.
NON_POD_PSS_CONTROLS = frozenset({"pss:enforcement"})

# Every reason PSA v1.35 can give (after normalising the AppArmor plural).
PSA_REASONS = frozenset(
    {r for pair in BASELINE_CONTROL_REASONS.values() for r in pair} | set(RESTRICTED_CONTROL_REASONS.values())
)


class UnknownControl(ValueError):
    """A rule names a `pss:` control this mapping does not know."""


def control_reason(control: str, level: str) -> str | None:
    """The PSA reason a finding with `control` stands for at evaluation `level`, if any.

    Controls outside `pss:` and the namespace-level ones return None; an unknown `pss:`
    control raises UnknownControl.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown evaluation level {level!r}")
    if not control.startswith("pss:") or control in NON_POD_PSS_CONTROLS:
        return None
    parts = control.split(":")
    if len(parts) == 3 and parts[1] == "baseline" and parts[2] in BASELINE_CONTROL_REASONS:
        at_baseline, at_restricted = BASELINE_CONTROL_REASONS[parts[2]]
        return at_baseline if level == "baseline" else at_restricted
    if len(parts) == 3 and parts[1] == "restricted" and parts[2] in RESTRICTED_CONTROL_REASONS:
        return RESTRICTED_CONTROL_REASONS[parts[2]] if level == "restricted" else None
    raise UnknownControl(
        f"unknown Pod Security Standards control {control!r}: add it to the mapping in {Path(__file__).name}"
    )


def unknown_controls(rules: Iterable[Any]) -> list[str]:
    """'RULE-ID: control' for every `pss:` control of `rules` the mapping does not know."""
    problems = []
    for rule in rules:
        for control in rule.controls:
            try:
                control_reason(control, "restricted")
            except UnknownControl:
                problems.append(f"{rule.id} ({rule.name}): {control}")
    return problems


# --------------------------------------------------------------------------------------
# PSA's message
# --------------------------------------------------------------------------------------

_VIOLATES = re.compile(r'violates PodSecurity "(?P<policy>[^"]*)": (?P<detail>.*)\Z', re.S)


class UnparsableMessage(ValueError):
    pass


def split_top_level(text: str) -> list[str]:
    """Split at ", " that is outside parentheses and outside Go-quoted ("...") strings."""
    parts, depth, quoted, escaped, start = [], 0, False, False, 0
    for i, ch in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0 and text.startswith(", ", i):
            parts.append(text[start:i])
            start = i + 2
    parts.append(text[start:])
    return parts


def normalise_reason(reason: str) -> str:
    reason = reason.strip()
    return "forbidden AppArmor profile" if reason == "forbidden AppArmor profiles" else reason


def parse_violation(message: str) -> tuple[str, frozenset[str]]:
    """(policy, reasons) from `... violates PodSecurity "baseline:latest": R (detail), R2 (d2)`."""
    match = _VIOLATES.search(message)
    if not match:
        raise UnparsableMessage(f"not a PodSecurity rejection: {message!r}")
    reasons = set()
    for part in split_top_level(match.group("detail")):
        reason = part.split(" (", 1)[0] if "(" in part else part
        reason = normalise_reason(reason)
        if not reason:
            raise UnparsableMessage(f"empty reason in {message!r}")
        reasons.add(reason)
    return match.group("policy"), frozenset(reasons)


# --------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------


# Upstream fixtures a real API server refuses as invalid (HTTP 422) before PSA sees them:
# PSA generates its fixtures for its own unit tests, which skip API validation. They are
# left out of the comparison, but the oracle checks that each is still refused with this
# message, so the list cannot go stale (an accepted one is a corpus error).
UPSTREAM_INVALID: dict[str, str] = {
    f"psa:{level}/v1.35/fail/{name}": "`hostUsers` must be false to use `Unmasked`"
    for level in LEVELS
    for name in ("procmount0.yaml", "procmount1.yaml")
}


@dataclass(frozen=True)
class CorpusPod:
    id: str  # "psa:restricted/v1.35/fail/privileged0.yaml" or "fixtures/psa-corpus/x.yaml"
    path: Path
    obj: Mapping[str, Any] = field(repr=False)  # as a YAML 1.1 reader (PyYAML) read it


@dataclass
class Corpus:
    pods: list[CorpusPod]
    errors: list[str]  # files that must be pods and are not, or cannot be read
    skipped: list[str]  # module fixtures that are not Pods (skipped by design)
    psa_dir: Path | None = None


def psa_module_version(go_mod: Path = GO_MOD) -> str:
    """The pod-security-admission version the apiserver is built with (replace wins)."""
    text = go_mod.read_text()
    replaced = re.search(rf"^\s*{re.escape(PSA_MODULE)}\s*=>\s*\S+\s+(v\S+)", text, re.M)
    if replaced:
        return replaced.group(1)
    required = re.search(rf"^\s*{re.escape(PSA_MODULE)}\s+(v\S+)", text, re.M)
    if required and required.group(1) != "v0.0.0":
        return required.group(1)
    raise LookupError(f"{PSA_MODULE} is neither replaced nor required at a real version in {go_mod}")


def _go(*args: str, cwd: Path | None = None, timeout: float = 60) -> str | None:
    try:
        proc = subprocess.run(["go", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def gomodcache() -> Path:
    out = _go("env", "GOMODCACHE", timeout=30)
    if out and out.strip():
        return Path(out.strip())
    gopath = os.environ.get("GOPATH", "").split(os.pathsep)[0]
    return Path(gopath) / "pkg" / "mod" if gopath else Path.home() / "go" / "pkg" / "mod"


def _escape_module_path(path: str) -> str:
    # The module cache spells upper-case letters as "!" + lower case.
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), path)


def psa_module_dir(version: str, download: bool = True) -> Path | None:
    """The module's directory in the Go module cache; downloaded (verified by go.sum) if absent."""
    candidate = gomodcache() / f"{_escape_module_path(PSA_MODULE)}@{version}"
    if candidate.is_dir():
        return candidate
    if not download:
        return None
    out = _go("mod", "download", "-json", f"{PSA_MODULE}@{version}", cwd=GO_MOD.parent, timeout=600)
    if out:
        try:
            info = json.loads(out)
        except ValueError:
            return None
        directory = info.get("Dir")
        if directory and Path(directory).is_dir():
            return Path(directory)
    return None


def psa_fixture_files(module_dir: Path, k8s_version: str) -> list[Path]:
    """test/testdata/{baseline,restricted}/v1.X/{pass,fail}/*.yaml for release v1.X.Y."""
    minor = ".".join(k8s_version.lstrip("v").split(".")[:2])
    files = []
    for level in LEVELS:
        for outcome in ("pass", "fail"):
            files.extend(sorted((module_dir / "test" / "testdata" / level / f"v{minor}" / outcome).glob("*.yaml")))
    return files


def _read_pod(path: Path) -> tuple[Any, str | None]:
    """(the single document, None) or (None, problem)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        return None, f"cannot read: {exc}"
    if len(docs) != 1:
        return None, f"holds {len(docs)} documents, expected exactly one Pod"
    return docs[0], None


def _is_pod(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "Pod" and doc.get("apiVersion") == "v1"


def load_corpus(psa_dir: Path | None, k8s_version: str, ours: Path = OUR_CORPUS) -> Corpus:
    corpus = Corpus(pods=[], errors=[], skipped=[], psa_dir=psa_dir)
    if psa_dir is not None:
        for path in psa_fixture_files(psa_dir, k8s_version):
            pod_id = "psa:" + str(path.relative_to(psa_dir / "test" / "testdata"))
            doc, problem = _read_pod(path)
            if problem:
                corpus.errors.append(f"{pod_id}: {problem}")
            elif not _is_pod(doc):
                kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
                corpus.skipped.append(f"{pod_id}: kind {kind}, not a v1 Pod")
            else:
                corpus.pods.append(CorpusPod(pod_id, path, doc))
    for path in sorted(ours.glob("*.yaml")):
        pod_id = str(path.relative_to(REPO))
        doc, problem = _read_pod(path)
        if problem is None and not _is_pod(doc):
            problem = "not a v1 Pod (every file in our corpus must be one)"
        if problem:
            corpus.errors.append(f"{pod_id}: {problem}")
        else:
            corpus.pods.append(CorpusPod(pod_id, path, doc))
    return corpus


def first_difference(a: Any, b: Any, pointer: str = "") -> str | None:
    """JSON pointer of the first place two decoded documents differ (types included)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{pointer}/{key}"
            found = first_difference(a[key], b[key], f"{pointer}/{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return pointer or "/"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{pointer}/{i}")
            if found is not None:
                return found
        return None
    if type(a) is not type(b) or a != b:
        return pointer or "/"
    return None


# bool (not *bool) fields of the core/v1 pod API that a pod fixture may spell out as false
_PLAIN_BOOL_FIELDS = frozenset({"hostNetwork", "hostPID", "hostIPC", "readOnly", "stdin", "stdinOnce", "tty"})


def dropped_fields(sent: Any, returned: Any, pointer: str = "") -> list[str]:
    """Pointers of values we sent that the API server did not keep (e.g. fields of a
    disabled feature gate, which it drops silently): PSA judged a different pod then."""
    if sent is None:
        return []
    if isinstance(sent, dict):
        if not isinstance(returned, dict):
            return [] if not sent and returned is None else [pointer or "/"]
        out = []
        for key, value in sent.items():
            if key not in returned:
                # Go's `omitempty` leaves zero values of plain fields out of the response
                # (hostPort: 0, host: "", hostNetwork: false): missing, yet kept. A false
                # *bool (hostUsers, privileged ...) is always returned, so its absence counts.
                if value is None or (type(value) in (int, str, dict, list) and not value):
                    continue
                if value is False and key in _PLAIN_BOOL_FIELDS:
                    continue
                out.append(f"{pointer}/{key}")
            else:
                out.extend(dropped_fields(value, returned[key], f"{pointer}/{key}"))
        return out
    if isinstance(sent, list):
        if not isinstance(returned, list) or len(returned) != len(sent):
            return [] if not sent and returned is None else [pointer or "/"]
        return [
            p
            for i, (x, y) in enumerate(zip(sent, returned, strict=True))
            for p in dropped_fields(x, y, f"{pointer}/{i}")
        ]
    return [] if sent == returned and type(sent) is type(returned) else [pointer or "/"]


# --------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    reasons: frozenset[str]
    message: str  # PSA's full message ("" when admitted)


class PsaOracle:
    """Namespaces enforcing each level (fresh names: nothing deletes namespaces here) and
    one enforcing `privileged`, where every valid pod is admitted, to check that the API
    server accepts and keeps the pod as written."""

    CHECK_LEVEL = "privileged"

    def __init__(self, server: Any, ready_timeout: float = 20.0) -> None:
        self.server = server
        self.ready_timeout = ready_timeout
        run = uuid.uuid4().hex[:8]
        self.namespaces = {level: f"psa-{level}-{run}" for level in (*LEVELS, self.CHECK_LEVEL)}

    def setup(self) -> None:
        for level, ns in self.namespaces.items():
            body = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {
                        "pod-security.kubernetes.io/enforce": level,
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
            }
            status, resp = self.server.request("POST", "/api/v1/namespaces", body)
            if status != 201:
                raise RuntimeError(f"creating namespace {ns}: HTTP {status}: {resp}")
        self._wait_until_enforced()

    def _wait_until_enforced(self) -> None:
        """PSA reads namespace labels through an informer: wait until both policies bite."""
        probe = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "psa-ready-probe"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause",
                                     "securityContext": {"privileged": True}}]},
        }
        deadline = time.monotonic() + self.ready_timeout
        pending = set(LEVELS)
        last: dict[str, Any] = {}
        while pending and time.monotonic() < deadline:
            for level in sorted(pending):
                status, resp = self._dry_run(self.namespaces[level], probe)
                last[level] = (status, resp)
                if status == 403 and "violates PodSecurity" in _message(resp):
                    pending.discard(level)
            if pending:
                time.sleep(0.2)
        if pending:
            raise RuntimeError(f"PodSecurity not enforced after {self.ready_timeout:.0f}s: {last}")

    def _dry_run(self, namespace: str, pod: Mapping[str, Any]) -> tuple[int, Any]:
        # Strict field validation: an unknown or duplicate field is an error (422), never
        # dropped with a warning, so PSA always judges the pod the file describes.
        return self.server.request(
            "POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All&fieldValidation=Strict", pod
        )

    @staticmethod
    def prepare(pod: CorpusPod, index: int) -> dict[str, Any]:
        """The pod as sent: no namespace/resourceVersion/uid/status, a unique valid name."""
        obj = copy.deepcopy(dict(pod.obj))
        obj.pop("status", None)
        meta = dict(obj.get("metadata") or {})
        for key in ("namespace", "resourceVersion", "uid", "generateName", "creationTimestamp"):
            meta.pop(key, None)
        stem = re.sub(r"[^a-z0-9]+", "-", pod.path.stem.lower()).strip("-") or "pod"
        meta["name"] = f"c{index:03d}-{stem}"[:63].rstrip("-")
        obj["metadata"] = meta
        return obj

    def judge(self, pod: CorpusPod, index: int) -> tuple[dict[str, Verdict], list[str]]:
        """PSA's verdict per level, and corpus errors (anything but 201/PSA's 403)."""
        body = self.prepare(pod, index)
        verdicts: dict[str, Verdict] = {}
        errors: list[str] = []
        status, resp = self._dry_run(self.namespaces[self.CHECK_LEVEL], body)
        expected_invalid = UPSTREAM_INVALID.get(pod.id)
        if expected_invalid is not None:
            if status != 422 or expected_invalid not in _message(resp):
                errors.append(
                    f"{pod.id}: listed in UPSTREAM_INVALID as refused with {expected_invalid!r}, "
                    f"but got HTTP {status}: {_message(resp)}"
                )
            return verdicts, errors
        if status != 201:
            errors.append(f"{pod.id}: not accepted by the API server at all: HTTP {status}: {_message(resp)}")
            return verdicts, errors
        dropped = [p for p in dropped_fields(body, resp) if not p.startswith("/metadata/namespace")]
        if dropped:
            errors.append(f"{pod.id}: the API server dropped or changed {', '.join(dropped)} (feature gate off?)")
        for level in LEVELS:
            status, resp = self._dry_run(self.namespaces[level], body)
            if status == 201:
                verdicts[level] = Verdict(frozenset(), "")
                continue
            message = _message(resp)
            if status != 403:
                errors.append(f"{pod.id} [{level}]: HTTP {status}: {message}")
                continue
            try:
                policy, reasons = parse_violation(message)
            except UnparsableMessage as exc:
                errors.append(f"{pod.id} [{level}]: HTTP 403 but {exc}")
                continue
            if policy != f"{level}:latest":
                errors.append(f"{pod.id} [{level}]: judged by policy {policy!r}, expected {level}:latest")
                continue
            unknown = reasons - PSA_REASONS
            if unknown:
                errors.append(f"{pod.id} [{level}]: PSA reasons unknown to the mapping: {sorted(unknown)}")
            verdicts[level] = Verdict(reasons, message)
        return verdicts, errors


def _message(resp: Any) -> str:
    if isinstance(resp, dict):
        return str(resp.get("message", resp))
    return str(resp)


# --------------------------------------------------------------------------------------
# Our side
# --------------------------------------------------------------------------------------


def our_reasons(findings: Iterable[Any], level: str) -> dict[str, set[str]]:
    """reason -> ids of the rules whose findings stand for it at `level`."""
    out: dict[str, set[str]] = {}
    for finding in findings:
        for control in finding.controls:
            reason = control_reason(control, level)
            if reason is not None:
                out.setdefault(reason, set()).add(finding.rule_id)
    return out


@dataclass(frozen=True)
class Disagreement:
    pod: str
    level: str
    ours: Mapping[str, set[str]]  # reason -> rule ids
    psa: frozenset[str]
    psa_message: str

    def row(self) -> tuple[str, str, str, str, str]:
        def fmt(reasons: Iterable[str], rules: Mapping[str, set[str]] | None = None) -> str:
            items = []
            for r in sorted(reasons):
                items.append(f"{r}[{','.join(sorted(rules[r]))}]" if rules else r)
            return "; ".join(items) or "-"

        only_ours = set(self.ours) - self.psa
        only_psa = self.psa - set(self.ours)
        return (self.pod, self.level, fmt(only_ours, self.ours), fmt(only_psa), fmt(set(self.ours) & self.psa))


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    widths[-1] = 0  # the last column is not padded
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * max(w, len(h)) for w, h in zip(widths, header, strict=True)))
    return "\n".join(lines)
