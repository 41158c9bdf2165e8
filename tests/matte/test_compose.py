import pytest
from hypothesis import given
from hypothesis import strategies as st

from matte.compose import ComposeSettings, default_blur_radius


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_default_blur_radius_matches_reference(h, w):
    assert default_blur_radius((h, w)) == float(max(2, round(max(h, w) / 200)))
    assert default_blur_radius((h, w, 3)) == default_blur_radius((w, h))


@pytest.mark.parametrize("shape", [(), (5,), (0, 4), (4, -1), (2.0, 3), (True, 3)])
def test_default_blur_radius_rejects_bad_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        default_blur_radius(shape)


def test_settings_defaults_and_format_alias():
    s = ComposeSettings(format="jpg", quality=80)
    assert s.format == "jpeg" and s.background == "transparent" and s.blur is None
    with pytest.raises(AttributeError):
        s.crop = True  # frozen


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"background": "plaid"}, "background"),
        ({"color": (0, 0, 256)}, "color"),
        ({"color": [0, 0, 0]}, "color"),
        ({"blur": 0}, "blur"),
        ({"blur": float("nan")}, "blur"),
        ({"margin": -1}, "margin"),
        ({"margin": 1.5}, "margin"),
        ({"margin": True}, "margin"),
        ({"quality": 101}, "quality"),
        ({"mask_only": True, "format": "webp"}, "format"),
    ],
)
def test_settings_errors_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        ComposeSettings(**kwargs)
