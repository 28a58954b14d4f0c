"""The fleet view (`report merge --format html`) in real headless Chromium: it loads without
errors or fetches, the cluster selector filters, and hostile cluster names stay text."""
from __future__ import annotations

import json

from test_html_chromium import HOSTILE, Page, browser, choose, chromium, inert_page  # noqa: F401  (fixtures by name)

from auditor.fleet import merge, to_dict
from auditor.reports.fleet_html import render
from auditor.reports.json_report import to_dict as report_dict


def write_fleet(demo, tmp_path, clusters):
    paths = []
    for i, cluster in enumerate(clusters):
        doc = json.loads(json.dumps(report_dict(demo), default=str))
        doc["source"]["cluster"] = cluster
        if i == 1:  # a second cluster without the info findings: the selector must pick the right rows
            doc["findings"] = [f for f in doc["findings"] if f["severity"] != "info"]
            doc["summary"]["findings"], doc["summary"]["by_severity"]["info"] = len(doc["findings"]), 0
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    page = tmp_path / "fleet.html"
    page.write_text(render(to_dict(merge([*paths, str(bad)]))), encoding="utf-8")
    return page


def shown(page: Page) -> int:
    return page.eval("[...document.querySelectorAll('#findings tbody tr')].filter(r => !r.hidden).length")


def test_fleet_loads_and_the_cluster_selector_filters(browser, demo, tmp_path):  # noqa: F811
    path = write_fleet(demo, tmp_path, ["prod", "stage"])
    page = Page(browser, path.as_uri())
    assert page.errors() == []
    assert page.requests() == [path.as_uri()]
    assert page.eval("document.body.dataset.ready") == "true"
    info = demo.counts()["info"]
    assert shown(page) == 2 * len(demo.findings) - info
    choose(page, "f-cluster", "stage")
    assert shown(page) == len(demo.findings) - info
    choose(page, "f-cluster", "prod")
    assert shown(page) == len(demo.findings)
    choose(page, "f-cluster", "stage")
    assert page.eval("document.querySelector('#clusters tr.picked').dataset.cluster") == "stage"
    choose(page, "f-severity", "4")
    assert shown(page) == demo.counts()["critical"]
    page.eval("document.querySelector('[data-pick-cluster=\"prod\"]').click()")
    assert page.eval("document.getElementById('f-cluster').value") == "prod"
    assert page.eval("document.getElementById('not-merged') !== null") is True
    assert page.eval("document.querySelectorAll('#shared tbody tr').length") > 0
    assert page.errors() == []


def test_hostile_cluster_names_render_as_text(browser, demo, tmp_path):  # noqa: F811
    path = write_fleet(demo, tmp_path, [HOSTILE, "prod"])
    page = inert_page(browser, path)
    choose(page, "f-cluster", HOSTILE)
    assert shown(page) == len(demo.findings)
    choose(page, "f-cluster", "prod")
    assert shown(page) == len(demo.findings) - demo.counts()["info"]
