"""The live source at scale: `load_cluster` against `kubectl get <same kinds> -A -o json`.

Starts its own kube-apiserver + etcd (tests/harness/apiserver.py), creates the objects with a
bounded thread pool, builds kubectl at the apiserver's exact version from the Go module cache
(cached beside the apiserver binaries), then times both readers over the same cluster, and a
whole `scan` of it as a fresh process (its peak memory from the kernel's accounting of that
child, taken before kubectl runs).

    python benchmarks/live.py --pods 5000 --namespaces 50 --repeat 3
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from harness.apiserver import WRAPPER_DIR, ApiServer, build_binaries, k8s_version  # noqa: E402


def build_kubectl(timeout: float = 30 * 60) -> Path:
    """kubectl from k8s.io/kubernetes/cmd/kubectl at the wrapper module's version, cached under
    the same root as build.sh's binaries and keyed by the same go.sum. The wrapper's go.sum
    lacks kubectl-only modules (cli-runtime, kustomize, ...), so the build runs in a scratch
    copy with -mod=mod, which records them there (the repo's module files are never touched)."""
    root = Path(os.environ.get("K8S_AUDIT_CACHE", Path.home() / ".cache" / "k8s-isolation-audit"))
    key = hashlib.sha256((WRAPPER_DIR / "go.sum").read_bytes()).hexdigest()[:16]
    out = root / f"kubectl-{key}" / "kubectl"
    if os.access(out, os.X_OK):
        return out
    if shutil.which("go") is None:
        raise SystemExit(f"'go' is not on PATH and no cached kubectl at {out}")
    version = k8s_version()
    minor = version.lstrip("v").split(".")[1]
    ldflags = "-s -w"
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += f" -X {pkg}.gitVersion={version} -X {pkg}.gitMajor=1 -X {pkg}.gitMinor={minor}"
        ldflags += f" -X {pkg}.gitTreeState=clean"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kubectl-build-") as scratch:
        module = Path(scratch) / "module"
        shutil.copytree(WRAPPER_DIR, module)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}
        tmp_bin = Path(scratch) / "kubectl"
        print(f"building kubectl {version} (once; cached at {out}) ...", file=sys.stderr)
        start = time.monotonic()
        proc = subprocess.run(["go", "build", "-p", "2", "-trimpath", "-ldflags", ldflags, "-o", str(tmp_bin),
                               "k8s.io/kubernetes/cmd/kubectl"], cwd=module, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"building kubectl failed:\n{proc.stderr[-3000:]}")
        shutil.move(str(tmp_bin), out)  # whole file, then visible: never half a binary in the cache
        print(f"built kubectl in {time.monotonic() - start:.0f}s", file=sys.stderr)
    return out


def populate(server: ApiServer, pods: int, namespaces: int, workers: int) -> dict[str, int]:
    names = [f"tenant-{i:03d}" for i in range(namespaces)]
    per_ns = -(-pods // namespaces)
    counts = {"pods": 0, "deployments": 0, "services": 0, "networkpolicies": 0, "nodes": 0}

    def post(path, body, what):
        for attempt in range(5):
            try:
                status, resp = server.request("POST", path, body)
            except OSError:  # a timeout under load: try again, bounded
                time.sleep(0.5 * (attempt + 1))
                continue
            if status == 201:
                return what
            if status in (429, 500, 503, 504):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise SystemExit(f"POST {path}: HTTP {status}: {str(resp)[:300]}")
        raise SystemExit(f"POST {path}: still failing")

    for i in range(10):
        post("/api/v1/nodes", {"metadata": {"name": f"node-{i:02d}", "labels": {
            "node.kubernetes.io/instance-type": "c6i.metal" if i % 2 else "m6i.xlarge"}}}, "nodes")
        counts["nodes"] += 1
    for ns in names:
        post("/api/v1/namespaces", {"metadata": {"name": ns, "labels": {"tenant": ns}}}, "namespaces")

    def jobs():
        made = 0
        for n, ns in enumerate(names):
            yield (f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", {
                "metadata": {"name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
                "networkpolicies")
            yield (f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "web"}, "spec": {
                "clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]}}, "services")
            for d in range(5):
                yield (
                    f"/apis/apps/v1/namespaces/{ns}/deployments",
                    {
                        "metadata": {"name": f"app-{d}"},
                        "spec": {
                            "replicas": 2,
                            "selector": {"matchLabels": {"app": f"app-{d}"}},
                            "template": {
                                "metadata": {"labels": {"app": f"app-{d}"}},
                                "spec": {
                                    "containers": [
                                        {
                                            "name": "app",
                                            "image": f"registry.example/{ns}/app-{d}:1.{d}",
                                            "ports": [{"containerPort": 8080}],
                                            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                                        }
                                    ]
                                },
                            },
                        },
                    },
                    "deployments",
                )
            for p in range(per_ns):
                if made >= pods:
                    break
                made += 1
                yield (f"/api/v1/namespaces/{ns}/pods", {
                    "metadata": {"name": f"app-{p % 5}-{p:05d}", "labels": {"app": f"app-{p % 5}", "tier": "web"},
                                 "annotations": {"isolation-audit.io/workload-class": "standard"}},
                    "spec": {"nodeName": f"node-{(n + p) % 10:02d}", "containers": [
                        {"name": "app", "image": f"registry.example/{ns}/app-{p % 5}:1.0",
                         "ports": [{"containerPort": 8080, "name": "http"}],
                         "env": [{"name": "MODE", "value": "prod"}, {"name": "SHARD", "value": str(p)}],
                         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                       "limits": {"cpu": "500m", "memory": "256Mi"}},
                         "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                             "capabilities": {"drop": ["ALL"]}}},
                        {"name": "sidecar", "image": "registry.example/proxy:2.1",
                         "securityContext": {"privileged": p % 97 == 0}}]}}, "pods")

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:  # bounded: `workers` requests in flight
        for what in pool.map(lambda job: post(*job), jobs()):
            counts[what] += 1
    print(f"created {counts} in {namespaces} namespaces in {time.monotonic() - start:.1f}s", file=sys.stderr)
    return counts


# A forked child starts with its parent's high-water RSS (the kernel carries it over at exec), and
# this process holds kubectl's whole output: the scan is started by a small launcher instead.
LAUNCHER = ("import json, resource, subprocess, sys, time\n"
            "start = time.perf_counter()\n"
            "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "print(json.dumps([code, time.perf_counter() - start,"
            " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")


def cli_scan(kubeconfig: str, page_size: int, report: Path) -> tuple[float, float, int]:
    """`scan` of the cluster as a user runs it, a fresh process writing its JSON report:
    (seconds, peak RSS in MiB from the kernel's accounting of that process, findings)."""
    cmd = [sys.executable, "-m", "auditor", "scan", "--kubeconfig", kubeconfig, "--page-size", str(page_size),
           "--format", "json", "-o", str(report)]
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], cwd=REPO, capture_output=True, text=True,
                          check=False)
    code, seconds, peak_kb = json.loads(done.stdout)
    if code not in (0, 1):
        raise SystemExit(f"scan exited {code}: {done.stderr.strip()[-2000:]}")
    import orjson

    return seconds, peak_kb / 1024, len(orjson.loads(report.read_bytes())["findings"])


def time_it(fn, repeat: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs), runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8, help="concurrent creations (bounded)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()

    kubectl = build_kubectl()
    from auditor.live.cluster import load_cluster
    from auditor.live.kinds import SCAN_KINDS

    with ApiServer(build_binaries()) as server, tempfile.TemporaryDirectory(prefix="kubectl-cache-") as cache:
        counts = populate(server, args.pods, args.namespaces, args.workers)
        kinds = ",".join(k.display for k in SCAN_KINDS if not k.optional)  # kubectl refuses types not served
        cmd = [str(kubectl), "--kubeconfig", server.kubeconfig, "--cache-dir", cache, "get", kinds, "-A",
               "-o", "json", f"--chunk-size={args.page_size}"]

        def run_kubectl():
            proc = subprocess.run(cmd, capture_output=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"kubectl failed: {proc.stderr.decode()[-2000:]}")
            return proc.stdout

        out = run_kubectl()  # warm-up: discovery cache, apiserver watch caches
        import orjson

        kubectl_items = len(orjson.loads(out)["items"])
        inventory = load_cluster(server.kubeconfig, page_size=args.page_size)
        assert inventory.skipped == (), inventory.skipped
        assert len(inventory.resources) == kubectl_items, (len(inventory.resources), kubectl_items)

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ours, our_runs = time_it(lambda: load_cluster(server.kubeconfig, page_size=args.page_size), args.repeat)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scan_s, scan_mb, findings = cli_scan(server.kubeconfig, args.page_size, Path(cache) / "report.json")
        theirs, their_runs = time_it(run_kubectl, args.repeat)
        # the whole CLI path, cold: a fresh interpreter that imports the client and reads the cluster
        cold_cmd = [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(REPO)!r}); from auditor.live.cluster import "
            f"load_cluster; load_cluster({server.kubeconfig!r}, page_size={args.page_size:d})",
        ]
        cold, cold_runs = time_it(lambda: subprocess.run(cold_cmd, check=True), args.repeat)

    print(f"kube-apiserver {k8s_version()} on 127.0.0.1; kubectl {k8s_version()} built from the module cache")
    print(f"objects: {kubectl_items} ({counts['pods']} pods, {counts['deployments']} deployments, "
          f"{counts['services']} services, {counts['networkpolicies']} networkpolicies, {counts['nodes']} nodes, "
          f"+ namespaces); {len(SCAN_KINDS)} kinds; page size {args.page_size}; best of {args.repeat}")
    print(f"load_cluster (in process)      : {ours:6.2f} s  runs {', '.join(f'{r:.2f}' for r in our_runs)}"
          f"  (peak RSS {rss_after / 1024:.0f} MiB, before {rss_before / 1024:.0f} MiB)")
    print(f"scan, whole CLI, JSON report   : {scan_s:6.2f} s  peak RSS {scan_mb:.0f} MiB, {findings} findings "
          f"({findings / max(counts['pods'], 1):.1f} a pod)")
    print(f"load_cluster (fresh python)    : {cold:6.2f} s  runs {', '.join(f'{r:.2f}' for r in cold_runs)}")
    print(f"kubectl get {len(SCAN_KINDS)} kinds -A -o json : {theirs:6.2f} s  runs "
          f"{', '.join(f'{r:.2f}' for r in their_runs)}")
    print(f"ratio kubectl / load_cluster   : {theirs / ours:5.2f}x in process, {theirs / cold:5.2f}x fresh python")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
