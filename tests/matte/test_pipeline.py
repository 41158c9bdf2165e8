"""matte.pipeline without a model: synthetic model outputs, images and a fake runner."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from matte.models import load_catalog
from matte.pipeline import finish, prepare, segment
from matte.postprocess import refined_alpha, to_alpha, unit_to_alpha
from matte.refine import edge_band

CAT = load_catalog()


def soft_disk(h: int, w: int, *, soft: float) -> np.ndarray:
    """True alpha (float 0..1) of a wobbly disk whose edge ramps over ``soft`` pixels."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    cy, cx = h * 0.5, w * 0.47
    ang = np.arctan2(yy - cy, xx - cx)
    rad = 0.33 * min(h, w) * (1 + 0.12 * np.sin(3 * ang) + 0.05 * np.sin(7 * ang + 1))
    return np.clip((rad - np.hypot(yy - cy, xx - cx)) / soft + 0.5, 0, 1)


def photo(alpha: np.ndarray, seed: int = 0) -> np.ndarray:
    """``alpha F + (1 - alpha) B`` of a textured warm subject over a cool gradient, with noise."""
    rng = np.random.default_rng(seed)
    h, w = alpha.shape
    yy, xx = np.mgrid[:h, :w]
    fg = np.stack([200 + 25 * np.sin(xx / 6), 130 + 20 * np.cos(yy / 9), 70 + 0 * xx], axis=2)
    bg = np.stack([60 + 40 * yy / h, 100 + 30 * xx / w, 160 + 0 * xx], axis=2)
    a = alpha[:, :, None]
    img = a * fg + (1 - a) * bg + rng.normal(0, 2, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def model_like(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What a model returns for this alpha: low resolution, a blurrier edge, (1, 1, h, w)."""
    img = Image.fromarray(alpha.astype(np.float32), "F")
    low = img.resize(size[::-1], Image.Resampling.BOX)
    # a model's edge is about one output pixel wider than the true one
    low = low.resize((size[1] // 2, size[0] // 2), Image.Resampling.BILINEAR)
    low = low.resize(size[::-1], Image.Resampling.BILINEAR)
    return np.asarray(low, dtype=np.float32)[None, None]


@pytest.fixture(scope="module")
def scene():
    """(image, true alpha 0..1, model output) at 4x upsampling, like ISNet on a 4 MP photo."""
    alpha = soft_disk(256, 320, soft=2.5)
    return photo(alpha), alpha, model_like(alpha, (64, 80))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 50), st.integers(1, 50), st.integers(1, 20), st.integers(1, 20),
       st.sampled_from(["isnet-medium", "isnet-small", "u2netp"]), st.booleans())
def test_finish_gives_uint8_alpha_of_the_source_size(h, w, oh, ow, model, refine):
    rng = np.random.default_rng(h * 1000 + w)
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    output = rng.normal(0.5, 0.6, (1, 1, oh, ow)).astype(np.float32)
    alpha = finish(output, CAT.get(model), image, refine=refine)
    assert alpha.shape == (h, w) and alpha.dtype == np.uint8


@pytest.mark.parametrize("model", ["isnet-medium", "u2netp"])
def test_refine_false_is_the_reference_path(scene, model):
    image, _, output = scene
    spec = CAT.get(model)
    np.testing.assert_array_equal(
        finish(output, spec, image, refine=False), to_alpha(output, spec, image.shape[:2])
    )


def test_default_is_the_refined_path(scene):
    image, _, output = scene
    spec = CAT.get("isnet-medium")
    got = finish(output, spec, image)
    np.testing.assert_array_equal(got, refined_alpha(output, spec, image))
    assert not np.array_equal(got, finish(output, spec, image, refine=False))


@pytest.mark.parametrize("refine", [True, False])
def test_finish_wants_the_image_not_its_shape(refine):
    spec = CAT.get("u2netp")
    with pytest.raises(TypeError, match="source image"):
        finish(np.zeros((1, 1, 8, 8), np.float32), spec, (40, 50), refine=refine)


def test_refinement_gets_closer_to_the_true_alpha(scene):
    image, truth, output = scene
    spec = CAT.get("isnet-medium")
    plain = finish(output, spec, image, refine=False) / 255.0
    refined = finish(output, spec, image) / 255.0
    err_plain = np.abs(plain - truth).mean()
    err_refined = np.abs(refined - truth).mean()
    assert err_refined < 0.75 * err_plain, (err_refined, err_plain)
    # and the edge is as sharp as the photo's: its gradient energy moves towards the truth's
    def grad_energy(a):
        return np.hypot(*np.gradient(a)).__pow__(2).sum()

    assert abs(grad_energy(refined) - grad_energy(truth)) < abs(
        grad_energy(plain) - grad_energy(truth)
    )


def test_refinement_leaves_pixels_far_from_the_edge_alone(scene):
    image, _, output = scene
    spec = CAT.get("isnet-medium")
    upsampled = unit_to_alpha(output[0, 0], image.shape[:2], resample="bicubic")
    refined = finish(output, spec, image)
    # upsampling factor 4: window radius 16 px, so only the edge band grown by 16 px changes
    far = ~edge_band(upsampled, band=16)
    assert far.mean() > 0.5
    np.testing.assert_array_equal(refined[far], upsampled[far])
    assert set(np.unique(refined[far])) == {0, 255}


class FakeRunner:
    """Returns a fixed output and remembers the tensor it was given."""

    def __init__(self, output: np.ndarray) -> None:
        self.output = output
        self.tensors: list[np.ndarray] = []

    def run(self, spec, tensor):
        self.tensors.append(tensor)
        return self.output


@pytest.mark.parametrize("model", ["isnet-medium", "u2netp"])
def test_segment_is_prepare_run_finish(scene, model):
    image, _, output = scene
    spec = CAT.get(model)
    runner = FakeRunner(output)
    alpha = segment(image, spec, runner)
    (tensor,) = runner.tensors
    np.testing.assert_array_equal(tensor, prepare(image, spec))
    np.testing.assert_array_equal(alpha, finish(output, spec, image))
