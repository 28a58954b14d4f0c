"""No input can start a line or drive the terminal: names, namespaces, file names, values in
error messages, rule pack titles and messages and config waiver reasons are escaped in the
table, in `rules list/explain` and on every stderr line, whatever characters they hold."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.cli import main
from auditor.reports import markdown
from auditor.terminal import BLANK, escape

REPO = Path(__file__).resolve().parents[2]
# Everything that ends a line, moves the cursor, restyles or reorders text on a terminal.
UNSAFE = (
    [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7f, 0xa0)]
    + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"]
    + [chr(c) for c in range(0x202a, 0x202f)] + [chr(c) for c in range(0x2066, 0x206a)]
)
# No digits or capitals: text at the left margin that starts this way came from an input.
HOSTILE = st.text(st.sampled_from(UNSAFE) | st.sampled_from("abcxyz -_.|[]/\\:é"), min_size=1, max_size=24)
# Where each line the table writes at the left margin begins; everything else is indented.
TOOL_LINE = re.compile(r"(k8s-isolation-audit |PARTIAL AUDIT|Findings:|Nodes and|Placement:|Cross-tenant|"
                       r"Not audited:|Gate:|CRITICAL|HIGH|MEDIUM|LOW|INFO|\d+ of \d+ workload|\.\.\. and \d+ more| |$)")


def assert_inert(text: str) -> None:
    raw = sorted({hex(ord(c)) for c in text if c in UNSAFE and c != "\n"})
    assert not raw, f"raw control characters in the output: {raw}"


def file_name(text: str) -> str:
    return text.replace("/", "").replace("\x00", "")[:60]


def write_inputs(root: Path, name: str, namespace: str, container: str, title: str, reason: str,
                 file: str) -> list[str]:
    """A Pod in a file named `file`, a broken file of that name, a rule pack and a config quoting
    the strings (JSON: its escapes carry any character into YAML and JSON loaders alike)."""
    (root / "in").mkdir()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p" + name, "namespace": "n" + namespace},
           "spec": {"hostPID": True, "containers": [{"name": "c" + container, "image": "i" + name}]}}
    (root / "in" / f"f{file}.json").write_text(json.dumps(pod))
    (root / "in" / f"b{file}.json").write_text("{")
    rule = {"id": "TP001", "name": "the-rule", "title": "t" + title, "severity": "high", "controls": ["x:1"],
            "message": "m" + title + " {kind} {name}", "remediation": "r" + title, "target": "pod",
            "docs": {"what": "w" + title, "why": "y", "bad_example": "", "good_example": "", "references": []},
            "match": {"required": ["spec"]}}
    (root / "pack.yaml").write_text(json.dumps({"pack": "third", "rules": [rule]}))
    (root / "config.yaml").write_text(json.dumps(
        {"waivers": [{"rule": "IA101", "reason": "w" + reason, "expires": "2020-01-01"}]}))
    return [str(root / "in"), str(root / f"gone{file}"), "--rules", str(root / "pack.yaml"),
            "--config", str(root / "config.yaml")]


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check_scan_output(out: str, err: str) -> None:
    assert_inert(out)
    assert_inert(err)
    for line in out.splitlines():
        assert TOOL_LINE.match(line), f"a line the tool did not start: {line!r}"
    assert err and all(line.startswith("k8s-isolation-audit: ") for line in err.splitlines()), err


@given(text=st.text(max_size=50))
def test_escaped_text_is_one_inert_line_and_safe_text_is_unchanged(text):
    escaped = escape(text)
    assert_inert(escaped)
    assert "\n" not in escaped and len(escaped.splitlines()) <= 1
    if text.isprintable() and BLANK.isdisjoint(text):  # the unsafe, invisible and blank are escaped
        assert escaped == text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=HOSTILE, namespace=HOSTILE, container=HOSTILE, title=HOSTILE, reason=HOSTILE, file=HOSTILE)
def test_no_input_reaches_the_table_or_stderr_raw(name, namespace, container, title, reason, file):
    with tempfile.TemporaryDirectory() as tmp:
        argv = write_inputs(Path(tmp), name, namespace, container, title, reason, file_name(file))
        code, out, err = run(["scan", *argv, "--format", "table"])
    assert code == 2, err  # the broken file and the missing path make it partial
    check_scan_output(out, err)


@settings(max_examples=15, deadline=None)
@given(title=HOSTILE)
def test_rules_list_and_explain_escape_pack_text(title):
    with tempfile.TemporaryDirectory() as tmp:
        argv = write_inputs(Path(tmp), "x", "x", "x", title, "x", "x")
        pack = argv[argv.index("--rules") + 1]
        for command in (["rules", "list", "--rules", pack], ["rules", "explain", "TP001", "--rules", pack]):
            code, out, err = run(command)
            assert code == 0 and not err
            assert_inert(out)
        assert out.splitlines()[0] == escape(f"TP001 the-rule: t{title}")  # the title kept to its line


def test_argparse_errors_quoting_arguments_are_escaped():
    code, out, err = run(["scan", "x.yaml", "--nonsense\x1b[2J\nGate: 0"])
    assert code == 2 or not out
    assert_inert(err)


def test_the_real_entry_point_escapes_every_unsafe_character(tmp_path):
    """`python -m auditor scan` with every character of the class in every kind of input."""
    every = "".join(UNSAFE).replace("\x00", "").replace("/", "")
    argv = write_inputs(tmp_path, every, every, every, every, every, file_name(every[:20]) + "z")
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", *argv], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2
    check_scan_output(done.stdout, done.stderr)
    unwrapped = re.sub(r"\n +", "", done.stdout)
    assert "\\x1b" in unwrapped and "\\u202e" in unwrapped and "\\x0b" in done.stderr  # shown, escaped


@given(text=HOSTILE)
def test_markdown_cells_hold_any_text(text):
    cell = markdown.esc(text)
    assert_inert(cell)
    assert "\n" not in cell and not re.search(r"(?<!\\)\|", cell)


def test_rich_markup_in_a_name_is_shown_as_written_not_applied(tmp_path):
    """'[/]' closes nothing and crashed the table ('internal error'); '[bold]' styled it."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "[bold]a[/bold][/]"},
           "spec": {"containers": [{"name": "c", "image": "i"}]}}
    (tmp_path / "pod.json").write_text(json.dumps(pod))
    code, out, err = run(["scan", str(tmp_path), "--format", "table", "--fail-on", "none"])
    assert code == 0 and not err
    assert "[bold]a[/bold][/]/Pod/web" in out
