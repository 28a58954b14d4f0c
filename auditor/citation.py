"""Citations a reader can follow, and the one way the tool reads its cited data files.

The package's knowledge (provider machine families, virtualization overheads) and a team's
own overhead measurements are YAML or JSON files checked against a schema; every entry
carries a citation: title, URL and date. Reports quote these citations, never a file of
the repository, which users of the installed package do not have.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .schema_errors import located, schema_error
from .sources.yaml_loader import Node
from .yamlfile import load_one

if TYPE_CHECKING:  # jsonschema is imported when a data file is first checked, not at start-up
    from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).parent / "schemas"
DATA = Path(__file__).parent / "data"


class DataFileError(Exception):
    """A data file that cannot be used; the message names the file, line and field, never a value."""


@dataclass(frozen=True, slots=True)
class Citation:
    title: str
    url: str
    date: str

    def __str__(self) -> str:
        return f"{self.title}, {self.url} ({self.date})"

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "url": self.url, "date": self.date}


def citation(data: Mapping[str, Any]) -> Citation:
    """From schema-checked data."""
    return Citation(data["title"], data["url"], data["date"])


@cache
def validator(schema: str) -> Draft202012Validator:
    """The validator of `schema` (a file in auditor/schemas), with citation.schema.json resolvable."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    shared = json.loads((SCHEMAS / "citation.schema.json").read_text(encoding="utf-8"))
    registry: Registry = Registry().with_resource(shared["$id"], Resource.from_contents(shared))
    main = json.loads((SCHEMAS / schema).read_text(encoding="utf-8"))
    return Draft202012Validator(main, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def load_checked(path: Path, what: str, schema: str, *, shipped: bool = False) -> tuple[Node, Any]:
    """(node, data) of a one-document YAML or JSON file that passes `schema`.

    Read through the one parse path (bounded, value-free errors); an empty file, a syntax
    error, a schema violation or a number that is not finite raises DataFileError as
    `file:line: field: reason`. The package's own files (`shipped`) are held to their
    schemas by the test suite, as its code is, so a scan does not pay for a validator."""
    node, data = load_one(path, what, DataFileError)
    if node is None:
        raise DataFileError(f"{path}: {what} is empty")
    problem = None if shipped else schema_error(validator(schema), data, path, node)
    if problem:
        raise DataFileError(problem)
    # YAML's .nan passes every `minimum` and `maximum` (each comparison with it is false) and
    # would then turn every verdict computed from it into a pass.
    where = next(_not_finite(data, []), None)
    if where is not None:
        raise DataFileError(located(path, node, where, "must be a finite number"))
    return node, data


def _not_finite(value: Any, where: list[str]) -> Iterator[list[str]]:
    """Where the non-finite numbers are (depth is bounded by the loader)."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _not_finite(item, [*where, str(key)])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_finite(item, [*where, str(index)])
