"""Turn parsed documents into Resources: expand Lists, reject what is not a Kubernetes object."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import NotObject, Origin, Resource, Skipped
from .lines import LineIndex
from .not_objects import kustomize_file


def extract(
    data: Any, path: str, lines: LineIndex | None, cluster: str | None = None, pointer: str = ""
) -> Iterator[Resource | Skipped | NotObject]:
    """Yield the objects in one document (a List yields its items, wherever they nest)."""
    if data is None and not pointer:
        return  # an empty document, as Helm renders between templates
    if not isinstance(data, dict):
        yield _skip(path, lines, pointer, f"not a Kubernetes object (a {_type_name(data)}, not a mapping)")
        return
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        if pointer:  # kubectl never nests Lists; refusing keeps hostile nesting shallow
            yield _skip(path, lines, pointer, "a List inside a List")
            return
        if cluster is None:  # a snapshot (auditor.live.snapshot) names the cluster it was read from
            meta = data.get("metadata")
            annotations = meta.get("annotations") if isinstance(meta, dict) else None
            named = annotations.get(SNAPSHOT_CLUSTER) if isinstance(annotations, dict) else None
            cluster = named if isinstance(named, str) and named else None
        for i, item in enumerate(items):
            yield from extract(item, path, lines, cluster, f"{pointer}/items/{i}")
        return
    if isinstance(kind, str) and kind in CLIENT_SIDE_KINDS and not pointer:
        yield kustomize_file(path, kind, _line(lines, pointer))
        return
    problem = _problem(data)
    if problem:
        yield _skip(path, lines, pointer, f"not a Kubernetes object ({problem})")
        return
    meta = data["metadata"]
    namespace = meta.get("namespace")
    yield Resource(
        kind=data["kind"],
        api_version=data["apiVersion"],
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        name=meta.get("name") or meta.get("generateName") or "",
        obj=data,
        origin=Origin(path=path, pointer=pointer, cluster=cluster, lines=lines),
    )


SNAPSHOT_CLUSTER = "isolation-audit.io/cluster"

# Files that live beside manifests in repositories but are read by kustomize, not the API.
CLIENT_SIDE_KINDS = frozenset({"Kustomization", "Component"})


def _problem(data: dict) -> str | None:
    for field in ("apiVersion", "kind"):
        value = data.get(field)
        if not isinstance(value, str) or not value:
            return f"field '{field}' missing or not a string"
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        return "field 'metadata' missing or not a mapping"
    name = meta.get("name") or meta.get("generateName")
    if not isinstance(name, str) or not name:
        return "field 'metadata.name' missing or not a string"
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        return "field 'metadata.namespace' is not a string"
    return None


def _skip(path: str, lines: LineIndex | None, pointer: str, reason: str) -> Skipped:
    return Skipped(source=path, reason=reason, line=_line(lines, pointer))


def _line(lines: LineIndex | None, pointer: str) -> int | None:
    return lines.resolve([pointer])[pointer] if lines is not None else None


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
