import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from matte.decode import decode, read_size
from matte.errors import DecodeError, ImageTooLargeError
from tests.conftest import encode


def test_jpeg_roundtrip(astronaut_bytes, astronaut):
    d = decode(astronaut_bytes)
    assert d.format == "JPEG" and d.shape == (512, 512) and d.alpha is None
    assert d.rgb.dtype == np.uint8 and d.rgb.shape == (512, 512, 3)
    np.testing.assert_array_equal(d.rgb, astronaut)


@pytest.mark.parametrize("bad, msg", [
    (b"", "empty"),
    (b"just some text, renamed to .png\n", "not an image"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
    (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00", "AVIF"),
])
def test_not_images(bad, msg):
    with pytest.raises(DecodeError, match=msg):
        decode(bad)


def test_truncated_jpeg(astronaut_bytes):
    with pytest.raises(DecodeError, match="(?i)truncated|damaged"):
        decode(astronaut_bytes[: len(astronaut_bytes) // 2])


def test_corrupt_png_chunk():
    data = bytearray(encode(np.full((40, 40, 3), 90, np.uint8)))
    idat = data.find(b"IDAT")
    data[idat + 8: idat + 20] = b"\xff" * 12  # garble the compressed stream
    with pytest.raises(DecodeError):
        decode(bytes(data))


def _png_header_only(w, h):
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) \
        + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding():
    bomb = _png_header_only(100000, 100000)
    assert len(bomb) < 100
    with pytest.raises(ImageTooLargeError, match=r"100000x100000 \(10000.0 MP\).*50.0 MP"):
        decode(bomb)
    assert read_size(bomb) == (100000, 100000)


def test_limit_is_configurable():
    data = encode(np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(ImageTooLargeError, match="40x30"):
        decode(data, max_pixels=1000)
    assert decode(data, max_pixels=1200).shape == (30, 40)
    assert decode(data, max_pixels=None).shape == (30, 40)
    with pytest.raises(ValueError, match="max_pixels"):
        decode(data, max_pixels=0)


def test_tiny_and_panorama():
    assert decode(encode(np.array([[[1, 2, 3]]], np.uint8))).shape == (1, 1)
    pano = decode(encode(np.zeros((500, 20000, 3), np.uint8)))
    assert pano.shape == (500, 20000)


def test_16bit_grey_png_keeps_high_byte():
    a = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024)
    buf = io.BytesIO()
    Image.fromarray(a, "I;16").save(buf, "PNG")
    d = decode(buf.getvalue())
    want = np.clip((a.astype(int) + 128) // 257, 0, 255)
    np.testing.assert_array_equal(d.rgb[:, :, 0], want)
    assert (d.rgb[:, :, 0] == d.rgb[:, :, 2]).all()


def test_cmyk_jpeg_becomes_rgb():
    img = Image.new("CMYK", (16, 12), (0, 255, 255, 0))  # pure red in CMYK
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    d = decode(buf.getvalue())
    assert d.rgb.shape == (12, 16, 3)
    r, g, b = d.rgb[6, 8].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_palette_with_transparency_gives_alpha():
    img = Image.new("P", (10, 10), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(0, (0, 0, 5, 10))
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=0)
    d = decode(buf.getvalue())
    assert d.alpha is not None
    assert (d.alpha[:, :5] == 0).all() and (d.alpha[:, 5:] == 255).all()
    assert tuple(d.rgb[0, 9]) == (255, 0, 0)


def test_grey_with_alpha():
    la = np.zeros((6, 6, 2), np.uint8)
    la[..., 0] = 200
    la[..., 1] = np.arange(6)[None, :] * 50
    d = decode(encode(la, "PNG"))
    assert (d.rgb == 200).all()
    np.testing.assert_array_equal(d.alpha, la[..., 1])


def test_opaque_alpha_is_dropped():
    rgba = np.full((4, 4, 4), 255, np.uint8)
    assert decode(encode(rgba)).alpha is None


def test_animated_gif_first_frame_with_note():
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    d = decode(buf.getvalue())
    assert d.rgb[4, 4, 0] > 200 and d.rgb[4, 4, 2] < 50
    assert any("first of 2 frames" in n for n in d.notes)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations(orientation):
    # A 2x3 (h x w) image with a unique marker pixel; EXIF says how to rotate it for display.
    a = np.zeros((20, 30, 3), np.uint8)
    a[:10, :10] = 255  # top-left block marks the stored origin
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    d = decode(buf.getvalue())
    want = np.asarray(Image.fromarray(a).transpose(_TRANSPOSE[orientation])) \
        if orientation > 1 else a
    assert d.shape == want.shape[:2]
    assert np.abs(d.rgb.astype(int) - want.astype(int)).mean() < 6


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def test_icc_profile_kept_for_rgb():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", icc_profile=icc)
    assert decode(buf.getvalue()).icc_profile == icc


def test_type_error_for_non_bytes():
    with pytest.raises(TypeError, match="bytes"):
        decode("photo.jpg")
