"""ProbeReports (`probe` output) from a directory: each becomes a Fact joined to the Inventory."""
from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Iterable

import orjson

from ..model import Fact, Inventory, Origin, Skipped
from ..schema_errors import schema_problem
from .files import read_regular, walk
from .lines import JsonLines

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "probe-report.schema.json"


@cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA.read_text()))


def load_reports(directories: Iterable[str]) -> tuple[list[Fact], list[Skipped], list[str]]:
    """(facts, skipped, inputs) for every *.json below the directories, in path order."""
    facts: list[Fact] = []
    skipped: list[Skipped] = []
    inputs: list[str] = []
    for _, path in report_files(directories, skipped):
        inputs.append(str(path))
        fact = _fact(path, skipped)
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
        found = walk(root, skipped, suffixes=(".json",), skip_hidden=True, follow_links=False)
        files.extend((path.relative_to(root).as_posix(), path) for path in found)
    return files


def _fact(path: Path, skipped: list[Skipped]) -> Fact | None:
    try:
        report = orjson.loads(read_regular(path, follow_links=False))
    except OSError as exc:
        skipped.append(Skipped(str(path), f"cannot read: {exc.strerror or exc}"))
        return None
    except orjson.JSONDecodeError as exc:
        skipped.append(Skipped(str(path), f"invalid JSON: {exc.msg}", exc.lineno))
        return None
    problem = schema_problem(_validator(), report)
    if problem:
        skipped.append(Skipped(str(path), f"not a ProbeReport: {problem}"))
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


def with_reports(inventory: Inventory, directories: Iterable[str]) -> Inventory:
    """The inventory joined with the probe facts found in `directories`."""
    facts, skipped, inputs = load_reports(directories)
    return replace(
        inventory,
        facts=inventory.facts + tuple(facts),
        skipped=inventory.skipped + tuple(skipped),
        inputs=inventory.inputs + tuple(inputs),
    )
