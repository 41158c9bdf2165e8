"""matte next to imgly's background removal library, in one Chromium run (prints numbers).

Both run the same ISNet fp16 weights (the bytes of npm `@imgly/background-removal-data` 1.4.5
that matte ships) with onnxruntime-web's WASM backend on the same photos (1 MP and 12 MP),
interleaved run by run in two tabs of one browser, on a COOP/COEP server (threads) and on a
plain one (one thread, like GitHub Pages' first visit):

* matte: the app page, a photo dropped on it; ``final`` is drop -> full-quality result on
  screen (the default pipeline, whatever models it runs), ``first`` the first visible mask,
  ``run`` one ``session.run`` of ISNet on the photo's tensor right after, in the same page.
* imgly: `removeBackground(blob)` of npm `@imgly/background-removal` 1.7.0 (onnxruntime-web
  1.21.0, its pinned peer), warm (its session made by an untimed first call); ``final`` is the
  call's time (its first mask is its final one), ``run`` its ``compute:inference`` stage.
* peak memory: the JS heap and the WebAssembly memories of each page (bench_browser's probe).

Each library is served from its own origin on 127.0.0.1 (imgly's page loads its model chunks
and onnxruntime-web as blob URLs, which matte's Content-Security-Policy would forbid). The npm
packages come from ``bench/imgly/package-lock.json`` (``npm ci``, integrity-checked); nothing
of them is shipped in ``site/``.

    python bench/bench_imgly.py [--runs 3] [--modes isolated plain] [--sizes "1 MP" "12 MP"]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import bench_browser as bb  # noqa: E402

import build  # noqa: E402

IMGLY = ROOT / "bench" / "imgly"
#: What imgly's page reads from its data folder besides the model: onnxruntime-web's WASM.
ORT_WASM = ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs"]


def imgly_root(dest: Path, photos: dict[str, Path]) -> Path:
    """Assemble imgly's page, library, onnxruntime-web 1.21 and the ISNet chunks in ``dest``."""
    build.ensure_engine_drivers(IMGLY)  # npm ci from the lock file (once per lock)
    nm = IMGLY / "node_modules"
    shutil.copyfile(IMGLY / "index.html", dest / "index.html")
    (dest / "lib").mkdir()
    shutil.copyfile(nm / "@imgly/background-removal/dist/index.mjs", dest / "lib/index.mjs")
    ort = dest / "ort"
    ort.mkdir()
    for f in (nm / "onnxruntime-web/dist").iterdir():
        if f.suffix in (".mjs", ".wasm"):
            shutil.copyfile(f, ort / f.name)
    data = dest / "data"
    data.mkdir()
    pkg = build.PACKAGES["imgly-data"]
    arc = build.download(pkg, build.cache_dir() / "downloads")
    with tarfile.open(arc) as tf:
        resources = json.load(tf.extractfile("package/dist/resources.json"))
        medium = resources["/models/medium"]  # 1.4.5 names chunks by hash, 1.7 reads "name"
        medium["chunks"] = [{**c, "name": c["hash"]} for c in medium["chunks"]]
        for c in medium["chunks"]:
            (data / c["name"]).write_bytes(tf.extractfile(f"package/dist/{c['name']}").read())
    table = {"/models/isnet_fp16": medium}  # the key imgly 1.7 asks for "medium"
    for name in ORT_WASM:  # imgly 1.7 asks for these keys; serve 1.21's files as one chunk
        size = (ort / name).stat().st_size
        table[f"/onnxruntime-web/{name}"] = {
            "chunks": [{"name": f"../ort/{name}", "offsets": [0, size]}], "size": size,
            "mime": "application/wasm" if name.endswith(".wasm") else "text/javascript"}
    (data / "resources.json").write_text(json.dumps(table))
    (dest / "photos").mkdir()
    for path in photos.values():
        shutil.copyfile(path, dest / "photos" / path.name)
    return dest


def imgly_run(page, url: str) -> dict:
    page.evaluate("() => window.__bench.reset()")
    out = page.evaluate("(url) => window.imglyRun(url)", url)
    got = page.evaluate(bb.COLLECT_JS)
    marks = {k: t for k, _, t in out["marks"]}  # compute:decode, :inference, :mask, :encode
    inf = marks["compute:mask"] - marks["compute:inference"]  # its resize + session.run
    return {"final": out["total"], "first": out["total"], "run": inf, "bytes": out["bytes"],
            "peak_js_heap": got["peakJs"], "peak_wasm": got["peakWasm"],
            "longest_task": max((d for _, d in got["longtasks"]), default=0.0)}


def edges_model(model_id: str) -> str:
    """The ISNet model whose raw ``session.run`` is timed: a fusion's edges member."""
    entry = bb.model_entry(model_id)
    return entry["members"]["edges"] if entry.get("kind") == "fusion" else model_id


def matte_run(page, model_id: str, raw_model: str, url: str, name: str) -> dict:
    r = bb._one_run(page, url, name)
    pre = r["timings"].get("preview")
    return {"final": r["total"], "first": pre["shown"] if pre else r["total"],
            "run": bb.time_real(page, raw_model), "peak_js_heap": r["peak_js_heap"],
            "peak_wasm": r["peak_wasm"], "longest_task": r["longest_task"], "model": model_id}


def measure_mode(chrome, mode: str, matte_dir: Path, imgly_dir: Path, photos: dict[str, Path],
                 sizes: list[str], runs: int, model: str | None = None) -> dict:
    isolate = mode == "isolated"
    ms, ims = bb.Served(matte_dir, isolate=isolate), bb.Served(imgly_dir, isolate=isolate)
    mctx, mpage = bb.new_page(chrome)
    ictx, ipage = bb.new_page(chrome)
    try:
        model_id = model or bb.default_model()
        raw_model = edges_model(model_id)
        query = f"?model={model}" if model else ""
        mpage.goto(f"{ms.origin}/{query}", wait_until="commit")
        bb.wait_ready(mpage)
        ipage.goto(f"{ims.origin}/index.html")
        bb.wait_js(ipage, "() => window.imglyReady === true", 120)
        facts = {"matte": mpage.evaluate("({isolated: crossOriginIsolated, threads: "
                                         "matteApp.caps.threads, model: matteApp.modelId})"),
                 "imgly": ipage.evaluate("({isolated: crossOriginIsolated})")}
        bb.log(f"{mode}: {facts}")
        results: dict = {"facts": facts, "sizes": {}}
        for label in sizes:
            path = photos[label]
            murl, iurl = f"/bench/photos/{path.name}", f"/photos/{path.name}"
            bb.real_input(mpage, raw_model, murl)
            # untimed warm-up of both: first-call costs (imgly makes its session here)
            matte_run(mpage, model_id, raw_model, murl, path.name)
            imgly_run(ipage, iurl)
            pairs = []
            for i in range(runs):
                pair = {}
                for lib in (("matte", "imgly") if i % 2 == 0 else ("imgly", "matte")):
                    # alternate who goes first
                    pair[lib] = (matte_run(mpage, model_id, raw_model, murl, path.name)
                                 if lib == "matte" else imgly_run(ipage, iurl))
                pairs.append(pair)
                m, im = pair["matte"], pair["imgly"]
                bb.log(f"{mode} {label} {i + 1}/{runs}: matte final {m['final']:.0f} ms "
                       f"(first {m['first']:.0f}), imgly {im['final']:.0f} ms, "
                       f"load {bb.loadavg()[0]}")
            results["sizes"][label] = summarise(pairs)
        return results
    finally:
        mctx.close()
        ictx.close()
        ms.close()
        ims.close()


def summarise(pairs: list[dict]) -> dict:
    med = statistics.median
    out: dict = {"pairs": pairs}
    for lib in ("matte", "imgly"):
        runs = [p[lib] for p in pairs]
        out[lib] = {k: med([r[k] for r in runs if r[k] is not None])
                    for k in ("final", "first", "run", "peak_js_heap", "peak_wasm",
                              "longest_task") if any(r[k] is not None for r in runs)}
    # ratios per pair (noise hits both runs of a pair alike), then the median
    out["final_ratio"] = med(p["matte"]["final"] / p["imgly"]["final"] for p in pairs)
    out["first_vs_imgly_final"] = med(p["matte"]["first"] / p["imgly"]["final"] for p in pairs)
    out["run_ratio"] = med(p["matte"]["run"] / p["imgly"]["run"] for p in pairs
                           if p["imgly"]["run"])
    return out


def table(results: dict) -> str:
    lines = ["| server | photo | matte final | imgly final | final ratio | matte first | "
             "first / imgly final | run matte / imgly | peak memory matte / imgly (JS + wasm) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for mode, res in results.items():
        for label, s in res["sizes"].items():
            m, i = s["matte"], s["imgly"]
            mem = [(x["peak_js_heap"] + x["peak_wasm"]) / 1e6 for x in (m, i)]
            lines.append(
                f"| {mode} | {label} | {m['final'] / 1e3:.2f} s | {i['final'] / 1e3:.2f} s | "
                f"**{s['final_ratio']:.2f}x** | {m['first'] / 1e3:.2f} s | "
                f"{s['first_vs_imgly_final']:.2f}x | {m['run'] / 1e3:.2f} / "
                f"{i.get('run', float('nan')) / 1e3:.2f} s ({s['run_ratio']:.2f}x) | "
                f"{mem[0]:.0f} / {mem[1]:.0f} MB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--modes", nargs="+", default=["isolated", "plain"],
                   choices=["isolated", "plain"])
    p.add_argument("--sizes", nargs="+", default=[label for label, *_ in bb.PHOTOS])
    p.add_argument("--json", type=Path, help="write the raw results here")
    p.add_argument("--model", help="matte's model or fusion id (default: the manifest's default)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="matte-bench-imgly-") as tmp:
        tmp = Path(tmp)
        photos = bb.make_photos(tmp / "photos")
        matte_dir = bb.snapshot_site(tmp / "matte", photos)
        (tmp / "imgly").mkdir()
        imgly_dir = imgly_root(tmp / "imgly", photos)
        t0 = time.monotonic()
        results = {}
        with bb.chromium() as chrome:
            for mode in args.modes:
                results[mode] = measure_mode(chrome, mode, matte_dir, imgly_dir, photos,
                                             args.sizes, args.runs, args.model)
        bb.log(f"done in {time.monotonic() - t0:.0f} s, load {bb.loadavg()}")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
