"""Tests of matte.refine against slow, obvious reference implementations.

Every reference below is written for clarity, not speed (per-pixel loops, flood fill, direct
window means), and runs on small arrays. The fast code is compared exactly where its algorithm
is exact and within one grey level where float rounding can differ. Crop-based code paths are
also run with tiny tiles, so that tile/crop boundaries fall inside these small arrays.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from matte import refine as R

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def tiny_tiles():
    """Make the crop machinery use 8..16 px tiles, so small test arrays span many crops."""
    saved = R._TILE_MIN, R._TILE_MAX
    R._TILE_MIN, R._TILE_MAX = 8, 16
    try:
        yield
    finally:
        R._TILE_MIN, R._TILE_MAX = saved


def random_mask(seed: int, h: int, w: int) -> np.ndarray:
    """A mask of one of several kinds: binary noise, soft noise, or blobs with soft edges."""
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:
        return np.where(rng.random((h, w)) < rng.random(), 255, 0).astype(np.uint8)
    if kind == 1:
        a = rng.integers(0, 256, (h, w)).astype(np.uint8)
        a[rng.random((h, w)) < 0.4] = 0
        a[rng.random((h, w)) < 0.3] = 255
        return a
    yy, xx = np.mgrid[:h, :w]
    a = np.zeros((h, w))
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        rad = rng.uniform(0.5, max(1.0, max(h, w) / 2))
        soft = rng.uniform(0.3, 4)
        a = np.maximum(a, np.clip((rad - np.hypot(yy - cy, xx - cx)) / soft + 0.5, 0, 1))
    a = np.rint(a * 255).astype(np.uint8)
    if kind == 3:
        a[rng.random((h, w)) < 0.03] = 255
        a[rng.random((h, w)) < 0.03] = 0
    return a


def random_image(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed + 1).integers(0, 256, (h, w, 3)).astype(np.uint8)


shapes = st.tuples(st.integers(1, 18), st.integers(1, 18))
seeds = st.integers(0, 2**31)


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------


def ref_morph(a: np.ndarray, r: float, dilate: bool) -> np.ndarray:
    """Max/min over {dy^2 + dx^2 <= r^2}, pixels outside the image ignored (per-pixel loops)."""
    h, w = a.shape
    out = np.empty_like(a)
    n = int(math.floor(math.sqrt(r * r + 1e-9)))  # the same tolerance as the test below
    for y in range(h):
        for x in range(w):
            vals = [
                int(a[y + dy, x + dx])
                for dy in range(-n, n + 1)
                for dx in range(-n, n + 1)
                if dy * dy + dx * dx <= r * r + 1e-9 and 0 <= y + dy < h and 0 <= x + dx < w
            ]
            out[y, x] = max(vals) if dilate else min(vals)
    return out


def ref_morph_shifts(a: np.ndarray, r: int, dilate: bool) -> np.ndarray:
    """Same as ref_morph, as a max over every disk offset of a padded copy (O(r^2) shifts)."""
    h, w = a.shape
    fill = 0 if dilate else 255
    p = np.full((h + 2 * r, w + 2 * r), fill, np.uint8)
    p[r : r + h, r : r + w] = a
    out = np.full_like(a, fill)
    op = np.maximum if dilate else np.minimum
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx <= r * r:
                out = op(out, p[r + dy : r + dy + h, r + dx : r + dx + w])
    return out


def ref_label(m: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """Breadth-first flood fill in raster order."""
    h, w = m.shape
    lab = np.zeros((h, w), np.int64)
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    if connectivity == 8:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    n = 0
    for y in range(h):
        for x in range(w):
            if m[y, x] and not lab[y, x]:
                n += 1
                lab[y, x] = n
                queue = deque([(y, x)])
                while queue:
                    cy, cx = queue.popleft()
                    for dy, dx in steps:
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and m[ny, nx] and not lab[ny, nx]:
                            lab[ny, nx] = n
                            queue.append((ny, nx))
    return lab, n


def ref_window(h: int, w: int, y: int, x: int, r: int) -> tuple[slice, slice]:
    return slice(max(0, y - r), min(h, y + r + 1)), slice(max(0, x - r), min(w, x + r + 1))


def ref_guided(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple:
    """He et al.'s guided filter by direct window means; returns the window-averaged (A, B)."""
    h, w, c = guide.shape
    a = np.zeros((h, w, c))
    b = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            win = ref_window(h, w, y, x, r)
            g = guide[win].reshape(-1, c)
            q = p[win].ravel()
            mu = g.mean(axis=0)
            cov = (g * q[:, None]).mean(axis=0) - mu * q.mean()
            sigma = (g[:, :, None] * g[:, None, :]).mean(axis=0) - np.outer(mu, mu)
            a[y, x] = np.linalg.solve(sigma + eps * np.eye(c), cov)
            b[y, x] = q.mean() - a[y, x] @ mu
    ma, mb = np.zeros_like(a), np.zeros_like(b)
    for y in range(h):
        for x in range(w):
            win = ref_window(h, w, y, x, r)
            ma[y, x] = a[win].reshape(-1, c).mean(axis=0)
            mb[y, x] = b[win].mean()
    return ma, mb


def ref_refine(image, alpha, r, eps, gray, s=1):
    """Reference fast guided filter: block means, direct GF at 1/s, bilinear upsampling."""
    h, w = alpha.shape
    luma = np.array([0.299, 0.587, 0.114])
    if s == 1:
        g_low, p_low = image / 255.0, alpha / 255.0
    else:
        g_low = np.asarray(Image.fromarray(image).reduce(s)) / 255.0
        p_low = np.asarray(Image.fromarray(alpha).reduce(s)) / 255.0
    if gray:
        g_low = (g_low @ luma)[:, :, None]
    ma, mb = ref_guided(g_low, p_low, max(1, round(r / s)) if s > 1 else r, eps)
    guide = image / 255.0
    if gray:
        guide = (guide @ luma)[:, :, None]
    q = np.zeros((h, w))
    hl, wl = mb.shape
    for y in range(h):
        for x in range(w):
            # bilinear weights of the coarse pixel centres around (y, x)
            u = min(max((y + 0.5) / s - 0.5, 0), hl - 1)
            v = min(max((x + 0.5) / s - 0.5, 0), wl - 1)
            total = 0.0
            for i, wi in (
                (math.floor(u), 1 - (u - math.floor(u))),
                (min(math.floor(u) + 1, hl - 1), u - math.floor(u)),
            ):
                for j, wj in (
                    (math.floor(v), 1 - (v - math.floor(v))),
                    (min(math.floor(v) + 1, wl - 1), v - math.floor(v)),
                ):
                    total += wi * wj * (ma[i, j] @ guide[y, x] + mb[i, j])
            q[y, x] = total
    return q


def ref_decontaminate(image, alpha, radius, fine_radius):
    """Two-pass blur fusion by direct window means (full resolution)."""
    h, w = alpha.shape
    img = image / 255.0
    a = alpha / 255.0
    tiny = 1e-4

    def means(fg, bg, r, fallback_f, fallback_b):
        fm, bm = np.zeros((h, w, 3)), np.zeros((h, w, 3))
        for y in range(h):
            for x in range(w):
                win = ref_window(h, w, y, x, r)
                aw = a[win][:, :, None]
                ma = aw.mean()
                fm[y, x] = ((aw * fg[win]).mean(axis=(0, 1)) + tiny * fallback_f[y, x]) / (
                    ma + tiny
                )
                bm[y, x] = (((1 - aw) * bg[win]).mean(axis=(0, 1)) + tiny * fallback_b[y, x]) / (
                    1 - ma + tiny
                )
        return fm, bm

    def fuse(fm, bm):
        a3 = a[:, :, None]
        resid = img - a3 * fm - (1 - a3) * bm
        return np.clip(fm + a3 * resid, 0, 1), np.clip(bm + (1 - a3) * resid, 0, 1)

    # pass 1 falls back to the window's mean colour, pass 2 to pass 1's means
    mean_img = np.array(
        [
            [img[ref_window(h, w, y, x, radius)].mean(axis=(0, 1)) for x in range(w)]
            for y in range(h)
        ]
    )
    fm1, bm1 = means(img, img, radius, mean_img, mean_img)
    f1, b1 = fuse(fm1, bm1)
    f2, _ = fuse(*means(f1, b1, fine_radius, fm1, bm1))
    out = image.copy()
    soft = (alpha > 0) & (alpha < 255)
    out[soft] = np.rint(f2[soft] * 255)
    return out


def ref_gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable sampled Gaussian, edge pixels repeated."""
    r = int(math.ceil(4 * sigma))
    k = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma * sigma))
    k /= k.sum()
    f = a.astype(np.float64)
    p = np.pad(f, ((r, r), (0, 0)), mode="edge")
    f = sum(k[i] * p[i : i + f.shape[0]] for i in range(2 * r + 1))
    p = np.pad(f, ((0, 0), (r, r)), mode="edge")
    return sum(k[i] * p[:, i : i + f.shape[1]] for i in range(2 * r + 1))


def soft_composite(h: int = 160, w: int = 200, seed: int = 0):
    """Known soft alpha (a disk with antialiased hair strands) composited over a background.

    Returns ``(image, alpha, F, B)`` with ``F``/``B`` the true float layers.
    """
    rng = np.random.default_rng(seed)
    ss = 4
    canvas = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(canvas)
    cx, cy, rx, ry = w / 2 * ss, h * 0.6 * ss, w * 0.3 * ss, h * 0.3 * ss
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    for _ in range(60):
        t = rng.uniform(np.pi * 1.1, np.pi * 1.9)
        x0, y0 = cx + rx * np.cos(t) * 0.95, cy + ry * np.sin(t) * 0.95
        length = rng.uniform(0.1, 0.3) * h * ss
        bend = rng.normal(0, 0.3)
        pts = [
            (x0 + np.cos(t + bend * u) * length * u, y0 + np.sin(t + bend * u) * length * u)
            for u in np.linspace(0, 1, 10)
        ]
        draw.line(pts, fill=255, width=int(rng.uniform(0.6, 1.6) * ss))
    alpha = np.asarray(canvas.reduce(ss))
    yy, xx = np.mgrid[:h, :w]
    fg = np.stack(
        [150 + 30 * np.sin(xx / 7) * np.cos(yy / 9), 90 + 20 * np.sin(yy / 5), 60 + 0 * xx], axis=2
    )
    bg = np.stack(
        [
            60 + 50 * np.sin(xx / 40),
            150 + 60 * np.cos(yy / 55 + xx / 80),
            120 + 50 * np.sin((xx + yy) / 60),
        ],
        axis=2,
    )
    a = alpha[:, :, None] / 255.0
    image = np.rint(np.clip(a * fg + (1 - a) * bg, 0, 255)).astype(np.uint8)
    return image, alpha, fg, bg


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

A = np.zeros((6, 7), np.uint8)
IMG = np.zeros((6, 7, 3), np.uint8)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: R.feather(A.astype(np.float32), radius=1), "alpha"),
        (lambda: R.feather(IMG, radius=1), "alpha"),
        (lambda: R.feather(A, radius=-1), "radius"),
        (lambda: R.feather(A, radius=float("nan")), "radius"),
        (lambda: R.feather(A, radius=1, out=np.zeros((6, 6), np.uint8)), "out"),
        (lambda: R.grow(A, radius=-2), "radius"),
        (lambda: R.shrink(A, radius=-2), "radius"),
        (lambda: R.grow_shrink(A, radius="3"), "radius"),
        (lambda: R.threshold(A, level=257), "level"),
        (lambda: R.threshold(A, level=1.5), "level"),
        (lambda: R.smooth(A, radius=2, contrast=-1), "contrast"),
        (lambda: R.remove_islands(A, min_area=-1), "min_area"),
        (lambda: R.remove_islands(A, min_area=3, connectivity=6), "connectivity"),
        (lambda: R.fill_holes(A, max_area=2.5), "max_area"),
        (lambda: R.label(IMG), "mask"),
        (lambda: R.refine_edges(IMG, A, radius=0), "radius"),
        (lambda: R.refine_edges(IMG, A, eps=0), "eps"),
        (lambda: R.refine_edges(IMG, A, band=-1), "band"),
        (lambda: R.refine_edges(IMG, A, guide="hsv"), "guide"),
        (lambda: R.refine_edges(IMG, A, scale=0), "scale"),
        (lambda: R.refine_edges(IMG[:5], A), "image"),
        (lambda: R.refine_edges(A, A), "image"),
        (lambda: R.decontaminate(IMG, A, radius=0), "radius"),
        (lambda: R.decontaminate(IMG, A, fine_radius=0), "fine_radius"),
        (lambda: R.decontaminate(IMG, A, out=np.zeros((6, 7), np.uint8)), "out"),
    ],
)
def test_bad_input_raises_value_error_naming_it(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_empty_and_degenerate_shapes():
    for shape in [(0, 5), (5, 0), (1, 1)]:
        a = np.zeros(shape, np.uint8)
        img = np.zeros(shape + (3,), np.uint8)
        assert R.feather(a, radius=2).shape == shape
        assert R.grow(a, radius=3).shape == shape
        assert R.remove_islands(a, min_area=5).shape == shape
        assert R.fill_holes(a, max_area=5).shape == shape
        assert R.refine_edges(img, a).shape == shape
        assert R.decontaminate(img, a).shape == img.shape


# --------------------------------------------------------------------------------------------
# feather / threshold / smooth
# --------------------------------------------------------------------------------------------


def test_feather_zero_is_a_copy():
    a = random_mask(3, 20, 30)
    out = R.feather(a, radius=0)
    assert out is not a and np.array_equal(out, a)


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0, 6.0])
def test_feather_is_close_to_a_true_gaussian(sigma):
    a = random_mask(2, 60, 70)  # blobs with soft edges
    a[4::9, 3::7] = 255
    # Pillow's border handling differs from repeating the edge pixel: compare the interior
    m = (slice(8, -8), slice(8, -8)) if sigma < 4 else (slice(20, -20), slice(20, -20))
    got = R.feather(a, radius=sigma).astype(np.float64)
    diff = np.abs(got - ref_gaussian(a, sigma))[m]
    assert diff.mean() < 1.5 and diff.max() < 16
    # ...and clearly further from a Gaussian of a different width
    assert np.abs(got - ref_gaussian(a, sigma * 1.4))[m].mean() > 2 * diff.mean()


@FAST
@given(value=st.integers(0, 255), shape=shapes, sigma=st.floats(0.1, 10))
def test_feather_keeps_constant_masks(value, shape, sigma):
    a = np.full(shape, value, np.uint8)
    assert np.array_equal(R.feather(a, radius=sigma), a)


@FAST
@given(seed=seeds, shape=shapes, level=st.integers(0, 256))
def test_threshold(seed, shape, level):
    a = random_mask(seed, *shape)
    expected = np.array(
        [[255 if v >= level else 0 for v in row] for row in a.tolist()], np.uint8
    ).reshape(shape)
    assert np.array_equal(R.threshold(a, level=level), expected)


@pytest.mark.parametrize("contrast", [0.0, 3.0, 10.0, 40.0])
def test_smooth_is_blur_then_logistic(contrast):
    a = random_mask(2, 40, 50)
    blurred = R.feather(a, radius=2).astype(np.float64) / 255
    if contrast == 0:
        curve = blurred
    else:

        def sig(x):
            return 1 / (1 + np.exp(-contrast * (x - 0.5)))

        curve = (sig(blurred) - sig(0)) / (sig(1) - sig(0))
    expected = np.rint(curve * 255)
    assert np.array_equal(R.smooth(a, radius=2, contrast=contrast), expected)


def test_smooth_curve_shape():
    ramp = np.arange(256, dtype=np.uint8)[None, :]
    out = R.smooth(ramp, radius=0, contrast=12).ravel().astype(int)
    assert out[0] == 0 and out[255] == 255 and abs(out[128] - 128) <= 2
    assert np.all(np.diff(out) >= 0)
    assert out[64] < 64 and out[192] > 192  # steeper than the identity around the middle


# --------------------------------------------------------------------------------------------
# grow / shrink
# --------------------------------------------------------------------------------------------


@FAST
@given(seed=seeds, shape=shapes, radius=st.floats(0, 8), grow=st.booleans())
def test_grow_shrink_matches_loop_reference(seed, shape, radius, grow):
    a = random_mask(seed, *shape)
    got = R.grow_shrink(a, radius=radius if grow else -radius)
    expected = ref_morph(a, radius, grow) if radius >= 1 else a
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("seed", range(8))
def test_grow_shrink_sweep_matches_loop_reference(seed):
    # hypothesis favours tiny cases; make sure mid-sized masks and radii are covered too
    rng = np.random.default_rng(seed)
    h, w = rng.integers(12, 26, 2)
    radius = float(rng.uniform(1, 9)) if seed % 2 else int(rng.integers(1, 10))
    a = random_mask(seed, h, w)
    assert np.array_equal(R.grow(a, radius=radius), ref_morph(a, radius, True))
    assert np.array_equal(R.shrink(a, radius=radius), ref_morph(a, radius, False))


@SLOW
@given(
    seed=seeds,
    h=st.integers(20, 90),
    w=st.integers(20, 90),
    radius=st.integers(1, 20),
    grow=st.booleans(),
)
def test_grow_shrink_across_many_crops_matches_shift_reference(seed, h, w, radius, grow):
    a = random_mask(seed, h, w)
    with tiny_tiles():
        got = R.grow_shrink(a, radius=radius if grow else -radius)
    assert np.array_equal(got, ref_morph_shifts(a, radius, grow))


@FAST
@given(seed=seeds, shape=shapes, radius=st.floats(0, 5))
def test_morphology_order_properties(seed, shape, radius):
    a = random_mask(seed, *shape)
    grown, shrunk = R.grow(a, radius=radius), R.shrink(a, radius=radius)
    assert np.all(grown >= a) and np.all(shrunk <= a)
    assert np.array_equal(shrunk, 255 - R.grow(255 - a, radius=radius))  # duality
    assert np.all(R.shrink(grown, radius=radius) >= a)  # closing is extensive
    assert np.all(R.grow(shrunk, radius=radius) <= a)  # opening is anti-extensive
    assert np.all(R.grow(a, radius=radius + 1) >= grown)


def test_large_radius_is_an_exact_disk():
    for r in (40, 57.5, 100):
        a = np.zeros((260, 270), np.uint8)
        a[130, 135] = 255
        grown = R.grow(a, radius=r)
        yy, xx = np.mgrid[:260, :270]
        assert np.array_equal(grown == 255, (yy - 130) ** 2 + (xx - 135) ** 2 <= r * r)
        assert set(np.unique(grown)) == {0, 255}
        shrunk = R.shrink(255 - a, radius=r)
        assert np.array_equal(shrunk, 255 - grown)


def test_grow_keeps_soft_profile_and_border():
    a = np.zeros((20, 40), np.uint8)
    a[:, :10] = 255
    a[:, 10] = 180
    a[:, 11] = 60
    out = R.grow(a, radius=5)
    assert np.all(out[:, :15] == 255) and np.all(out[:, 15] == 180) and np.all(out[:, 16] == 60)
    assert np.all(out[:, 17:] == 0)
    # the image border is not treated as background: shrinking keeps the left edge solid
    assert np.all(R.shrink(a, radius=5)[:, :5] == 255)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, **kw: R.feather(a, radius=2, **kw),
        lambda a, **kw: R.threshold(a, level=100, **kw),
        lambda a, **kw: R.smooth(a, radius=1.5, **kw),
        lambda a, **kw: R.smooth(a, radius=0, **kw),
        lambda a, **kw: R.grow(a, radius=4, **kw),
        lambda a, **kw: R.shrink(a, radius=3, **kw),
        lambda a, **kw: R.remove_islands(a, min_area=20, **kw),
        lambda a, **kw: R.fill_holes(a, max_area=20, **kw),
        lambda a, **kw: R.refine_edges(random_image(1, *a.shape), a, radius=4, **kw),
    ],
)
def test_out_may_be_the_input(fn):
    a = random_mask(7, 50, 60)
    expected = fn(a)
    with tiny_tiles():
        b = a.copy()
        assert fn(b, out=b) is b
    assert np.array_equal(b, expected)
    assert not np.array_equal(expected, a)  # each of these does change this mask


def test_huge_parameters_on_tiny_images():
    a = random_mask(1, 5, 7)
    img = random_image(1, 5, 7)
    assert np.all(R.grow(a, radius=1e6) == a.max())
    assert np.all(R.shrink(a, radius=1e6) == a.min())
    assert R.feather(a, radius=1e4).shape == a.shape
    assert R.refine_edges(img, a, radius=1000).shape == a.shape
    assert R.refine_edges(img, a, radius=1000, scale=1).shape == a.shape
    out = R.decontaminate(img, a, radius=10**5, fine_radius=10**4)
    solid = (a == 0) | (a == 255)
    assert np.array_equal(out[solid], img[solid])


# --------------------------------------------------------------------------------------------
# labelling, islands, holes
# --------------------------------------------------------------------------------------------


@FAST
@given(
    seed=seeds,
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    density=st.floats(0, 1),
    connectivity=st.sampled_from([4, 8]),
)
def test_label_matches_flood_fill(seed, h, w, density, connectivity):
    m = np.random.default_rng(seed).random((h, w)) < density
    labels, n = R.label(m, connectivity=connectivity)
    ref, ref_n = ref_label(m, connectivity)
    assert n == ref_n
    assert labels.dtype == np.int32 and np.array_equal(labels, ref)


@pytest.mark.parametrize("density", [0.3, 0.45, 0.6, 0.75])
def test_label_sweep_near_percolation(density):
    # densities around the percolation thresholds give large, tangled components
    m = np.random.default_rng(int(density * 100)).random((60, 70)) < density
    for conn in (4, 8):
        labels, n = R.label(m, connectivity=conn)
        ref, ref_n = ref_label(m, conn)
        assert n == ref_n and np.array_equal(labels, ref)
    a = np.where(m, 200, 40).astype(np.uint8)
    for area in (1, 5, 30):
        ref, n = ref_label(m, 8)
        sizes = np.bincount(ref.ravel(), minlength=n + 1)
        expected = np.where((ref > 0) & (sizes[ref] < area), 0, a)
        assert np.array_equal(R.remove_islands(a, min_area=area), expected)


def test_label_serpentine_is_one_component():
    # one long zig-zag path: the worst case for label propagation without pointer jumping
    m = np.zeros((199, 60), bool)
    m[::2] = True
    m[1::4, -1] = True
    m[3::4, 0] = True
    for conn in (4, 8):
        labels, n = R.label(m, connectivity=conn)
        assert n == 1 and np.array_equal(labels, m.astype(np.int32))
    m[101, -1] = False  # cut it in two
    m[100, 0] = False  # and cut off a corner, for 4-connectivity only
    for conn, parts in ((4, 3), (8, 2)):
        labels, n = R.label(m, connectivity=conn)
        ref, ref_n = ref_label(m, conn)
        assert n == ref_n == parts and np.array_equal(labels, ref)


@FAST
@given(
    seed=seeds,
    h=st.integers(1, 25),
    w=st.integers(1, 25),
    min_area=st.integers(0, 12),
    connectivity=st.sampled_from([4, 8]),
)
def test_remove_islands_matches_reference(seed, h, w, min_area, connectivity):
    a = random_mask(seed, h, w)
    labels, n = ref_label(a >= 128, connectivity)
    expected = a.copy()
    for k in range(1, n + 1):
        if (labels == k).sum() < min_area:
            expected[labels == k] = 0
    assert np.array_equal(
        R.remove_islands(a, min_area=min_area, connectivity=connectivity), expected
    )


@FAST
@given(
    seed=seeds,
    h=st.integers(1, 25),
    w=st.integers(1, 25),
    max_area=st.one_of(st.none(), st.integers(0, 12)),
    connectivity=st.sampled_from([4, 8]),
)
def test_fill_holes_matches_reference(seed, h, w, max_area, connectivity):
    a = random_mask(seed, h, w)
    labels, n = ref_label(a < 128, connectivity)
    expected = a.copy()
    for k in range(1, n + 1):
        ys, xs = np.nonzero(labels == k)
        border = ys.min() == 0 or xs.min() == 0 or ys.max() == h - 1 or xs.max() == w - 1
        if not border and (max_area is None or len(ys) < max_area):
            expected[labels == k] = 255
    out = a.copy()
    got = R.fill_holes(out, max_area=max_area, connectivity=connectivity, out=out)
    assert got is out and np.array_equal(got, expected)


def test_islands_and_holes_on_a_picture():
    a = np.zeros((40, 40), np.uint8)
    a[5:35, 5:35] = 255
    a[10:13, 10:13] = 0  # 9 px hole
    a[20:30, 20:30] = 0  # 100 px hole
    a[37, 37] = 200  # 1 px island
    a[38, 2:4] = 90  # soft speck below threshold: not an island, must stay
    a[16, 16] = 30  # 1 px soft hole (below 128)
    out = R.fill_holes(R.remove_islands(a, min_area=2), max_area=50)
    assert out[37, 37] == 0 and np.all(out[38, 2:4] == 90)
    assert np.all(out[10:13, 10:13] == 255) and out[16, 16] == 255
    assert np.all(out[20:30, 20:30] == 0)
    # a hole joined to the outside by a single diagonal step is still a hole with 4-connected
    # background (the 8-connected outline is closed), but not with 8-connected background
    b = np.full((7, 7), 255, np.uint8)
    b[1:4, 1:4] = 0
    b[0, 0] = 0
    assert np.all(R.fill_holes(b, max_area=None, connectivity=4)[1:4, 1:4] == 255)
    assert np.all(R.fill_holes(b, max_area=None, connectivity=8)[1:4, 1:4] == 0)


# --------------------------------------------------------------------------------------------
# refine_edges
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guided_filter_matches_direct_reference(seed, gray):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(6, 18, 2)
    r, eps = int(rng.integers(1, 4)), float(10 ** rng.uniform(-4, -1))
    image, alpha = random_image(seed, h, w), random_mask(seed, h, w)
    expected = np.clip(np.rint(ref_refine(image, alpha, r, eps, gray) * 255), 0, 255)
    band = R.edge_band(alpha, band=1000)
    expected = np.where(band, expected, alpha)
    got = R.refine_edges(
        image, alpha, radius=r, eps=eps, band=1000, scale=1, guide="gray" if gray else "color"
    )
    assert np.abs(got.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("scale", [2, 3])
def test_fast_guided_filter_matches_reference(scale):
    image, alpha, _, _ = soft_composite(31, 37, seed=scale)
    rough = R.feather(R.threshold(alpha), radius=1.5)
    r, eps = 6, 1e-3
    expected = np.clip(np.rint(ref_refine(image, rough, r, eps, False, scale) * 255), 0, 255)
    got = R.refine_edges(image, rough, radius=r, eps=eps, band=1000, scale=scale)
    band = R.edge_band(rough, band=1000)
    assert np.abs(got.astype(int) - np.where(band, expected, rough))[band].max() <= 1


def test_refine_edges_does_not_depend_on_crops():
    image, alpha, _, _ = soft_composite(90, 110, seed=4)
    rough = R.feather(R.threshold(alpha), radius=1.5)
    for scale in (1, 2, 3):
        whole = R.refine_edges(image, rough, radius=5, scale=scale)
        with tiny_tiles():
            tiled = R.refine_edges(image, rough, radius=5, scale=scale)
        diff = np.abs(whole.astype(int) - tiled)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.001


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_narrow_band_over_many_crops_matches_reference(scale):
    # refine_edges evaluates the filter only at the band's pixels of each crop's inner
    # rectangle: with tiny tiles those pixels sit at many different offsets inside their crops
    image, alpha, _, _ = soft_composite(29, 34, seed=7 + scale)
    rough = R.feather(R.threshold(alpha), radius=1.5)
    r, eps = 4, 1e-3
    expected = np.clip(np.rint(ref_refine(image, rough, r, eps, False, scale) * 255), 0, 255)
    with tiny_tiles():
        got = R.refine_edges(image, rough, radius=r, eps=eps, band=2, scale=scale)
    band = R.edge_band(rough, band=2)
    assert band.any() and not band.all()
    np.testing.assert_array_equal(got[~band], rough[~band])
    assert np.abs(got.astype(int) - expected)[band].max() <= 1


@pytest.mark.parametrize("s", [1, 2, 3, 5])
def test_bilinear_at_matches_loop_reference(s):
    rng = np.random.default_rng(s)
    low = rng.random((4, 5, 3))
    # a ragged last block, and pixels beyond the last centre (at s = 1 the grids coincide)
    h, w = (4 * s + 3, 5 * s + 2) if s > 1 else (4, 5)
    ys, xs = np.nonzero(rng.random((h, w)) < 0.5)
    got = R._bilinear_at(low, ys, xs, s)
    for n, (y, x) in enumerate(zip(ys.tolist(), xs.tolist(), strict=True)):
        u = min(max((y + 0.5) / s - 0.5, 0), low.shape[0] - 1)
        v = min(max((x + 0.5) / s - 0.5, 0), low.shape[1] - 1)
        i, j = math.floor(u), math.floor(v)
        i1, j1 = min(i + 1, low.shape[0] - 1), min(j + 1, low.shape[1] - 1)
        fu, fv = u - i, v - j
        want = ((1 - fu) * (1 - fv) * low[i, j] + (1 - fu) * fv * low[i, j1]
                + fu * (1 - fv) * low[i1, j] + fu * fv * low[i1, j1])
        np.testing.assert_allclose(got[n], want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(R._bilinear_at(low[..., 1], ys, xs, s), got[:, 1])  # 2-D map
    assert R._bilinear_at(low, ys[:0], xs[:0], s).shape == (0, 3)


def test_refine_edges_where_limits_the_changed_pixels_only():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    alpha = np.zeros((40, 50), np.uint8)
    alpha[10:30, 12:40] = 255
    full = R.refine_edges(image, alpha, radius=4)
    where = np.zeros_like(alpha, bool)
    where[:, :25] = True
    got = R.refine_edges(image, alpha, radius=4, where=where)
    np.testing.assert_array_equal(got[where], full[where])  # the same values where evaluated
    np.testing.assert_array_equal(got[~where], alpha[~where])
    assert (full[~where] != alpha[~where]).any()  # the restriction did skip changes
    with pytest.raises(ValueError, match="where"):
        R.refine_edges(image, alpha, radius=4, where=where[:, :3])


@FAST
@given(
    seed=seeds,
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    band=st.integers(0, 4),
    radius=st.integers(1, 6),
)
def test_refine_edges_changes_only_the_band(seed, h, w, band, radius):
    alpha = random_mask(seed, h, w)
    image = random_image(seed, h, w)
    with tiny_tiles():
        out = R.refine_edges(image, alpha, radius=radius, band=band)
        inside = R.edge_band(alpha, band=band)
    assert np.array_equal(out[~inside], alpha[~inside])
    # the band is the soft or edge pixels grown by a disk of radius `band`
    soft = (alpha > 0) & (alpha < 255)
    edge = soft.copy()
    edge[:, 1:] |= alpha[:, 1:] != alpha[:, :-1]
    edge[:, :-1] |= alpha[:, 1:] != alpha[:, :-1]
    edge[1:] |= alpha[1:] != alpha[:-1]
    edge[:-1] |= alpha[1:] != alpha[:-1]
    expected = ref_morph(edge.astype(np.uint8), band, True) > 0 if band else edge
    assert np.array_equal(inside, expected)


@pytest.mark.parametrize("make_rough", ["blurred", "coarse"])
def test_refine_edges_recovers_a_soft_edge(make_rough):
    image, alpha, _, _ = soft_composite(seed=5)
    if make_rough == "blurred":
        rough = R.feather(R.threshold(alpha), radius=2)
    else:  # what an upscaled low-resolution model output looks like
        lo = Image.fromarray(alpha).reduce(4)
        rough = np.asarray(lo.resize(alpha.shape[::-1], Image.BILINEAR))
    before = np.abs(rough.astype(float) - alpha).mean()
    after = np.abs(R.refine_edges(image, rough).astype(float) - alpha).mean()
    assert after < 0.8 * before


def test_color_guide_separates_equal_brightness():
    # foreground and background of (nearly) the same luminance but different hue
    h, w = 60, 80
    _, alpha, _, _ = soft_composite(h, w, seed=6)
    a = alpha[:, :, None] / 255.0
    fg, bg = np.array([200.0, 80.0, 120.0]), np.array([92.0, 143.0, 103.0])
    image = np.rint(a * fg + (1 - a) * bg).astype(np.uint8)
    rough = R.feather(R.threshold(alpha), radius=2)
    err = {}
    for guide in ("color", "gray"):
        out = R.refine_edges(image, rough, radius=6, guide=guide)
        err[guide] = np.abs(out.astype(float) - alpha).mean()
    assert err["color"] < 0.7 * np.abs(rough.astype(float) - alpha).mean()
    assert err["color"] < 0.5 * err["gray"]


# --------------------------------------------------------------------------------------------
# decontaminate
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_decontaminate_matches_direct_reference(seed):
    image, alpha, _, _ = soft_composite(14, 17, seed=seed)
    alpha = np.maximum(alpha, random_mask(seed + 2, 14, 17) // 2)
    expected = ref_decontaminate(image, alpha, 5, 2)
    got = R._decontaminate(image, alpha, 5, 2, 1, np.empty_like(image))
    assert np.abs(got.astype(int) - expected).max() <= 1


@FAST
@given(seed=seeds, h=st.integers(1, 30), w=st.integers(1, 30), radius=st.integers(1, 20))
def test_decontaminate_keeps_opaque_and_transparent_pixels(seed, h, w, radius):
    alpha = random_mask(seed, h, w)
    image = random_image(seed, h, w)
    with tiny_tiles():
        out = R.decontaminate(image, alpha, radius=radius)
    solid = (alpha == 0) | (alpha == 255)
    assert np.array_equal(out[solid], image[solid])


def test_decontaminate_removes_background_spill():
    image, alpha, fg, bg = soft_composite(120, 150, seed=7)
    soft = (alpha > 0) & (alpha < 255)
    out = R.decontaminate(image, alpha, radius=30, fine_radius=3)
    before = np.abs(image[soft] - fg[soft]).mean()
    after = np.abs(out[soft] - fg[soft]).mean()
    assert after < 0.4 * before
    # the reduced-resolution wide pass is close to the exact one
    exact = R._decontaminate(image, alpha, 30, 3, 1, np.empty_like(image))
    assert np.abs(out.astype(int) - exact)[soft].mean() < 2
    with tiny_tiles():
        assert np.array_equal(R.decontaminate(image, alpha, radius=30, fine_radius=3), out)
    # in place
    img2 = image.copy()
    assert R.decontaminate(img2, alpha, radius=30, fine_radius=3, out=img2) is img2
    assert np.array_equal(img2, out)
