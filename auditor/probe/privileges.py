"""Who this process is and what the kernel lets it do: ids, capabilities, seccomp, LSM labels."""
from __future__ import annotations

import os

from . import procfs

# Index = capability number (include/uapi/linux/capability.h), up to CAP_CHECKPOINT_RESTORE (40).
CAPABILITIES = tuple((
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
    "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
    "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
    "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE").split())
SECCOMP_MODES = {"0": "disabled", "1": "strict", "2": "filter"}


def decode_capabilities(mask: str) -> tuple[list[str], list[int]]:
    """(names without CAP_, in kernel order; bits above the highest known capability)."""
    value = int(mask, 16)
    bits = [b for b in range(value.bit_length()) if value >> b & 1]
    return [CAPABILITIES[b] for b in bits if b < len(CAPABILITIES)], [b for b in bits if b >= len(CAPABILITIES)]


def collect_privileges(root: str = "/", errors: list[str] | None = None) -> dict:
    errors = [] if errors is None else errors
    status = procfs.status(root)
    if not status:
        raise OSError("/proc/self/status unreadable")
    caps = {}
    for field, key in (("CapEff", "capabilities_effective"), ("CapBnd", "capabilities_bounding")):
        names, unknown = decode_capabilities(status.get(field, "0"))
        if field not in status:
            errors.append(f"privileges: /proc/self/status has no {field} line; {key} left empty")
        if unknown:
            errors.append(f"privileges: {field} has bits above CAP_CHECKPOINT_RESTORE (40) that this probe "
                          f"cannot name: {', '.join(map(str, unknown))}")
        caps[key] = names
    seccomp = status.get("Seccomp")
    if seccomp not in SECCOMP_MODES:
        # The kernel prints the line whenever it is built with CONFIG_SECCOMP; without it there is no filter.
        errors.append(
            f"privileges: Seccomp line {'absent' if seccomp is None else repr(seccomp)} in /proc/self/status; "
            "reported as disabled"
        )
    filters = status.get("Seccomp_filters")
    apparmor, selinux = _lsm_labels(root)
    return {
        "uid": _effective_id(status.get("Uid")),
        "gid": _effective_id(status.get("Gid")),
        **caps,
        "no_new_privs": status.get("NoNewPrivs") == "1",
        "seccomp_mode": SECCOMP_MODES.get(seccomp or "0", "disabled"),
        "seccomp_filters": int(filters) if filters and filters.isdigit() else None,
        "apparmor": apparmor,
        "selinux": selinux,
    }


def _effective_id(line: str | None) -> int:
    # "Uid:  real  effective  saved  filesystem"
    if not line:
        raise OSError("/proc/self/status has no Uid/Gid line")
    return int(line.split()[1])


def _lsm_labels(root: str) -> tuple[str | None, str | None]:
    """(AppArmor profile, SELinux context) of this process; None where that LSM is not active."""
    apparmor = procfs.read_value(root, "/proc/self/attr/apparmor/current")
    current = procfs.read_value(root, "/proc/self/attr/current")  # the first "major" LSM's view
    lsms = (procfs.read_value(root, "/sys/kernel/security/lsm") or "").split(",")
    selinux = None
    if current:
        current = current.rstrip("\x00")
        selinux_active = "selinux" in lsms or os.path.exists(procfs.at(root, "/sys/fs/selinux/enforce"))
        looks_selinux = current.count(":") >= 2 and " (" not in current  # user:role:type[:level]
        if selinux_active or (looks_selinux and "apparmor" not in lsms):
            selinux = current
        elif apparmor is None:
            apparmor = current  # older kernels: AppArmor only through attr/current
    return (apparmor.rstrip("\x00") if apparmor else None), selinux

