"""Is a node bare metal or a VM, and why: providerID, instance type, probe, platform override.

Evidence is ranked: the platform's override wins (and says so), then what a probe observed
on the node (the CPUID hypervisor flag), then the instance type, then the providerID scheme.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .model import Fact, Resource
from .selectors import selects

BARE_METAL, VM, UNKNOWN = "bare-metal", "vm", "unknown"

# providerID scheme -> what the provider's Kubernetes nodes are, unless the instance type says otherwise
PROVIDER_SCHEMES: Mapping[str, tuple[str, str]] = {
    "aws": (VM, "AWS EC2 instance"),
    "gce": (VM, "Google Compute Engine VM"),
    "azure": (VM, "Azure VM"),
    "vsphere": (VM, "VMware vSphere VM"),
    "openstack": (VM, "OpenStack Nova instance"),
    "kubevirt": (VM, "KubeVirt VM"),
    "digitalocean": (VM, "DigitalOcean droplet"),
    "linode": (VM, "Linode instance"),
    "hcloud": (VM, "Hetzner Cloud server"),
    "ibm": (VM, "IBM Cloud VPC instance"),
    "oci": (VM, "Oracle Cloud instance"),
    "alicloud": (VM, "Alibaba Cloud ECS instance"),
    "exoscale": (VM, "Exoscale instance"),
    "ovirt": (VM, "oVirt VM"),
    "proxmox": (VM, "Proxmox VM"),
    "metal3": (BARE_METAL, "Metal3 bare-metal host"),
    "equinixmetal": (BARE_METAL, "Equinix Metal server"),
    "packet": (BARE_METAL, "Equinix Metal (Packet) server"),
    "hrobot": (BARE_METAL, "Hetzner Robot dedicated server"),
    "ironic": (BARE_METAL, "OpenStack Ironic bare-metal node"),
    "maas": (BARE_METAL, "Canonical MAAS machine"),
    "tinkerbell": (BARE_METAL, "Tinkerbell bare-metal machine"),
    "kind": (UNKNOWN, "kind node (a container on its host)"),
}

INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# Bare-metal instance families: AWS `*.metal` / `*.metal-24xl`, OCI `BM.*`, Alibaba `ecs.ebm*`,
# IBM `bx2d-metal-*`/`cx2-metal-*`, and generic `baremetal`/`bare-metal` names.
_METAL_TYPE = re.compile(r"(\.metal(-[0-9a-z]+)?$|^BM\.|^ecs\.ebm|-metal-|baremetal|bare-metal)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Override:
    selector: Mapping[str, Any]  # label selector over the Node, or {"names": [...]}
    substrate: str
    vm_class: str | None = None

    def matches(self, node: Resource) -> bool:
        names = self.selector.get("names")
        if isinstance(names, list):
            return node.name in names
        return selects(self.selector, node.labels)


@dataclass(frozen=True, slots=True)
class Substrate:
    kind: str  # bare-metal | vm | unknown
    evidence: tuple[str, ...]
    vm_class: str  # shared-vm | dedicated-vm, for overhead figures (VMs only)


def classify(node: Resource, facts: Sequence[Fact] = (), overrides: Iterable[Override] = (),
             default_vm_class: str = "shared-vm") -> Substrate:
    evidence: list[str] = []
    notes: list[str] = []  # seen, but deciding nothing
    verdicts: list[str] = []
    spec = node.obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    provider_id = spec.get("providerID")
    if isinstance(provider_id, str) and "://" in provider_id:
        scheme = provider_id.split("://", 1)[0].lower()
        kind, what = PROVIDER_SCHEMES.get(scheme, (UNKNOWN, f"unrecognised provider '{scheme}'"))
        evidence.append(f"providerID {provider_id}: {what}")
        verdicts.append(kind)
    # a label value that is not a string (a hostile or broken Node) decides nothing
    instance_type = next((node.labels[k] for k in INSTANCE_TYPE_LABELS if isinstance(node.labels.get(k), str)), None)
    if instance_type:
        if _METAL_TYPE.search(instance_type):
            evidence.append(f"instance type {instance_type}: a bare-metal family")
            verdicts.append(BARE_METAL)
        else:
            notes.append(f"instance type {instance_type}: not a bare-metal family")
    for fact in facts:
        host = fact.report.get("host", {})
        if host.get("hypervisor") is True:
            evidence.append(
                f"probe {fact.probe_id}: hypervisor present "
                f"({'; '.join(host.get('hypervisor_evidence') or []) or 'CPUID flag'})"
            )
            verdicts.append(VM)
        elif host.get("hypervisor") is False:
            evidence.append(f"probe {fact.probe_id}: no hypervisor (CPUID flag, DMI and /sys/hypervisor show none)")
            verdicts.append(BARE_METAL)
    # Evidence was gathered weakest first; reported strongest first, then what decided nothing.
    evidence.reverse()
    evidence += notes
    for override in overrides:
        if override.matches(node):
            evidence.insert(0, f"platform config: {override.substrate} (overrides the evidence below)")
            return Substrate(override.substrate, tuple(evidence), override.vm_class or default_vm_class)
    decided = next((v for v in reversed(verdicts) if v != UNKNOWN), UNKNOWN)  # observed beats declared
    if not evidence:
        evidence.append("no providerID, instance type, probe or override")
    return Substrate(decided, tuple(evidence), default_vm_class)
