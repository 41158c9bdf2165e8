"""Tests for matte.session.EditSession: brush, history, refine previews, renders, export, memory."""

from __future__ import annotations

import gc
import io
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from matte import composite, refine
from matte.decode import Decoded
from matte.geometry import EMPTY, Rect
from matte.session import EditSession

# ------------------------------------------------------------------------------------------
# fixtures


def make_photo(h: int, w: int, seed: int = 0, soft: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """A blocky random photo and an elliptical subject mask with a soft edge ``soft`` px wide."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (-(-h // 4), -(-w // 4), 3), dtype=np.uint8)
    rgb = np.repeat(np.repeat(blocks, 4, 0), 4, 1)[:h, :w]
    rgb = np.ascontiguousarray(rgb + rng.integers(0, 16, (h, w, 3), dtype=np.uint8))
    yy, xx = np.ogrid[:h, :w]
    d = np.sqrt(((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2) / (0.35 * w)) ** 2)
    alpha = np.clip((1 - d) * 0.35 * min(h, w) * 255 / soft + 128, 0, 255).astype(np.uint8)
    return rgb, alpha


def session(h: int = 48, w: int = 64, seed: int = 0, **kw) -> EditSession:
    rgb, alpha = make_photo(h, w, seed)
    return EditSession(Decoded(rgb, None, b"icc-test", "JPEG"), alpha, name="cat.jpg", **kw)


def full(s: EditSession) -> Rect:
    return Rect(0, 0, *s.shape)


def decode_png(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def stroke(s: EditSession, pts, **kw) -> Rect:
    kw.setdefault("mode", "restore")
    kw.setdefault("radius", 5.0)
    r = s.stroke_begin(pts[0][0], pts[0][1], **kw)
    r = r.union(s.stroke_extend([(p[0], p[1], 1.0) for p in pts[1:]]))
    end = s.stroke_end()
    assert r.r0 >= end.r0 and r.c0 >= end.c0 and r.r1 <= end.r1 and r.c1 <= end.c1
    return end


# ------------------------------------------------------------------------------------------
# brush


def dist_to_segment(h: int, w: int, p0, p1) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(float) + 0.5
    (r0, c0), (r1, c1) = p0, p1
    d = np.array([r1 - r0, c1 - c0])
    t = np.clip(((yy - r0) * d[0] + (xx - c0) * d[1]) / (d @ d), 0, 1)
    return np.hypot(yy - (r0 + t * d[0]), xx - (c0 + t * d[1]))


@pytest.mark.parametrize("mode", ["restore", "erase"])
def test_brush_changes_only_the_stroke_area(mode):
    s = session()
    before = np.array(s.alpha)
    p0, p1 = (10.0, 8.0), (30.0, 50.0)
    rect = stroke(s, [p0, p1], mode=mode, radius=4.0, hardness=1.0)
    after = np.array(s.alpha)
    dist = dist_to_segment(*s.shape, p0, p1)
    changed = after != before
    assert changed.any()
    if mode == "restore":
        assert (after >= before).all()
        assert (after[dist < 3.0] == 255).all()
    else:
        assert (after <= before).all()
        assert (after[dist < 3.0] == 0).all()
    # nothing beyond the brush radius (+ antialiasing) and nothing outside the returned rect
    assert not changed[dist > 5.0].any()
    outside = np.ones_like(changed)
    outside[rect.slices] = False
    assert not changed[outside].any()
    assert s.can_undo and s.history.undo_label == mode


def test_stroke_extend_accepts_coalesced_points_and_pressure():
    s = session()
    s.stroke_begin(5, 5, mode="erase", radius=3, pressure=0.0)
    r = s.stroke_extend([(5, 20, 0.5), (5, 40), (25, 40, 1.0)])
    assert not r.empty and s.stroke_active
    end = s.stroke_end()
    assert not s.stroke_active and end.union(r) == end and len(s.history) == 1
    assert s.stroke_end() == EMPTY  # a second pointer-up is harmless
    assert len(s.history) == 1


def test_new_stroke_after_undo_clears_redo():
    s = session()
    stroke(s, [(10, 10), (10, 40)], mode="erase")
    stroke(s, [(30, 10), (30, 40)], mode="erase")
    assert s.undo() is not None
    assert s.can_redo
    stroke(s, [(20, 10), (20, 40)], mode="restore")
    assert not s.can_redo
    assert s.redo() is None


def test_stroke_begin_while_active_ends_the_previous_stroke():
    s = session()
    s.stroke_begin(20, 20, mode="erase", radius=4)
    s.stroke_begin(26, 40, mode="erase", radius=4)  # lost pointer-up
    assert s.stroke_active
    s.stroke_end()
    assert len(s.history) == 2


# ------------------------------------------------------------------------------------------
# undo / redo over random edit sequences


REFINES = [
    ("feather", {"radius": 1.5}),
    ("grow", {"radius": 2}),
    ("grow", {"radius": -2}),
    ("smooth", {"radius": 2, "contrast": 8}),
    ("threshold", {"level": 100}),
    ("islands", {"min_area": 30}),
    ("holes", {"max_area": 30}),
    ("edges", {"radius": 4}),
]

coord = st.floats(-5, 60, allow_nan=False)
stroke_op = st.tuples(
    st.just("stroke"),
    st.sampled_from(["restore", "erase"]),
    st.floats(1, 8),
    st.lists(st.tuples(coord, coord), min_size=1, max_size=4),
    st.booleans(),
)
refine_op = st.tuples(st.just("refine"), st.integers(0, len(REFINES) - 1), st.booleans())
ops = st.lists(
    st.one_of(
        stroke_op,
        refine_op,
        st.tuples(st.just("undo")),
        st.tuples(st.just("redo")),
        st.tuples(st.just("reset")),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(ops)
def test_undo_redo_restore_exact_bytes(seq):
    s = session(40, 56, seed=3)
    states = [np.array(s.alpha)]
    pos = 0

    def edited() -> None:
        nonlocal states, pos
        now = np.array(s.alpha)
        if not np.array_equal(now, states[pos]):
            states = states[: pos + 1] + [now]
            pos += 1

    for op in seq:
        if op[0] == "stroke":
            _, mode, radius, pts, edge = op
            s.stroke_begin(*pts[0], mode=mode, radius=radius, hardness=0.5, edge_aware=edge)
            s.stroke_extend([(r, c, 0.8) for r, c in pts[1:]])
            s.stroke_end()
            edited()
        elif op[0] == "refine":
            name, params = REFINES[op[1]]
            s.refine_preview(name, **params)
            if op[2]:
                s.refine_commit()
                edited()
            else:
                s.refine_cancel()
        elif op[0] == "reset":
            s.reset_mask()
            edited()
        elif op[0] == "undo":
            r = s.undo()
            assert (r is None) == (pos == 0)
            pos = max(0, pos - 1)
        else:
            r = s.redo()
            assert (r is None) == (pos == len(states) - 1)
            pos = min(len(states) - 1, pos + 1)
        assert np.array_equal(s.alpha, states[pos])
        assert s.can_undo == (pos > 0)
        assert s.can_redo == (pos < len(states) - 1)
    while s.undo() is not None:
        pass
    assert np.array_equal(s.alpha, states[0])


def _play(s: EditSession, seq) -> None:
    """Apply an ``ops`` sequence (see above) to a session."""
    for op in seq:
        if op[0] == "stroke":
            _, mode, radius, pts, edge = op
            s.stroke_begin(*pts[0], mode=mode, radius=radius, hardness=0.5, edge_aware=edge)
            s.stroke_extend([(r, c, 0.8) for r, c in pts[1:]])
            s.stroke_end()
        elif op[0] == "refine":
            name, params = REFINES[op[1]]
            s.refine_preview(name, **params)
            s.refine_commit() if op[2] else s.refine_cancel()
        elif op[0] == "reset":
            s.reset_mask()
        elif op[0] == "undo":
            s.undo()
        else:
            s.redo()


@settings(max_examples=40, deadline=None)
@given(ops)
def test_rebase_equals_editing_the_new_mask_from_the_start(seq):
    # The progressive result: the user edits the preview mask, then the final mask arrives
    # and the edits are carried over. Reference: a model of the documented semantics, built
    # from what the user saw on the preview: every gesture is kept, an undo removes the last
    # gesture that changed the mask (and the no-op gestures after it), a redo puts it back,
    # a gesture that changed the mask clears redo. The same gestures are then made on a
    # session of the final mask, directly.
    rgb, preview = make_photo(40, 56, seed=3)
    final = make_photo(40, 56, seed=3, soft=9.0)[1]
    final[5:12, 30:50] = 255 - final[5:12, 30:50]  # the final mask also differs in shape
    a = EditSession(Decoded(rgb, None, None, "PNG"), preview)
    log: list[tuple[object, bool]] = []
    redo: list[object] = []
    for op in seq:
        before = np.array(a.alpha)
        _play(a, [op])
        changed = not np.array_equal(before, a.alpha)
        if op[0] == "undo":
            if changed:
                while log and not log[-1][1]:
                    log.pop()
                redo.append(log.pop()[0])
        elif op[0] == "redo":
            if changed:
                log.append((redo.pop(), True))
        elif op[0] != "refine" or op[2]:  # a cancelled refine preview is no gesture
            log.append((op, changed))
            if changed:
                redo.clear()
    b = EditSession(Decoded(rgb, None, None, "PNG"), final)
    _play(b, [g for g, _ in log])
    n = 0
    for g in reversed(redo):
        before = np.array(b.alpha)
        _play(b, [g])
        n += not np.array_equal(before, b.alpha)
    _play(b, [("undo",)] * n)
    a.rebase(final)
    assert np.array_equal(a.alpha, b.alpha)
    assert np.array_equal(a.ai_alpha, final)
    assert (a.can_undo, a.can_redo) == (b.can_undo, b.can_redo)
    while b.can_redo:  # the same redo steps
        assert a.redo() is not None and b.redo() is not None
        assert np.array_equal(a.alpha, b.alpha)
    while b.can_undo:  # and the same undo steps, back to the final AI mask
        assert a.undo() is not None and b.undo() is not None
        assert np.array_equal(a.alpha, b.alpha)
    assert not a.can_undo
    assert np.array_equal(a.alpha, final)


def test_rebase_replays_an_earlier_sessions_edits_and_checks_its_input():
    rgb, preview = make_photo(40, 56, seed=1)
    final = make_photo(40, 56, seed=1, soft=6.0)[1]
    a = EditSession(Decoded(rgb, None, None, "PNG"), preview)
    stroke(a, [(5, 5), (20, 40)], mode="erase", radius=4.0)
    a.refine_preview("grow", radius=2)
    a.refine_commit()
    b = EditSession(Decoded(rgb, None, None, "PNG"), preview)  # e.g. the image opened again
    b.rebase(final, ops=a.ops)
    c = EditSession(Decoded(rgb, None, None, "PNG"), final)
    stroke(c, [(5, 5), (20, 40)], mode="erase", radius=4.0)
    c.refine_preview("grow", radius=2)
    c.refine_commit()
    assert np.array_equal(b.alpha, c.alpha)
    assert len(b.ops[0]) == 2 and b.ops[0][0][0] == "stroke" and b.ops[0][1][0] == "refine"
    with pytest.raises(ValueError, match="alpha"):
        b.rebase(final[:10])


# ------------------------------------------------------------------------------------------
# refine previews


def test_refine_preview_twice_then_cancel_restores_exactly():
    s = session()
    stroke(s, [(5, 5), (40, 60)], mode="erase")
    before = np.array(s.alpha)
    steps = len(s.history)
    r1 = s.refine_preview("grow", radius=3)
    grown = np.array(s.alpha)
    assert not r1.empty and not np.array_equal(grown, before)
    assert np.array_equal(grown, refine.grow_shrink(before, radius=3))
    s.refine_preview("grow", radius=-3)  # from the same base, not from the grown mask
    assert np.array_equal(s.alpha, refine.grow_shrink(before, radius=-3))
    assert s.previewing == "grow"
    r = s.refine_cancel()
    assert r is not None and not r.empty
    assert np.array_equal(s.alpha, before)
    assert len(s.history) == steps and s.previewing is None
    assert s.refine_cancel() is None and s.refine_commit() is None


def test_refine_commit_is_one_undo_step():
    s = session()
    before = np.array(s.alpha)
    s.refine_preview("feather", radius=2)
    s.refine_preview("smooth", radius=2)
    s.refine_preview("feather", radius=1)
    expected = refine.feather(before, radius=1)
    rect = s.refine_commit()
    assert rect is not None and not rect.empty
    assert np.array_equal(s.alpha, expected)
    assert len(s.history) == 1 and s.history.undo_label == "refine feather"
    s.undo()
    assert np.array_equal(s.alpha, before)
    s.redo()
    assert np.array_equal(s.alpha, expected)


def test_refine_ops_match_refine_module():
    s = session(seed=5)
    a = np.array(s.alpha)
    cases = [
        ("islands", {"min_area": 10}, refine.remove_islands(a, min_area=10)),
        ("holes", {"max_area": 10}, refine.fill_holes(a, max_area=10)),
        ("edges", {"radius": 4}, refine.refine_edges(s.rgb, a, radius=4)),
        ("threshold", {}, refine.threshold(a)),
    ]
    for op, params, want in cases:
        s.refine_preview(op, **params)
        assert np.array_equal(s.alpha, want), op
    s.refine_cancel()


@pytest.mark.parametrize(
    ("op", "params", "name"),
    [
        ("blur", {"radius": 2}, "op"),
        ("feather", {}, "radius"),
        ("feather", {"radius": 2, "sigma": 1}, "sigma"),
        ("feather", {"radius": -1}, "radius"),
        ("islands", {"min_area": 1.5}, "min_area"),
        ("edges", {"guide": "hsv"}, "guide"),
    ],
)
def test_refine_preview_bad_parameters(op, params, name):
    s = session()
    s.refine_preview("grow", radius=2)
    shown = np.array(s.alpha)
    with pytest.raises(ValueError, match=name):
        s.refine_preview(op, **params)
    assert np.array_equal(s.alpha, shown)  # the previous preview stays as it was
    s.refine_cancel()
    fresh = session()
    with pytest.raises(ValueError, match=name):
        fresh.refine_preview(op, **params)
    assert fresh.previewing is None and np.array_equal(fresh.alpha, session().alpha)


def test_brush_during_preview_is_refused_and_undo_cancels_the_preview():
    s = session()
    before = np.array(s.alpha)
    s.refine_preview("grow", radius=4)
    with pytest.raises(RuntimeError):
        s.stroke_begin(10, 10, mode="erase", radius=3)
    assert s.can_undo
    assert s.undo() is not None
    assert s.previewing is None and np.array_equal(s.alpha, before)
    assert not s.can_undo


def test_reset_mask_is_undoable():
    s = session()
    ai = np.array(s.alpha)
    assert s.reset_mask() == EMPTY and not s.can_undo
    stroke(s, [(10, 10), (30, 50)], mode="erase")
    stroke(s, [(40, 5), (40, 60)], mode="restore")
    edited = np.array(s.alpha)
    r = s.reset_mask()
    assert not r.empty and np.array_equal(s.alpha, ai)
    assert np.array_equal(s.ai_alpha, ai)
    s.undo()
    assert np.array_equal(s.alpha, edited)


# ------------------------------------------------------------------------------------------
# edge-aware brush


def test_edge_aware_stroke_snaps_to_the_image_edge():
    h, w = 64, 96
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, :48] = (40, 60, 30)  # subject: dark green, left half
    rgb[:, 48:] = (220, 210, 240)  # background: light, right half
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, :44] = 255  # the AI mask stops 4 px short of the edge
    plain = EditSession(Decoded(rgb, None, None, "PNG"), alpha)
    smart = EditSession(Decoded(rgb, None, None, "PNG"), alpha)
    pts = [(10.0, 50.0), (54.0, 50.0)]
    for s, edge in ((plain, False), (smart, True)):
        stroke(s, pts, mode="restore", radius=8.0, hardness=1.0, edge_aware=edge)
    a_plain, a_smart = np.array(plain.alpha), np.array(smart.alpha)
    band = slice(16, 48)
    # the plain brush restores background; the edge-aware one pulls it back towards 0 ...
    assert a_plain[band, 50:56].mean() > 250
    assert a_smart[band, 50:56].mean() < 0.5 * a_plain[band, 50:56].mean()
    # ... keeps the subject side it restored
    assert a_smart[band, 44:47].mean() > 200
    # ... never goes beyond what the stroke did, and leaves the rest alone
    assert (a_smart >= alpha).all() and (a_smart <= a_plain).all()
    assert np.array_equal(a_smart[a_plain == alpha], alpha[a_plain == alpha])
    smart.undo()
    assert np.array_equal(smart.alpha, alpha)


# ------------------------------------------------------------------------------------------
# rendering

BACKGROUNDS = [
    ("transparent", {}),
    ("color", {"color": "#2040ff"}),
    ("image", {"image": np.random.default_rng(9).integers(0, 256, (30, 50, 3), np.uint8)}),
    ("blur", {"blur": 9}),
]


def configure(s: EditSession, kind: str, kw: dict, extras: bool) -> None:
    s.set_background(kind, **kw)
    s.set_shadow(extras, offset=(3, -4), blur=2.5, opacity=0.6, color="navy")
    s.set_decontaminate(extras, radius=12)


@pytest.mark.parametrize("extras", [False, True], ids=["plain", "shadow+decon"])
@pytest.mark.parametrize(("kind", "kw"), BACKGROUNDS, ids=[b[0] for b in BACKGROUNDS])
def test_render_rect_equals_crop_of_full_render_and_export(kind, kw, extras):
    s = session(50, 70, seed=1)
    stroke(s, [(5, 5), (45, 60)], mode="erase", radius=3)
    configure(s, kind, kw, extras)
    whole = s.render(full(s), 1.0)
    assert whole.shape == (50, 70, 4)
    pixels = s.result_pixels(full(s))
    if kind == "transparent":
        assert np.array_equal(whole, pixels)
        if not extras:
            assert np.array_equal(whole[..., 3], s.alpha)
    else:
        assert np.array_equal(whole[..., :3], pixels) and (whole[..., 3] == 255).all()
    for rect in (Rect(3, 4, 20, 33), Rect(-5, 60, 10, 90), Rect(49, 0, 50, 70)):
        part = s.render(rect, 1.0)
        assert np.array_equal(part, whole[rect.clip(s.shape).slices])


@pytest.mark.parametrize("sampling", ["area", "nearest"])
@pytest.mark.parametrize("scale", [0.37, 0.5, 0.85, 1.7])
@pytest.mark.parametrize(("kind", "kw"), BACKGROUNDS, ids=[b[0] for b in BACKGROUNDS])
def test_window_render_equals_crop_of_viewport_render(kind, kw, scale, sampling):
    s = session(50, 70, seed=2)
    configure(s, kind, kw, True)
    viewport = Rect(4, 3, 47, 66)
    whole = s.render(viewport, scale, sampling=sampling)
    oh, ow = whole.shape[:2]
    for win in (Rect(0, 0, oh, ow), Rect(1, 2, oh - 1, ow // 2), Rect(oh // 2, 0, oh, 3)):
        part = s.render(viewport, scale, window=win, sampling=sampling)
        assert np.array_equal(part, whole[win.slices])
    for i in range(min(oh, 5)):  # single pixels: some boxes are 1 px when scale > 0.5
        for j in range(min(ow, 5)):
            px = s.render(viewport, scale, window=Rect(i, j, i + 1, j + 1), sampling=sampling)
            assert np.array_equal(px, whole[i : i + 1, j : j + 1])
    out = np.zeros((2, 3, 4), np.uint8)
    assert s.render(viewport, scale, window=Rect(1, 1, 3, 4), sampling=sampling, out=out) is out
    assert np.array_equal(out, whole[1:3, 1:4])


def test_downscaled_composite_is_close_to_averaged_export():
    s = session(64, 96, seed=4)
    s.set_background("image", image=np.random.default_rng(1).integers(0, 256, (8, 8, 3), np.uint8))
    s.set_shadow(True, offset=(2, 2), blur=3)
    view = s.render(full(s), 0.25).astype(float)
    exact = s.result_pixels(full(s)).astype(float)
    avg = exact.reshape(16, 4, 24, 4, 3).mean(axis=(1, 3))
    err = np.abs(view[..., :3] - avg)
    assert err.mean() < 1.0 and np.percentile(err, 99) <= 8 and err.max() <= 16
    opaque = np.asarray(s.alpha).reshape(16, 4, 24, 4).min(axis=(1, 3)) == 255
    assert opaque.sum() > 20
    assert err[opaque].max() <= 0.5 + 1e-9  # boxes wholly inside the subject: exact


def test_transparent_shadow_path_matches_render_cutout_without_shadow():
    """The composite path (used with a shadow) averages like matte.overlay.render_cutout."""
    s = session(50, 70, seed=6)
    plain = s.render(full(s), 0.3)
    s.set_shadow(True, opacity=0.0)
    assert np.array_equal(s.render(full(s), 0.3), plain)


def test_color_background_where_alpha_is_zero():
    s = session()
    stroke(s, [(20, 20), (20, 40)], mode="erase", radius=6)
    s.set_background("color", color=(12, 200, 34))
    out = s.render(full(s), 1.0)
    zero = np.asarray(s.alpha) == 0
    assert zero.sum() > 100
    assert (out[zero][:, :3] == (12, 200, 34)).all() and (out[..., 3] == 255).all()
    one = np.asarray(s.alpha) == 255
    assert np.array_equal(out[one][:, :3], s.rgb[one])


def test_refine_view_tint_is_monotone_in_alpha():
    h, w = 4, 256
    rgb = np.full((h, w, 3), 100, np.uint8)
    alpha = np.tile(np.arange(256, dtype=np.uint8), (h, 1))
    s = EditSession(Decoded(rgb, None, None, "PNG"), alpha)
    out = s.render(full(s), 1.0, view="refine")[0].astype(int)
    red = out[:, 0]
    assert (np.diff(red) <= 0).all()  # more removed, more tint
    assert red[0] > 150 and red[-1] == 100 and out[-1, 1] == 100
    assert len(np.unique(red)) > 50  # continuous, no threshold
    orig = s.render(full(s), 1.0, view="original")
    assert (orig[..., :3] == 100).all() and (orig[..., 3] == 255).all()


def test_output_window_updates_exactly_what_a_stroke_changed():
    s = session(60, 80, seed=7)
    s.set_background("color", color="white")
    viewport, scale = Rect(5, 5, 55, 75), 0.45
    shown = s.render(viewport, scale)
    s.stroke_begin(20, 20, mode="erase", radius=5)
    for pts in ([(25, 30, 1.0)], [(30, 50, 0.7), (35, 55, 1.0)]):
        dirty = s.stroke_extend(pts)
        win = s.output_window(dirty, viewport, scale)
        shown[win.slices] = s.render(viewport, scale, window=win)
        assert np.array_equal(shown, s.render(viewport, scale))
    s.stroke_end()


def test_affected_rect_covers_shadow_and_decontamination_updates():
    s = session(120, 160, seed=8)
    s.set_shadow(True, offset=(10, 12), blur=9, opacity=0.8)
    s.set_decontaminate(True, radius=16)
    before = s.render(full(s), 1.0)
    rect = stroke(s, [(30, 40), (50, 60)], mode="erase", radius=6)
    after = s.render(full(s), 1.0)
    changed = np.any(before != after, axis=2)
    assert changed.any()
    area = s.affected_rect(rect)
    inside = np.zeros_like(changed)
    inside[area.slices] = True
    assert not changed[~inside].any()
    assert s.affected_rect(EMPTY).empty


def test_live_view_keeps_shadow_until_the_stroke_ends():
    s = session(80, 100, seed=1)
    s.set_shadow(True, offset=(6, 6), blur=2, opacity=1.0)
    s.set_background("color", color="white")
    s.render(full(s), 1.0)
    shadow = {"offset": (6, 6), "blur": 2, "opacity": 1.0, "color": (0, 0, 0)}
    cov_before = composite.drop_shadow(s.alpha, **shadow)[..., 3]
    s.stroke_begin(40, 10, mode="erase", radius=10, hardness=1.0)
    s.stroke_extend([(40, 90, 1.0)])
    during = s.render(full(s), 1.0)
    # during the stroke: the live mask over the shadow from before the stroke
    old_shadow = composite.over_color(np.zeros_like(s.rgb), cov_before, "white")
    assert np.array_equal(during[..., :3], composite.over_image(s.rgb, s.alpha, old_shadow))
    s.stroke_end()
    after = s.render(full(s), 1.0)
    assert not np.array_equal(during, after)
    want = composite.over_color(s.rgb, s.alpha, "white", shadow=shadow)
    assert np.array_equal(after[..., :3], want)


# ------------------------------------------------------------------------------------------
# caches: exact against the composite/refine functions on the whole image


def test_shadow_and_decontamination_caches_follow_the_mask():
    rgb, alpha = make_photo(700, 1200, seed=11, soft=8)
    alpha[:, 300:] = 0  # the shadows of the strokes below fall on background, visibly
    s = EditSession(Decoded(rgb, None, None, "PNG"), alpha)
    # the offset exceeds a cache block plus the blur's reach: the shadow of an edit lands in
    # blocks far from it
    shadow = {"offset": (-30, 230), "blur": 10.0, "opacity": 0.7, "color": (30, 0, 0)}
    s.set_shadow(True, **shadow)
    s.set_decontaminate(True, radius=16)
    s.set_background("color", color="white")
    s.render(Rect(0, 0, 4, 4), 1.0)
    rng = np.random.default_rng(0)
    for i in range(4):
        r0, c0 = rng.uniform(100, 600), rng.uniform(40, 180)
        stroke(s, [(r0, c0), (r0 + 40, c0 - 30)], mode="erase" if i % 2 else "restore",
               radius=7, hardness=0.4)
        s.render(Rect(0, 0, 4, 4), 1.0)  # caches catch up on crops
    s.undo()
    a = np.array(s.alpha)
    fg = refine.decontaminate(rgb, a, radius=16)
    want = composite.over_color(fg, a, "white", shadow=shadow)
    assert np.array_equal(s.result_pixels(full(s)), want)
    s.set_background("transparent")
    assert np.array_equal(s.result_pixels(full(s)), composite.cutout(fg, a, shadow=shadow))


@pytest.mark.parametrize("extras", [False, True])
def test_export_matches_composite_module(extras):
    s = session(40, 60, seed=12)
    stroke(s, [(5, 5), (35, 55)], mode="erase", radius=3)
    a = np.array(s.alpha)
    sh = {"offset": (2, 3), "blur": 1.5, "opacity": 0.5, "color": (0, 0, 0)} if extras else None
    if extras:
        s.set_shadow(True, **sh)
    pic = np.random.default_rng(3).integers(0, 256, (25, 90, 3), np.uint8)
    s.set_background("image", image=pic)
    assert np.array_equal(s.result_pixels(), composite.over_image(s.rgb, a, pic, shadow=sh))
    s.set_background("color", color="black")
    assert np.array_equal(s.result_pixels(), composite.over_color(s.rgb, a, "black", shadow=sh))
    s.set_background("image")  # the picture was kept
    assert np.array_equal(s.result_pixels(), composite.over_image(s.rgb, a, pic, shadow=sh))
    s.set_background("transparent")
    assert np.array_equal(s.result_pixels(), composite.cutout(s.rgb, a, shadow=sh))


def test_blur_background_never_shows_black_where_the_subject_was_erased():
    h, w = 96, 128
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[...] = (90, 140, 200)
    alpha = np.zeros((h, w), np.uint8)
    alpha[8:88, 8:120] = 255  # a big AI subject
    s = EditSession(Decoded(rgb, None, None, "PNG"), alpha)
    s.set_background("blur", blur=6)
    stroke(s, [(48, 40), (48, 90)], mode="erase", radius=12, hardness=1.0)
    out = s.result_pixels()
    hole = np.asarray(s.alpha) == 0
    assert np.abs(out[hole].astype(int) - (90, 140, 200)).max() <= 2


# ------------------------------------------------------------------------------------------
# export


def test_export_png_round_trips():
    s = session(40, 60, seed=13)
    stroke(s, [(5, 5), (35, 55)], mode="erase", radius=3)
    data, name, mime = s.export()
    assert (name, mime) == ("cat-matte.png", "image/png")
    im = decode_png(data)
    assert im.mode == "RGBA" and im.size == (60, 40)
    assert im.info.get("icc_profile") == b"icc-test"
    px = np.asarray(im)
    assert np.array_equal(px[..., 3], s.alpha)
    keep = np.asarray(s.alpha) > 0
    assert np.array_equal(px[..., :3][keep], s.rgb[keep])


def test_export_with_decontamination_changes_only_soft_pixels():
    s = session(48, 64, seed=14)
    s.set_decontaminate(True, radius=8)
    px = np.asarray(decode_png(s.export()[0]))
    a = np.asarray(s.alpha)
    soft = (a > 0) & (a < 255)
    solid = a == 255
    assert np.array_equal(px[..., :3][solid], s.rgb[solid])
    assert not np.array_equal(px[..., :3][soft], s.rgb[soft])
    shown = a > 0
    assert np.array_equal(px[..., :3][shown], refine.decontaminate(s.rgb, a, radius=8)[shown])
    # the removed background does not survive in the file
    assert (px[~shown] == 0).all()


def test_export_jpeg_is_flattened_and_webp_works():
    s = session(40, 60, seed=15)
    data, name, mime = s.export(format="jpg", quality=95)
    assert (name, mime) == ("cat-matte.jpg", "image/jpeg")
    im = Image.open(io.BytesIO(data))
    assert im.mode == "RGB" and im.size == (60, 40)
    px = np.asarray(im).astype(int)
    gone = np.asarray(s.alpha) == 0
    assert np.abs(px[gone] - 255).mean() < 6  # on white
    data, name, mime = s.export(format="webp", quality=80)
    assert name.endswith(".webp") and mime == "image/webp" and data[8:12] == b"WEBP"


def test_export_mask_only():
    s = session()
    stroke(s, [(5, 5), (35, 55)], mode="erase", radius=3)
    data, name, mime = s.export(mask_only=True)
    assert (name, mime) == ("cat-mask.png", "image/png")
    im = decode_png(data)
    assert im.mode == "L" and np.array_equal(np.asarray(im), s.alpha)
    with pytest.raises(ValueError, match="format"):
        s.export(format="jpeg", mask_only=True)


def test_crop_export_is_smaller_and_contains_the_subject():
    s = session(80, 120, seed=16)
    s.set_crop(True, margin=2)
    rect = s.crop_rect()
    assert rect is not None
    assert rect.height < 80 and rect.width < 120
    a = np.asarray(s.alpha)
    outside = np.ones(a.shape, bool)
    outside[rect.slices] = False
    assert (a[outside] <= 8).all()
    box = composite.subject_bbox(a)
    assert box is not None
    assert Rect(box.r0 - 2, box.c0 - 2, box.r1 + 2, box.c1 + 2).clip(a.shape) == rect
    px = np.asarray(decode_png(s.export()[0]))
    assert px.shape == (rect.height, rect.width, 4)
    assert np.array_equal(px[..., 3], a[rect.slices])
    # the shadow widens the box; off again gives the whole image
    s.set_shadow(True, offset=(0, 30), blur=0, opacity=1.0)
    wider = s.crop_rect()
    assert wider is not None and wider.c1 > rect.c1
    s.set_crop(False)
    assert s.crop_rect() is None
    assert np.asarray(decode_png(s.export()[0])).shape == (80, 120, 4)


# ------------------------------------------------------------------------------------------
# errors and state


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"mode": "paint"}, "mode"),
        ({"radius": 0}, "radius"),
        ({"radius": float("nan")}, "radius"),
        ({"hardness": 1.5}, "hardness"),
        ({"strength": 0}, "strength"),
        ({"pressure": -0.1}, "pressure"),
        ({"edge_aware": "yes"}, "edge_aware"),
    ],
)
def test_stroke_begin_bad_parameters(kw, name):
    s = session()
    before = np.array(s.alpha)
    args = {"mode": "restore", "radius": 4.0, **kw}
    with pytest.raises(ValueError, match=name):
        s.stroke_begin(10, 10, **args)
    assert not s.stroke_active and np.array_equal(s.alpha, before)


def test_stroke_extend_validates_every_point_before_painting():
    s = session()
    s.stroke_begin(10, 10, mode="erase", radius=4)
    painted = np.array(s.alpha)
    with pytest.raises(ValueError, match=r"points\[1\]"):
        s.stroke_extend([(10, 30, 1.0), (10, "x", 1.0)])
    with pytest.raises(ValueError, match="pressure"):
        s.stroke_extend([(10, 30, 1.0), (10, 40, 2.0)])
    assert np.array_equal(s.alpha, painted)
    s.stroke_end()
    with pytest.raises(RuntimeError):
        s.stroke_extend([(1, 1, 1.0)])


def test_settings_validation():
    s = session()
    with pytest.raises(ValueError, match="kind"):
        s.set_background("gradient")
    with pytest.raises(ValueError, match="image"):
        s.set_background("image")
    with pytest.raises(ValueError, match="color"):
        s.set_background("color", color="not-a-colour")
    with pytest.raises(ValueError, match="blur"):
        s.set_background("blur", blur=-1)
    with pytest.raises(ValueError, match="image"):
        s.set_background("image", image=np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="angle"):
        s.set_shadow(True, angle=3)
    with pytest.raises(ValueError, match="opacity"):
        s.set_shadow(True, opacity=2)
    with pytest.raises(ValueError, match="margin"):
        s.set_crop(True, margin=-3)
    with pytest.raises(ValueError, match="radius"):
        s.set_decontaminate(True, radius=0)
    with pytest.raises(ValueError, match="view"):
        s.render(full(s), 1.0, view="mask")
    with pytest.raises(ValueError, match="scale"):
        s.render(full(s), 0)
    with pytest.raises(ValueError, match="format"):
        s.export(format="gif")
    with pytest.raises(ValueError, match="quality"):
        s.export(format="jpeg", quality=101)
    assert s.settings.background == "transparent" and not s.settings.shadow
    s.set_background("color", color="red", blur=4)
    assert s.settings.color == (255, 0, 0) and s.settings.blur == 4.0


def test_constructor_validation_and_read_only_views():
    rgb, alpha = make_photo(10, 12)
    with pytest.raises(ValueError, match="alpha"):
        EditSession(Decoded(rgb, None, None, "PNG"), alpha[:5])
    with pytest.raises(ValueError, match="alpha"):
        EditSession(Decoded(rgb, None, None, "PNG"), alpha.astype(np.float32))
    s = EditSession(Decoded(rgb, None, None, "PNG"), alpha)
    with pytest.raises(ValueError):
        s.alpha[0, 0] = 1
    with pytest.raises(ValueError):
        s.rgb[0, 0, 0] = 1
    stroke(s, [(2, 2), (8, 10)], mode="erase", radius=2)
    assert not np.array_equal(s.alpha, alpha)  # the caller's array was copied, not painted


# ------------------------------------------------------------------------------------------
# memory


def test_memory_of_a_12_megapixel_session_with_every_cache():
    h, w = 3000, 4000
    rng = np.random.default_rng(0)
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (h // 50, w // 50, 3), np.uint8), 50, 0),
                    50, 1)
    yy, xx = np.ogrid[:h, :w]
    d = np.sqrt(((yy - h / 2) / (0.37 * h)) ** 2 + ((xx - w / 2) / (0.37 * w)) ** 2)
    alpha = np.clip((1 - d) * 0.37 * h * 255 / 6 + 128, 0, 255).astype(np.uint8)
    del yy, xx, d
    gc.collect()
    tracemalloc.start()
    try:
        s = EditSession(Decoded(rgb, None, None, "JPEG"), alpha)
        s.set_background("blur", blur=20)
        s.set_shadow(True, offset=(20, 20), blur=12)
        s.set_decontaminate(True)
        s.render(Rect(0, 0, h, w), 0.05)
        for i in range(3):
            c = 1000.0 + 600 * i
            stroke(s, [(400.0, c), (700.0, c + 300)], mode="erase", radius=40)
        s.render(Rect(0, 0, h, w), 0.05)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    mem = s.memory()
    limit = 4 * h * w * 4  # 4x the RGBA size: 192 MB
    assert s.nbytes == sum(mem.values()) < limit
    for k in ("background_blur", "decontaminated", "shadow", "history"):
        assert mem[k] > 0, k
    # the accounting is honest: what was allocated while building the session (the photo was
    # allocated before) is within a few MB of what nbytes reports without the photo
    held = s.nbytes - rgb.nbytes
    assert abs(traced - held) < 4 * 2**20, (traced, held)


def test_load_mask_restores_edits_without_history():
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    ai = np.zeros((40, 50), np.uint8)
    ai[10:30, 10:40] = 255
    s = EditSession(Decoded(rgb=rgb, alpha=None, icc_profile=None, format="PNG"), ai)
    edited = ai.copy()
    edited[0:5, 0:5] = 200
    rect = s.load_mask(edited)
    assert rect == Rect(0, 0, 5, 5)
    np.testing.assert_array_equal(s.alpha, edited)
    assert not s.can_undo
    s.reset_mask()
    np.testing.assert_array_equal(s.alpha, ai)
    with pytest.raises(ValueError, match="alpha"):
        s.load_mask(np.zeros((3, 3), np.uint8))
