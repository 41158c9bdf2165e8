import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matte import refine as R
from matte.models import load_catalog
from matte.postprocess import (
    output_to_unit,
    refine_alpha,
    refined_alpha,
    to_alpha,
    unit_to_alpha,
    upscale_factor,
)
from matte.refine import edge_band, grow_shrink

CAT = load_catalog()
floats = st.floats(-3, 3, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 30), st.integers(1, 30)), elements=floats),
       st.integers(1, 70), st.integers(1, 70), st.sampled_from(["isnet-medium", "u2netp"]))
def test_alpha_is_uint8_of_source_size(out, h, w, model):
    alpha = to_alpha(out[None, None], CAT.get(model), (h, w))
    assert alpha.shape == (h, w) and alpha.dtype == np.uint8


def test_unit_range_clips_without_wraparound():
    spec = CAT.get("isnet-medium")
    raw = np.array([[-5.0, 0.0], [0.5, 9.0]], np.float32)
    np.testing.assert_array_equal(to_alpha(raw, spec, (2, 2)), [[0, 0], [128, 255]])


def test_minmax_stretches():
    spec = CAT.get("u2netp")
    raw = np.array([[2.0, 3.0], [4.0, 6.0]], np.float32)
    np.testing.assert_allclose(output_to_unit(raw, spec), [[0, 0.25], [0.5, 1.0]])
    flat = np.full((3, 3), 7.0, np.float32)
    assert output_to_unit(flat, spec).max() == 0


def test_upsampling_reference_bilinear():
    # Upsampling a linear ramp with a bilinear filter keeps it (nearly) linear and monotone.
    ramp = np.linspace(0, 1, 16, dtype=np.float32)[None, :].repeat(4, 0)
    alpha = unit_to_alpha(ramp, (8, 64))
    row = alpha[4].astype(int)
    assert np.all(np.diff(row) >= 0) and row[0] <= 8 and row[-1] >= 247
    # interior pixels follow the continuous ramp within 1 level of the reference
    x = (np.arange(64) + 0.5) / 4 - 0.5
    ref = np.clip(np.interp(x, np.arange(16), np.linspace(0, 255, 16)), 0, 255)
    assert np.abs(row[4:-4] - ref[4:-4]).max() <= 1.0


def test_nan_and_shape_errors():
    spec = CAT.get("isnet-medium")
    raw = np.array([[np.nan, np.inf], [-np.inf, 0.25]], np.float32)
    np.testing.assert_array_equal(to_alpha(raw, spec, (2, 2)), [[0, 255], [0, 64]])
    with pytest.raises(ValueError, match="single image"):
        output_to_unit(np.zeros((2, 1, 4, 4), np.float32), spec)
    with pytest.raises(ValueError, match="size must be positive"):
        unit_to_alpha(np.zeros((4, 4), np.float32), (0, 4))


# --------------------------------------------------------------------------------------------
# the refined path: upscale_factor, refine_alpha, refined_alpha


def composite(alpha: np.ndarray, seed: int = 0) -> np.ndarray:
    """A photo of a textured orange subject over a blue-grey gradient with this alpha."""
    rng = np.random.default_rng(seed)
    h, w = alpha.shape
    yy, xx = np.mgrid[:h, :w]
    fg = np.stack([210 + 20 * np.sin(xx / 5), 120 + 15 * np.cos(yy / 7), 60 + 0 * xx], axis=2)
    bg = np.stack([70 + 30 * yy / h, 110 + 0 * xx, 150 + 40 * xx / w], axis=2)
    a = alpha[:, :, None] / 255.0
    img = a * fg + (1 - a) * bg + rng.normal(0, 2, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def test_upscale_factor():
    assert upscale_factor((1024, 1024), (3000, 4000)) == 4000 / 1024
    assert upscale_factor((320, 320), (480, 160)) == 1.5
    assert upscale_factor((1024, 1024), (512, 256)) == 0.5


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40), st.integers(1, 40),
       st.floats(0.3, 6), st.sampled_from([0.5, 1.0, 2.0, None]))
def test_refine_alpha_stays_within_the_slack(seed, h, w, upscale, slack):
    rng = np.random.default_rng(seed)
    alpha = rng.integers(0, 256, (h, w)).astype(np.uint8)
    alpha[rng.random((h, w)) < 0.5] = 0
    alpha[rng.random((h, w)) < 0.3] = 255
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    out = refine_alpha(alpha, image, upscale=upscale, slack=slack)
    assert out.shape == (h, w) and out.dtype == np.uint8
    if slack is not None:
        d = max(1.0, slack * upscale)
        assert (out >= grow_shrink(alpha, radius=-d)).all()
        assert (out <= grow_shrink(alpha, radius=d)).all()
    np.testing.assert_array_equal(refine_alpha(alpha, image, upscale=upscale, radius=0), alpha)


def test_refine_alpha_leaves_pixels_far_from_the_edge_alone():
    yy, xx = np.mgrid[:120, :160]
    soft = np.clip((40 - np.hypot(yy - 60, xx - 70)) / 6 + 0.5, 0, 1)
    alpha = np.rint(soft * 255).astype(np.uint8)
    image = composite(alpha, seed=1)
    out = refine_alpha(alpha, image, upscale=2.0)  # window radius 8 px
    band = edge_band(alpha, band=8)
    assert (out != alpha).any()  # it does something ...
    np.testing.assert_array_equal(out[~band], alpha[~band])  # ... only on the band
    assert (out[~band] == 0).sum() > 0.5 * out.size and (out[~band] == 255).any()


def test_refine_alpha_rejects_bad_factors():
    a = np.zeros((4, 4), np.uint8)
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="upscale"):
        refine_alpha(a, img, upscale=0)
    with pytest.raises(ValueError, match="radius"):
        refine_alpha(a, img, upscale=1, radius=-1)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 24), st.integers(1, 24)), elements=floats),
       st.integers(1, 60), st.integers(1, 60), st.sampled_from(["isnet-medium", "u2netp"]))
def test_refined_alpha_is_uint8_of_the_image_size(out, h, w, model):
    image = np.random.default_rng(h * 61 + w).integers(0, 256, (h, w, 3)).astype(np.uint8)
    alpha = refined_alpha(out[None, None], CAT.get(model), image)
    assert alpha.shape == (h, w) and alpha.dtype == np.uint8


def test_refined_alpha_without_refinement_is_the_upsampled_output():
    spec = CAT.get("isnet-medium")
    raw = np.random.default_rng(3).random((16, 16), dtype=np.float32)
    image = np.zeros((40, 50, 3), np.uint8)
    for resample in ("bilinear", "bicubic"):
        np.testing.assert_array_equal(
            refined_alpha(raw, spec, image, resample=resample, radius=0),
            unit_to_alpha(raw, (40, 50), resample=resample),
        )
    plain = refined_alpha(raw, spec, image, resample="bilinear", radius=0)
    np.testing.assert_array_equal(plain, to_alpha(raw, spec, (40, 50)))


def test_refined_alpha_wants_the_image_not_its_shape():
    spec = CAT.get("u2netp")
    raw = np.zeros((8, 8), np.float32)
    for bad in [(40, 50), np.zeros((40, 50), np.uint8), np.zeros((40, 50, 3), np.float32)]:
        with pytest.raises(TypeError, match="source image"):
            refined_alpha(raw, spec, bad)


def test_refinement_adds_no_fade_at_the_frame():
    # a subject that leaves the frame on the left, top and bottom: a clean model output
    # (1 on the left, 0 on the right) must give a cut-out that stays opaque up to the frame
    spec = CAT.get("isnet-medium")
    unit = np.zeros((32, 32), np.float32)
    unit[:, :13] = 1.0
    unit[:, 13] = 0.5
    h, w = 96, 128
    alpha_true = np.zeros((h, w), np.uint8)
    alpha_true[:, : w * 27 // 64] = 255
    image = composite(alpha_true, seed=2)
    out = refined_alpha(unit, spec, image)
    assert (out[:, :40] == 255).all()  # left third: opaque everywhere, frame rows included
    assert (out[:, 70:] == 0).all()
    # the edge crosses the frame perpendicularly: the frame rows hold as much foreground as
    # the middle rows (a fade towards the frame would lose a few hundred levels per row)
    sums = out.astype(int).sum(axis=1)
    middle = np.median(sums[h // 4 : 3 * h // 4])
    assert abs(sums[0] - middle) <= 128 and abs(sums[-1] - middle) <= 128, (sums, middle)
    full = np.ones((32, 32), np.float32)
    assert (refined_alpha(full, spec, image) == 255).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 48), st.integers(1, 48),
       st.floats(0.3, 6), st.floats(0.25, 6), st.floats(0.5, 6))
def test_refine_alpha_narrow_band_is_exact(seed, h, w, upscale, radius, slack):
    # refine_alpha filters only a band of `slack` (not `radius`) around the edge, and in it
    # only the pixels whose clamp bounds differ: the clamp would undo any other change.
    # Compare with the unrestricted filter, clamped.
    rng = np.random.default_rng(seed)
    alpha = np.zeros((h, w), np.uint8)
    for _ in range(3):
        y, x, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, 12)
        alpha[max(0, y - r) : y + r, max(0, x - r) : x + r] = rng.choice([255, 255, 128, 0])
    alpha[rng.random((h, w)) < 0.01] = 255
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    r = max(1, round(radius * upscale))
    d = max(1.0, slack * upscale)
    full = R.refine_edges(image, alpha, radius=r, eps=1e-4)
    want = np.clip(full, grow_shrink(alpha, radius=-d), grow_shrink(alpha, radius=d))
    got = refine_alpha(alpha, image, upscale=upscale, radius=radius, slack=slack)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("resample", ["bilinear", "bicubic", "lanczos"])
def test_banded_upsampling_matches_one_full_resize(resample, monkeypatch):
    """Bands of output rows (small temporaries) give what one full-size resize gives."""
    from PIL import Image

    import matte.postprocess as P

    monkeypatch.setattr(P, "_BAND_PIXELS", 3000)  # many bands on a small image
    unit = np.random.default_rng(3).random((61, 47), dtype=np.float32)
    got = unit_to_alpha(unit, (500, 380), resample=resample)
    full = Image.fromarray(unit * np.float32(255), "F").resize((380, 500), P._FILTERS[resample])
    want = np.clip(np.rint(np.asarray(full)), 0, 255).astype(np.uint8)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.002
