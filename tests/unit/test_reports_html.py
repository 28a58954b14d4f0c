"""The HTML report as text: self-contained, escaped, every section present.

tests/browser/test_html_chromium.py renders it in a real browser."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import replace

import pytest

from auditor.model import Finding, Location, Severity
from auditor.reports import renderer
from auditor.reports.html import e, render
from auditor.reports.json_report import to_dict

HOSTILE = '"><img src=x onerror=alert(1)></td></tr></table><script>window.pwned=1</script>\u202e<!--'


def hostile_report(demo):
    f = Finding(rule_id="IA101", severity=Severity.CRITICAL, title=HOSTILE, message=HOSTILE, tenant=HOSTILE,
                namespace=HOSTILE, kind="Pod", name=HOSTILE, container=HOSTILE, node=None, controls=(HOSTILE,),
                evidence={HOSTILE: HOSTILE}, location=Location(HOSTILE, 1), remediation=HOSTILE)
    node = dict(demo.sections["nodes"][0], name=HOSTILE, tenants=[HOSTILE, "b"], kernel_shared_by=[HOSTILE, "b"],
                substrate_evidence=[HOSTILE], kernel_version=HOSTILE)
    placement = dict(demo.sections["placement"][0], name=HOSTILE, reasons=[HOSTILE], verdict=HOSTILE)
    reach = {"intended": [{"from_tenant": HOSTILE, "to_tenant": "b", "allowed": True, "ports": [HOSTILE]}],
             "observed": [{"from_tenant": "b", "to_tenant": HOSTILE, "allowed": True, "ports": [HOSTILE],
                           "result": "reachable", "probe": HOSTILE}]}
    return replace(demo, findings=(f,), sections={"nodes": (node,), "placement": (placement,), "reachability": reach},
                   source={"type": "cluster", "cluster": HOSTILE, "inputs": [HOSTILE]})


def test_self_contained_no_external_resources(demo):
    page = render(demo)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:|//)""", page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count("<script>") == 1 and page.count("<style>") == 1


def test_csp_allows_only_the_inline_script_and_style_by_hash(demo):
    page = render(demo)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    digest = lambda s: "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"  # noqa: E731
    assert "default-src 'none'" in csp
    assert f"script-src {digest(script)};" in csp and f"style-src {digest(style)};" in csp
    assert "unsafe-inline" not in csp


def test_every_section_is_there(demo):
    page = render(demo)
    for section in ("summary", "reachability", "nodes", "placement", "findings-section", "waivers"):
        assert f'id="{section}"' in page
    assert page.count('<tr data-tenant=') == len(demo.findings)
    for p in demo.sections["placement"]:
        if p["verdict"] == "no-budget":  # listed by name, no arithmetic to show
            assert f'{p["namespace"]}/{p["name"]} ({p["node_substrate"]})' in page
        else:
            assert p["reasons"][0].split(" (")[0] in page.replace("&#x27;", "'")
    for n in demo.sections["nodes"]:
        assert f">{n['name']}<" in page
    assert "No probe tested reachability" in page  # the demo has no observed reach
    assert 'id="f-tenant"' in page and 'id="f-severity"' in page and 'id="f-control"' in page


def test_every_report_string_is_escaped(demo):
    page = render(hostile_report(demo))
    assert "<img" not in page and "window.pwned=1</script>" not in page and "\u202e" not in page
    assert "<!--" not in page and page.count("<script>") == 1 and page.count("</table>") == page.count("<table")
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_observed_matrix_when_probes_ran(demo):
    reach = dict(
        demo.sections["reachability"],
        observed=[
            {
                "from_tenant": "shop",
                "to_tenant": "analytics",
                "allowed": True,
                "ports": ["TCP/443"],
                "result": "reachable",
            },
            {
                "from_tenant": "analytics",
                "to_tenant": "shop",
                "allowed": False,
                "ports": ["TCP/5432"],
                "result": "filtered",
            },
        ],
    )
    page = render(replace(demo, sections={**demo.sections, "reachability": reach}))
    assert "Observed (probes)" in page and "No probe tested" not in page
    assert '<td class="h-reachable"' in page and '<td class="h-filtered"' in page


def test_takes_the_report_dict_too(demo):
    assert render(to_dict(demo)) == render(demo) == renderer("html")(demo)
    assert json.loads(json.dumps(to_dict(demo)))  # the dict form is plain JSON


@pytest.mark.parametrize("invisible", ["\u200b", "\u00ad", "\u2060", "\ufeff", "\u202e", "\u2028", "\x1b", "\u3164"])
def test_invisible_characters_in_names_are_shown_not_hidden(invisible):
    """A namespace `pro<zero-width>d` must not read as `prod` in the HTML report."""
    shown = e(f"pro{invisible}d")
    assert invisible not in shown and shown != "prod" and shown.startswith("pro") and shown.endswith("d")
