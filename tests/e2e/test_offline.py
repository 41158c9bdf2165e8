"""Tier 3: offline use (sw.js), cache versioning across deploys, installability.

Each test serves the site with its own server (so it can stop it: "network off") and counts the
requests that reach it, to check that the model is downloaded once.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import PageDriver, build, site_dir

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e
MODEL = "u2netp"
MODEL_PATH = f"/models/{MODEL}.onnx"


class CountingServer:
    """build.py's server for ``root`` that records the path of every GET it answers."""

    def __init__(self, root: Path, *, isolate: bool) -> None:
        base = build.make_handler(root, isolate=isolate)
        hits: list[str] = []

        class Handler(base):
            def do_GET(self) -> None:  # noqa: N802 - base class name
                hits.append(self.path.split("?")[0])
                super().do_GET()

        self.hits = hits
        self.server = build.Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, path: str) -> int:
        return sum(1 for p in self.hits if p == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_offline_ready(drv: PageDriver, timeout: float = 240_000) -> dict:
    drv.page.wait_for_function("document.body.dataset.offline === 'ready'", timeout=timeout)
    return drv.page.evaluate("window.matteApp.offline")


def cache_report(page: Page) -> dict:
    """Every cache of the origin: its entries and their total size."""
    return page.evaluate("""async () => {
        const out = {};
        for (const name of await caches.keys()) {
            const cache = await caches.open(name);
            let bytes = 0;
            const urls = [];
            for (const req of await cache.keys()) {
                bytes += (await (await cache.match(req)).blob()).size;
                urls.push(new URL(req.url).pathname + new URL(req.url).search);
            }
            out[name] = {bytes, urls};
        }
        return out;
    }""")


def check_download(page: Page, path: Path) -> None:
    with page.expect_download() as info:
        page.click("#download")
    info.value.save_as(path)
    out = np.asarray(Image.open(io.BytesIO(path.read_bytes())))
    assert out.shape == (512, 512, 4)
    alpha = out[:, :, 3]
    assert (alpha == 0).mean() > 0.2 and (alpha == 255).mean() > 0.1  # a real cut-out


@pytest.mark.parametrize("isolate", [False, True], ids=["static-host", "isolated"])
def test_second_visit_works_with_the_network_off(browser, artifacts, isolate):
    site = site_dir()
    build_id = json.loads((site / "assets.json").read_text())["build"]
    server = CountingServer(site, isolate=isolate)
    drv = PageDriver(browser, server.origin)
    tag = "offline-isolated" if isolate else "offline"
    try:
        drv.open(f"?model={MODEL}")
        drv.wait_ready()
        assert drv.page.evaluate("crossOriginIsolated") is isolate
        status = wait_offline_ready(drv)
        assert status["build"] == build_id and status["missing"] == []
        assert f"models/{MODEL}.onnx" in status["models"]
        assert drv.page.inner_text("#offline-state") == "Available offline"
        caches = cache_report(drv.page)
        assert sorted(caches) == [f"matte:/:build-{build_id}", "matte:/:models"]
        precache = build.precache_paths(json.loads((site / "assets.json").read_text())["assets"])
        assert len(caches[f"matte:/:build-{build_id}"]["urls"]) == len(precache)
        catalog = json.loads((site / "models" / "models.json").read_text())
        model_sha = next(m["sha256"] for m in catalog["models"] if m["id"] == MODEL)
        assert caches["matte:/:models"]["urls"] == [f"{MODEL_PATH}?sha256={model_sha}"]
        total = sum(c["bytes"] for c in caches.values())
        print(f"\n{tag}: cached {total / 1e6:.1f} MB "
              f"({caches['matte:/:models']['bytes'] / 1e6:.1f} MB model)")
        if isolate:  # the cached responses keep the server's isolation headers
            headers = drv.page.evaluate("""async () => Object.fromEntries((await (await caches
                .open((await caches.keys()).find((n) => n.includes('build-'))))
                .match(new URL('vendor/ort/ort-wasm-simd-threaded.mjs', location.href)))
                .headers)""")
            assert headers["cross-origin-embedder-policy"] == "require-corp"
            assert headers["cross-origin-resource-policy"] == "same-origin"
        installable = drv.context.new_cdp_session(drv.page).send("Page.getInstallabilityErrors")
        # Chromium's install criteria (manifest, icons, worker with a fetch handler) are met;
        # only the private profile of a test context stands in the way
        errors = [e["errorId"] for e in installable["installabilityErrors"]]
        assert errors in ([], ["in-incognito"]), installable

        # Network off: the browser is offline and the server is gone.
        drv.context.set_offline(True)
        server.close()
        first_requests = len(drv.requests)
        from_worker: list[tuple[str, bool]] = []
        drv.page.on("response", lambda r: from_worker.append((r.url, r.from_service_worker)))
        t0 = time.monotonic()
        drv.page.reload()
        drv.wait_ready()
        boot_s = time.monotonic() - t0
        assert drv.page.evaluate("Boolean(navigator.serviceWorker.controller)")
        # the worker adds COOP/COEP where the host sends none: threads from the second visit on
        assert drv.page.evaluate("crossOriginIsolated") is True
        print(f"{tag}: offline reload to ready in {boot_s:.1f} s "
              f"(app timings {drv.page.evaluate('window.matteApp.timings')})")
        drv.page.click("#sample")
        assert drv.wait_done() == "done"
        drv.page.screenshot(path=artifacts / f"{tag}-done.png")
        check_download(drv.page, artifacts / f"{tag}-download.png")
        offline_urls = [u for _, u, _ in drv.requests[first_requests:]]
        assert f"{server.origin}{MODEL_PATH}" in offline_urls
        missed = [u for u, sw in from_worker if u.startswith(server.origin) and not sw]
        assert missed == [], missed  # every response of the offline visit came from sw.js
        assert server.count(MODEL_PATH) == 1  # the model was downloaded once, by the page
        # a popup embed (?embed=1) keeps its opener: no isolation headers for it
        popup = drv.context.new_page()
        popup.goto(f"{server.origin}/?embed=1&model={MODEL}", wait_until="domcontentloaded")
        assert popup.evaluate("Boolean(navigator.serviceWorker.controller)")
        assert popup.evaluate("crossOriginIsolated") is isolate
        popup.close()
        local = f"blob:{server.origin}/"  # in-memory objects of the page, not requests
        assert [u for u in drv.foreign_requests() if not u.startswith(local)] == []
        assert drv.errors == []
    finally:
        drv.close()
        server.close()


def _tree_of_links(src: Path, dst: Path) -> None:
    """A copy of the built site made of symbolic links (cheap), to be changed file by file."""
    for path in src.rglob("*"):
        if path.is_file():
            out = dst / path.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, out)


def _deploy(root: Path, assets: dict, changes: dict[str, bytes]) -> str:
    """Replace files of ``root`` (a new deploy), rewrite sw.js; return the new build id."""
    assets = {k: dict(v) for k, v in assets.items() if k != "sw.js"}
    for rel, data in changes.items():
        (root / rel).unlink()
        (root / rel).write_bytes(data)
        assets[rel] = {"bytes": len(data), "sha256": build.sha256_file(root / rel)}
    build_id = build.build_id_of(assets)
    if (root / "sw.js").exists():
        (root / "sw.js").unlink()
    build.write_service_worker(root, build_id, assets)
    return build_id


def test_a_new_build_gets_a_new_cache_and_the_old_one_is_deleted(browser, artifacts, tmp_path):
    site = site_dir()
    assets = json.loads((site / "assets.json").read_text())["assets"]
    root = tmp_path / "deployed"
    _tree_of_links(site, root)
    old = _deploy(root, assets, {})
    assert old == json.loads((site / "assets.json").read_text())["build"]
    marker = b"\n// deploy B\n"
    app_b = (site / "src/app.js").read_bytes() + marker
    lazy = "vendor/ort/ort.webgpu.min.mjs"  # not precached: fetched (and checked) on use
    assert lazy not in build.precache_paths(assets)
    server = CountingServer(root, isolate=False)
    first = PageDriver(browser, server.origin)
    context = first.context
    try:
        first.open(f"?model={MODEL}")
        first.wait_ready()
        wait_offline_ready(first)
        assert sorted(cache_report(first.page)) == [f"matte:/:build-{old}", "matte:/:models"]

        new = _deploy(root, assets, {"src/app.js": app_b,
                                     lazy: (site / lazy).read_bytes() + marker})
        assert new != old

        # A tab opened now is still served entirely by the old worker and the old build...
        second = context.new_page()
        second.goto(f"{server.origin}/?model={MODEL}")
        second.wait_for_function("document.body.dataset.ready === '1'", timeout=240_000)
        served = second.evaluate("""async () => {
            const r = await fetch('./src/app.js');
            return {text: await r.text(), via: r.headers.get('X-Matte-Cache')};
        }""")
        assert served["via"] == "hit" and "deploy B" not in served["text"]
        # ...which never mixes in the new deploy's bytes: a file it did not precache and that
        # changed on the server is refused rather than served
        stale = second.evaluate(f"fetch('./{lazy}').then((r) => r.status)")
        assert stale == 503
        # the new worker installed next to it, in its own cache, and waits
        second.wait_for_function("navigator.serviceWorker.getRegistration()"
                                 ".then((r) => Boolean(r && r.waiting))", timeout=120_000)
        second.wait_for_function("document.body.dataset.offline === 'update'", timeout=60_000)
        assert second.inner_text("#offline-state").startswith("Update ready")
        assert set(cache_report(second)) == {
            f"matte:/:build-{new}", f"matte:/:build-{old}", "matte:/:models"}
        second.screenshot(path=artifacts / "offline-update-ready.png")

        # Once every tab of the old build is closed, the new worker takes over and deletes the
        # old cache; the model (unchanged) is kept, not downloaded again.
        first.page.close()
        second.close()
        third = context.new_page()
        third.goto(f"{server.origin}/src/icon.svg")
        third.wait_for_function(f"""navigator.serviceWorker.getRegistration().then((r) =>
            Boolean(r && r.active && !r.waiting && r.active.scriptURL.endsWith('/sw.js')))
            .then(async (ok) => ok && (await caches.keys()).every((n) => !n.includes('{old}')))""",
                                timeout=60_000)
        third.goto(f"{server.origin}/?model={MODEL}")
        third.wait_for_function("document.body.dataset.offline === 'ready'", timeout=240_000)
        assert third.evaluate("window.matteApp.offline.build") == new
        assert sorted(cache_report(third)) == [f"matte:/:build-{new}", "matte:/:models"]
        served = third.evaluate("fetch('./src/app.js').then((r) => r.text())")
        assert "deploy B" in served
        assert server.count(MODEL_PATH) == 1
        third.close()
    finally:
        context.close()
        server.close()
        shutil.rmtree(root, ignore_errors=True)
