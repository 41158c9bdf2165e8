"""Tier 2: the real ONNX models under onnxruntime (CPython). Needs `python build.py fetch`."""

import numpy as np
import pytest

from matte.models import load_catalog
from matte.pipeline import finish, prepare, segment
from matte.runner import OnnxRunner, model_path, verify_model_file

pytestmark = pytest.mark.model
CAT = load_catalog()
MODELS = ["u2netp", "isnet-medium", "isnet-small"]


@pytest.fixture(scope="module")
def runner():
    pytest.importorskip("onnxruntime", reason="tier 2 needs onnxruntime")
    return OnnxRunner()


@pytest.fixture(scope="module")
def masks(runner, astronaut):
    return {m: segment(astronaut, CAT.get(m), runner) for m in MODELS}


@pytest.mark.parametrize("model", MODELS)
def test_astronaut_is_foreground(masks, model):
    alpha = masks[model]
    assert alpha.shape == (512, 512) and alpha.dtype == np.uint8
    head = alpha[40:110, 170:280].mean()
    body = alpha[300:480, 60:300].mean()
    sky_right = alpha[0:100, 400:512].mean()
    sky_left = alpha[0:60, 0:80].mean()
    assert head > 230 and body > 230, (head, body)
    assert sky_right < 15 and sky_left < 15, (sky_right, sky_left)


def test_models_agree(masks):
    fg = {m: masks[m] >= 128 for m in MODELS}
    for other in ("u2netp", "isnet-small"):
        inter = (fg["isnet-medium"] & fg[other]).sum()
        union = (fg["isnet-medium"] | fg[other]).sum()
        assert inter / union > 0.9, other


def test_steps_equal_segment(runner, astronaut, masks):
    spec = CAT.get("u2netp")
    out = runner.run(spec, prepare(astronaut, spec))
    np.testing.assert_array_equal(finish(out, spec, astronaut), masks["u2netp"])


def test_model_files_verified():
    for m in CAT.models:
        verify_model_file(model_path(m), m)
