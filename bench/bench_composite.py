"""Benchmark of matte.composite, matte.export and matte.overlay on a 12 MP synthetic photo.

The photo (4000 x 3000) is a textured subject over a textured, gently varying background with
sensor-like noise (sigma ~3 levels), so PNG/WebP sizes and speeds are photo-like rather than
those of flat colour; the matte is a soft-edged blob (about 30 % of the frame) with holes
and islands.

Run: ``python bench/bench_composite.py [--repeat N] [--only SUBSTRING]``. Prints the median
wall time of each operation in milliseconds (and the encoded size for encoders).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from matte import composite as C  # noqa: E402
from matte import export as E  # noqa: E402
from matte import overlay as O  # noqa: E402
from matte.geometry import Rect  # noqa: E402


def synthetic(h: int = 3000, w: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(image (h, w, 3) uint8, alpha (h, w) uint8)``: textured subject, noisy background."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    dist = (
        np.hypot((y - 0.55) / 0.38, (x - 0.5) / 0.25)
        - 1
        + 0.03 * np.sin(40 * np.arctan2(y - 0.55, x - 0.5))
    )
    a = np.clip(0.5 - dist * 300, 0, 1)  # ~10 px soft edge at 12 MP
    image = np.empty((h, w, 3), np.uint8)
    for c, (base, amp, fx, fy) in enumerate([(90, 60, 7, 3), (120, 50, 5, 9), (150, 40, 3, 4)]):
        bg = base + amp * np.sin(fx * x + fy * y + c) * np.cos(2 * fy * y - fx * x)
        fg = 140 + 50 * np.sin(x * w / (9 + 4 * c)) * np.cos(y * h / (13 + c))  # fine texture
        ch = a * fg + (1 - a) * bg
        ch += rng.normal(0, 3, (h, w)).astype(np.float32)
        np.clip(ch, 0, 255, out=ch)
        image[..., c] = ch
    alpha = np.rint(a * 255).astype(np.uint8)
    for _ in range(20):  # holes and islands
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), int(rng.integers(5, 40))
        alpha[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = 255 if rng.random() < 0.5 else 0
    return image, alpha


def median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    args = ap.parse_args()

    t0 = time.perf_counter()
    image, alpha = synthetic()
    print(
        f"synthetic 4000x3000 photo in {time.perf_counter() - t0:.1f} s; "
        f"{(alpha == 0).mean():.0%} transparent, {((alpha > 0) & (alpha < 255)).mean():.1%} soft"
    )
    bg_photo = synthetic(1080, 1920, seed=1)[0]
    rgba = C.cutout(image, alpha)
    rgb = C.over_color(image, alpha, "white")

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("cutout", lambda: C.cutout(image, alpha), args.repeat),
        ("cutout + shadow", lambda: C.cutout(image, alpha, shadow=True), args.repeat),
        ("over_color", lambda: C.over_color(image, alpha, "white"), args.repeat),
        (
            "over_color + shadow",
            lambda: C.over_color(image, alpha, "#eee", shadow=True),
            args.repeat,
        ),
        (
            "over_image (1920x1080 background)",
            lambda: C.over_image(image, alpha, bg_photo),
            args.repeat,
        ),
        ("over_blur radius 20", lambda: C.over_blur(image, alpha, radius=20), args.repeat),
        ("over_blur radius 60", lambda: C.over_blur(image, alpha, radius=60), args.repeat),
        ("subject_bbox", lambda: C.subject_bbox(alpha), args.repeat),
    ]
    for level in (1, 3, 4, 6):
        cases.append(
            (
                f"encode png RGBA level {level}",
                lambda level=level: E.encode(rgba, format="png", compress_level=level),
                min(args.repeat, 2) if level >= 6 else args.repeat,
            )
        )
    cases += [
        (
            f"encode png RGBA level {level} clear_transparent",
            lambda level=level: E.encode(rgba, compress_level=level, clear_transparent=True),
            args.repeat,
        )
        for level in (1, 4)
    ]
    cases += [
        (
            "encode png RGB (flattened) default level",
            lambda: E.encode(rgb, format="png"),
            args.repeat,
        ),
        ("encode webp lossy q90", lambda: E.encode(rgba, format="webp", quality=90), args.repeat),
        ("encode webp lossless", lambda: E.encode(rgba, format="webp", lossless=True), args.repeat),
        (
            "encode jpeg q90 (flatten + encode)",
            lambda: E.encode(rgba, format="jpeg", quality=90),
            args.repeat,
        ),
        ("mask_png", lambda: E.mask_png(alpha), args.repeat),
    ]
    view = (800, 1200)
    for scale in (0.3, 1.0, 3.0):
        h, w = int(view[0] / scale), int(view[1] / scale)
        rect = Rect(200, 0, 200 + h, w)
        for sampling in ("area", "nearest"):
            if scale >= 1 and sampling == "nearest":
                continue  # identical path when not downscaling
            tag = f"{view[1]}x{view[0]} @ {scale} {sampling}"
            cases.append(
                (
                    f"render_overlay {tag}",
                    lambda r=rect, s=scale, m=sampling: O.render_overlay(
                        image, alpha, rect=r, scale=s, sampling=m
                    ),
                    7,
                )
            )
            cases.append(
                (
                    f"render_cutout {tag}",
                    lambda r=rect, s=scale, m=sampling: O.render_cutout(
                        image, alpha, rect=r, scale=s, sampling=m
                    ),
                    7,
                )
            )
    brush = Rect(1500, 2000, 1500 + 120, 2000 + 120)  # a 120 px brush dab in source pixels
    rect = Rect(200, 0, 200 + 2666, 4000)
    win = O.output_window(brush, rect=rect, scale=0.3, shape=alpha.shape)
    cases.append(
        (
            f"render_overlay dirty window {win.height}x{win.width} @ 0.3 area",
            lambda: O.render_overlay(image, alpha, rect=rect, scale=0.3, window=win),
            21,
        )
    )

    print(f"{'operation':58s} {'median ms':>10s}  output")
    for name, fn, repeat in cases:
        if args.only and args.only not in name:
            continue
        ms, result = median_ms(fn, max(1, repeat))
        if isinstance(result, bytes):
            extra = f"{len(result) / 1e6:.2f} MB"
        elif isinstance(result, np.ndarray):
            extra = "x".join(map(str, result.shape))
        else:
            extra = str(result)
        print(f"{name:58s} {ms:10.1f}  {extra}", flush=True)


if __name__ == "__main__":
    main()
