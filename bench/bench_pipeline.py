"""Cost of the pipeline around inference on a 12 MP (4000x3000) photo.

Times, per model input size (ISNet 1024x1024, U2-Net-p 320x320):

* ``prepare`` (``to_tensor``: resize to the model's input, normalise);
* ``finish(refine=False)``, the reference path (bilinear upsampling to 12 MP, quantise);
* ``finish()``, the default, and its steps: bicubic upsampling, the guided filter on the edge
  band (``refine_edges``), the clamp (two ``grow_shrink``); "extra" is ``finish()`` minus
  the reference path;
* the fusion (``--fusion best``, the default pipeline): ``fuse_units`` (the rules on the
  coarse grid and the blend on ISNet's) and ``fused_alpha`` (rules + finish) against ISNet's
  own ``finish()`` on the same output; "added" is what the fusion costs on top. In the
  synthetic case a sixth of ISNet's output is halved (left undecided), so the rule fires.

The photo is synthetic by default: a textured subject with a soft, wobbly outline (about 30 %
of the frame) over a gradient, with noise, and the model output is that alpha reduced to the
model's resolution and blurred by about one output pixel, as a model's is. ``--sample DIR``
uses an eval-kit sample instead (``DIR/image.jpg``) with a cached raw output of
``bench/eval_models.py`` (``--raw-root``), e.g. ``--sample ~/.cache/matte/eval/data/039``.

Run: ``python bench/bench_pipeline.py [--repeat N] [--sample DIR]``. Prints median wall times
in milliseconds (the machine is shared: compare medians, not single runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from matte import fuse  # noqa: E402
from matte import postprocess as PP  # noqa: E402
from matte.decode import decode  # noqa: E402
from matte.models import load_catalog  # noqa: E402
from matte.pipeline import finish, prepare  # noqa: E402
from matte.refine import edge_band, grow_shrink, refine_edges  # noqa: E402

CACHE = Path.home() / ".cache" / "matte"


def synthetic(h: int = 3000, w: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(image (h, w, 3) uint8, alpha (h, w) float32 in 0..1)``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    cy, cx = h * 0.52, w * 0.5
    ang = np.arctan2(yy - cy, xx - cx)
    rad = 0.36 * h * (1 + 0.12 * np.sin(5 * ang) + 0.04 * np.sin(23 * ang + 1.0))
    soft = 5.0 * h / 3000
    alpha = np.clip((rad - np.hypot(yy - cy, (xx - cx) * 0.8)) / (2 * soft) + 0.5, 0, 1)
    fg = np.stack([150 + 40 * np.sin(xx / 13), 100 + 30 * np.cos(yy / 17), 70 + 0 * xx], axis=2)
    bg = np.stack([60 + 40 * np.sin(yy / 300), 140 + 50 * np.cos(xx / 400), 120 + 0 * xx], axis=2)
    a = alpha[:, :, None]
    image = a * fg + (1 - a) * bg
    image += rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), alpha.astype(np.float32)


def model_output(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``alpha`` at the model's (h, w), with an edge about one output pixel wider: (1, 1, h, w)."""
    low = Image.fromarray(alpha, "F").resize(size[::-1], Image.Resampling.BOX)
    low = low.resize((size[1] // 2, size[0] // 2), Image.Resampling.BILINEAR)
    low = low.resize(size[::-1], Image.Resampling.BILINEAR)
    return np.asarray(low, dtype=np.float32)[None, None]


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--models", nargs="+", default=["isnet-medium", "u2netp"])
    p.add_argument("--sample", type=Path, help="an eval-kit sample folder (with image.jpg)")
    p.add_argument("--raw-root", type=Path, default=CACHE / "eval" / "runs" / "main" / "raw")
    p.add_argument("--fusion", default="best",
                   help="also time this fusion's finish against its edges model's ('' skips)")
    p.add_argument("--infer", action="store_true",
                   help="also time inference (onnxruntime, models from `build.py fetch`)")
    args = p.parse_args(argv)
    catalog = load_catalog()
    if args.sample:
        image = decode((args.sample / "image.jpg").read_bytes(), max_pixels=None).rgb
        alpha = None
        what = f"{args.sample} ({image.shape[1]}x{image.shape[0]})"
    else:
        image, alpha = synthetic()
        what = f"synthetic {image.shape[1]}x{image.shape[0]}"
    h, w = image.shape[:2]
    print(f"{what}; median of {args.repeat} runs, ms\n")
    runner = None
    if args.infer:
        from matte.runner import OnnxRunner

        runner = OnnxRunner()
    print("| model | prepare | inference | finish(refine=False) | finish() | extra "
          "| of which: bicubic | guided filter | clamp | band px | radius px |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mid in args.models:
        spec = catalog.get(mid)
        if alpha is None:
            output = np.load(args.raw_root / mid / f"{args.sample.name}.npy")
        else:
            output = model_output(alpha, spec.input_size)
        unit = PP.output_to_unit(output, spec)
        up = PP.upscale_factor(unit.shape, (h, w))
        t_prep = median_ms(lambda spec=spec: prepare(image, spec), args.repeat)
        t_inf = float("nan")
        if runner is not None:
            tensor = prepare(image, spec)
            runner.run(spec, tensor)  # load the session outside the timing
            t_inf = median_ms(lambda s=spec, t=tensor: runner.run(s, t), min(args.repeat, 3))
        t_ref = median_ms(lambda o=output, s=spec: finish(o, s, image, refine=False), args.repeat)
        t_def = median_ms(lambda o=output, s=spec: finish(o, s, image), args.repeat)
        bicubic = PP.unit_to_alpha(unit, (h, w), resample="bicubic")
        t_bic = median_ms(lambda u=unit: PP.unit_to_alpha(u, (h, w), resample="bicubic"),
                          args.repeat)
        # the steps as refine_alpha runs them: window radius r, band and clamp d
        r = max(1, round(PP.REFINE_RADIUS * up))
        d = max(1.0, PP.REFINE_SLACK * up)
        b = min(float(r), d)
        t_gf = median_ms(
            lambda a=bicubic, r=r, b=b: refine_edges(image, a, radius=r, eps=PP.REFINE_EPS, band=b),
            args.repeat,
        )
        t_clamp = median_ms(
            lambda a=bicubic, d=d: (grow_shrink(a, radius=-d), grow_shrink(a, radius=d)),
            args.repeat,
        )
        band = int(edge_band(bicubic, band=b).sum())
        print(f"| {mid} | {t_prep:.0f} | {t_inf:.0f} | {t_ref:.0f} | {t_def:.0f} "
              f"| {t_def - t_ref:+.0f} | {t_bic:.0f} | {t_gf:.0f} | {t_clamp:.0f} "
              f"| {band / 1e6:.2f} M | {r} |")
    if args.fusion:
        _bench_fusion(catalog, image, alpha, args)
    return 0


def _bench_fusion(catalog, image: np.ndarray, alpha: np.ndarray | None, args) -> None:
    """The fused finish (``best``) against ISNet's own finish on the same outputs."""
    fusion = catalog.get(args.fusion)
    e_spec, r_spec = fusion.edges, fusion.regions
    if alpha is None:
        e_out = np.load(args.raw_root / e_spec.id / f"{args.sample.name}.npy")
        r_out = np.load(args.raw_root / r_spec.id / f"{args.sample.name}.npy")
    else:
        e_out = np.array(model_output(alpha, e_spec.input_size))
        r_out = model_output(alpha, r_spec.input_size)
        # ISNet's failure the fusion is for: a wide part of the subject left half transparent
        hh, ww = e_out.shape[-2:]
        e_out[..., hh // 3 : hh // 2, ww // 3 : ww // 2] *= 0.5
    e_unit = PP.output_to_unit(e_out, e_spec)
    r_unit = PP.output_to_unit(r_out, r_spec)
    wide = fuse.wide_undecided(e_unit, r_unit.shape)
    t_rules = median_ms(lambda: fuse.fuse_units(e_unit, r_unit), args.repeat)
    # interleaved, so both see the same machine load (a shared machine drifts between runs)
    alone, fused = [], []
    for _ in range(args.repeat):
        alone.append(median_ms(lambda: finish(e_out, e_spec, image), 1))
        fused.append(median_ms(lambda: fuse.fused_alpha(e_out, r_out, image, edges=e_spec,
                                                        regions=r_spec), 1))
    t_alone, t_fused = statistics.median(alone), statistics.median(fused)
    print(f"\nfusion {fusion.id} ({e_spec.id} + {r_spec.id}); wide undecided: "
          f"{wide.mean() * 100:.1f} % of the coarse grid\n")
    print("| fuse_units | finish() of the edges model alone | fused_alpha() | added |")
    print("|---:|---:|---:|---:|")
    print(f"| {t_rules:.0f} | {t_alone:.0f} | {t_fused:.0f} | {t_fused - t_alone:+.0f} |")


if __name__ == "__main__":
    sys.exit(main())
