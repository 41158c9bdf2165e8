"""Tests for matte.export: round trips through Pillow for every format, names, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from matte.composite import cutout, over_color
from matte.export import (
    FORMATS,
    encode,
    extension,
    mask_png,
    mime_type,
    normalize_format,
    output_name,
)


def _decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _scene(h=48, w=64, seed=0):
    """Smooth photo-like RGB (lossy codecs behave) with noise, and a soft-edged disk matte."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)).copy()
    yy, xx = np.mgrid[:h, :w]
    alpha = np.clip((h * 0.35 - np.hypot(yy - h / 2, xx - w / 2)) * 60, 0, 255).astype(np.uint8)
    return image, alpha


@pytest.fixture(scope="module")
def icc() -> bytes:
    try:
        from PIL import ImageCms

        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:  # pragma: no cover - Pillow without littlecms
        return b"\0\0\2\0fake-icc-profile" * 20


def test_png_rgba_round_trip_is_exact():
    image, alpha = _scene()
    rgba = cutout(image, alpha)
    im = _decode(encode(rgba, format="png"))
    assert im.format == "PNG" and im.mode == "RGBA" and im.size == (64, 48)
    np.testing.assert_array_equal(np.asarray(im), rgba)


@pytest.mark.parametrize("level", [0, 1, 9])
def test_png_rgb_round_trip_is_exact_at_any_level(level):
    image, _ = _scene(seed=1)
    im = _decode(encode(image, format="PNG", compress_level=level))
    assert im.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(im), image)


def test_png_compress_level_trades_size():
    image, alpha = _scene(96, 128)
    rgba = cutout(image, alpha)
    assert len(encode(rgba, compress_level=0)) > len(encode(rgba, compress_level=9))


def test_webp_lossless_round_trip_is_exact_including_hidden_rgb():
    image, alpha = _scene(seed=2)
    rgba = cutout(image, alpha)
    assert (alpha == 0).any()
    im = _decode(encode(rgba, format="webp", lossless=True))
    assert im.format == "WEBP" and im.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(im), rgba)


def test_webp_lossy_keeps_alpha_and_is_close():
    image, alpha = _scene(seed=3)
    rgba = cutout(image, alpha)
    hi = np.asarray(_decode(encode(rgba, format="webp", quality=90))).astype(int)
    lo_bytes = encode(rgba, format="webp", quality=10)
    assert hi.shape == (48, 64, 4)
    assert np.abs(hi[..., 3] - alpha).max() <= 2  # alpha plane is coded losslessly
    keep = alpha == 255
    err = np.abs(hi[..., :3] - image)[keep]
    assert err.mean() < 3 and err.max() < 40, (err.mean(), err.max())
    assert len(lo_bytes) < len(encode(rgba, format="webp", quality=90))


def test_webp_rgb_input():
    image, _ = _scene(seed=4)
    im = _decode(encode(image, format="webp", lossless=True))
    assert im.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(im), image)


def test_jpeg_has_no_alpha_and_is_flattened_on_background():
    image, alpha = _scene(seed=5)
    rgba = cutout(image, alpha)
    data = encode(rgba, format="jpg", quality=95, background="#00ff00")
    im = _decode(data)
    assert im.format == "JPEG" and im.mode == "RGB"
    got = np.asarray(im).astype(int)
    gone = alpha == 0
    assert np.abs(got[gone] - [0, 255, 0]).mean() < 3  # transparent areas are the background
    want = over_color(image, alpha, (0, 255, 0)).astype(int)
    assert np.abs(got - want).mean() < 3
    # a different background really changes the pixels (the test can fail)
    other = np.asarray(_decode(encode(rgba, format="jpeg", background="black"))).astype(int)
    assert np.abs(other[gone] - [0, 0, 0]).mean() < 3


def test_jpeg_quality_changes_size_and_rgb_input_works():
    image, _ = _scene(96, 128, seed=6)
    small, big = encode(image, format="jpeg", quality=20), encode(image, format="jpeg", quality=95)
    assert len(small) < len(big)
    assert np.abs(np.asarray(_decode(big)).astype(int) - image).mean() < 3


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("channels", [3, 4])
def test_icc_profile_is_kept(fmt, channels, icc):
    image, alpha = _scene(16, 16)
    px = image if channels == 3 else cutout(image, alpha)
    im = _decode(encode(px, format=fmt, icc_profile=icc))
    assert im.info.get("icc_profile") == icc
    assert not _decode(encode(px, format=fmt)).info.get("icc_profile")


def test_clear_transparent_zeroes_only_hidden_rgb():
    image, alpha = _scene(seed=7)
    rgba = cutout(image, alpha)
    before = rgba.copy()
    for fmt, kw in (("png", {}), ("webp", {"lossless": True})):
        got = np.asarray(_decode(encode(rgba, format=fmt, clear_transparent=True, **kw)))
        gone = alpha == 0
        assert (got[gone][:, :3] == 0).all()
        np.testing.assert_array_equal(got[~gone], rgba[~gone])
        np.testing.assert_array_equal(got[..., 3], alpha)
    np.testing.assert_array_equal(rgba, before)  # input untouched


def test_mask_png_round_trip():
    _, alpha = _scene(seed=8)
    im = _decode(mask_png(alpha))
    assert im.format == "PNG" and im.mode == "L"
    np.testing.assert_array_equal(np.asarray(im), alpha)
    with pytest.raises(ValueError, match="alpha"):
        mask_png(np.zeros((4, 4, 3), np.uint8))


@pytest.mark.parametrize(
    ("given", "canonical", "mime", "ext"),
    [
        ("png", "png", "image/png", ".png"),
        ("PNG", "png", "image/png", ".png"),
        (".webp", "webp", "image/webp", ".webp"),
        ("jpg", "jpeg", "image/jpeg", ".jpg"),
        ("JPEG", "jpeg", "image/jpeg", ".jpg"),
        (" image/jpeg ", "jpeg", "image/jpeg", ".jpg"),
    ],
)
def test_format_aliases(given, canonical, mime, ext):
    assert normalize_format(given) == canonical
    assert mime_type(given) == mime
    assert extension(given) == ext


@pytest.mark.parametrize("bad", ["gif", "", "pn g", None, 3])
def test_unknown_format_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="^format:"):
        encode(np.zeros((2, 2, 3), np.uint8), format=bad)
    with pytest.raises(ValueError, match="^format:"):
        mime_type(bad)


@pytest.mark.parametrize("bad", [-1, 101, 1.5, "90", True])
@pytest.mark.parametrize("fmt", ["webp", "jpeg", "png"])
def test_bad_quality_is_a_clear_error(bad, fmt):
    with pytest.raises(ValueError, match="^quality:"):
        encode(np.zeros((2, 2, 3), np.uint8), format=fmt, quality=bad)


def test_other_parameter_errors():
    px = np.zeros((2, 2, 4), np.uint8)
    with pytest.raises(ValueError, match="^lossless:.*JPEG"):
        encode(px, format="jpeg", lossless=True)
    with pytest.raises(ValueError, match="^compress_level:"):
        encode(px, compress_level=10)
    with pytest.raises(ValueError, match="^background:"):
        encode(px, format="jpeg", background="transparent")
    with pytest.raises(ValueError, match="^pixels:"):
        encode(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="^pixels:"):
        encode(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="^pixels:.*WebP"):
        encode(np.zeros((1, 16384, 3), np.uint8), format="webp")
    with pytest.raises(ValueError, match="^icc_profile:"):
        encode(px, icc_profile="srgb")


@pytest.mark.parametrize(
    ("name", "fmt", "want"),
    [
        ("photo.jpg", "png", "photo-matte.png"),
        ("photo.JPEG", "webp", "photo-matte.webp"),
        ("/home/me/pics/photo.png", "jpeg", "photo-matte.jpg"),
        ("C:\\Users\\me\\IMG 0001.HEIC", "png", "IMG 0001-matte.png"),
        ("archive.tar.gz", "png", "archive.tar-matte.png"),
        ("no extension", "png", "no extension-matte.png"),
        ("version 1.final draft", "png", "version 1.final draft-matte.png"),
        ("a:b*c?d|e.png", "png", "a_b_c_d_e-matte.png"),
        ("  spaced  .png", "png", "spaced-matte.png"),
        ("evil\u202egnp.exe", "png", "evilgnp-matte.png"),
        ("tab\there.png", "png", "tab_here-matte.png"),
        ("résumé.jpg", "png", "résumé-matte.png"),
        ("写真.jpg", "png", "写真-matte.png"),
        (".png", "png", "image-matte.png"),
        ("...", "png", "image-matte.png"),
        ("", "png", "image-matte.png"),
        (None, "png", "image-matte.png"),
        ("dir/", "png", "image-matte.png"),
    ],
)
def test_output_name(name, fmt, want):
    assert output_name(name, format=fmt) == want


def test_output_name_suffix_and_length():
    assert output_name("a.png", format="png", suffix="") == "a.png"
    assert output_name("a.png", format="png", suffix="_cut/out") == "a_cut_out.png"
    long = output_name("é" * 500 + ".png", format="png")
    stem = long.removesuffix("-matte.png")
    assert len(stem.encode("utf-8")) <= 150 and set(stem) == {"é"}
    with pytest.raises(ValueError, match="^format:"):
        output_name("a.png", format="bmp")
