"""Benchmark: the editor session (matte.session.EditSession) on a 12 MP (4000 x 3000) photo.

Prints (does not assert):

* per pointer event: one ``stroke_extend`` (a ~24 px segment, radius 40, hardness 0.8) plus
  the render of the dirty window of the viewport, for the 'result' view (transparent, colour,
  blur and image backgrounds, with and without shadow/decontamination) and the 'refine' view, at
  display scales 0.25 (whole image in view) and 1.0 (a 1200 x 800 viewport): median / p95;
* stroke end (plain and edge-aware), undo, redo; the first render after a stroke ends with the
  shadow / decontamination on (the caches catch up);
* whole-viewport renders (area and nearest sampling);
* refine previews at 12 MP, one-off cache builds, export;
* memory: bytes held by the session after 100 strokes with every cache built, against
  4x the RGBA size of the image (192 MB).

Run: ``python bench/bench_session.py [--quick]`` (about 1-2 minutes single-threaded; --quick
runs fewer events).
"""

from __future__ import annotations

import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from matte.decode import Decoded  # noqa: E402
from matte.geometry import Rect  # noqa: E402
from matte.session import EditSession  # noqa: E402

H, W = 3000, 4000
QUICK = "--quick" in sys.argv


def photo(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic photo (smooth colour + noise) and a mask: an elliptical subject with a soft
    edge a few px wide."""
    yy, xx = np.mgrid[0:H:8, 0:W:8]
    base = np.stack([(yy * 0.05) % 255, (xx * 0.04) % 255, ((xx + yy) * 0.03) % 255], axis=2)
    rgb = np.repeat(np.repeat(base.astype(np.uint8), 8, 0), 8, 1)
    rgb = (rgb + rng.integers(0, 24, rgb.shape, dtype=np.uint8)).astype(np.uint8)
    yy, xx = np.ogrid[:H, :W]
    d = np.sqrt(((yy - H / 2) / (0.37 * H)) ** 2 + ((xx - W / 2) / (0.37 * W)) ** 2)
    alpha = np.clip((1 - d) * 0.37 * H * 255 / 6 + 128, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb), alpha


def stats(samples: list[float]) -> str:
    a = np.asarray(samples) * 1e3
    return f"median {np.median(a):7.2f} ms   p95 {np.percentile(a, 95):7.2f} ms   (n={a.size})"


def timed(f, n: int = 1) -> tuple[float, object]:
    t0 = time.perf_counter()
    for _ in range(n):
        r = f()
    return (time.perf_counter() - t0) / n, r


def edge_path(rng: np.random.Generator, n: int, step: float) -> list[tuple[float, float]]:
    """A wavy path along the subject's edge, ``step`` px between samples."""
    t = rng.uniform(0, 2 * math.pi)
    pts = []
    for _ in range(n + 1):
        wob = 20 * math.sin(7 * t)
        pts.append(
            (H / 2 + (0.37 * H + wob) * math.sin(t), W / 2 + (0.37 * W + wob) * math.cos(t))
        )
        t += step / (0.37 * (H + W) / 2)
    return pts


def bench_events(s: EditSession, rng: np.random.Generator, label: str, view: str) -> None:
    n_strokes = 6 if QUICK else 20
    for scale in (0.25, 1.0):
        ext, ren, tot = [], [], []
        for i in range(n_strokes):
            path = edge_path(rng, 12, 24.0)
            r0, c0 = path[0]
            if scale == 0.25:
                viewport = Rect(0, 0, H, W)
            else:
                viewport = Rect(int(r0) - 400, int(c0) - 600, int(r0) + 400, int(c0) + 600)
            s.stroke_begin(r0, c0, mode="erase" if i % 2 else "restore", radius=40)
            for r, c in path[1:]:
                t0 = time.perf_counter()
                dirty = s.stroke_extend([(r, c, 1.0)])
                t1 = time.perf_counter()
                win = s.output_window(dirty, viewport, scale)
                s.render(viewport, scale, view=view, window=win)
                t2 = time.perf_counter()
                ext.append(t1 - t0)
                ren.append(t2 - t1)
                tot.append(t2 - t0)
            s.stroke_end()
            s.undo()
        print(f"  {label:34s} scale {scale:4.2f}  extend+render {stats(tot)}")
        print(f"  {'':34s}             extend        {stats(ext)}")
        print(f"  {'':34s}             render        {stats(ren)}")


def main() -> None:
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    rng = np.random.default_rng(0)
    rgb, alpha = photo(rng)
    s = EditSession(Decoded(rgb, None, None, "JPEG"), alpha, name="photo.jpg")
    bg_pic = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)

    print("\n== per pointer event (one 24 px segment, radius 40): stroke_extend + render ==")
    bench_events(s, rng, "refine view", "refine")
    bench_events(s, rng, "result, transparent", "result")
    s.set_background("color", color="white")
    bench_events(s, rng, "result, colour", "result")
    s.set_background("blur", blur=20)
    s.render(Rect(0, 0, 8, 8), 1.0)
    bench_events(s, rng, "result, blur", "result")
    s.set_background("image", image=bg_pic)
    s.render(Rect(0, 0, 8, 8), 1.0)
    bench_events(s, rng, "result, image", "result")
    s.set_background("transparent")
    s.set_shadow(True, offset=(20, 20), blur=15)
    s.set_decontaminate(True)
    s.render(Rect(0, 0, 8, 8), 1.0)
    bench_events(s, rng, "result, transparent+shadow+decon", "result")
    s.set_background("color", color="white")
    bench_events(s, rng, "result, colour+shadow+decon", "result")

    print("\n== stroke end, undo/redo, caches catching up (colour+shadow+decon) ==")
    ends, edge_ends, undos, redos, catch = [], [], [], [], []
    for i in range(4 if QUICK else 10):
        path = edge_path(rng, 12, 24.0)
        for edge in (False, True):
            s.stroke_begin(*path[0], mode="restore" if i % 2 else "erase", radius=40,
                           edge_aware=edge)
            s.stroke_extend([(r, c, 1.0) for r, c in path[1:]])
            dt, rect = timed(s.stroke_end)
            (edge_ends if edge else ends).append(dt)
            area = s.affected_rect(rect)
            dt, _ = timed(lambda area=area: s.render(area, 0.25))
            catch.append(dt)
            dt, _ = timed(s.undo)
            undos.append(dt)
            dt, _ = timed(s.redo)
            redos.append(dt)
            s.undo()
    print(f"  stroke_end                  {stats(ends)}")
    print(f"  stroke_end, edge-aware      {stats(edge_ends)}")
    print(f"  undo                        {stats(undos)}")
    print(f"  redo                        {stats(redos)}")
    print(f"  first render after a stroke {stats(catch)}  (shadow + decon caught up on crops)")

    print("\n== whole-viewport renders (1000 x 750 at 0.25; 1200 x 800 at 1.0; 2400x1600 at 2) ==")
    cases = [
        ("refine", "transparent", False),
        ("result", "transparent", False),
        ("result", "color", False),
        ("result", "color", True),
        ("result", "blur", False),
        ("result", "image", True),
    ]
    for view, kind, extras in cases:
        s.set_background(kind)
        s.set_shadow(extras)
        s.set_decontaminate(extras)
        s.render(Rect(0, 0, 8, 8), 1.0)
        tag = f"{view}/{kind}" + ("+shadow+decon" if extras else "")
        for scale, rect in ((0.25, Rect(0, 0, H, W)), (1.0, Rect(1000, 1000, 1800, 2200)),
                            (2.0, Rect(1000, 1000, 1800, 2200))):
            for sampling in ("area", "nearest"):
                if scale >= 1 and sampling == "nearest":
                    continue
                kw = {"view": view, "sampling": sampling}
                dt, _ = timed(lambda r=rect, sc=scale, kw=kw: s.render(r, sc, **kw), 3)
                print(f"  {tag:34s} scale {scale:4.2f} {sampling:8s} {dt * 1e3:8.1f} ms")

    print("\n== refine previews on the 12 MP mask (each from the same base) ==")
    s.set_shadow(False)
    s.set_decontaminate(False)
    for op, params in (
        ("feather", {"radius": 3}),
        ("grow", {"radius": 5}),
        ("grow", {"radius": -5}),
        ("smooth", {"radius": 4}),
        ("threshold", {"level": 128}),
        ("islands", {"min_area": 500}),
        ("holes", {"max_area": 500}),
        ("edges", {"radius": 8}),
    ):
        dt, _ = timed(lambda op=op, params=params: s.refine_preview(op, **params))
        print(f"  preview {op:9s} {params!s:20s} {dt * 1e3:8.1f} ms")
    dt, _ = timed(s.refine_commit)
    print(f"  commit (one history step)             {dt * 1e3:8.1f} ms")
    s.undo()
    s.refine_preview("feather", radius=3)
    dt, _ = timed(s.refine_cancel)
    print(f"  cancel                                {dt * 1e3:8.1f} ms")
    dt, _ = timed(s.reset_mask)
    print(f"  reset_mask                            {dt * 1e3:8.1f} ms")

    print("\n== one-off cache builds and export ==")
    fresh = EditSession(Decoded(rgb, None, None, "JPEG"), alpha, name="photo.jpg")
    for label, setup in (
        ("blur background (radius 20)", lambda: fresh.set_background("blur", blur=20)),
        ("image background (cover-fit)", lambda: fresh.set_background("image", image=bg_pic)),
        ("shadow coverage", lambda: fresh.set_shadow(True, offset=(20, 20), blur=15)),
        ("decontamination (radius 90, full)", lambda: fresh.set_decontaminate(True)),
    ):
        setup()
        dt, _ = timed(lambda: fresh.render(Rect(0, 0, 8, 8), 1.0))
        print(f"  {label:36s} {dt * 1e3:8.1f} ms")
    for fmt, kind in (("png", "transparent"), ("png", "color"), ("jpeg", "color")):
        fresh.set_background(kind)
        dt, (data, _, _) = timed(lambda fmt=fmt: fresh.export(format=fmt))
        print(f"  export {fmt:4s} {kind:12s} (shadow+decon)   {dt * 1e3:8.1f} ms  "
              f"{len(data) / 2**20:6.2f} MiB")
    dt, (data, _, _) = timed(lambda: fresh.export(mask_only=True))
    print(f"  export mask PNG                      {dt * 1e3:8.1f} ms  "
          f"{len(data) / 2**20:6.2f} MiB")

    print("\n== memory after 100 strokes (radius 20-60, ~300 px), every cache built ==")
    s = EditSession(Decoded(rgb, None, None, "JPEG"), alpha, name="photo.jpg")
    s.set_background("blur", blur=20)
    s.set_shadow(True, offset=(20, 20), blur=15)
    s.set_decontaminate(True)
    s.render(Rect(0, 0, 8, 8), 1.0)
    for i in range(100):
        path = edge_path(rng, 12, 24.0)
        s.stroke_begin(*path[0], mode="erase" if i % 2 else "restore",
                       radius=float(rng.uniform(20, 60)))
        s.stroke_extend([(r, c, 1.0) for r, c in path[1:]])
        s.stroke_end()
    s.render(Rect(0, 0, H, W), 0.25)
    limit = 4 * H * W * 4
    mem = s.memory()
    for k, v in mem.items():
        if v:
            print(f"  {k:18s} {v / 2**20:8.2f} MiB")
    print(f"  total              {s.nbytes / 2**20:8.2f} MiB = {s.nbytes / 1e6:.1f} MB "
          f"({s.nbytes / limit:.2f} of the 4x RGBA limit, {limit / 1e6:.0f} MB)")
    s.set_background("image", image=bg_pic)
    s.render(Rect(0, 0, 8, 8), 1.0)
    print(f"  with an image background instead of blur: {s.nbytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
