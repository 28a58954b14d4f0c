"""A `kind` that is a mapping or a list is a skipped document, never an internal error.

Found by tests/fuzz/test_fuzz_loader.py once the rule fixtures it seeds from changed."""
from __future__ import annotations

import pytest
from scan_helpers import scan, write


@pytest.mark.parametrize("kind", ["{spec: null}", "[Pod]", "{}", "[]"])
def test_unhashable_kind_is_skipped_with_its_line(tmp_path, kind):
    path = write(tmp_path, "m.yaml", f"apiVersion: v1\nmetadata: {{name: p}}\nkind: {kind}\n")
    report = scan([str(path)])
    assert [(s.source, s.line) for s in report.coverage.skipped] == [(str(path), 1)]
    assert "not a Kubernetes object" in report.coverage.skipped[0].reason
