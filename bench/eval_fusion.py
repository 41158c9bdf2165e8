"""Score the fusion of ISNet and u2netp (``matte.fuse``) against each model alone, paired.

Uses the raw model outputs that ``bench/eval_models.py --infer-only`` caches
(``<run>/raw/<model>/<id>.npy``, and ``raw-flip`` for the mirrored draw), so no model runs
here: every pipeline sees the same outputs of the same images. Scores with the eval kit's own
``score.py`` functions (imported from ``--kit``), so run it with the kit's venv::

    # once per set: cache the raw outputs (the expensive part)
    python bench/eval_models.py --set SET --out RUN --models u2netp isnet-medium \\
        --variants reference --infer-only            # add: --variants flip-ref (mirrored draw)
    # then, as often as needed:
    /work/evalenv/bin/python bench/eval_fusion.py --set SET --run RUN [--kind raw-flip]

Pipelines (``PIPELINES``; ``--pipelines`` picks some, ``--ablation`` adds the variants):

* ``isnet reference``: the plain seed-style path (bilinear, nothing else) of ISNet medium;
* ``u2netp reference``: the same for u2netp;
* ``isnet default``: matte's single-model default (bicubic + guided filter);
* ``fused``: :func:`matte.fuse.fused_alpha`, the new default.

Prints a Markdown table of the means (MAE, Grad/1000, IoU@0.5, BF@3px, MSE) and, per
pipeline, the per-image wins / ties / losses against the ISNet reference on MAE (a tie is a
difference under 1e-4), and the ratio of the mean MAE to the reference's. ``--worst N`` lists
the N images where the fused pipeline loses most. ``--save DIR`` writes each pipeline's
masks as PNGs for looking at them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from matte import fuse as F  # noqa: E402
from matte import pipeline as P  # noqa: E402
from matte import postprocess as PP  # noqa: E402
from matte.decode import decode  # noqa: E402
from matte.models import load_catalog  # noqa: E402

CAT = load_catalog()
ISNET = CAT.get("isnet-medium")
U2 = CAT.get("u2netp")

Pipe = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _fused(**kw) -> Pipe:
    def run(i_raw: np.ndarray, u_raw: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        return F.fused_alpha(i_raw, u_raw, rgb, edges=ISNET, regions=U2, **kw)

    return run


def _fused_hard(i_raw: np.ndarray, u_raw: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The fusion with u2netp thresholded at 0.5 (a hard decision in wide regions)."""
    u = (PP.output_to_unit(u_raw, U2) > 0.5).astype(np.float32)
    unit = F.fuse_units(PP.output_to_unit(i_raw, ISNET), u)
    size = rgb.shape[:2]
    alpha = PP.unit_to_alpha(unit, size, resample="bicubic")
    return PP.refine_alpha(alpha, rgb, upscale=PP.upscale_factor(unit.shape, size))


PIPELINES: dict[str, Pipe] = {
    "isnet reference": lambda i, u, rgb: P.finish(i, ISNET, rgb, refine=False),
    "u2netp reference": lambda i, u, rgb: P.finish(u, U2, rgb, refine=False),
    "isnet default": lambda i, u, rgb: P.finish(i, ISNET, rgb),
    "fused": _fused(),
}

ABLATION: dict[str, Pipe] = {
    # the undecided range and the opening radius (the default: 0.05-0.95, radius 5)
    "fused 0.1-0.9 r3": _fused(low=0.1, high=0.9, wide_radius=3),
    "fused 0.1-0.9 r5": _fused(low=0.1, high=0.9, wide_radius=5),
    "fused 0.2-0.8": _fused(low=0.2, high=0.8),
    "fused 0.02-0.98": _fused(low=0.02, high=0.98),
    "fused r3": _fused(wide_radius=3),
    "fused r2": _fused(wide_radius=2),
    "fused r0 (no opening)": _fused(wide_radius=0),
    "fused no feather": _fused(feather=0),
    # u2netp thresholded in the wide regions; the plain bilinear finish
    "fused hard": _fused_hard,
    "fused no refine": _fused(refine=False),
}


def _fast_scores(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """The kit's MAE, MSE and IoU@0.5 (same definitions); Grad and BF as NaN."""
    d = pred - gt
    pm, gm = pred > 0.5, gt > 0.5
    union = int(np.count_nonzero(pm | gm))
    iou = 1.0 if union == 0 else int(np.count_nonzero(pm & gm)) / union
    return {"mae": float(np.abs(d).mean(dtype=np.float64)), "mse": float(np.square(d).mean()),
            "iou": iou, "grad": float("nan"), "bf": float("nan")}


def load_kit(kit: Path):
    spec = importlib.util.spec_from_file_location("score", kit / "score.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True, help="eval_models.py --out folder")
    p.add_argument("--kind", default="raw", help="raw (default) or raw-flip (mirrored draw)")
    p.add_argument("--kit", type=Path, default=ROOT.parent / "shared" / "eval")
    p.add_argument("--pipelines", nargs="+")
    p.add_argument("--ablation", action="store_true")
    p.add_argument("--ids", nargs="+", help="only these sample ids")
    p.add_argument("--worst", type=int, default=0)
    p.add_argument("--save", type=Path)
    p.add_argument("--json", type=Path, help="write per-image scores here")
    p.add_argument("--edges", default="isnet-medium",
                   help="raw outputs of this model stand for ISNet (e.g. isnet-int8)")
    p.add_argument("--fast", action="store_true",
                   help="MAE, MSE and IoU only (Grad and BF are the slow metrics), for exploring")
    args = p.parse_args(argv)
    kit = load_kit(args.kit)
    pipes = dict(PIPELINES)
    if args.ablation:
        pipes.update(ABLATION)
    if args.pipelines:
        every = {**PIPELINES, **ABLATION}
        pipes = {k: every[k] for k in args.pipelines}
    manifest = json.loads((args.set / "manifest.json").read_text())
    ids = args.ids or [s["id"] for s in manifest["samples"]]
    rows: dict[str, dict[str, dict]] = {k: {} for k in pipes}
    post: dict[str, list[float]] = {k: [] for k in pipes}
    for sid in ids:
        rgb = decode((args.set / sid / "image.jpg").read_bytes(), max_pixels=None).rgb
        gt = kit.read_alpha(args.set / sid / "alpha.png")
        i_raw = np.load(args.run / args.kind / args.edges / f"{sid}.npy")
        u_raw = np.load(args.run / args.kind / "u2netp" / f"{sid}.npy")
        for name, fn in pipes.items():
            t0 = time.perf_counter()
            alpha = fn(i_raw, u_raw, rgb)
            post[name].append(time.perf_counter() - t0)
            if args.save:
                d = args.save / name.replace(" ", "-")
                d.mkdir(parents=True, exist_ok=True)
                Image.fromarray(alpha, "L").save(d / f"{sid}.png", compress_level=1)
            pred = alpha.astype(np.float32) / 255.0
            rows[name][sid] = _fast_scores(pred, gt) if args.fast else kit.score_pair(pred, gt)
        print(f"  {sid}", file=sys.stderr, flush=True)
    ref = rows.get("isnet reference")
    keys = ("mae", "grad", "iou", "bf", "mse")
    lines = ["| pipeline | MAE | x ref | Grad/1000 | IoU@0.5 | BF@3px | MSE | MAE vs ref W/T/L "
             "| post s (median) |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for name in pipes:
        m = {k: float(np.mean([rows[name][s][k] for s in ids])) for k in keys}
        ratio = wtl = ""
        if ref is not None:
            rm = float(np.mean([ref[s]["mae"] for s in ids]))
            ratio = f"{m['mae'] / rm:.3f}"
            d = np.array([rows[name][s]["mae"] - ref[s]["mae"] for s in ids])
            wtl = f"{int((d < -1e-4).sum())}/{int((abs(d) <= 1e-4).sum())}/{int((d > 1e-4).sum())}"
        lines.append(f"| {name} | {m['mae']:.5f} | {ratio} | {m['grad']:.2f} | {m['iou']:.4f} "
                     f"| {m['bf']:.4f} | {m['mse']:.5f} | {wtl} | {np.median(post[name]):.3f} |")
    print("\n".join(lines))
    if args.worst and ref is not None:
        for name in pipes:
            if name == "isnet reference":
                continue
            d = sorted(((rows[name][s]["mae"] - ref[s]["mae"], s) for s in ids), reverse=True)
            print(f"{name}: largest losses " + ", ".join(f"{s} +{v:.4f}" for v, s in d[:args.worst]
                                                        if v > 0)
                  + " | largest wins " + ", ".join(f"{s} {v:.4f}" for v, s in d[::-1][:args.worst]
                                                    if v < 0))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
