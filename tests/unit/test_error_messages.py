"""Errors about broken inputs name file, line, column and key, never a value (issue 18, item 1).

A unique marker is planted as a value in many kinds of broken documents; it must not appear
in any skip reason, on stderr, in any report format or in the evidence bundle.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.sources.manifests import load
from auditor.sources.probe_reports import load_reports

REPO = Path(__file__).resolve().parents[2]
FORMATS = ("json", "sarif", "junit", "markdown", "html", "table")


def _nested(depth: int, body: str) -> str:
    """`body` (YAML lines) under `depth` levels of mapping keys, in a Pod's spec."""
    lines = [f"{'  ' * i}level{i}:" for i in range(depth)]
    lines += [f"{'  ' * depth}{line}" for line in body.splitlines()]
    return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + "".join(f"  {line}\n" for line in lines)


# Each takes the marker and the depth and gives a broken document's bytes and its file suffix.
BROKEN = {
    "yaml duplicate key, secret first": lambda m, d: (_nested(d, f"value: {m}\nvalue: other"), "yaml"),
    "yaml duplicate key, secret last": lambda m, d: (_nested(d, f"value: other\nvalue: {m}"), "yaml"),
    "yaml duplicate env value": lambda m, d: (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n"
        f"    env:\n    - name: TOKEN\n      value: {m}\n      value: {m}x\n",
        "yaml",
    ),
    "yaml duplicate flow key": lambda m, d: (_nested(d, f"x: {{value: {m}, value: {m}}}"), "yaml"),
    "yaml unknown tag": lambda m, d: (_nested(d, f"value: !secret {m}"), "yaml"),
    "yaml bad indentation": lambda m, d: (_nested(d, f"a:\n    b: {m}\n  c: 1"), "yaml"),
    "yaml unterminated double quote": lambda m, d: (_nested(d, f'value: "{m}'), "yaml"),
    "yaml unterminated single quote": lambda m, d: (_nested(d, f"value: '{m}"), "yaml"),
    "yaml bad escape": lambda m, d: (_nested(d, f'value: "{m}\\q{m}"'), "yaml"),
    "yaml tab indentation": lambda m, d: (_nested(d, f"a:\n\tb: {m}"), "yaml"),
    "yaml control character": lambda m, d: (_nested(d, f"value: {m}\x01{m}"), "yaml"),
    "yaml non-scalar key": lambda m, d: (_nested(d, f"? [{m}]\n: {m}"), "yaml"),
    "yaml merge of a scalar": lambda m, d: (_nested(d, f"a: &x {m}\nb:\n  <<: *x"), "yaml"),
    "yaml anchor defined twice": lambda m, d: (_nested(d, f"a: &{m} 1\nb: &{m} 2"), "yaml"),
    "yaml undefined alias": lambda m, d: (_nested(d, f"a: *{m}"), "yaml"),
    "yaml binary set": lambda m, d: (_nested(d, f"a: !!set {{{m}: null}}"), "yaml"),
    "yaml bad utf-8 after value": lambda m, d: (_nested(d, f"value: {m}\udcff"), "yaml"),
    "json duplicate key": lambda m, d: (
        '{"kind": "Pod", ' * 0 + "{" * d + f'"value": "{m}", "value": "x"' + "}" * d,
        "json",
    ),
    "json duplicate key, secret last": lambda m, d: (
        "{" + '"a": {' * d + f'"value": "x", "value": "{m}"' + "}" * (d + 1),
        "json",
    ),
    "json unterminated string": lambda m, d: ('{"a": ' * d + f'"{m}', "json"),
    "json bare word": lambda m, d: ('{"a": ' * d + f"{m}" + "}" * d, "json"),
    "json missing comma": lambda m, d: (f'{{"a": "{m}" "b": 1}}', "json"),
    "json trailing comma": lambda m, d: (f'{{"a": "{m}",}}', "json"),
    "json bad escape": lambda m, d: (f'{{"a": "{m}\\q"}}', "json"),
    "json control character": lambda m, d: (f'{{"a": "{m}\x01"}}', "json"),
    "json bad utf-8 after value": lambda m, d: (f'{{"a": "{m}\udcff"}}', "json"),
    "json too deep": lambda m, d: ("[" * 120 + f'"{m}"' + "]" * 120, "json"),
    "yaml too deep": lambda m, d: ("[" * 120 + m + "]" * 120, "yaml"),
}


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


markers = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=6, max_size=12).map(lambda s: f"SECRET{s}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(BROKEN)), marker=markers, depth=st.integers(0, 6))
def test_no_skip_reason_quotes_a_value(tmp_path, kind, marker, depth):
    text, suffix = BROKEN[kind](marker, depth)
    path = tmp_path / f"broken.{suffix}"
    _write(path, text)
    inventory = load([str(path)])
    assert inventory.skipped, f"{kind}: not refused"
    for skipped in inventory.skipped:
        assert marker not in skipped.one_line(), (kind, skipped.one_line())
        assert marker[6:] not in skipped.one_line(), (kind, skipped.one_line())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(k for k in BROKEN if k.startswith("json"))), marker=markers)
def test_no_probe_report_error_quotes_a_value(tmp_path, kind, marker):
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    text, _ = BROKEN[kind](marker, 2)
    _write(directory / "r.json", text)
    _write(directory / "wrong-type.json", f'{{"schema_version": "{marker}", "probe": "{marker}"}}')
    _, skipped, _ = load_reports([str(directory)])
    assert len(skipped) == 2
    for item in skipped:
        assert marker[6:] not in item.reason, item.reason


def test_no_rule_pack_or_config_error_quotes_a_value(tmp_path):
    from auditor.config import ConfigError, load_config
    from auditor.rules import RulePackError, load_pack

    marker = "SECRETQWERTY"
    for index, (kind, make) in enumerate(sorted(BROKEN.items())):
        text, suffix = make(marker, 1)
        if suffix != "yaml":
            continue
        path = tmp_path / f"{index}.yaml"
        _write(path, text)
        for loader, error in ((load_config, ConfigError), (load_pack, RulePackError)):
            with pytest.raises(error) as raised:
                loader(path)
            assert marker[6:] not in str(raised.value), (kind, str(raised.value))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(f"fail_on: {marker}\ntenancy: {marker}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(wrong)
    assert marker[6:] not in str(raised.value)


@pytest.mark.slow
def test_no_output_or_stderr_quotes_a_value(tmp_path):
    """Every kind at once through the CLI: stderr, every format, coverage and the evidence bundle."""
    marker = "SECRETZXCVBNM"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for index, (_kind, make) in enumerate(sorted(BROKEN.items())):
        text, suffix = make(marker, index % 4)
        _write(inputs / f"{index:02d}.{suffix}", text)
    _write(inputs / "good.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: ok, namespace: a}\n"
                                 "spec: {containers: [{name: c, image: i}]}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        extra = ["--evidence-dir", str(tmp_path / "evidence")] if fmt == "json" else []
        done = subprocess.run([sys.executable, "-m", "auditor", "scan", str(inputs), "--format", fmt, "-o", str(out),
                               *extra], capture_output=True, env=env, cwd=tmp_path, timeout=300)
        assert done.returncode == 2, (fmt, done.returncode, done.stderr[-2000:])
        assert b"Traceback" not in done.stderr
        assert marker[6:].encode() not in done.stderr, (fmt, done.stderr.decode(errors="replace"))
        report = out.read_bytes()
        assert marker[6:].encode() not in report, fmt
        if fmt == "json":
            skipped = json.loads(report)["coverage"]["skipped"]
            assert len(skipped) >= len(BROKEN) - 1  # each broken file is listed (a List may add more)
    bundle = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
    assert bundle
    for path in bundle:
        assert marker[6:].encode() not in path.read_bytes(), path
