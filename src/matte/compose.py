"""Definitions shared by the page and the CLI's compositing (issue 12, first step).

This module is meant to become the single compose path of issue 12. For now it holds the one
definition the page's :class:`matte.session.EditSession` takes from here: the default blur
strength. The CLI (:mod:`matte.cli`) still composites with :mod:`matte.composite` and its own
blur strength; the compositing and encoding still live in :mod:`matte.session`,
:mod:`matte.composite` and :mod:`matte.export`.
"""

from __future__ import annotations

import numbers

__all__ = ["default_blur_radius"]


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
    This is the page's definition, the one users see and preview in the editor. The CLI still
    uses its own, ``0.015 * max(H, W)`` (3x stronger) with :func:`matte.composite.over_blur`;
    it is to take this one when it composites through this module. Both scale with the image,
    so a thumbnail and the full-size photo look alike.
    """
    if len(shape) < 2 or any(
        isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in shape[:2]
    ):
        raise ValueError(f"shape: expected (H, W[, C]) with positive ints, got {shape!r}")
    return float(max(2, round(max(int(shape[0]), int(shape[1])) / 200)))
