"""Tests for matte.overlay: per-viewport renders against slow per-pixel references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matte.composite import cutout
from matte.geometry import Rect
from matte.overlay import (
    MAX_OUTPUT_PIXELS,
    _axis,
    output_size,
    output_window,
    render_cutout,
    render_overlay,
)

SETTINGS = settings(max_examples=60, deadline=None)

# ------------------------------------------------------------------------------------------
# slow references: one Python loop iteration per output pixel


def ref_boxes(n: int, m: int, area: bool) -> list[tuple[int, int]]:
    """Source interval [lo, hi) of each of the m output pixels of an axis of n source pixels."""
    if area and m < n:
        return [(i * n // m, (i + 1) * n // m) for i in range(m)]
    return [((2 * i + 1) * n // (2 * m),) * 2 for i in range(m)]  # floor of the centre


def _round_div(num: int, den: int) -> int:
    return (2 * num + den) // (2 * den)  # half up, exact integers


def ref_render(image, alpha, rect, scale, *, mode, tint=(255, 0, 0), opacity=0.5, area=True):
    r = rect.clip(image.shape)
    oh = math.floor(r.height * scale + 0.5)
    ow = math.floor(r.width * scale + 0.5)
    rows, cols = ref_boxes(r.height, oh, area), ref_boxes(r.width, ow, area)
    averaging = area and (oh < r.height or ow < r.width)
    k = round(opacity * 255)
    out = np.zeros((oh, ow, 4), np.uint8)
    for i, (y0, y1) in enumerate(rows):
        for j, (x0, x1) in enumerate(cols):
            y1, x1 = max(y1, y0 + 1), max(x1, x0 + 1)
            pix = image[r.r0 + y0 : r.r0 + y1, r.c0 + x0 : r.c0 + x1].reshape(-1, 3).astype(int)
            a = alpha[r.r0 + y0 : r.r0 + y1, r.c0 + x0 : r.c0 + x1].reshape(-1).astype(int)
            n = len(a)
            if mode == "overlay":
                rgb = [_round_div(int(pix[:, c].sum()), n) for c in range(3)]
                am = _round_div(int(a.sum()), n)
                w = math.floor(k * (1 - am / 255) + 0.5)  # tint weight in 1/255
                for c in range(3):
                    out[i, j, c] = math.floor((rgb[c] * (255 - w) + tint[c] * w) / 255 + 0.5)
                out[i, j, 3] = 255
            elif averaging:  # premultiplied mean colour, mean alpha
                sa = int(a.sum())
                for c in range(3):
                    out[i, j, c] = _round_div(int((pix[:, c] * a).sum()), sa) if sa else 0
                out[i, j, 3] = _round_div(sa, n)
            else:
                out[i, j, :3], out[i, j, 3] = pix[0], a[0]
    return out


@st.composite
def scenes(draw, max_side=14):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    image = draw(arrays(np.uint8, (h, w, 3)))
    alpha = draw(arrays(np.uint8, (h, w), elements=st.sampled_from([0, 255]) | st.integers(0, 255)))
    r0 = draw(st.integers(-3, h))
    c0 = draw(st.integers(-3, w))
    r1 = draw(st.integers(r0, h + 3))
    c1 = draw(st.integers(c0, w + 3))
    scale = draw(
        st.sampled_from([0.2, 0.25, 1 / 3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0]) | st.floats(0.05, 4)
    )
    return image, alpha, Rect(r0, c0, r1, c1), scale


samplings = st.sampled_from(["area", "nearest"])


# ------------------------------------------------------------------------------------------
# against the references


@SETTINGS
@given(scenes(), samplings, st.tuples(*[st.integers(0, 255)] * 3), st.floats(0, 1))
def test_render_overlay_matches_reference(scene, sampling, tint, opacity):
    image, alpha, rect, scale = scene
    got = render_overlay(
        image, alpha, rect=rect, scale=scale, tint=tint, opacity=opacity, sampling=sampling
    )
    want = ref_render(
        image,
        alpha,
        rect,
        scale,
        mode="overlay",
        tint=tint,
        opacity=opacity,
        area=sampling == "area",
    )
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(scenes(), samplings)
def test_render_cutout_matches_reference(scene, sampling):
    image, alpha, rect, scale = scene
    got = render_cutout(image, alpha, rect=rect, scale=scale, sampling=sampling)
    want = ref_render(image, alpha, rect, scale, mode="cutout", area=sampling == "area")
    np.testing.assert_array_equal(got, want)


def test_large_downscale_uses_wide_sums():
    # 1/20 scale: 400-pixel boxes overflow uint16 sums of premultiplied colour
    rng = np.random.default_rng(0)
    image = rng.integers(200, 256, (60, 80, 3), dtype=np.uint8)
    alpha = rng.integers(200, 256, (60, 80), dtype=np.uint8)
    rect = Rect(0, 0, 60, 80)
    for mode, fn in (("overlay", render_overlay), ("cutout", render_cutout)):
        np.testing.assert_array_equal(
            fn(image, alpha, rect=rect, scale=0.05),
            ref_render(image, alpha, rect, 0.05, mode=mode),
        )


# ------------------------------------------------------------------------------------------
# properties


@SETTINGS
@given(
    st.tuples(*[st.integers(0, 255)] * 3), st.tuples(*[st.integers(0, 255)] * 3), st.floats(0, 1)
)
def test_overlay_is_monotone_and_continuous_in_alpha(pixel, tint, opacity):
    image = np.broadcast_to(np.array(pixel, np.uint8), (1, 256, 3)).copy()
    alpha = np.arange(256, dtype=np.uint8)[None]
    out = render_overlay(
        image, alpha, rect=Rect(0, 0, 1, 256), scale=1.0, tint=tint, opacity=opacity
    )[0, :, :3].astype(int)
    for c in range(3):
        toward = np.sign(tint[c] - pixel[c])
        # as alpha grows (less removed) the pixel moves monotonically away from the tint ...
        assert (np.diff(out[:, c]) * toward <= 0).all()
        # ... by at most one level per alpha step: no jump at 127/128
        assert np.abs(np.diff(out[:, c])).max() <= 1
    np.testing.assert_array_equal(out[255], pixel)  # kept pixels are untouched
    k = round(opacity * 255)
    want0 = [
        math.floor((p * (255 - k) + t * k) / 255 + 0.5) for p, t in zip(pixel, tint, strict=True)
    ]
    np.testing.assert_array_equal(out[0], want0)  # fully removed: full tint strength


def test_overlay_is_proportional_not_a_threshold():
    image = np.zeros((1, 3, 3), np.uint8)
    alpha = np.array([[0, 128, 255]], np.uint8)
    out = render_overlay(
        image, alpha, rect=Rect(0, 0, 1, 3), scale=1.0, tint=(255, 255, 255), opacity=1.0
    )
    assert out[0, :, 0].tolist() == [255, 127, 0]
    near = render_overlay(
        image,
        np.array([[127, 128, 129]], np.uint8),
        rect=Rect(0, 0, 1, 3),
        scale=1,
        tint="white",
        opacity=1.0,
    )
    assert near[0, :, 0].tolist() == [128, 127, 126]


@SETTINGS
@given(scenes(), samplings, st.data())
def test_window_equals_crop_of_full_render(scene, sampling, data):
    image, alpha, rect, scale = scene
    full_o = render_overlay(image, alpha, rect=rect, scale=scale, sampling=sampling)
    full_c = render_cutout(image, alpha, rect=rect, scale=scale, sampling=sampling)
    oh, ow = full_o.shape[:2]
    r0 = data.draw(st.integers(-2, oh))
    c0 = data.draw(st.integers(-2, ow))
    win = Rect(r0, c0, data.draw(st.integers(r0, oh + 2)), data.draw(st.integers(c0, ow + 2)))
    clip = win.clip((oh, ow))
    got_o = render_overlay(image, alpha, rect=rect, scale=scale, sampling=sampling, window=win)
    got_c = render_cutout(image, alpha, rect=rect, scale=scale, sampling=sampling, window=win)
    np.testing.assert_array_equal(got_o, full_o[clip.slices])
    np.testing.assert_array_equal(got_c, full_c[clip.slices])


@SETTINGS
@given(scenes())
def test_rect_render_at_scale_1_is_crop_of_full_render(scene):
    image, alpha, rect, _ = scene
    h, w = alpha.shape
    full = render_overlay(image, alpha, rect=Rect(0, 0, h, w), scale=1.0)
    part = render_overlay(image, alpha, rect=rect, scale=1.0)
    np.testing.assert_array_equal(part, full[rect.clip(alpha.shape).slices])
    np.testing.assert_array_equal(
        render_cutout(image, alpha, rect=rect, scale=1.0),
        cutout(image, alpha)[rect.clip(alpha.shape).slices],
    )


@SETTINGS
@given(scenes(), samplings, st.data())
def test_output_window_covers_every_changed_pixel(scene, sampling, data):
    image, alpha, rect, scale = scene
    h, w = alpha.shape
    y0, x0 = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    dirty = Rect(y0, x0, data.draw(st.integers(y0 + 1, h)), data.draw(st.integers(x0 + 1, w)))
    changed = alpha.copy()
    changed[dirty.slices] ^= 0x5A
    before = render_overlay(image, alpha, rect=rect, scale=scale, sampling=sampling)
    after = render_overlay(image, changed, rect=rect, scale=scale, sampling=sampling)
    win = output_window(dirty, rect=rect, scale=scale, shape=alpha.shape, sampling=sampling)
    mask = np.zeros(before.shape[:2], bool)
    mask[win.slices] = True
    assert not (before != after).any(axis=-1)[~mask].any()
    # and the window is tight: each of its rows and columns samples the dirty rectangle
    src = rect.clip(alpha.shape)
    rows = ref_boxes(src.height, before.shape[0], sampling == "area")
    cols = ref_boxes(src.width, before.shape[1], sampling == "area")
    for i in range(win.r0, win.r1):
        lo, hi = rows[i]
        assert src.r0 + lo < dirty.r1 and src.r0 + max(hi, lo + 1) > dirty.r0
    for j in range(win.c0, win.c1):
        lo, hi = cols[j]
        assert src.c0 + lo < dirty.c1 and src.c0 + max(hi, lo + 1) > dirty.c0


def test_sample_indices_are_intp():
    # ndarray.take() refuses int64 indices where intp is 32-bit (Pyodide's wasm32)
    for area in (True, False):
        for n, m in ((10, 3), (3, 10)):
            starts, lens = _axis(n, m, 0, m, area)
            assert starts.dtype == np.intp and lens.dtype == np.intp


def test_integer_upscale_is_pixel_replication():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    got = render_cutout(image, alpha, rect=Rect(1, 2, 4, 6), scale=3)
    want = np.repeat(np.repeat(cutout(image, alpha)[1:4, 2:6], 3, axis=0), 3, axis=1)
    np.testing.assert_array_equal(got, want)


def test_renders_into_non_contiguous_out():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    for fn in (render_overlay, render_cutout):
        for scale in (0.4, 1.0, 2.5):  # averaging, gather and packed-replication paths
            want = fn(image, alpha, rect=Rect(1, 1, 9, 10), scale=scale)
            big = np.zeros((*want.shape[:2], 6), np.uint8)
            got = fn(image, alpha, rect=Rect(1, 1, 9, 10), scale=scale, out=big[..., 1:5])
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(big[..., 1:5], want)
            assert not big[..., 0].any() and not big[..., 5].any()


def test_half_scale_area_is_2x2_mean():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    alpha = np.full((8, 10), 255, np.uint8)
    got = render_overlay(image, alpha, rect=Rect(0, 0, 8, 10), scale=0.5)
    blocks = image.reshape(4, 2, 5, 2, 3).astype(int).sum(axis=(1, 3))
    np.testing.assert_array_equal(got[..., :3], (blocks + 2) // 4)
    nearest = render_overlay(image, alpha, rect=Rect(0, 0, 8, 10), scale=0.5, sampling="nearest")
    np.testing.assert_array_equal(nearest[..., :3], image[1::2, 1::2])


def test_output_size_and_out_parameter():
    image = np.zeros((30, 40, 3), np.uint8)
    alpha = np.zeros((30, 40), np.uint8)
    assert output_size(Rect(0, 0, 30, 40), 0.25) == (8, 10)  # 7.5 rounds half up, like JS
    out = np.empty((8, 10, 4), np.uint8)
    assert render_overlay(image, alpha, rect=Rect(-5, -5, 35, 45), scale=0.25, out=out) is out
    assert render_cutout(image, alpha, rect=Rect(10, 10, 10, 20), scale=2).shape == (0, 20, 4)
    assert render_overlay(image, alpha, rect=Rect(50, 50, 60, 60), scale=1).shape == (0, 0, 4)
    assert render_overlay(
        image, alpha, rect=Rect(0, 0, 30, 40), scale=1, window=Rect(5, 5, 2, 2)
    ).shape == (0, 0, 4)


def test_parameter_errors_name_the_parameter():
    image = np.zeros((6, 6, 3), np.uint8)
    alpha = np.zeros((6, 6), np.uint8)
    r = Rect(0, 0, 6, 6)
    for bad in (0, -1.0, float("nan"), float("inf"), "1", None):
        with pytest.raises(ValueError, match="^scale:"):
            render_overlay(image, alpha, rect=r, scale=bad)
    with pytest.raises(ValueError, match="^scale:.*viewport"):
        render_overlay(image, alpha, rect=r, scale=math.sqrt(MAX_OUTPUT_PIXELS) / 5)
    with pytest.raises(ValueError, match="^sampling:"):
        render_cutout(image, alpha, rect=r, scale=1, sampling="bilinear")
    with pytest.raises(ValueError, match="^opacity:"):
        render_overlay(image, alpha, rect=r, scale=1, opacity=1.2)
    with pytest.raises(ValueError, match="^tint:"):
        render_overlay(image, alpha, rect=r, scale=1, tint="#12")
    with pytest.raises(ValueError, match="^rect:"):
        render_overlay(image, alpha, rect=(0, 0, 6), scale=1)
    with pytest.raises(ValueError, match="^window:"):
        render_overlay(image, alpha, rect=r, scale=1, window="all")
    with pytest.raises(ValueError, match="^out:"):
        render_overlay(image, alpha, rect=r, scale=1, out=np.empty((6, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="^alpha:"):
        render_cutout(image, alpha[:5], rect=r, scale=1)
