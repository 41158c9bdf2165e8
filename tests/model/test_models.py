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


# --------------------------------------------------------------------------------------------
# the default fusion (best = ISNet medium + u2netp, matte.fuse) with the real models


def test_default_is_the_fusion():
    best = CAT.get(None)
    assert best.kind == "fusion" and best.members == ("isnet-medium", "u2netp")


def test_fused_astronaut(runner, astronaut, masks):
    fused = segment(astronaut, CAT.get("best"), runner)
    assert fused.shape == (512, 512) and fused.dtype == np.uint8
    assert fused[40:110, 170:280].mean() > 230 and fused[300:480, 60:300].mean() > 230
    assert fused[0:100, 400:512].mean() < 15
    fg, isnet = fused >= 128, masks["isnet-medium"] >= 128
    assert (fg & isnet).sum() / (fg | isnet).sum() > 0.97  # ISNet decides this photo itself


@pytest.fixture(scope="module")
def chelsea(data_dir):
    from PIL import Image

    return np.asarray(Image.open(data_dir / "chelsea.jpg").convert("RGB"))


def test_fusion_changes_only_isnets_wide_undecided_regions(runner, chelsea):
    """On the cat ISNet leaves wide parts grey; the fusion changes them and nothing far from
    them (equal to ISNet's own default there, up to one level where the guided filter's
    crops, laid out over the whole edge band, fall differently)."""
    from PIL import Image

    from matte.fuse import FEATHER, fused_alpha, wide_undecided
    from matte.postprocess import output_to_unit
    from matte.refine import grow

    best = CAT.get("best")
    e_out = runner.run(best.edges, prepare(chelsea, best.edges))
    r_out = runner.run(best.regions, prepare(chelsea, best.regions))
    fused = fused_alpha(e_out, r_out, chelsea, edges=best.edges, regions=best.regions)
    np.testing.assert_array_equal(fused, segment(chelsea, best, runner))
    alone = finish(e_out, best.edges, chelsea).astype(int)
    wide = wide_undecided(output_to_unit(e_out, best.edges), (320, 320))
    assert 0.02 < wide.mean() < 0.5
    # reach of the blend (feather + bilinear) and of the finish (bicubic, guided filter)
    near = grow(wide.astype(np.uint8) * 255, radius=FEATHER + 5)
    h, w = chelsea.shape[:2]
    near = np.asarray(Image.fromarray(near).resize((w, h), Image.Resampling.NEAREST)) > 0
    diff = np.abs(fused.astype(int) - alone)
    assert diff[~near].max() <= 1 and (diff[~near] > 0).mean() < 1e-3
    assert diff[near].mean() > 10  # and it does change the grey parts
