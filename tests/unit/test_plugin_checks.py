"""Analysis plugins declare their checks, params and sections; packs are held to them."""
from __future__ import annotations

import hashlib
import importlib
import re
import shutil
from datetime import date
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from scan_helpers import TODAY

from auditor import rules as rules_module
from auditor.analysis import AnalysisContext, Section
from auditor.config import Config
from auditor.engine import audit
from auditor.model import Inventory, Origin, Resource
from auditor.pointer import line_of
from auditor.registry import GROUP, PluginError, Plugins, discover
from auditor.rules import VERIFIED, RulePackError, builtin_rules_dir, load_pack, load_rules
from auditor.sources.yaml_loader import load_documents
from auditor.tenancy import resolve_tenancy
from auditor.workloads import top_level_workloads

EXAMPLE = EntryPoint("namespace-labels", "example_plugin:NamespaceLabels", GROUP)


def with_example() -> Plugins:
    return Plugins({**discover(), "namespace-labels": EXAMPLE})


def plugin_from(tmp_path: Path, monkeypatch, name: str, body: str) -> Plugins:
    """The installed plugins plus `name`, a class Plugin with this body, in a module of its own."""
    module = name.replace("-", "_") + "_plugin"
    (tmp_path / f"{module}.py").write_text(
        "from auditor.analysis import Check, Section\n\nclass Plugin:\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + "    def run(self, ctx, rules):\n        return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return Plugins({**discover(), name: EntryPoint(name, f"{module}:Plugin", GROUP)})


def all_plugins() -> Plugins:
    plugins = Plugins()
    for name in plugins.names():
        plugins.get(name)
    return plugins


# -- declarations ------------------------------------------------------------------------


def test_every_installed_plugin_declares_valid_checks_and_sections():
    for name, plugin in all_plugins().loaded.items():
        assert plugin.checks, name
        for check, declared in plugin.checks.items():
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", check), (name, check)
            Draft202012Validator.check_schema(declared.params)
        assert all(isinstance(s, Section) for s in plugin.sections.values())


def test_declared_checks_are_the_checks_a_plugin_runs_and_the_rules_use():
    """No declared check of this repository's plugins without code behind it, and none no
    built-in rule runs."""
    plugins = all_plugins()
    used = {(r.analysis, r.check) for r in load_rules([], plugins).rules if r.analysis}
    for name, plugin in plugins.loaded.items():
        if not type(plugin.analysis).__module__.startswith(("checks.", "auditor.")):
            continue  # a third party's, installed beside this checkout
        table = getattr(importlib.import_module(type(plugin.analysis).__module__), "CHECKS", None)
        if table is not None:
            assert set(table) == set(plugin.checks), name
        assert {(name, c) for c in plugin.checks} <= used, name


def test_a_plugin_without_declarations_is_refused_by_name(tmp_path, monkeypatch):
    plugins = plugin_from(tmp_path, monkeypatch, "bare", "")
    with pytest.raises(PluginError, match="analysis plugin 'bare' .* declares no checks"):
        plugins.get("bare")


def test_two_plugins_filling_one_section_are_refused(tmp_path, monkeypatch):
    plugins = plugin_from(
        tmp_path, monkeypatch, "clash", "checks = {'x': Check()}\nsections = {'nodes': Section(empty=())}"
    )
    plugins.get("kernel-domains")
    with pytest.raises(PluginError, match="report section 'nodes'"):
        plugins.get("clash")


# -- third-party packs against the declarations --------------------------------------------

RULE = """pack: extra
rules:
  - id: XX100
    name: my-rule
    title: t
    severity: low
    controls: ["cis-k8s:5.2.2"]
    message: "namespace {name} lacks the label"
    remediation: r
    docs: {what: w, why: because, bad_example: "", good_example: "", references: []}
    analysis: namespace-labels
    params:
      check: missing-label
      label: team
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "params, line, field, message",
    [
        (
            "      check: missing-lable\n",
            13,
            r"params\.check",
            "unknown check 'missing-lable' for analysis plugin "
            r"'namespace-labels' \(it offers: missing-label, probed-label\)",
        ),
        ("      label: team\n", 12, "params", "missing required field 'check'"),
        ("      check: missing-label\n", 12, r"params", "missing required field 'label'"),
        ("      check: missing-label\n      label: 7\n", 14, r"params\.label", "must be of type string"),
        ("      check: missing-label\n      label: team\n      lable: x\n", 12, r"params", "unexpected field 'lable'"),
        ("      check: probed-label\n      label: team\n", 12, "params", "unexpected field 'label'"),
    ],
)
def test_unknown_checks_and_bad_params_name_file_line_and_field(tmp_path, params, line, field, message):
    path = write(tmp_path, RULE.split("    params:\n")[0] + "    params:\n" + params)
    with pytest.raises(RulePackError, match=rf"pack\.yaml:{line}: rules\[0\]\.{field}: {message}"):
        load_pack(path, with_example())


def test_validate_refuses_a_misspelt_check_in_one_line(tmp_path, capsys):
    from auditor.cli import main

    path = write(tmp_path, RULE.replace("analysis: namespace-labels", "analysis: drift").replace(
        "      check: missing-label\n      label: team\n", "      check: privlege\n"))
    assert main(["rules", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"k8s-isolation-audit: error: \S+pack\.yaml:13: rules\[0\]\.params\.check: unknown check "
                        r"'privlege' for analysis plugin 'drift' \(it offers: [a-z, -]+\)", err), err


def test_a_rule_gets_its_metadata_from_its_checks_declaration(tmp_path):
    plugins = with_example()
    (rule,) = load_pack(write(tmp_path, RULE), plugins)
    assert (rule.check, rule.needs_probe, rule.waivable) == ("missing-label", False, True)
    (probed,) = load_pack(write(tmp_path, RULE.replace("      check: missing-label\n      label: team\n",
                                                        "      check: probed-label\n")), plugins)
    assert probed.needs_probe
    builtin = {r.id: r for r in load_rules([], plugins).rules}
    assert builtin["IA407"].needs_probe and builtin["IA301"].needs_probe and not builtin["IA401"].needs_probe
    assert not builtin["IA001"].waivable


def namespaces(*labelled: tuple[str, dict]) -> Inventory:
    return Inventory(tuple(Resource("Namespace", "v1", None, name, {"metadata": {"name": name, "labels": labels}},
                                    Origin(path="ns.yaml")) for name, labels in labelled))


def test_a_third_party_check_runs_through_the_engine_and_fills_its_section(tmp_path):
    plugins = with_example()
    ruleset = load_rules([write(tmp_path, RULE)], plugins)
    inventory = namespaces(("shop", {"team": "a"}), ("blog", {}))
    report = audit(inventory, ruleset, plugins.loaded, Config(select=("XX100",)), TODAY, "0")
    assert [(f.rule_id, f.name, f.message) for f in report.findings] == [
        ("XX100", "blog", "namespace blog lacks the label")]
    assert report.sections["unlabelled"] == ("blog",)
    # a plugin that ran no rule still has its declared sections, empty
    report = audit(inventory, ruleset, plugins.loaded, Config(select=("IA101",)), TODAY, "0")
    assert report.sections["unlabelled"] == () and set(report.sections) == {
        "nodes", "placement", "overheads", "reachability", "api_access", "unlabelled"}


# -- shared per-audit state ---------------------------------------------------------------


def context(inventory: Inventory) -> AnalysisContext:
    return AnalysisContext(inventory, resolve_tenancy(inventory.resources, Config().tenancy),
                           top_level_workloads(inventory.resources), Config(), date(2026, 1, 1))


def test_state_plugins_share_is_computed_once_per_audit(monkeypatch):
    import checks.fleet as fleet_module

    calls = []
    real = fleet_module._fleet
    monkeypatch.setattr(fleet_module, "_fleet", lambda ctx: calls.append(ctx) or real(ctx))
    one, two = context(namespaces(("a", {}))), context(namespaces(("b", {})))
    first = fleet_module.fleet(one)
    fleet_module.fleet(two)
    assert fleet_module.fleet(one) is first and fleet_module.fleet(one) is not fleet_module.fleet(two)
    assert calls == [one, two]


# -- built-in packs: errors like a third party's, and the digest that spares the checks ----


def builtin_copy(tmp_path: Path, monkeypatch) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(builtin_rules_dir(), copy)
    monkeypatch.setattr(rules_module, "builtin_rules_dir", lambda: copy)
    return copy


def test_the_digests_of_the_verified_builtin_packs_are_current():
    listed = dict(reversed(line.split("  ", 1)) for line in VERIFIED.read_text().splitlines())
    found = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in builtin_rules_dir().glob("*.y*ml")}
    assert listed == found, (
        f"after checking the packs: cd rules && sha256sum *.yaml > ../{VERIFIED.relative_to(VERIFIED.parents[2])}"
    )


def test_the_verified_builtin_packs_pass_every_check():
    plugins = Plugins()
    for path in sorted(builtin_rules_dir().glob("*.y*ml")):
        load_pack(path, plugins, checked=True)


def test_an_unchanged_builtin_pack_skips_the_costly_checks(tmp_path, monkeypatch):
    expected = load_rules([]).rules
    builtin_copy(tmp_path, monkeypatch)
    monkeypatch.setattr(rules_module, "_check_condition", lambda *a: pytest.fail("checked a verified pack"))
    monkeypatch.setattr(rules_module, "schema_error", lambda *a: pytest.fail("checked a verified pack"))
    assert load_rules([]).rules == expected


BROKEN = [
    ("severity: high", "severity: hihg", r"severity: must be one of"),
    ("target: container", "target: contaner", r"target: must be one of"),
    ("check: privilege", "check: privlege", r"params\.check: unknown check 'privlege'"),
    ("params: {check: privilege}", "params: {check: privilege, deep: true}", r"params: unexpected field 'deep'"),
    ("analysis: drift", "analysis: drfit", r"analysis: unknown analysis plugin 'drfit'"),
]


@pytest.mark.parametrize("good, bad, message", BROKEN, ids=[b for _, b, _ in BROKEN])
def test_a_broken_builtin_pack_fails_loudly_with_file_and_line(tmp_path, monkeypatch, good, bad, message):
    copy = builtin_copy(tmp_path, monkeypatch)
    path = next(p for p in sorted(copy.glob("*.yaml")) if good in p.read_text())
    text = path.read_text()
    path.write_text(text.replace(good, bad, 1))
    line = text[: text.index(good)].count("\n") + 1
    with pytest.raises(RulePackError, match=rf"^{re.escape(str(path))}:{line}: rules\[\d+\]\.{message}"):
        load_rules([])


def analysis_rules() -> list[tuple[str, int]]:
    return [(path.name, index) for path in sorted(builtin_rules_dir().glob("*.yaml"))
            for index, rule in enumerate(next(load_documents(path.read_text()))[1]["rules"]) if "analysis" in rule]


@settings(max_examples=30, deadline=None)
@given(target=st.sampled_from(analysis_rules()), check=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True))
def test_any_unknown_check_in_any_builtin_rule_is_an_error_at_its_line(tmp_path_factory, target, check):
    """The class: every analysis rule of every built-in pack, any name its plugin lacks."""
    name, index = target
    plugins = Plugins()
    path = tmp_path_factory.mktemp("pack") / name
    node, data, _ = next(load_documents((builtin_rules_dir() / name).read_text()))
    if check in plugins.get(data["rules"][index]["analysis"]).checks:
        return
    line = line_of(node, ["rules", str(index), "params", "check"])
    lines = (builtin_rules_dir() / name).read_text().splitlines(keepends=True)
    lines[line - 1] = re.sub(r"check: [a-z0-9-]+", f"check: '{check}'", lines[line - 1])
    path.write_text("".join(lines))
    with pytest.raises(RulePackError, match=rf"{re.escape(str(path))}:{line}: rules\[{index}\]\.params\.check: "
                                            rf"unknown check '{check}'"):
        load_pack(path, plugins, checked=False)


def test_a_plugin_with_an_invalid_params_schema_is_named(tmp_path, monkeypatch):
    plugins = plugin_from(tmp_path, monkeypatch, "bad", "checks = {'x': Check(params={'type': 'objekt'})}")
    path = write(tmp_path, RULE.replace("namespace-labels", "bad").replace("missing-label", "x").replace(
        "      label: team\n", ""))
    with pytest.raises(PluginError, match="analysis plugin 'bad' declares an invalid params schema for check 'x'"):
        load_pack(path, plugins)
