"""Helm charts and Kustomize directories, rendered by their own tools before the audit.

A chart's templates and an overlay's patches are not objects until `helm template` or
`kustomize build` (`kubectl kustomize`) has run. Each directory is rendered by a subprocess
bounded in time and output size, with no network and none of the user's tool configuration;
its stderr is never read (it may quote values). The output goes through the one parse path,
and each object points at the file that produced it: the template named by Helm's
`# Source:` comment, or the resource file named by kustomize's origin annotation. Without
the tool, the directory is named as not audited, with the command to run instead.
"""
from __future__ import annotations

import bisect
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Collection, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..model import NotObject, Resource, Skipped
from .limits import Limits
from .not_objects import kustomize_file
from .objects import extract
from .parsing import ParseError, TooLarge, read_input, yaml_documents

CHART = "Chart.yaml"
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")  # kustomize's order
MARKERS = frozenset({CHART, *KUSTOMIZATIONS})
RENDER_SECONDS = 120  # a large chart renders in a few seconds; a hung tool must not hang the scan
ORIGIN = "config.kubernetes.io/origin"
# Anything that would leave the machine goes to a closed port on loopback instead, and git
# (kustomize's remote bases) may use local repositories only.
_NO_NETWORK = {
    **{name: "http://127.0.0.1:9" for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                               "http_proxy", "https_proxy", "all_proxy")},
    "NO_PROXY": "", "no_proxy": "", "GIT_ALLOW_PROTOCOL": "file", "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass(frozen=True, slots=True)
class Unit:
    """A directory rendered as one input: a Helm chart or a kustomization."""

    directory: Path
    display: str
    chart: bool  # else a kustomization

    @property
    def what(self) -> str:
        return "chart" if self.chart else "kustomization"


def is_unit(names: Collection[str]) -> bool:
    return not MARKERS.isdisjoint(names)


def unit_at(directory: Path, display: str) -> Unit | None:
    """The unit `directory` is, if it holds a Chart.yaml or a kustomization file."""
    try:
        names = set(os.listdir(directory))
    except OSError:
        return None  # the walk that found it names a directory it cannot list
    if not is_unit(names):
        return None
    return Unit(directory, display, chart=CHART in names)


def render(unit: Unit, limits: Limits) -> Iterator[Resource | Skipped | NotObject]:
    if unit.chart:
        chart = _first_document(unit.directory / CHART, limits)
        if isinstance(chart, dict) and chart.get("type") == "library":
            yield NotObject(unit.display, "a Helm library chart (rendered with the charts that use it)")
            return
    else:
        component = yield from _kustomization_kind(unit, limits)
        if component:
            return
    command = _command(unit.chart)
    if command is None:
        yield Skipped(unit.display, _missing_tool(unit))
        return
    with tempfile.TemporaryDirectory(prefix="k8s-isolation-audit-render-") as scratch:
        target = unit.directory.resolve() if unit.chart else _origin_wrapper(unit.directory, Path(scratch))
        outcome = _run([*command, str(target)], Path(scratch), limits.max_file_bytes)
        if isinstance(outcome, str):
            tool = f"{Path(command[0]).name} {command[1]}"
            note = _dependencies_note(unit, limits)
            yield Skipped(unit.display, f"{unit.what} not rendered: `{tool}` {outcome}{note}")
            return
        try:
            text = outcome.decode()
        except UnicodeDecodeError as exc:
            yield Skipped(unit.display, f"{unit.what} not rendered: its output is not UTF-8 text (byte {exc.start})")
            return
        del outcome
        if unit.chart:
            yield from _chart_objects(unit, text, limits)
        else:
            yield from _kustomize_objects(unit, text, Path(scratch, "wrapper"), limits)


# -- running the tool ---------------------------------------------------------------------------

# The commands that render a chart, and a kustomization, in the order they are looked for.
_COMMANDS = {True: (("helm", "template"),), False: (("kustomize", "build"), ("kubectl", "kustomize"))}


def _command(chart: bool) -> list[str] | None:
    for tool, verb in _COMMANDS[chart]:
        found = shutil.which(tool, path=_search_path())
        if found:
            return [found, verb]
    return None


def _search_path() -> str:
    """PATH without its relative entries ('.', ''): scanning a repository from inside it must
    not run a `helm` that the repository ships."""
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(entry for entry in entries if os.path.isabs(entry))


def _missing_tool(unit: Unit) -> str:
    tool, run = ("helm", "helm template") if unit.chart else ("kustomize or kubectl", "kubectl kustomize")
    return (f"{unit.what} not rendered: {tool} not on PATH, so the audit is partial; "
            f"run `{run} {shlex.quote(unit.display)} | k8s-isolation-audit scan -`")


def _run(argv: list[str], scratch: Path, limit: int) -> bytes | str:
    """The tool's stdout, or why there is none (a phrase that quotes nothing the tool said)."""
    home = scratch / "home"
    home.mkdir()
    env = {"PATH": _search_path(), "HOME": str(home), "KUBECONFIG": os.devnull,
           "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data"), **_NO_NETWORK}
    output = scratch / "rendered.yaml"

    def bound_output() -> None:  # past the limit the tool's write fails (or SIGXFSZ ends it)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit + 1, limit + 1))

    with output.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL,
                                cwd=home, env=env, start_new_session=True, preexec_fn=bound_output)
        try:
            status = proc.wait(timeout=RENDER_SECONDS)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            _end_group(proc)
    if status is None:
        return f"did not finish within {RENDER_SECONDS} s"
    if output.stat().st_size > limit:
        return f"wrote more than the {limit}-byte input limit"
    if status != 0:
        return f"failed (exit status {status}); run it to see why"
    try:
        return read_input(output, None, limit)
    except (TooLarge, OSError):
        return f"wrote more than the {limit}-byte input limit"


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """Whatever the tool started (git, plugins) ends with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# -- Helm ---------------------------------------------------------------------------------------

_SOURCE = re.compile(r"^---[ \t]*\n# Source: (.+)$", re.M)


def _chart_objects(unit: Unit, text: str, limits: Limits) -> Iterator[Resource | Skipped | NotObject]:
    """Helm writes `---` and `# Source: CHART/templates/x.yaml` before each manifest; a template
    may print such a comment too, but only after Helm's own."""
    starts: list[int] = []  # the 0-based line of each comment
    sources: list[str] = []
    dashes, counted = 0, 0  # the line of the last `---`, counted up to its offset
    for match in _SOURCE.finditer(text):
        dashes += text.count("\n", counted, match.start())
        counted = match.start()
        starts.append(dashes + 1)
        sources.append(_inside(unit, PurePosixPath(match.group(1))))
    for item in yaml_documents(text, limits):
        if isinstance(item, ParseError):
            yield Skipped(unit.display, f"rendered chart: {item}")
            continue
        at = bisect.bisect_right(starts, item.node.start_mark.line) - 1
        yield from extract(item.data, sources[at] if at >= 0 else unit.display, None)


def _inside(unit: Unit, source: PurePosixPath) -> str:
    """The file a `# Source: CHART/PATH` comment names, below the chart's directory as the
    user named it; the directory itself for a path that would leave it."""
    parts = source.parts[1:]
    if source.is_absolute() or not parts or ".." in parts:
        return unit.display
    return os.path.join(unit.display, *parts)


def _dependencies_note(unit: Unit, limits: Limits) -> str:
    """Why `helm template` may have failed: dependencies not vendored in charts/ (fetching
    them needs the network, which rendering never uses)."""
    if not unit.chart:
        return ""
    chart = _first_document(unit.directory / CHART, limits)
    listed = chart.get("dependencies") if isinstance(chart, dict) else None
    if not isinstance(listed, list):
        return ""
    vendored = _vendored(unit.directory / "charts")
    missing = sum(1 for d in listed if not (isinstance(d, dict) and _is_vendored(d.get("name"), vendored)))
    if not missing:
        return ""
    return (f"; {missing} of its {len(listed)} dependencies are not in charts/: "
            f"run `helm dependency build {shlex.quote(unit.display)}` first")


def _vendored(charts: Path) -> set[str]:
    try:
        return set(os.listdir(charts))
    except OSError:
        return set()


def _is_vendored(name: Any, vendored: set[str]) -> bool:
    return isinstance(name, str) and (name in vendored or any(
        entry.startswith(f"{name}-") and entry.endswith(".tgz") for entry in vendored))


def _first_document(path: Path, limits: Limits) -> Any:
    try:
        text = read_input(path, None, limits.max_file_bytes).decode()
    except (OSError, TooLarge, UnicodeDecodeError):
        return None
    first = next(iter(yaml_documents(text, limits)), None)
    return None if first is None or isinstance(first, ParseError) else first.data


# -- Kustomize ----------------------------------------------------------------------------------

def _kustomization_kind(unit: Unit, limits: Limits) -> Generator[Skipped | NotObject, None, bool]:
    """Names a Component (built only with the overlays that use it) or a kustomization that
    cannot be read; returns True when the directory is not to be built."""
    name = next((n for n in KUSTOMIZATIONS if (unit.directory / n).exists()), KUSTOMIZATIONS[0])
    display = os.path.join(unit.display, name)
    try:
        text = read_input(unit.directory / name, None, limits.max_file_bytes).decode()
    except (OSError, TooLarge, UnicodeDecodeError):
        return False  # kustomize reads it next, and says whether it can
    for item in yaml_documents(text, limits):
        if isinstance(item, ParseError):
            yield Skipped(display, str(item), item.line)
            return True
        if isinstance(item.data, dict) and item.data.get("kind") == "Component":
            yield kustomize_file(display, "Component", None)
            return True
        return False
    return False


def _origin_wrapper(directory: Path, scratch: Path) -> Path:
    """A kustomization of our own around the user's, asking kustomize to annotate each object
    with the file it came from (the user's files are never changed). Kustomize takes the path
    relative to the wrapper only."""
    wrapper = scratch / "wrapper"
    wrapper.mkdir()
    relative = os.path.relpath(directory.resolve(), wrapper.resolve())
    (wrapper / "kustomization.yaml").write_text(
        f"resources:\n  - {json.dumps(relative)}\nbuildMetadata: [originAnnotations]\n", encoding="utf-8")
    return wrapper


def _kustomize_objects(
    unit: Unit, text: str, wrapper: Path, limits: Limits
) -> Iterator[Resource | Skipped | NotObject]:
    root = unit.directory.resolve()
    for item in yaml_documents(text, limits):
        if isinstance(item, ParseError):
            yield Skipped(unit.display, f"built kustomization: {item}")
            continue
        yield from extract(item.data, _origin(unit, item.data, root, wrapper.resolve(), limits), None)


def _origin(unit: Unit, obj: Any, root: Path, wrapper: Path, limits: Limits) -> str:
    """The file an object came from, from the annotation our wrapper asked for (removed here:
    the user's own build does not carry it); the kustomization's directory when it names none."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or ORIGIN not in annotations:
        return unit.display
    origin = annotations.pop(ORIGIN)
    if not annotations:
        obj["metadata"].pop("annotations")
    first = next(iter(yaml_documents(origin, limits)), None) if isinstance(origin, str) else None
    fields = first.data if first is not None and not isinstance(first, ParseError) else None
    if not isinstance(fields, dict) or "repo" in fields:
        return unit.display  # a remote base's file is nowhere on this machine
    path = fields.get("path") or fields.get("configuredIn")  # a generated object: its kustomization
    if not isinstance(path, str):
        return unit.display
    relative = os.path.relpath(os.path.normpath(wrapper / path), root)
    return os.path.normpath(os.path.join(unit.display, relative))
