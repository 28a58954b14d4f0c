"""Configuration files of one real node (containerd, CNI, kubelet): pure, one place per fact.

Facts this machine needs (checked when the harness was built, Debian 12, kernel booted with
hybrid cgroups v1, containerd 1.6, runc 1.1, kubelet 1.35):
- `failCgroupV1: false`: kubelet 1.35 refuses cgroup v1 otherwise;
- `cgroupDriver: cgroupfs`: there is no systemd;
- `restrict_oom_score_adj = true`: the sandbox lacks CAP_SYS_RESOURCE, so without it every pod
  sandbox fails writing a lower oom_score_adj than containerd's own;
- runc, not crun: crun refuses hybrid cgroups;
- a node address that is not loopback (on a veth pair inside the cluster's namespace,
  node_net: this kernel has no dummy links).
Every path the components write to is under the node's own directory, so nothing of a
node lands in the machine's /var/lib or /run (the exceptions are named in node.leftovers()).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
RUNC = "/usr/sbin/runc"
# The kubelet's podPidsLimit: every pod's pids limit. Low enough for the active probe (128
# threads when it sees no limit) to meet it, high enough for a reach probe's 64 threads.
POD_PIDS_LIMIT = 100


@dataclass(frozen=True)
class NodeSpec:
    """One kubelet + containerd pair and everything that must differ between two of them."""

    index: int
    name: str
    address: str  # the node's InternalIP, on the cluster namespace's veth (node_net.NODE_LINK)
    pod_subnet: str  # this node's pods, e.g. 10.244.0.0/24
    bridge: str
    kubelet_port: int
    healthz_port: int
    cgroup_root: str  # e.g. /k8s-audit-node-1a2b3c/n0, created before the kubelet starts
    directory: Path

    @property
    def socket(self) -> Path:
        return self.directory / "containerd" / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.directory / "kubelet"


def containerd_config(node: NodeSpec, sandbox_image: str) -> str:
    base = node.directory / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{base / 'root'}"
state = "{base / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{node.socket}"

[ttrpc]
  address = "{node.socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / 'opt'}"

[{cri}]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  Root = "{base / 'runc'}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{base / 'cni'}"
  max_conf_num = 1
"""


def cni_config(node: NodeSpec, pod_routes: tuple[str, ...]) -> dict:
    """A bridge per node; routes only to `pod_routes` (the cluster's pod and Service ranges),
    so pods have no way out."""
    return {
        "cniVersion": "0.4.0",
        "name": f"k8s-audit-{node.name}",
        "plugins": [
            {"type": "bridge", "bridge": node.bridge, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(node.directory / "cni-ipam"),
                      "ranges": [[{"subnet": node.pod_subnet}]],
                      "routes": [{"dst": subnet} for subnet in pod_routes]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(node: NodeSpec) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.address,
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.healthz_port,
        # The API server reaches the kubelet only inside the cluster's namespace.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup_root,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{node.socket}",
        "podLogsDir": str(node.directory / "pod-logs"),
        "volumePluginDir": str(node.directory / "volume-plugins"),
        "resolvConf": str(node.directory / "resolv.conf"),
        # The disk is shared with the rest of the machine: never evict or collect the
        # imported images because of it.
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "maxPods": 50,
        "podPidsLimit": POD_PIDS_LIMIT,
        "nodeStatusUpdateFrequency": "2s",
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
        "shutdownGracePeriod": "0s",
    }


def write_node_files(node: NodeSpec, sandbox_image: str, pod_routes: tuple[str, ...]) -> Path:
    """Write containerd's, CNI's and the kubelet's files; return the kubelet config path."""
    base = node.directory
    (base / "containerd" / "cni").mkdir(parents=True, exist_ok=True)
    (base / "containerd" / "config.toml").write_text(containerd_config(node, sandbox_image))
    (base / "containerd" / "cni" / "10-bridge.conflist").write_text(json.dumps(cni_config(node, pod_routes)))
    for sub in ("kubelet", "pod-logs", "volume-plugins", "cni-ipam"):
        (base / sub).mkdir(exist_ok=True)
    # Pods get a resolver that answers nothing: no DNS query may leave the pod network.
    (base / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    path = base / "kubelet.json"
    path.write_text(json.dumps(kubelet_config(node), indent=2))
    return path
