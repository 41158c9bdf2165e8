"""Compositing a cut-out subject: transparent cut-out, solid colour, image or blurred background.

All functions take the original ``image`` (``(H, W, 3) uint8`` RGB) and the matte ``alpha``
(``(H, W) uint8``, 255 = keep) and return new ``uint8`` arrays at the original resolution.

Blending is integer arithmetic with exact rounding::

    out = (F * a + B * (255 - a) + 127) // 255        # == round(F * a/255 + B * (1 - a/255))

so ``a == 255`` gives the foreground ``F`` bit-exact and ``a == 0`` gives the background ``B``
bit-exact. The sum fits ``uint16`` and the division by 255 is done with shifts, so no float
temporaries are made; large images are processed in strips of rows to bound the temporaries
(a few MB whatever the image size).

A drop shadow (:class:`Shadow`) sits between the background and the subject. On opaque
backgrounds it darkens the background; on a transparent cut-out it becomes part of the alpha
(and its colour part of the RGB where the subject does not cover it).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image, ImageColor, ImageFilter

from matte.geometry import Rect

__all__ = [
    "RGB",
    "ColorLike",
    "Shadow",
    "background_blur",
    "cover_fit",
    "crop_to_subject",
    "cutout",
    "drop_shadow",
    "over_blur",
    "over_color",
    "over_image",
    "parse_color",
    "subject_bbox",
]

RGB = tuple[int, int, int]
ColorLike = str | Sequence[int]
"""A colour: ``(r, g, b)`` ints in 0..255, ``'#rgb'``, ``'#rrggbb'``, ``'rgb(r, g, b)'`` or a CSS
colour name (``'white'``, ``'black'``, ...). ``'transparent'`` is accepted where it makes sense."""

_STRIP_PIXELS = 1 << 19  # pixels per strip: temporaries stay around 3-6 MB
_DEFAULT_THRESHOLD = 8
_HEX = re.compile(r"[0-9a-f]+")

# --------------------------------------------------------------------------------------------
# validation helpers (shared with matte.overlay and matte.export)


def _check_image(
    image: np.ndarray, name: str = "image", *, channels: tuple[int, ...] = (3,)
) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] not in channels:
        want = " or ".join(f"(H, W, {c})" for c in channels)
        raise ValueError(f"{name}: expected shape {want}, got {image.shape}")
    return image


def _check_alpha(
    alpha: np.ndarray, shape: tuple[int, ...] | None = None, name: str = "alpha"
) -> np.ndarray:
    if not isinstance(alpha, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(alpha).__name__}")
    if alpha.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8, got {alpha.dtype}")
    if alpha.ndim != 2:
        raise ValueError(f"{name}: expected shape (H, W), got {alpha.shape}")
    if shape is not None and alpha.shape != tuple(shape[:2]):
        raise ValueError(
            f"{name}: shape {alpha.shape} does not match the image's (H, W) {tuple(shape[:2])}"
        )
    return alpha


def _check_out(out: np.ndarray | None, shape: tuple[int, ...], name: str = "out") -> np.ndarray:
    if out is None:
        return np.empty(shape, np.uint8)
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != shape:
        got = (out.shape, out.dtype) if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"{name}: expected a uint8 array of shape {shape}, got {got}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: array is read-only")
    return out


def _finite(value: object, name: str, *, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f" in [{lo}, {hi}]" if hi is not None else (f" >= {lo}" if lo is not None else "")
        raise ValueError(f"{name}: expected a finite number{rng}, got {value!r}")
    return v


def _strips(h: int, w: int) -> Iterator[slice]:
    step = max(1, _STRIP_PIXELS // max(w, 1))
    for r in range(0, h, step):
        yield slice(r, min(r + step, h))


# --------------------------------------------------------------------------------------------
# colours


def parse_color(color: ColorLike, *, name: str = "color") -> RGB | None:
    """Parse a colour into an ``(r, g, b)`` tuple of ints in 0..255.

    Parameters
    ----------
    color : str or sequence of 3 ints
        ``(r, g, b)`` (ints 0..255), ``'#rgb'``, ``'#rrggbb'``, ``'rgb(r, g, b)'``, ``'hsl(...)'``
        or a CSS colour name such as ``'white'`` or ``'black'`` (case-insensitive). ``'#rgba'``
        and ``'#rrggbbaa'`` are accepted only when fully opaque. ``'transparent'`` (or ``'none'``)
        returns ``None``.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    tuple of 3 int or None
        The colour, or ``None`` for ``'transparent'``.

    Raises
    ------
    ValueError
        If the colour cannot be parsed; the message names ``name`` and the accepted forms.
    """
    forms = "use '#rrggbb', '#rgb', (r, g, b) with ints 0-255 or a CSS name such as 'white'"
    if isinstance(color, str):
        s = color.strip().lower()
        if s in ("transparent", "none"):
            return None
        if s.startswith("#"):
            digits = s[1:]
            if not _HEX.fullmatch(digits) or len(digits) not in (3, 4, 6, 8):
                raise ValueError(f"{name}: {color!r} is not a hex colour; {forms}")
        try:
            rgb = ImageColor.getrgb(s)
        except ValueError:
            raise ValueError(f"{name}: unknown colour {color!r}; {forms}") from None
        if len(rgb) == 4:
            if rgb[3] != 255:
                raise ValueError(
                    f"{name}: {color!r} is partly transparent; only opaque colours are supported"
                )
            rgb = rgb[:3]
        if not all(0 <= v <= 255 for v in rgb):
            raise ValueError(f"{name}: {color!r} has components outside 0-255")
        return (int(rgb[0]), int(rgb[1]), int(rgb[2]))
    if isinstance(color, np.ndarray):
        color = color.tolist()
    if isinstance(color, Sequence) and len(color) == 3:
        out = []
        for c in color:
            if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c <= 255:
                raise ValueError(f"{name}: {color!r} is not an (r, g, b) colour; {forms}")
            out.append(int(c))
        return (out[0], out[1], out[2])
    raise ValueError(f"{name}: {color!r} is not a colour; {forms}")


def _solid(color: ColorLike, name: str) -> RGB:
    rgb = parse_color(color, name=name)
    if rgb is None:
        raise ValueError(
            f"{name}: 'transparent' has no colour to flatten on; use cutout() for a transparent "
            "result"
        )
    return rgb


# --------------------------------------------------------------------------------------------
# integer blending


def _round255(t: np.ndarray) -> None:
    """In place ``t = round(t / 255)`` for uint16 ``0 <= t <= 65025``.

    ``(u + (u >> 8)) >> 8`` with ``u = t + 128`` equals ``(t + 127) // 255`` on that range
    (checked exhaustively in the tests) and never overflows (``u + (u >> 8) <= 65407``).
    """
    t += 128
    t += t >> 8
    t >>= 8


def _mix(fg: np.ndarray | RGB, a: np.ndarray, bg: np.ndarray | RGB, out: np.ndarray) -> None:
    """``out = round((fg * a + bg * (255 - a)) / 255)``, exactly.

    ``fg`` and ``bg`` are (h, w, 3) uint8 arrays or ``(r, g, b)`` constants, ``a`` is (h, w)
    uint8 and ``out`` (h, w, 3) uint8. Works channel by channel on contiguous (h, w) uint16
    planes: broadcasting ``a[..., None]`` against (h, w, 3) defeats numpy's SIMD loops and is
    about 5x slower.
    """
    a16 = a.astype(np.uint16)
    inv = 255 - a16
    for c in range(3):
        if isinstance(fg, tuple):
            t = a16 * np.uint16(fg[c])
        else:
            t = np.multiply(fg[..., c], a16, dtype=np.uint16)
        if isinstance(bg, tuple):
            t += inv * np.uint16(bg[c])
        else:
            t += np.multiply(bg[..., c], inv, dtype=np.uint16)
        _round255(t)
        out[..., c] = t


# --------------------------------------------------------------------------------------------
# shadow


@dataclass(frozen=True)
class Shadow:
    """Drop-shadow options.

    Attributes
    ----------
    offset : (float, float)
        ``(dy, dx)`` shift of the shadow in pixels (positive = down, right).
    blur : float
        Gaussian blur radius (standard deviation) in pixels; 0 for a hard shadow.
    opacity : float
        Shadow opacity in [0, 1] where the subject is opaque.
    color : ColorLike
        Shadow colour.
    """

    offset: tuple[float, float] = (8.0, 8.0)
    blur: float = 10.0
    opacity: float = 0.5
    color: ColorLike = "black"


def _as_shadow(shadow: Shadow | Mapping[str, object] | bool | None) -> Shadow | None:
    if shadow is None or shadow is False:
        return None
    if shadow is True:
        return Shadow()
    if isinstance(shadow, Shadow):
        return shadow
    if isinstance(shadow, Mapping):
        known = {f.name for f in fields(Shadow)}
        unknown = set(shadow) - known
        if unknown:
            raise ValueError(
                f"shadow: unknown option(s) {sorted(map(str, unknown))}; expected {sorted(known)}"
            )
        return Shadow(**shadow)  # type: ignore[arg-type]
    raise ValueError(f"shadow: expected a Shadow, a mapping of its options or None, got {shadow!r}")


def _gaussian(im: Image.Image, radius: float) -> Image.Image:
    """Pillow Gaussian blur (``radius`` = standard deviation in px) of an 8-bit image.

    For ``radius >= 8`` the blur runs on a copy box-reduced by ``f = radius // 4`` (so the
    reduced radius is 4-5 px) and is upscaled bilinearly: the extra smoothing adds about 1 %
    to the effective radius, and it is several times faster and lighter than a full-size blur.
    """
    if radius <= 0:
        return im
    f = int(radius // 4) if radius >= 8 else 1
    if f == 1:
        return im.filter(ImageFilter.GaussianBlur(radius))
    w, h = im.size
    small = im.reduce(f).filter(ImageFilter.GaussianBlur(radius / f))
    return small.resize((w, h), Image.Resampling.BILINEAR, box=(0, 0, w / f, h / f))


def _shadow_coverage(
    alpha: np.ndarray, offset: object, blur: object, opacity: object
) -> np.ndarray:
    """The shadow's own alpha, ``(H, W) uint8``: alpha shifted, blurred and scaled by opacity."""
    if not isinstance(offset, Sequence) or isinstance(offset, str) or len(offset) != 2:
        raise ValueError(f"shadow offset: expected (dy, dx) in pixels, got {offset!r}")
    dy = round(_finite(offset[0], "shadow offset"))
    dx = round(_finite(offset[1], "shadow offset"))
    radius = _finite(blur, "shadow blur", lo=0.0)
    k = round(_finite(opacity, "shadow opacity", lo=0.0, hi=1.0) * 255)
    h, w = alpha.shape
    shifted = np.zeros((h, w), np.uint8)
    if k == 0 or abs(dy) >= h or abs(dx) >= w:
        return shifted
    shifted[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = alpha[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    if radius == 0 and k == 255:
        return shifted
    im = _gaussian(Image.fromarray(shifted, "L"), radius)
    if k < 255:
        im = im.point([(v * k + 127) // 255 for v in range(256)])
    return np.asarray(im).copy()


def drop_shadow(
    alpha: np.ndarray,
    *,
    offset: tuple[float, float] = (8.0, 8.0),
    blur: float = 10.0,
    opacity: float = 0.5,
    color: ColorLike = "black",
) -> np.ndarray:
    """Shadow layer cast by the subject.

    Parameters
    ----------
    alpha : ndarray of shape (H, W), dtype uint8
        Subject matte (255 = subject).
    offset : (float, float)
        ``(dy, dx)`` shift in pixels (rounded to whole pixels; positive = down, right).
    blur : float
        Gaussian blur radius (standard deviation, Pillow ``GaussianBlur``) in pixels, >= 0.
    opacity : float
        Shadow opacity in [0, 1].
    color : ColorLike
        Shadow colour.

    Returns
    -------
    ndarray of shape (H, W, 4), dtype uint8
        Straight-alpha RGBA layer: RGB is ``color`` everywhere, A is the shadow coverage
        (the alpha shifted, blurred, times ``opacity``). Pixels shifted in from outside the image
        are empty.
    """
    _check_alpha(alpha)
    rgb = _solid(color, "shadow color")
    layer = np.empty((*alpha.shape, 4), np.uint8)
    for c in range(3):
        layer[..., c] = rgb[c]
    layer[..., 3] = _shadow_coverage(alpha, offset, blur, opacity)
    return layer


# --------------------------------------------------------------------------------------------
# compositors


def _composite_opaque(
    image: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray | Image.Image | RGB,
    shadow: Shadow | Mapping[str, object] | bool | None,
    out: np.ndarray | None,
) -> np.ndarray:
    """``image`` over (``shadow`` over ``background``).

    ``background`` is an (H, W, 3) uint8 array, an RGB constant, or a Pillow image of size
    (W, H) (RGB or RGBa) that is read strip by strip, so no full-size array copy of it is made.
    """
    sh = _as_shadow(shadow)
    out = _check_out(out, image.shape)
    cov = s_rgb = None
    if sh is not None:
        s_rgb = _solid(sh.color, "shadow color")
        cov = _shadow_coverage(alpha, sh.offset, sh.blur, sh.opacity)
    for sl in _strips(*alpha.shape):
        if isinstance(background, tuple):
            bg = background
        elif isinstance(background, Image.Image):
            strip = background.crop((0, sl.start, background.width, sl.stop))
            bg = np.asarray(strip if strip.mode == "RGB" else strip.convert("RGB"))
        else:
            bg = background[sl]
        if cov is not None:
            tmp = np.empty(image[sl].shape, np.uint8)
            _mix(s_rgb, cov[sl], bg, tmp)
            bg = tmp
        _mix(image[sl], alpha[sl], bg, out[sl])
    return out


def cutout(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    shadow: Shadow | Mapping[str, object] | bool | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Transparent cut-out: the image with the matte as its alpha channel.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        Original RGB image.
    alpha : ndarray of shape (H, W), dtype uint8
        Matte, 255 = keep.
    shadow : Shadow or mapping or bool, optional
        Drop shadow (``True`` for the defaults). It becomes part of the alpha: the result is the
        subject composited *over* the shadow with straight-alpha "over", so the RGB is exact
        where ``alpha == 255`` and the shadow colour where only the shadow is.
    out : ndarray of shape (H, W, 4), dtype uint8, optional
        Destination array.

    Returns
    -------
    ndarray of shape (H, W, 4), dtype uint8
        Straight (non-premultiplied) RGBA. Without a shadow, RGB is the original RGB bit-exact
        everywhere (also under fully transparent pixels) and A is ``alpha``.
    """
    _check_image(image)
    _check_alpha(alpha, image.shape)
    sh = _as_shadow(shadow)
    h, w = alpha.shape
    out = _check_out(out, (h, w, 4))
    if sh is None:
        # channel by channel: 2-D strided copies are 3x (CPython) to 10x (Pyodide) faster
        # than one out[..., :3] = image
        for c in range(3):
            out[..., c] = image[..., c]
        out[..., 3] = alpha
        return out
    s_rgb = _solid(sh.color, "shadow color")
    cov = _shadow_coverage(alpha, sh.offset, sh.blur, sh.opacity)
    for sl in _strips(h, w):
        a = alpha[sl].astype(np.uint16)
        sa = cov[sl].astype(np.uint16)
        sa *= 255 - a  # 255 * shadow weight, <= 65025
        den = a * np.uint16(255)
        den += sa  # 255 * resulting alpha, <= 65025
        empty = den == 0
        dst = out[sl]
        u = den.copy()
        _round255(u)
        dst[..., 3] = u
        # RGB = round((F * 255a + S * s(255 - a)) / den): float64 holds every term exactly
        # (< 2**24); exact .5 ties stay exact and other quotients are >= 1/(2 den) from one,
        # so floor(q + 0.5) is the exactly rounded value.
        a255 = a * np.float64(255)
        den_f = den.astype(np.float64)
        den_f[empty] = 1.0
        for c in range(3):
            f = image[sl][..., c] * a255
            f += sa * np.float64(s_rgb[c])
            f /= den_f
            f += 0.5
            np.floor(f, out=f)
            dst[..., c] = f
            np.copyto(dst[..., c], image[sl][..., c], where=empty)
    return out


def over_color(
    image: np.ndarray,
    alpha: np.ndarray,
    color: ColorLike,
    *,
    shadow: Shadow | Mapping[str, object] | bool | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Flatten the subject on a solid colour.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        Original RGB image.
    alpha : ndarray of shape (H, W), dtype uint8
        Matte, 255 = keep.
    color : ColorLike
        Background colour, e.g. ``(255, 255, 255)``, ``'#fff'``, ``'white'``.
    shadow : Shadow or mapping or bool, optional
        Drop shadow between the background and the subject.
    out : ndarray of shape (H, W, 3), dtype uint8, optional
        Destination array.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8
        ``round(image * a + color * (1 - a))`` with ``a = alpha / 255``.
    """
    _check_image(image)
    _check_alpha(alpha, image.shape)
    return _composite_opaque(image, alpha, _solid(color, "color"), shadow, out)


def _cover_fit_image(background: np.ndarray, size: tuple[int, int]) -> Image.Image:
    _check_image(background, "background")
    hh, ww = int(size[0]), int(size[1])
    h, w = background.shape[:2]
    if hh <= 0 or ww <= 0 or h == 0 or w == 0:
        raise ValueError(f"size/background: cannot cover {size} with a {background.shape} image")
    im = Image.fromarray(np.ascontiguousarray(background), "RGB")
    if (h, w) == (hh, ww):
        return im
    s = max(ww / w, hh / h)
    cw, ch = ww / s, hh / s
    left, top = (w - cw) / 2, (h - ch) / 2
    return im.resize(
        (ww, hh), Image.Resampling.LANCZOS, box=(left, top, left + cw, top + ch), reducing_gap=3.0
    )


def cover_fit(background: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``background`` to cover ``size`` and crop the centre (CSS ``object-fit: cover``).

    Parameters
    ----------
    background : ndarray of shape (h, w, 3), dtype uint8
        Any size.
    size : (int, int)
        Target ``(H, W)``.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8
        Resampled with Lanczos (a box pre-reduction for large downscales, Pillow's
        ``reducing_gap=3``, which is visually indistinguishable and much faster); a copy when
        the size already matches.
    """
    return np.array(_cover_fit_image(background, size))


def over_image(
    image: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray,
    *,
    shadow: Shadow | Mapping[str, object] | bool | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Composite the subject over a background picture, cover-fitted to the image.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        Original RGB image.
    alpha : ndarray of shape (H, W), dtype uint8
        Matte, 255 = keep.
    background : ndarray of shape (h, w, 3), dtype uint8
        Background of any size; scaled to cover (H, W) and centre-cropped (:func:`cover_fit`).
    shadow : Shadow or mapping or bool, optional
        Drop shadow between the background and the subject.
    out : ndarray of shape (H, W, 3), dtype uint8, optional
        Destination array.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8
    """
    _check_image(image)
    _check_alpha(alpha, image.shape)
    bg = _cover_fit_image(background, alpha.shape)  # read per strip, no full array copy
    return _composite_opaque(image, alpha, bg, shadow, out)


def background_blur(image: np.ndarray, alpha: np.ndarray, *, radius: float) -> np.ndarray:
    """The image blurred with background-only (alpha-weighted) normalisation.

    Computes ``blur(image * w) / blur(w)`` with ``w = 1 - alpha/255`` (a premultiplied blur,
    Pillow ``RGBa`` mode), so the subject's colours do not bleed into the blurred background.
    Where no background is near (``blur(w) == 0``, deep inside the subject) the result is black,
    which is never visible once the subject is composited on top.

    For ``radius >= 8`` the blur runs on a reduced copy (see ``_gaussian``): the effective
    radius is within about 1 % of ``radius``.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
    alpha : ndarray of shape (H, W), dtype uint8
    radius : float
        Gaussian radius (standard deviation) in pixels, >= 0 (0 returns a copy of the image).

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8
    """
    return np.array(_blurred_background(image, alpha, radius).convert("RGB"))


def _blurred_background(image: np.ndarray, alpha: np.ndarray, radius: object) -> Image.Image:
    """:func:`background_blur` as a premultiplied ``RGBa`` Pillow image (or the ``RGB`` image
    itself for radius 0); intermediate images are dropped as soon as possible."""
    _check_image(image)
    _check_alpha(alpha, image.shape)
    r = _finite(radius, "radius", lo=0.0)
    im = Image.fromarray(np.ascontiguousarray(image), "RGB")
    if r == 0:
        return im
    im.putalpha(Image.fromarray(255 - alpha, "L"))
    im = im.convert("RGBa")
    f = int(r // 4) if r >= 8 else 1
    if f == 1:
        return im.filter(ImageFilter.GaussianBlur(r))
    w, h = im.size
    im = im.reduce(f)  # drops the full-size image before blurring (same as _gaussian)
    im = im.filter(ImageFilter.GaussianBlur(r / f))
    return im.resize((w, h), Image.Resampling.BILINEAR, box=(0, 0, w / f, h / f))


def over_blur(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    radius: float,
    shadow: Shadow | Mapping[str, object] | bool | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Composite the subject over a blurred copy of its own background ("portrait mode").

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        Original RGB image.
    alpha : ndarray of shape (H, W), dtype uint8
        Matte, 255 = keep.
    radius : float
        Gaussian blur radius (standard deviation) in pixels, >= 0 (see :func:`background_blur`;
        the subject's colours are excluded from the blur, so it does not leave a halo).
    shadow : Shadow or mapping or bool, optional
        Drop shadow between the background and the subject.
    out : ndarray of shape (H, W, 3), dtype uint8, optional
        Destination array.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8
    """
    bg = _blurred_background(image, alpha, radius)  # read per strip, no full array copy
    return _composite_opaque(image, alpha, bg, shadow, out)


# --------------------------------------------------------------------------------------------
# cropping


def subject_bbox(alpha: np.ndarray, *, threshold: int = _DEFAULT_THRESHOLD) -> Rect | None:
    """Bounding box of the pixels with ``alpha > threshold``.

    Parameters
    ----------
    alpha : ndarray of shape (H, W), dtype uint8
    threshold : int
        Pixels at or below it (faint matte noise) are ignored; 0..254.

    Returns
    -------
    Rect or None
        Half-open bounding rectangle, or ``None`` when no pixel passes.
    """
    _check_alpha(alpha)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Integral)
        or not (0 <= threshold <= 254)
    ):
        raise ValueError(f"threshold: expected an int in 0..254, got {threshold!r}")
    rows = np.flatnonzero(alpha.max(axis=1) > threshold)
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.max(axis=0) > threshold)
    return Rect(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def crop_to_subject(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    margin: int | float = 0,
    threshold: int = _DEFAULT_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray, Rect]:
    """Crop an image (and its matte) to the subject's bounding box plus a margin.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        Any array sharing the matte's (H, W): the original, a cut-out, a composite.
    alpha : ndarray of shape (H, W), dtype uint8
        Matte used to find the subject (pass the cut-out's alpha to include a shadow).
    margin : int or float
        An ``int`` is pixels on every side; a ``float`` in [0, 1] is a fraction of the subject
        box's longer side (``0.05`` = 5 %). The box is clipped to the image.
    threshold : int
        See :func:`subject_bbox`.

    Returns
    -------
    (ndarray, ndarray, Rect)
        Views (not copies) ``image[rect]``, ``alpha[rect]`` and the crop rectangle. When no
        pixel passes the threshold, the whole image.
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError("image: expected an array of shape (H, W) or (H, W, C)")
    _check_alpha(alpha, image.shape)
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise ValueError(f"margin: expected int pixels or a float fraction, got {margin!r}")
    if isinstance(margin, numbers.Integral):
        if margin < 0:
            raise ValueError(f"margin: expected >= 0 pixels, got {margin!r}")
        frac = None
    else:
        frac = _finite(margin, "margin", lo=0.0, hi=1.0)
    box = subject_bbox(alpha, threshold=threshold)
    if box is None:
        box = Rect(0, 0, *alpha.shape)
    else:
        m = int(margin) if frac is None else round(frac * max(box.height, box.width))
        box = Rect(box.r0 - m, box.c0 - m, box.r1 + m, box.c1 + m).clip(alpha.shape)
    return image[box.slices], alpha[box.slices], box
