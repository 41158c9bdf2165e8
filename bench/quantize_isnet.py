"""Static int8 (QDQ) quantisation of ISNet: make the variant, time it, score it (issue 16).

An experiment, not part of the build: it needs `onnx` and onnxruntime's quantisation tools
(`pip install onnx==1.23.2 onnxruntime==1.23.2` in a scratch venv; this script is not run by the
tests). What it does:

1. quantise the float32 ISNet variant (``build.py``'s ``fp32`` rewrite, in the model cache) to
   QDQ: per-channel symmetric int8 weights, uint8 activations, percentile calibration (99.99)
   on a few photos that are not in the eval kit (``tests/data`` + the kit's ``people/``), the
   input convolution and the output head (the last convolution, its resize and sigmoid) kept
   in float;
2. ``--native``: time it against the fp16 model under onnxruntime (1 thread), paired per photo,
   and print the mean |difference| of the outputs;
3. ``--browser``: time one raw ``session.run`` of each in onnxruntime-web WASM in Chromium
   (COOP/COEP, every core), interleaved;
4. ``--skeleton PATH``: write the quantised graph with its weights and biases left empty
   (gzip), which is what ``models/isnet-int8.qdq.onnx.gz`` is (made from ``tests/data/*.jpg``
   alone); ``build.py`` fills the weights back (``onnx_fill_qdq``) byte for byte;
5. ``--eval-set DIR [DIR ...]``: run both on an eval-kit set (``shared/eval/make_set.py``), finish
   with matte's default post-processing, and score with the kit's ``score.py`` (paired).

    python bench/quantize_isnet.py --out /tmp/isnet-qdq.onnx --native --browser \\
        --eval-set /tmp/eval/public --score-python /tmp/evalenv/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
from matte.models import load_catalog  # noqa: E402
from matte.pipeline import finish  # noqa: E402
from matte.preprocess import to_tensor  # noqa: E402
from matte.runner import cache_dir  # noqa: E402

SPEC = load_catalog().get("isnet-medium")
FP16 = cache_dir() / "models" / SPEC.file
FP32 = cache_dir() / "models" / "isnet-medium-fp32.onnx"
SHARED_EVAL = ROOT.parent / "shared" / "eval"


def calibration_photos() -> list[Path]:
    return sorted((ROOT / "tests" / "data").glob("*.jpg"))


def quantize(out: Path, photos: list[Path], *, percentile: float = 99.99) -> list[str]:
    """Write the QDQ model to ``out``; return the names of the nodes kept in float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(FP32), str(pre), skip_symbolic_shape=True)
        graph = onnx.load(str(pre), load_external_data=False).graph
        producer = {o: n for n in graph.node for o in n.output}
        keep, todo = [], ["output"]  # the head: back from the output to the first Conv
        while todo:
            node = producer.get(todo.pop())
            if node is None or node.name in keep:
                continue
            keep.append(node.name)
            if node.op_type != "Conv":
                todo.extend(i for i in node.input if i in producer)
        keep += [n.name for n in graph.node if n.op_type == "Conv" and SPEC.input_name in n.input]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.items = iter([{SPEC.input_name: to_tensor(
                    np.asarray(Image.open(p).convert("RGB")), SPEC)} for p in photos])

            def get_next(self):
                return next(self.items, None)

        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Percentile,
                        nodes_to_exclude=sorted(set(keep)),
                        extra_options={"CalibPercentile": percentile, "WeightSymmetric": True})
    return sorted(set(keep))


def write_skeleton(qdq: Path, out: Path) -> int:
    """The QDQ model with every ``*_quantized`` tensor emptied, gzipped; returns their count."""
    import gzip

    import onnx

    model = onnx.load(str(qdq))
    n = 0
    for t in model.graph.initializer:
        if t.name.endswith("_quantized"):
            t.raw_data = b""
            n += 1
    model.producer_name = "matte bench/quantize_isnet.py"
    out.write_bytes(gzip.compress(model.SerializeToString(), compresslevel=9, mtime=0))
    return n


def session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def native(qdq: Path, photos: list[Path]) -> dict:
    sessions = {"fp16": session(FP16, 1), "qdq": session(qdq, 1)}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    diffs = []
    for p in photos:
        x = to_tensor(np.asarray(Image.open(p).convert("RGB")), SPEC)
        outs = {}
        for k, s in sessions.items():
            t = time.perf_counter()
            outs[k] = s.run(None, {SPEC.input_name: x})[0].astype(np.float32)
            times[k].append(time.perf_counter() - t)
        diffs.append(float(np.abs(outs["fp16"] - outs["qdq"]).mean()))
    pairs = zip(times["qdq"], times["fp16"], strict=True)
    return {"median_s": {k: statistics.median(v) for k, v in times.items()},
            "ratio": statistics.median(a / b for a, b in pairs),
            "mean_abs_diff": statistics.mean(diffs)}


def browser(qdq: Path, runs: int) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_browser as bb

    variants = {"fp16": FP16, "qdq": qdq}
    res: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory() as tmp:
        root = bb.snapshot_site(Path(tmp) / "site", {})
        for name, path in variants.items():
            os.link(path, root / "models" / f"bench-{name}.onnx")
        served = bb.Served(root, isolate=True)
        try:
            with bb.chromium() as chrome:
                ctx, page = bb.new_page(chrome)
                page.goto(f"{served.origin}/?model=u2netp", wait_until="commit")
                bb.wait_ready(page)
                threads = page.evaluate("matteApp.caps.threads")
                for name in variants:
                    page.evaluate("""async (name) => {
                        const r = await fetch(`models/bench-${name}.onnx`);
                        const bytes = new Uint8Array(await r.arrayBuffer());
                        await window.matteBridge.createSession(name, bytes,
                            {backend: 'wasm', caps: matteApp.caps}); }""", name)
                for _ in range(runs):
                    for name in variants:
                        t = page.evaluate("([n, s]) => window.matteBridge.timeRaw(n, 'input', "
                                          "[1, 3, s, s], 1)", [name, SPEC.input_size[0]])
                        res[name].append(t[0] if isinstance(t, list) else t)
                ctx.close()
        finally:
            served.close()
    return {"threads": threads, "median_ms": {k: statistics.median(v) for k, v in res.items()},
            "ratio": statistics.median(a / b for a, b in zip(res["qdq"], res["fp16"], strict=True)),
            "samples": res}


def evaluate(qdq: Path, set_dir: Path, score_python: str, work: Path) -> dict:
    out = {}
    for name, path in (("fp16", FP16), ("qdq", qdq)):
        s = session(path, 2)
        pred = work / set_dir.name / name
        pred.mkdir(parents=True, exist_ok=True)
        for img in sorted(glob.glob(str(set_dir / "*" / "image.jpg"))):
            rgb = np.asarray(Image.open(img).convert("RGB"))
            raw = s.run(None, {SPEC.input_name: to_tensor(rgb, SPEC)})[0].astype(np.float32)
            spec = dataclasses.replace(SPEC, input_size=tuple(raw.shape[-2:]))
            Image.fromarray(finish(raw, spec, rgb)).save(pred / f"{Path(img).parent.name}.png")
        subprocess.run([score_python, str(SHARED_EVAL / "score.py"), "--set", str(set_dir),
                        "--pred", str(pred), "--quiet"], check=True, stdout=subprocess.DEVNULL)
        out[name] = json.loads((pred / "score.json").read_text())["mean"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="where to write the QDQ model")
    p.add_argument("--reuse", action="store_true", help="use --out if it exists")
    p.add_argument("--calib", type=Path, nargs="*", default=[],
                   help="more calibration photos (the measured variant also used the kit's "
                        "people/ photos)")
    p.add_argument("--skeleton", type=Path, help="also write the weightless skeleton here")
    p.add_argument("--native", action="store_true")
    p.add_argument("--browser", action="store_true")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--eval-set", type=Path, nargs="*", default=[])
    p.add_argument("--score-python", default=sys.executable,
                   help="a Python with the eval kit's requirements (scipy, scikit-image)")
    args = p.parse_args(argv)
    photos = calibration_photos() + list(args.calib)
    report: dict = {}
    if not (args.reuse and args.out.is_file()):
        t = time.perf_counter()
        report["kept_in_float"] = quantize(args.out, photos)
        report["quantize_s"] = time.perf_counter() - t
    if args.skeleton:
        report["skeleton_tensors_emptied"] = write_skeleton(args.out, args.skeleton)
    report["bytes"] = {"fp16": FP16.stat().st_size, "qdq": args.out.stat().st_size}
    if args.native:
        report["native"] = native(args.out, photos)
    if args.browser:
        report["browser"] = browser(args.out, args.runs)
    with tempfile.TemporaryDirectory() as work:
        for set_dir in args.eval_set:
            report[f"eval {set_dir}"] = evaluate(args.out, set_dir, args.score_python, Path(work))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
