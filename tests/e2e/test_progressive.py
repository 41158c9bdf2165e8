"""Tier 3: the progressive result (issue 7) with the default model, driven like a person would.

The default (best: ISNet fused with u2netp) shows u2netp's mask first, then the fused one; a
stroke made on the preview carries over to the final mask; images dropped while one is being
processed get their preview before the older image's pending full-quality run.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import PageDriver
from tests.e2e.test_editor import to_page

pytestmark = pytest.mark.e2e

LISTEN = """() => { window.__events = [];
  window.addEventListener('matte:stage', (e) => {
    if (['preview', 'done'].includes(e.detail.stage))
      window.__events.push([e.detail.stage, e.detail.name || '']);
  }); }"""


@pytest.fixture(scope="module")
def drv(browser, site):
    d = PageDriver(browser, site.origin)
    d.open()  # the default: ISNet fused with u2netp, previewed with u2netp
    d.wait_ready()
    d.page.evaluate(LISTEN)
    yield d
    d.close()


@pytest.fixture(scope="module")
def final_alpha(astronaut):
    """The default's (fused) mask of the astronaut under CPython (the pipeline the page runs)."""
    pytest.importorskip("onnxruntime")
    from matte.models import load_catalog
    from matte.pipeline import segment
    from matte.runner import OnnxRunner

    cat = load_catalog()
    return segment(astronaut, cat.get(cat.default), OnnxRunner()).astype(int)


def mask_now(drv) -> np.ndarray:
    """The mask as an export would write it right now (mask-only PNG from the page)."""
    b64 = drv.page.evaluate(
        "() => { const o = window.mattePy.export_image('png', 90, true);"
        " let s = ''; for (const b of o.bytes) s += String.fromCharCode(b); return btoa(s); }")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("L")).astype(int)


def test_preview_first_then_final_with_a_stroke_carried_over(drv, tmp_path, astronaut,
                                                             final_alpha, artifacts):
    # a PNG: the same pixels under Pyodide's and CPython's Pillow (JPEG decoders may round
    # differently, which the edge refinement then shows)
    png = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(png)
    drv.drop_file(png, mime="image/png")
    drv.page.wait_for_function("document.body.dataset.stage === 'preview'", timeout=240_000)
    t = drv.page.evaluate("window.matteApp.timings.run")
    assert t["preview"]["shown"] > 0 and "total" not in t  # shown before the final run ended
    preview = mask_now(drv)
    assert drv.page.is_visible("#stage-chip")  # the user is told this is a preview
    assert "Preview" in drv.page.inner_text("#stage-chip")
    drv.page.screenshot(path=str(artifacts / "progressive-preview.png"))
    assert drv.page.evaluate("document.querySelector('#undo').disabled")

    # an erase stroke across the body, begun on the preview, still held when the final arrives
    drv.page.keyboard.press("e")
    drv.page.evaluate("(s) => { const el = document.querySelector('#brush-size'); el.value = s;"
                      " el.dispatchEvent(new Event('input')); }", 30)
    x, y = to_page(drv, 300, 100)
    drv.page.mouse.move(x, y)
    drv.page.mouse.down()
    for c in range(110, 210, 10):
        drv.page.mouse.move(*to_page(drv, 300, c), steps=2)
    drv.page.wait_for_function("['pending', 'final'].includes(document.body.dataset.stage)",
                               timeout=300_000)
    held = drv.page.evaluate("document.body.dataset.stage") == "pending"
    for c in range(210, 260, 10):
        drv.page.mouse.move(*to_page(drv, 300, c), steps=2)
    drv.page.mouse.up()
    assert drv.wait_done() == "done"
    assert drv.page.evaluate("document.body.dataset.stage") == "final"
    assert "carried over" in drv.page.evaluate("document.querySelector('#notice').textContent")
    assert not drv.page.is_visible("#stage-chip")
    drv.page.screenshot(path=str(artifacts / "progressive-final.png"))
    final = mask_now(drv)

    # the preview was u2netp's mask; the final is the fused one (as under CPython) ...
    assert np.abs(preview - final_alpha).mean() > 1.0
    rows, cols = np.mgrid[: final.shape[0], : final.shape[1]]
    dist = np.where(cols < 100, np.hypot(rows - 300, cols - 100),
                    np.where(cols > 250, np.hypot(rows - 300, cols - 250), np.abs(rows - 300)))
    far = dist > 15 + 2
    off = far & (np.abs(final - final_alpha) > 3)
    rr, cc = np.nonzero(off)
    assert off.sum() <= 0.001 * far.sum(), (off.sum(), rr.min(), rr.max(), cc.min(), cc.max(),
                                             np.abs(final - final_alpha)[off].max())
    # ... with the stroke on top of it (radius 15, hardness 0.7: the core is fully erased)
    assert final[dist <= 7].max() == 0
    assert final_alpha[dist <= 7].mean() > 200  # the stroke really removed subject pixels
    # one undo step: the stroke, undone on the final mask
    drv.page.click("#undo")
    assert (np.abs(mask_now(drv) - final_alpha) <= 3).mean() > 0.999
    drv.page.click("#redo")
    np.testing.assert_array_equal(mask_now(drv), final)
    assert held, "the final mask arrived only after the stroke ended (the pending path ran)"


def test_new_images_get_their_preview_before_a_pending_final(drv, data_dir, tmp_path):
    drv.page.evaluate("window.__events.length = 0")
    a, b = tmp_path / "first.png", tmp_path / "second.png"
    Image.open(data_dir / "coffee.jpg").convert("RGB").save(a)
    Image.open(data_dir / "chelsea.jpg").convert("RGB").save(b)
    drv.drop_file(a, mime="image/png")
    drv.drop_file(b, mime="image/png")  # while the first is still being previewed
    drv.page.wait_for_function(
        "window.__events.filter(e => e[0] === 'done').length >= 2", timeout=400_000)
    events = [tuple(e) for e in drv.page.evaluate("window.__events")]
    assert events == [("preview", "first.png"), ("preview", "second.png"),
                      ("done", "second.png"), ("done", "first.png")], events
    drv.wait_done()
    statuses = drv.page.evaluate(
        "window.matteApp.queue.map(q => [q.name, q.status, q.stage])")
    assert ["first.png", "done", "final"] in statuses and ["second.png", "done", "final"] in \
        statuses, statuses
    assert not drv.foreign_requests()
