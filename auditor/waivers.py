"""The engine's own analysis: a finding for each waiver in the config that has expired."""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from .analysis import AnalysisContext, AnalysisResult, Check, Hit
from .model import Origin, Resource, Rule


@dataclass(frozen=True, slots=True)
class _ConfigLine:
    """Where a waiver stands in the config file: every pointer resolves to its line."""

    line: int

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]:
        return {p: self.line for p in pointers}


class Waivers:
    # A waiver cannot hide the notice that another waiver expired.
    checks = {"expired": Check(waivable=False)}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        config = ctx.config
        hits = []
        for rule in rules:
            for waiver in config.waivers:
                if not waiver.expired(ctx.today):
                    continue
                lines = _ConfigLine(waiver.line) if waiver.line is not None else None
                subject = Resource("Waiver", "", waiver.selector.get("namespace"), waiver.describe(), {},
                                   Origin(path=config.path, lines=lines))
                hits.append(Hit(
                    rule.id, subject,
                    f"waiver for {waiver.describe()} expired on {iso(waiver.expires)}; its findings are reported again",
                    {"reason": waiver.reason, "expires": iso(waiver.expires)},
                ))
        return AnalysisResult(hits=tuple(hits))


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
