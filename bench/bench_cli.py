"""Throughput of the ``matte remove`` command, end to end, as a user runs it.

Runs ``python -m matte remove FOLDER -o OUT --model M --jobs J`` in a fresh subprocess (so the
timings include everything a user waits for) over:

* a folder of photos: the first ``--folder-images`` images of the eval set
  (``../shared/eval/data/<id>/image.jpg``, 640x480 to 2048x1536) when it has been generated
  (``python shared/eval/make_set.py``), else the three photos of ``tests/data`` saved at 1200 and
  1800 px on the long side (six JPEGs);
* a 12 MP image: ``tests/data/astronaut.jpg`` upscaled (Lanczos, cover-fit) to 4000x3000, two
  copies in the folder so that ``--jobs 2`` has something to overlap; the time is per image.

for ``u2netp`` and ``isnet-medium``, each with ``--jobs 1`` and ``--jobs 2`` (default
``--threads``: CPU cores / jobs), repeated ``--reps`` times. It prints a Markdown table of medians:

* ``img/s`` (or ``s/img``): the CLI's own figure, images done / processing time, after the model
  is loaded (what a long batch converges to);
* ``wall img/s``: images / the subprocess's whole wall time (interpreter start, imports, model
  load and verification included: what a short batch feels like);
* ``load s``: model session creation, including the sha256 check of the file.

Usage: ``python bench/bench_cli.py [--reps 3] [--models u2netp isnet-medium] [--jobs 1 2]``.
About 3-4 minutes on a 2-core machine with the defaults.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402

from matte.models import load_catalog  # noqa: E402
from matte.runner import model_path  # noqa: E402

DATA = ROOT / "tests" / "data"
EVAL = ROOT.parent / "shared" / "eval" / "data"
SUMMARY = re.compile(
    r"(\d+) done, (\d+) failed in ([\d.]+) s \(model \S+ loaded in ([\d.]+) s, "
    r"then ([\d.]+) images/s"
)


def make_folder(dst: Path, n: int) -> str:
    """Fill ``dst`` with the folder benchmark's images; return a description."""
    dst.mkdir(parents=True)
    if EVAL.is_dir():
        ids = sorted(p.name for p in EVAL.iterdir() if (p / "image.jpg").is_file())[:n]
        sizes = []
        for i in ids:
            shutil.copyfile(EVAL / i / "image.jpg", dst / f"{i}.jpg")
            with Image.open(dst / f"{i}.jpg") as im:
                sizes.append(im.size)
        mp = statistics.median(w * h for w, h in sizes) / 1e6
        return f"{len(ids)} eval-set images ({EVAL}), median {mp:.1f} MP"
    count = 0
    for name in ("astronaut", "chelsea", "coffee"):
        with Image.open(DATA / f"{name}.jpg") as im:
            im = im.convert("RGB")
            for side in (1200, 1800):
                s = side / max(im.size)
                small = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
                small.save(dst / f"{name}-{side}.jpg", quality=92)
                count += 1
    return f"{count} photos from tests/data at 1200 and 1800 px (eval set not generated)"


def make_12mp(dst: Path, copies: int = 2) -> str:
    dst.mkdir(parents=True)
    with Image.open(DATA / "astronaut.jpg") as im:
        im = im.convert("RGB")
        # cover 4000x3000 with the square photo: its centre 512x384 band, upscaled 7.8x
        big = im.resize((4000, 3000), Image.LANCZOS, box=(0, 64, 512, 448))
        for i in range(copies):
            big.save(dst / f"big{i}.jpg", quality=92)
    return f"{copies} copies of astronaut.jpg upscaled to 4000x3000 (12 MP)"


def run_cli(folder: Path, out: Path, model: str, jobs: int) -> dict[str, float]:
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "matte", "remove", str(folder), "-o", str(out)]
    cmd += ["--model", model, "--jobs", str(jobs)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - t0
    m = SUMMARY.search(res.stderr)
    if res.returncode != 0 or m is None:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}")
    done = int(m.group(1))
    return {
        "done": done,
        "rate": float(m.group(5)),
        "wall_rate": done / wall,
        "load": float(m.group(4)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["u2netp", "isnet-medium"])
    ap.add_argument("--jobs", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--folder-images", type=int, default=8)
    args = ap.parse_args()

    cat = load_catalog()
    for m in args.models:
        if not model_path(cat.get(m)).is_file():
            print(f"model {m} is not in the cache: run `python build.py fetch`", file=sys.stderr)
            return 2

    with tempfile.TemporaryDirectory(prefix="matte-bench-cli-") as tmp:
        tmp_path = Path(tmp)
        folder_desc = make_folder(tmp_path / "folder", args.folder_images)
        big_desc = make_12mp(tmp_path / "big")
        sets = [("folder", tmp_path / "folder"), ("12 MP", tmp_path / "big")]
        results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
        t_all = time.perf_counter()
        for rep in range(args.reps):
            for model in args.models:
                for set_name, folder in sets:
                    for jobs in args.jobs:
                        r = run_cli(folder, tmp_path / "out", model, jobs)
                        results.setdefault((model, set_name, jobs), []).append(r)
                        print(
                            f"rep {rep + 1}/{args.reps} {model:13s} {set_name:6s} jobs={jobs}: "
                            f"{r['rate']:.2f} img/s ({r['wall_rate']:.2f} wall)",
                            file=sys.stderr,
                            flush=True,
                        )
        elapsed = time.perf_counter() - t_all

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import onnxruntime

    print()
    print(
        f"matte remove, medians of {args.reps} runs; {cpus} CPUs, onnxruntime "
        f"{onnxruntime.__version__}, Python {sys.version.split()[0]}, load average "
        f"{os.getloadavg()[0]:.1f} at the end; {elapsed:.0f} s in all"
    )
    print(f"folder: {folder_desc}")
    print(f"12 MP: {big_desc}")
    print()
    print("| model | jobs | folder img/s | folder wall img/s | 12 MP s/img | 12 MP wall s/img "
          "| load s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        for jobs in args.jobs:
            f = results[(model, "folder", jobs)]
            b = results[(model, "12 MP", jobs)]
            print(
                f"| {model} | {jobs} | {med(f, 'rate'):.2f} | {med(f, 'wall_rate'):.2f} "
                f"| {1 / med(b, 'rate'):.2f} | {1 / med(b, 'wall_rate'):.2f} "
                f"| {med(f + b, 'load'):.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
