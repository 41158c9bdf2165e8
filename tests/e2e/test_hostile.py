"""Tier 3: hostile and odd files dropped on the page all at once; the page stays usable."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import PageDriver

pytestmark = pytest.mark.e2e


def _png_bomb(w, h):
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _save(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def hostile_files(data_dir):
    photo = Image.open(data_dir / "chelsea.jpg").convert("RGB")
    jpeg = (data_dir / "chelsea.jpg").read_bytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees for display
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    anim = io.BytesIO()
    frames[0].save(anim, "GIF", save_all=True, append_images=frames[1:])
    pal = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    g16 = (np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    return {  # name -> (bytes, expected status, expected words in the error)
        "empty.jpg": (b"", "failed", "empty"),
        "notes.png": (b"this is text, renamed", "failed", "not an image"),
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "failed", "truncated"),
        "bomb.png": (_png_bomb(100000, 100000), "failed", "over the limit"),
        "photo.heic": (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32, "failed", "HEIC"),
        "tiny.png": (_save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), "failed", "too small"),
        "panorama.png": (_save(photo.resize((20000, 500)), "PNG"), "done", ""),
        "grey16.png": (_save(Image.fromarray(g16, "I;16"), "PNG"), "done", ""),
        "cmyk.jpg": (_save(photo.convert("CMYK"), "JPEG"), "done", ""),
        "palette.png": (_save(pal, "PNG", transparency=0), "done", ""),
        "grey-alpha.png": (_save(photo.convert("LA"), "PNG"), "done", ""),
        "animated.gif": (anim.getvalue(), "done", ""),
        "rotated.jpg": (_save(photo, "JPEG", exif=exif.tobytes()), "done", ""),
    }


def drop_many(page, files):
    page.evaluate(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, bytes] of files) {
                dt.items.add(new File([new Uint8Array(bytes)], name));
            }
            const target = document.querySelector('#dropzone:not([hidden])')
                || document.querySelector('.stage');
            for (const t of ['dragenter', 'dragover', 'drop']) {
                target.dispatchEvent(new DragEvent(t, {dataTransfer: dt, bubbles: true,
                                                       cancelable: true}));
            }
        }""", [[n, list(b)] for n, b in files])


def settled(page, n, timeout=400_000):
    page.wait_for_function(
        f"window.matteApp.queue.length === {n} && window.matteApp.queue.every("
        "q => q.status === 'done' || q.status === 'failed') && !window.matteApp.busy",
        timeout=timeout)
    return page.evaluate("window.matteApp.queue.map(q => [q.name, q.status, q.error || ''])")


def test_hostile_files_each_get_a_clear_outcome(browser, site, data_dir, artifacts, tmp_path):
    files = hostile_files(data_dir)
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        drv.wait_ready()
        drop_many(drv.page, [(n, b) for n, (b, _, _) in files.items()])
        outcome = {name: (status, error) for name, status, error in settled(drv.page, len(files))}
        drv.page.screenshot(path=artifacts / "hostile-batch.png")
        for name, (_, want_status, words) in files.items():
            status, error = outcome[name]
            assert status == want_status, (name, status, error)
            assert words.lower() in error.lower(), (name, error)
        # the page is still usable: open the rotated photo, export it upright
        drv.page.click(".queue-item >> nth=12")
        with drv.page.expect_download() as info:
            drv.page.click("#download")
        out = Image.open(info.value.path())
        assert out.size == (300, 451)  # EXIF orientation 6 applied: portrait
        assert drv.errors == []
    finally:
        drv.close()


def test_fifty_files_at_once(browser, site, data_dir, tmp_path):
    base = Image.open(data_dir / "coffee.jpg").convert("RGB").resize((96, 64))
    files = [(f"cup-{i:02d}.jpg", _save(base.rotate(i * 7), "JPEG")) for i in range(50)]
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        drv.wait_ready()
        drop_many(drv.page, files)
        outcome = settled(drv.page, 50, timeout=600_000)
        assert [s for _, s, _ in outcome] == ["done"] * 50
        with drv.page.expect_download() as info:
            drv.page.click("#download-all")
        with zipfile.ZipFile(info.value.path()) as zf:
            names = zf.namelist()
        assert len(names) == 50 and len(set(names)) == 50
        assert drv.errors == []
    finally:
        drv.close()
