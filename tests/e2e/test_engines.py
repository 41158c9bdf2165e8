"""Tier 3 in the other engines: the smoke flow in Firefox and WebKit (Safari's engine).

The full suite runs in Chromium; these run one person-like session each with the fast model, on
the cross-origin isolated server (COOP/COEP; Firefox also on a plain static server):

load, pick a file, final result, Download (alpha checked against the CPython pipeline), an
eraser stroke with the mouse, Undo (back to the AI mask bit for bit), another stroke, reload
(the autosaved session comes back bit for bit), no request to another origin, and the thread
count the badge shows is the one onnxruntime-web really runs (WebKitGTK is isolated but has no
SharedArrayBuffer, so one thread).

- Firefox ESR (Debian `firefox-esr`) is driven over WebDriver BiDi by npm `puppeteer-core`
  (`engines/firefox.mjs`; its packages are installed by `build.py test` from
  `engines/package-lock.json`); every request of the page is recorded.
- WebKitGTK (Debian `webkit2gtk-driver`: WebKitWebDriver + MiniBrowser) is driven by Python
  `selenium` on an Xvfb display. Classic WebDriver reports neither requests nor console
  messages, so the no-foreign-request check reads the page's resource timing entries.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matte.models import load_catalog
from matte.pipeline import segment
from matte.runner import OnnxRunner

pytestmark = pytest.mark.e2e
ENGINES = Path(__file__).parent / "engines"
FIREFOX = "/usr/bin/firefox-esr"
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
CAPTURE = (ENGINES / "capture.js").read_text()


@pytest.fixture(scope="module")
def photo(tmp_path_factory, data_dir) -> Path:
    """The astronaut as a lossless PNG (libjpeg builds decode JPEGs a few levels apart)."""
    path = tmp_path_factory.mktemp("engines") / "astronaut.png"
    Image.open(data_dir / "astronaut.jpg").convert("RGB").save(path)
    return path


@pytest.fixture(scope="module")
def want_alpha(photo) -> np.ndarray:
    pytest.importorskip("onnxruntime")
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    return segment(rgb, load_catalog().get("u2netp"), OnnxRunner())


def _png(entry: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(entry["b64"]))))


def check_flow(out: dict, *, origin: str, photo: Path, want_alpha: np.ndarray,
               isolated: bool = True) -> None:
    """The assertions both engines share, on what their driver collected."""
    assert "failure" not in out, out.get("failure")
    assert out["state"] == "done", out
    assert out["errors"] == [], out["errors"]
    facts = out["facts"]
    assert facts["isolated"] is isolated and facts["backend"] == "wasm", facts
    # the badge shows what onnxruntime-web runs: threads only where shared memory exists
    # (WebKitGTK never has it, and reports 4 cores on a 2-core machine), capped as threads.js
    want_threads = min(16, facts["cores"]) if facts["sab"] and isolated else 1
    assert facts["threads"] == want_threads, facts
    word = "thread" if want_threads == 1 else "threads"
    assert f"WASM, {want_threads} {word}" in facts["badge"], facts

    assert out["result"]["name"] == "astronaut-matte.png"
    rgba = _png(out["result"])
    assert rgba.shape == (512, 512, 4)
    original = np.asarray(Image.open(photo).convert("RGB"))
    shown = rgba[:, :, 3] > 0
    np.testing.assert_array_equal(rgba[:, :, :3][shown], original[shown])
    diff = np.abs(rgba[:, :, 3].astype(int) - want_alpha.astype(int))
    assert diff.mean() < 1.0, diff.mean()  # within 1/255 of CPython on average
    assert (diff > 8).mean() < 0.001

    ai = rgba[:, :, 3]
    stroked, undone = _png(out["stroked"]), _png(out["undone"])
    assert stroked.shape == ai.shape
    assert ai[395:405, 130:270].mean() > 200  # the stroke crosses the subject ...
    assert (stroked[395:405, 130:270] < 60).all()  # ... and erased it
    np.testing.assert_array_equal(undone, ai)  # undo: the AI mask again, bit for bit
    edited, restored = _png(out["edited"]), _png(out["restored"])
    assert (edited[145:155, 210:300] < 60).all() and (edited != ai).any()
    np.testing.assert_array_equal(restored, edited)  # reload brought the session back

    urls = out["requests"] + out.get("resources", [])
    assert urls, "no request was observed at all"
    assert [u for u in urls if not u.startswith(origin + "/")] == []


# --------------------------------------------------------------------------------------------
# Firefox


@pytest.mark.parametrize("mode", ["isolated", "plain"])
def test_firefox_smoke(mode, request, photo, want_alpha, artifacts):
    """On COOP/COEP (threads) and on a plain static server like GitHub Pages (one thread)."""
    served = request.getfixturevalue("isolated_site" if mode == "isolated" else "site")
    if not Path(FIREFOX).exists():
        pytest.skip(f"{FIREFOX} is missing (apt-get install -y firefox-esr)")
    if not (ENGINES / "node_modules" / "puppeteer-core").is_dir():
        pytest.skip("puppeteer-core is not installed (python build.py test installs it)")
    args = {"origin": served.origin, "image": str(photo), "firefox": FIREFOX,
            "out": str(artifacts / f"firefox-{mode}")}
    t0 = time.perf_counter()
    proc = subprocess.run(["node", str(ENGINES / "firefox.mjs"), json.dumps(args)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nfirefox: {out['steps']} ({time.perf_counter() - t0:.1f} s with launch), "
          f"{out.get('facts')}")
    check_flow(out, origin=served.origin, photo=photo, want_alpha=want_alpha,
               isolated=mode == "isolated")
    assert len(out["requests"]) > 10  # BiDi saw the page's requests, not just the document


# --------------------------------------------------------------------------------------------
# WebKit


@pytest.fixture(scope="module")
def display():
    """A private Xvfb display for MiniBrowser."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is missing (apt-get install -y xvfb)")
    for num in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{num}").exists() and not Path(f"/tmp/.X{num}-lock").exists():
            break
    proc = subprocess.Popen([xvfb, f":{num}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if Path(f"/tmp/.X11-unix/X{num}").exists():
            break
        time.sleep(0.1)
    yield f":{num}"
    proc.terminate()
    proc.wait(timeout=10)


class WebKitPage:
    """The few WebDriver calls the smoke flow needs, over selenium's WebKitGTK driver."""

    def __init__(self, display: str) -> None:
        webdriver = pytest.importorskip("selenium.webdriver")
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        opts = Options()
        opts.binary_location = MINIBROWSER
        opts.add_argument("--automation")
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display  # the driver starts MiniBrowser with our environment
        try:
            self.d = webdriver.WebKitGTK(options=opts, service=Service(WEBKIT_DRIVER))
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old
        self.d.set_window_size(1280, 800)
        self.d.set_script_timeout(120)

    def js(self, expr: str):
        return self.d.execute_script(f"return ({expr});")

    def wait(self, expr: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not self.js(expr):
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {expr}")
            time.sleep(0.25)

    def download(self, fmt: str) -> dict:
        from selenium.webdriver.support.select import Select

        if not self.js("Array.isArray(window.__downloads)"):
            self.d.execute_script(CAPTURE)
        Select(self.d.find_element("css selector", "#format")).select_by_value(fmt)
        n = self.js("window.__downloads.length")
        self.d.find_element("css selector", "#download").click()
        self.wait(f"window.__downloads.length > {n}", 60)
        return self.d.execute_async_script(
            f"const done = arguments[arguments.length - 1]; window.__downloads[{n}].then(done);")

    def stroke(self, row: int, c0: int, c1: int) -> None:
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        z, ox, oy, bx, by = self.js(
            "(() => { const v = window.matteApp.editor.view; const b = document.querySelector("
            "'#stage').getBoundingClientRect(); return [v.zoom, v.ox, v.oy, b.left, b.top]; })()")
        y = round(by + (row - oy) * z)
        actions = ActionBuilder(self.d)
        actions.pointer_action.move_to_location(round(bx + (c0 - ox) * z), y)
        actions.pointer_action.pointer_down()
        for i in range(1, 11):
            c = c0 + (c1 - c0) * i / 10
            actions.pointer_action.move_to_location(round(bx + (c - ox) * z), y)
        actions.pointer_action.pointer_up()
        actions.perform()

    def close(self) -> None:
        self.d.quit()


def webkit_flow(page: WebKitPage, origin: str, photo: Path, shots: Path) -> dict:
    out: dict = {"steps": [], "errors": [], "requests": []}
    t0 = time.perf_counter()
    page.d.get(f"{origin}/?model=u2netp")
    page.wait("document.body.dataset.ready === '1' || Boolean(document.body.dataset.error)", 300)
    assert not page.js("document.body.dataset.error || ''"), page.js("document.body.dataset.error")
    out["steps"].append(["ready", time.perf_counter() - t0])
    page.d.find_element("css selector", "#file").send_keys(str(photo))
    page.wait("['done', 'error'].includes(document.body.dataset.state) && !window.matteApp.busy",
              300)
    out["state"] = page.js("document.body.dataset.state")
    out["steps"].append(["done", time.perf_counter() - t0])
    out["facts"] = page.js(
        "({isolated: Boolean(globalThis.crossOriginIsolated),"
        " sab: typeof SharedArrayBuffer !== 'undefined', backend: window.matteApp.backend,"
        " threads: window.matteApp.caps && window.matteApp.caps.threads,"
        " cores: navigator.hardwareConcurrency,"
        " badge: (document.querySelector('#backend') || {}).textContent || ''})")
    page.d.save_screenshot(str(shots / "webkit-done.png"))
    out["result"] = page.download("png")
    page.d.find_element("css selector", "body").send_keys("e")  # eraser
    page.stroke(400, 100, 300)
    out["stroked"] = page.download("mask")
    page.d.find_element("css selector", "#undo").click()
    out["undone"] = page.download("mask")
    page.stroke(150, 180, 330)
    out["edited"] = page.download("mask")
    t = page.js("Date.now()")
    page.wait(f"Number(document.body.dataset.autosaved || 0) > {t}", 30)
    page.d.refresh()
    page.wait("document.body.dataset.restored === '1'", 300)
    out["steps"].append(["restored", time.perf_counter() - t0])
    page.d.save_screenshot(str(shots / "webkit-restored.png"))
    out["restored"] = page.download("mask")
    out["resources"] = page.js("performance.getEntriesByType('resource').map((e) => e.name)")
    out["resources"].append(page.js("location.href"))
    return out


def test_webkit_smoke(isolated_site, photo, want_alpha, artifacts, display):
    for path in (WEBKIT_DRIVER, MINIBROWSER):
        if not Path(path).exists():
            pytest.skip(f"{path} is missing (apt-get install -y webkit2gtk-driver)")
    page = WebKitPage(display)
    try:
        out = webkit_flow(page, isolated_site.origin, photo, artifacts)
    finally:
        page.close()
    print(f"\nwebkit: {out['steps']}, {out['facts']}")
    check_flow(out, origin=isolated_site.origin, photo=photo, want_alpha=want_alpha)
