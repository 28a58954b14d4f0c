"""Config files: schema-checked, with errors naming the file, line and field."""
from __future__ import annotations

import pytest

from auditor.config import ConfigError, load_config
from auditor.model import Severity


def test_full_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "tenancy:\n  label: team\n  map: {acme: [a1, a2]}\n  platform_namespaces: [infra]\n"
        "select: [IA1]\nignore: [IA110]\nseverity: {IA107: low}\nfail_on: medium\n"
        "waivers:\n  - rule: IA101\n    namespace: mon\n    reason: r\n    expires: 2027-01-01\n"
    )
    config = load_config(path)
    assert config.tenancy.label == "team" and config.tenancy.map == {"acme": ("a1", "a2")}
    assert config.fail_on == Severity.MEDIUM and config.severity["IA107"] == Severity.LOW
    (waiver,) = config.waivers
    assert waiver.selector == {"namespace": "mon"} and waiver.line == 10


@pytest.mark.parametrize(
    "text, message",
    [
        ("fail_on: sometimes\n", r"c\.yaml:1: fail_on: must be one of \"critical\""),
        ("tenancy:\n  lable: x\n", r"c\.yaml:1: tenancy: unexpected field 'lable'"),
        ("waivers:\n  - rule: IA101\n", r"c\.yaml:2: waivers\[0\]: missing required field 'reason'"),
        ("waivers:\n  - {rule: IA1, reason: r, expires: 2026-02-30}\n", r"c\.yaml: waivers: day is out of range"),
        ("select: [\n", r"c\.yaml:2: invalid YAML"),
    ],
)
def test_bad_config_names_file_line_and_field(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
