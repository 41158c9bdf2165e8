"""Tests for matte.history: exact undo/redo of strokes and whole-mask edits, budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matte.brush import Stroke
from matte.geometry import Rect
from matte.history import DEFAULT_BUDGET, History

H, W = 40, 48


def random_mask(seed: int, shape=(H, W)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    alpha = np.zeros(shape, np.uint8)
    alpha[shape[0] // 4 : 3 * shape[0] // 4, shape[1] // 4 : 3 * shape[1] // 4] = 255
    noise = rng.random(shape) < 0.05
    alpha[noise] = rng.integers(0, 256, int(noise.sum()))
    return alpha


def paint(alpha, points, **params) -> Stroke:
    stroke = Stroke(alpha, **params)
    stroke.begin(*points[0])
    for p in points[1:]:
        stroke.extend(*p)
    stroke.end()
    return stroke


stroke_st = st.fixed_dictionaries(
    {
        "points": st.lists(
            st.tuples(st.floats(-5, H + 5), st.floats(-5, W + 5)), min_size=1, max_size=4
        ),
        "radius": st.floats(0.5, 15.0),
        "hardness": st.floats(0.0, 1.0),
        "strength": st.floats(0.05, 1.0),
        "mode": st.sampled_from(["restore", "erase"]),
    }
)
action_st = st.one_of(
    stroke_st.map(lambda s: ("stroke", s)),
    st.just(("undo", None)),
    st.just(("redo", None)),
    st.tuples(st.just("refine"), st.integers(0, 2**32 - 1)),
)


# --------------------------------------------------------------------------------------------
# Model-based: a list of snapshots is the obvious reference for undo/redo
# --------------------------------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), actions=st.lists(action_st, max_size=14))
def test_history_matches_snapshot_model(seed, actions):
    alpha = random_mask(seed)
    history = History()
    states = [alpha.copy()]  # states[:pos + 1] applied, states[pos + 1:] redoable
    pos = 0
    for kind, arg in actions:
        if kind == "undo":
            rect = history.undo(alpha)
            if pos == 0:
                assert rect is None
            else:
                outside = np.ones(alpha.shape, bool)
                outside[rect.slices] = False
                assert (states[pos][outside] == states[pos - 1][outside]).all()
                pos -= 1
        elif kind == "redo":
            rect = history.redo(alpha)
            if pos == len(states) - 1:
                assert rect is None
            else:
                pos += 1
        else:
            if kind == "stroke":
                stroke = paint(alpha, **arg)
                recorded = history.record_stroke(stroke)
            else:  # a whole-mask operation
                rng = np.random.default_rng(arg)
                with history.edit(alpha, label="refine") as rect:
                    assert rect == Rect(0, 0, H, W)
                    m = rng.random(alpha.shape) < 0.1
                    alpha[m] = 255 - alpha[m]
                recorded = None  # edit() records only if something changed; checked below
            changed = not np.array_equal(alpha, states[pos])
            if recorded is not None:
                assert recorded == changed
            if changed:  # a new edit clears redo
                del states[pos + 1 :]
                states.append(alpha.copy())
                pos += 1
                assert not history.can_redo
        np.testing.assert_array_equal(alpha, states[pos])
        assert history.can_undo == (pos > 0)
        assert history.can_redo == (pos < len(states) - 1)
        assert len(history) == len(states) - 1
    # Undo everything, then redo everything: exact at every step.
    while history.can_undo:
        history.undo(alpha)
        pos -= 1
        np.testing.assert_array_equal(alpha, states[pos])
    assert pos == 0 and history.undo(alpha) is None
    while history.can_redo:
        history.redo(alpha)
        pos += 1
        np.testing.assert_array_equal(alpha, states[pos])
    assert pos == len(states) - 1 and history.redo(alpha) is None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), strokes=st.lists(stroke_st, min_size=1, max_size=5))
def test_undo_rect_covers_every_change(seed, strokes):
    alpha = random_mask(seed)
    history = History()
    for params in strokes:
        before = alpha.copy()
        stroke = paint(alpha, **params)
        if not history.record_stroke(stroke):
            continue
        after = alpha.copy()
        rect = history.undo(alpha)
        assert rect == rect.clip(alpha.shape) and not rect.empty
        assert rect.intersect(stroke.rect) == rect  # never larger than what the stroke touched
        changed = np.argwhere(before != after)
        assert changed[:, 0].min() == rect.r0 and changed[:, 0].max() + 1 == rect.r1
        assert changed[:, 1].min() == rect.c0 and changed[:, 1].max() + 1 == rect.c1
        np.testing.assert_array_equal(alpha, before)
        assert history.redo(alpha) == rect
        np.testing.assert_array_equal(alpha, after)


def test_new_stroke_after_undo_clears_redo():
    alpha = random_mask(0)
    history = History()
    history.record_stroke(paint(alpha, [(5, 5), (30, 40)], radius=4, mode="erase"))
    history.record_stroke(paint(alpha, [(35, 5), (5, 40)], radius=4, mode="erase"))
    assert len(history) == 2
    history.undo(alpha)
    assert history.can_redo and history.redo_label == "brush"
    history.record_stroke(paint(alpha, [(20, 20)], radius=6, mode="restore"), label="dot")
    assert not history.can_redo and history.redo(alpha) is None
    assert len(history) == 2 and history.undo_label == "dot"


def test_unchanged_edit_records_nothing_and_keeps_redo():
    alpha = np.zeros((H, W), np.uint8)
    history = History()
    history.record_stroke(paint(alpha, [(10, 10)], radius=5, mode="restore"))
    history.undo(alpha)
    # Erasing where everything is already 0 changes no pixel.
    noop = paint(alpha, [(30, 30), (30, 40)], radius=5, mode="erase")
    assert history.record_stroke(noop) is False
    assert history.can_redo and len(history) == 1 and history.nbytes > 0
    assert history.redo(alpha) is not None and alpha[10, 10] == 255


# --------------------------------------------------------------------------------------------
# record / edit API
# --------------------------------------------------------------------------------------------


def test_record_crops_to_changed_pixels_and_round_trips():
    alpha = random_mask(1)
    original = alpha.copy()
    full = Rect(0, 0, H, W)
    alpha[10:13, 20:30] ^= 0x5A
    assert History().record(original, alpha, full) is True
    history = History()
    history.record(original, alpha.copy(), full, label="refine")
    assert history.undo_label == "refine"
    edited = alpha.copy()
    assert history.undo(alpha) == Rect(10, 20, 13, 30)
    np.testing.assert_array_equal(alpha, original)
    assert history.redo(alpha) == Rect(10, 20, 13, 30)
    np.testing.assert_array_equal(alpha, edited)


def test_record_and_edit_without_change_store_nothing():
    alpha = random_mask(6)
    history = History()
    assert history.record(alpha, alpha.copy(), Rect(0, 0, H, W)) is False
    with history.edit(alpha, label="refine"):
        alpha[3, 3] = alpha[3, 3]
    assert len(history) == 0 and history.nbytes == 0 and history.undo(alpha) is None


def test_record_patches_skips_unchanged_rects():
    alpha = np.zeros((H, W), np.uint8)
    history = History()
    before_a, before_b = alpha[0:10, 0:10].copy(), alpha[20:30, 20:30].copy()
    alpha[2, 3] = 9
    assert history.record_patches(
        alpha, [(Rect(0, 0, 10, 10), before_a), (Rect(20, 20, 30, 30), before_b)]
    )
    assert history.undo(alpha) == Rect(2, 3, 3, 4)
    assert not alpha.any()


def test_edit_restores_and_records_nothing_when_the_body_raises():
    alpha = random_mask(2)
    original = alpha.copy()
    history = History()
    with pytest.raises(RuntimeError, match="boom"):
        with history.edit(alpha, Rect(-5, 5, 20, 100)) as rect:
            assert rect == Rect(0, 5, 20, W)
            alpha[:] = 7
            raise RuntimeError("boom")
    assert len(history) == 0
    # Only the declared rectangle is restored: the body broke its contract outside it.
    np.testing.assert_array_equal(alpha[rect.slices], original[rect.slices])


def test_record_validates_its_input():
    history = History()
    a = np.zeros((4, 5), np.uint8)
    with pytest.raises(ValueError, match="before has shape"):
        history.record(a, a, Rect(0, 0, 5, 5))
    with pytest.raises(TypeError, match="uint8"):
        history.record(a.astype(np.int16), a, Rect(0, 0, 4, 5))
    with pytest.raises(ValueError, match="negative"):
        history.record(a, a, Rect(-1, 0, 3, 5))
    with pytest.raises(ValueError, match="outside the mask"):
        history.record_patches(a, [(Rect(0, 0, 5, 5), np.zeros((5, 5), np.uint8))])
    stroke = Stroke(a, radius=2)
    stroke.begin(1, 1)
    with pytest.raises(ValueError, match="still active"):
        history.record_stroke(stroke)
    with pytest.raises(ValueError, match="budget_bytes"):
        History(-1)
    with pytest.raises(ValueError, match="level"):
        History(level=10)


def test_undo_refuses_a_mask_changed_behind_its_back():
    alpha = random_mask(3)
    history = History()
    history.record_stroke(paint(alpha, [(10, 10), (20, 30)], radius=5, mode="erase"))
    alpha[12, 15] ^= 1  # not recorded
    tampered = alpha.copy()
    with pytest.raises(ValueError, match="does not match"):
        history.undo(alpha)
    np.testing.assert_array_equal(alpha, tampered)
    assert history.can_undo
    with pytest.raises(ValueError, match="outside the mask"):
        history.undo(np.zeros((8, 8), np.uint8))


# --------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------


def test_over_budget_drops_oldest_but_never_the_newest():
    alpha = np.random.default_rng(4).integers(0, 256, (64, 64), dtype=np.uint8)
    states = [alpha.copy()]
    history = History(budget_bytes=2_500, level=0)  # level 0: sizes are predictable
    for i in range(6):
        stroke = paint(alpha, [(8 + 8 * i, 0), (8 + 8 * i, 63)], radius=3, mode="erase")
        history.record_stroke(stroke)
        states.append(alpha.copy())
        assert history.nbytes <= 2_500
    assert 1 < len(history) < 6
    n = len(history)
    for i in range(n):
        history.undo(alpha)
        np.testing.assert_array_equal(alpha, states[-2 - i])
    assert not history.can_undo
    # One edit bigger than the whole budget is still kept (alone).
    with history.edit(alpha, label="refine"):
        alpha[:] = 255 - alpha
    assert len(history) == 1 and history.nbytes > 2_500 and not history.can_redo
    history.undo(alpha)
    np.testing.assert_array_equal(alpha, states[-1 - n])


def test_nbytes_tracks_steps_and_clear():
    alpha = random_mask(5)
    history = History()
    assert history.nbytes == 0 and len(history) == 0
    history.record_stroke(paint(alpha, [(5, 5), (35, 45)], radius=6, mode="erase"))
    one = history.nbytes
    history.record_stroke(paint(alpha, [(35, 5), (5, 45)], radius=6, mode="restore"))
    assert history.nbytes > one
    history.undo(alpha)
    history.record_stroke(paint(alpha, [(20, 20)], radius=3, mode="restore"))
    assert len(history) == 2
    history.clear()
    assert history.nbytes == 0 and len(history) == 0 and not history.can_undo


def test_patches_are_compressed():
    alpha = np.zeros((400, 400), np.uint8)
    alpha[100:300, 100:300] = 255
    history = History()
    stroke = paint(alpha, [(50, 50), (350, 350)], radius=30, hardness=0.5, mode="restore")
    history.record_stroke(stroke)
    assert history.nbytes < stroke.rect.area / 20


@pytest.mark.parametrize("content", ["subject", "noise"])
def test_100_strokes_on_12mp_fit_the_default_budget(content):
    rng = np.random.default_rng(12)
    if content == "subject":  # a typical mask: flat 0 / 255 regions
        alpha = np.zeros((3000, 4000), np.uint8)
        yy, xx = np.ogrid[:3000, :4000]
        alpha[((yy - 1500) / 1100.0) ** 2 + ((xx - 2000) / 1500.0) ** 2 < 1] = 255
    else:  # worst case: every stroke changes every pixel it covers, nothing compresses well
        alpha = rng.integers(0, 256, (3000, 4000), dtype=np.uint8)
    original = alpha.copy()
    history = History()
    for i in range(100):
        # Strokes along the subject's edge, where users touch up: a few hundred px each.
        t = rng.uniform(0, 2 * np.pi)
        r, c = 1500 + 1100 * np.sin(t), 2000 + 1500 * np.cos(t)
        heading = t + np.pi / 2 + rng.uniform(-0.5, 0.5)  # roughly along the edge
        stroke = Stroke(
            alpha,
            radius=float(rng.uniform(20, 60)),
            hardness=float(rng.uniform(0.0, 1.0)),
            strength=float(rng.uniform(0.3, 1.0)),
            mode="erase" if i % 2 else "restore",
        )
        stroke.begin(r, c)
        length = 0.0
        for _ in range(12):  # pointer events 20-40 px apart
            step = rng.uniform(20, 40)
            heading += rng.uniform(-0.3, 0.3)
            r += step * np.sin(heading)
            c += step * np.cos(heading)
            length += step
            stroke.extend(r, c)
        stroke.end()
        assert 240 <= length <= 480
        assert history.record_stroke(stroke)
    assert len(history) == 100
    assert history.nbytes <= DEFAULT_BUDGET
    print(f"100 strokes on 12 MP ({content}): {history.nbytes} bytes of history")
    while history.can_undo:
        history.undo(alpha)
    np.testing.assert_array_equal(alpha, original)
