"""Model input preparation: resize, scale, normalise, HWC -> NCHW float32.

The output is the tensor a :class:`~matte.models.ModelSpec` expects, built with at most one
full-size float temporary (the model's input size, not the image's).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from matte.models import ModelSpec

_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


def resize_rgb(rgb: np.ndarray, size: tuple[int, int], *, resample: str = "bilinear") -> np.ndarray:
    """Resize an RGB image to ``size`` = (height, width) with an antialiasing filter.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
    size : (int, int)
        Target (height, width).
    resample : {"bilinear", "bicubic", "lanczos", "box"}

    Returns
    -------
    ndarray of shape (height, width, 3), dtype uint8
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if resample not in _FILTERS:
        raise ValueError(f"resample must be one of {sorted(_FILTERS)}, got {resample!r}")
    h, w = size
    if (rgb.shape[0], rgb.shape[1]) == (h, w):
        return rgb
    # frombuffer shares the array's memory (fromarray would copy 36 MB for a 12 MP photo)
    src = np.ascontiguousarray(rgb)
    img = Image.frombuffer("RGB", (src.shape[1], src.shape[0]), src, "raw", "RGB", 0, 1)
    # reducing_gap lets Pillow shrink by an integer factor with a box filter first, which is
    # several times faster on 12 MP inputs and within 1 level of the exact filter.
    out = img.resize((w, h), _FILTERS[resample], reducing_gap=3.0)
    return np.asarray(out)


def to_tensor(
    rgb: np.ndarray,
    spec: ModelSpec,
    *,
    resample: str = "bilinear",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Prepare an image for a model.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
        The image at any size.
    spec : ModelSpec
        Gives the input size, scaling and mean/std.
    resample : str, optional
        Filter used to resize to the model's input size.
    out : ndarray of shape (1, 3, h, w), dtype float32, optional
        Where to write the result (saves an allocation when called repeatedly).

    Returns
    -------
    ndarray of shape (1, 3, h, w), dtype float32
        ``((scaled pixel) - mean) / std`` per channel, channels first, C-contiguous.
    """
    h, w = spec.input_size
    small = resize_rgb(rgb, (h, w), resample=resample)
    if out is None:
        out = np.empty((1, 3, h, w), dtype=np.float32)
    elif out.shape != (1, 3, h, w) or out.dtype != np.float32:
        raise ValueError(f"out must be (1, 3, {h}, {w}) float32, got {out.shape} {out.dtype}")
    if spec.scale == "none":
        div = 1.0
    elif spec.scale == "unit":
        div = 255.0
    else:  # "max": divide by the image maximum, as U2-Net's reference does
        div = float(max(int(small.max()), 1))
    for c in range(3):
        plane = out[0, c]
        # (x / div - mean) / std  ==  x * (1 / (div * std)) - mean / std
        np.multiply(small[:, :, c], np.float32(1.0 / (div * spec.std[c])), out=plane)
        plane -= np.float32(spec.mean[c] / spec.std[c])
    return out
