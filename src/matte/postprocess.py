"""Model output to alpha: range mapping, upsampling to the source size, uint8 without wrap.

Two paths:

* :func:`to_alpha` is the plain reference path (that of imgly's ISNet pipeline): map the
  output to [0, 1], upsample bilinearly, quantise. Nothing looks at the photograph.
* :func:`refined_alpha` is matte's default (see :func:`matte.pipeline.finish`): bicubic
  upsampling, then the model's edge is snapped to the photograph's edges with the colour
  guided filter of :func:`matte.refine.refine_edges` within the band where the upsampled
  output is uncertain, and the result is kept within one model pixel of the upsampled edge.
  Radii are in model output pixels and scale with the upsampling factor, so the same
  settings fit a 0.3 MP and a 12 MP photo.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from matte.models import ModelSpec
from matte.refine import grow_shrink, refine_edges_steps
from matte.steps import Steps, drain

#: Defaults of the refined path (radii in model output pixels); bench/eval_models.py --ablation
#: measures each against its alternatives.
#: Output pixels per band when upsampling (bounds the float32 temporaries to ~4 MB).
_BAND_PIXELS = 1 << 20

REFINE_RESAMPLE = "bicubic"
REFINE_RADIUS = 4.0
REFINE_EPS = 1e-4
REFINE_SLACK = 1.0

_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def output_to_unit(output: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Map a raw model output to a (h, w) float32 map in [0, 1].

    Parameters
    ----------
    output : ndarray of shape (1, 1, h, w), (1, h, w) or (h, w), float
    spec : ModelSpec
        ``output_range`` "unit" clips to [0, 1]; "minmax" stretches min..max to 0..1.

    Returns
    -------
    ndarray of shape (h, w), dtype float32
    """
    a = np.asarray(output, dtype=np.float32)
    while a.ndim > 2:
        if a.shape[0] != 1:
            raise ValueError(f"output must have a single image and channel, got {a.shape}")
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"output must be 2-D after squeezing, got {a.shape}")
    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0)
    if spec.output_range == "minmax":
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return np.clip(a, 0.0, 1.0)


def unit_to_alpha(
    unit: np.ndarray, size: tuple[int, int], *, resample: str = "bilinear"
) -> np.ndarray:
    """Upsample a [0, 1] map to ``size`` = (H, W) and quantise to uint8 alpha.

    Parameters
    ----------
    unit : ndarray of shape (h, w), dtype float32, values in [0, 1]
    size : (int, int)
        Target (height, width), normally the source image's.
    resample : {"bilinear", "bicubic", "lanczos"}
        Interpolation filter; the result is clipped, so overshooting filters cannot wrap.

    Returns
    -------
    alpha : ndarray of shape (H, W), dtype uint8
    """
    return drain(unit_to_alpha_steps(unit, size, resample=resample))


def unit_to_alpha_steps(
    unit: np.ndarray, size: tuple[int, int], *, resample: str = "bilinear"
) -> Steps[np.ndarray]:
    """:func:`unit_to_alpha` as steps (:mod:`matte.steps`): yields after each band."""
    if resample not in _FILTERS:
        raise ValueError(f"resample must be one of {sorted(_FILTERS)}, got {resample!r}")
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size}")
    src = np.ascontiguousarray(unit, dtype=np.float32)
    out = np.empty((h, w), dtype=np.uint8)
    if src.shape == (h, w):
        _quantize(src * np.float32(255.0), out)
        return out
    img = Image.fromarray(src * np.float32(255.0), "F")
    sh, sw = src.shape
    # Resize in bands of output rows through Pillow's ``box`` (the band's source rows): the
    # filter still reads the neighbouring source rows, so the result is identical to one
    # full-size resize, but the float32 temporaries are one band (a few MB), not 48 MB at 12 MP.
    step = max(1, _BAND_PIXELS // w)
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        band = img.resize((w, r1 - r0), _FILTERS[resample],
                          box=(0.0, r0 * sh / h, float(sw), r1 * sh / h))
        _quantize(np.array(band, dtype=np.float32), out[r0:r1])
        yield
    return out


def _quantize(values: np.ndarray, out: np.ndarray) -> None:
    """Round float levels into ``out`` (uint8), clipped first so nothing wraps."""
    np.clip(values, 0.0, 255.0, out=values)
    np.rint(values, out=values)
    np.copyto(out, values, casting="unsafe")


def to_alpha(
    output: np.ndarray, spec: ModelSpec, size: tuple[int, int], *, resample: str = "bilinear"
) -> np.ndarray:
    """Raw model output to uint8 alpha of shape ``size`` (see the two steps above)."""
    return unit_to_alpha(output_to_unit(output, spec), size, resample=resample)


def upscale_factor(unit_shape: tuple[int, int], size: tuple[int, int]) -> float:
    """Source pixels per model output pixel along the more stretched axis.

    Parameters
    ----------
    unit_shape : (int, int)
        ``(h, w)`` of the model output.
    size : (int, int)
        ``(H, W)`` of the source image.

    Returns
    -------
    float
        ``max(H / h, W / w)``: how many source pixels one output pixel spans (below 1 when the
        image is smaller than the model's input).
    """
    return max(size[0] / unit_shape[0], size[1] / unit_shape[1])


def refine_alpha(
    alpha: np.ndarray,
    image: np.ndarray,
    *,
    upscale: float,
    radius: float = REFINE_RADIUS,
    eps: float = REFINE_EPS,
    slack: float | None = REFINE_SLACK,
) -> np.ndarray:
    """Snap an upsampled model alpha to the photograph's edges.

    The colour guided filter (:func:`matte.refine.refine_edges`) fits the alpha as a local
    linear function of the image colour in windows of ``radius`` model pixels, which moves
    the blurry upsampled edge onto the image's edge and gives it the image's sharpness. The
    result is clamped between the input alpha shrunk and grown by ``slack`` model pixels: the
    photograph may move the edge by about the model's positional uncertainty, but cannot grow
    leaks into a textured background or fill holes further away. So only the uncertain band
    changes (soft pixels and their neighbours, grown by ``min(radius, slack)``); solid
    interiors and background further away stay exactly 255 / 0.

    Parameters
    ----------
    alpha : ndarray of shape (H, W), dtype uint8
        The upsampled model alpha.
    image : ndarray of shape (H, W, 3), dtype uint8
        The RGB photograph.
    upscale : float
        Source pixels per model output pixel (:func:`upscale_factor`), ``> 0``.
    radius : float
        Guided filter window radius in model output pixels, ``>= 0`` (at least 1 source
        pixel); ``0`` skips the refinement.
    eps : float
        Guided filter regularisation (guide scaled to 0..1).
    slack : float or None
        How far (model output pixels, at least 1 source pixel) the refined edge may move away
        from the input's; None: no clamp.

    Returns
    -------
    ndarray of shape (H, W), dtype uint8
        A new array.
    """
    return drain(refine_alpha_steps(alpha, image, upscale=upscale, radius=radius, eps=eps,
                                    slack=slack))


def refine_alpha_steps(
    alpha: np.ndarray,
    image: np.ndarray,
    *,
    upscale: float,
    radius: float = REFINE_RADIUS,
    eps: float = REFINE_EPS,
    slack: float | None = REFINE_SLACK,
) -> Steps[np.ndarray]:
    """:func:`refine_alpha` as steps (:mod:`matte.steps`)."""
    if not upscale > 0 or not radius >= 0:
        raise ValueError(f"need upscale > 0 and radius >= 0, got {upscale!r} and {radius!r}")
    if radius == 0:
        return alpha.copy()
    r = max(1, round(radius * upscale))
    if slack is None:
        return (yield from refine_edges_steps(image, alpha, radius=r, eps=eps))
    d = max(1.0, slack * upscale)
    lo = grow_shrink(alpha, radius=-d)
    yield
    hi = grow_shrink(alpha, radius=d)
    # Where the disk of radius d around a pixel holds one value, the clamp's bounds are equal
    # and decide the result alone: only the pixels with lo != hi are filtered (about half of
    # the soft band of a 12 MP photo), and only within d of the edge band. Same result, less
    # work.
    out = yield from refine_edges_steps(image, alpha, radius=r, eps=eps, band=min(float(r), d),
                                        where=lo != hi)
    np.maximum(out, lo, out=out)
    np.minimum(out, hi, out=out)
    return out


def refined_alpha(
    output: np.ndarray,
    spec: ModelSpec,
    image: np.ndarray,
    *,
    resample: str = REFINE_RESAMPLE,
    radius: float = REFINE_RADIUS,
    eps: float = REFINE_EPS,
    slack: float | None = REFINE_SLACK,
) -> np.ndarray:
    """Raw model output to uint8 alpha of ``image``'s size, refined with the image.

    :func:`output_to_unit`, :func:`unit_to_alpha` with ``resample``, then
    :func:`refine_alpha` with ``radius``, ``eps`` and ``slack`` (model output pixels).

    Parameters
    ----------
    output : ndarray
        Raw model output (see :func:`output_to_unit`).
    spec : ModelSpec
    image : ndarray of shape (H, W, 3), dtype uint8
        The RGB photograph the output was computed from.

    Returns
    -------
    alpha : ndarray of shape (H, W), dtype uint8
    """
    return drain(refined_alpha_steps(output, spec, image, resample=resample, radius=radius,
                                     eps=eps, slack=slack))


def refined_alpha_steps(
    output: np.ndarray,
    spec: ModelSpec,
    image: np.ndarray,
    *,
    resample: str = REFINE_RESAMPLE,
    radius: float = REFINE_RADIUS,
    eps: float = REFINE_EPS,
    slack: float | None = REFINE_SLACK,
) -> Steps[np.ndarray]:
    """:func:`refined_alpha` as steps (:mod:`matte.steps`): yields after the upsampling and
    after each crop of the refinement."""
    if (
        not isinstance(image, np.ndarray)
        or image.ndim != 3
        or image.shape[2] != 3
        or image.dtype != np.uint8
    ):
        got = getattr(image, "shape", image)
        raise TypeError(
            f"image must be the (H, W, 3) uint8 RGB source image (not its shape), got {got!r}"
        )
    unit = output_to_unit(output, spec)
    size = (int(image.shape[0]), int(image.shape[1]))
    alpha = yield from unit_to_alpha_steps(unit, size, resample=resample)
    up = upscale_factor(unit.shape, size)
    return (yield from refine_alpha_steps(alpha, image, upscale=up, radius=radius, eps=eps,
                                          slack=slack))
