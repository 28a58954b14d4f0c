"""Is a node bare metal or a VM, and why: providerID, instance type, probe, platform override.

Evidence is ranked: the platform's override wins (and says so), then what a probe observed
on the node (the CPUID hypervisor flag), then the instance type, then the providerID.
What providers' providerIDs and machine families mean is package data with a source per
entry (auditor/data/providers.yaml); the evidence cites those sources.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from .citation import DATA, Citation, citation, load_checked
from .model import Fact, Resource
from .selectors import selects

BARE_METAL, VM, UNKNOWN = "bare-metal", "vm", "unknown"
PROVIDERS = DATA / "providers.yaml"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    substrate: str
    provider_id: re.Pattern[str] | None
    instance_type: re.Pattern[str] | None
    examples: tuple[str, ...]
    source: Citation


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    provider_id: re.Pattern[str] | None
    substrate: str
    examples: tuple[str, ...]
    source: Citation
    families: tuple[Family, ...]


def _pattern(text: str | None) -> re.Pattern[str] | None:
    return re.compile(text) if text is not None else None


@cache
def providers() -> tuple[Provider, ...]:
    """The packaged provider data, loaded once (the test suite holds it to its schema)."""
    _, data = load_checked(PROVIDERS, "provider data", "providers.schema.json", shipped=True)
    return tuple(
        Provider(
            p["id"], p["name"], _pattern(p.get("provider_id")), p["substrate"], tuple(p.get("examples", ())),
            citation(p["source"]),
            tuple(Family(f["name"], f["substrate"], _pattern(f.get("provider_id")), _pattern(f.get("instance_type")),
                         tuple(f["examples"]), citation(f["source"])) for f in p.get("families", ())),
        )
        for p in data["providers"]
    )


def _found(pattern: re.Pattern[str] | None, value: str | None) -> bool:
    """Whether `value` is one the pattern describes. A line break is in no providerID or label
    value Kubernetes accepts, and a pattern's `$` would match before a final one (`m5.metal` and a newline)."""
    return pattern is not None and value is not None and "\n" not in value and pattern.search(value) is not None


def provider_of(provider_id: str) -> Provider | None:
    return next((p for p in providers() if _found(p.provider_id, provider_id)), None)


def family_of(provider: Provider | None, provider_id: str | None,
              instance_type: str | None) -> tuple[Family, str] | None:
    """(family, what matched it) for the providerID or instance type: the provider's own
    families when the providerID names one, else any provider's instance-type family."""
    candidates = provider.families if provider is not None else [f for p in providers() for f in p.families]
    for family in candidates:
        if _found(family.provider_id, provider_id):
            return family, f"providerID {provider_id}"
        if _found(family.instance_type, instance_type):
            return family, f"instance type {instance_type}"
    return None


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
    provider: str | None = None  # the id of the provider the providerID names


def classify(node: Resource, facts: Sequence[Fact] = (), overrides: Iterable[Override] = (),
             default_vm_class: str = "shared-vm") -> Substrate:
    evidence: list[str] = []
    notes: list[str] = []  # seen, but deciding nothing
    verdicts: list[str] = []
    spec = node.obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    provider_id = spec.get("providerID") if isinstance(spec.get("providerID"), str) and spec["providerID"] else None
    provider = provider_of(provider_id) if provider_id is not None else None
    if provider is not None:
        evidence.append(f"providerID {provider_id}: {provider.name}, {_described(provider.substrate)} unless a "
                        f"machine family says otherwise (see {provider.source.url})")
        verdicts.append(provider.substrate)
    elif provider_id is not None:
        evidence.append(f"providerID {provider_id}: no known provider")
        verdicts.append(UNKNOWN)
    # a label value that is not a string (a hostile or broken Node) decides nothing
    instance_type = next((node.labels[k] for k in INSTANCE_TYPE_LABELS if isinstance(node.labels.get(k), str)), None)
    found = family_of(provider, provider_id, instance_type or None)
    if found is not None:
        family, matched = found
        evidence.append(f"{matched}: {family.name}, {_described(family.substrate)} (see {family.source.url})")
        verdicts.append(family.substrate)
    elif instance_type:
        notes.append(f"instance type {instance_type}: no known machine family")
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
            return Substrate(override.substrate, tuple(evidence), override.vm_class or default_vm_class,
                             provider.id if provider else None)
    decided = next((v for v in reversed(verdicts) if v != UNKNOWN), UNKNOWN)  # observed beats declared
    if not evidence:
        evidence.append("no providerID, instance type, probe or override")
    return Substrate(decided, tuple(evidence), default_vm_class, provider.id if provider else None)


def _described(substrate: str) -> str:
    return {BARE_METAL: "bare metal", VM: "a VM"}.get(substrate, "substrate unknown")
