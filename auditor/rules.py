"""Rule packs: YAML data validated against the pack schema. Packs never execute code."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .model import Rule, RuleDocs, Severity
from .sources.yaml_loader import line_of
from .yamlfile import first_schema_error, load_one

SCHEMAS = Path(__file__).parent / "schemas"


class RulePackError(Exception):
    """A pack that cannot be used; the message names the file, line and field."""


def builtin_rules_dir() -> Path:
    # The wheel carries rules/ inside the package; a source checkout has it beside auditor/.
    packaged = Path(__file__).parent / "_rules"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "rules"


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    packs: tuple[str, ...]  # files they came from


@cache
def _pack_validator():
    from jsonschema import Draft202012Validator

    schema = json.loads((SCHEMAS / "rule-pack.schema.json").read_text())
    return Draft202012Validator(schema)


def load_pack(path: Path, checked: bool = True) -> list[Rule]:
    """Rules of one pack. The built-in packs skip the checks at run time (the meta-schema
    check alone costs ~20 ms a rule); a test runs every check on them instead."""
    node, data = load_one(path, "rule pack", RulePackError)
    if node is None:
        raise RulePackError(f"{path}: a rule pack is exactly one YAML document")
    problem = first_schema_error(_pack_validator(), data, node) if checked else None
    if problem:
        tokens, line, message = problem
        raise RulePackError(f"{path}:{line}: {_field(tokens)}: {_short(message)}")
    defs = data.get("$defs", {})
    rules = []
    for index, raw in enumerate(data["rules"]):
        match = _with_defs(raw.get("match"), defs)
        if match is not None and checked:
            _check_condition(path, node, index, match)
        rules.append(_rule(raw, data["pack"], match))
    return rules


def _with_defs(match: Any, defs: Mapping[str, Any]) -> Any:
    """Pack-level `$defs` become the condition's own, so `#/$defs/NAME` resolves."""
    if isinstance(match, dict) and defs:
        return {**match, "$defs": {**defs, **match.get("$defs", {})}}
    return match


_OBJECT_WORDS = ("properties", "required", "additionalProperties", "patternProperties", "propertyNames")
_ARRAY_WORDS = ("items", "prefixItems", "contains", "minItems", "maxItems", "uniqueItems")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs")
_SUBSCHEMAS = ("not", "items", "contains", "additionalProperties", "propertyNames", "if", "then", "else")


def typed(schema: Any) -> Any:
    """The condition with `type` made explicit wherever object or array keywords imply it.

    JSON Schema ignores `properties` and `required` on a value that is not an object, so
    `securityContext: "x"` would vacuously match `{properties: {privileged: {const: true}}}`.
    A malformed field must never read as a violation, nor (under `not`) as compliance.
    """
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "type" not in out and "$ref" not in out:
        if any(w in out for w in _OBJECT_WORDS):
            out["type"] = "object"
        elif any(w in out for w in _ARRAY_WORDS):
            out["type"] = "array"
    for key in _SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [typed(s) for s in out[key]]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: typed(s) for name, s in out[key].items()}
    for key in _SUBSCHEMAS:
        if key in out and key not in _SUBSCHEMA_MAPS:
            out[key] = typed(out[key])
    return out


def _rule(raw: Mapping[str, Any], pack: str, match: Any) -> Rule:
    docs = raw["docs"]
    return Rule(
        id=raw["id"],
        name=raw["name"],
        title=raw["title"],
        severity=Severity.parse(raw["severity"]),
        controls=tuple(raw["controls"]),
        message=raw["message"],
        remediation=raw["remediation"].strip(),
        docs=RuleDocs(
            what=docs["what"].strip(),
            why=docs["why"].strip(),
            bad_example=docs["bad_example"],
            good_example=docs["good_example"],
            references=tuple(docs["references"]),
        ),
        pack=pack,
        target=raw.get("target"),
        kinds=tuple(raw.get("kinds", ())),
        match=typed(match),
        evidence=tuple(raw.get("evidence", ())),
        analysis=raw.get("analysis"),
        params=raw.get("params", {}),
    )


def _check_condition(path: Path, node, index: int, match: Any) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(match)
    except SchemaError as exc:
        tokens = ["rules", str(index), "match", *map(str, exc.absolute_path)]
        line = line_of(node, tokens)
        raise RulePackError(f"{path}:{line}: {_field(tokens[:3])}: invalid JSON Schema: {_short(exc.message)}") from None
    found = _bad_reference(match, match, [])
    if found is not None:
        where, problem = found
        tokens = ["rules", str(index), "match", *where]
        raise RulePackError(f"{path}:{line_of(node, tokens)}: {_field(tokens[:3])}: {problem}")


def _bad_reference(schema: Any, root: Any, where: list[str]) -> tuple[list[str], str] | None:
    """The first reference a condition cannot resolve inside the pack, as (tokens, reason).

    A pack is data: nothing is fetched, so `$ref` must be a JSON pointer into the condition
    (pack-level `$defs` are merged in) that exists. Without this check a reference fails only
    when a target happens to reach it, mid-scan."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            found = _bad_reference(item, root, where + [str(i)])
            if found:
                return found
        return None
    if not isinstance(schema, dict):
        return None
    for keyword in ("$id", "$dynamicRef", "$anchor", "$dynamicAnchor"):
        if keyword in schema:
            return where + [keyword], f"{keyword} is not supported in rule conditions (use $ref: '#/$defs/NAME')"
    ref = schema.get("$ref")
    if ref is not None:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            return where + ["$ref"], (f"$ref {ref!r} points outside the pack: only '#/...' references "
                                      "inside the rule pack are allowed (nothing is fetched)")
        if not _resolves(root, ref):
            return where + ["$ref"], f"$ref {ref!r} does not resolve inside the rule pack"
    for key, value in schema.items():
        if key in ("const", "enum", "default", "examples"):  # data, not subschemas
            continue
        if key in ("properties", "patternProperties", "$defs", "dependentSchemas") and isinstance(value, dict):
            subschemas = [([key, name], sub) for name, sub in value.items()]  # names are not keywords
        else:
            subschemas = [([key], value)]
        for tokens, sub in subschemas:
            found = _bad_reference(sub, root, where + tokens)
            if found:
                return found
    return None


def _resolves(root: Any, ref: str) -> bool:
    from urllib.parse import unquote

    node = root
    for raw in ref[2:].split("/") if ref != "#" else ():
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) or str(part).isdigit() else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def pack_files(extra: Sequence[str | Path] = ()) -> list[Path]:
    """The built-in packs, then each extra file or every .yaml/.yml in each extra directory."""
    files = sorted(builtin_rules_dir().glob("*.y*ml"))
    for entry in map(Path, extra):
        if entry.is_dir():
            files.extend(sorted(p for p in entry.iterdir() if p.suffix in (".yaml", ".yml")))
        elif entry.exists():
            if entry.resolve() not in {f.resolve() for f in files}:  # a built-in pack named again
                files.append(entry)
        else:
            raise RulePackError(f"{entry}: no such rule pack file or directory")
    return files


def load_rules(extra: Sequence[str | Path] = (), analyses: Iterable[str] | None = None) -> RuleSet:
    """Load and cross-check packs: ids unique, every analysis rule names a known plugin."""
    files = pack_files(extra)
    builtin = builtin_rules_dir().resolve()
    seen: dict[str, Path] = {}
    rules: list[Rule] = []
    known = set(analyses) if analyses is not None else None
    for file in files:
        for rule in load_pack(file, checked=file.resolve().parent != builtin):
            if rule.id in seen:
                raise RulePackError(f"{file}: rules.id: duplicate rule id {rule.id} (also in {seen[rule.id]})")
            seen[rule.id] = file
            if known is not None and rule.analysis is not None and rule.analysis not in known:
                raise RulePackError(
                    f"{file}: rules[{rule.id}].analysis: unknown analysis plugin '{rule.analysis}' "
                    f"(registered: {', '.join(sorted(known)) or 'none'})"
                )
            rules.append(rule)
    return RuleSet(rules=tuple(rules), packs=tuple(str(f) for f in files))

