"""The segmentation pipeline: decoded image -> tensor -> model -> alpha.

Split in two halves around inference so that the browser, whose inference is asynchronous,
runs exactly the same code as CPython: :func:`prepare` then the runner then :func:`finish`.

The default :func:`finish` (measured on the public eval kit with ``bench/eval_models.py``):

1. map the raw output to [0, 1] (:func:`matte.postprocess.output_to_unit`);
2. upsample it to the image with Pillow's bicubic filter;
3. refine the edge with the photograph: colour guided filter (window radius 4 model output
   pixels, eps 1e-4) on the uncertain band, clamped to within 1 model output pixel of the
   upsampled edge (:func:`matte.postprocess.refine_alpha`).

``finish(..., refine=False)`` is the plain reference path (:func:`matte.postprocess.to_alpha`:
bilinear upsampling, no refinement).

:func:`segment` also takes a :class:`~matte.models.FusionSpec` (the default, ``best``): it
runs both members and combines their outputs with :func:`matte.fuse.fused_alpha` (whose
finish is the same as above, on the fused map).
"""

from __future__ import annotations

import numpy as np

from matte.fuse import fused_alpha
from matte.models import FusionSpec, ModelSpec
from matte.postprocess import refined_alpha_steps, to_alpha
from matte.preprocess import to_tensor
from matte.runner import Runner
from matte.steps import Steps, drain


def prepare(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """The model input for ``rgb`` (H, W, 3) uint8: (1, 3, h, w) float32."""
    return to_tensor(rgb, spec)


def finish(
    output: np.ndarray, spec: ModelSpec, image: np.ndarray, *, refine: bool = True
) -> np.ndarray:
    """Raw model output to alpha of the source image's size, dtype uint8.

    Parameters
    ----------
    output : ndarray
        What the runner returned for ``prepare(image, spec)``.
    spec : ModelSpec
    image : ndarray of shape (H, W, 3), dtype uint8
        The RGB source image itself (not its shape): the refinement follows its edges.
    refine : bool
        False gives the plain reference path: bilinear upsampling, no refinement.

    Returns
    -------
    alpha : ndarray of shape (H, W), dtype uint8
    """
    return drain(finish_steps(output, spec, image, refine=refine))


def finish_steps(
    output: np.ndarray, spec: ModelSpec, image: np.ndarray, *, refine: bool = True
) -> Steps[np.ndarray]:
    """:func:`finish` as steps (:mod:`matte.steps`), for a caller that must stay responsive."""
    if not refine:
        shape = getattr(image, "shape", None)
        if not isinstance(image, np.ndarray) or image.ndim != 3:
            raise TypeError(f"image must be the (H, W, 3) source image, got shape {shape!r}")
        return to_alpha(output, spec, (image.shape[0], image.shape[1]))
    return (yield from refined_alpha_steps(output, spec, image))


def segment(rgb: np.ndarray, spec: ModelSpec | FusionSpec, runner: Runner) -> np.ndarray:
    """Predict the foreground alpha of an image.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
    spec : ModelSpec or FusionSpec
        One model, or a fusion: both of its models run (regions model first) and
        :func:`matte.fuse.fused_alpha` combines them.
    runner : Runner

    Returns
    -------
    alpha : ndarray of shape (H, W), dtype uint8
        255 where the subject is, 0 for background, soft in between.
    """
    if isinstance(spec, FusionSpec):
        regions = runner.run(spec.regions, prepare(rgb, spec.regions))
        edges = runner.run(spec.edges, prepare(rgb, spec.edges))
        return fused_alpha(edges, regions, rgb, edges=spec.edges, regions=spec.regions)
    tensor = prepare(rgb, spec)
    output = runner.run(spec, tensor)
    return finish(output, spec, rgb)
