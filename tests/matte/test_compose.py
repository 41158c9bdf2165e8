import pytest
from hypothesis import given
from hypothesis import strategies as st

from matte.compose import default_blur_radius


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_default_blur_radius_matches_reference(h, w):
    assert default_blur_radius((h, w)) == float(max(2, round(max(h, w) / 200)))
    assert default_blur_radius((h, w, 3)) == default_blur_radius((w, h))


@pytest.mark.parametrize("shape", [(), (5,), (0, 4), (4, -1), (2.0, 3), (True, 3)])
def test_default_blur_radius_rejects_bad_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        default_blur_radius(shape)
