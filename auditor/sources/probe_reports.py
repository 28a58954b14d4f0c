"""ProbeReports (`probe` output) from a directory: each becomes a Fact joined to the Inventory."""
from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Iterable

from ..model import Fact, Inventory, Origin, Skipped
from .lines import JsonLines
from .parsing import Limits, ParseError, TooLarge, json_document, read_input, schema_problem

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "probe-report.schema.json"


@cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA.read_text()))


def load_reports(directories: Iterable[str], limits: Limits = Limits()) -> tuple[list[Fact], list[Skipped], list[str]]:
    """(facts, skipped, inputs) for every *.json below the directories, in path order."""
    facts: list[Fact] = []
    skipped: list[Skipped] = []
    inputs: list[str] = []
    for directory in directories:
        root = Path(directory)
        if not root.is_dir():
            skipped.append(Skipped(directory, "probe results: not a directory"))
            continue
        for path in sorted(root.rglob("*.json")):
            inputs.append(str(path))
            fact = _fact(path, skipped, limits)
            if fact is not None:
                facts.append(fact)
    return facts, skipped, inputs


def _fact(path: Path, skipped: list[Skipped], limits: Limits) -> Fact | None:
    try:
        report = json_document(read_input(path, None, limits.max_file_bytes), limits)
    except OSError as exc:
        skipped.append(Skipped(str(path), f"cannot read: {exc.strerror or exc}"))
        return None
    except TooLarge as exc:
        skipped.append(Skipped(str(path), str(exc)))
        return None
    except ParseError as exc:
        skipped.append(Skipped(str(path), str(exc), exc.line))
        return None
    problem = report_problem(report)
    if problem:
        skipped.append(Skipped(str(path), problem))
        return None
    probe = report["probe"]
    return Fact(
        probe_id=path.stem,
        node=probe.get("node"),
        namespace=probe.get("namespace"),
        pod=probe.get("pod"),
        report=report,
        origin=Origin(path=str(path), lines=JsonLines(path=path)),
    )


def report_problem(report: object) -> str | None:
    """Why `report` is not a ProbeReport, in words that quote none of its values, or None."""
    errors = list(_validator().iter_errors(report))
    if not errors:
        return None
    worst = min(errors, key=lambda e: len(e.absolute_path))
    field = "/".join(str(p) for p in worst.absolute_path) or "(top level)"
    return f"not a ProbeReport: {field}: {schema_problem(worst)}"


def with_reports(inventory: Inventory, directories: Iterable[str], limits: Limits = Limits()) -> Inventory:
    """The inventory joined with the probe facts found in `directories`."""
    facts, skipped, inputs = load_reports(directories, limits)
    return replace(
        inventory,
        facts=inventory.facts + tuple(facts),
        skipped=inventory.skipped + tuple(skipped),
        inputs=inventory.inputs + tuple(inputs),
    )
