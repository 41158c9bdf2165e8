"""Tier 3: autosave keeps the undo/redo history and an image background across a reload."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from matte import composite
from tests.e2e.conftest import PageDriver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, data_dir):
    """The photo and the background picture as lossless PNGs (Pyodide's libjpeg and the
    CPython wheel's decode JPEGs a few levels apart)."""
    folder = tmp_path_factory.mktemp("autosave")
    out = {}
    for name in ("astronaut", "chelsea"):
        out[name] = folder / f"{name}.png"
        Image.open(data_dir / f"{name}.jpg").convert("RGB").save(out[name])
    return out


def download(page, fmt, path):
    page.select_option("#format", fmt)
    with page.expect_download() as info:
        page.click("#download")
    info.value.save_as(path)
    return path.read_bytes()


def mask_of(page, tmp_path, tag):
    return np.asarray(Image.open(io.BytesIO(download(page, "mask", tmp_path / f"{tag}.png"))))


def paint(page, row, c0, c1):
    """An eraser stroke along an image row, with the mouse."""
    z, ox, oy, bx, by = page.evaluate(
        "(() => { const v = window.matteApp.editor.view; const b = document.querySelector("
        "'#stage').getBoundingClientRect(); return [v.zoom, v.ox, v.oy, b.left, b.top]; })()")
    page.mouse.move(bx + (c0 - ox) * z, by + (row - oy) * z)
    page.mouse.down()
    page.mouse.move(bx + (c1 - ox) * z, by + (row - oy) * z, steps=10)
    page.mouse.up()


def test_reload_restores_history_and_image_background(browser, site, pictures, tmp_path,
                                                      artifacts):
    drv = PageDriver(browser, site.origin)
    console: list[str] = []
    drv.page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    try:
        page = drv.page
        drv.open("?model=u2netp")
        drv.wait_ready()
        drv.drop_file(pictures["astronaut"], mime="image/png")
        assert drv.wait_done() == "done"
        ai = mask_of(page, tmp_path, "ai")
        page.set_input_files("#bg-image", str(pictures["chelsea"]))
        page.wait_for_selector("[data-bg=image][aria-pressed=true]", state="attached")
        page.keyboard.press("e")
        paint(page, 400, 100, 300)  # stroke A
        paint(page, 150, 180, 330)  # stroke B
        both = mask_of(page, tmp_path, "both")
        page.click("#undo")  # B undone: redoable
        one = mask_of(page, tmp_path, "one")
        assert (one != both).any() and (one != ai).any()
        assert (one[395:405, 130:270] < 60).all()
        # what undoing once more gives before the reload (then back to A done, B undone)
        page.click("#undo")
        before_undo = download(page, "mask", tmp_path / "undo-before.png")
        page.click("#redo")
        np.testing.assert_array_equal(mask_of(page, tmp_path, "again"), one)
        jpeg_before = np.asarray(Image.open(io.BytesIO(
            download(page, "jpeg", tmp_path / "before.jpeg"))).convert("RGB")).astype(int)
        t = page.evaluate("Date.now()")
        page.wait_for_function(f"Number(document.body.dataset.autosaved || 0) > {t}",
                               timeout=20_000)

        page.reload()
        page.wait_for_function("document.body.dataset.restored === '1'", timeout=120_000)
        assert "Restored your last session" in page.inner_text("#notice")
        assert page.is_visible("#discard-restore")
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / "autosave-restored.png"))
        # the mask, and the history: undo and redo both available
        np.testing.assert_array_equal(mask_of(page, tmp_path, "restored"), one)
        assert page.is_enabled("#undo") and page.is_enabled("#redo")
        # the image background came back: same export as before the reload
        assert page.get_attribute("[data-bg=image]", "aria-pressed") == "true"
        jpeg = np.asarray(Image.open(io.BytesIO(
            download(page, "jpeg", tmp_path / "after.jpeg"))).convert("RGB")).astype(int)
        assert np.abs(jpeg - jpeg_before).max() <= 2
        cat = np.asarray(Image.open(pictures["chelsea"]).convert("RGB"))
        want = composite.cover_fit(cat, one.shape).astype(int)
        clear = one == 0  # where the result is the background picture alone
        assert clear.mean() > 0.2
        assert np.abs(jpeg[clear] - want[clear]).mean() < 6
        assert np.abs(jpeg[clear] - 255).mean() > 40  # not the white of a lost background
        # undo gives the same bytes as before the reload; redo re-applies A, then B
        page.click("#undo")
        assert download(page, "mask", tmp_path / "undo-after.png") == before_undo
        page.click("#redo")
        np.testing.assert_array_equal(mask_of(page, tmp_path, "redo-a"), one)
        page.click("#redo")
        np.testing.assert_array_equal(mask_of(page, tmp_path, "redo-b"), both)
        assert not page.is_enabled("#redo")
        assert not [m for m in console if "matte restore" in m or "matte autosave" in m]

        # an autosave without an edit log (an older version's): the mask alone comes back
        t = page.evaluate("Date.now()")
        page.wait_for_function(f"Number(document.body.dataset.autosaved || 0) > {t}",
                               timeout=20_000)
        page.evaluate("""() => new Promise((resolve, reject) => {
            const req = indexedDB.open('matte', 1);
            req.onsuccess = () => {
                const t = req.result.transaction('autosave', 'readwrite');
                const s = t.objectStore('autosave');
                s.get('current').onsuccess = (e) => {
                    const rec = e.target.result;
                    delete rec.ops;
                    s.put(rec, 'current');
                };
                t.oncomplete = () => { req.result.close(); resolve(); };
                t.onerror = () => reject(t.error);
            };
            req.onerror = () => reject(req.error);
        })""")
        page.reload()
        page.wait_for_function("document.body.dataset.restored === '1'", timeout=120_000)
        np.testing.assert_array_equal(mask_of(page, tmp_path, "mask-only"), both)
        assert not page.is_enabled("#undo") and not page.is_enabled("#redo")

        # storage refusing the (bigger) record: said so, and editing goes on
        page.evaluate("""() => { IDBObjectStore.prototype.put = function () {
            throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); }; }""")
        page.keyboard.press("e")
        paint(page, 300, 150, 350)
        page.wait_for_function(
            "document.querySelector('#notice').textContent.includes('Autosave is off')",
            timeout=20_000)
        assert "QuotaExceededError" in page.inner_text("#notice")
        assert (mask_of(page, tmp_path, "quota") != both).any()
        page.click("#undo")
        np.testing.assert_array_equal(mask_of(page, tmp_path, "quota-undo"), both)
        assert drv.errors == []
    finally:
        drv.close()
