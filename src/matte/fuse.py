"""Fusion of two salient-object models: u2netp decides wide regions, ISNet keeps its edges.

Why: the two models fail in different places. ISNet medium (1024 px input) has the better
edges, but it often does not *choose*: it leaves whole parts of a subject half transparent
(a dark sweater, the second of two objects, a flower behind a flower; on the public eval kit
images 008, 013, 019, 021, 024). u2netp (320 px input) is coarse at edges but decided about
regions far more often. A half-transparent *region* is almost never right (real soft alpha,
hair or a net, lives in thin bands along edges), so where ISNet is undecided over a wide area
u2netp's value is taken, and everywhere else ISNet's output is kept unchanged.

The rules, in order (:func:`fuse_units`), on a coarse grid = u2netp's output grid (320x320
for the whole image, both models see the image squashed to a square, so their grids cover
the same area):

1. **Undecided**: ISNet's output, box-averaged onto the coarse grid, lies strictly between
   ``low`` and ``high`` (0.05 and 0.95). Box averaging keeps a thin soft edge thin.
2. **Wide**: the undecided set, opened (eroded, then dilated, by a disk of ``wide_radius``
   coarse pixels, 5 = about 1.5 % of the image side). A soft *edge band* of ISNet is a few
   coarse pixels wide and disappears in the opening, so ISNet keeps all of its edges, soft
   ones included (hair, fur, motion blur); what survives is a region too wide to be an edge.
3. **Decide**: inside wide regions the fused value is u2netp's (not thresholded: where u2netp
   is unsure too, it stays soft, and at the region's rim its soft edge is kept). The switch
   is feathered by a box of ``feather`` coarse pixels, so there is no seam.
4. **Keep**: everywhere else ISNet's output, so its decided interiors, its background and
   its edges pass through bit for bit; u2netp's holes and coarse edges never get in.

Then the usual finish of matte's single-model default (:func:`matte.postprocess`): bicubic
upsampling of the fused map (ISNet's grid) to the image, then the colour guided filter on the
uncertain edge band, clamped to one ISNet output pixel around the upsampled edge.

Chosen on the public eval kit and its mirrored draw, confirmed on a hold-out set generated
with other emoji, backgrounds and seed (``bench/eval_fusion.py``, ``bench/make_holdout.py``;
MAE 0.71x / 0.66x / 0.34x of the plain ISNet reference, boundary F and IoU higher on all three).
Measured and not adopted (``--ablation``, paired on cached outputs; numbers in the README's
model section): the range 0.1-0.9 with radius 3 (the first version), 0.02-0.98, radius 2 or 3
(more per-image losses), no opening (u2netp's coarse edges replace ISNet's soft ones: loses on
31 of 40 images), thresholding u2netp inside wide regions (worse Grad and MSE), taking u2netp
only where it leans the same way as ISNet or halving it where they disagree, and component
rules (add a u2netp object ISNet misses, drop an ISNet object u2netp does not see: they never
fired on the public kit).

Cost: the rules run on the 320x320 grid (a few ms); the blend and the finish are those of
the single-model default, so the fused finish costs about as much as ISNet's alone.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from matte.models import ModelSpec
from matte.postprocess import (
    output_to_unit,
    refine_alpha_steps,
    unit_to_alpha_steps,
    upscale_factor,
)
from matte.refine import _box_mean, grow_shrink
from matte.steps import Steps, drain

__all__ = ["LOW", "HIGH", "WIDE_RADIUS", "FEATHER", "fuse_units", "fused_alpha",
           "fused_alpha_steps", "wide_undecided"]

#: ISNet values strictly between these are undecided (rule 1).
LOW = 0.05
HIGH = 0.95
#: Opening radius in coarse (u2netp output) pixels: narrower undecided areas are edges (rule 2).
WIDE_RADIUS = 5.0
#: Box radius (coarse pixels) that feathers the switch to u2netp (rule 3).
FEATHER = 1


def _check_unit(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.size == 0 or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a non-empty 2-D float map in [0, 1], got "
                         f"shape {arr.shape} dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.float32)


def _resize(a: np.ndarray, shape: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize a float32 map to ``shape`` = (h, w) with Pillow (mode 'F')."""
    if a.shape == tuple(shape):
        return a
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), "F")
    return np.asarray(img.resize((shape[1], shape[0]), resample), dtype=np.float32)


def wide_undecided(
    edges: np.ndarray,
    shape: tuple[int, int],
    *,
    low: float = LOW,
    high: float = HIGH,
    wide_radius: float = WIDE_RADIUS,
) -> np.ndarray:
    """Rules 1 and 2: where the edges model is undecided over an area wider than an edge.

    Parameters
    ----------
    edges : ndarray of shape (h, w), dtype float32
        The edges model's (ISNet's) output in [0, 1].
    shape : (int, int)
        The coarse grid (the regions model's output shape).
    low, high : float
        Undecided is ``low < value < high`` after box-averaging onto the grid.
    wide_radius : float
        Opening radius in grid pixels, ``>= 0``; 0 keeps every undecided pixel.

    Returns
    -------
    ndarray of shape ``shape``, dtype bool
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low!r}, high={high!r}")
    if not wide_radius >= 0:
        raise ValueError(f"wide_radius must be >= 0, got {wide_radius!r}")
    coarse = _resize(_check_unit(edges, "edges"), shape, Image.Resampling.BOX)
    undecided = ((coarse > low) & (coarse < high)).astype(np.uint8) * np.uint8(255)
    if wide_radius < 1:
        return undecided > 0
    core = grow_shrink(undecided, radius=-wide_radius)
    opened = np.minimum(grow_shrink(core, radius=wide_radius), undecided)
    return opened > 0


def fuse_units(
    edges: np.ndarray,
    regions: np.ndarray,
    *,
    low: float = LOW,
    high: float = HIGH,
    wide_radius: float = WIDE_RADIUS,
    feather: int = FEATHER,
) -> np.ndarray:
    """Fuse two models' [0, 1] maps (see the module docstring for the rules).

    Parameters
    ----------
    edges : ndarray of shape (h, w), float
        The edges model's (ISNet's) output mapped to [0, 1] (:func:`output_to_unit`).
    regions : ndarray of shape (hr, wr), float
        The regions model's (u2netp's) output in [0, 1], on its own grid (the coarse grid).
    low, high, wide_radius :
        See :func:`wide_undecided`.
    feather : int
        Box radius (coarse pixels, ``>= 0``) that softens the switch between the two.

    Returns
    -------
    ndarray of shape (h, w), dtype float32
        In [0, 1]; equal to ``edges`` wherever no wide undecided region is within reach.
    """
    e = _check_unit(edges, "edges")
    r = _check_unit(regions, "regions")
    if isinstance(feather, bool) or not isinstance(feather, (int, np.integer)) or feather < 0:
        raise ValueError(f"feather must be an integer >= 0, got {feather!r}")
    wide = wide_undecided(e, r.shape, low=low, high=high, wide_radius=wide_radius)
    out = e.copy()
    if not wide.any():
        return out
    weight = wide.astype(np.float32)
    if feather > 0:
        weight = _box_mean(weight, int(feather)).astype(np.float32)
    w_full = _resize(weight, e.shape, Image.Resampling.BILINEAR)
    r_full = _resize(r, e.shape, Image.Resampling.BILINEAR)
    touched = w_full > 0
    out[touched] += w_full[touched] * (r_full[touched] - out[touched])
    return np.clip(out, 0.0, 1.0, out=out)


def fused_alpha(
    edges_output: np.ndarray,
    regions_output: np.ndarray,
    image: np.ndarray,
    *,
    edges: ModelSpec,
    regions: ModelSpec,
    refine: bool = True,
    **rules: float,
) -> np.ndarray:
    """Two raw model outputs to the fused alpha of ``image``'s size.

    Parameters
    ----------
    edges_output, regions_output : ndarray
        Raw outputs of the two models (as the runner returns them) for ``image``.
    image : ndarray of shape (H, W, 3), dtype uint8
        The RGB photograph.
    edges, regions : ModelSpec
        The two models (``FusionSpec.edges`` and ``.regions``).
    refine : bool
        True: the default finish (bicubic, guided filter on the edge band, clamp); False:
        plain bilinear upsampling of the fused map.
    **rules :
        ``low``, ``high``, ``wide_radius``, ``feather`` of :func:`fuse_units`.

    Returns
    -------
    alpha : ndarray of shape (H, W), dtype uint8
    """
    return drain(fused_alpha_steps(edges_output, regions_output, image, edges=edges,
                                   regions=regions, refine=refine, **rules))


def fused_alpha_steps(
    edges_output: np.ndarray,
    regions_output: np.ndarray,
    image: np.ndarray,
    *,
    edges: ModelSpec,
    regions: ModelSpec,
    refine: bool = True,
    **rules: float,
) -> Steps[np.ndarray]:
    """:func:`fused_alpha` as steps (:mod:`matte.steps`)."""
    if (not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3
            or image.dtype != np.uint8):
        got = getattr(image, "shape", image)
        raise TypeError(f"image must be the (H, W, 3) uint8 RGB source image, got {got!r}")
    unit = fuse_units(output_to_unit(edges_output, edges),
                      output_to_unit(regions_output, regions), **rules)  # type: ignore[arg-type]
    yield
    size = (int(image.shape[0]), int(image.shape[1]))
    if not refine:
        return (yield from unit_to_alpha_steps(unit, size))
    alpha = yield from unit_to_alpha_steps(unit, size, resample="bicubic")
    return (yield from refine_alpha_steps(alpha, image, upscale=upscale_factor(unit.shape, size)))
