"""Tests for matte.brush: dab profile, strokes, dirty rectangles, per-stroke max-combine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matte.brush import (
    TILE,
    Stroke,
    brush_profile,
    default_spacing,
    paint_segment,
)
from matte.geometry import EMPTY, Rect

H, W = 20, 24  # small masks keep the per-pixel references fast

# --------------------------------------------------------------------------------------------
# Slow, obvious references
# --------------------------------------------------------------------------------------------


def ref_profile(d: float, radius: float, hardness: float) -> float:
    """Coverage at distance d, straight from the documented formula."""
    soft = (1.0 - hardness) * radius
    if soft >= 1.0:
        outer, width = radius, soft
    else:
        outer, width = radius + 0.5 * (1.0 - soft), 1.0
    t = min(1.0, max(0.0, (outer - d) / width))
    return t * t * (3.0 - 2.0 * t)


def ref_dabs(
    points: list[tuple[float, float]], pressures: list[float], spacing: float
) -> list[tuple[float, float, float]]:
    """(row, col, pressure) of dabs every `spacing` px of arc length along the polyline."""
    dabs = [(points[0][0], points[0][1], pressures[0])]
    to_next = spacing
    for (r0, c0), (r1, c1), p0, p1 in zip(
        points, points[1:], pressures, pressures[1:], strict=False
    ):
        length = math.hypot(r1 - r0, c1 - c0)
        if length == 0:
            continue
        a = to_next
        while a <= length + 1e-9 * spacing:  # a dab exactly at the end is placed
            f = a / length
            dabs.append((r0 + (r1 - r0) * f, c0 + (c1 - c0) * f, p0 + (p1 - p0) * f))
            a += spacing
        to_next = a - length
    return dabs


def ref_paint(
    base: np.ndarray,
    dabs: list[tuple[float, float, float]],
    *,
    radius: float,
    hardness: float,
    strength: float,
    mode: str,
) -> np.ndarray:
    """Per-pixel loops: max coverage over all dabs, applied once relative to `base`."""
    out = base.astype(np.int64)
    target = 255 if mode == "restore" else 0
    for r in range(base.shape[0]):
        for c in range(base.shape[1]):
            cov = 0.0
            for dr, dc, p in dabs:
                d = math.hypot(r + 0.5 - dr, c + 0.5 - dc)
                cov = max(cov, p * ref_profile(d, radius, hardness))
            b = int(base[r, c])
            out[r, c] = math.floor(b + (target - b) * strength * cov + 0.5)
    return out


def run_stroke(alpha, points, pressures=None, **params) -> tuple[Stroke, list[Rect]]:
    pressures = pressures or [1.0] * len(points)
    stroke = Stroke(alpha, **params)
    rects = [stroke.begin(*points[0], pressures[0])]
    for (r, c), p in zip(points[1:], pressures[1:], strict=True):
        rects.append(stroke.extend(r, c, p))
    rects.append(stroke.end())
    return stroke, rects


def assert_close(fast: np.ndarray, ref: np.ndarray) -> None:
    """float32 (fast) vs float64 (reference) may round a half differently: allow 1."""
    diff = np.abs(fast.astype(np.int64) - ref)
    assert diff.max(initial=0) <= 1, f"max diff {diff.max()} at {np.argwhere(diff > 1)[:5]}"


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

coord_r = st.floats(-6.0, H + 6.0, allow_nan=False)
coord_c = st.floats(-6.0, W + 6.0, allow_nan=False)
points_st = st.lists(st.tuples(coord_r, coord_c), min_size=1, max_size=5)
radius_st = st.floats(0.5, 8.0)
hardness_st = st.floats(0.0, 1.0)
strength_st = st.floats(0.05, 1.0)
mode_st = st.sampled_from(["restore", "erase"])
base_st = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).integers(0, 256, (H, W), dtype=np.uint8)
)

# --------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0.3, 1.0, 2.5, 10.0, 63.7])
@pytest.mark.parametrize("hardness", [0.0, 0.3, 0.9, 0.97, 1.0])
def test_profile_matches_reference(radius, hardness):
    d = np.linspace(0, radius + 2, 301)
    got = brush_profile(d, radius=radius, hardness=hardness)
    want = np.array([ref_profile(x, radius, hardness) for x in d])
    assert got.dtype == np.float32 and got.shape == d.shape
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_profile_hard_edge_is_antialiased_over_one_pixel():
    cov = brush_profile([0.0, 9.49, 10.0, 10.51, 20.0], radius=10, hardness=1.0)
    np.testing.assert_allclose(cov, [1.0, 1.0, 0.5, 0.0, 0.0], atol=1e-6)


def test_profile_soft_is_smooth_and_monotone():
    d = np.linspace(0, 12, 1201)
    cov = brush_profile(d, radius=10, hardness=0.2)
    assert cov[0] == 1.0 and (cov[d <= 2.0] == 1.0).all() and (cov[d >= 10] == 0).all()
    assert (np.diff(cov) <= 0).all()
    assert np.abs(np.diff(cov)).max() < 0.01  # no jump


def test_profile_keeps_shape_of_scalar_and_2d_input():
    assert brush_profile(0.0, radius=3).shape == ()
    assert brush_profile(np.zeros((2, 3)), radius=3).shape == (2, 3)


# --------------------------------------------------------------------------------------------
# Dabs and strokes against the references
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "center", [(10.0, 12.0), (10.3, 11.7), (0.2, 23.9), (-3.0, 5.0), (19.5, 25.5)]
)
@pytest.mark.parametrize("radius,hardness", [(4.0, 1.0), (6.0, 0.4), (0.7, 0.0), (2.2, 0.8)])
@pytest.mark.parametrize("mode", ["restore", "erase"])
def test_single_dab_matches_reference(center, radius, hardness, mode):
    base = np.random.default_rng(1).integers(0, 256, (H, W), dtype=np.uint8)
    alpha = base.copy()
    rect = paint_segment(
        alpha, center, center, radius=radius, hardness=hardness, strength=0.8, mode=mode
    )
    want = ref_paint(
        base, [(*center, 1.0)], radius=radius, hardness=hardness, strength=0.8, mode=mode
    )
    assert_close(alpha, want)
    changed = np.argwhere(want != base)
    if len(changed):
        assert rect.r0 <= changed[:, 0].min() and changed[:, 0].max() < rect.r1
        assert rect.c0 <= changed[:, 1].min() and changed[:, 1].max() < rect.c1


@settings(max_examples=100, deadline=None)
@given(
    base=base_st,
    points=points_st,
    pressures=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5),
    use_pressure=st.booleans(),
    radius=radius_st,
    hardness=hardness_st,
    strength=strength_st,
    mode=mode_st,
)
def test_stroke_matches_reference(
    base, points, pressures, use_pressure, radius, hardness, strength, mode
):
    pressures = pressures[: len(points)] if use_pressure else [1.0] * len(points)
    alpha = base.copy()
    run_stroke(
        alpha, points, pressures, radius=radius, hardness=hardness, strength=strength, mode=mode
    )
    dabs = ref_dabs(points, pressures, default_spacing(radius))
    want = ref_paint(base, dabs, radius=radius, hardness=hardness, strength=strength, mode=mode)
    assert_close(alpha, want)


def test_long_stroke_matches_reference_across_many_chunks():
    # 3 segments long enough to be rasterized in several chunks each, one diagonal.
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (40, 90), dtype=np.uint8)
    points = [(5.0, -10.0), (30.0, 100.0), (33.0, 2.0), (8.2, 40.0)]
    for radius, hardness, pressures in [
        (2.0, 1.0, [1.0] * 4),
        (5.0, 0.5, [1.0] * 4),
        (3.0, 0.7, [0.1, 1.0, 0.0, 0.6]),
    ]:
        alpha = base.copy()
        run_stroke(
            alpha,
            points,
            pressures,
            radius=radius,
            hardness=hardness,
            strength=0.7,
            mode="erase",
        )
        dabs = ref_dabs(points, pressures, default_spacing(radius))
        want = ref_paint(base, dabs, radius=radius, hardness=hardness, strength=0.7, mode="erase")
        assert_close(alpha, want)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    base=base_st,
    points=st.lists(
        st.tuples(st.floats(-40, H + 40, allow_nan=False), st.floats(-40, W + 40, allow_nan=False)),
        min_size=1,
        max_size=6,
    ),
    radius=st.floats(0.3, 12.0),
    hardness=hardness_st,
    strength=strength_st,
    mode=mode_st,
)
def test_never_touches_pixels_outside_dirty_rect(base, points, radius, hardness, strength, mode):
    alpha = base.copy()
    stroke = Stroke(alpha, radius=radius, hardness=hardness, strength=strength, mode=mode)
    prev = alpha.copy()
    for i, (r, c) in enumerate(points):
        rect = stroke.begin(r, c) if i == 0 else stroke.extend(r, c)
        assert rect == rect.clip(alpha.shape)
        outside = np.ones(alpha.shape, bool)
        outside[rect.slices] = False
        assert (alpha[outside] == prev[outside]).all()
        assert rect == EMPTY or not rect.empty
        prev = alpha.copy()
    total = stroke.end()
    outside = np.ones(alpha.shape, bool)
    outside[total.slices] = False
    assert (alpha[outside] == base[outside]).all()


@settings(max_examples=100, deadline=None)
@given(
    value=st.integers(0, 255),
    points=st.lists(st.tuples(st.floats(2, H - 2), st.floats(2, W - 2)), min_size=2, max_size=12),
    repeats=st.integers(1, 4),
    radius=st.floats(1.0, 8.0),
    hardness=hardness_st,
    strength=strength_st,
    mode=mode_st,
)
def test_strength_never_exceeded_within_one_stroke(
    value, points, repeats, radius, hardness, strength, mode
):
    # Scrub back and forth over the same path: dabs overlap heavily.
    alpha = np.full((H, W), value, np.uint8)
    path = (points + points[::-1]) * repeats
    run_stroke(alpha, path, radius=radius, hardness=hardness, strength=strength, mode=mode)
    target = 255 if mode == "restore" else 0
    limit = math.floor(value + (target - value) * strength + 0.5)
    lo, hi = sorted((value, limit))
    assert lo - 1 <= alpha.min() and alpha.max() <= hi + 1  # +-1: float32 rounding
    if radius >= 2 and hardness == 1.0:
        # The dab centers are fully covered, so the limit is reached there.
        r, c = points[0]
        assert abs(int(alpha[int(r), int(c)]) - limit) <= 1


def test_slow_stroke_at_50_percent_stays_at_50_percent():
    alpha = np.zeros((40, 40), np.uint8)
    stroke = Stroke(alpha, radius=6, strength=0.5, mode="restore")
    stroke.begin(20, 10)
    for i in range(1, 400):  # 0.05 px per event
        stroke.extend(20, 10 + 0.05 * i)
    stroke.end()
    assert alpha.max() == 128  # round(255 * 0.5)
    assert alpha[20, 10:30].min() == 128


def test_second_stroke_does_accumulate():
    alpha = np.zeros((30, 30), np.uint8)
    for _ in range(2):
        paint_segment(alpha, (15, 15), (15, 15), radius=5, strength=0.5, mode="restore")
    assert alpha[15, 15] == math.floor(128 + 127 * 0.5 + 0.5)


@settings(max_examples=60, deadline=None)
@given(
    p0=st.tuples(st.floats(0, 60), st.floats(0, 60)),
    p1=st.tuples(st.floats(0, 60), st.floats(0, 60)),
    radius=st.floats(3.0, 9.0),
)
def test_fast_stroke_leaves_no_gaps(p0, p1, radius):
    # One pointer event far from the last: the whole segment must be painted.
    alpha = np.zeros((64, 64), np.uint8)
    stroke, _ = run_stroke(alpha, [p0, p1], radius=radius, hardness=1.0, mode="restore")
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    s = stroke.spacing
    # Dabs reach to within one spacing of p1.
    f = max(0.0, length - s) / length if length else 0.0
    q = (p0[0] + (p1[0] - p0[0]) * f, p0[1] + (p1[1] - p0[1]) * f)
    rr, cc = np.mgrid[0:64, 0:64] + 0.5
    dist = seg_distance(rr, cc, p0, q)
    inside = dist <= 0.8 * radius
    assert inside.any()
    assert (alpha[inside] == 255).all()


def seg_distance(rr, cc, a, b):
    """Distance from points (rr, cc) to segment a-b."""
    ar, ac = a
    dr, dc = b[0] - ar, b[1] - ac
    n = dr * dr + dc * dc
    t = np.zeros_like(rr) if n == 0 else np.clip(((rr - ar) * dr + (cc - ac) * dc) / n, 0, 1)
    return np.hypot(rr - ar - t * dr, cc - ac - t * dc)


def test_fast_multi_segment_stroke_leaves_no_gaps():
    alpha = np.zeros((200, 200), np.uint8)
    points = [(10.0, 10.0), (180.0, 30.0), (20.0, 190.0), (150.0, 150.0)]
    stroke, _ = run_stroke(alpha, points, radius=5.0, mode="restore")
    rr, cc = np.mgrid[0:200, 0:200] + 0.5
    dist = np.minimum.reduce(
        [seg_distance(rr, cc, a, b) for a, b in zip(points, points[1:], strict=False)]
    )
    end_zone = np.hypot(rr - 150, cc - 150) <= stroke.spacing + 5
    must = (dist <= 4.0) & ~end_zone
    assert must.sum() > 3000
    assert (alpha[must] == 255).all()


@settings(max_examples=80, deadline=None)
@given(
    p0=st.tuples(st.floats(-5, H + 5), st.floats(-5, W + 5)),
    p1=st.tuples(st.floats(-5, H + 5), st.floats(-5, W + 5)),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=8),
    radius=radius_st,
    hardness=hardness_st,
)
def test_spacing_is_even_across_calls(p0, p1, cuts, radius, hardness):
    # Splitting a straight segment into many pointer events paints the same dabs.
    base = np.random.default_rng(3).integers(0, 256, (H, W), dtype=np.uint8)
    one, many = base.copy(), base.copy()
    kw = dict(radius=radius, hardness=hardness, strength=0.6, mode="erase")
    run_stroke(one, [p0, p1], **kw)
    mids = [(p0[0] + (p1[0] - p0[0]) * f, p0[1] + (p1[1] - p0[1]) * f) for f in sorted(cuts)]
    run_stroke(many, [p0, *mids, p1], **kw)
    assert np.abs(one.astype(int) - many).max() <= 1


# --------------------------------------------------------------------------------------------
# Stroke bookkeeping: starting pixels, rects, scale
# --------------------------------------------------------------------------------------------


def test_patches_and_before_patch_hold_the_starting_pixels():
    base = np.random.default_rng(5).integers(0, 256, (150, 170), dtype=np.uint8)
    alpha = base.copy()
    stroke, rects = run_stroke(
        alpha, [(10, 10), (140, 160), (20, 150)], radius=7, hardness=0.5, mode="erase"
    )
    total = rects[-1]
    assert total == rects[0].union(rects[1]).union(rects[2])
    np.testing.assert_array_equal(stroke.before_patch(), base[total.slices])
    covered = np.zeros(alpha.shape, bool)
    for rect, before in stroke.patches():
        assert rect.height <= TILE and rect.width <= TILE
        np.testing.assert_array_equal(before, base[rect.slices])
        covered[rect.slices] = True
    assert (alpha[~covered] == base[~covered]).all()
    assert not covered.all()  # sparse: the tiles away from the path were not copied
    assert stroke.nbytes == sum(b.nbytes for _, b in stroke.patches())


def test_memory_is_proportional_to_painted_area_on_12mp():
    alpha = np.full((3000, 4000), 255, np.uint8)
    stroke = Stroke(alpha, radius=10, mode="erase")
    stroke.begin(5, 5)
    rect = stroke.extend(2995, 3995)  # corner to corner: bounding box = whole image
    stroke.end()
    assert rect.area > 0.9 * alpha.size
    painted = int((alpha != 255).sum())
    assert 80_000 < painted < 120_000  # ~ 5000 px long x 20 px wide
    assert stroke.nbytes < 10 * painted < 0.1 * alpha.nbytes


def test_far_away_pointer_is_clipped_not_rasterized():
    alpha = np.zeros((50, 50), np.uint8)
    stroke = Stroke(alpha, radius=3, mode="restore")
    stroke.begin(25, 25)
    rect = stroke.extend(25, 1e9)  # ~4e8 dabs if not clipped to the image
    assert rect.c1 == 50 and alpha[25, 49] == 255
    assert stroke.extend(-1e9, -1e9) == EMPTY  # the segment misses the image entirely
    stroke.end()


def test_fully_outside_returns_empty_and_changes_nothing():
    alpha = np.random.default_rng(0).integers(0, 256, (H, W), dtype=np.uint8)
    before = alpha.copy()
    assert paint_segment(alpha, (-20, -20), (-20, 60), radius=5) == EMPTY
    assert paint_segment(alpha, (H + 5.6, 3), (H + 5.6, 3), radius=5) == EMPTY
    np.testing.assert_array_equal(alpha, before)


def test_zero_pressure_paints_nothing_and_move_below_spacing_returns_empty():
    alpha = np.zeros((H, W), np.uint8)
    stroke = Stroke(alpha, radius=4, mode="restore")
    assert stroke.begin(10, 10, pressure=0.0) == EMPTY
    assert stroke.extend(10, 10.5, pressure=0.0) == EMPTY  # < spacing: no dab
    assert stroke.leftover == pytest.approx(0.5)
    stroke.end()
    assert not alpha.any()


def test_begin_after_end_starts_a_new_stroke():
    alpha = np.zeros((H, W), np.uint8)
    stroke = Stroke(alpha, radius=3, mode="restore", strength=0.5)
    stroke.begin(10, 10)
    stroke.end()
    first = alpha.copy()
    stroke.begin(10, 10)
    rect = stroke.end()
    assert alpha[10, 10] > first[10, 10]  # new stroke: new base
    np.testing.assert_array_equal(stroke.before_patch(), first[rect.slices])


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(radius=-1), "radius must be > 0, got -1"),
        (dict(radius=0), "radius"),
        (dict(radius=float("nan")), "radius"),
        (dict(radius=5, hardness=1.5), "hardness"),
        (dict(radius=5, hardness=-0.1), "hardness"),
        (dict(radius=5, strength=0), "strength"),
        (dict(radius=5, strength=1.01), "strength"),
        (dict(radius=5, mode="paint"), "mode"),
        (dict(radius=5, spacing=0), "spacing"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    alpha = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match=name.replace("(", r"\(")):
        Stroke(alpha, **kwargs)
    with pytest.raises(ValueError, match=name.split()[0]):
        paint_segment(alpha, (1, 1), (2, 2), **kwargs)


def test_bad_points_and_pressure():
    stroke = Stroke(np.zeros((4, 4), np.uint8), radius=2)
    with pytest.raises(ValueError, match="pressure"):
        stroke.begin(1, 1, pressure=2.0)
    with pytest.raises(ValueError, match="begin row"):
        stroke.begin(float("nan"), 1)
    stroke.begin(1, 1)
    with pytest.raises(ValueError, match="extend col"):
        stroke.extend(1, float("inf"))
    stroke.extend(1e308, 1)
    with pytest.raises(ValueError, match="too far"):
        stroke.extend(-1e308, 1)


def test_bad_alpha():
    with pytest.raises(TypeError, match="uint8"):
        Stroke(np.zeros((4, 4), np.float32), radius=2)
    with pytest.raises(ValueError, match="2-D"):
        Stroke(np.zeros((4, 4, 1), np.uint8), radius=2)
    ro = np.zeros((4, 4), np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        Stroke(ro, radius=2)


def test_call_order_is_enforced():
    stroke = Stroke(np.zeros((4, 4), np.uint8), radius=2)
    with pytest.raises(RuntimeError, match="before begin"):
        stroke.extend(1, 1)
    with pytest.raises(RuntimeError, match="before begin"):
        stroke.end()
    stroke.begin(1, 1)
    with pytest.raises(RuntimeError, match="active"):
        stroke.begin(1, 1)
