"""One definition of the output settings shared by the page and the CLI (issue 12, first step).

This module is the start of the single compose path of issue 12: the settings object and the
definitions that the page (:class:`matte.session.EditSession`) and the CLI (:mod:`matte.cli`)
currently disagree on. Neither caller uses it yet; the compositing and encoding themselves
still live in :mod:`matte.session`, :mod:`matte.composite` and :mod:`matte.export`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from matte import export

__all__ = ["BACKGROUNDS", "ComposeSettings", "default_blur_radius"]

BACKGROUNDS = ("transparent", "color", "blur", "image")
"""The background kinds, as :class:`ComposeSettings` spells them."""


def default_blur_radius(shape: tuple[int, ...]) -> float:
    """The Gaussian radius of the ``'blur'`` background when none is given.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)`` of the image.

    Returns
    -------
    float
        ``max(2, round(max(H, W) / 200))`` (standard deviation, image px).

    Notes
    -----
    The page's definition is kept (the CLI used ``0.015 * max(H, W)``, 3x stronger): it is
    what users see and preview in the editor, so a CLI run must reproduce it. Both scale with
    the image, so a thumbnail and the full-size photo look alike.
    """
    if len(shape) < 2 or any(
        isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in shape[:2]
    ):
        raise ValueError(f"shape: expected (H, W[, C]) with positive ints, got {shape!r}")
    return float(max(2, round(max(int(shape[0]), int(shape[1])) / 200)))


@dataclass(frozen=True)
class ComposeSettings:
    """Everything that decides the exported pixels and file, for the page and the CLI.

    Attributes
    ----------
    background : {'transparent', 'color', 'blur', 'image'}
        What the subject is composited on.
    color : (int, int, int)
        Background colour for ``'color'`` (and JPEG's flattening of ``'transparent'``).
    blur : float or None
        Gaussian radius of ``'blur'``; None: :func:`default_blur_radius`.
    shadow : bool
        Drop shadow on or off.
    crop : bool
        Crop to the subject plus ``margin``. Applies to the mask-only export too (the
        mask then lines up with the cropped cutout).
    margin : int or float
        Pixels (int) or a fraction of the subject box's longer side (float in [0, 1]).
    decontaminate : bool
        Estimate the foreground colour of semi-transparent edge pixels.
    format : {'png', 'webp', 'jpeg'}
        Output format (aliases such as ``'jpg'`` accepted and normalised).
    quality : int or None
        0..100 for WebP and JPEG.
    mask_only : bool
        Export the matte as an 8-bit greyscale PNG instead of the composite.

    Raises
    ------
    ValueError
        Naming the bad attribute.
    """

    background: str = "transparent"
    color: tuple[int, int, int] = (255, 255, 255)
    blur: float | None = None
    shadow: bool = False
    crop: bool = False
    margin: int | float = 0
    decontaminate: bool = False
    format: str = "png"
    quality: int | None = None
    mask_only: bool = False

    def __post_init__(self) -> None:
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background: expected one of {BACKGROUNDS}, got {self.background!r}")
        c = self.color
        if (
            not isinstance(c, tuple)
            or len(c) != 3
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v <= 255
                   for v in c)
        ):
            raise ValueError(f"color: expected an (r, g, b) tuple of ints in 0..255, got {c!r}")
        if self.blur is not None and (
            isinstance(self.blur, bool)
            or not isinstance(self.blur, numbers.Real)
            or not 0 < float(self.blur) < float("inf")
        ):
            raise ValueError(f"blur: expected a positive finite number or None, got {self.blur!r}")
        m = self.margin
        if isinstance(m, bool) or not isinstance(m, numbers.Real):
            raise ValueError(f"margin: expected an int (px) or a float in [0, 1], got {m!r}")
        if isinstance(m, numbers.Integral) and m < 0:
            raise ValueError(f"margin: expected px >= 0, got {m!r}")
        if not isinstance(m, numbers.Integral) and not 0 <= float(m) <= 1:
            raise ValueError(f"margin: expected a fraction in [0, 1], got {m!r}")
        object.__setattr__(self, "format", export.normalize_format(self.format))
        q = self.quality
        if q is not None and (
            isinstance(q, bool) or not isinstance(q, numbers.Integral) or not 0 <= q <= 100
        ):
            raise ValueError(f"quality: expected an int in 0..100, got {q!r}")
        if self.mask_only and self.format != "png":
            raise ValueError(f"format: the mask is exported as PNG only, got {self.format!r}")
