"""Tests for matte.steps and the steps forms of the post-processing (cooperative work)."""

from __future__ import annotations

import numpy as np
import pytest

from matte.models import load_catalog
from matte.pipeline import finish, finish_steps
from matte.refine import refine_edges, refine_edges_steps
from matte.steps import drain


def _count(steps):
    n = 0
    while True:
        try:
            next(steps)
            n += 1
        except StopIteration as stop:
            return n, stop.value


def test_drain_returns_the_generators_value():
    def gen():
        yield
        yield
        return 42

    assert drain(gen()) == 42
    assert _count(gen()) == (2, 42)


def _photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.ogrid[:h, :w]
    d = np.hypot((yy - h / 2) / (0.3 * h), (xx - w / 2) / (0.3 * w))
    alpha = np.clip((1 - d) * 60 + 128, 0, 255).astype(np.uint8)
    return rgb, alpha


def test_refine_edges_steps_yields_per_crop_and_equals_refine_edges():
    rgb, alpha = _photo(900, 1400)
    n, out = _count(refine_edges_steps(rgb, alpha, radius=6))
    assert n > 1  # several crops: the page gets a turn between them
    np.testing.assert_array_equal(out, refine_edges(rgb, alpha, radius=6))


@pytest.mark.parametrize("model", ["u2netp", "isnet-medium"])
@pytest.mark.parametrize("refine", [True, False])
def test_finish_steps_equals_finish(model, refine):
    spec = load_catalog().get(model)
    h, w = spec.input_size
    rng = np.random.default_rng(1)
    yy, xx = np.ogrid[:h, :w]
    out = (np.hypot(yy - h / 2, xx - w / 2) < h / 3).astype(np.float32)[None, None]
    out += rng.normal(0, 0.05, out.shape).astype(np.float32)
    rgb, _ = _photo(700, 1000, seed=2)
    n, got = _count(finish_steps(out, spec, rgb, refine=refine))
    np.testing.assert_array_equal(got, finish(out, spec, rgb, refine=refine))
    assert (n > 0) == refine  # the reference path is one step


def test_steps_check_their_arguments_on_the_first_step():
    rgb, alpha = _photo(20, 20)
    with pytest.raises(ValueError, match="radius"):
        drain(refine_edges_steps(rgb, alpha, radius=-1))
