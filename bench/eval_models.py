"""Score matte's masks on the public eval kit (``shared/eval``), per model and post-processing.

The one command (after generating the set once, see below)::

    python bench/eval_models.py            # add --ablation for the ablation table

runs every model over the set (``isnet-medium``, ``isnet-small``, ``u2netp``), caches each
image's raw model output, turns the cached outputs into ``<id>.png`` mattes with each
post-processing variant, scores every variant with the kit's ``score.py`` (run by the eval
venv's python, see ``--score-python``) and prints a Markdown table (also written to
``<out>/results.md``).

Setup, once. The kit needs scipy and scikit-image, which matte must not use, so it gets its own
venv; matte itself runs with the system python (numpy + Pillow)::

    python3 -m venv ~/.cache/matte/evalvenv
    ~/.cache/matte/evalvenv/bin/pip install -r ../shared/eval/requirements.txt
    (cd ~/.cache/matte/eval && npm pack @lobehub/fluent-emoji-3d@1.1.0)
    ~/.cache/matte/evalvenv/bin/python ../shared/eval/make_set.py \\
        --out ~/.cache/matte/eval/data --verify \\
        --emoji-tgz ~/.cache/matte/eval/lobehub-fluent-emoji-3d-1.1.0.tgz

Layout under ``--out`` (default ``~/.cache/matte/eval/runs/<name>``, ``--name`` default
``main``)::

    raw/<model>/<id>.npy            raw model output (float32, the model's resolution)
    raw/<model>/timings.json        seconds of prepare + inference per image
    raw-pad/..., raw-flip/...       the same for the perturbed inputs of the ablation
    <variant>/<model>/<id>.png      predicted alpha
    <variant>/<model>/timings.json  prepare + inference + that variant's post-processing
    <variant>/<model>/score.json    the kit's scores (and score.md)
    results.md                      the table

Raw outputs are reused when present (``--reinfer`` recomputes them), so post-processing
variants are scored without running a model again: every variant on the same raw kind sees
the *same* model outputs, a paired comparison. Run one inference job at a time on a shared
machine.

Variants (``VARIANTS``): ``reference`` is the reference pipeline (``finish(...,
refine=False)`` = ``postprocess.to_alpha``: bilinear upsampling, nothing else) and
``default`` is ``pipeline.finish`` as shipped. ``--ablation`` adds one variant per step of the
default switched off or changed, two border treatments (``frame-extend``: replace the outer 4
output pixels by the next ones; ``pad``: edge-replicate padding of the model input by 1/32 of
its size, output cropped) and ``flip-ref`` / ``flip + default``, the reference and the
default on the mirrored image (mirrored back): not candidates, a second, equally valid draw of
the set that measures how much the model's own decisions move the mean when nothing but the
input's orientation changes. (For ISNet medium the mirrored draw scores MAE 0.0081 against
0.0039: a few images flip between "found the object" and "segmented something else", which
dwarfs any post-processing difference, so compare post-processing variants on the same raw
outputs only, and treat variants that change the model input with that noise in mind.)

Timings: wall time on the (shared, noisy) machine; the table gives medians. "post" is the
post-processing alone, "total" adds the prepare + inference time of the raw output; JPEG
decoding is excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from matte import pipeline as P  # noqa: E402
from matte import postprocess as PP  # noqa: E402
from matte.decode import decode  # noqa: E402
from matte.models import ModelSpec, load_catalog  # noqa: E402
from matte.preprocess import resize_rgb, to_tensor  # noqa: E402

CACHE = Path(os.environ.get("MATTE_EVAL_HOME", Path.home() / ".cache" / "matte"))
DEFAULT_SET = CACHE / "eval" / "data"
DEFAULT_SCORE = ROOT.parent / "shared" / "eval" / "score.py"
DEFAULT_SCORE_PY = CACHE / "evalvenv" / "bin" / "python"
MODELS = ("isnet-medium", "isnet-small", "u2netp")
PAD_FRACTION = 1 / 32

Finish = Callable[[np.ndarray, ModelSpec, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------------------------
# raw outputs: the model on the image as is, padded, or mirrored


def _pad_px(spec: ModelSpec) -> int:
    return max(1, round(spec.input_size[0] * PAD_FRACTION))


def infer_plain(runner, spec: ModelSpec, rgb: np.ndarray) -> np.ndarray:
    return runner.run(spec, P.prepare(rgb, spec))


def infer_pad(runner, spec: ModelSpec, rgb: np.ndarray) -> np.ndarray:
    """Resize to the input size less 2 m, edge-replicate m px on every side, crop the output."""
    h, w = spec.input_size
    m = _pad_px(spec)
    small = np.pad(resize_rgb(rgb, (h - 2 * m, w - 2 * m)), ((m, m), (m, m), (0, 0)), "edge")
    out = runner.run(spec, to_tensor(small, spec))  # already at the input size
    return np.ascontiguousarray(out[..., m : h - m, m : w - m])


def infer_flip(runner, spec: ModelSpec, rgb: np.ndarray) -> np.ndarray:
    out = runner.run(spec, P.prepare(np.ascontiguousarray(rgb[:, ::-1]), spec))
    return np.ascontiguousarray(out[..., ::-1])


RAW_KINDS = {"raw": infer_plain, "raw-pad": infer_pad, "raw-flip": infer_flip}


# --------------------------------------------------------------------------------------------
# post-processing variants


def _finish(**kw) -> Finish:
    def run(output: np.ndarray, spec: ModelSpec, rgb: np.ndarray) -> np.ndarray:
        return P.finish(output, spec, rgb, **kw)

    return run


def _refined(**kw) -> Finish:
    def run(output: np.ndarray, spec: ModelSpec, rgb: np.ndarray) -> np.ndarray:
        return PP.refined_alpha(output, spec, rgb, **kw)

    return run


def _frame_extend(m: int) -> Finish:
    """The default after replacing the outer ``m`` output pixels by the ones next to them."""

    def run(output: np.ndarray, spec: ModelSpec, rgb: np.ndarray) -> np.ndarray:
        u = PP.output_to_unit(output, spec).copy()
        h, w = u.shape
        u[:m], u[h - m :] = u[m], u[h - m - 1]
        u[:, :m], u[:, w - m :] = u[:, m : m + 1], u[:, w - m - 1 : w - m]
        size = rgb.shape[:2]
        alpha = PP.unit_to_alpha(u, size, resample="bicubic")
        return PP.refine_alpha(alpha, rgb, upscale=PP.upscale_factor(u.shape, size))

    return run


#: name -> (raw kind, post-processing)
VARIANTS: dict[str, tuple[str, Finish]] = {
    "reference": ("raw", _finish(refine=False)),
    "default": ("raw", _finish()),
}

ABLATION: dict[str, tuple[str, Finish]] = {
    "bicubic-only": ("raw", _refined(radius=0)),
    "bilinear+guided+clamp": ("raw", _refined(resample="bilinear")),
    "bicubic+guided, no clamp": ("raw", _refined(slack=None)),
    "default, radius 2": ("raw", _refined(radius=2.0)),
    "default, radius 8": ("raw", _refined(radius=8.0)),
    "default, eps 1e-3": ("raw", _refined(eps=1e-3)),
    "default, clamp 2": ("raw", _refined(slack=2.0)),
    "frame-extend 4 + default": ("raw", _frame_extend(4)),
    "pad-ref": ("raw-pad", _finish(refine=False)),
    "pad + default": ("raw-pad", _finish()),
    "flip-ref": ("raw-flip", _finish(refine=False)),
    "flip + default": ("raw-flip", _finish()),
}


# --------------------------------------------------------------------------------------------
# the three stages


def load_rgb(path: Path) -> np.ndarray:
    return decode(path.read_bytes(), max_pixels=None).rgb


def sample_ids(set_dir: Path) -> list[str]:
    return [s["id"] for s in json.loads((set_dir / "manifest.json").read_text())["samples"]]


def infer(
    set_dir: Path, out: Path, models: list[str], kinds: list[str], *, redo: bool,
    threads: int | None,
) -> None:
    """Cache the raw output of every model on every image (skips cached ones unless ``redo``)."""
    from matte.runner import OnnxRunner

    catalog = load_catalog()
    runner = OnnxRunner(threads=threads)
    ids = sample_ids(set_dir)
    for kind in kinds:
        fn = RAW_KINDS[kind]
        for mid in models:
            spec = catalog.get(mid)
            folder = out / kind / mid
            folder.mkdir(parents=True, exist_ok=True)
            tpath = folder / "timings.json"
            timings = json.loads(tpath.read_text()) if tpath.exists() else {}
            todo = [s for s in ids if redo or not (folder / f"{s}.npy").exists()]
            if todo:
                runner.session(spec)  # load (and verify) the model outside the timings
            for sid in todo:
                rgb = load_rgb(set_dir / sid / "image.jpg")
                t0 = time.perf_counter()
                output = fn(runner, spec, rgb)
                timings[sid] = time.perf_counter() - t0
                np.save(folder / f"{sid}.npy", output)
                tpath.write_text(json.dumps(timings, indent=1))
                print(f"  {kind} {mid} {sid} {rgb.shape[1]}x{rgb.shape[0]}: "
                      f"{timings[sid]:.2f} s", file=sys.stderr, flush=True)


def predict(
    set_dir: Path, out: Path, models: list[str], variants: dict[str, tuple[str, Finish]]
) -> dict[tuple[str, str], Path]:
    """Write ``<variant>/<model>/<id>.png`` and timings for every variant; returns the folders."""
    catalog = load_catalog()
    ids = sample_ids(set_dir)
    folders = {(name, mid): out / name / mid for name in variants for mid in models}
    post: dict[tuple[str, str], dict[str, float]] = {key: {} for key in folders}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for sid in ids:
        rgb = load_rgb(set_dir / sid / "image.jpg")
        for mid in models:
            spec = catalog.get(mid)
            raws = {}
            for name, (kind, fn) in variants.items():
                if kind not in raws:
                    raws[kind] = np.load(out / kind / mid / f"{sid}.npy")
                t0 = time.perf_counter()
                alpha = fn(raws[kind], spec, rgb)
                post[name, mid][sid] = time.perf_counter() - t0
                if alpha.shape != rgb.shape[:2] or alpha.dtype != np.uint8:
                    raise AssertionError(f"{name} {mid} {sid}: {alpha.shape} {alpha.dtype}")
                Image.fromarray(alpha, "L").save(folders[name, mid] / f"{sid}.png",
                                                 compress_level=1)
        print(f"  predicted {sid}", file=sys.stderr, flush=True)
    for (name, mid), folder in folders.items():
        kind = variants[name][0]
        inf = json.loads((out / kind / mid / "timings.json").read_text())
        (folder / "post_timings.json").write_text(json.dumps(post[name, mid], indent=1))
        total = {sid: inf[sid] + post[name, mid][sid] for sid in ids}
        (folder / "timings.json").write_text(json.dumps(total, indent=1))
    return folders


def score(set_dir: Path, folder: Path, name: str, python: Path, script: Path) -> dict:
    """Run the kit's score.py on one prediction folder; returns its JSON result."""
    cmd = [str(python), str(script), "--set", str(set_dir), "--pred", str(folder),
           "--timings", str(folder / "timings.json"), "--name", name, "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((folder / "score.json").read_text())


def table(results: dict[tuple[str, str], dict], out: Path) -> str:
    lines = [
        "| model | variant | MAE | MAE median | Grad/1000 | BF@3px | IoU@0.5 | SAD/1000 "
        "| post s (median) | total s (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, mid), r in results.items():
        m = r["mean"]
        post = json.loads((out / name / mid / "post_timings.json").read_text())
        lines.append(
            f"| {mid} | {name} | {m['mae']:.5f} | {r['median']['mae']:.5f} | {m['grad']:.2f} "
            f"| {m['bf']:.4f} | {m['iou']:.4f} | {m['sad']:.2f} "
            f"| {statistics.median(post.values()):.3f} | {r['median']['time_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", type=Path, default=DEFAULT_SET, help="set folder (make_set.py)")
    p.add_argument("--name", default="main", help="run name (output folder under runs/)")
    p.add_argument("--out", type=Path, help="output folder (default runs/<name>)")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--ablation", action="store_true", help="add the ablation variants")
    p.add_argument("--variants", nargs="+", help="only these variants (names as in the table)")
    p.add_argument("--reinfer", action="store_true", help="recompute cached raw outputs")
    p.add_argument("--infer-only", action="store_true")
    p.add_argument("--table-only", action="store_true",
                   help="only print the table of the variants already scored in --out")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    p.add_argument("--score-python", type=Path, default=DEFAULT_SCORE_PY,
                   help="python with the kit's requirements (numpy, Pillow, scipy)")
    p.add_argument("--score-script", type=Path, default=DEFAULT_SCORE)
    args = p.parse_args(argv)
    out = args.out or CACHE / "eval" / "runs" / args.name
    if not (args.set / "manifest.json").exists():
        p.error(f"--set {args.set}: no manifest.json; generate the set first (see --help)")
    variants = dict(VARIANTS)
    if args.ablation:
        variants.update(ABLATION)
    if args.variants:
        every = {**VARIANTS, **ABLATION}
        unknown = sorted(set(args.variants) - set(every))
        if unknown:
            p.error(f"unknown variants {unknown}; choose from {sorted(every)}")
        variants = {k: v for k, v in every.items() if k in args.variants}
    order = {name: i for i, name in enumerate(variants)}

    def ordered(keys):
        return sorted(keys, key=lambda k: (args.models.index(k[1]), order[k[0]]))

    if args.table_only:
        keys = [(n, m) for n in variants for m in args.models
                if (out / n / m / "score.json").exists()]
        results = {k: json.loads((out / k[0] / k[1] / "score.json").read_text())
                   for k in ordered(keys)}
        print(table(results, out))
        return 0
    kinds = sorted({kind for kind, _ in variants.values()})
    infer(args.set, out, args.models, kinds, redo=args.reinfer, threads=args.threads)
    if args.infer_only:
        return 0
    folders = predict(args.set, out, args.models, variants)
    results = {}
    for name, mid in ordered(folders):
        results[name, mid] = score(args.set, folders[name, mid], f"{mid} {name}",
                                   args.score_python, args.score_script)
    md = table(results, out)
    (out / "results.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
