"""Encoding results for download: PNG, WebP and JPEG bytes, mask PNG, file names.

Images are always encoded at their own (original) resolution.

Speed settings, measured on a 12 MP (4000 x 3000) noisy synthetic photo cut-out with Pillow 10.2
under CPython on a shared 2-core machine (``bench/bench_composite.py``). In Pyodide (run under
Node 20) PNG times were about the same and WebP took 2-3x longer:

=======================  ==========  ===========  ===================  ==================
PNG ``compress_level``   RGBA (s)    RGBA (MB)    RGBA cleared (s/MB)  RGB flat (s/MB)
=======================  ==========  ===========  ===================  ==================
1                        1.15        26.6         0.53 / 8.7           0.42 / 7.2
3                        1.66        25.5         0.81 / 8.6           0.73 / 7.2
4                        2.31        22.6         0.96 / 7.2           0.65 / 6.0
6 (Pillow's default)     8.72        22.7         -                    -
=======================  ==========  ===========  ===================  ==================

zlib levels 1-3 share the fast deflate and 4+ the lazy one, so the only real choice is 1
(fastest) or 4 (15-18 % smaller, about 2x slower); 6 and up cost 4x more for nothing on photos.
The default is :data:`PNG_COMPRESS_LEVEL` = 1: an export is a blocking wait in the browser and
a local save, so time matters more than 15 %; pass ``compress_level=4`` for a smaller file.
"RGBA cleared" is ``clear_transparent=True`` (a third of the frame visible): it makes cut-out
PNGs 3x smaller and 2x faster.

WebP lossless uses ``method=0`` (0.42 s, 21.1 MB here); ``method=1`` is 3x slower for 16 %
less. WebP lossy uses libwebp's default ``method=4`` (0.76 s, 0.39 MB at quality 90).
"""

from __future__ import annotations

import io
import numbers
import re
import unicodedata

import numpy as np
from PIL import Image

from matte.composite import ColorLike, _check_alpha, _check_image, _solid, over_color

__all__ = [
    "FORMATS",
    "PNG_COMPRESS_LEVEL",
    "encode",
    "extension",
    "mask_png",
    "mime_type",
    "normalize_format",
    "output_name",
]

PNG_COMPRESS_LEVEL = 1
"""Default zlib level for PNG (0 = store, 9 = smallest); see the module docstring."""

WEBP_QUALITY = 90
JPEG_QUALITY = 90
_WEBP_LOSSLESS_EFFORT = 25
_WEBP_LOSSLESS_METHOD = 0
_WEBP_LOSSY_METHOD = 4
_WEBP_MAX_SIDE = 16383
_JPEG_MAX_SIDE = 65500

FORMATS = ("png", "webp", "jpeg")
"""Canonical format names; :func:`normalize_format` also accepts aliases."""

_ALIASES = {"png": "png", "webp": "webp", "jpeg": "jpeg", "jpg": "jpeg", "jpe": "jpeg"}
_MIME = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
_EXT = {"png": ".png", "webp": ".webp", "jpeg": ".jpg"}


def normalize_format(format: str) -> str:
    """Canonical format name.

    Parameters
    ----------
    format : str
        ``'png'``, ``'webp'``, ``'jpeg'`` or an alias (``'jpg'``, ``'jpe'``, ``'image/png'``...),
        case-insensitive, with or without a leading dot.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    ValueError
        If the format is unknown.
    """
    if not isinstance(format, str):
        raise ValueError(f"format: expected a string such as 'png', got {format!r}")
    key = format.strip().lower().lstrip(".")
    key = key.removeprefix("image/")
    if key not in _ALIASES:
        raise ValueError(f"format: unknown format {format!r}; expected one of png, webp, jpeg")
    return _ALIASES[key]


def mime_type(format: str) -> str:
    """MIME type of ``format`` (``'image/png'``, ``'image/webp'``, ``'image/jpeg'``)."""
    return _MIME[normalize_format(format)]


def extension(format: str) -> str:
    """File extension of ``format`` with its dot (``'.png'``, ``'.webp'``, ``'.jpg'``)."""
    return _EXT[normalize_format(format)]


def _quality(quality: object, default: int) -> int:
    if quality is None:
        return default
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral):
        raise ValueError(f"quality: expected an int in 0..100, got {quality!r}")
    if not 0 <= quality <= 100:
        raise ValueError(f"quality: expected an int in 0..100, got {quality!r}")
    return int(quality)


def _compress_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not 0 <= level <= 9:
        raise ValueError(f"compress_level: expected an int in 0..9, got {level!r}")
    return int(level)


def encode(
    pixels: np.ndarray,
    *,
    format: str = "png",
    quality: int | None = None,
    lossless: bool = False,
    icc_profile: bytes | None = None,
    background: ColorLike = "white",
    compress_level: int = PNG_COMPRESS_LEVEL,
    clear_transparent: bool = False,
) -> bytes:
    """Encode an RGB or RGBA image to PNG, WebP or JPEG bytes, at its own resolution.

    Parameters
    ----------
    pixels : ndarray of shape (H, W, 3) or (H, W, 4), dtype uint8
        RGB, or straight-alpha RGBA (e.g. from :func:`matte.composite.cutout`).
    format : str
        ``'png'``, ``'webp'`` or ``'jpeg'`` (aliases such as ``'jpg'``, any case).
    quality : int, optional
        0..100 for lossy WebP (default 90) and JPEG (default 90); ignored by PNG and lossless
        WebP.
    lossless : bool
        WebP only: lossless (exact RGBA, including RGB under fully transparent pixels) instead
        of lossy (the alpha plane is still lossless). ``True`` with JPEG is an error.
    icc_profile : bytes, optional
        ICC profile to embed (e.g. the input's), for every format.
    background : ColorLike
        JPEG only: the colour RGBA input is flattened on (JPEG has no alpha).
    compress_level : int
        PNG zlib level 0..9 (default :data:`PNG_COMPRESS_LEVEL`).
    clear_transparent : bool
        Set RGB to 0 where alpha is 0 before encoding. Off by default so the RGBA round-trips
        exactly; turning it on stops the removed background surviving, invisible, in the RGB of
        a PNG/WebP-lossless file, and makes such PNGs several times smaller and faster.

    Returns
    -------
    bytes
        The encoded file.

    Raises
    ------
    ValueError
        On an unknown format, a bad quality/compress_level/background, ``lossless`` with JPEG,
        or an image too large for the format.
    """
    _check_image(pixels, "pixels", channels=(3, 4))
    fmt = normalize_format(format)
    if not isinstance(lossless, bool | np.bool_):
        raise ValueError(f"lossless: expected a bool, got {lossless!r}")
    if icc_profile is not None and not isinstance(icc_profile, bytes | bytearray | memoryview):
        raise ValueError(f"icc_profile: expected bytes or None, got {type(icc_profile).__name__}")
    icc = bytes(icc_profile) if icc_profile else None
    h, w, ch = pixels.shape
    if h == 0 or w == 0:
        raise ValueError(f"pixels: cannot encode an empty image of shape {pixels.shape}")
    if ch == 4 and clear_transparent:
        pixels = pixels.copy()
        hidden = pixels[..., 3] == 0
        for c in range(3):
            pixels[..., c][hidden] = 0
    extra: dict[str, object] = {}
    if icc:
        extra["icc_profile"] = icc

    if fmt == "png":
        level = _compress_level(compress_level)
        _quality(quality, 0)  # validated, unused
        im = Image.fromarray(np.ascontiguousarray(pixels), "RGBA" if ch == 4 else "RGB")
        return _save(im, "PNG", compress_level=level, **extra)

    if fmt == "webp":
        if max(h, w) > _WEBP_MAX_SIDE:
            raise ValueError(
                f"pixels: {w}x{h} is too large for WebP (at most {_WEBP_MAX_SIDE} px a side); "
                "use PNG or JPEG"
            )
        q = _quality(quality, WEBP_QUALITY)
        im = Image.fromarray(np.ascontiguousarray(pixels), "RGBA" if ch == 4 else "RGB")
        if lossless:
            return _save(
                im,
                "WEBP",
                lossless=True,
                quality=_WEBP_LOSSLESS_EFFORT,
                method=_WEBP_LOSSLESS_METHOD,
                exact=True,
                **extra,
            )
        return _save(im, "WEBP", quality=q, method=_WEBP_LOSSY_METHOD, **extra)

    # jpeg
    if lossless:
        raise ValueError("lossless: JPEG cannot be lossless; use PNG or WebP with lossless=True")
    if max(h, w) > _JPEG_MAX_SIDE:
        raise ValueError(f"pixels: {w}x{h} is too large for JPEG (at most {_JPEG_MAX_SIDE} px)")
    q = _quality(quality, JPEG_QUALITY)
    bg = _solid(background, "background")
    rgb = over_color(pixels[..., :3], pixels[..., 3], bg) if ch == 4 else pixels
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    # 4:4:4 chroma at high quality keeps cut-out edges and thin coloured detail clean.
    return _save(im, "JPEG", quality=q, subsampling=0 if q >= 90 else 2, **extra)


def _save(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def mask_png(alpha: np.ndarray, *, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """The matte as an 8-bit greyscale PNG (white = subject).

    Parameters
    ----------
    alpha : ndarray of shape (H, W), dtype uint8
    compress_level : int
        zlib level 0..9.

    Returns
    -------
    bytes
    """
    _check_alpha(alpha)
    if alpha.size == 0:
        raise ValueError(f"alpha: cannot encode an empty mask of shape {alpha.shape}")
    im = Image.fromarray(np.ascontiguousarray(alpha), "L")
    return _save(im, "PNG", compress_level=_compress_level(compress_level))


_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_EXT_RE = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_MAX_STEM_BYTES = 150


def output_name(input_name: str | None, *, format: str = "png", suffix: str = "-matte") -> str:
    """Download file name for a result: ``'photo.jpg'`` -> ``'photo-matte.png'``.

    The directory part (``/`` or ``\\``) and the extension (a final ``.xxx`` of 1-5 letters or
    digits) are dropped; characters not allowed in file names on common systems and control
    characters become ``_``; invisible format characters (e.g. right-to-left overrides that
    could disguise the extension) are removed; leading and trailing dots and spaces go; the stem
    is cut to 150 UTF-8 bytes. An empty result (``''``, ``None``, ``'.png'``) falls back to
    ``'image'``.

    Parameters
    ----------
    input_name : str or None
        The uploaded file's name (may be a path, or empty).
    format : str
        Output format (gives the extension: ``.png``, ``.webp``, ``.jpg``).
    suffix : str
        Appended to the stem (sanitised the same way).

    Returns
    -------
    str
    """
    ext = extension(format)
    if not isinstance(suffix, str):
        raise ValueError(f"suffix: expected a string, got {suffix!r}")
    name = input_name if isinstance(input_name, str) else ""
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1].strip()
    stem = _clean(_EXT_RE.sub("", name))
    stem = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", "ignore")
    stem = stem.rstrip(". ") or "image"
    return f"{stem}{_clean(suffix, edges=False)}{ext}"


def _clean(text: str, *, edges: bool = True) -> str:
    text = _UNSAFE.sub("_", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    return text.strip(". ") if edges else text
