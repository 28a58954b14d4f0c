"""The kernel and machine under the probe: release, boot id, hypervisor, runtime, sandbox, sysctls."""
from __future__ import annotations

import os
import re

from . import procfs

SYSCTLS = {
    "user.max_user_namespaces": "/proc/sys/user/max_user_namespaces",
    "kernel.unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
    "kernel.unprivileged_bpf_disabled": "/proc/sys/kernel/unprivileged_bpf_disabled",
    "kernel.kptr_restrict": "/proc/sys/kernel/kptr_restrict",
    "kernel.dmesg_restrict": "/proc/sys/kernel/dmesg_restrict",
    "kernel.perf_event_paranoid": "/proc/sys/kernel/perf_event_paranoid",
    "kernel.modules_disabled": "/proc/sys/kernel/modules_disabled",
    "kernel.yama.ptrace_scope": "/proc/sys/kernel/yama/ptrace_scope",
}
LOCKDOWN = "/sys/kernel/security/lockdown"

# DMI strings of hypervisors (sys_vendor or product_name). AWS bare-metal instances say
# "Amazon EC2" too, with a product name ending in ".metal": those are not VMs.
_DMI_VM = re.compile(r"QEMU|KVM|VMware|VirtualBox|innotek|Xen|Virtual Machine|Amazon EC2|Google Compute Engine|"
                     r"OpenStack|Parallels|Bochs|BHYVE|Nutanix|Alibaba Cloud|Droplet|Hetzner vServer|Cloud Hypervisor")
_PARAVIRT_CLOCKS = ("kvm-clock", "xen", "hyperv_clocksource_tsc_page", "hyperv_clocksource_msr", "vmw-clock")
# gVisor's sentry reports this fixed uname version (pkg/sentry/syscalls/linux/linux64.go).
GVISOR_UNAME_VERSION = "#1 SMP Sun Jan 10 15:06:54 PST 2016"


def kernel_release(root: str) -> tuple[str, str | None]:
    if root in ("", "/"):
        u = os.uname()
        return u.release, u.version
    release = procfs.read_value(root, "/proc/sys/kernel/osrelease")
    if release is None:
        raise OSError("/proc/sys/kernel/osrelease unreadable")
    return release, procfs.read_value(root, "/proc/sys/kernel/version")


def hypervisor(root: str) -> tuple[bool | None, list[str]]:
    evidence = []
    cpuinfo = procfs.read(root, "/proc/cpuinfo") or ""
    flags_line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    verdict: bool | None = None
    if flags_line is not None:
        present = "hypervisor" in flags_line.split(":", 1)[-1].split()
        verdict = present
        evidence.append(f"/proc/cpuinfo flags: CPUID hypervisor bit {'present' if present else 'absent'}")
    else:
        evidence.append("/proc/cpuinfo: no x86 flags line (CPUID hypervisor bit not available here)")
    vendor = procfs.read_value(root, "/sys/class/dmi/id/sys_vendor")
    product = procfs.read_value(root, "/sys/class/dmi/id/product_name")
    if vendor is None and product is None:
        evidence.append("/sys/class/dmi/id/{sys_vendor,product_name}: absent")
    else:
        dmi = f"{vendor or ''} / {product or ''}"
        vm = bool(_DMI_VM.search(dmi)) and not (product or "").endswith(".metal")
        evidence.append(f"DMI sys_vendor/product_name: {dmi} ({'a hypervisor' if vm else 'no hypervisor name'})")
        if verdict is None and vm:
            verdict = True
    hv_type = procfs.read_value(root, "/sys/hypervisor/type")
    if hv_type:
        evidence.append(f"/sys/hypervisor/type: {hv_type}")
        verdict = True if verdict is None else verdict
    else:
        evidence.append("/sys/hypervisor/type: absent")
    clock = clocksource(root)
    if clock in _PARAVIRT_CLOCKS:
        evidence.append(f"clocksource {clock} (paravirtual)")
    return verdict, evidence


def clocksource(root: str) -> str | None:
    return procfs.read_value(root, "/sys/devices/system/clocksource/clocksource0/current_clocksource")


_CGROUP_MARKERS = (  # (pattern in a /proc/<pid>/cgroup path, runtime)
    (re.compile(r"cri-containerd-[0-9a-f]{12,}"), "containerd"),
    (re.compile(r"crio-(conmon-)?[0-9a-f]{12,}"), "cri-o"),
    (re.compile(r"libpod(-|_parent)"), "podman"),
    (re.compile(r"/docker[-/][0-9a-f]{12,}|docker-[0-9a-f]{12,}\.scope"), "docker"),
    (re.compile(r"/lxc[./]|lxc\.payload"), "lxc"),
)
_STORAGE_MARKERS = (  # (pattern in a mount's root or options: image and per-container files)
    (re.compile(r"/var/lib/docker/|/docker/containers/"), "docker"),
    (re.compile(r"/var/lib/rancher/k3s/agent/containerd|/var/lib/containerd/|io\.containerd\."), "containerd"),
    (re.compile(r"/containers/storage/"), "cri-o"),  # podman shares it; /run/.containerenv tells podman
)
_PREFERENCE = ("cri-o", "containerd", "podman", "docker", "lxc")


def container_runtime(root: str, in_container: bool | None) -> tuple[str | None, list[str]]:
    found: dict[str, list[str]] = {}
    evidence: list[str] = []
    kubepods = False
    for pid in ("self", "1"):
        text = procfs.read(root, f"/proc/{pid}/cgroup") or ""
        for _, _, path in procfs.parse_proc_cgroup(text):
            kubepods = kubepods or "kubepods" in path
            for pattern, name in _CGROUP_MARKERS:
                if pattern.search(path):
                    found.setdefault(name, []).append(f"/proc/{pid}/cgroup path {path}")
    try:
        mounts = procfs.mountinfo(root)
    except OSError:
        mounts = []
    for m in mounts:
        text = m.root + " " + ",".join(m.super_options)
        for pattern, name in _STORAGE_MARKERS:
            if pattern.search(text):
                found.setdefault(name, []).append(f"mountinfo: {m.mount_point} from {m.root} ({m.fstype})")
                break
        kubepods = kubepods or "/kubelet/pods/" in m.root
    if os.path.lexists(procfs.at(root, "/.dockerenv")):
        found.setdefault("docker", []).append("/.dockerenv exists")
    if os.path.lexists(procfs.at(root, "/run/.containerenv")):
        found.setdefault("podman", []).append("/run/.containerenv exists")
        found.pop("cri-o", None)  # the shared containers/storage marker belongs to podman then
    environ = (procfs.read(root, "/proc/self/environ") or "").split("\x00")
    container_env = next((e.split("=", 1)[1] for e in environ if e.startswith("container=")), None)
    if container_env:
        evidence.append(f"environment container={container_env}")
        if container_env in ("podman", "docker", "lxc"):
            found.setdefault(container_env, []).append(f"environment container={container_env}")
    if kubepods:
        evidence.append("kubepods in cgroup paths or kubelet pod volumes in mountinfo: a Kubernetes pod")
    for name in _PREFERENCE:
        if name in found:
            evidence[:0] = found[name][:3]
            break
    if in_container is False:
        stale = [e for items in found.values() for e in items]
        return None, (stale + ["pid and mnt namespaces are the host's: not inside a container, so these markers are "
                               "leftovers of how the host was built" if stale else
                               "pid and mnt namespaces are the host's: not inside a container"])
    for name in _PREFERENCE:
        if name in found:
            return name, evidence
    if kubepods:
        return None, evidence + ["no runtime-specific marker: the runtime is unknown"]
    if in_container:
        masked = [m.mount_point for m in mounts if m.mount_point in ("/proc/kcore", "/proc/keys", "/proc/timer_list",
                                                                     "/proc/acpi", "/sys/firmware", "/proc/scsi")]
        oci = f"OCI default masked paths mounted over: {', '.join(masked)}; " if masked else ""
        return "runc", evidence + [
            oci + "inside a container (own pid or mnt namespace) with no docker, containerd, cri-o, podman, lxc or "
            "kubepods marker in /proc/self/cgroup, /proc/1/cgroup, mountinfo, /.dockerenv or /run/.containerenv: "
            "a bare OCI runtime, reported as runc (crun or youki would look the same)"]
    return None, evidence + ["no container runtime marker found, and the namespaces do not tell"]


def sandbox(root: str, release: str, version: str | None) -> tuple[str | None, list[str]]:
    cmdline = procfs.read_value(root, "/proc/cmdline") or ""
    if version == GVISOR_UNAME_VERSION or "gvisor" in release.lower() or "-gvisor" in cmdline:
        evidence = [f"uname: {release} {version or ''}".strip()]
        if cmdline:
            evidence.append(f"/proc/cmdline: {cmdline[:200]}")
        return "gvisor", evidence + [
            "gVisor's sentry reports a fixed kernel (4.4.0, #1 SMP Sun Jan 10 15:06:54 PST 2016)"
        ]
    tokens = cmdline.split()
    kata_args = [t for t in tokens if t.startswith("agent.") or "kata-containers" in t]
    try:
        kata_mounts = [m.mount_point for m in procfs.mountinfo(root) if m.source == "kataShared"]
    except OSError:
        kata_mounts = []
    if kata_args or kata_mounts:
        evidence = []
        if kata_args:
            evidence.append(f"/proc/cmdline has kata-agent options: {' '.join(kata_args[:5])}")
        if kata_mounts:
            evidence.append(
                f"mountinfo: kataShared (virtio-fs/9p share of the Kata VM) at {', '.join(kata_mounts[:3])}"
            )
        return "kata", evidence
    return None, [f"uname version {version!r} is not gVisor's; /proc/cmdline has no -gvisor image, no agent.* "
                  "or kata-containers option; no kataShared mount"]


def sysctls(root: str) -> dict[str, str | None]:
    values = {name: procfs.read_value(root, path) for name, path in SYSCTLS.items()}
    lockdown = procfs.read_value(root, LOCKDOWN)
    if lockdown is not None:
        chosen = re.search(r"\[(\w+)\]", lockdown)
        lockdown = chosen.group(1) if chosen else lockdown
    values["lockdown"] = lockdown
    return values


def collect_host(root: str = "/", in_container: bool | None = None) -> dict:
    release, version = kernel_release(root)
    hv, hv_evidence = hypervisor(root)
    runtime, runtime_evidence = container_runtime(root, in_container)
    box, box_evidence = sandbox(root, release, version)
    return {
        "kernel_release": release,
        "kernel_version": version,
        "boot_id": procfs.read_value(root, "/proc/sys/kernel/random/boot_id"),
        "hypervisor": hv,
        "hypervisor_evidence": hv_evidence,
        "container_runtime": runtime,
        "container_runtime_evidence": runtime_evidence,
        "sandbox": box,
        "sandbox_evidence": box_evidence,
        "clocksource": clocksource(root),
        "sysctls": sysctls(root),
    }
