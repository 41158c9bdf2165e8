"""WebGPU vs WASM in headless Chromium, same page, same model bytes, same real input (prints
numbers; asserts nothing).

For ISNet (the float32 variant ``models/isnet-medium-fp32.onnx``, the file the app downloads
for WebGPU on an adapter without shader-f16) at 192x192 and 256x256, and u2netp at 320x320:
session creation and run times of onnxruntime-web (``vendor/ort/ort.webgpu.min.mjs``, the
build the app's bridge loads for WebGPU) with providers ``['webgpu']`` and ``['wasm']``, the
ratio of the median runs, and how far the WebGPU output is from the WASM one (mean and max
|difference| of the alpha in [0, 1] in 1/255 units, the model output mapped the way
``matte.postprocess.output_to_unit`` does). The input is ``tests/data/astronaut.jpg`` made into
the model's tensor by ``matte.pipeline.prepare`` (CPython), as the app's Python does.

On a machine without a GPU the adapter is SwiftShader (software Vulkan, no shader-f16):
Chromium is launched with ``--enable-unsafe-webgpu`` and without ``--disable-gpu``. It is slow
(ISNet 192: about a minute a run on 2 busy cores), so WebGPU gets fewer runs than WASM
(``--gpu-runs``, default 2; the first run includes the shader compilation). Full run: about 8-10
minutes on 2 cores; ``--quick`` (ISNet 192 only, 1 WebGPU run): about 1.5 minutes.

The page is a plain document of the site (``models/models.json``), not the app, so no Python
competes for the CPU; served without COOP/COEP, WASM runs on one thread (``--isolate``: threads).

    python bench/bench_webgpu.py [--quick] [--runs 5] [--gpu-runs 2] [--isolate] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))
import bench_browser as bb  # noqa: E402

#: conftest's flags without --disable-gpu, plus WebGPU (off by default on Linux).
ARGS = [a for a in bb.ARGS if a != "--disable-gpu"] + ["--enable-unsafe-webgpu"]
#: (label, model id, file under models/, input side)
CASES = [("ISNet fp32 192", "isnet-medium", "isnet-medium-fp32.onnx", 192),
         ("ISNet fp32 256", "isnet-medium", "isnet-medium-fp32.onnx", 256),
         ("u2netp 320", "u2netp", "u2netp.onnx", 320)]

SETUP_JS = """async ([threads]) => {
  const a = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
  window.__dispatches = 0;
  if (a) {
    const orig = GPUComputePassEncoder.prototype.dispatchWorkgroups;
    GPUComputePassEncoder.prototype.dispatchWorkgroups = function (...x) {
      window.__dispatches++;
      return orig.apply(this, x);
    };
  }
  const ort = await import('/vendor/ort/ort.webgpu.min.mjs');
  ort.env.wasm.wasmPaths = new URL('/vendor/ort/', location.href).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  window.__ort = ort;
  window.__sessions = {};
  // one untimed session per backend first: the first creation also compiles onnxruntime's
  // WebAssembly and (WebGPU) creates the device, which would land on the first case only
  const warm = new Uint8Array(await (await fetch('/models/u2netp.onnx')).arrayBuffer());
  for (const ep of a ? ['wasm', 'webgpu'] : []) {
    await (await ort.InferenceSession.create(warm.slice(), {executionProviders: [ep]})).release();
  }
  const info = a ? (a.info || {}) : {};
  return {adapter: a ? [info.vendor, info.architecture, info.description].filter(Boolean)
            .join(' ') || 'unknown' : null,
          shaderF16: a ? a.features.has('shader-f16') : null,
          isolated: crossOriginIsolated, threads, ua: navigator.userAgent};
}"""

LOAD_JS = """async ([file, b64]) => {
  window.__bytes = new Uint8Array(await (await fetch('/models/' + file)).arrayBuffer());
  const bin = atob(b64);
  const u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  window.__input = new Float32Array(u8.buffer);
  return window.__bytes.length;
}"""

CREATE_JS = """async ([ep]) => {
  const t = performance.now();
  const s = await window.__ort.InferenceSession.create(window.__bytes.slice(),
    {executionProviders: [ep], graphOptimizationLevel: 'all'});
  window.__sessions[ep] = s;
  return performance.now() - t;
}"""

RUN_JS = """async ([ep, dims, want]) => {
  const ort = window.__ort, s = window.__sessions[ep];
  const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', window.__input.slice(), dims)};
  const name = s.outputNames[0];
  const d0 = window.__dispatches;
  const t = performance.now();
  const r = await s.run(feeds, [name]);
  const ms = performance.now() - t;
  const o = r[name];
  let data = null;
  if (want) {
    const b = new Uint8Array(o.data.buffer, o.data.byteOffset, o.data.byteLength);
    let s64 = '';
    for (let i = 0; i < b.length; i += 0x8000) {
      s64 += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    }
    data = btoa(s64);
  }
  return {ms, dims: Array.from(o.dims), data, dispatches: window.__dispatches - d0};
}"""

RELEASE_JS = """async () => {
  for (const s of Object.values(window.__sessions)) await s.release();
  window.__sessions = {};
  window.__bytes = null;
}"""


def _tensor(model_id: str, side: int) -> tuple[np.ndarray, object]:
    from PIL import Image

    from matte.models import load_catalog
    from matte.pipeline import prepare

    spec = replace(load_catalog().get(model_id), input_size=(side, side))
    rgb = np.asarray(Image.open(bb.DATA / "astronaut.jpg").convert("RGB"))
    return prepare(rgb, spec), spec


def measure_case(page, label: str, model_id: str, file: str, side: int, *, runs: int,
                 gpu_runs: int) -> dict:
    from matte.postprocess import output_to_unit

    tensor, spec = _tensor(model_id, side)
    dims = list(tensor.shape)
    page.evaluate(LOAD_JS, [file, base64.b64encode(tensor.astype("<f4").tobytes()).decode()])
    out: dict = {"label": label, "file": file, "input": dims, "loadavg_before": bb.loadavg()}
    busy = bb.OthersCpu()
    units = {}
    for ep, n in (("wasm", runs), ("webgpu", gpu_runs)):
        entry: dict = {"session_ms": page.evaluate(CREATE_JS, [ep]), "runs_ms": []}
        for i in range(n):
            r = page.evaluate(RUN_JS, [ep, dims, i == 0])
            entry["runs_ms"].append(r["ms"])
            if i == 0:
                entry["dispatches_first_run"] = r["dispatches"]
                raw = np.frombuffer(base64.b64decode(r["data"]), dtype="<f4").reshape(r["dims"])
                units[ep] = output_to_unit(raw, spec)
            bb.log(f"{label} {ep} run {i + 1}/{n}: {r['ms'] / 1e3:.2f} s "
                   f"(load {bb.loadavg()[0]})")
        entry["first_ms"] = entry["runs_ms"][0]
        entry["median_ms"] = bb.summary(entry["runs_ms"])["median"]
        later = entry["runs_ms"][1:]
        entry["median_after_first_ms"] = bb.summary(later)["median"] if later else None
        out[ep] = entry
    page.evaluate(RELEASE_JS)
    d = np.abs(units["webgpu"] - units["wasm"])
    out["diff_vs_wasm"] = {"mean_255": float(d.mean() * 255), "max_255": float(d.max() * 255)}
    out["ratio_webgpu_over_wasm"] = out["webgpu"]["median_ms"] / out["wasm"]["median_ms"]
    out["others_cpu"] = busy.share()
    out["loadavg_after"] = bb.loadavg()
    return out


def run(*, cases: list[tuple], runs: int, gpu_runs: int, isolate: bool) -> dict:
    res: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                 "loadavg_before": bb.loadavg(), "runs": runs, "gpu_runs": gpu_runs,
                 "cases": []}
    with tempfile.TemporaryDirectory(prefix="matte-bench-webgpu-") as tmp:
        root = bb.snapshot_site(Path(tmp) / "site", {})
        served = bb.Served(root, isolate=isolate)
        from playwright.sync_api import sync_playwright

        if not Path(bb.CHROMIUM).exists():
            raise SystemExit(f"{bb.CHROMIUM} is missing: `apt-get install -y chromium`")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=bb.CHROMIUM, args=ARGS)
                res["machine"]["chromium"] = browser.version
                page = browser.new_page()
                page.goto(f"{served.origin}/models/models.json")  # a page of the origin
                threads = (os.cpu_count() or 1) if isolate else 1
                res["page"] = page.evaluate(SETUP_JS, [threads])
                if not res["page"]["adapter"]:
                    res["skipped"] = "no WebGPU adapter in this Chromium"
                    browser.close()
                    return res
                for label, model_id, file, side in cases:
                    res["cases"].append(measure_case(page, label, model_id, file, side,
                                                     runs=runs, gpu_runs=gpu_runs))
                browser.close()
        finally:
            served.close()
    res["loadavg_after"] = bb.loadavg()
    return res


def render(res: dict) -> str:
    pg = res.get("page", {})
    lines = [f"WebGPU vs WASM, onnxruntime-web, headless Chromium {res['machine'].get('chromium')}"
             f" on {res['machine']['cpus']} CPUs",
             f"adapter: {pg.get('adapter')} (shader-f16: {pg.get('shaderF16')}); WASM threads: "
             f"{pg.get('threads')} (cross-origin isolated: {pg.get('isolated')})",
             f"load average before: {res['loadavg_before']}"]
    if res.get("skipped"):
        return "\n".join([*lines, f"skipped: {res['skipped']}"])
    lines += ["",
              "| case | WebGPU session | WebGPU run (first; median of n) | WASM session | "
              "WASM run (median of n) | WebGPU/WASM | mean / max abs diff vs WASM | "
              "others' CPU | load before -> after |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in res["cases"]:
        g, w = c["webgpu"], c["wasm"]
        lines.append(
            f"| {c['label']} | {g['session_ms'] / 1e3:.1f} s | {g['first_ms'] / 1e3:.1f} s; "
            f"{g['median_ms'] / 1e3:.1f} s (n={len(g['runs_ms'])}) | "
            f"{w['session_ms'] / 1e3:.2f} s | {w['median_ms'] / 1e3:.2f} s "
            f"(n={len(w['runs_ms'])}) | {c['ratio_webgpu_over_wasm']:.0f}x | "
            f"{c['diff_vs_wasm']['mean_255']:.5f} / {c['diff_vs_wasm']['max_255']:.4f} (/255) | "
            f"{c['others_cpu'] * 100:.0f} % | {c['loadavg_before'][0]} -> "
            f"{c['loadavg_after'][0]} |")
    lines += ["", f"load average after: {res['loadavg_after']}",
              "WebGPU/WASM: ratio of the median runs (above 1: WebGPU is slower). The first "
              "WebGPU run includes compiling its shaders. Diff: the alpha in [0, 1] of each "
              "backend (output_to_unit), in 1/255 units."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="ISNet 192 only, 3 WASM runs, 1 WebGPU run")
    p.add_argument("--runs", type=int, help="WASM runs per case (default 5, --quick 3)")
    p.add_argument("--gpu-runs", type=int, help="WebGPU runs per case (default 2, --quick 1)")
    p.add_argument("--isolate", action="store_true",
                   help="serve with COOP/COEP (WASM with threads)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    cases = CASES[:1] if args.quick else CASES
    runs = args.runs or (3 if args.quick else 5)
    gpu_runs = args.gpu_runs or (1 if args.quick else 2)
    t = time.monotonic()
    res = run(cases=cases, runs=runs, gpu_runs=gpu_runs, isolate=args.isolate)
    res["seconds"] = time.monotonic() - t
    if args.json:
        args.json.write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(render(res))
    print(f"\n({res['seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
