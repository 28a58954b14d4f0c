"""The HTML report in real headless Chromium (Debian package `chromium`).

Two ways in, both with a throwaway profile:
- the command line a person would use (`--screenshot`): the PNG must exist and show a page;
- the DevTools protocol over a pipe (`--remote-debugging-pipe`, no port opened): every
  console error, uncaught exception, CSP violation, dialog and network request is captured
  while the page loads from a file:// URL, and the filters are driven like a person would.

Without chromium the tests skip locally and fail under CI=true (tests/harness/prereq.py);
tests/install-deps.sh installs it.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from harness.prereq import require_binary

from auditor.model import Finding, Location, Severity
from auditor.reports.html import render

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]
TIMEOUT = 90.0
HOSTILE = '"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script><iframe src="https://example.com/">'


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_binary("chromium")


# -- the screenshot, as a person would take it ------------------------------------------

def png_size_and_pixels(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_screenshot_of_the_demo_report(chromium, demo, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(demo), encoding="utf-8")
    png = tmp_path / "shot.png"
    proc = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         "--window-size=1280,2000", page.as_uri()],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.is_file(), proc.stderr[-2000:]
    width, height, pixels = png_size_and_pixels(png.read_bytes())
    assert (width, height) == (1280, 2000)
    assert png.stat().st_size > 30_000  # a blank page compresses to a few kB
    assert len(set(pixels[::97])) > 40  # many distinct byte values: text, tables, colours


# -- the DevTools protocol over a pipe ----------------------------------------------------

class Browser:
    """Just enough of the DevTools protocol: commands out on fd 3, replies and events in on fd 4."""

    def __init__(self, chromium: str, profile: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]

        def wire() -> None:  # in the child: the pipe ends chromium expects, at fds 3 and 4
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "--window-size=1280,2000",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            close_fds=False, preexec_fn=wire, start_new_session=True)
        for fd in (to_child_r, from_child_w, *high):
            os.close(fd)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda m: m.get("id") == self._next)
        assert "error" not in reply, (method, reply["error"])
        return reply.get("result", {})

    def wait(self, match, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if match(event):
                return event
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" not in message:
                    self.events.append(message)
                if match(message):
                    return message
            left = deadline - time.monotonic()
            assert left > 0, "chromium did not answer in time"
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 16)
                assert chunk, "chromium closed the DevTools pipe: " + self.proc.stderr.read().decode()[-2000:]
                self._buffer += chunk

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)  # its own session: the browser and its helpers only
            self.proc.wait()
        self.proc.stderr.close()
        os.close(self._to_child)
        os.close(self._from_child)


class Page:
    """One tab with every error the page can produce recorded."""

    def __init__(self, browser: Browser, url: str):
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.send(f"{domain}.enable", session=self.session)
        browser.send("Page.navigate", {"url": url}, session=self.session)
        browser.wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == self.session)
        self.eval("new Promise(r => setTimeout(r, 300))")  # let late errors arrive

    def eval(self, expression: str):
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": True}, session=self.session)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def _mine(self) -> list[dict]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session]

    def errors(self) -> list[str]:
        out = []
        for e in self._mine():
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                out.append(f"console.{params['type']}: " + json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                out.append(f"log {params['entry'].get('source')}: {params['entry'].get('text')}")
            elif method == "Page.javascriptDialogOpening":
                out.append("dialog: " + params.get("message", ""))
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self._mine() if e.get("method") == "Network.requestWillBeSent"]


@pytest.fixture
def browser(chromium, tmp_path):
    b = Browser(chromium, tmp_path / "profile")
    yield b
    b.close()


def test_the_harness_sees_errors_and_fetches(browser, tmp_path):
    """A page with a thrown error, a console error and a remote image must be caught, or a
    clean result below would prove nothing."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><title>bad</title><img src='http://127.0.0.1:9/x.png'>"
                   "<script>console.error('boom'); null.x;</script>")
    page = Page(browser, bad.as_uri())
    errors = page.errors()
    assert any("boom" in e for e in errors) and any(e.startswith("exception:") for e in errors), errors
    assert any(u.startswith("http://127.0.0.1:9/") for u in page.requests())
    blocked = tmp_path / "csp.html"  # a script the page's CSP does not allow: a CSP report
    blocked.write_text("<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">"
                       "<title>csp</title><script>document.title = 'ran'</script>")
    page = Page(browser, blocked.as_uri())
    assert page.eval("document.title") == "csp"
    assert any("Content Security Policy" in e for e in page.errors()), page.errors()


def test_demo_report_loads_without_errors_or_fetches(browser, demo, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render(demo), encoding="utf-8")
    page = Page(browser, path.as_uri())
    assert page.errors() == []
    assert page.requests() == [path.as_uri()]
    assert page.eval("document.body.dataset.ready") == "true"
    assert page.eval("document.querySelectorAll('#findings tbody tr').length") == len(demo.findings)
    assert page.eval("document.getElementById('f-count').textContent") == (
        f"{len(demo.findings)} of {len(demo.findings)} findings shown")
    sections = page.eval("[...document.querySelectorAll('section')].map(s => s.id)")
    assert sections == ["summary", "reachability", "nodes", "placement", "findings-section", "waivers"]
    assert page.eval("document.querySelectorAll('table.heat').length") == 1  # intended only: no probes --reach


def inert_page(browser: Browser, path: Path) -> Page:
    """The page at `path`, loaded, after checking that HOSTILE in it stayed text: no error,
    no fetch, no script of its own, no element it tried to add."""
    page = Page(browser, path.as_uri())
    assert page.errors() == []
    assert page.requests() == [path.as_uri()]
    assert page.eval("window.pwned === undefined") is True
    assert page.eval("document.querySelectorAll('img, iframe').length") == 0
    assert page.eval("document.scripts.length") == 1
    assert page.eval("document.body.textContent.includes('<script>window.pwned=2</script>')") is True
    return page


def visible(page: Page) -> int:
    return page.eval("[...document.querySelectorAll('#findings tbody tr')].filter(r => !r.hidden).length")


def choose(page: Page, element: str, value: str) -> None:
    page.eval(f"(() => {{ const e = document.getElementById({json.dumps(element)}); e.value = {json.dumps(value)};"
              " e.dispatchEvent(new Event('change')); })()")


def test_filters_by_tenant_severity_and_control(browser, demo, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render(demo), encoding="utf-8")
    page = Page(browser, path.as_uri())
    shop = [f for f in demo.findings if f.tenant == "shop"]
    choose(page, "f-tenant", "shop")
    assert visible(page) == len(shop) > 0
    choose(page, "f-severity", str(int(Severity.HIGH)))
    assert visible(page) == sum(1 for f in shop if f.severity >= Severity.HIGH) > 0
    choose(page, "f-tenant", "")
    choose(page, "f-severity", "0")
    choose(page, "f-control", "cis-k8s:5.2.3")
    assert visible(page) == sum(1 for f in demo.findings if "cis-k8s:5.2.3" in f.controls) > 0
    choose(page, "f-control", "")
    page.eval("(() => { const e = document.getElementById('f-text'); e.value = 'HOSTPID';"
              " e.dispatchEvent(new Event('input')); })()")
    assert 0 < visible(page) < len(demo.findings)
    page.eval("document.querySelector('[data-pick-tenant=\"trading\"]').click()")
    assert page.eval("document.getElementById('f-tenant').value") == "trading"
    assert page.errors() == []


def test_hostile_strings_render_as_text(browser, demo, tmp_path):
    evil = Finding(rule_id="IA101", severity=Severity.CRITICAL, title=HOSTILE, message=HOSTILE, tenant=HOSTILE,
                   namespace=HOSTILE, kind="Pod", name=HOSTILE, container=HOSTILE, node=None, controls=(HOSTILE,),
                   evidence={HOSTILE: HOSTILE}, location=Location(HOSTILE, 1), remediation=HOSTILE)
    node = dict(
        demo.sections["nodes"][0], name=HOSTILE, kernel_shared_by=[HOSTILE, "shop"], substrate_evidence=[HOSTILE]
    )
    reach = {"intended": [{"from_tenant": HOSTILE, "to_tenant": "shop", "allowed": True, "ports": [HOSTILE]}],
             "observed": [{"from_tenant": "shop", "to_tenant": HOSTILE, "allowed": True, "ports": [HOSTILE],
                           "result": "reachable"}]}
    placement = dict(demo.sections["placement"][0], name=HOSTILE, reasons=[HOSTILE])
    report = replace(
        demo, findings=(evil,), sections={"nodes": (node,), "placement": (placement,), "reachability": reach}
    )
    path = tmp_path / "hostile.html"
    path.write_text(render(report), encoding="utf-8")
    page = inert_page(browser, path)
    choose(page, "f-tenant", HOSTILE)
    assert visible(page) == 1
    choose(page, "f-control", HOSTILE)
    assert visible(page) == 1
    assert page.eval("document.querySelectorAll('table.heat').length") == 2  # intended and observed
