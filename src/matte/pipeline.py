"""The segmentation pipeline: decoded image -> tensor -> model -> alpha.

Split in two halves around inference so that the browser, whose inference is asynchronous,
runs exactly the same code as CPython: :func:`prepare` then the runner then :func:`finish`.
"""

from __future__ import annotations

import numpy as np

from matte.models import ModelSpec
from matte.postprocess import to_alpha
from matte.preprocess import to_tensor
from matte.runner import Runner


def prepare(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """The model input for ``rgb`` (H, W, 3) uint8: (1, 3, h, w) float32."""
    return to_tensor(rgb, spec)


def finish(output: np.ndarray, spec: ModelSpec, shape: tuple[int, int]) -> np.ndarray:
    """Raw model output to alpha of the source ``shape`` (H, W), dtype uint8."""
    return to_alpha(output, spec, shape)


def segment(rgb: np.ndarray, spec: ModelSpec, runner: Runner) -> np.ndarray:
    """Predict the foreground alpha of an image.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
    spec : ModelSpec
    runner : Runner

    Returns
    -------
    alpha : ndarray of shape (H, W), dtype uint8
        255 where the subject is, 0 for background, soft in between.
    """
    tensor = prepare(rgb, spec)
    output = runner.run(spec, tensor)
    return finish(output, spec, (rgb.shape[0], rgb.shape[1]))
