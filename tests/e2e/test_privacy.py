"""Tier 3: "your image never leaves your device", checked on the wire.

A full session with the default model (load, remove, edit, export, batch, download all) while
every request of the browser context is recorded (the page, its workers and the service
worker): all are same-origin GETs of files the build lists in site/assets.json, none carries a
body, and after the first image is dropped nothing is requested at all.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.e2e.conftest import PageDriver, site_dir
from tests.e2e.test_editor import stroke

pytestmark = pytest.mark.e2e


def test_full_session_sends_nothing_anywhere(browser, isolated_site, data_dir, tmp_path,
                                             artifacts):
    drv = PageDriver(browser, isolated_site.origin)
    seen: list[tuple[str, str, bytes | None, str]] = []
    drv.context.on("request", lambda r: seen.append(
        (r.method, r.url, r.post_data_buffer, r.resource_type)))
    try:
        drv.open()
        drv.wait_ready(timeout=300_000)
        drv.page.wait_for_function("document.body.dataset.offline === 'ready'", timeout=120_000)
        before = len(seen)
        drv.drop_file(data_dir / "astronaut.jpg")
        assert drv.wait_done() == "done"
        drv.page.keyboard.press("e")
        stroke(drv, [(200, 60), (200, 160)], size=30)
        drv.page.click("#undo")
        drv.page.click("#redo")
        with drv.page.expect_download() as info:
            drv.page.click("#download")
        info.value.save_as(tmp_path / "one.png")
        pics = []
        for name in ("chelsea", "coffee"):
            p = tmp_path / f"{name}.png"
            Image.open(data_dir / f"{name}.jpg").convert("RGB").save(p)
            pics.append(p)
        for p in pics:
            drv.drop_file(p, mime="image/png")
        drv.page.wait_for_function(
            "window.matteApp.queue.length === 3 && window.matteApp.queue.every("
            "q => q.status === 'done') && !window.matteApp.busy", timeout=400_000)
        with drv.page.expect_download() as info:
            drv.page.click("#download-all")
        info.value.save_as(tmp_path / "all.zip")
        drv.page.screenshot(path=str(artifacts / "privacy-session.png"))

        origin = isolated_site.origin
        assets = set(json.loads((site_dir() / "assets.json").read_text())["assets"])
        for method, url, body, kind in seen:
            parts = urlsplit(url)
            if parts.scheme in ("blob", "data"):  # in-page objects (downloads, workers)
                assert method == "GET" and body is None, (method, url)
                continue
            assert url.startswith(origin + "/"), f"request to another origin: {url}"
            assert method == "GET" and body is None, (method, url, kind)
            path = parts.path.lstrip("/") or "index.html"
            assert path in assets or path.endswith("/"), f"not a built asset: {url}"
        after = sorted({urlsplit(u).path for _, u, _, _ in seen[before:]
                        if not u.startswith(("blob:", "data:"))})
        print("\nrequests after the first drop:", after)
        # measured: none. Everything (runtime, both models, the app) is loaded before "ready";
        # the images, masks and exports never touch the network, not even the same origin.
        assert after == [], after
        assert drv.errors == []
    finally:
        drv.close()
