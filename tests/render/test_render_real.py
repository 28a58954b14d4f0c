"""Charts and overlays rendered by the real helm, kustomize and kubectl, built from Go modules
by `tests/apiserver/build.sh render-tools` (cached; tests/install-deps.sh builds them in CI,
where a missing binary fails these tests instead of skipping them)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from scan_helpers import scan_cli, write

from auditor.sources.manifests import load

pytestmark = pytest.mark.rendertools

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "repo-shaped"


def test_repository_end_to_end_points_each_finding_at_the_file_that_produced_it(tools):
    code, report, err = scan_cli(FIXTURE.relative_to(REPO), tools)
    assert code == 1 and not err  # critical findings, nothing skipped
    coverage = report["coverage"]
    assert coverage["complete"] and not coverage["skipped"]
    assert {os.path.relpath(n["source"], "fixtures/repo-shaped") for n in coverage["not_objects"]} == {
        ".github/workflows/ci.yml", ".gitlab-ci.yml", "docker-compose.yml", "openapi.yaml", "package.json",
        "tsconfig.json"}
    rendered = {"fixtures/repo-shaped/charts/web", "fixtures/repo-shaped/deploy/base",
                "fixtures/repo-shaped/deploy/overlays/prod"}
    assert rendered <= set(coverage["inputs"])
    placed = {(f["rule_id"], f["kind"], f["name"], f["namespace"], f["location"]["path"], f["location"]["line"])
              for f in report["findings"] if f["rule_id"] in ("IA101", "IA103", "IA104")}
    assert placed == {
        # the chart's hostNetwork comes from values.yaml into this template
        ("IA103", "Deployment", "release-name-web", None, "fixtures/repo-shaped/charts/web/templates/deployment.yaml",
         None),
        # the overlay's patch makes the base's worker privileged: the object came from the base's file
        ("IA104", "Deployment", "worker", "shop-prod", "fixtures/repo-shaped/deploy/base/deployment.yaml", None),
        ("IA101", "Pod", "debug", "shop-prod", "fixtures/repo-shaped/manifests/debug-pod.yaml", 7),
    }
    paths = {f["location"]["path"] for f in report["findings"]}
    # templates, values and patches are never read raw
    assert not [p for p in paths if p.endswith(("values.yaml", "privileged.yaml", "Chart.yaml", "kustomization.yaml"))]


def test_every_rendered_object_is_audited_once_with_its_template(on_path):
    inventory = load([str(FIXTURE)])
    assert not inventory.skipped
    objects = sorted((r.kind, r.namespace or "", r.name, os.path.relpath(r.origin.path, FIXTURE))
                     for r in inventory.resources)
    assert objects == [
        ("Deployment", "", "release-name-web", "charts/web/templates/deployment.yaml"),
        ("Deployment", "", "worker", "deploy/base/deployment.yaml"),  # the base, built on its own
        ("Deployment", "shop-prod", "worker", "deploy/base/deployment.yaml"),  # the overlay's build of it
        ("Namespace", "", "shop-prod", "manifests/namespace.yaml"),
        ("Pod", "shop-prod", "debug", "manifests/debug-pod.yaml"),
        ("Service", "", "release-name-web", "charts/web/templates/service.yaml"),
    ]
    # the origin annotation was ours to ask for, not the user's: the audited object is the plain build
    worker = next(r for r in inventory.resources if r.namespace == "shop-prod" and r.kind == "Deployment")
    assert "annotations" not in worker.obj["metadata"]
    assert worker.obj["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {"privileged": True}


def test_a_vendored_subchart_points_at_its_own_templates(tmp_path, on_path):
    write(tmp_path, "app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n"
                                      "dependencies:\n  - name: db\n    version: 0.2.0\n")
    write(tmp_path, "app/charts/db/Chart.yaml", "apiVersion: v2\nname: db\nversion: 0.2.0\n")
    write(tmp_path, "app/charts/db/templates/pod.yaml",
          "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  containers: [{name: c, image: i}]\n")
    (resource,) = load([str(tmp_path)]).resources
    assert resource.origin.path == str(tmp_path / "app/charts/db/templates/pod.yaml")


def test_a_chart_whose_dependencies_are_not_vendored_says_how_to_vendor_them(tmp_path, on_path):
    write(tmp_path, "app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                                      "  - name: redis\n    version: 19.0.0\n    repository: https://charts.example\n")
    write(tmp_path, "app/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    (skip,) = load([str(tmp_path / "app")]).skipped
    assert skip.reason == (
        "chart not rendered: `helm template` failed (exit status 1); run it to see why; 1 of its 1 dependencies "
        f"are not in charts/: run `helm dependency build {tmp_path / 'app'}` first")


def test_a_template_error_is_one_line_that_quotes_nothing_from_the_chart(tmp_path, on_path):
    secret = "hunter2-from-values"
    write(tmp_path, "app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
    write(tmp_path, "app/values.yaml", f"password: {secret}\n")
    write(tmp_path, "app/templates/fail.yaml", '{{ fail (printf "bad password %s" .Values.password) }}\n')
    code, report, err = scan_cli(tmp_path / "app", on_path)
    assert code == 2 and secret not in json.dumps(report) + err
    assert err == (f"k8s-isolation-audit: skipped {tmp_path / 'app'}: chart not rendered: `helm template` failed "
                   "(exit status 1); run it to see why\n")


def test_a_broken_kustomization_is_one_line_and_the_rest_is_audited(tmp_path, on_path):
    write(tmp_path, "overlay/kustomization.yaml", "resources:\n  - missing.yaml\n")
    write(tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    inventory = load([str(tmp_path)])
    assert [r.name for r in inventory.resources] == ["p"]
    (skip,) = inventory.skipped
    assert (skip.source, skip.reason) == (str(tmp_path / "overlay"), "kustomization not rendered: `kustomize build` "
                                                                      "failed (exit status 1); run it to see why")


def test_generated_objects_point_at_the_kustomization_that_generates_them(tmp_path, on_path):
    write(tmp_path, "app/kustomization.yaml", "configMapGenerator:\n  - name: settings\n    literals: [mode=fast]\n")
    (resource,) = load([str(tmp_path / "app")]).resources
    assert resource.kind == "ConfigMap" and resource.origin.path == str(tmp_path / "app/kustomization.yaml")


def test_a_kustomization_named_from_another_directory_keeps_paths_relative_to_the_cwd(tmp_path, tools):
    code, report, _ = scan_cli(Path("repo-shaped/deploy/overlays/prod"), tools, cwd=FIXTURE.parent)
    assert code == 1
    (finding,) = [f for f in report["findings"] if f["rule_id"] == "IA104"]
    assert finding["location"]["path"] == "repo-shaped/deploy/base/deployment.yaml"


def test_without_kustomize_kubectl_builds_the_overlay_the_same(tmp_path, tools, monkeypatch):
    only = tmp_path / "bin"
    only.mkdir()
    (only / "kubectl").symlink_to(tools / "kubectl")
    monkeypatch.setenv("PATH", str(only))
    inventory = load([str(FIXTURE / "deploy")])
    assert not inventory.skipped and inventory.inputs == (str(FIXTURE / "deploy/base"),
                                                          str(FIXTURE / "deploy/overlays/prod"))
    placed = sorted((r.namespace or "", r.name, r.origin.path) for r in inventory.resources)
    assert placed == [("", "worker", str(FIXTURE / "deploy/base/deployment.yaml")),
                      ("shop-prod", "worker", str(FIXTURE / "deploy/base/deployment.yaml"))]


def test_a_library_chart_is_not_rendered_on_its_own(tmp_path, on_path):
    """helm refuses to render a library chart ("not installable"): it is rendered with the
    charts that use it, and is no gap on its own."""
    write(tmp_path, "common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n")
    write(tmp_path, "common/templates/_labels.tpl", '{{- define "common.labels" -}}\na: b\n{{- end -}}\n')
    inventory = load([str(tmp_path)])
    assert not inventory.skipped
    assert [(n.source, n.reason) for n in inventory.not_objects] == [
        (str(tmp_path / "common"), "a Helm library chart (rendered with the charts that use it)")]
