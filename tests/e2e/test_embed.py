"""Tier 3: the embed API. The app runs in an iframe of a page served from another port (another
origin) and talks to it with postMessage; origins not on the deployer's allowlist get nothing.

Servers (all on 127.0.0.1, each port its own origin):
- ``allowed_host`` / ``foreign_host``: ``examples/`` (the example host page) as a plain static
  site; only the first one's origin is in the app's ``embed.json``.
- the app: the built site with its own ``embed.json`` (a symlinked copy of site/), served as
  ``build.py serve`` does (COOP/COEP, CSP header with frame-ancestors) or, for the JavaScript
  allowlist check, like a static host that sends none of our headers.
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import threading
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import ROOT, build, site_dir

pytestmark = pytest.mark.e2e
EXAMPLES = ROOT / "examples"
BG = (30, 144, 255)  # the colour background of the JPEG round trip

# Every message the top window receives, from anyone (installed before the page's scripts).
RECORD_MESSAGES = """
if (window === window.top) {
  window.__received = [];
  window.addEventListener("message", (e) => {
    const d = e.data || {};
    const frame = document.getElementById("matte");
    window.__received.push({origin: e.origin, type: d.type, id: d.id, stage: d.stage,
                            message: d.message,
                            fromApp: Boolean(frame && e.source === frame.contentWindow)});
  });
}
"""

READ_RESULT = """async () => {
  const buf = new Uint8Array(await (await fetch(document.getElementById("download").href))
    .arrayBuffer());
  let s = "";
  for (let i = 0; i < buf.length; i += 0x8000) {
    s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
  }
  return btoa(s);
}"""


class _Static(http.server.SimpleHTTPRequestHandler):
    """Another site: plain static files, no headers of ours (optionally COOP/COEP)."""

    isolate = False

    def end_headers(self) -> None:
        if self.isolate:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - base class signature
        pass


class _Running:
    def __init__(self, handler) -> None:
        self.server = build.Server(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _host(*, isolate: bool = False) -> _Running:
    handler = type("Host", (_Static,), {"isolate": isolate})
    return _Running(functools.partial(handler, directory=str(EXAMPLES)))


@pytest.fixture(scope="module")
def hosts():
    running = {"allowed": _host(), "foreign": _host(), "isolated": _host(isolate=True)}
    yield running
    for r in running.values():
        r.close()


@pytest.fixture(scope="module")
def embed_root(tmp_path_factory, hosts) -> Path:
    """site/ with an embed.json that allows the 'allowed' and 'isolated' hosts only."""
    site = site_dir()
    root = tmp_path_factory.mktemp("embed-site")
    for entry in site.iterdir():
        if entry.name != build.EMBED_FILE:
            (root / entry.name).symlink_to(entry.resolve())
    conf = build.write_embed_config(root, [hosts["allowed"].origin, hosts["isolated"].origin])
    assert hosts["foreign"].origin not in conf["allowed_origins"]
    return root


@pytest.fixture(scope="module")
def app_served(embed_root):
    """Like `python build.py serve`: COOP/COEP, CSP header with frame-ancestors."""
    app = _Running(build.make_handler(embed_root, isolate=True))
    yield app
    app.close()


@pytest.fixture(scope="module")
def app_static(embed_root):
    """Like a static host (GitHub Pages): no frame-ancestors header, only the page's checks."""
    app = _Running(build.make_handler(embed_root, isolate=False, frame_ancestors=False))
    yield app
    app.close()


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory, data_dir) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.open(data_dir / "astronaut.jpg").convert("RGB").save(path)
    return path


class Host:
    """The example host page in a fresh context, with every request and message recorded."""

    def __init__(self, browser, host: _Running, app: _Running,
                 query: str = "?model=u2netp") -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 940})
        self.context.add_init_script(RECORD_MESSAGES)
        self.page = self.context.new_page()
        self.app = app
        self.requests: list[tuple[str, str, str, bytes | None]] = []
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []

        def on_request(r) -> None:
            try:
                frame = "host" if r.frame == self.page.main_frame else "app"
            except Exception:  # noqa: BLE001 - requests of workers have no frame
                frame = "app"  # only the app starts workers
            self.requests.append((r.method, r.url, frame, r.post_data_buffer))

        self.page.on("request", on_request)
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        app_url = f"{app.origin}/{query}"
        self.page.goto(f"{host.origin}/embed.html?app={quote(app_url, safe='')}")

    def app_frame(self):
        self.page.wait_for_selector("#matte", state="attached")
        for _ in range(200):
            for frame in self.page.frames:
                if frame.url.startswith(self.app.origin + "/"):
                    return frame
            self.page.wait_for_timeout(100)
        raise AssertionError(f"no frame of {self.app.origin}: {[f.url for f in self.page.frames]}")

    def received(self) -> list[dict]:
        return self.page.evaluate("window.__received")

    def wait_message(self, msg_id: str, timeout: float = 30.0) -> list[dict]:
        """Poll (the host page's CSP forbids the eval behind wait_for_function)."""
        for _ in range(int(timeout * 10)):
            found = [m for m in self.received() if m["id"] == msg_id]
            if found:
                return found
            self.page.wait_for_timeout(100)
        raise AssertionError(f"no answer to {msg_id}: {self.received()}")

    def wait_results(self, n: int, timeout: float = 300_000) -> None:
        self.page.wait_for_selector(f'body[data-results="{n}"], body[data-state="error"]',
                                    state="attached", timeout=timeout)
        assert self.page.get_attribute("body", "data-state") == "result", \
            self.page.inner_text("#progress")

    def result(self) -> tuple[bytes, str]:
        return (base64.b64decode(self.page.evaluate(READ_RESULT)),
                self.page.get_attribute("#download", "download"))

    def app_requests_elsewhere(self) -> list[str]:
        """Requests of the app's frame (and workers) that did not go to the app's origin."""
        return [url for _, url, frame, _ in self.requests
                if frame == "app" and not url.startswith((self.app.origin + "/", "blob:"))]

    def close(self) -> None:
        self.context.close()


def _eroded_zero(alpha: np.ndarray, r: int = 4) -> np.ndarray:
    """Pixels whose whole (2r+1)^2 neighbourhood is fully transparent."""
    zero = alpha == 0
    out = zero.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out &= np.roll(np.roll(zero, dy, 0), dx, 1)
    return out


def test_round_trip_from_another_origin(browser, hosts, app_served, astronaut_png, artifacts):
    """The example host page sends a photo into the iframe and gets the cut-out back: PNG with
    alpha, then JPEG on a colour, then the mask after an edit made inside the iframe."""
    host = Host(browser, hosts["allowed"], app_served)
    page = host.page
    try:
        page.wait_for_selector('body[data-state="ready"]', state="attached", timeout=120_000)
        frame = host.app_frame()
        assert frame.evaluate("document.body.dataset.embed") == "1"
        # a non-isolated parent: the iframe runs without cross-origin isolation (one thread)
        assert frame.evaluate("crossOriginIsolated") is False

        # 1. transparent PNG
        page.set_input_files("#file", str(astronaut_png))
        page.click("#send")
        host.wait_results(1)
        png, name = host.result()
        assert name == "astronaut-matte.png"
        out = Image.open(io.BytesIO(png))
        assert out.format == "PNG" and out.mode == "RGBA" and out.size == (512, 512)
        rgba = np.asarray(out)
        alpha = rgba[:, :, 3]
        assert (alpha == 0).mean() > 0.2 and (alpha == 255).mean() > 0.2
        original = np.asarray(Image.open(astronaut_png).convert("RGB"))
        shown = alpha > 0
        np.testing.assert_array_equal(rgba[:, :, :3][shown], original[shown])
        assert (rgba[~shown] == 0).all()
        assert "512×512 · image/png" in page.inner_text("#result-meta")
        received = host.received()
        assert all(m["fromApp"] and m["origin"] == app_served.origin for m in received), received
        types = [m["type"] for m in received]
        assert types[0] == "ready" and types[-1] == "result", types
        stages = [m["stage"] for m in received if m["type"] == "progress"]
        assert stages[0] == "queued" and "inference" in stages and "encode" in stages, stages

        # 2. JPEG on a colour background
        page.select_option("#background", "custom")
        page.fill("#color", "#" + bytes(BG).hex())
        page.select_option("#format", "jpeg")
        page.click("#send")
        host.wait_results(2)
        jpg, name = host.result()
        assert name == "astronaut-matte.jpg"
        out = Image.open(io.BytesIO(jpg))
        assert out.format == "JPEG" and out.mode == "RGB" and out.size == (512, 512)
        rgb = np.asarray(out).astype(int)
        background = _eroded_zero(alpha)
        assert background.sum() > 5000
        median = np.median(rgb[background], axis=0)
        assert np.abs(median - BG).max() <= 4, median
        assert np.abs(rgb[background] - BG).mean() < 6
        page.screenshot(path=artifacts / "embed-host.png", full_page=True)

        # 3. erase a band inside the iframe's editor, then get the edited mask
        frame.click("[data-tool=erase]")
        box = page.locator("#matte").bounding_box()
        z, ox, oy, sx, sy = frame.evaluate(
            "(() => { const v = window.matteApp.editor.view; const b = document"
            ".querySelector('#stage').getBoundingClientRect(); return [v.zoom, v.ox, v.oy, "
            "b.left, b.top]; })()")
        x0, y0 = box["x"] + sx, box["y"] + sy
        page.mouse.move(x0 + (100 - ox) * z, y0 + (400 - oy) * z)
        page.mouse.down()
        page.mouse.move(x0 + (300 - ox) * z, y0 + (400 - oy) * z, steps=8)
        page.mouse.up()
        page.check("#mask")
        page.click("#export")
        host.wait_results(3)
        mask_png, name = host.result()
        assert name == "astronaut-mask.png"
        mask = np.asarray(Image.open(io.BytesIO(mask_png)).convert("L"))
        assert alpha[395:405, 120:280].mean() > 200  # the subject was there ...
        assert mask[395:405, 120:280].max() < 60  # ... and the edit made inside is in the file
        assert np.abs(mask[:300].astype(int) - alpha[:300]).max() == 0  # the rest untouched

        # a bad request gets an error with its id, and the page keeps working
        page.evaluate("""(origin) => document.getElementById("matte").contentWindow.postMessage(
            {matte: 1, type: "export", id: "bad-1", options: {format: "gif"}}, origin)""",
                      app_served.origin)
        bad = host.wait_message("bad-1")
        assert bad[0]["type"] == "error" and "format" in bad[0]["message"]

        assert host.app_requests_elsewhere() == []
        app_requests = [r for r in host.requests if r[1].startswith(app_served.origin)]
        assert any(u.endswith("/embed.json") for _, u, _, _ in app_requests)
        assert all(m == "GET" and body is None for m, _, _, body in app_requests)
        assert {u.split("/")[2] for _, u, _, _ in host.requests if "://" in u} == {
            hosts["allowed"].origin[7:], app_served.origin[7:]}
        assert host.errors == []
    finally:
        host.close()


def test_default_fusion_through_the_embed_api(browser, hosts, app_served, data_dir, tmp_path):
    """An iframe without ?model runs the default (ISNet fused with u2netp): the returned
    cut-out's alpha equals CPython's fused mask within 1/255 on average."""
    pytest.importorskip("onnxruntime")
    from matte.models import load_catalog
    from matte.pipeline import segment
    from matte.runner import OnnxRunner

    png = tmp_path / "chelsea.png"
    Image.open(data_dir / "chelsea.jpg").convert("RGB").save(png)
    rgb = np.asarray(Image.open(png))
    want = segment(rgb, load_catalog().get("best"), OnnxRunner()).astype(int)
    host = Host(browser, hosts["allowed"], app_served, query="")
    try:
        host.page.wait_for_selector('body[data-state="ready"]', state="attached",
                                    timeout=120_000)
        assert host.app_frame().evaluate("window.matteApp.modelId") == "best"
        host.page.set_input_files("#file", str(png))
        host.page.click("#send")
        host.wait_results(1, timeout=400_000)
        data, _ = host.result()
        alpha = np.asarray(Image.open(io.BytesIO(data)))[:, :, 3].astype(int)
        diff = np.abs(alpha - want)
        assert diff.mean() < 1.0 and (diff > 8).mean() < 0.002, (diff.mean(), diff.max())
    finally:
        host.close()


def test_origin_not_on_the_allowlist_gets_nothing(browser, hosts, app_static, astronaut_png):
    """A parent whose origin is not allowed: the iframe loads and works, but no message at
    all reaches the parent (not even `ready` or an error), and requests are ignored."""
    host = Host(browser, hosts["foreign"], app_static)
    page = host.page
    try:
        frame = host.app_frame()
        frame.wait_for_selector('body[data-ready="1"]', state="attached", timeout=240_000)
        assert frame.evaluate("document.body.dataset.embed") == "1"
        data = list(astronaut_png.read_bytes())
        page.evaluate("""(bytes) => {
            const w = document.getElementById("matte").contentWindow;
            const file = new File([new Uint8Array(bytes)], "astronaut.png", {type: "image/png"});
            w.postMessage({matte: 1, type: "ping", id: "p1"}, "*");
            w.postMessage({matte: 1, type: "open", id: "o1", file}, "*");
            w.postMessage({matte: 1, type: "export", id: "e1"}, "*");
            w.postMessage({matte: 2, type: "open", id: "v2", file}, "*");
        }""", data)
        page.wait_for_timeout(8_000)  # generous: a u2netp round trip takes a few seconds
        assert host.received() == []
        assert page.get_attribute("body", "data-state") == "connecting"
        assert frame.evaluate("window.matteApp.queue.length") == 0
        assert frame.evaluate("document.body.dataset.state") == "ready-shell"
        warnings = [t for kind, t in host.console if kind == "warning" and "matte embed" in t]
        assert any(hosts["foreign"].origin in t for t in warnings), host.console
        assert host.app_requests_elsewhere() == []
        assert all(m == "GET" and body is None for m, u, _, body in host.requests
                   if u.startswith(app_static.origin))
    finally:
        host.close()


def test_frame_ancestors_header_keeps_other_parents_out(browser, hosts, app_served):
    """Served with build.py's headers, a parent not on the list cannot even load the frame."""
    host = Host(browser, hosts["foreign"], app_served)
    page = host.page
    try:
        page.wait_for_timeout(4_000)
        assert not [f for f in page.frames if f.url.startswith(app_served.origin)]
        assert any("frame-ancestors" in t for _, t in host.console), host.console
        assert host.received() == []
        app_urls = {u for _, u, _, _ in host.requests if u.startswith(app_served.origin)}
        assert app_urls == {f"{app_served.origin}/?model=u2netp"}, app_urls  # refused document
    finally:
        host.close()


def test_isolated_parent_gets_an_isolated_iframe(browser, hosts, app_served):
    """A COOP/COEP parent can embed the app (its document says CORP: cross-origin) and with
    allow="cross-origin-isolated" the iframe is isolated too, so inference gets threads."""
    host = Host(browser, hosts["isolated"], app_served)
    page = host.page
    try:
        page.wait_for_selector('body[data-state="ready"]', state="attached", timeout=120_000)
        assert page.evaluate("crossOriginIsolated") is True
        assert host.app_frame().evaluate("crossOriginIsolated") is True
    finally:
        host.close()
