"""The one compose pipeline (issue 12): reference compositing, and the page's export == the
CLI's file for the same choices."""

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from matte import cli, compose, composite
from matte.compose import default_blur_radius
from matte.decode import Decoded
from matte.session import EditSession


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_default_blur_radius_matches_reference(h, w):
    assert default_blur_radius((h, w)) == float(max(2, round(max(h, w) / 200)))
    assert default_blur_radius((h, w, 3)) == default_blur_radius((w, h))


@pytest.mark.parametrize("shape", [(), (5,), (0, 4), (4, -1), (2.0, 3), (True, 3)])
def test_default_blur_radius_rejects_bad_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        default_blur_radius(shape)


# ------------------------------------------------------------------------------------------
# layers and files

DATA = Path(__file__).resolve().parents[1] / "data"


def _photo(h: int = 120, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A real photo (the astronaut, downscaled) and a soft elliptical subject mask."""
    rgb = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB").resize((w, h)))
    yy, xx = np.ogrid[:h, :w]
    d = np.sqrt(((yy - 0.55 * h) / (0.3 * h)) ** 2 + ((xx - 0.45 * w) / (0.25 * w)) ** 2)
    alpha = np.clip((1 - d) * 255 * 6 + 128, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb), alpha


def test_flatten_matches_composite_reference():
    rgb, alpha = _photo()
    st = compose.Settings()
    np.testing.assert_array_equal(
        compose.compose(rgb, alpha, settings=st), composite.cutout(rgb, alpha)
    )
    red = compose.Settings(background="color", color=(200, 10, 30))
    np.testing.assert_array_equal(
        compose.compose(rgb, alpha, settings=red), composite.over_color(rgb, alpha, (200, 10, 30))
    )
    pic = np.asarray(Image.open(DATA / "coffee.jpg").convert("RGB"))
    np.testing.assert_array_equal(
        compose.compose(rgb, alpha, settings=compose.Settings(background="image"), bg_image=pic),
        composite.over_image(rgb, alpha, pic),
    )


def test_crop_rect_is_the_grown_subject_box():
    rgb, alpha = _photo()
    box = composite.subject_bbox(alpha)
    got = compose.crop_rect(alpha, None, settings=compose.Settings(crop=True, crop_margin=7))
    assert got == box.__class__(box.r0 - 7, box.c0 - 7, box.r1 + 7, box.c1 + 7).clip(alpha.shape)
    assert compose.crop_rect(alpha, None, settings=compose.Settings()) is None
    empty = np.zeros_like(alpha)
    assert compose.crop_rect(empty, None, settings=compose.Settings(crop=True)).area == alpha.size


def _cli_settings(**kw) -> cli.Settings:
    base = dict(spec=None, runner=None, format="png", quality=None, mask_only=False,
                bg_kind="transparent")
    base.update(kw)
    return cli.Settings(**base)


# (CLI settings, the same choices made in the editor given the background picture)
CASES = {
    "png-transparent": ({}, lambda s, pic: None),
    "webp-colour": ({"format": "webp", "quality": 80, "bg_kind": "color",
                     "bg_color": (30, 60, 200)},
                    lambda s, pic: s.set_background("color", color=(30, 60, 200))),
    "jpeg-transparent": ({"format": "jpeg", "quality": 85}, lambda s, pic: None),
    "blur-default": ({"bg_kind": "blur"}, lambda s, pic: s.set_background("blur")),
    "blur-radius": ({"bg_kind": "blur", "blur_radius": 9.0},
                    lambda s, pic: s.set_background("blur", blur=9.0)),
    "image": ({"bg_kind": "image", "bg_image": "coffee"},
              lambda s, pic: s.set_background("image", image=pic)),
    "crop-margin-px": ({"crop": True, "margin": 6}, lambda s, pic: s.set_crop(True, margin=6)),
    "crop-margin-fraction": ({"crop": True, "margin": 0.1, "bg_kind": "color",
                              "bg_color": (255, 255, 255)},
                             lambda s, pic: (s.set_crop(True, margin=0.1),
                                        s.set_background("color", color=(255, 255, 255)))),
    "decontaminate": ({"decontaminate": True}, lambda s, pic: s.set_decontaminate(True)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_file_is_the_page_export(case):
    """The CLI's file and the editor's download are the same bytes for the same choices."""
    rgb, alpha = _photo()
    kw, apply = CASES[case]
    pic = np.asarray(Image.open(DATA / "coffee.jpg").convert("RGB"))
    if kw.get("bg_image") == "coffee":
        kw = {**kw, "bg_image": pic}
    s = _cli_settings(**kw)
    icc = None
    page = EditSession(Decoded(rgb.copy(), None, icc, "JPEG"), alpha.copy(), name="p.jpg")
    apply(page, pic)
    data, _, _ = page.export(format=s.format, quality=s.quality)
    assert cli.render(rgb, alpha, icc, s) == data
    im = Image.open(io.BytesIO(data))
    if s.crop:
        assert im.size != (rgb.shape[1], rgb.shape[0])
    else:
        assert im.size == (rgb.shape[1], rgb.shape[0])


def test_cli_mask_is_the_page_mask_export():
    rgb, alpha = _photo()
    page = EditSession(Decoded(rgb, None, None, "JPEG"), alpha.copy(), name="p.jpg")
    page.set_crop(True)  # the mask is never cropped: it lines up with the photo
    data, _, _ = page.export(mask_only=True)
    assert cli.render(rgb, alpha, None, _cli_settings(mask_only=True)) == data
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), alpha)


def test_blur_default_scales_with_the_image():
    s = _cli_settings(bg_kind="blur")
    assert cli.output_settings(s, (3000, 4000)).blur == 20.0
    assert cli.output_settings(s, (120, 160)).blur == 2.0
    assert cli.output_settings(_cli_settings(bg_kind="blur", blur_radius=5.5), (10, 10)).blur == 5.5
