"""Does ISNet on a larger input help big photos? Paired on the eval sets' large images.

ISNet medium's rewritten graph (``dynamic-hw``) takes any multiple of 64. For every sample
whose longer side is at least ``--min-side`` this runs ISNet at ``--size`` (squashed to a
square like the 1024 default), caches the raw output under ``<run>/raw-<size>/isnet-medium``,
and scores ISNet's default finish and the fusion (with the same cached u2netp output) at 1024
and at ``--size``, paired, with the kit's MAE / IoU / BF. Run with the eval kit's venv plus
onnxruntime::

    /work/evalenv/bin/python bench/eval_isnet_size.py --set SET --run RUN --size 1536
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from matte import fuse as F  # noqa: E402
from matte import pipeline as P  # noqa: E402
from matte.decode import decode  # noqa: E402
from matte.models import load_catalog  # noqa: E402
from matte.runner import OnnxRunner  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--size", type=int, default=1536)
    p.add_argument("--min-side", type=int, default=1600)
    p.add_argument("--kit", type=Path, default=ROOT.parent / "shared" / "eval")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    spec_ = importlib.util.spec_from_file_location("score", args.kit / "score.py")
    kit = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(kit)
    cat = load_catalog()
    isnet, u2 = cat.model("isnet-medium"), cat.model("u2netp")
    big = dataclasses.replace(isnet, input_size=(args.size, args.size))
    runner = OnnxRunner(threads=args.threads)
    folder = args.run / f"raw-{args.size}" / "isnet-medium"
    folder.mkdir(parents=True, exist_ok=True)
    samples = json.loads((args.set / "manifest.json").read_text())["samples"]
    ids = [s["id"] for s in samples if max(s["size"]) >= args.min_side]
    rows = {k: [] for k in ("isnet 1024", f"isnet {args.size}", "fused 1024",
                            f"fused {args.size}")}
    for sid in ids:
        rgb = decode((args.set / sid / "image.jpg").read_bytes(), max_pixels=None).rgb
        gt = kit.read_alpha(args.set / sid / "alpha.png")
        path = folder / f"{sid}.npy"
        if not path.exists():
            t0 = time.perf_counter()
            np.save(path, runner.run(big, P.prepare(rgb, big)))
            print(f"  {sid} {rgb.shape[1]}x{rgb.shape[0]} at {args.size}: "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        e_big = np.load(path)
        e = np.load(args.run / "raw" / "isnet-medium" / f"{sid}.npy")
        u = np.load(args.run / "raw" / "u2netp" / f"{sid}.npy")
        for name, alpha in (
            ("isnet 1024", P.finish(e, isnet, rgb)),
            (f"isnet {args.size}", P.finish(e_big, big, rgb)),
            ("fused 1024", F.fused_alpha(e, u, rgb, edges=isnet, regions=u2)),
            (f"fused {args.size}", F.fused_alpha(e_big, u, rgb, edges=big, regions=u2)),
        ):
            m = kit.score_pair(alpha.astype(np.float32) / 255.0, gt)
            rows[name].append({"id": sid, **m})
    print(f"{len(ids)} samples with a side >= {args.min_side}: {', '.join(ids)}\n")
    print("| pipeline | MAE | IoU@0.5 | BF@3px | MAE W/L vs its 1024 run |")
    print("|---|---:|---:|---:|---|")
    for name, rs in rows.items():
        base = rows["isnet 1024" if name.startswith("isnet") else "fused 1024"]
        d = np.array([a["mae"] - b["mae"] for a, b in zip(rs, base, strict=True)])
        print(f"| {name} | {np.mean([r['mae'] for r in rs]):.5f} "
              f"| {np.mean([r['iou'] for r in rs]):.4f} | {np.mean([r['bf'] for r in rs]):.4f} "
              f"| {int((d < -1e-4).sum())}/{int((d > 1e-4).sum())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
