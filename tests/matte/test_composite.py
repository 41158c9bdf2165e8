"""Tests for matte.composite: fast integer compositing against slow per-pixel references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFilter

from matte.composite import (
    Shadow,
    _gaussian,
    _mix,
    _round255,
    background_blur,
    cover_fit,
    crop_to_subject,
    cutout,
    drop_shadow,
    over_blur,
    over_color,
    over_image,
    parse_color,
    subject_bbox,
)
from matte.geometry import Rect

SETTINGS = settings(max_examples=60, deadline=None)


# ------------------------------------------------------------------------------------------
# strategies and slow references


@st.composite
def image_alpha(draw, max_side: int = 9):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    image = draw(arrays(np.uint8, (h, w, 3)))
    # alpha biased towards the interesting values 0 and 255
    alpha = draw(arrays(np.uint8, (h, w), elements=st.sampled_from([0, 255]) | st.integers(0, 255)))
    return image, alpha


colors = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))


def ref_over(fg, alpha, bg):
    """Per-pixel float ``round(F*a + B*(1-a))``; bg an (H, W, 3) array or an RGB tuple."""
    h, w = alpha.shape
    out = np.zeros((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            a = alpha[y, x] / 255.0
            for c in range(3):
                b = bg[c] if isinstance(bg, tuple) else bg[y, x, c]
                out[y, x, c] = int(np.floor(fg[y, x, c] * a + b * (1.0 - a) + 0.5))
    return out


def ref_shadow_coverage(alpha, dy, dx, opacity):
    """Hard shadow (blur 0): alpha shifted by (dy, dx), scaled by round(opacity*255)/255."""
    h, w = alpha.shape
    k = round(opacity * 255)
    out = np.zeros((h, w), np.uint8)
    for y in range(h):
        for x in range(w):
            sy, sx = y - dy, x - dx
            if 0 <= sy < h and 0 <= sx < w:
                out[y, x] = int(np.floor(int(alpha[sy, sx]) * k / 255 + 0.5))
    return out


# ------------------------------------------------------------------------------------------
# integer rounding


def test_round255_matches_integer_formula_exhaustively():
    t = np.arange(0, 65026, dtype=np.uint16)
    got = t.copy()
    _round255(got)
    want = (np.arange(0, 65026, dtype=np.int64) + 127) // 255
    np.testing.assert_array_equal(got, want)


def test_mix_exhaustive_over_all_values():
    f = np.repeat(np.arange(256, dtype=np.uint8), 256).reshape(256, 256)
    b = np.tile(np.arange(256, dtype=np.uint8), 256).reshape(256, 256)
    fg = np.stack([f, b, f], axis=-1)
    bg = np.stack([b, f, 255 - b], axis=-1)
    out = np.empty_like(fg)
    for a in range(256):
        alpha = np.full((256, 256), a, np.uint8)
        _mix(fg, alpha, bg, out)
        want = (fg.astype(np.int64) * a + bg.astype(np.int64) * (255 - a) + 127) // 255
        np.testing.assert_array_equal(out, want, err_msg=f"alpha={a}")


# ------------------------------------------------------------------------------------------
# cutout


@SETTINGS
@given(image_alpha())
def test_cutout_keeps_rgb_bit_exact_everywhere(data):
    image, alpha = data
    out = cutout(image, alpha)
    assert out.shape == (*alpha.shape, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., :3], image)
    np.testing.assert_array_equal(out[..., 3], alpha)


def test_cutout_writes_into_out_and_accepts_views():
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    image = big[3:13, 5:25]  # non-contiguous view
    alpha = rng.integers(0, 256, (10, 20), dtype=np.uint8)
    out = np.zeros((10, 20, 4), np.uint8)
    assert cutout(image, alpha, out=out) is out
    np.testing.assert_array_equal(out[..., :3], image)


@SETTINGS
@given(image_alpha(), colors, st.integers(-3, 3), st.integers(-3, 3), st.floats(0, 1))
def test_cutout_with_hard_shadow_matches_reference(data, color, dy, dx, opacity):
    image, alpha = data
    out = cutout(image, alpha, shadow=Shadow(offset=(dy, dx), blur=0, opacity=opacity, color=color))
    s = ref_shadow_coverage(alpha, dy, dx, opacity).astype(np.int64)
    a = alpha.astype(np.int64)
    den = 255 * a + s * (255 - a)  # 255 * 255 * resulting alpha
    np.testing.assert_array_equal(out[..., 3], (den + 127) // 255)
    for y, x in np.ndindex(alpha.shape):
        if den[y, x] == 0:
            want = image[y, x]
        else:
            num = image[y, x].astype(np.int64) * 255 * a[y, x] + np.array(color) * s[y, x] * (
                255 - a[y, x]
            )
            want = np.floor(num / den[y, x] + 0.5)
        np.testing.assert_array_equal(out[y, x, :3], want, err_msg=f"pixel {(y, x)}")
    opaque = alpha == 255
    np.testing.assert_array_equal(out[..., :3][opaque], image[opaque])


# ------------------------------------------------------------------------------------------
# over_color / over_image


@SETTINGS
@given(image_alpha(), colors)
def test_over_color_matches_float_reference(data, color):
    image, alpha = data
    np.testing.assert_array_equal(over_color(image, alpha, color), ref_over(image, alpha, color))


@SETTINGS
@given(image_alpha(), colors)
def test_alpha_255_keeps_rgb_and_alpha_0_gives_background(data, color):
    image, alpha = data
    bg = np.flip(image, axis=1).copy()
    for out in (over_color(image, alpha, color), over_image(image, alpha, bg)):
        keep, gone = alpha == 255, alpha == 0
        np.testing.assert_array_equal(out[keep], image[keep])
    flat = over_color(image, alpha, color)[gone]
    np.testing.assert_array_equal(flat, np.broadcast_to(np.array(color, np.uint8), flat.shape))
    np.testing.assert_array_equal(over_image(image, alpha, bg)[gone], bg[gone])


@SETTINGS
@given(image_alpha(), colors, st.integers(-2, 2), st.integers(-2, 2), st.floats(0, 1))
def test_over_color_with_hard_shadow_matches_reference(data, color, dy, dx, opacity):
    image, alpha = data
    shadow_rgb = (10, 20, 30)
    out = over_color(
        image,
        alpha,
        color,
        shadow={"offset": (dy, dx), "blur": 0, "opacity": opacity, "color": shadow_rgb},
    )
    s = ref_shadow_coverage(alpha, dy, dx, opacity)
    shadowed = ref_over(np.broadcast_to(np.array(shadow_rgb, np.uint8), image.shape), s, color)
    np.testing.assert_array_equal(out, ref_over(image, alpha, shadowed))


def test_over_image_matches_reference_on_same_size_background():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (7, 11, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (7, 11), dtype=np.uint8)
    bg = rng.integers(0, 256, (7, 11, 3), dtype=np.uint8)
    out = np.empty_like(image)
    assert over_image(image, alpha, bg, out=out) is out
    np.testing.assert_array_equal(out, ref_over(image, alpha, bg))


def test_cover_fit_scales_and_crops_the_centre():
    green, red = (0, 200, 0), (200, 0, 0)
    wide = np.empty((10, 30, 3), np.uint8)
    wide[:] = red
    wide[:, 10:20] = green
    fit = cover_fit(wide, (20, 20))  # scale 2, crops exactly the middle third
    assert fit.shape == (20, 20, 3)
    # Lanczos reaches ~3 source px (6 output px) into the red sides only at the edges
    np.testing.assert_array_equal(
        fit[:, 6:14], np.broadcast_to(np.array(green, np.uint8), (20, 8, 3))
    )
    tall = wide.transpose(1, 0, 2).copy()
    fit = cover_fit(tall, (8, 8))  # scale 0.8 (downscale), crops the middle rows
    np.testing.assert_array_equal(
        fit[3:5, :], np.broadcast_to(np.array(green, np.uint8), (2, 8, 3))
    )
    same = cover_fit(wide, (10, 30))
    np.testing.assert_array_equal(same, wide)
    assert same is not wide


def test_cover_fit_matches_pillow_resize_of_the_centre_crop():
    rng = np.random.default_rng(3)
    bg = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    fit = cover_fit(bg, (20, 20))  # scale 0.5, crop columns 10..50
    want = np.asarray(
        Image.fromarray(bg[:, 10:50]).resize((20, 20), Image.Resampling.LANCZOS, reducing_gap=3.0)
    )
    # same pixels except near the left/right edges, where resizing inside the whole picture
    # reads real neighbours instead of the crop's clamped edge
    np.testing.assert_array_equal(fit[:, 4:16], want[:, 4:16])
    assert not np.array_equal(fit, want)


# ------------------------------------------------------------------------------------------
# blur background


def _disk_scene(h=64, w=80, radius=14):
    y, x = np.mgrid[:h, :w]
    inside = (y - h / 2) ** 2 + (x - w / 2) ** 2 <= radius**2
    image = np.empty((h, w, 3), np.uint8)
    image[:] = (20, 120, 200)
    image[inside] = (255, 0, 0)
    alpha = np.where(inside, 255, 0).astype(np.uint8)
    return image, alpha


@pytest.mark.parametrize("radius", [3.0, 6.0, 20.0])
def test_over_blur_does_not_bleed_subject_colour(radius):
    image, alpha = _disk_scene()
    out = over_blur(image, alpha, radius=radius)
    gone, keep = alpha == 0, alpha == 255
    np.testing.assert_array_equal(out[keep], image[keep])
    err = np.abs(out[gone].astype(int) - np.array([20, 120, 200])).max()
    assert err <= 2, err
    # the test can fail: a plain blur bleeds the red disk into the background
    naive = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
    assert np.abs(naive[gone].astype(int) - np.array([20, 120, 200])).max() > 25


def _ref_normalised_blur(image, alpha, sigma):
    """blur(I*w)/blur(w), w = 1 - alpha/255, true separable Gaussian with edge replication."""
    r = int(np.ceil(4 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()

    def blur(p):
        p = np.pad(p, ((r, r), (r, r)), mode="edge")
        p = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, p)
        return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, p)

    w = 1 - alpha / 255.0
    den = blur(w)
    out = np.stack([blur(image[..., c] * w) for c in range(3)], -1)
    return out / np.maximum(den, 1e-9)[..., None], den


@pytest.mark.parametrize(("radius", "h", "w"), [(4.0, 72, 96), (12.0, 160, 200)])
def test_background_blur_close_to_true_normalised_gaussian(radius, h, w):
    rng = np.random.default_rng(4)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))
    yy, xx = np.mgrid[:h, :w]
    alpha = np.clip((h * 0.3 - np.hypot(yy - h / 2, xx - w * 0.45)) * 40, 0, 255)
    alpha = alpha.astype(np.uint8)
    got = background_blur(image, alpha, radius=radius).astype(float)
    want, den = _ref_normalised_blur(image.astype(float), alpha, radius)
    # Pillow's GaussianBlur is an extended-box approximation that treats borders differently:
    # compare away from them, where background is visible.
    m = int(3 * radius)
    inner = np.zeros(alpha.shape, bool)
    inner[m:-m, m:-m] = True
    visible = (den > 0.3) & (alpha < 255) & inner
    err = np.abs(got - want).max(axis=-1)[visible]
    assert err.max() <= 6 and err.mean() <= 2.5, (err.max(), err.mean())
    naive = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
    assert np.abs(naive - want).max(axis=-1)[visible].max() > 30  # normalisation matters here


def test_background_blur_radius_zero_is_identity():
    image, alpha = _disk_scene(9, 9, 3)
    np.testing.assert_array_equal(background_blur(image, alpha, radius=0), image)


def test_gaussian_reduced_path_is_close_to_full_blur():
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (8, 10), dtype=np.uint8)
    im = Image.fromarray(small).resize((200, 160), Image.Resampling.BICUBIC)
    fast = np.asarray(_gaussian(im, 16.0)).astype(int)
    full = np.asarray(im.filter(ImageFilter.GaussianBlur(16.0))).astype(int)
    err = np.abs(fast - full)
    assert err[32:-32, 32:-32].max() <= 2 and err.max() <= 8, (err[32:-32, 32:-32].max(), err.max())
    assert _gaussian(im, 16.0).size == im.size
    tiny = Image.fromarray(small)  # smaller than the reduction factor
    assert np.asarray(_gaussian(tiny, 40.0)).shape == small.shape


# ------------------------------------------------------------------------------------------
# shadow


def test_drop_shadow_hard_is_shifted_alpha():
    rng = np.random.default_rng(6)
    alpha = rng.integers(0, 256, (12, 15), dtype=np.uint8)
    for dy, dx in [(0, 0), (2, 3), (-4, 1), (3, -5), (20, 0), (0, -15)]:
        layer = drop_shadow(alpha, offset=(dy, dx), blur=0, opacity=1.0, color="#102030")
        assert layer.shape == (12, 15, 4)
        np.testing.assert_array_equal(layer[..., :3], np.broadcast_to([16, 32, 48], (12, 15, 3)))
        np.testing.assert_array_equal(layer[..., 3], ref_shadow_coverage(alpha, dy, dx, 1.0))


def test_drop_shadow_blur_keeps_mass_and_spreads():
    alpha = np.zeros((80, 80), np.uint8)
    alpha[30:50, 30:50] = 255
    layer = drop_shadow(alpha, offset=(4, 4), blur=5, opacity=0.5)
    s = layer[..., 3].astype(float)
    assert abs(s.sum() - 0.5 * alpha.astype(float).sum()) / s.sum() < 0.02
    # centre of the shifted square, 2 sigma from its edges: 127.5 * P(|z| < 2)**2
    assert s[34 + 10, 34 + 10] == pytest.approx(127.5 * 0.9545**2, abs=2)
    assert s[30, 30] < 0.3 * 128  # near the shifted square's corner it fades
    assert s[30, 20] > 0 or s[25, 40] > 0  # blurred beyond the hard edge


def test_drop_shadow_validation():
    alpha = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="shadow opacity"):
        drop_shadow(alpha, opacity=1.5)
    with pytest.raises(ValueError, match="shadow blur"):
        drop_shadow(alpha, blur=-1)
    with pytest.raises(ValueError, match="shadow offset"):
        drop_shadow(alpha, offset=(1, 2, 3))
    with pytest.raises(ValueError, match="shadow color"):
        drop_shadow(alpha, color="transparent")
    with pytest.raises(ValueError, match="unknown option"):
        over_color(np.zeros((4, 4, 3), np.uint8), alpha, "white", shadow={"blurr": 3})


# ------------------------------------------------------------------------------------------
# colours


@pytest.mark.parametrize(
    ("spec", "rgb"),
    [
        ("#fff", (255, 255, 255)),
        ("#FFF", (255, 255, 255)),
        ("#0a0B0c", (10, 11, 12)),
        ("#f00", (255, 0, 0)),
        ("#102030ff", (16, 32, 48)),
        ("white", (255, 255, 255)),
        (" Black ", (0, 0, 0)),
        ("rgb(1, 2, 3)", (1, 2, 3)),
        ((1, 2, 3), (1, 2, 3)),
        ([255, 0, 0], (255, 0, 0)),
        (np.array([4, 5, 6], np.uint8), (4, 5, 6)),
        ("transparent", None),
        ("none", None),
    ],
)
def test_parse_color(spec, rgb):
    assert parse_color(spec) == rgb


@pytest.mark.parametrize(
    "spec",
    [
        "#ggg",
        "#12345",
        "#",
        "nocolour",
        "#10203080",
        "rgb(300, 0, 0)",
        (1, 2),
        (1, 2, 256),
        (1, 2, -1),
        (1.0, 2, 3),
        (True, 0, 0),
        None,
        7,
    ],
)
def test_parse_color_errors_name_the_parameter(spec):
    with pytest.raises(ValueError, match="^background:"):
        parse_color(spec, name="background")


def test_over_color_rejects_transparent():
    with pytest.raises(ValueError, match="color: 'transparent'.*cutout"):
        over_color(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8), "transparent")


def test_input_validation_names_parameters():
    img = np.zeros((4, 5, 3), np.uint8)
    a = np.zeros((4, 5), np.uint8)
    with pytest.raises(ValueError, match="^alpha:"):
        cutout(img, np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match="^image:"):
        cutout(img.astype(np.float32), a)
    with pytest.raises(ValueError, match="^image:"):
        over_color(np.zeros((4, 5), np.uint8), a, "white")
    with pytest.raises(ValueError, match="^out:"):
        over_color(img, a, "white", out=np.zeros((4, 5, 4), np.uint8))
    with pytest.raises(ValueError, match="^background:"):
        over_image(img, a, np.zeros((3, 3, 4), np.uint8))
    with pytest.raises(ValueError, match="^radius:"):
        over_blur(img, a, radius=float("nan"))


# ------------------------------------------------------------------------------------------
# bbox and crop


@SETTINGS
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 12), st.integers(1, 12)),
        elements=st.sampled_from([0, 0, 0, 5, 9, 200, 255]),
    ),
    st.integers(0, 254),
)
def test_subject_bbox_matches_argwhere(alpha, threshold):
    pts = np.argwhere(alpha > threshold)
    box = subject_bbox(alpha, threshold=threshold)
    if len(pts) == 0:
        assert box is None
    else:
        assert box == Rect(
            pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max() + 1, pts[:, 1].max() + 1
        )


def test_subject_bbox_default_threshold_ignores_faint_noise():
    alpha = np.zeros((10, 10), np.uint8)
    alpha[0, 0] = 3
    alpha[4:6, 5:8] = 255
    assert subject_bbox(alpha) == Rect(4, 5, 6, 8)
    assert subject_bbox(alpha, threshold=0) == Rect(0, 0, 6, 8)
    with pytest.raises(ValueError, match="threshold"):
        subject_bbox(alpha, threshold=255)


def test_crop_to_subject_margins_and_clipping():
    image = np.arange(100 * 80 * 3, dtype=np.uint32).astype(np.uint8).reshape(100, 80, 3)
    alpha = np.zeros((100, 80), np.uint8)
    alpha[20:60, 30:50] = 255  # 40 x 20 box
    img, a, rect = crop_to_subject(image, alpha)
    assert rect == Rect(20, 30, 60, 50)
    np.testing.assert_array_equal(img, image[20:60, 30:50])
    assert np.shares_memory(img, image) and np.shares_memory(a, alpha)
    assert crop_to_subject(image, alpha, margin=5)[2] == Rect(15, 25, 65, 55)
    assert crop_to_subject(image, alpha, margin=0.25)[2] == Rect(10, 20, 70, 60)  # 25% of 40
    assert crop_to_subject(image, alpha, margin=25)[2] == Rect(0, 5, 85, 75)  # clipped at top
    assert crop_to_subject(image, alpha, margin=1.0)[2] == Rect(0, 0, 100, 80)
    rgba = cutout(image, alpha)
    assert crop_to_subject(rgba, alpha, margin=2)[0].shape == (44, 24, 4)
    empty = np.zeros_like(alpha)
    assert crop_to_subject(image, empty, margin=3)[2] == Rect(0, 0, 100, 80)
    for bad in (-1, 1.5, True, "5", float("inf")):
        with pytest.raises(ValueError, match="margin"):
            crop_to_subject(image, alpha, margin=bad)
