import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matte.models import load_catalog
from matte.postprocess import output_to_unit, to_alpha, unit_to_alpha

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
