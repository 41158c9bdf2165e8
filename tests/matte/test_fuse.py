"""matte.fuse: the fusion rules against a plain-loop reference, and their properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from matte import fuse as F
from matte.models import load_catalog
from matte.postprocess import unit_to_alpha

CAT = load_catalog()
ISNET = CAT.model("isnet-medium")
U2 = CAT.model("u2netp")


# --------------------------------------------------------------------------------------------
# reference: the rules written out pixel by pixel


def _disk_filter(mask: np.ndarray, r: float, op) -> np.ndarray:
    """Erosion (op=min) / dilation (op=max) by the digital disk, pixels outside ignored."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    k = int(r)
    for y in range(h):
        for x in range(w):
            vals = [mask[yy, xx] for yy in range(max(0, y - k), min(h, y + k + 1))
                    for xx in range(max(0, x - k), min(w, x + k + 1))
                    if (yy - y) ** 2 + (xx - x) ** 2 <= r * r]
            out[y, x] = op(vals)
    return out


def _box(a: np.ndarray, r: int) -> np.ndarray:
    h, w = a.shape
    out = np.zeros(a.shape, np.float64)
    for y in range(h):
        for x in range(w):
            out[y, x] = a[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].mean()
    return out


def _up(a: np.ndarray, shape) -> np.ndarray:
    if a.shape == tuple(shape):
        return a.astype(np.float32)
    img = Image.fromarray(a.astype(np.float32), "F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), np.float32)


def reference(edges, regions, *, low=F.LOW, high=F.HIGH, wide_radius=F.WIDE_RADIUS,
              feather=F.FEATHER):
    h, w = regions.shape
    ky, kx = edges.shape[0] // h, edges.shape[1] // w
    coarse = edges.reshape(h, ky, w, kx).mean(axis=(1, 3))  # block means = BOX for k x k
    undecided = (coarse > low) & (coarse < high)
    if wide_radius >= 1:
        core = _disk_filter(undecided, wide_radius, min)
        wide = _disk_filter(core, wide_radius, max) & undecided
    else:
        wide = undecided
    weight = _box(wide.astype(np.float64), feather) if feather else wide.astype(np.float64)
    wf = _up(weight.astype(np.float32), edges.shape)
    rf = _up(regions, edges.shape)
    return np.clip(edges + wf * (rf - edges), 0, 1)


def _scene(rng, h=24, w=20, k=2):
    """An edges map with a decided object, a thin soft edge and a wide undecided patch."""
    e = np.zeros((h * k, w * k), np.float32)
    e[4 * k:14 * k, 2 * k:9 * k] = 1.0  # decided object
    e[4 * k:14 * k, 9 * k:10 * k] = 0.5  # one coarse pixel of soft edge beside it
    e[12 * k:22 * k, 10 * k:19 * k] = 0.45 + 0.1 * rng.random((10 * k, 9 * k))  # wide patch
    r = np.clip(rng.random((h, w)).astype(np.float32), 0, 1)
    return e, r


# --------------------------------------------------------------------------------------------
# against the reference


@pytest.mark.parametrize("wide_radius, feather", [(3.0, 1), (2.0, 0), (0.0, 2), (1.5, 1)])
def test_matches_reference(wide_radius, feather):
    rng = np.random.default_rng(3)
    e, r = _scene(rng)
    got = F.fuse_units(e, r, wide_radius=wide_radius, feather=feather)
    want = reference(e, r, wide_radius=wide_radius, feather=feather)
    assert got.shape == e.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), low=st.floats(0.0, 0.4), span=st.floats(0.2, 0.6),
       radius=st.sampled_from([0.0, 1.0, 2.0, 2.5]), feather=st.integers(0, 2))
def test_matches_reference_random(seed, low, span, radius, feather):
    rng = np.random.default_rng(seed)
    h, w, k = 9, 11, 2
    # blocky maps (so there are wide areas) plus noise
    e = np.kron(rng.random((3, 3)), np.ones((3 * k, 4 * k)))[:h * k, :w * k].astype(np.float32)
    e = np.clip(e + 0.05 * rng.standard_normal(e.shape), 0, 1).astype(np.float32)
    r = rng.random((h, w)).astype(np.float32)
    kw = dict(low=low, high=min(1.0, low + span), wide_radius=radius, feather=feather)
    np.testing.assert_allclose(F.fuse_units(e, r, **kw), reference(e, r, **kw), atol=1e-5)


# --------------------------------------------------------------------------------------------
# properties of the rules


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_decided_edges_pass_through(seed):
    """Where ISNet is decided everywhere (0/1 and soft pixels only in thin edges), nothing
    u2netp says changes a single value."""
    rng = np.random.default_rng(seed)
    e = (rng.random((8, 8)) > 0.5).astype(np.float32)
    e = np.kron(e, np.ones((8, 8), np.float32))  # 64x64 of decided blocks
    e[:, 31:33] = 0.5  # a soft edge two pixels wide on ISNet's grid
    r = rng.random((32, 32)).astype(np.float32)
    np.testing.assert_array_equal(F.fuse_units(e, r), e)


def test_wide_undecided_region_takes_u2netp():
    e = np.zeros((64, 64), np.float32)
    e[8:56, 8:56] = 0.5  # ISNet leaves a whole object half transparent
    for value in (0.0, 1.0, 0.7):
        r = np.full((32, 32), value, np.float32)
        out = F.fuse_units(e, r)
        np.testing.assert_allclose(out[16:48, 16:48], value, atol=1e-6)
        assert np.all(out[:4] == 0) and np.all(out[:, :4] == 0)  # far background untouched


def test_thin_soft_edge_is_kept_against_u2netp():
    e = np.zeros((64, 64), np.float32)
    e[:, :30] = 1.0
    e[:, 30:34] = np.linspace(0.8, 0.2, 4)  # a soft edge: ISNet's own, kept
    r = np.zeros((32, 32), np.float32)  # u2netp disagrees everywhere
    np.testing.assert_array_equal(F.fuse_units(e, r), e)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), d=st.floats(0.0, 0.5))
def test_monotone_in_u2netp_and_in_range(seed, d):
    rng = np.random.default_rng(seed)
    e = np.kron(rng.random((4, 4)), np.ones((16, 16))).astype(np.float32)
    r = rng.random((32, 32)).astype(np.float32)
    lo = F.fuse_units(e, r)
    hi = F.fuse_units(e, np.clip(r + d, 0, 1).astype(np.float32))
    assert lo.min() >= 0 and hi.max() <= 1
    assert np.all(hi >= lo - 1e-6)
    # and between the two inputs everywhere
    rf = _up(r, e.shape)
    assert np.all(lo >= np.minimum(e, rf) - 1e-5) and np.all(lo <= np.maximum(e, rf) + 1e-5)


def test_non_square_grids():
    e = np.full((48, 80), 0.5, np.float32)  # ISNet at another input size
    r = np.ones((20, 20), np.float32)
    out = F.fuse_units(e, r)
    assert out.shape == (48, 80)
    np.testing.assert_allclose(out[10:38, 10:70], 1.0, atol=1e-6)


@pytest.mark.parametrize("kw, name", [
    ({"low": 0.6, "high": 0.4}, "low"),
    ({"wide_radius": -1}, "wide_radius"),
    ({"feather": 1.5}, "feather"),
    ({"feather": -1}, "feather"),
])
def test_bad_options_name_the_parameter(kw, name):
    e = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match=name):
        F.fuse_units(e, e, **kw)


def test_bad_maps_name_the_argument():
    with pytest.raises(ValueError, match="regions"):
        F.fuse_units(np.zeros((8, 8), np.float32), np.zeros((8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="edges"):
        F.fuse_units(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.float32))


# --------------------------------------------------------------------------------------------
# fused_alpha: raw outputs to the image's alpha


def test_fused_alpha_shapes_and_plain_path():
    rng = np.random.default_rng(0)
    e, r = _scene(rng, h=32, w=32, k=2)  # ISNet-like 64x64 output, u2netp-like 32x32
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    raw_e = e[None, None]
    raw_r = (r * 7.0 - 2.0)[None, None]  # u2netp's range is min-max stretched
    plain = F.fused_alpha(raw_e, raw_r, image, edges=ISNET, regions=U2, refine=False)
    unit = F.fuse_units(e, (r - r.min()) / (r.max() - r.min()))
    np.testing.assert_array_equal(plain, unit_to_alpha(unit, (90, 120)))
    full = F.fused_alpha(raw_e, raw_r, image, edges=ISNET, regions=U2)
    assert full.shape == (90, 120) and full.dtype == np.uint8
    assert np.abs(full.astype(int) - plain.astype(int)).mean() < 20


def test_fused_alpha_rejects_a_shape_for_the_image():
    e = np.zeros((1, 1, 16, 16), np.float32)
    with pytest.raises(TypeError, match="image"):
        F.fused_alpha(e, e, (16, 16), edges=ISNET, regions=U2)
