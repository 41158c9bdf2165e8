import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from matte.models import load_catalog
from matte.preprocess import resize_rgb, to_tensor

CAT = load_catalog()


def reference_tensor(rgb, spec):
    """Straightforward float64 version of the reference preprocessing."""
    h, w = spec.input_size
    img = Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR, reducing_gap=3.0)
    x = np.asarray(img).astype(np.float64)
    if spec.scale == "unit":
        x = x / 255.0
    elif spec.scale == "max":
        x = x / max(x.max(), 1)
    x = (x - np.array(spec.mean)) / np.array(spec.std)
    return x.transpose(2, 0, 1)[None]


@pytest.mark.parametrize("model", ["isnet-medium", "u2netp"])
def test_matches_reference(model, astronaut):
    spec = CAT.get(model)
    got = to_tensor(astronaut, spec)
    want = reference_tensor(astronaut, spec)
    assert got.shape == (1, 3, *spec.input_size) and got.dtype == np.float32
    assert got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))),
       st.sampled_from(["isnet-medium", "u2netp"]))
def test_any_size_matches_reference(rgb, model):
    spec = CAT.get(model)
    np.testing.assert_allclose(to_tensor(rgb, spec), reference_tensor(rgb, spec), atol=1e-5)


def test_isnet_range():
    spec = CAT.get("isnet-medium")
    x = to_tensor(np.full((10, 10, 3), 255, np.uint8), spec)
    assert np.allclose(x, (255 - 128) / 256)
    x = to_tensor(np.zeros((10, 10, 3), np.uint8), spec)
    assert np.allclose(x, -0.5)


def test_out_is_reused_and_checked(astronaut):
    spec = CAT.get("u2netp")
    out = np.empty((1, 3, 320, 320), np.float32)
    assert to_tensor(astronaut, spec, out=out) is out
    with pytest.raises(ValueError, match="out must be"):
        to_tensor(astronaut, spec, out=np.empty((1, 3, 10, 10), np.float32))


def test_resize_rejects_bad_input():
    with pytest.raises(ValueError, match="rgb must be"):
        resize_rgb(np.zeros((4, 4), np.uint8), (2, 2))
    with pytest.raises(ValueError, match="resample"):
        resize_rgb(np.zeros((4, 4, 3), np.uint8), (2, 2), resample="cubic-ish")
