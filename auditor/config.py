"""The audit configuration: tenancy, rule selection, severity overrides, waivers, gating."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .model import Finding, Rule, Severity
from .pointer import line_of
from .rules import SCHEMAS
from .schema_errors import schema_error
from .tenancy import DEFAULT_PLATFORM_NAMESPACES, TenancyConfig
from .yamlfile import load_one

if TYPE_CHECKING:  # jsonschema is imported when a config is first checked, not at start-up
    from jsonschema import Draft202012Validator

    from .overhead import OverheadTable


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class Waiver:
    rule: str
    reason: str
    expires: date | None = None
    selector: Mapping[str, str] = field(default_factory=dict)  # tenant/namespace/kind/name/container
    line: int | None = None  # in the config file, for the expired-waiver finding

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, finding: Finding) -> bool:
        if not fnmatchcase(finding.rule_id, self.rule):
            return False
        for key, pattern in self.selector.items():
            value = getattr(finding, key)
            if value is None or not fnmatchcase(value, pattern):
                return False
        return True

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.selector.items()))
        return f"{self.rule} ({where})" if where else self.rule


@dataclass(frozen=True, slots=True)
class Config:
    tenancy: TenancyConfig = field(default_factory=TenancyConfig)
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    fail_on: Severity | None = Severity.HIGH
    waivers: tuple[Waiver, ...] = ()
    analyses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    path: str | None = None
    overheads: OverheadTable | None = None  # `scan --overheads FILE`; None: the package's defaults

    def active(self, rule: Rule) -> bool:
        """ruff-style selection: a rule runs if selected (or nothing is) and not ignored."""
        if self.select and not any(_names(rule, s) for s in self.select):
            return False
        return not any(_names(rule, s) for s in self.ignore)

    def severity_of(self, rule: Rule) -> Severity:
        return self.severity.get(rule.id, self.severity.get(rule.name, rule.severity))


def _names(rule: Rule, selector: str) -> bool:
    return rule.id.startswith(selector) or rule.name == selector


def check_rule_references(config: Config, rules: Sequence[Rule]) -> None:
    """A typo in select, ignore, severity or a waiver must not silently turn a gate green."""
    where = config.path or "config"
    for field_name, selectors in (("select", config.select), ("ignore", config.ignore)):
        for s in selectors:
            if not any(_names(r, s) for r in rules):
                raise ConfigError(f"{where}: {field_name}: {s!r} names no rule id, id prefix or rule name")
    for key in config.severity:
        if not any(key in (r.id, r.name) for r in rules):
            raise ConfigError(f"{where}: severity: {key!r} is not a rule id or name")
    for w in config.waivers:
        if not any(fnmatchcase(r.id, w.rule) for r in rules):
            raise ConfigError(f"{where}:{w.line or 1}: waivers: rule {w.rule!r} matches no rule id")


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads((SCHEMAS / "config.schema.json").read_text()))


def load_config(path: str | Path) -> Config:
    path = Path(path)
    node, data = load_one(path, "config file", ConfigError)
    if node is None:
        return Config(path=str(path))
    data = {} if data is None else data
    problem = schema_error(_validator(), data, path, node)
    if problem:
        raise ConfigError(problem)
    try:
        config = parse_config(data, str(path))
        lines = [line_of(node, ["waivers", str(i)]) for i in range(len(config.waivers))]
        return replace(config, waivers=tuple(replace(w, line=n) for w, n in zip(config.waivers, lines, strict=True)))
    except ValueError as exc:  # a well-formed but impossible date such as 2026-02-30
        raise ConfigError(f"{path}: waivers: {exc}") from None


def parse_config(data: Mapping[str, Any], path: str | None = None) -> Config:
    """Build a Config from already-validated data."""
    tenancy = data.get("tenancy", {})
    fail_on = data.get("fail_on", "high")
    return Config(
        tenancy=TenancyConfig(
            label=tenancy.get("label"),
            map={t: tuple(ns) for t, ns in tenancy.get("map", {}).items()},
            platform_namespaces=tuple(tenancy.get("platform_namespaces", DEFAULT_PLATFORM_NAMESPACES)),
            users=dict(tenancy.get("identities", {}).get("users", {})),
            groups=dict(tenancy.get("identities", {}).get("groups", {})),
        ),
        select=tuple(data.get("select", ())),
        ignore=tuple(data.get("ignore", ())),
        severity={k: Severity.parse(v) for k, v in data.get("severity", {}).items()},
        fail_on=None if fail_on == "none" else Severity.parse(fail_on),
        waivers=tuple(
            Waiver(
                rule=w["rule"],
                reason=w["reason"],
                expires=date.fromisoformat(w["expires"]) if "expires" in w else None,
                selector={k: w[k] for k in ("tenant", "namespace", "kind", "name", "container") if k in w},
            )
            for w in data.get("waivers", ())
        ),
        # substrate and placement are first-class config, read by the analyses that need them
        analyses={**data.get("analyses", {}), **{k: data[k] for k in ("substrate", "placement") if k in data}},
        path=path,
    )
