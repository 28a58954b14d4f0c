"""The benchmark suite: every figure beside its reference, measured in the same run.

    python benchmarks/run.py                 # everything (about 5 minutes once inputs are cached)
    python benchmarks/run.py --quick         # without the 150,000-pod snapshot and checkov
    python benchmarks/run.py --json out.json

Each case runs as its own process, timed by wall clock, its peak memory taken from the
kernel's accounting of that child (wait4's ru_maxrss). Cases:

- manifests: 2,000 Deployments in one YAML file, this tool against kube-score (Go, built
  from its module by tests/apiserver/build.sh), against checkov (installed here into its own
  venv) and against only loading the file's documents with this tool's YAML loader (and, for
  information, parsing them without keeping them, and loading them through libyaml alone,
  the loader's fallback for YAML beyond the block style it reads a line at a time);
- repository: a mixed-kind manifest repository (50 teams' Deployments, StatefulSets,
  DaemonSets, CronJobs, Services, NetworkPolicies, RBAC, ...; about 2,000 objects in 51
  files), this tool against kube-score;
- snapshot: 15,000 and 150,000 pods as `kubectl get -o json` prints them, with every kind
  of network policy mixed in (NetworkPolicy, AdminNetworkPolicy and friends, Cilium and
  Calico policies), the full audit
  against only parsing the file with orjson (with and without Python's cyclic collector,
  which this tool turns off while it scans);
- start-up: `scan` of a one-Deployment manifest against `python -c pass`, and whether the
  scan imported `kubernetes` or `scapy`.

Beside each time of a tool that reports problems stands how many it reported (this tool:
findings in its JSON report; kube-score: checks graded critical or warning), so that speed
is not bought by checking less. kube-linter and Polaris, the other Go linters, are not served
by the module proxy this suite builds from, so they have no row.

Inputs come from benchmarks/generate.py (seeded) and are cached by their parameters and
the generator's own hash, as is checkov's venv.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import peers

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("K8S_AUDIT_CACHE", Path.home() / ".cache" / "k8s-isolation-audit")) / "bench"
CHECKOV = "checkov==3.3.30"
PY = sys.executable

# Loading means holding the documents, as any consumer of yaml.load_all does; the variant that
# drops each one as soon as it is built is measured too, for information.
YAML_FLOOR = ("import sys\nfrom auditor.sources.yaml_loader import load_documents\n"
              "docs = [d for _, d, _ in load_documents(open(sys.argv[1], encoding='utf-8').read(), 1_000_000)]\n")
YAML_PARSE_ONLY = ("import sys\nfrom auditor.sources.yaml_loader import load_documents\n"
                   "for _ in load_documents(open(sys.argv[1], encoding='utf-8').read(), 1_000_000): pass\n")
# The same documents through libyaml alone (the loader's fallback, and all of it before the
# line-at-a-time reader of block YAML), for information.
YAML_LIBYAML = ("import sys\nfrom auditor.sources.limits import MAX_DEPTH\n"
                "from auditor.sources.yaml_loader import documents\n"
                "docs = [d for _, d, _, _ in documents(open(sys.argv[1], encoding='utf-8').read(), 1_000_000, "
                "MAX_DEPTH, trees=True)]\n")
JSON_FLOOR = "import sys, orjson\norjson.loads(open(sys.argv[1], 'rb').read())\n"
JSON_FLOOR_NO_GC = "import gc\ngc.disable()\n" + JSON_FLOOR


@dataclass
class Run:
    label: str
    command: list[str]
    wall_s: float = 0.0
    peak_mb: float = 0.0
    runs: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    error: str | None = None
    findings: int | None = None  # problems the tool reported, counted from its output


@dataclass
class Target:
    case: str
    measure: str
    value: float | None
    limit: str
    met: bool | None


@dataclass(frozen=True)
class Job:
    label: str
    command: list[str]
    env: dict[str, str] | None = None
    ok_codes: tuple[int, ...] = (0, 1)
    timeout: float = 1800
    stdout: Path | None = None  # receives the command's standard output (of its last run)


def measure(label: str, command: list[str], repeat: int, env: dict[str, str] | None = None,
            ok_codes: tuple[int, ...] = (0, 1), timeout: float = 1800) -> Run:
    return measure_in_turns([Job(label, command, env, ok_codes, timeout)], repeat)[0]


def measure_in_turns(jobs: list[Job], repeat: int) -> list[Run]:
    """Each job `repeat` times, the jobs taking turns: on a machine shared with other work,
    tools compared with each other see the same load."""
    runs = [Run(job.label, job.command) for job in jobs]
    peaks: list[list[float]] = [[] for _ in jobs]
    for _ in range(repeat):
        for job, run, peak in zip(jobs, runs, peaks, strict=True):
            if run.error is None:
                _once(job, run, peak)
    for run, peak in zip(runs, peaks, strict=True):
        if run.error is None:
            run.wall_s = statistics.median(run.runs)
            run.peak_mb = max(peak)
    return runs


def _once(job: Job, run: Run, peaks: list[float]) -> None:
    errors = tempfile.TemporaryFile()
    out = open(job.stdout, "wb") if job.stdout is not None else subprocess.DEVNULL
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(job.command, stdout=out, stderr=errors, env={**os.environ, **(job.env or {})},
                                cwd=REPO)
    except OSError as exc:
        run.error = str(exc)
        return
    finally:
        if job.stdout is not None:
            out.close()
    deadline = start + job.timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            run.error = f"timed out after {job.timeout:.0f} s"
            return
        time.sleep(0.005)
    run.runs.append(time.perf_counter() - start)
    peaks.append(usage.ru_maxrss / 1024)  # kilobytes on Linux
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4: Popen must not think it still runs
    run.exit_codes.append(code)
    errors.seek(0)
    stderr = errors.read().decode(errors="replace")
    errors.close()
    if code not in job.ok_codes:
        run.error = f"exit {code}: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}"


# -- inputs ----------------------------------------------------------------------------------


def _generator_key(*args: object) -> str:
    digest = hashlib.sha256((HERE / "generate.py").read_bytes() + repr(args).encode()).hexdigest()
    return digest[:12]


def cached_input(name: str, args: list[str]) -> Path:
    """A generated file, or a directory when `name` has no extension."""
    stem, ext = name.rsplit(".", 1) if "." in name else (name, "")
    path = CACHE / (f"{stem}-{_generator_key(args)}" + (f".{ext}" if ext else ""))
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        subprocess.run([PY, str(HERE / "generate.py"), *args, "-o", str(partial)], check=True)
        partial.rename(path)
    return path


def checkov_venv() -> tuple[Path | None, str]:
    venv = CACHE / f"venv-{CHECKOV.replace('==', '-')}"
    exe = venv / "bin" / "checkov"
    if not exe.exists():
        print(f"installing {CHECKOV} into {venv} ...", file=sys.stderr, flush=True)
        try:
            subprocess.run([PY, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CHECKOV], check=True, timeout=1200)
        except (subprocess.SubprocessError, OSError) as exc:
            return None, f"could not install {CHECKOV}: {exc}"
    return exe, CHECKOV


# -- the suite -------------------------------------------------------------------------------


def suite(quick: bool, repeat: int, big_repeat: int, work: Path) -> tuple[list[Run], list[Target]]:
    runs: list[Run] = []
    targets: list[Target] = []
    scan = [PY, "-m", "auditor", "scan"]
    # An installed package holds bytecode (pip compiles on install); a checkout run with
    # PYTHONDONTWRITEBYTECODE set would otherwise compile every module in every timed run.
    subprocess.run([PY, "-m", "compileall", "-q", "auditor", "checks"], cwd=REPO, check=False)

    def ratio(a: Run, b: Run, attr: str = "wall_s") -> float | None:
        if a.error or b.error or not getattr(b, attr):
            return None
        return getattr(a, attr) / getattr(b, attr)

    def target(case: str, measure_: str, value: float | None, limit: str, ok) -> None:
        targets.append(Target(case, measure_, value, limit, None if value is None else bool(ok(value))))

    kube_score, kube_score_name = peers.kube_score()

    def beside_kube_score(case: str, inputs: Path, files: list[Path], also: tuple[Job, ...] = ()) -> list[Run]:
        """This tool on `inputs`, kube-score on the same `files` and the jobs `also`, taking
        turns; the tools with their findings. kube-score's time against this tool's."""
        report, output = work / f"{case}.json", work / f"{case}-kube-score.json"
        jobs = [Job(f"{case}: this tool", [*scan, str(inputs), "--format", "json", "-o", str(report)])]
        if kube_score is not None:
            jobs.append(Job(f"{case}: {kube_score_name}", peers.kube_score_command(kube_score, files), stdout=output))
        measured = measure_in_turns([*jobs, *also], repeat)
        if kube_score is None:
            measured.insert(1, Run(f"{case}: kube-score", [], error=kube_score_name))
        tool, peer = measured[:2]
        if not tool.error:
            tool.findings = peers.count_apart("this-tool", report)
        if not peer.error:
            peer.findings = peers.count_apart("kube-score", output)
        target(case, "time vs kube-score", ratio(tool, peer), "<= 1x", lambda v: v <= 1)
        return measured

    # manifests
    deployments = cached_input("deployments-2000.yaml", ["--deployments", "2000", "--format", "yaml"])
    measured = beside_kube_score("manifests", deployments, [deployments], (
        Job("manifests: YAML load only (same loader)", [PY, "-c", YAML_FLOOR, str(deployments)]),
        Job("manifests: YAML parse only, documents dropped", [PY, "-c", YAML_PARSE_ONLY, str(deployments)]),
        Job("manifests: YAML load through libyaml alone", [PY, "-c", YAML_LIBYAML, str(deployments)]),
    ))
    tool, _, floor, parse, libyaml = measured
    runs += measured
    target("manifests", "time vs YAML-load floor", ratio(tool, floor), "<= 2x", lambda v: v <= 2)
    target(
        "manifests", "time vs YAML parse with documents dropped", ratio(tool, parse), "(information)", lambda v: True
    )
    target("manifests", "time vs YAML load through libyaml alone", ratio(tool, libyaml), "(information)",
           lambda v: True)
    if not quick:
        exe, what = checkov_venv()
        if exe is None:
            runs.append(Run("manifests: checkov", [], error=what))
            target("manifests", "speed-up vs checkov", None, ">= 20x", None)
        else:
            checkov = measure(f"manifests: {what}", [str(exe), "-f", str(deployments), "--framework", "kubernetes",
                                                     "--quiet", "--compact", "-o", "json", "--skip-download",
                                                     "--output-file-path", str(work / "checkov")],
                              1, env={"BC_SKIP_MAPPING": "TRUE"})
            runs.append(checkov)
            speedup = ratio(checkov, tool)
            target("manifests", "speed-up vs checkov", speedup, ">= 20x", lambda v: v >= 20)

    # a mixed-kind repository: one directory for this tool, its files for kube-score
    repository = cached_input("repository-50", ["--repository", "50", "--format", "yaml-dir"])
    runs += beside_kube_score("repository", repository, sorted(repository.glob("*.yaml")))

    # snapshots
    # Every policy kind the evaluator reads is mixed in: NetworkPolicy, the cluster-wide kinds,
    # Cilium's and Calico's (one in ten policies of each of the last two groups).
    sizes = [("15k", ["--pods", "15000", "--namespaces", "1000", "--policies", "2000", "--nodes", "500",
                      "--admin-policies", "200", "--engine-policies", "200"])]
    if not quick:
        sizes.append(("150k", ["--pods", "150000", "--namespaces", "10000", "--policies", "20000", "--nodes", "5000",
                               "--admin-policies", "2000", "--engine-policies", "2000"]))
    tools = {}
    for size, args in sizes:
        snapshot = cached_input(f"snapshot-{size}.json", args)
        big = size == "150k"
        n = big_repeat if big else repeat
        tool = measure(f"snapshot {size}: this tool (full audit)",
                       [*scan, str(snapshot), "--format", "json", "-o", str(work / f"s{size}.json")], n)
        floor = measure(f"snapshot {size}: orjson parse only", [PY, "-c", JSON_FLOOR, str(snapshot)], n)
        strict = measure(
            f"snapshot {size}: orjson parse only, collector off", [PY, "-c", JSON_FLOOR_NO_GC, str(snapshot)], n
        )
        runs += [tool, floor, strict]
        tools[size] = tool
        if big:
            target("snapshot 150k", "time vs orjson floor", ratio(tool, floor), "<= 4x", lambda v: v <= 4)
            target(
                "snapshot 150k", "peak memory vs orjson floor", ratio(tool, floor, "peak_mb"), "<= 2x", lambda v: v <= 2
            )
            target(
                "snapshot 150k",
                "time vs orjson floor, collector off (stricter)",
                ratio(tool, strict),
                "(information)",
                lambda v: True,
            )
    if "150k" in tools:
        target("snapshot 15k -> 150k", "time growth", ratio(tools["150k"], tools["15k"]), "<= 12x", lambda v: v <= 12)

    # start-up
    one = cached_input("one-deployment.yaml", ["--deployments", "1", "--format", "yaml"])
    tool = measure("start-up: scan one manifest", [*scan, str(one), "-o", os.devnull], max(repeat, 5))
    bare = measure("start-up: python -c pass", [PY, "-c", "pass"], max(repeat, 5))
    runs += [tool, bare]
    target("start-up", "time vs python -c pass", ratio(tool, bare), "< 10x", lambda v: v < 10)
    imported = subprocess.run([*scan[:1], "-X", "importtime", *scan[1:], str(one), "-o", os.devnull],
                              capture_output=True, text=True, cwd=REPO).stderr
    heavy = sorted(
        {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in imported.splitlines()} & {"kubernetes", "scapy"}
    )
    target("start-up", "imports kubernetes or scapy", float(len(heavy)), "none", lambda v: v == 0)
    return runs, targets


NOTES = [
    "findings: this tool's findings; kube-score's checks graded critical or warning (not skipped).",
    "kube-linter and Polaris (Go) are not served by the module proxy here and are not measured; the issue",
    "that set the kube-score target quotes kube-linter at 1.3 s on 2,000 Deployments on another machine.",
]


def table(runs: list[Run], targets: list[Target]) -> str:
    lines = [f"{'run':58} {'wall':>9} {'peak':>9} {'findings':>9}", "-" * 88]
    for r in runs:
        if r.error:
            lines.append(f"{r.label:58} {'-':>9} {'-':>9} {'-':>9}  ({r.error})")
        else:
            found = "" if r.findings is None else str(r.findings)
            lines.append(f"{r.label:58} {r.wall_s:8.2f}s {r.peak_mb:7.0f}MB {found:>9}")
    lines += ["", f"{'target':62} {'measured':>9} {'limit':>14}  met", "-" * 92]
    for t in targets:
        value = "-" if t.value is None else f"{t.value:.2f}x" if "imports" not in t.measure else f"{int(t.value)}"
        met = "n/a" if t.met is None else "yes" if t.met else "NO"
        lines.append(f"{t.case + ': ' + t.measure:62} {value:>9} {t.limit:>14}  {met}")
    return "\n".join([*lines, "", *NOTES])


def machine(load_before: tuple[float, float, float]) -> dict[str, object]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit or None,
            "python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_before": load_before, "load_after": os.getloadavg()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 150,000-pod snapshot and checkov")
    parser.add_argument("--repeat", type=int, default=5, help="runs per small case; the median is reported")
    parser.add_argument("--big-repeat", type=int, default=3, help="runs per 150,000-pod case")
    parser.add_argument("--json", default=str(HERE / "results.json"), help="where to write the results")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="k8s-audit-bench-") as work:
        runs, targets = suite(args.quick, args.repeat, args.big_repeat, Path(work))
    host = machine(load_before)
    print(table(runs, targets))
    def loads(averages) -> str:
        return " ".join(f"{x:.2f}" for x in averages)

    print(f"machine: {host['cpus']} CPUs; load averages (1, 5, 15 min) {loads(load_before)} before, "
          f"{loads(host['load_after'])} after")
    Path(args.json).write_text(json.dumps({"machine": host, "runs": [asdict(r) for r in runs],
                                           "targets": [asdict(t) for t in targets]}, indent=2) + "\n")
    print(f"\nwritten to {args.json}")
    return 0 if all(r.error is None for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
