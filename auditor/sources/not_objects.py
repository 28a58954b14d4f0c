"""Files that sit beside manifests in a repository but hold no Kubernetes object: CI
workflows, a chart's values, package.json, Compose files, OpenAPI documents. Each is named in
coverage as not an object; none makes the audit partial.

Only what claims nothing is set aside: a mapping with no `apiVersion`, `kind` or `metadata`
key (in any letter case, so a misspelt header is still a broken object), or a list of such
mappings (an Ansible playbook). Whatever claims to be an object and is broken, a lone
scalar, and whatever does not parse still make the audit partial. This applies to files
only: stdin and a renderer's output are meant to be objects throughout.
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from ..model import NotObject

_CLAIMS = frozenset({"apiversion", "kind", "metadata"})

# What a file is, by its name, to say so in coverage (its content decides whether it is one).
_NAMED = (
    (re.compile(r"(^|/)\.github/workflows/[^/]+$"), "a GitHub Actions workflow"),
    (re.compile(r"(^|/)\.gitlab-ci\.ya?ml$"), "a GitLab CI pipeline"),
    (re.compile(r"(^|/)package(-lock)?\.json$"), "an npm package file"),
    (re.compile(r"(^|/)(docker-)?compose([.-][^/]*)?\.ya?ml$"), "a Compose file"),
    (re.compile(r"(^|/)values([.-][^/]*)?\.ya?ml$"), "Helm values"),
    (re.compile(r"(^|/)[jt]sconfig([.-][^/]*)?\.json$"), "a TypeScript configuration"),
)

# JSON with comments by its tools' definition: not JSON, and never a Kubernetes object. Such a
# file that does not parse as JSON is set aside by name; any other that does not parse is a gap.
_JSON_WITH_COMMENTS = re.compile(r"(^|/)([jt]sconfig([.-][^/]*)?\.json|\.?devcontainer\.json|\.vscode/[^/]+\.json)$")


def set_aside(source: str, data: Any, line: int | None) -> NotObject | None:
    """A NotObject for a file's top-level document that claims to be no object, else None."""
    if isinstance(data, dict):
        if any(isinstance(key, str) and key.lower() in _CLAIMS for key in data):
            return None
        what = "an OpenAPI document" if "openapi" in data or "swagger" in data else _named(source)
        return NotObject(source, _reason(what, "no apiVersion or kind"), line)
    if isinstance(data, list) and data and all(isinstance(item, dict) and set_aside(source, item, line)
                                               for item in data):
        return NotObject(source, _reason(_named(source), "a list of mappings with no apiVersion or kind"), line)
    return None


def unparsed_json_with_comments(source: str) -> NotObject | None:
    """A NotObject for a file whose JSON did not parse when its name says it may hold comments."""
    if not _JSON_WITH_COMMENTS.search(PurePath(source).as_posix()):
        return None
    return NotObject(source, _reason(_named(source) or "an editor's configuration", "JSON with comments, not read"))


def kustomize_file(source: str, kind: str, line: int | None) -> NotObject:
    """A kustomization or Component read as a document (from stdin, a renderer, a named file)."""
    if kind == "Component":
        return NotObject(source, "a kustomize Component (built with the overlays that use it)", line)
    return NotObject(source, "a kustomization (kustomize's build file): scan its directory to build it", line)


def _named(source: str) -> str | None:
    path = PurePath(source).as_posix()
    return next((what for pattern, what in _NAMED if pattern.search(path)), None)


def _reason(what: str | None, why: str) -> str:
    return why if what is None else f"{what} ({why})"


