"""Benchmark: brush segments and undo history on a 12 MP (4000 x 3000) mask.

Prints (does not assert):

* median / p95 time per stroke segment (one ``Stroke.extend`` call) for several radii, for
  typical pointer events (24 px apart) and fast flicks (200 px), plus one pressure-varying
  case, with the mean dirty-rectangle area (at radius 150 the dab spacing, 37.5 px, exceeds a
  24 px event, so some events paint nothing);
* time to record a stroke in the history, history bytes after 100 typical strokes
  (radius 20-60 px, ~300 px long) for zlib levels 1 and 6, on a typical mask and on noise;
* undo / redo time per stroke, and record / undo / redo of a full-image edit.

Run: ``python bench/bench_brush_history.py`` (about 20-40 s, single-threaded).
"""

from __future__ import annotations

import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from matte.brush import Stroke  # noqa: E402
from matte.geometry import Rect  # noqa: E402
from matte.history import History  # noqa: E402

H, W = 3000, 4000


def subject_mask() -> np.ndarray:
    """A typical mask: an elliptical subject (255) on background (0)."""
    alpha = np.zeros((H, W), np.uint8)
    yy, xx = np.ogrid[:H, :W]
    alpha[((yy - H / 2) / (0.37 * H)) ** 2 + ((xx - W / 2) / (0.37 * W)) ** 2 < 1] = 255
    return alpha


def stats_ms(samples: list[float]) -> str:
    a = np.asarray(samples) * 1e3
    return f"median {np.median(a):7.3f} ms   p95 {np.percentile(a, 95):7.3f} ms   (n={a.size})"


def random_stroke_path(rng, n_events: int, step: tuple[float, float]) -> list[tuple[float, float]]:
    """A smooth random walk starting near the subject's edge, bouncing off the image border."""
    t = rng.uniform(0, 2 * math.pi)
    r, c = H / 2 + 0.37 * H * math.sin(t), W / 2 + 0.37 * W * math.cos(t)
    dr, dc = math.sin(t + math.pi / 2), math.cos(t + math.pi / 2)  # along the edge
    path = [(r, c)]
    for _ in range(n_events):
        d = rng.uniform(*step)
        turn = rng.uniform(-0.3, 0.3)
        dr, dc = (
            dr * math.cos(turn) + dc * math.sin(turn),
            dc * math.cos(turn) - dr * math.sin(turn),
        )
        r, c = r + d * dr, c + d * dc
        if not 0 <= r < H:  # reflect: every segment stays inside the image
            r, dr = (-r if r < 0 else 2 * H - r), -dr
        if not 0 <= c < W:
            c, dc = (-c if c < 0 else 2 * W - c), -dc
        path.append((r, c))
    return path


def bench_segments(alpha: np.ndarray, rng) -> None:
    print("\n== per-segment time, 4000 x 3000 mask, hardness 0.5 ==")
    cases = [
        (5, 24, 40, False),
        (20, 24, 40, False),
        (60, 24, 40, False),
        (150, 24, 20, False),
        (20, 200, 20, False),
        (60, 200, 20, False),
        (150, 200, 10, False),
        (60, 24, 20, True),
    ]
    for radius, step, n_strokes, pressure in cases:
        times, areas = [], []
        for i in range(n_strokes):
            stroke = Stroke(
                alpha,
                radius=radius,
                hardness=0.5,
                strength=0.8,
                mode="erase" if i % 2 else "restore",
            )
            path = random_stroke_path(rng, 12, (step * 0.8, step * 1.2))
            stroke.begin(*path[0])
            for j, (r, c) in enumerate(path[1:]):
                p = 0.5 + 0.5 * math.sin(j) if pressure else 1.0
                t0 = time.perf_counter()
                rect = stroke.extend(r, c, p)
                times.append(time.perf_counter() - t0)
                areas.append(rect.area)
            stroke.end()
        tag = " pressure" if pressure else ""
        ns = 1e9 * sum(times) / max(1, sum(areas))
        print(
            f"radius {radius:4d}  segment {step:4d} px{tag:9s}  {stats_ms(times)}  "
            f"dirty {np.mean(areas) / 1e3:6.1f} kpx/segment, {ns:4.1f} ns/dirty px"
        )


def bench_history(base: np.ndarray, name: str, level: int, rng) -> None:
    alpha = base.copy()
    history = History(level=level)
    record_t, paint_t = [], []
    for i in range(100):
        stroke = Stroke(
            alpha,
            radius=float(rng.uniform(20, 60)),
            hardness=float(rng.uniform(0, 1)),
            strength=float(rng.uniform(0.3, 1.0)),
            mode="erase" if i % 2 else "restore",
        )
        path = random_stroke_path(rng, 12, (20, 30))  # ~300 px
        t0 = time.perf_counter()
        stroke.begin(*path[0])
        for r, c in path[1:]:
            stroke.extend(r, c)
        stroke.end()
        t1 = time.perf_counter()
        history.record_stroke(stroke)
        t2 = time.perf_counter()
        paint_t.append(t1 - t0)
        record_t.append(t2 - t1)
    print(
        f"{name:8s} zlib {level}: {len(history)} steps, {history.nbytes / 2**20:6.2f} MiB "
        f"({history.nbytes / len(history) / 1024:6.1f} KiB/stroke)"
    )
    print(f"    whole stroke (13 events) {stats_ms(paint_t)}")
    print(f"    record_stroke            {stats_ms(record_t)}")
    undo_t, redo_t = [], []
    after = alpha.copy()
    while history.can_undo:
        t0 = time.perf_counter()
        history.undo(alpha)
        undo_t.append(time.perf_counter() - t0)
    assert np.array_equal(alpha, base)
    while history.can_redo:
        t0 = time.perf_counter()
        history.redo(alpha)
        redo_t.append(time.perf_counter() - t0)
    assert np.array_equal(alpha, after)
    print(f"    undo                     {stats_ms(undo_t)}")
    print(f"    redo                     {stats_ms(redo_t)}")


def bench_full_edit(base: np.ndarray, level: int) -> None:
    alpha = base.copy()
    history = History(level=level)
    yy, xx = np.ogrid[:H, :W]
    d = np.hypot((yy - H / 2) / (0.37 * H), (xx - W / 2) / (0.37 * W))
    band = np.abs(d - 1) < 0.01  # a refine pass changes the pixels along the edge
    t0 = time.perf_counter()
    with history.edit(alpha, label="refine"):
        alpha[band] = 128
    t1 = time.perf_counter()
    history.undo(alpha)
    t2 = time.perf_counter()
    history.redo(alpha)
    t3 = time.perf_counter()
    print(
        f"full-image refine (edge band), zlib {level}: edit+record {1e3 * (t1 - t0):6.1f} ms, "
        f"{history.nbytes / 1024:7.1f} KiB, undo {1e3 * (t2 - t1):6.1f} ms, "
        f"redo {1e3 * (t3 - t2):6.1f} ms"
    )
    alpha = base.copy()
    history = History(level=level)
    t0 = time.perf_counter()
    history.record(base, 255 - base, Rect(0, 0, H, W), label="invert")
    t1 = time.perf_counter()
    alpha = 255 - base
    history.undo(alpha)
    t2 = time.perf_counter()
    print(
        f"full-image invert (every pixel), zlib {level}: record {1e3 * (t1 - t0):6.1f} ms, "
        f"{history.nbytes / 1024:7.1f} KiB, undo {1e3 * (t2 - t1):6.1f} ms"
    )


def main() -> None:
    start = time.perf_counter()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    rng = np.random.default_rng(0)
    base = subject_mask()
    bench_segments(base.copy(), rng)
    print("\n== history: 100 typical strokes (radius 20-60, ~300 px) on 12 MP ==")
    noise = np.random.default_rng(1).integers(0, 256, (H, W), dtype=np.uint8)
    for level in (1, 6):
        bench_history(base, "subject", level, np.random.default_rng(2))
    bench_history(noise, "noise", 6, np.random.default_rng(2))
    print("\n== whole-mask edits ==")
    for level in (1, 6):
        bench_full_edit(base, level)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
