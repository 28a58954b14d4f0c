"""A repository as it is: files that hold no object are named, not gaps; charts and
kustomizations are rendered, or named as not audited with the command to run.

These tests run without helm or kustomize (PATH holds none, or a stand-in for an error
class); tests/render/test_render_real.py renders with the real tools."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scan_helpers import scan, write

from auditor.cli import main
from auditor.sources import render
from auditor.sources.manifests import Limits, load

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "repo-shaped"
NOT_OBJECTS = {".github/workflows/ci.yml", ".gitlab-ci.yml", "docker-compose.yml", "openapi.yaml", "package.json",
               "tsconfig.json"}
UNITS = {"charts/web", "deploy/base", "deploy/overlays/prod"}
SECRET = "s3cr3t-do-not-print"
POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\nspec:\n  containers: []"


@pytest.fixture
def no_tools(tmp_path, monkeypatch):
    """A PATH on which neither helm, kustomize nor kubectl can be found."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def stand_in(directory: Path, name: str, script: str) -> None:
    """A tool on PATH that is a shell script: for error classes the real tools do not show at will."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def relative(paths) -> set[str]:
    return {os.path.relpath(p, FIXTURE) for p in paths}


def test_repository_without_the_tools_names_each_directory_and_the_command_to_run(no_tools, capsys):
    code = main(["scan", str(FIXTURE), "--format", "json", "--fail-on", "none"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 2 and report["summary"]["partial"]
    skipped = {os.path.relpath(s["source"], FIXTURE): s["reason"] for s in report["coverage"]["skipped"]}
    assert set(skipped) == UNITS
    assert f"helm not on PATH, so the audit is partial; run `helm template {FIXTURE}/charts/web | " \
           "k8s-isolation-audit scan -`" in skipped["charts/web"]
    assert f"run `kubectl kustomize {FIXTURE}/deploy/overlays/prod | k8s-isolation-audit scan -`" \
           in skipped["deploy/overlays/prod"]
    assert err.count("\n") == len(UNITS) and all(line.count("\n") == 0 for line in skipped.values())
    assert relative(n["source"] for n in report["coverage"]["not_objects"]) == NOT_OBJECTS
    # the plain manifests are audited all the same; nothing below a chart or overlay is read raw
    assert {(f["rule_id"], f["location"]["path"]) for f in report["findings"] if f["severity"] == "critical"} == {
        ("IA101", str(FIXTURE / "manifests" / "debug-pod.yaml"))}
    assert not [f for f in report["findings"] if "/charts/" in f["location"]["path"] or "/deploy/" in
                f["location"]["path"]]


def test_table_lists_what_is_not_an_object_apart_from_what_was_not_audited(no_tools, capsys):
    main(["scan", str(FIXTURE), "--fail-on", "none"])
    out = capsys.readouterr().out
    gaps, rest = out.split("Not audited:")[1].split("Not Kubernetes objects (no gap in the audit):")
    assert "charts/web" in gaps and "ci.yml" not in gaps
    assert "a GitHub Actions workflow (no apiVersion or kind)" in " ".join(rest.split()) and "charts/web" not in rest


def test_files_that_are_not_objects_leave_the_run_complete(tmp_path):
    write(tmp_path, ".github/workflows/ci.yml", "on: push\njobs: {test: {runs-on: ubuntu-latest}}\n")
    write(tmp_path, "values-prod.yaml", "image: {tag: '1.0'}\n")
    write(tmp_path, "playbook.yml", "- hosts: all\n  tasks: []\n")
    write(tmp_path, "openapi.json", '{"openapi": "3.1.0", "paths": {}}')
    write(tmp_path, ".vscode/settings.json", '{\n  // comment\n  "a": 1\n}')
    write(tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    report = scan([str(tmp_path)])
    assert report.coverage.complete and report.coverage.objects == 1
    reasons = {os.path.relpath(n.source, tmp_path): n.reason for n in report.coverage.not_objects}
    assert reasons == {
        ".github/workflows/ci.yml": "a GitHub Actions workflow (no apiVersion or kind)",
        "values-prod.yaml": "Helm values (no apiVersion or kind)",
        "playbook.yml": "a list of mappings with no apiVersion or kind",
        "openapi.json": "an OpenAPI document (no apiVersion or kind)",
        ".vscode/settings.json": "an editor's configuration (JSON with comments, not read)",
    }


@pytest.mark.parametrize(("name", "text"), [
    (".github/workflows/ci.yml", "on: push\njobs: [\n"),  # a well-known name does not excuse bad YAML
    ("values.yaml", "image: {tag: 1.0\n"),
    ("package.json", '{"name": "x",}'),  # nor bad JSON, unless the format allows comments
    ("misspelt.yaml", "apiversion: v1\nKind: Pod\nmetadata: {name: p}\n"),  # claims to be an object
    ("headless.yaml", "metadata: {name: p}\nspec: {containers: []}\n"),
    ("chart-like.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n"),  # a Chart.yaml by another name
    ("list.yaml", "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n"),  # objects kubectl does not read
    ("scalar.yaml", "just a string\n"),
])
def test_what_claims_to_be_an_object_or_does_not_parse_is_still_a_gap(tmp_path, name, text):
    write(tmp_path, name, text)
    report = scan([str(tmp_path)])
    assert [os.path.relpath(s.source, tmp_path) for s in report.coverage.skipped] == [name]
    assert not report.coverage.not_objects


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_CLAIMS = st.sampled_from(["apiVersion", "kind", "metadata", "APIVERSION", "Kind", "MetaData"])
_SCALARS = st.one_of(st.integers(-5, 5), st.text(max_size=8), st.booleans(), st.none())


@settings(max_examples=60, deadline=None)
@given(plain=st.dictionaries(_KEYS.filter(lambda k: k.lower() not in ("apiversion", "kind", "metadata")),
                             _SCALARS, min_size=1, max_size=5),
       claim=_CLAIMS, value=_SCALARS)
def test_a_mapping_is_set_aside_exactly_when_it_claims_no_object_header(tmp_path_factory, plain, claim, value):
    directory = tmp_path_factory.mktemp("repo")
    (directory / "plain.json").write_text(json.dumps(plain))
    (directory / "claims.json").write_text(json.dumps({**plain, claim: value}))
    inventory = load([str(directory)])
    assert [Path(n.source).name for n in inventory.not_objects] == ["plain.json"]
    # a claimed header with the wrong shape (here: never a full valid object) is a gap
    assert [Path(s.source).name for s in inventory.skipped] == ["claims.json"]


def test_a_kustomization_read_as_a_document_is_named_not_dropped(tmp_path, no_tools):
    path = write(tmp_path, "k.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                     "---\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
    inventory = load([str(path)])
    assert not inventory.skipped and not inventory.resources
    assert [(n.line, n.reason.split(" (")[0]) for n in inventory.not_objects] == [
        (1, "a kustomization"), (4, "a kustomize Component")]


def test_a_named_chart_yaml_or_kustomization_stands_for_its_directory_once(no_tools):
    inventory = load([str(FIXTURE / "charts/web/Chart.yaml"), str(FIXTURE / "charts/web"),
                      str(FIXTURE / "deploy/base/kustomization.yaml")])
    assert inventory.inputs == (str(FIXTURE / "charts/web"), str(FIXTURE / "deploy/base"))
    assert relative(s.source for s in inventory.skipped) == {"charts/web", "deploy/base"}


def test_a_named_file_inside_a_chart_or_overlay_stands_for_it_as_pre_commit_names_files(no_tools, monkeypatch):
    monkeypatch.chdir(FIXTURE)
    inventory = load(["charts/web/templates/deployment.yaml", "charts/web/values.yaml",
                      "deploy/overlays/prod/privileged.yaml", "manifests/debug-pod.yaml"])
    assert inventory.inputs == ("charts/web", "deploy/overlays/prod", "manifests/debug-pod.yaml")
    assert [s.source for s in inventory.skipped] == ["charts/web", "deploy/overlays/prod"]
    assert [r.name for r in inventory.resources] == ["debug"]


def test_an_absolute_path_is_not_looked_above(no_tools):
    """Above the path as written another project may begin: a template named by an absolute
    path is read as the file it is (and a template is no YAML: a gap)."""
    template = FIXTURE / "charts/web/templates/deployment.yaml"
    inventory = load([str(template)])
    assert inventory.inputs == (str(template),)
    (skip,) = inventory.skipped
    assert (skip.source, skip.reason.split(":")[0]) == (str(template), "invalid YAML at column 7")


def test_a_component_directory_is_not_built_on_its_own(tmp_path, no_tools):
    write(tmp_path, "components/debug/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches: []\n")
    inventory = load([str(tmp_path)])
    assert not inventory.skipped
    assert [n.reason for n in inventory.not_objects] == ["a kustomize Component (built with the overlays that use it)"]


# -- error classes of the renderer, with stand-in tools ------------------------------------------

def chart(tmp_path: Path) -> Path:
    write(tmp_path, "chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
    write(tmp_path, "chart/templates/pod.yaml", "{{ .Values.broken }\n")
    return tmp_path / "chart"


@pytest.mark.parametrize(("script", "reason"), [
    (f"echo 'Error: template: {SECRET}' >&2; echo 'password: {SECRET}'; exit 1",
     "`helm template` failed (exit status 1); run it to see why"),
    ("exec /bin/sleep 60", "`helm template` did not finish within 1 s"),
    ("/usr/bin/head -c 5000 /dev/zero", "`helm template` wrote more than the 4096-byte input limit"),
])
def test_a_renderer_that_fails_is_one_value_free_line(tmp_path, monkeypatch, capsys, script, reason):
    stand_in(tmp_path / "bin", "helm", script)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(render, "RENDER_SECONDS", 1)
    directory = chart(tmp_path)
    code = main(["scan", str(directory), "--format", "json", "--max-file-size", "4096"])
    out, err = capsys.readouterr()
    assert code == 2 and SECRET not in out + err
    (skip,) = json.loads(out)["coverage"]["skipped"]
    assert skip == {"source": str(directory), "line": None, "reason": f"chart not rendered: {reason}"}
    assert err == f"k8s-isolation-audit: skipped {directory}: chart not rendered: {reason}\n"


def test_helm_source_comments_point_inside_the_chart_and_only_helms_own_count(tmp_path, monkeypatch):
    """Helm writes `---` and a `# Source:` comment before every manifest, each template's
    documents included. A template may print more such lines, or name paths that leave the
    chart: an object is placed by Helm's own comment, and never outside the chart."""
    rendered = write(tmp_path, "rendered.yaml", "\n".join([
        "---", "# Source: web/templates/a.yaml", "# Source: web/templates/forged.yaml", POD.format("a"),
        "---", "# Source: web/charts/db/templates/b.yaml", POD.format("b"),
        "---", "# Source: web/../../../etc/c.yaml", POD.format("c"),
        "---", "# Source: /etc/d.yaml", POD.format("d"),
    ]))
    stand_in(tmp_path / "bin", "helm", f"/bin/cat {rendered}")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    directory = chart(tmp_path)
    placed = {r.name: r.origin.path for r in load([str(directory)]).resources}
    assert placed == {
        "a": str(directory / "templates/a.yaml"),
        "b": str(directory / "charts/db/templates/b.yaml"),
        "c": str(directory),
        "d": str(directory),
    }


def test_missing_dependencies_are_named_with_the_command_that_vendors_them(tmp_path, monkeypatch):
    stand_in(tmp_path / "bin", "helm", "exit 1")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    directory = chart(tmp_path)
    write(tmp_path, "chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n"
                                        f"  - name: {SECRET}\n    repository: https://charts.example\n"
                                        "  - {name: vendored, version: 1.0.0}\n")
    write(tmp_path, "chart/charts/vendored/Chart.yaml", "apiVersion: v2\nname: vendored\nversion: 1.0.0\n")
    (skip,) = load([str(directory)]).skipped
    assert skip.reason == ("chart not rendered: `helm template` failed (exit status 1); run it to see why; "
                           f"1 of its 2 dependencies are not in charts/: run `helm dependency build {directory}` first")


def test_output_bound_is_the_input_limit(tmp_path, monkeypatch):
    """The rendered stream is an input like a file: the same byte bound, whatever the tool."""
    stand_in(tmp_path / "bin", "helm", "/usr/bin/head -c 100 /dev/zero")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    (skip,) = load([str(chart(tmp_path))], limits=Limits(max_file_bytes=99)).skipped
    assert skip.reason.endswith("wrote more than the 99-byte input limit")


def test_a_relative_path_entry_never_runs_a_tool_the_repository_ships(tmp_path, monkeypatch):
    """Scanning a repository from inside it, with '.' on PATH, must not run its ./helm."""
    directory = chart(tmp_path)
    stand_in(directory, "helm", f"/usr/bin/touch {tmp_path}/ran")
    monkeypatch.chdir(directory)
    monkeypatch.setenv("PATH", os.pathsep.join([".", ""]))
    (skip,) = load(["."]).skipped
    assert "helm not on PATH" in skip.reason and not (tmp_path / "ran").exists()


def test_output_that_is_not_utf8_is_named_not_guessed(tmp_path, monkeypatch):
    stand_in(tmp_path / "bin", "helm", "printf 'kind: Pod\\n\\377\\n'")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    (skip,) = load([str(chart(tmp_path))]).skipped
    assert skip.reason == "chart not rendered: its output is not UTF-8 text (byte 10)"
