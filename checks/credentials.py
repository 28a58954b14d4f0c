"""Credentials in pods: literal env values and command-line flags (CIS 5.4.1), and the
ServiceAccount token Kubernetes mounts (CIS 5.1.6, decided in auditor/token_mount.py).

A JSON Schema can find them but a finding must name them, and only by key: the env var's
name or the flag's name, never the value (which the evidence redaction hides anyway). So this
is Python: the names are picked here, and the values never leave this module.

What counts, chosen for few false positives:
- an env var whose name ends in a credential word (`DB_PASSWORD`, `apiKey`, `GITHUB_TOKEN`,
  `AWS_SECRET_ACCESS_KEY`), case-insensitive, with a literal `value`;
- a flag in `command` or `args` (items split on whitespace, so `sh -c "... --password=x"`
  counts) whose name ends in such a word, with a value after `=` or in the next token.

Names that end in something else describe a credential without holding one
(`PASSWORD_FILE`, `TOKEN_URL`, `SECRET_NAME`, `AWS_ACCESS_KEY_ID`), and these values are no
credential: empty, a `$(VAR)` reference (the value comes from the env, e.g. a secretKeyRef),
an absolute path (a mounted file: the recommended way), or a boolean word. Single-letter
flags (`-p`) are left out: they mean a port as often as a password.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from auditor.analysis import AnalysisContext, AnalysisResult, Check, Hit
from auditor.model import Rule
from auditor.token_mount import token_mounts
from auditor.workloads import ContainerView, PodView

# Compared with the name's last word, and with its last two words joined (`API_KEY` -> apikey).
CREDENTIAL_WORDS = frozenset({
    "password", "passwd", "passphrase", "secret", "token", "credential", "credentials",
    "apikey", "accesskey", "privatekey", "secretkey", "signingkey", "encryptionkey", "masterkey",
})
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# What the API server accepts as an env var name; another name is never printed.
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]{0,252}")
_FLAG = re.compile(r"--?([A-Za-z][A-Za-z0-9_.-]{0,127})")
# `$(VAR)` is Kubernetes' expansion of another env var; `$VAR` and `${VAR}` a shell's.
_REFERENCE = re.compile(r"\$(\([A-Za-z_][A-Za-z0-9_.-]*\)|\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_NOT_SECRETS = frozenset({"true", "false", "yes", "no"})


def credential_name(name: str) -> bool:
    words = [w.lower() for w in _WORDS.findall(name)]
    return bool(words) and (words[-1] in CREDENTIAL_WORDS or "".join(words[-2:]) in CREDENTIAL_WORDS)


def literal(value: Any) -> bool:
    """Whether an env var or flag value holds a credential itself, rather than pointing at one."""
    if value is None or value == "" or isinstance(value, bool):
        return False
    if not isinstance(value, str):
        return True  # a number, or a malformed list or mapping: written in the spec all the same
    text = value.strip().strip("'\"")  # shell quotes around a flag's value
    return not (not text or _REFERENCE.fullmatch(text) or (text.startswith("/") and " " not in text)
                or text.lower() in _NOT_SECRETS)


def env_credentials(container: ContainerView) -> Iterator[tuple[str, str]]:
    """(pointer, env var name) for each credential-named env var with a literal value."""
    env = container.spec.get("env")
    for index, item in enumerate(env if isinstance(env, list) else ()):
        if isinstance(item, dict):
            name = item.get("name")
            if (isinstance(name, str) and _ENV_NAME.fullmatch(name) and credential_name(name)
                    and literal(item.get("value"))):
                yield f"{container.pointer}/env/{index}/name", name


def flag_credentials(container: ContainerView) -> Iterator[tuple[str, str]]:
    """(pointer, flag name such as `--password`) for each credential flag given a literal value."""
    for field in ("command", "args"):
        items = container.spec.get(field)
        tokens = [(index, token) for index, item in enumerate(items if isinstance(items, list) else ())
                  if isinstance(item, str) for token in item.split()]
        for at, (index, token) in enumerate(tokens):
            flag, equals, value = token.partition("=")
            match = _FLAG.fullmatch(flag)
            if match is None or not credential_name(match.group(1)):
                continue
            if not equals:
                following = tokens[at + 1][1] if at + 1 < len(tokens) else ""
                value = "" if following.startswith("-") else following
            if literal(value):
                yield f"{container.pointer}/{field}/{index}", _shown_flag(flag)


def _shown_flag(flag: str) -> str:
    """`-pSuperSecret` may be `-p` with its value glued on (mysql's way): a single-dash flag whose
    tail after its letter is credential-named too is shown as that letter only."""
    if flag.startswith("--") or not credential_name(flag[2:]):
        return flag
    return flag[:2] + "…"


def _hit(rule: Rule, view: PodView, container: ContainerView) -> Hit | None:
    env = list(env_credentials(container))
    flags = list(flag_credentials(container))
    if not env and not flags:
        return None
    r = view.resource
    named = [f"env {n}" for _, n in env] + [f"argument {f}" for _, f in flags]
    message = (f"container {container.name} of {r.kind} {r.name} passes credentials in plain text: "
               f"{', '.join(named)} (values not shown)")
    evidence = {key: sorted({n for _, n in found}) for key, found in
                (("credential_env_vars", env), ("credential_flags", flags)) if found}
    return Hit(rule.id, r, message, evidence, (env + flags)[0][0], container.name, view.node_name)


def _plain_text(ctx: AnalysisContext, rule: Rule) -> Iterator[Hit]:
    for view in ctx.workloads:
        for container in view.containers():
            if (hit := _hit(rule, view, container)) is not None:
                yield hit


def _token_automount(ctx: AnalysisContext, rule: Rule) -> Iterator[Hit]:
    for view, mount in zip(ctx.workloads, ctx.shared(token_mounts), strict=True):
        if mount.mounted:
            r = view.resource
            message = f"{r.kind} {r.name} mounts a token of ServiceAccount {mount.account_name}: {mount.reason}"
            yield Hit(rule.id, r, message, mount.evidence, mount.pointer, None, view.node_name)


CHECKS = {"plain-text": _plain_text, "token-automount": _token_automount}


class Credentials:
    checks = {name: Check() for name in CHECKS}

    def run(self, ctx: AnalysisContext, rules: Sequence[Rule]) -> AnalysisResult:
        hits: list[Hit] = []
        for rule in rules:
            assert rule.check is not None  # the pack loader refuses an analysis rule without one
            hits += CHECKS[rule.check](ctx, rule)
        return AnalysisResult(hits=tuple(hits))
