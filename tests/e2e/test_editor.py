"""Tier 3: the editor, driven with the mouse, keyboard and touch like a person would.

One page (fast model) is shared by the tests of this module, in order: paint, undo/redo,
backgrounds, formats, batch, keyboard, touch, phone layout.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import PageDriver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def photos(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("editor-photos")
    out = {}
    for name in ("astronaut", "chelsea", "coffee"):
        path = folder / f"{name}.png"
        Image.open(data_dir / f"{name}.jpg").convert("RGB").save(path)
        out[name] = path
    return out


@pytest.fixture(scope="module")
def drv(browser, site, photos):
    d = PageDriver(browser, site.origin)
    d.open("?model=u2netp")
    d.wait_ready()
    d.drop_file(photos["astronaut"], mime="image/png")
    assert d.wait_done() == "done"
    yield d
    d.close()


def download(drv, fmt="png", *, tmp_path, name="out"):
    drv.page.select_option("#format", fmt)
    with drv.page.expect_download() as info:
        drv.page.click("#download")
    path = tmp_path / f"{name}.{fmt}"
    info.value.save_as(path)
    return info.value.suggested_filename, path.read_bytes()


def alpha_of(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))[:, :, 3].astype(int)


def to_page(drv, r, c):
    """Page coordinates of image pixel (r, c) under the current view."""
    v = drv.page.evaluate(
        "(() => { const v = window.matteApp.editor.view; const b = document.querySelector("
        "'#stage').getBoundingClientRect(); return {z: v.zoom, ox: v.ox, oy: v.oy, x: b.left,"
        " y: b.top}; })()")
    return v["x"] + (c - v["ox"]) * v["z"], v["y"] + (r - v["oy"]) * v["z"]


def stroke(drv, points, *, size=40):
    drv.page.evaluate(
        "(s) => { const el = document.querySelector('#brush-size'); el.value = s;"
        " el.dispatchEvent(new Event('input')); }", size)
    x, y = to_page(drv, *points[0])
    drv.page.mouse.move(x, y)
    drv.page.mouse.down()
    for r, c in points[1:]:
        x, y = to_page(drv, r, c)
        drv.page.mouse.move(x, y, steps=4)
    drv.page.mouse.up()


def open_panel(page, title):
    """Expand a side panel the way a person would: click its heading if it is closed."""
    panel = page.locator(f"details.panel:has(> summary:text-is('{title}'))")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()


def history(drv):
    return drv.page.evaluate(
        "[!document.querySelector('#undo').disabled, !document.querySelector('#redo').disabled]")


def test_paint_restore_erase_undo_redo(drv, artifacts, tmp_path):
    page = drv.page
    name, base = download(drv, tmp_path=tmp_path, name="base")
    assert name == "astronaut-matte.png"
    a0 = alpha_of(base)
    assert a0[20:60, 420:480].mean() < 10  # sky at the top right is removed

    page.click("[data-view=refine]")
    page.click("[data-tool=restore]")
    stroke(drv, [(40, 430), (40, 470)], size=30)
    page.screenshot(path=artifacts / "editor-refine-after-restore.png")
    _, after_restore = download(drv, tmp_path=tmp_path, name="restored")
    a1 = alpha_of(after_restore)
    assert a1[37:44, 435:466].min() >= 200, "restore raised alpha under the stroke"
    changed = np.argwhere(a1 != a0)
    assert changed.size
    rows, cols = changed[:, 0], changed[:, 1]
    # nowhere else: every change lies within the brush's reach of the stroke
    assert rows.min() >= 40 - 17 and rows.max() <= 40 + 17
    assert cols.min() >= 430 - 17 and cols.max() <= 470 + 17

    page.keyboard.press("e")
    assert page.get_attribute("[data-tool=erase]", "aria-pressed") == "true"
    stroke(drv, [(300, 150), (300, 200)], size=30)
    _, after_erase = download(drv, tmp_path=tmp_path, name="erased")
    a2 = alpha_of(after_erase)
    assert a2[297:304, 155:196].max() <= 40, "erase lowered alpha on the subject"
    assert history(drv) == [True, False]

    page.keyboard.press("Control+z")
    page.click("#undo")
    _, undone = download(drv, tmp_path=tmp_path, name="undone")
    np.testing.assert_array_equal(alpha_of(undone), a0)
    assert history(drv) == [False, True]
    page.keyboard.press("Control+Shift+z")
    _, redone = download(drv, tmp_path=tmp_path, name="redone")
    np.testing.assert_array_equal(alpha_of(redone), a1)
    page.keyboard.press("Control+y")
    _, redone2 = download(drv, tmp_path=tmp_path, name="redone2")
    np.testing.assert_array_equal(alpha_of(redone2), a2)
    page.click("[data-view=result]")
    assert drv.errors == []


def test_backgrounds_crop_and_formats(drv, artifacts, tmp_path, data_dir):
    page = drv.page
    _, png = download(drv, tmp_path=tmp_path, name="transparent")
    alpha = alpha_of(png)
    bg = alpha == 0
    fg = alpha == 255
    original = np.asarray(Image.open(data_dir / "astronaut.jpg").convert("RGB")).astype(int)

    open_panel(page, "Background")
    page.click("[data-bg=color]")
    page.click(".swatch[data-color='#4f46e5']")
    page.screenshot(path=artifacts / "editor-color-background.png")
    _, jpg = download(drv, "jpeg", tmp_path=tmp_path, name="color")
    im = Image.open(io.BytesIO(jpg))
    assert im.format == "JPEG" and im.mode == "RGB" and im.size == (512, 512)
    rgb = np.asarray(im).astype(int)
    assert np.abs(rgb[bg] - [0x4F, 0x46, 0xE5]).mean() < 6

    with page.expect_file_chooser() as fc:
        page.click("[data-bg=image]")
    fc.value.set_files(str(data_dir / "coffee.jpg"))
    page.wait_for_function(
        "document.querySelector('[data-bg=image]').getAttribute('aria-pressed') === 'true'")
    page.screenshot(path=artifacts / "editor-image-background.png")
    _, png_img = download(drv, "png", tmp_path=tmp_path, name="imagebg")
    comp = np.asarray(Image.open(io.BytesIO(png_img)).convert("RGBA")).astype(int)
    assert (comp[:, :, 3] == 255).all(), "an image background makes the result opaque"
    assert np.abs(comp[:, :, :3][bg] - original[bg]).mean() > 20, "background replaced"
    assert np.abs(comp[:, :, :3][fg] - original[fg]).mean() < 3, "subject kept"

    page.click("[data-bg=transparent]")
    _, webp = download(drv, "webp", tmp_path=tmp_path, name="webp")
    im = Image.open(io.BytesIO(webp))
    assert im.format == "WEBP" and im.mode == "RGBA"
    assert np.abs(np.asarray(im)[:, :, 3].astype(int) - alpha).mean() < 2

    _, mask = download(drv, "mask", tmp_path=tmp_path, name="mask")
    m = Image.open(io.BytesIO(mask))
    assert m.mode == "L"
    np.testing.assert_array_equal(np.asarray(m).astype(int), alpha)

    page.check("#crop")
    page.evaluate("(() => { const el = document.querySelector('#crop-margin'); el.value = 0;"
                  " el.dispatchEvent(new Event('input')); })()")
    _, cropped = download(drv, "png", tmp_path=tmp_path, name="cropped")
    c = Image.open(io.BytesIO(cropped))
    rows, cols = np.nonzero(alpha > 8)
    want = (cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min())
    assert c.size == want and c.size != (512, 512)
    np.testing.assert_array_equal(
        np.asarray(c)[:, :, 3], alpha[rows.min():rows.max() + 1, cols.min():cols.max() + 1])
    page.uncheck("#crop")
    assert drv.errors == []


def test_keyboard_shortcuts_and_help(drv, artifacts):
    page = drv.page
    page.click("#stage", position={"x": 5, "y": 5}, button="middle")
    before = int(page.input_value("#brush-size"))
    page.keyboard.press("]")
    assert int(page.input_value("#brush-size")) > before
    page.keyboard.press("[")
    page.keyboard.press("b")
    assert page.get_attribute("[data-tool=restore]", "aria-pressed") == "true"
    page.keyboard.press("x")
    assert page.get_attribute("[data-tool=erase]", "aria-pressed") == "true"
    page.keyboard.press("x")
    z0 = page.evaluate("window.matteApp.editor.view.zoom")
    page.keyboard.press("1")
    z1 = page.evaluate("window.matteApp.editor.view.zoom")
    assert abs(z1 * page.evaluate("devicePixelRatio") - 1) < 1e-6
    page.keyboard.press("0")
    assert abs(page.evaluate("window.matteApp.editor.view.zoom") - z0) < 1e-6
    page.keyboard.press("c")
    assert page.get_attribute("[data-view=compare]", "aria-pressed") == "true"
    assert page.is_visible("#compare-handle")
    page.screenshot(path=artifacts / "editor-compare.png")
    page.keyboard.press("c")
    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.screenshot(path=artifacts / "editor-help.png")
    page.keyboard.press("Escape")
    assert page.is_hidden("#help")
    page.screenshot(path=artifacts / "editor-desktop.png")


def test_touch_pinch_and_paint(drv, tmp_path):
    page = drv.page
    z0 = page.evaluate("window.matteApp.editor.view.zoom")
    box = page.locator("#stage").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    # two fingers moving apart zoom in and do not paint
    _, before = download(drv, tmp_path=tmp_path, name="touch-before")
    page.evaluate(
        """([cx, cy]) => {
            const s = document.querySelector('#stage');
            const ev = (type, id, x, y) => s.dispatchEvent(new PointerEvent(type, {
                pointerId: id, pointerType: 'touch', clientX: x, clientY: y, bubbles: true,
                isPrimary: id === 11, button: 0, buttons: 1}));
            ev('pointerdown', 11, cx - 20, cy); ev('pointerdown', 12, cx + 20, cy);
            for (let i = 1; i <= 5; i++) { ev('pointermove', 11, cx - 20 - 12 * i, cy);
                                            ev('pointermove', 12, cx + 20 + 12 * i, cy); }
            ev('pointerup', 11, cx - 80, cy); ev('pointerup', 12, cx + 80, cy);
        }""", [cx, cy])
    z1 = page.evaluate("window.matteApp.editor.view.zoom")
    assert z1 > z0 * 1.5
    _, after_pinch = download(drv, tmp_path=tmp_path, name="touch-pinch")
    np.testing.assert_array_equal(alpha_of(after_pinch), alpha_of(before))
    page.keyboard.press("0")
    # one finger paints (erase on the subject)
    page.keyboard.press("e")
    x0, y0 = to_page(drv, 400, 100)
    x1, y1 = to_page(drv, 400, 160)
    page.evaluate(
        """([x0, y0, x1, y1]) => {
            const s = document.querySelector('#stage');
            const ev = (type, x, y) => s.dispatchEvent(new PointerEvent(type, {pointerId: 21,
                pointerType: 'touch', clientX: x, clientY: y, bubbles: true, isPrimary: true,
                button: 0, buttons: 1}));
            ev('pointerdown', x0, y0);
            for (let i = 1; i <= 10; i++) ev('pointermove', x0 + (x1 - x0) * i / 10, y0);
            ev('pointerup', x1, y1);
        }""", [x0, y0, x1, y1])
    _, after_paint = download(drv, tmp_path=tmp_path, name="touch-paint")
    a = alpha_of(after_paint)
    assert a[398:403, 110:150].max() < 60
    page.click("#undo")
    page.keyboard.press("b")


def test_batch_queue_and_zip(drv, photos, artifacts, tmp_path):
    page = drv.page
    page.evaluate(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, bytes] of files) {
                dt.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/png'}));
            }
            const s = document.querySelector('.stage');
            for (const t of ['dragenter', 'dragover', 'drop']) {
                s.dispatchEvent(new DragEvent(t, {dataTransfer: dt, bubbles: true,
                                                  cancelable: true}));
            }
        }""",
        [[f"{n}.png", list(photos[n].read_bytes())] for n in ("chelsea", "coffee", "astronaut")])
    page.wait_for_function(
        "window.matteApp.queue.length === 4 && window.matteApp.queue.every("
        "q => q.status === 'done' || q.status === 'failed') && !window.matteApp.busy",
        timeout=240_000)
    assert page.evaluate("window.matteApp.queue.map(q => q.status)") == ["done"] * 4
    assert page.is_visible("#queue")
    page.screenshot(path=artifacts / "editor-batch.png")
    with page.expect_download() as info:
        page.click("#download-all")
    path = tmp_path / "all.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert len(names) == 4 and len(set(names)) == 4
        for n in names:
            im = Image.open(io.BytesIO(zf.read(n)))
            im.load()
            assert im.mode == "RGBA"
    # switching items keeps each one's edits: go to the first and back
    page.click(".queue-item >> nth=0")
    assert page.evaluate("window.matteApp.activeKey") == page.evaluate(
        "window.matteApp.queue[0].key")
    assert drv.errors == []


def test_phone_layout(browser, site, photos, artifacts):
    d = PageDriver(browser, site.origin, viewport=(390, 844))
    try:
        d.open("?model=u2netp")
        d.page.screenshot(path=artifacts / "phone-empty.png")
        d.wait_ready()
        d.drop_file(photos["chelsea"], mime="image/png")
        assert d.wait_done() == "done"
        d.page.screenshot(path=artifacts / "phone-editor.png", full_page=True)
        width = d.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "no horizontal scrolling on a phone"
    finally:
        d.close()
