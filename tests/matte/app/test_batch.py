"""The batch's state machine and its races, under CPython with a fake model runner.

The runner holds every model run until the test releases it, so the test decides what the user
does while a model runs (paint, switch images, remove one) and checks where the mask lands.
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from matte.app.batch import MIN_SIDE, Batch, BatchError, State
from matte.models import load_catalog

CAT = load_catalog()


def _jpeg(h: int = 96, w: int = 128, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _disc(size: tuple[int, int], r: float) -> np.ndarray:
    """A model output: a disc of radius ``r`` (a fraction of the side), logits-free 0..1."""
    h, w = size
    yy, xx = np.ogrid[:h, :w]
    d = np.hypot((yy - h / 2) / h, (xx - w / 2) / w)
    return (d < r).astype(np.float32)[None, None]


class GatedRunner:
    """A fake runner: each run waits until the test releases it, then returns a disc (its
    radius per model id, so the test can tell the models' masks apart)."""

    def __init__(self, radii: dict[str, float] | None = None) -> None:
        self.radii = radii or {}
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.gates: list[asyncio.Event] = []

    async def run(self, spec, tensor):
        self.calls.append(spec.id)
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if spec.id in self.fail:
            raise RuntimeError(f"{spec.id} exploded")
        return _disc(tuple(tensor.shape[-2:]), self.radii.get(spec.id, 0.3))


async def _release(runner: GatedRunner, task: asyncio.Task):
    """Let the oldest waiting run finish and the task run to its end."""
    for _ in range(100):
        await asyncio.sleep(0)
        if runner.gates:
            break
    runner.gates.pop(0).set()
    return await task


def run(coro):
    """Run a coroutine to its end on a fresh event loop, in its own thread (the browser tests'
    Playwright keeps an event loop running in the main thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_add_decodes_once_and_refuses_bad_input():
    b = Batch(CAT, GatedRunner())
    item, dec = b.add(_jpeg(), "a.jpg")
    assert item.state is State.DECODED and item.alpha is None and dec.shape == (96, 128)
    assert b.is_decoded(item.id)
    with pytest.raises(BatchError) as e:
        b.add(b"not an image", "x.jpg")
    assert e.value.code == "decode"
    with pytest.raises(BatchError) as e:
        b.add(_jpeg(MIN_SIDE - 1, 40), "tiny.jpg")
    assert e.value.code == "too-small" and "too small" in str(e.value)
    assert list(b.items) == [item.id]  # a refused file changes nothing


def test_preview_then_final_of_a_fusion_runs_each_model_once():
    async def go():
        r = GatedRunner({"u2netp": 0.2, "isnet-medium": 0.35})
        b = Batch(CAT, r)
        item, _ = b.add(_jpeg(), "a.jpg")
        pre = await _release(r, asyncio.create_task(b.segment(item.id, "best", "preview")))
        assert pre.preview and item.state is State.PREVIEW and item.preview_raw is not None
        small = item.alpha.copy()
        fin = await _release(r, asyncio.create_task(b.segment(item.id, "best", "final")))
        assert fin.fused and item.state is State.FINAL and item.preview_raw is None
        assert r.calls == ["u2netp", "isnet-medium"]  # u2netp's run is reused, not repeated
        assert item.alpha.sum() != small.sum() and item.thumb is not None
    run(go())


def test_a_model_without_preview_is_skipped():
    b = Batch(CAT, GatedRunner())
    item, _ = b.add(_jpeg(), "a.jpg")
    res = run(b.segment(item.id, "u2netp", "preview"))
    assert res.skipped and item.state is State.DECODED


def test_final_mask_during_a_stroke_waits_and_keeps_the_stroke():
    async def go():
        r = GatedRunner({"u2netp": 0.2, "isnet-medium": 0.4})
        b = Batch(CAT, r)
        item, _ = b.add(_jpeg(), "a.jpg")
        await _release(r, asyncio.create_task(b.segment(item.id, "best", "preview")))
        sess = b.activate(item.id)
        final = asyncio.create_task(b.segment(item.id, "best", "final"))
        sess.stroke_begin(10, 10, mode="restore", radius=6)  # the user paints meanwhile
        res = await _release(r, final)
        assert res.pending and not res.rebased and b.pending
        assert b.session is sess and sess.stroke_active
        assert not b.apply_pending()  # still painting: the mask under the stroke stays
        sess.stroke_end()
        assert b.apply_pending() and not b.pending
        np.testing.assert_array_equal(item.alpha, sess.ai_alpha)  # the final mask is in
        assert sess.alpha[10, 10] == 255  # and the stroke is kept on it
        assert sess.can_undo
        sess.undo()
        np.testing.assert_array_equal(sess.alpha, item.alpha)
    run(go())


async def _two_previews():
    """A batch of two images with their preview masks: (runner, batch, first, second)."""
    r = GatedRunner({"u2netp": 0.2, "isnet-medium": 0.4})
    b = Batch(CAT, r)
    a, _ = b.add(_jpeg(seed=1), "a.jpg")
    c, _ = b.add(_jpeg(seed=2), "c.jpg")
    for it in (a, c):
        await _release(r, asyncio.create_task(b.segment(it.id, "best", "preview")))
    return r, b, a, c


def test_final_mask_of_an_image_left_during_its_run_replays_its_edits_on_opening():
    async def go():
        r, b, a, c = await _two_previews()
        sess = b.activate(a.id)
        sess.stroke_begin(5, 5, mode="restore", radius=4)
        sess.stroke_end()
        final = asyncio.create_task(b.segment(a.id, "best", "final"))
        await asyncio.sleep(0)
        b.activate(c.id)  # the user opens the other image while a's model runs
        res = await _release(r, final)
        assert not res.pending and not res.rebased and a.state is State.FINAL
        sess_a = b.activate(a.id)
        np.testing.assert_array_equal(sess_a.ai_alpha, a.alpha)
        assert sess_a.alpha[5, 5] == 255 and sess_a.can_undo  # the edit, with its undo step
    run(go())


def test_pending_mask_goes_with_the_image_when_it_is_left():
    async def go():
        r, b, a, c = await _two_previews()
        sess = b.activate(a.id)
        sess.refine_preview("grow", radius=2)  # a slider is held
        await _release(r, asyncio.create_task(b.segment(a.id, "best", "final")))
        assert b.pending
        final_alpha = b._pending[1]
        b.activate(c.id)
        assert not b.pending
        np.testing.assert_array_equal(a.alpha, final_alpha)
    run(go())


def test_an_image_removed_while_its_model_runs_is_gone_and_nothing_else_changes():
    async def go():
        r = GatedRunner()
        b = Batch(CAT, r)
        a, _ = b.add(_jpeg(seed=1), "a.jpg")
        c, _ = b.add(_jpeg(seed=2), "c.jpg")
        task = asyncio.create_task(b.segment(a.id, "u2netp", "final"))
        await asyncio.sleep(0)
        assert b.remove(a.id) == (True, False)
        with pytest.raises(BatchError) as e:
            await _release(r, task)
        assert e.value.code == "gone" and list(b.items) == [c.id] and not b.is_decoded(a.id)
        with pytest.raises(BatchError) as e:
            await b.segment(a.id, "u2netp")
        assert e.value.code == "gone"
    run(go())


def test_a_failed_run_keeps_the_preview_and_can_be_retried():
    async def go():
        r = GatedRunner()
        b = Batch(CAT, r)
        item, _ = b.add(_jpeg(), "a.jpg")
        await _release(r, asyncio.create_task(b.segment(item.id, "best", "preview")))
        before = item.alpha.copy()
        r.fail.add("isnet-medium")
        with pytest.raises(BatchError) as e:
            await _release(r, asyncio.create_task(b.segment(item.id, "best", "final")))
        assert e.value.code == "inference" and "exploded" in str(e.value)
        assert item.state is State.PREVIEW
        np.testing.assert_array_equal(item.alpha, before)
        r.fail.clear()
        await _release(r, asyncio.create_task(b.segment(item.id, "best", "final")))
        assert item.state is State.FINAL
    run(go())


def test_unknown_model_and_unprocessed_image_are_refused_with_codes():
    b = Batch(CAT, GatedRunner())
    item, _ = b.add(_jpeg(), "a.jpg")
    with pytest.raises(BatchError) as e:
        run(b.segment(item.id, "nope"))
    assert e.value.code == "model"
    with pytest.raises(BatchError) as e:
        b.activate(item.id)
    assert e.value.code == "not-ready"


def test_at_most_two_images_are_held_decoded_and_the_open_one_keeps_its_slot():
    async def go():
        r = GatedRunner()
        b = Batch(CAT, r)
        items = [b.add(_jpeg(seed=i), f"{i}.jpg")[0] for i in range(3)]
        await _release(r, asyncio.create_task(b.segment(items[0].id, "u2netp")))
        b.activate(items[0].id)
        b.decoded(items[1])
        b.decoded(items[2])  # the next image decoded ahead replaces the other "next" one
        held = [it.id for it in items if b.is_decoded(it.id)]
        assert held == [items[0].id, items[2].id]
    run(go())


def test_settings_carry_over_to_the_next_image_and_its_export():
    async def go():
        r = GatedRunner()
        b = Batch(CAT, r)
        a, _ = b.add(_jpeg(seed=1), "a.jpg")
        c, _ = b.add(_jpeg(seed=2), "c.jpg")
        for it in (a, c):
            await _release(r, asyncio.create_task(b.segment(it.id, "u2netp")))
        b.activate(a.id).set_background("color", color=(0, 128, 0))
        other = b.session_of(c)
        assert other is not b.session and other.settings.background == "color"
        data, _, _ = other.export(format="png")
        assert Image.open(io.BytesIO(data)).mode == "RGB"
        assert b.activate(c.id).settings.color == (0, 128, 0)
    run(go())
