"""ProbeReports (`probe` output) from a directory: each becomes a Fact joined to the Inventory."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from functools import cache
from pathlib import Path

from ..model import Fact, Inventory, Origin, Skipped
from ..schema_errors import schema_problem
from .files import walk
from .lines import JsonLines
from .parsing import Limits, ParseError, TooLarge, json_document, read_input

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
    for _, path in report_files(directories, skipped):
        inputs.append(str(path))
        fact = _fact(path, skipped, limits)
        if fact is not None:
            facts.append(fact)
    return facts, skipped, inputs


def report_files(directories: Iterable[str | Path], skipped: list[Skipped]) -> list[tuple[str, Path]]:
    """(name relative to its directory, path) of every *.json below the directories, subdirectories
    included. Symbolic links are not followed: a report is a file the probe wrote, and whatever
    is read here goes into evidence bundles too. What cannot be read is named in `skipped`."""
    files: list[tuple[str, Path]] = []
    for directory in directories:
        root = Path(directory)
        if not root.is_dir():
            skipped.append(Skipped(str(directory), "probe results: not a directory"))
            continue
        found = walk(root, skipped, suffixes=(".json",), passed_over=_hidden, follow_links=False)
        files.extend((path.relative_to(root).as_posix(), path) for path in found)
    return files


def _hidden(name: str) -> bool:
    return name.startswith(".")


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
    problem = schema_problem(_validator(), report)
    return f"not a ProbeReport: {problem}" if problem else None


def with_reports(inventory: Inventory, directories: Iterable[str], limits: Limits = Limits()) -> Inventory:
    """The inventory joined with the probe facts found in `directories`."""
    facts, skipped, inputs = load_reports(directories, limits)
    return replace(
        inventory,
        facts=inventory.facts + tuple(facts),
        skipped=inventory.skipped + tuple(skipped),
        inputs=inventory.inputs + tuple(inputs),
    )
