"""The one compose pipeline: layers -> full-resolution result -> file (page and CLI).

Every export of matte goes through this module: the page's
:meth:`matte.session.EditSession.export` (whose layers are caches kept up to date as the mask is
edited) and the CLI's :func:`matte.cli.render` (which builds the layers from scratch with
:func:`layers`). Both then call :func:`flatten`, :func:`crop_rect` and :func:`encode`, so the
same image, mask and :class:`Settings` give the same bytes (``tests/matte/test_compose.py``
checks it against an ``EditSession``).

Layers, all full resolution ``(H, W)``:

* ``fg`` (H, W, 3) uint8: the subject's colours, the photo or its decontaminated copy
  (:func:`matte.refine.decontaminate`).
* ``alpha`` (H, W) uint8: the mask.
* ``shadow`` (H, W) uint8 or None: the drop shadow's coverage (:func:`shadow_coverage`).
* ``background``: None (transparent), an ``(r, g, b)`` tuple, or an (H, W, 3) uint8 array (a
  cover-fitted picture, or :func:`blurred_background`).

On a transparent background the result is straight-alpha RGBA (the cut-out over its shadow);
on any other it is opaque RGB. The blending is :mod:`matte.composite`'s exact integer
arithmetic.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from matte import composite, export, refine
from matte.geometry import Rect

__all__ = [
    "Layers",
    "Settings",
    "background_layer",
    "blend",
    "blurred_background",
    "compose",
    "crop_rect",
    "default_blur_radius",
    "encode",
    "encode_mask",
    "flatten",
    "layers",
    "shadow_coverage",
    "subject_crop",
]

U8 = npt.NDArray[np.uint8]
RGB = tuple[int, int, int]

_STRIP_PIXELS = 1 << 19  # flatten's strip size: temporaries of a few MB


@dataclass(frozen=True)
class Settings:
    """Output settings: what the subject is composited on and how the result is framed.

    Attributes
    ----------
    background : {'transparent', 'color', 'image', 'blur'}
        What the subject is composited on.
    color : (int, int, int)
        Background colour for ``'color'``.
    blur : float
        Gaussian radius (standard deviation, image px) of the ``'blur'`` background
        (:func:`default_blur_radius` is the page's default for an image).
    shadow : bool
        Drop shadow on or off.
    shadow_params : matte.composite.Shadow
        Offset ``(dy, dx)`` px, blur px, opacity 0..1, colour (an ``(r, g, b)`` tuple).
    crop : bool
        Crop the export to the subject (plus ``crop_margin``).
    crop_margin : int or float
        Pixels (int) or a fraction of the subject box's longer side (float in [0, 1]).
    decontaminate : bool
        Replace the colour of semi-transparent edge pixels by the estimated foreground colour.
    decontaminate_radius : int
        ``radius`` of :func:`matte.refine.decontaminate`.
    tint, tint_opacity : (int, int, int), float
        Colour and strength of the editor's ``'refine'`` view overlay (not used by exports).

    Notes
    -----
    Values are validated by :class:`matte.session.EditSession`'s setters (the page) and by the
    CLI's option parsing; this class only holds them.
    """

    background: str = "transparent"
    color: RGB = (255, 255, 255)
    blur: float = 20.0
    shadow: bool = False
    shadow_params: composite.Shadow = field(
        default_factory=lambda: composite.Shadow(color=(0, 0, 0))
    )
    crop: bool = False
    crop_margin: int | float = 0.05
    decontaminate: bool = False
    decontaminate_radius: int = 90
    tint: RGB = (255, 0, 0)
    tint_opacity: float = 0.5


def default_blur_radius(shape: tuple[int, ...]) -> float:
    """The Gaussian radius of the ``'blur'`` background when none is given.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)`` of the image.

    Returns
    -------
    float
        ``max(2, round(max(H, W) / 200))`` (standard deviation, image px): it scales with the
        image, so a thumbnail and the full-size photo look alike. The page and the CLI share it.
    """
    if len(shape) < 2 or any(
        isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in shape[:2]
    ):
        raise ValueError(f"shape: expected (H, W[, C]) with positive ints, got {shape!r}")
    return float(max(2, round(max(int(shape[0]), int(shape[1])) / 200)))


# --------------------------------------------------------------------------------------------
# layers


def blurred_background(rgb: U8, alpha: U8, *, radius: float) -> U8:
    """The ``'blur'`` background: the photo blurred without its subject's colours.

    ``blur(I w) / blur(w)`` with ``w = 1 - alpha / 255`` (a premultiplied blur, so the subject
    does not bleed into it), blended towards the plain blur of the photo where no background is
    near (``blur(w) < 1/4``), so erasing part of the subject reveals a blurred photo, never
    black. For ``radius >= 8`` it is computed at ``1 / (radius // 4)`` resolution and resized
    once (the effective radius is within about 1 % of ``radius``).

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
    alpha : ndarray of shape (H, W), dtype uint8
        The mask whose subject is left out (the page passes the AI mask, so painting never
        recomputes the background).
    radius : float
        Standard deviation in px, > 0.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8
    """
    h, w = alpha.shape
    f = int(radius // 4) if radius >= 8 else 1
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    weighted = im.copy()
    weighted.putalpha(Image.fromarray(np.ascontiguousarray(255 - alpha), "L"))
    weighted = weighted.convert("RGBa")
    if f > 1:
        weighted = weighted.reduce(f)
        im = im.reduce(f)
    g = ImageFilter.GaussianBlur(radius / f)
    wb = np.asarray(weighted.filter(g).convert("RGBA"))  # unpremultiplied colour + blur(w)
    pb = np.asarray(im.filter(g))
    k = np.minimum(wb[..., 3].astype(np.uint16) * 4, 255).astype(np.uint8)
    mixed = np.empty(pb.shape, np.uint8)
    composite._mix(np.ascontiguousarray(wb[..., :3]), k, pb, mixed)
    if f == 1:
        return mixed
    big = Image.fromarray(mixed, "RGB").resize(
        (w, h), Image.Resampling.BILINEAR, box=(0, 0, w / f, h / f)
    )
    return np.asarray(big).copy()


def shadow_coverage(alpha: U8, *, params: composite.Shadow) -> U8:
    """The drop shadow's coverage, (H, W) uint8 (:func:`matte.composite.drop_shadow`)."""
    layer = composite.drop_shadow(
        alpha, offset=params.offset, blur=params.blur, opacity=params.opacity,
        color=params.color,
    )
    return np.ascontiguousarray(layer[..., 3])


def background_layer(
    rgb: U8, alpha: U8, *, settings: Settings, image: U8 | None = None
) -> U8 | RGB | None:
    """The background layer of ``settings.background`` (see the module notes).

    ``image`` is the background picture for ``'image'`` (any size: it is cover-fitted);
    ``alpha`` is the mask the ``'blur'`` background leaves out.
    """
    kind = settings.background
    if kind == "transparent":
        return None
    if kind == "color":
        return settings.color
    if kind == "image":
        if image is None:
            raise ValueError("image: the 'image' background needs a picture")
        return composite.cover_fit(np.ascontiguousarray(image), alpha.shape)
    if kind == "blur":
        if settings.blur == 0:
            return rgb
        return blurred_background(rgb, alpha, radius=settings.blur)
    raise ValueError(f"settings.background: unknown kind {kind!r}")


@dataclass(frozen=True)
class Layers:
    """The layers one result is composited from (see the module notes)."""

    fg: U8
    alpha: U8
    shadow: U8 | None
    background: U8 | RGB | None


def layers(
    rgb: U8,
    alpha: U8,
    *,
    settings: Settings,
    bg_image: U8 | None = None,
    blur_alpha: U8 | None = None,
) -> Layers:
    """Build every layer of ``settings`` from scratch (the CLI's path; the page caches them).

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
    alpha : ndarray of shape (H, W), dtype uint8
    settings : Settings
    bg_image : ndarray of shape (h, w, 3), dtype uint8, optional
        The picture of an ``'image'`` background.
    blur_alpha : ndarray of shape (H, W), dtype uint8, optional
        The mask the ``'blur'`` background leaves out (default ``alpha``).
    """
    composite._check_image(rgb, "rgb")
    composite._check_alpha(alpha, rgb.shape)
    fg = rgb
    if settings.decontaminate:
        fg = refine.decontaminate(rgb, alpha, radius=settings.decontaminate_radius)
    cov = shadow_coverage(alpha, params=settings.shadow_params) if settings.shadow else None
    bg = background_layer(
        rgb, alpha if blur_alpha is None else blur_alpha, settings=settings, image=bg_image
    )
    return Layers(fg, alpha, cov, bg)


def crop_rect(alpha: U8, shadow: U8 | None, *, settings: Settings) -> Rect | None:
    """The export's crop rectangle when ``settings.crop`` is on, else None.

    The subject is ``alpha > 8`` (:func:`matte.composite.subject_bbox`), joined by the
    shadow's footprint when there is one; the box is grown by ``settings.crop_margin`` and
    clipped to the image (the whole image when nothing is visible).
    """
    if not settings.crop:
        return None
    src = alpha if shadow is None else np.maximum(alpha, shadow)
    return subject_crop(composite.subject_bbox(src), alpha.shape, margin=settings.crop_margin)


def subject_crop(box: Rect | None, shape: tuple[int, ...], *, margin: int | float) -> Rect:
    """A subject box grown by ``margin`` (px if int, else a fraction of its longer side) and
    clipped to ``shape``; the whole image when ``box`` is None."""
    h, w = shape[:2]
    if box is None:
        return Rect(0, 0, h, w)
    px = margin if isinstance(margin, numbers.Integral) else round(
        margin * max(box.height, box.width)
    )
    return Rect(box.r0 - px, box.c0 - px, box.r1 + px, box.c1 + px).clip((h, w))


# --------------------------------------------------------------------------------------------
# compositing


def _over_shadow(fg: U8, a: U8, cov: U8, s_rgb: RGB, out: np.ndarray) -> None:
    """Straight-alpha cut-out over its shadow, as :func:`matte.composite.cutout` computes it."""
    a16 = a.astype(np.uint16)
    sa = cov.astype(np.uint16)
    sa *= np.uint16(255) - a16
    den = a16 * np.uint16(255)
    den += sa
    empty = den == 0
    u = den.copy()
    composite._round255(u)
    out[..., 3] = u
    a255 = a16 * np.float64(255)
    den_f = den.astype(np.float64)
    den_f[empty] = 1.0
    for c in range(3):
        f = fg[..., c] * a255
        f += sa * np.float64(s_rgb[c])
        f /= den_f
        f += 0.5
        np.floor(f, out=f)
        out[..., c] = f
        np.copyto(out[..., c], fg[..., c], where=empty)


def blend(
    fg: U8 | RGB, a: U8, cov: U8 | None, bg: U8 | RGB | None, *, shadow_color: RGB,
    out: np.ndarray,
) -> None:
    """Composite the layers of one region into ``out``.

    ``out`` is (h, w, 4) or, with a background, (h, w, 3) uint8: the cut-out over its shadow
    (straight-alpha RGBA) when ``bg`` is None, else opaque (A = 255 when ``out`` has 4
    channels). With neither a background nor a shadow, it is the photo's colours and ``a``.
    """
    if bg is None:
        if cov is None:
            for c in range(3):
                out[..., c] = fg[..., c]  # type: ignore[index]
            out[..., 3] = a
            return
        _over_shadow(fg, a, cov, shadow_color, out)  # type: ignore[arg-type]
        return
    if cov is not None:
        under = np.empty(np.shape(a) + (3,), np.uint8)
        composite._mix(shadow_color, cov, bg, under)
        bg = under
    composite._mix(fg, a, bg, out)
    if out.shape[-1] == 4:
        out[..., 3] = 255


def flatten(lay: Layers, *, settings: Settings, rect: Rect | None = None) -> U8:
    """The full-resolution result over ``rect`` (default: the whole image), strip by strip.

    Returns
    -------
    ndarray of shape (h, w, 4) or (h, w, 3), dtype uint8
        Straight-alpha RGBA on a transparent background, else RGB.
    """
    shape = lay.alpha.shape
    rect = Rect(0, 0, *shape) if rect is None else rect.clip(shape)
    h, w = rect.height, rect.width
    bg = lay.background
    out = np.empty((h, w, 3 if bg is not None else 4), np.uint8)
    color = settings.shadow_params.color
    step = max(1, _STRIP_PIXELS // max(w, 1))
    for y in range(0, h, step):
        sl = (slice(rect.r0 + y, rect.r0 + min(y + step, h)), slice(rect.c0, rect.c1))
        layer_bg = bg if bg is None or isinstance(bg, tuple) else bg[sl]
        cov = None if lay.shadow is None else lay.shadow[sl]
        blend(lay.fg[sl], lay.alpha[sl], cov, layer_bg, shadow_color=color,  # type: ignore[arg-type]
              out=out[y : y + step])
    return out


def compose(
    rgb: U8,
    alpha: U8,
    *,
    settings: Settings,
    bg_image: U8 | None = None,
    blur_alpha: U8 | None = None,
) -> U8:
    """The export's pixels for an image and its mask: :func:`layers`, cropped
    (:func:`crop_rect`) and :func:`flatten`-ed.

    Returns
    -------
    ndarray of shape (h, w, 4) or (h, w, 3), dtype uint8
        Straight-alpha RGBA on a transparent background, else RGB.
    """
    lay = layers(rgb, alpha, settings=settings, bg_image=bg_image, blur_alpha=blur_alpha)
    return flatten(lay, settings=settings, rect=crop_rect(alpha, lay.shadow, settings=settings))


# --------------------------------------------------------------------------------------------
# files


def encode(
    pixels: U8, *, format: str = "png", quality: int | None = None,
    icc_profile: bytes | None = None,
) -> bytes:
    """The result's file (:func:`matte.export.encode`; JPEG flattens a cut-out on white).

    Fully transparent pixels are written as (0, 0, 0, 0): the removed background must not
    survive, invisible, in the file (and the PNG gets about 3x smaller).
    """
    return export.encode(
        pixels, format=format, quality=quality, icc_profile=icc_profile, clear_transparent=True
    )


def encode_mask(alpha: U8) -> bytes:
    """The mask as an 8-bit greyscale PNG, always the full image (it lines up with the photo)."""
    return export.mask_png(alpha)
