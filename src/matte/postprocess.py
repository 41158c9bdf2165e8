"""Model output to alpha: range mapping, upsampling to the source size, uint8 without wrap."""

from __future__ import annotations

import numpy as np
from PIL import Image

from matte.models import ModelSpec

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
    if resample not in _FILTERS:
        raise ValueError(f"resample must be one of {sorted(_FILTERS)}, got {resample!r}")
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size}")
    src = np.ascontiguousarray(unit, dtype=np.float32)
    if src.shape != (h, w):
        img = Image.fromarray(src * np.float32(255.0), "F").resize((w, h), _FILTERS[resample])
        big = np.array(img, dtype=np.float32)  # writable copy of Pillow's buffer
    else:
        big = src * np.float32(255.0)
    np.clip(big, 0.0, 255.0, out=big)
    np.rint(big, out=big)
    out = big.astype(np.uint8)
    return out


def to_alpha(
    output: np.ndarray, spec: ModelSpec, size: tuple[int, int], *, resample: str = "bilinear"
) -> np.ndarray:
    """Raw model output to uint8 alpha of shape ``size`` (see the two steps above)."""
    return unit_to_alpha(output_to_unit(output, spec), size, resample=resample)
