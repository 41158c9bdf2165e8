"""Benchmark of matte.refine on a 12 MP (4000x3000) and a 1 MP (1155x866) synthetic photo.

The mask is what a matting model's upscaled output looks like: a wobbly blob with a soft edge
(about 10 px wide at 12 MP), a few hair-like strands, islands and holes; the image is a noisy
textured foreground composited over a textured background with that mask. Two harder masks
are timed too: 50% binary noise (the worst case for labelling) and the mask feathered by 30 px
(at 12 MP; a wide soft band, so edge-local work covers far more of the image).

Run: ``python bench/bench_refine.py [--repeat N] [--only SUBSTRING]``. Prints the median time
of each operation in milliseconds (first call included in the samples only if --repeat 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from matte import refine as R  # noqa: E402


def synthetic(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(image (h, w, 3) uint8, alpha (h, w) uint8)`` of a blob with a soft edge."""
    rng = np.random.default_rng(seed)
    scale = min(h, w) / 3000
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    cy, cx = h * 0.55, w * 0.5
    ang = np.arctan2(yy - cy, xx - cx)
    rad = (h * 0.36) * (
        1 + 0.12 * np.sin(5 * ang) + 0.04 * np.sin(23 * ang + 1.0) + 0.01 * np.sin(97 * ang)
    )
    dist = np.hypot(yy - cy, (xx - cx) * 0.8) - rad  # < 0 inside
    soft = 5.0 * scale  # half-width of the soft edge in pixels
    a = np.clip(0.5 - dist / (2 * soft), 0, 1)
    # hair: thin, faint strands sticking out of the top half
    strands = (np.abs(np.sin(ang * 180)) > 0.97) & (dist > 0) & (dist < 60 * scale) & (ang < 0)
    a = np.maximum(a, strands * np.clip(1 - dist / (60 * scale), 0, 1) * 0.6)
    alpha = np.rint(a * 255).astype(np.uint8)
    # islands and holes
    for _ in range(40):
        y, x, r = rng.integers(0, h), rng.integers(0, w), int(rng.integers(1, 12 * scale + 2))
        alpha[max(0, y - r) : y + r, max(0, x - r) : x + r] = 255 if rng.random() < 0.5 else 0
    noise = rng.integers(0, 24, (h, w), dtype=np.uint8)
    af = a[:, :, None]
    fg = np.stack([150 + 40 * np.sin(xx / 13), 100 + 30 * np.cos(yy / 17), 70 + 0 * xx], axis=2)
    bg = np.stack([60 + 40 * np.sin(yy / 300), 140 + 50 * np.cos(xx / 400), 120 + 0 * xx], axis=2)
    image = (af * fg + (1 - af) * bg).astype(np.uint8)
    image += noise[:, :, None]
    return image, alpha


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def cases(image: np.ndarray, alpha: np.ndarray) -> list[tuple[str, object]]:
    noise = np.where(np.random.default_rng(1).random(alpha.shape) < 0.5, 255, 0).astype(np.uint8)
    scale = min(alpha.shape) / 3000
    wide = R.feather(alpha, radius=30 * scale)  # a heavily feathered mask: a wide soft band
    return [
        ("feather radius=4", lambda: R.feather(alpha, radius=4)),
        ("threshold", lambda: R.threshold(alpha)),
        ("smooth radius=4 contrast=10", lambda: R.smooth(alpha, radius=4, contrast=10)),
        ("grow radius=5", lambda: R.grow(alpha, radius=5)),
        ("grow radius=25", lambda: R.grow(alpha, radius=25)),
        ("shrink radius=25", lambda: R.shrink(alpha, radius=25)),
        ("grow radius=100", lambda: R.grow(alpha, radius=100)),
        ("remove_islands min_area=500", lambda: R.remove_islands(alpha, min_area=500)),
        ("fill_holes max_area=5000", lambda: R.fill_holes(alpha, max_area=5000)),
        ("remove_islands, 50% noise mask", lambda: R.remove_islands(noise, min_area=500)),
        ("refine_edges (radius=8)", lambda: R.refine_edges(image, alpha)),
        ("refine_edges radius=16", lambda: R.refine_edges(image, alpha, radius=16)),
        ("refine_edges guide=gray", lambda: R.refine_edges(image, alpha, guide="gray")),
        ("refine_edges scale=1 (exact)", lambda: R.refine_edges(image, alpha, scale=1)),
        ("decontaminate (radius=90)", lambda: R.decontaminate(image, alpha)),
        ("refine_edges, feathered mask", lambda: R.refine_edges(image, wide)),
        ("decontaminate, feathered mask", lambda: R.decontaminate(image, wide)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=0, help="samples per case (default 5/3)")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    sizes = [("1 MP", 866, 1155, args.repeat or 5), ("12 MP", 3000, 4000, args.repeat or 3)]
    results: dict[str, dict[str, float]] = {}
    for label, h, w, repeat in sizes:
        t0 = time.perf_counter()
        image, alpha = synthetic(h, w)
        soft = np.count_nonzero((alpha > 0) & (alpha < 255))
        print(
            f"{label}: {w}x{h}, {soft / alpha.size:.1%} soft pixels "
            f"(made in {time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        for name, fn in cases(image, alpha):
            if args.only in name:
                results.setdefault(name, {})[label] = median_ms(fn, repeat)
    print(f"{'operation':34s} {'1 MP':>10s} {'12 MP':>10s}   (median ms)")
    for name, row in results.items():
        print(
            f"{name:34s} {row.get('1 MP', float('nan')):10.1f} "
            f"{row.get('12 MP', float('nan')):10.1f}"
        )


if __name__ == "__main__":
    main()
