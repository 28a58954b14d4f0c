"""A Kubernetes cluster with real nodes for tests: etcd, kube-apiserver, kube-scheduler,
kube-controller-manager, and per node containerd (Debian's, with runc) + a kubelet, pod
networking from Debian's CNI plugins, NetworkPolicy enforced by kube-router (firewall mode).

All of it runs in one network namespace (node_net); the test process talks to the API
through `cluster.request` (a thread inside that namespace) and runs the CLI through
`cluster.wrap(argv)`. Pods reach the API as in a real cluster, at the `kubernetes` Service
(10.0.0.1:443): the apiserver binds and advertises APISERVER_ADDRESS inside the namespace,
and one DNAT rule stands in for kube-proxy (which does not run here) for that one Service.
`stop()` removes everything `start()` made: processes, containers, mounts under the
cluster's directory, the pods' network namespaces, cgroups, the namespace.
"""
from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness import apiserver as api_harness
from harness.apiserver import ApiServer
from harness.managed import Managed
from harness.node_config import NodeSpec, write_node_files
from harness.node_images import Image
from harness.node_net import PREFIX as NETNS_PREFIX
from harness.node_net import NodeNetwork

WORKDIR_PREFIX = "k8s-audit-node-"
CGROUP_PREFIX = "k8s-audit-node-"
CLUSTER_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = api_harness.SERVICE_RANGE
APISERVER_ADDRESS = "10.213.0.1"  # inside the cluster's namespace only, like the nodes'
NODE_ADDRESS = "10.213.0.{}"  # from 2 on
CGROUP_V1 = Path("/sys/fs/cgroup")
POD_NETNS_DIR = Path("/run/netns")
# Made by containerd/kubelet outside their configured directories; removed at stop() if
# start() found them absent and they are empty again.
SHARED_DIRS = (Path("/run/containerd/s"), Path("/run/containerd"), Path("/var/log/containers"),
               Path("/var/lib/cni/results"), Path("/var/lib/cni"))
_MNT_DETACH = 2


class ClusterError(RuntimeError):
    """The cluster did not come up (a real error, not a missing prerequisite)."""


def build_node_binaries(timeout: float = 90 * 60) -> tuple[Path, Path]:
    """(directory with the Kubernetes binaries, directory with kube-router), built if not cached."""
    kubernetes = api_harness.build_binaries(timeout, "node", ("kube-apiserver", "etcd", "kubelet", "kube-scheduler",
                                                             "kube-controller-manager"))
    return kubernetes, api_harness.build_binaries(timeout, "kube-router", ("kube-router",))


def _start(argv: Sequence[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    if proc is not None:
        api_harness._stop(proc, grace)


def _cmdline(pid: str) -> str:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_mentioning(marker: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").glob("[0-9]*") if marker in _cmdline(p.name)]


def _mounts_under(root: Path) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == str(root) or point.startswith(str(root) + "/"):
                found.append(point)
    return found


def _unmount_under(root: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(5):  # stacked mounts: each pass removes the top one
        points = _mounts_under(root)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            libc.umount2(point.encode(), _MNT_DETACH)


def _container_log_links() -> list[Path]:
    """The kubelet's links in /var/log/containers to our pods' logs (it removes them only
    when it garbage-collects the container, which a stopped kubelet never does)."""
    logs = Path("/var/log/containers")
    if not logs.is_dir():
        return []
    return sorted(p for p in logs.iterdir() if p.is_symlink() and WORKDIR_PREFIX in os.readlink(p))


def _cgroup_dirs(prefix: str) -> list[Path]:
    if not CGROUP_V1.is_dir():
        return []
    return sorted(p for hierarchy in CGROUP_V1.iterdir() if hierarchy.is_dir()
                  for p in hierarchy.glob(prefix + "*"))


def _remove_cgroup_tree(top: Path) -> None:
    for root, _dirs, _ in sorted(os.walk(top), key=lambda entry: len(entry[0]), reverse=True):
        for _ in range(3):
            try:
                os.rmdir(root)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.5)  # a process just killed may still be leaving it


def _make_cgroup(path: str) -> None:
    """The kubelet's cgroupRoot must exist in every v1 hierarchy; cpuset's needs cpus and mems
    before anything can join it."""
    for hierarchy in sorted(CGROUP_V1.iterdir()):
        if not hierarchy.is_dir() or not (hierarchy / "cgroup.procs").exists():
            continue
        parent = hierarchy
        for part in path.strip("/").split("/"):
            child = parent / part
            child.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (child / name).exists() and not (child / name).read_text().strip():
                    (child / name).write_text((parent / name).read_text())
            parent = child


class Node:
    """containerd + kubelet (+ kube-router on the first node) of one NodeSpec."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.containerd: subprocess.Popen | None = None
        self.kubelet: subprocess.Popen | None = None
        self.kube_router: subprocess.Popen | None = None

    def ctr(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["ctr", "--address", str(self.spec.socket), "-n", "k8s.io", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"ctr {' '.join(args[:2])} on {self.spec.name}: {proc.stderr.strip()[-800:]}")
        return proc

    def import_image(self, image: Image) -> None:
        self.ctr("images", "import", str(image.archive), timeout=300)  # and unpacks it for overlayfs

    def tasks(self) -> list[str]:
        proc = self.ctr("tasks", "ls", "-q", check=False)
        return proc.stdout.split() if proc.returncode == 0 else []

    def containers(self) -> list[str]:
        proc = self.ctr("containers", "ls", "-q", check=False)
        return proc.stdout.split() if proc.returncode == 0 else []

    def sweep_containers(self) -> None:
        """Kill and delete every task and container the kubelet left (it was stopped)."""
        for task in self.tasks():
            self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        for task in self.tasks():
            self.ctr("tasks", "delete", "--force", task, check=False)
        for container in self.containers():
            self.ctr("containers", "delete", container, check=False)


class NodeCluster(Managed):
    """The control plane + `nodes` real nodes; a context manager that always cleans up."""

    def __init__(self, bindir: Path, kube_router_dir: Path, images: tuple[Image, Image], *,
                 nodes: int = 1, network_policy: bool = True, ready_timeout: float = 180.0) -> None:
        self.bindir = Path(bindir)
        self.kube_router_bin = Path(kube_router_dir) / "kube-router"
        self.pause, self.probe = images
        self.node_count = nodes
        self.network_policy = network_policy
        self.ready_timeout = ready_timeout
        self.id = secrets.token_hex(3)
        self.workdir: Path | None = None
        self.net = NodeNetwork(NETNS_PREFIX + self.id,
                               [APISERVER_ADDRESS, *(NODE_ADDRESS.format(2 + i) for i in range(nodes))])
        # logs and exec go to the node's InternalIP: its Hostname would need DNS, which the
        # cluster's namespace has none of (and must not reach). The ServiceAccount admission
        # plugin stays off here too: pods name their ServiceAccount and mount a projected token
        # (the kubelet's TokenRequest needs no plugin), and pods made right after their
        # namespace would race the controller that creates its `default` account.
        self.api = ApiServer(self.bindir, ready_timeout=ready_timeout, address=APISERVER_ADDRESS,
                             extra_args=("--kubelet-preferred-address-types=InternalIP",))
        self.nodes: list[Node] = []
        self.controllers: list[subprocess.Popen] = []
        self._absent_shared_dirs: list[Path] = []
        self._pod_netns_before: set[str] = set()
        self.start_seconds = 0.0

    # -- lifecycle --

    def start(self) -> None:
        began = time.monotonic()
        self._absent_shared_dirs = [d for d in SHARED_DIRS if not d.exists()]
        self._pod_netns_before = set(os.listdir(POD_NETNS_DIR)) if POD_NETNS_DIR.is_dir() else set()
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX + self.id + "-"))
        self.net.create()
        self.call(self.api.start)
        self._route_kubernetes_service()
        kubeconfig = self.api.kubeconfig
        for name, argv in (
            # --root-ca-file: what kube-root-ca.crt in every namespace holds, the CA of the
            # apiserver's serving cert (in-cluster clients verify the API with it)
            ("kube-controller-manager", [str(self.bindir / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
                                         f"--root-ca-file={self.api.ca_file}",
                                         "--leader-elect=false", "--use-service-account-credentials=false",
                                         "--bind-address=127.0.0.1", "--secure-port=0",
                                         "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
                                         "--concurrent-job-syncs=5", "--concurrent-gc-syncs=5"]),
            ("kube-scheduler", [str(self.bindir / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
                                "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0"]),
        ):
            self.controllers.append(_start(self.net.wrap(argv), self.workdir / f"{name}.log"))
        for i in range(self.node_count):
            self._start_node(i, kubeconfig)
        self.wait(self._nodes_ready, f"{self.node_count} node(s) Ready",
                  watch=[p for n in self.nodes for p in (n.containerd, n.kubelet) if p is not None])
        if self.network_policy:
            self.start_network_policy()
        self.start_seconds = time.monotonic() - began

    def _route_kubernetes_service(self) -> None:
        """kube-proxy's one rule this cluster needs: pods' connections to the `kubernetes`
        Service go to the apiserver (the pods' route to SERVICE_SUBNET brings them here)."""
        self.net.run(["iptables", "-w", "5", "-t", "nat", "-A", "PREROUTING",
                      "-d", f"{api_harness.KUBERNETES_SERVICE_IP}/32", "-p", "tcp", "--dport", "443",
                      "-j", "DNAT", "--to-destination", f"{APISERVER_ADDRESS}:{self.api.port}"])

    def _start_node(self, i: int, kubeconfig: str) -> None:
        assert self.workdir is not None
        spec = NodeSpec(index=i, name=f"node-{self.id}-{i}", address=NODE_ADDRESS.format(2 + i),
                        pod_subnet=f"10.244.{i}.0/24", bridge=f"cni{i}", kubelet_port=10250 + i,
                        healthz_port=10350 + i, cgroup_root=f"/{CGROUP_PREFIX}{self.id}/n{i}",
                        directory=self.workdir / f"n{i}")
        spec.directory.mkdir()
        config = write_node_files(spec, self.pause.ref, (CLUSTER_SUBNET, SERVICE_SUBNET))
        _make_cgroup(spec.cgroup_root)
        node = Node(spec)
        self.nodes.append(node)  # before anything starts, so stop() finds whatever did
        containerd_config = spec.directory / "containerd" / "config.toml"
        node.containerd = _start(self.net.wrap(["containerd", "--config", str(containerd_config)]),
                                 spec.directory / "containerd.log")
        self.wait(lambda: spec.socket.exists() and node.ctr("version", check=False).returncode == 0,
                  f"containerd of {spec.name}", watch=[node.containerd])
        for image in (self.pause, self.probe):
            node.import_image(image)
        node.kubelet = _start(self.net.wrap([
            str(self.bindir / "kubelet"), f"--config={config}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={spec.kubelet_root}", f"--cert-dir={spec.kubelet_root / 'pki'}",
            f"--node-ip={spec.address}", f"--hostname-override={spec.name}", "--v=2",
        ]), spec.directory / "kubelet.log")

    def start_network_policy(self) -> None:
        """kube-router's firewall only, on the first node (policies apply to its pods)."""
        assert self.workdir is not None and self.nodes
        node = self.nodes[0]
        node.kube_router = _start(self.net.wrap([
            str(self.kube_router_bin), f"--kubeconfig={self.api.kubeconfig}",
            f"--hostname-override={node.spec.name}", "--run-firewall=true", "--run-router=false",
            "--run-service-proxy=false", "--enable-cni=false", "--enable-ipv6=false",
            f"--service-cluster-ip-range={SERVICE_SUBNET}", "--health-port=0", "--metrics-port=0",
            "--iptables-sync-period=5m", "--v=1",
        ]), self.workdir / "kube-router.log")
        self.wait(lambda: "KUBE-ROUTER-FORWARD" in self.iptables_save(), "kube-router's chains",
                  watch=[node.kube_router])

    def stop_network_policy(self) -> None:
        """Stop kube-router and remove its rules: from now on no policy is enforced."""
        node = self.nodes[0] if self.nodes else None
        if node is not None and node.kube_router is not None:
            _stop(node.kube_router)
            node.kube_router = None
        self.net.run(["sh", "-c", "iptables-save | grep -v KUBE-ROUTER | grep -v KUBE-NWPLCY | "
                                  "grep -v KUBE-POD-FW | iptables-restore && ipset destroy"], timeout=60)

    def stop(self) -> None:
        """Idempotent; every step runs even if an earlier one failed."""
        steps: list[Callable[[], None]] = [
            lambda: [_stop(p) for p in self.controllers],
            self._delete_all_pods,
            lambda: [_stop(n.kube_router) for n in self.nodes],
            lambda: [_stop(n.kubelet) for n in self.nodes],
            lambda: [n.sweep_containers() for n in self.nodes if n.containerd and n.containerd.poll() is None],
            lambda: [_stop(n.containerd) for n in self.nodes],
            self._kill_shims,
            self.api.stop,
            self._remove_pod_netns,
            lambda: self.workdir and _unmount_under(self.workdir),
            lambda: [_remove_cgroup_tree(d) for d in _cgroup_dirs(CGROUP_PREFIX + self.id)],
            self.net.delete,
            lambda: self.workdir and shutil.rmtree(self.workdir, ignore_errors=True),
            self._remove_shared_dirs,
        ]
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep cleaning; report at the end
                errors.append(f"{type(exc).__name__}: {exc}")
        self.controllers, self.nodes = [], []
        if errors:
            raise ClusterError("clean-up of the real-node cluster failed: " + "; ".join(errors))

    # -- teardown steps --

    def _delete_all_pods(self) -> None:
        if self.api.apiserver is None or self.api.apiserver.poll() is not None or not self.nodes:
            return
        status, namespaces = self.request("GET", "/api/v1/namespaces")
        if status != 200:
            return
        for ns in namespaces["items"]:
            self.request("DELETE", f"/api/v1/namespaces/{ns['metadata']['name']}/pods?gracePeriodSeconds=0")
        # the kubelets stop the sandboxes through CRI, so CNI releases addresses and netns
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(n.tasks() for n in self.nodes if n.containerd):
            time.sleep(1)

    def _kill_shims(self) -> None:
        """containerd's shims outlive it by design; theirs name our socket (under workdir)."""
        if self.workdir is None:
            return
        for pid in _pids_mentioning(str(self.workdir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _remove_pod_netns(self) -> None:
        if not POD_NETNS_DIR.is_dir():
            return
        libc = ctypes.CDLL(None, use_errno=True)
        for name in set(os.listdir(POD_NETNS_DIR)) - self._pod_netns_before:
            if name.startswith("cni-"):
                path = POD_NETNS_DIR / name
                libc.umount2(str(path).encode(), _MNT_DETACH)
                path.unlink(missing_ok=True)

    def _remove_shared_dirs(self) -> None:
        for link in _container_log_links():
            link.unlink(missing_ok=True)
        for directory in self._absent_shared_dirs:
            try:
                directory.rmdir()
            except OSError:
                pass

    # -- access --

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn run by a thread inside the cluster's network namespace."""
        assert self.net.worker is not None, "cluster not started"
        return self.net.worker.call(fn, *args, **kwargs)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(self.api.request, method, path, body)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv run inside the cluster's network namespace (for the CLI under test)."""
        return self.net.wrap(argv)

    def iptables_save(self) -> str:
        return self.net.run(["iptables-save"]).stdout

    def wait(self, ready: Callable[[], bool], what: str, watch: Sequence[subprocess.Popen] = (),
             timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        while time.monotonic() < deadline:
            for proc in [*watch, *self.controllers]:
                if proc.poll() is not None:
                    name = Path(proc.args[proc.args.index("--") + 1]).name
                    raise ClusterError(f"{name} exited ({proc.returncode}) while waiting for {what}\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise ClusterError(f"timed out waiting for {what}\n{self.logs()}")

    def _nodes_ready(self) -> bool:
        status, nodes = self.request("GET", "/api/v1/nodes")
        if status != 200:
            return False
        ready = {n["metadata"]["name"] for n in nodes["items"]
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
        return all(n.spec.name in ready for n in self.nodes)

    def logs(self, limit: int = 3000) -> str:
        if self.workdir is None:
            return ""
        return "\n".join(f"--- {p.relative_to(self.workdir)} (tail) ---\n{api_harness._tail(p, limit)}"
                         for p in sorted(self.workdir.glob("**/*.log")) if p.is_file() and "pod-logs" not in p.parts)


def leftovers() -> list[str]:
    """Processes, directories, cgroups, namespaces a real-node cluster may leave behind."""
    from harness import node_net

    tmp = Path(tempfile.gettempdir())
    found = [f"real-node cluster dir {p}" for p in tmp.glob(WORKDIR_PREFIX + "*")]
    for proc in Path("/proc").glob("[0-9]*"):
        cmdline = _cmdline(proc.name)
        if WORKDIR_PREFIX in cmdline:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    found += [f"cgroup {p}" for p in _cgroup_dirs(CGROUP_PREFIX)]
    found += [f"container log link {p}" for p in _container_log_links()]
    if POD_NETNS_DIR.is_dir():
        found += [f"pod network namespace {p}" for p in sorted(POD_NETNS_DIR.glob("cni-*"))]
    return found + node_net.leftovers()
