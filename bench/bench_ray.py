"""Throughput and memory of ``matte remove --engine ray`` against the local CLI, same folder.

Each configuration runs ``python -m matte remove FOLDER -o OUT --model M ...`` in a fresh
subprocess, so a Ray run includes starting its local Ray instance, the actors and their model
sessions, as a user's command does:

* ``local jobs=J``: the local engine (``--jobs J``, default ``--threads``: CPU cores / jobs);
* ``ray workers=W``: ``--engine ray --workers W`` (one onnxruntime thread and one CPU per actor).

The configurations are interleaved within each repetition (so the load of this shared machine
falls on all of them alike) and the table gives medians over ``--reps``:

* ``img/s``: images / the engine's own run time (local: after the model is loaded; Ray: the
  Ray Data job, including actor start-up and model load in the actors);
* ``steady img/s``: images after the first / time from the first to the last output file
  written (their mtimes, both engines): the rate once every worker is running, what a long
  catalog converges to;
* ``wall img/s``: images / the whole command (interpreter, imports, Ray start-up, shutdown);
* ``MB/worker``: peak resident memory of each actor process (from the results table), or of the
  local CLI's process;
* ``load``: the 1-minute load average when each run started.

The folder is ``bench_cli.make_folder``'s (the eval set's first ``--folder-images`` images when
it has been generated, else six photos from tests/data at 1200 and 1800 px).

Usage: ``python bench/bench_ray.py [--reps 3] [--models u2netp isnet-medium]``. Needs
``pip install 'matte[ray]'`` (requirements-test.txt pins it).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cli import make_folder  # noqa: E402

from matte.models import load_catalog  # noqa: E402
from matte.runner import model_path  # noqa: E402

LOCAL = re.compile(r"(\d+) done, (\d+) failed in ([\d.]+) s .* then ([\d.]+) images/s")
RAY = re.compile(r"(\d+) done, (\d+) failed, (\d+) skipped .* in ([\d.]+) s \(([\d.]+) images/s")


def _run(cmd: list[str], log: Path) -> tuple[int, float, float, str]:
    """Run ``cmd``; (exit code, wall seconds, peak RSS of the process in MB, its stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_maxrss / 1024, log.read_text()


def _steady(out: Path) -> float:
    """Images after the first / time from the first to the last output written (mtimes)."""
    times = sorted(p.stat().st_mtime for p in out.iterdir() if "-matte" in p.name)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def run_local(folder: Path, out: Path, model: str, jobs: int, log: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "matte", "remove", str(folder), "-o", str(out)]
    cmd += ["--model", model, "--jobs", str(jobs)]
    code, wall, rss, text = _run(cmd, log)
    m = LOCAL.search(text)
    if code != 0 or m is None:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{text[-3000:]}")
    done = int(m.group(1))
    rate = float(m.group(4))
    return {"done": done, "rate": rate, "steady": _steady(out), "wall": done / wall, "mb": rss}


def run_ray(folder: Path, out: Path, model: str, workers: int, log: Path) -> dict[str, float]:
    import pyarrow.parquet as pq

    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "matte", "remove", str(folder), "-o", str(out)]
    cmd += ["--model", model, "--engine", "ray", "--workers", str(workers)]
    code, wall, _, text = _run(cmd, log)
    m = RAY.search(text)
    if code != 0 or m is None:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{text[-3000:]}")
    done = int(m.group(1))
    rows = pq.read_table(out / "matte-results.parquet").to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    per_worker: dict[str, float] = {}
    for r in ok:
        per_worker[r["worker"]] = max(per_worker.get(r["worker"], 0.0), r["peak_rss_mb"])
    return {
        "done": done,
        "rate": float(m.group(5)),
        "steady": _steady(out),
        "wall": done / wall,
        "mb": statistics.median(per_worker.values()),
        "actors": len(per_worker),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["u2netp", "isnet-medium"])
    ap.add_argument("--jobs", nargs="+", type=int, default=[1, 2], help="local --jobs")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="Ray --workers")
    ap.add_argument("--folder-images", type=int, default=8)
    args = ap.parse_args()
    try:
        import ray
    except ImportError:
        print("Ray is not installed: pip install 'matte[ray]'", file=sys.stderr)
        return 2
    cat = load_catalog()
    for m in args.models:
        if not model_path(cat.get(m)).is_file():
            print(f"model {m} is not in the cache: run `python build.py fetch`", file=sys.stderr)
            return 2

    configs = [("local", j) for j in args.jobs] + [("ray", w) for w in args.workers]
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="matte-bench-ray-") as tmp:
        tmp_path = Path(tmp)
        folder_desc = make_folder(tmp_path / "folder", args.folder_images)
        t_all = time.perf_counter()
        for rep in range(args.reps):
            for model in args.models:
                for engine, n in configs:
                    load = os.getloadavg()[0]
                    fn = run_local if engine == "local" else run_ray
                    r = fn(tmp_path / "folder", tmp_path / "out", model, n, tmp_path / "log")
                    r["load"] = load
                    results.setdefault((model, engine, n), []).append(r)
                    print(
                        f"rep {rep + 1}/{args.reps} {model:13s} {engine} {n}: {r['rate']:.2f} "
                        f"img/s, steady {r['steady']:.2f}, wall {r['wall']:.2f}, "
                        f"{r['mb']:.0f} MB/worker, load {load:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )
        elapsed = time.perf_counter() - t_all

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    import onnxruntime

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print()
    print(
        f"matte remove, local engine vs --engine ray, medians of {args.reps} runs; {cpus} CPUs, "
        f"Ray {ray.__version__}, onnxruntime {onnxruntime.__version__}, Python "
        f"{sys.version.split()[0]}; {elapsed:.0f} s in all"
    )
    print(f"folder: {folder_desc}")
    print()
    print("| model | engine | img/s | steady img/s | wall img/s | MB/worker | load |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        for engine, n in configs:
            rows = results[(model, engine, n)]
            label = f"local --jobs {n}" if engine == "local" else f"ray --workers {n}"
            print(
                f"| {model} | {label} | {med(rows, 'rate'):.2f} | {med(rows, 'steady'):.2f} "
                f"| {med(rows, 'wall'):.2f} | {med(rows, 'mb'):.0f} | {med(rows, 'load'):.1f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
