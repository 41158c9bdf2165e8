"""Autosave records under CPython: the open image with its history, the rest of the batch."""

from __future__ import annotations

import io
import json
import zlib

import numpy as np
import pytest
from PIL import Image

from matte.app import autosave
from matte.app.batch import Batch, BatchError, State
from matte.app.settings import apply_settings, settings_record
from matte.models import load_catalog

from .test_batch import run

CAT = load_catalog()


def _png(h: int = 80, w: int = 100, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


class DiscRunner:
    async def run(self, spec, tensor):
        h, w = tensor.shape[-2:]
        yy, xx = np.ogrid[:h, :w]
        return (np.hypot(yy / h - 0.5, xx / w - 0.5) < 0.3).astype(np.float32)[None, None]


def _edited_batch() -> tuple[Batch, bytes]:
    """A batch of two finished images, the first open with two strokes (one undone) and a
    colour background, shadow and crop."""
    b = Batch(CAT, DiscRunner())
    for seed in (1, 2):
        item, _ = b.add(_png(seed=seed), f"{seed}.png")
        run(b.segment(item.id, "u2netp"))
    s = b.activate(1)
    for r, c in ((8, 8), (70, 90)):
        s.stroke_begin(r, c, mode="restore", radius=5)
        s.stroke_end()
    s.undo()
    s.set_background("color", color=(10, 20, 30))
    s.set_shadow(True)
    s.set_crop(True, margin=7)
    return b, b.items[1].data


def test_round_trip_brings_back_the_mask_history_and_settings():
    b, _ = _edited_batch()
    snap = autosave.snapshot(b)
    assert isinstance(snap, autosave.Snapshot) and snap.ops is not None
    fresh = Batch(CAT, DiscRunner())
    sess, history, why = autosave.restore(
        fresh, file=snap.file, name=snap.name, ai=snap.ai, mask=snap.mask,
        settings=snap.settings, ops=snap.ops)
    assert history and why is None
    np.testing.assert_array_equal(sess.alpha, b.session.alpha)
    np.testing.assert_array_equal(sess.ai_alpha, b.session.ai_alpha)
    assert sess.can_undo and sess.can_redo  # the undone stroke can be redone
    st, old = sess.settings, b.session.settings
    assert (st.background, st.color, st.shadow, st.crop, st.crop_margin) == \
        (old.background, old.color, old.shadow, old.crop, old.crop_margin)
    assert sess.export()[0] == b.session.export()[0]
    assert fresh.active.state is State.FINAL


def test_restore_without_the_log_keeps_the_mask():
    b, _ = _edited_batch()
    snap = autosave.snapshot(b)
    fresh = Batch(CAT, DiscRunner())
    sess, history, _ = autosave.restore(
        fresh, file=snap.file, name=snap.name, ai=snap.ai, mask=snap.mask,
        settings=snap.settings, ops=b"damaged")
    assert not history
    np.testing.assert_array_equal(sess.alpha, b.session.alpha)


@pytest.mark.parametrize("field", ["file", "ai", "settings"])
def test_a_damaged_record_is_refused_and_adds_nothing(field):
    b, _ = _edited_batch()
    snap = autosave.snapshot(b)
    rec = {"file": snap.file, "name": snap.name, "ai": snap.ai, "mask": snap.mask,
           "settings": snap.settings, "ops": snap.ops}
    rec[field] = b"garbage" if field != "ai" else zlib.compress(b"short")
    rec["settings"] = rec["settings"].decode() if isinstance(rec["settings"], bytes) \
        else rec["settings"]
    fresh = Batch(CAT, DiscRunner())
    with pytest.raises(BatchError) as e:
        autosave.restore(fresh, **rec)
    assert e.value.code == "restore" and "could not be restored" in str(e.value)
    assert not fresh.items and fresh.session is None


def test_snapshot_waits_for_a_stroke_and_is_empty_without_an_image():
    assert autosave.snapshot(Batch(CAT, DiscRunner())) == "empty"
    b, _ = _edited_batch()
    b.session.stroke_begin(20, 20, mode="erase", radius=3)
    assert autosave.snapshot(b) == "busy"
    b.session.stroke_end()
    assert isinstance(autosave.snapshot(b), autosave.Snapshot)


def test_an_image_background_without_its_file_is_saved_transparent():
    b, _ = _edited_batch()
    b.session.set_background("image", image=np.zeros((4, 4, 3), np.uint8))
    assert json.loads(autosave.snapshot(b).settings)["background"] == "transparent"
    pic = _png(20, 20, seed=9)
    snap = autosave.snapshot(b, background_file=pic)
    assert json.loads(snap.settings)["background"] == "image" and snap.background == pic
    fresh = Batch(CAT, DiscRunner())
    sess, _, _ = autosave.restore(fresh, file=snap.file, name=snap.name, ai=snap.ai,
                                  mask=snap.mask, settings=snap.settings, ops=snap.ops,
                                  background=snap.background)
    assert sess.settings.background == "image" and fresh.background.shape == (20, 20, 3)


def test_batch_records_respect_the_budget_and_come_back():
    b, _ = _edited_batch()
    b.activate(2)  # the first image, edited, is now one of the others
    records, skipped, used = autosave.snapshot_batch(b)
    assert [r["id"] for r in records] == [1] and not skipped and "mask" in records[0]
    assert autosave.snapshot_batch(b, budget=used - 1)[1] == ["1.png"]
    fresh = Batch(CAT, DiscRunner())
    rec = records[0]
    item = autosave.restore_item(fresh, file=rec["file"], name=rec["name"], width=rec["width"],
                                 height=rec["height"], ai=rec["ai"], mask=rec["mask"])
    assert item.state is State.FINAL and item.thumb is not None
    np.testing.assert_array_equal(item.edited, b.items[1].edited)
    with pytest.raises(BatchError, match="could not be restored"):
        autosave.restore_item(fresh, file=rec["file"], name="x", width=rec["width"] + 1,
                              height=rec["height"], ai=rec["ai"])


def test_settings_record_round_trips_and_old_records_keep_defaults():
    b, _ = _edited_batch()
    st = b.session.settings
    rec = settings_record(st, has_picture=False)
    other = b.session_of(b.items[2])
    assert apply_settings(other, rec)
    assert other.settings.color == st.color and other.settings.crop_margin == 7
    assert not apply_settings(other, {"background": "color"})  # an older version's record
