"""Run every matte benchmark, write ``bench/results/<date>.json`` and print a Markdown table.

    python bench/run_all.py            # full: 5 runs, u2netp + isnet-medium (~15-20 min, 2 cores)
    python bench/run_all.py --quick    # development: 3 runs, u2netp only (~3-5 min)

Benchmarks print numbers; tests check correctness. Nothing here asserts. The browser part is
``bench/bench_browser.py`` (headless Chromium against the built ``site/``); the CPython part
runs every other ``bench/bench_*.py`` that exists as a subprocess with a timeout and keeps its
output. See ``bench/README.md`` for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))
import bench_browser  # noqa: E402

#: The editor's benchmark (headless Chromium, someone else's script): run in its own section.
EDITOR = "bench_editor.py"
EDITOR_ARGS = ([], ["--strokes", "20"])
#: Scripts of this folder that are not CPython benchmarks to collect.
NOT_COLLECTED = {"run_all.py", "bench_browser.py", EDITOR}
#: Extra arguments for known CPython benchmarks: (full, quick).
CPYTHON_ARGS = {
    "bench_refine.py": ([], ["--repeat", "1"]),
    "bench_composite.py": ([], ["--repeat", "1"]),
    "bench_cli.py": ([], ["--reps", "1", "--models", "u2netp"]),
    "bench_session.py": ([], ["--quick"]),
    # local CLI vs --engine ray, u2netp once (~2-3 min); the full table: python bench/bench_ray.py
    "bench_ray.py": (["--reps", "1", "--models", "u2netp"], ["--reps", "1", "--models", "u2netp"]),
    # WebGPU on the software adapter: ISNet at 192x192 only (correctness and relative cost);
    # the full set (256, u2netp) takes about 7 minutes: python bench/bench_webgpu.py
    "bench_webgpu.py": (["--quick"], ["--quick"]),
}
EDITOR_PLACEHOLDER = "not yet measured: the editor is not built"


def log(msg: str) -> None:
    print(f"[run_all] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# CPython benchmarks


def cpython_scripts(with_eval: bool) -> list[Path]:
    scripts = sorted(p for p in BENCH.glob("bench_*.py") if p.name not in NOT_COLLECTED)
    if with_eval and (BENCH / "eval_models.py").is_file():
        scripts.append(BENCH / "eval_models.py")
    return scripts


def run_editor(*, quick: bool, timeout: float) -> dict | None:
    """``bench_editor.py`` with ``--json``, or None when the script does not exist."""
    script = BENCH / EDITOR
    if not script.is_file():
        return None
    with tempfile.TemporaryDirectory(prefix="matte-bench-editor-") as tmp:
        out = Path(tmp) / "editor.json"
        args = [*(EDITOR_ARGS[1] if quick else EDITOR_ARGS[0]), "--json", str(out)]
        entry = run_cpython([script], quick=quick, timeout=timeout, args=args)[EDITOR]
        try:
            entry["json"] = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry["json"] = None
    entry["args"] = entry["args"][:-2]  # without the temporary --json path
    return entry


def run_cpython(scripts: list[Path], *, quick: bool, timeout: float,
                args: list[str] | None = None) -> dict:
    out = {}
    for script in scripts:
        full, fast = CPYTHON_ARGS.get(script.name, ([], []))
        extra = args if args is not None else (fast if quick else full)
        cmd = [sys.executable, str(script), *extra]
        log(f"CPython: {' '.join(cmd[1:])} (timeout {timeout:.0f} s)")
        t = time.monotonic()
        entry: dict = {"args": cmd[2:], "loadavg_before": bench_browser.loadavg()}
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout)
            entry.update(returncode=proc.returncode, stdout=proc.stdout,
                         stderr=proc.stderr[-4000:])
        except subprocess.TimeoutExpired as exc:
            entry.update(returncode=None, timed_out=True,
                         stdout=_text(exc.stdout), stderr=_text(exc.stderr)[-4000:])
        entry["seconds"] = time.monotonic() - t
        entry["loadavg_after"] = bench_browser.loadavg()
        out[script.name] = entry
    return out


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# Markdown


def _s(ms: float | None, digits: int = 2) -> str:
    return "-" if ms is None else f"{ms / 1e3:.{digits}f} s"


def _range_s(st: dict, digits: int = 2) -> str:
    if not st:
        return "-"
    return (f"{st['median'] / 1e3:.{digits}f} s ({st['min'] / 1e3:.{digits}f}-"
            f"{st['max'] / 1e3:.{digits}f})")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def _bytes(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} kB"


def _ok(parts: dict) -> dict:
    """The parts that did not fail."""
    return {k: v for k, v in parts.items() if "error" not in v}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def render(res: dict) -> str:
    meta = res["meta"]
    b = res.get("browser", {})
    lines = [f"# matte benchmarks, {meta['date']}", ""]
    load_note = ""
    parts = {**b.get("pipeline", {}), **b.get("threads", {}),
             **b.get("startup", {}).get("pages", {})}
    noisy = {k: v["others_cpu"] for k, v in parts.items() if v.get("others_cpu", 0) > 0.1}
    if "others_cpu" in meta:
        load_note += (f" Other programs used {meta['others_cpu']:.0%} of the CPUs during the "
                      "browser parts (/proc/stat minus this benchmark's processes).")
    if meta["loadavg_before"][0] > 1.5 or noisy:
        load_note += (" **The machine was busy" + (
            " (" + ", ".join(f"{k}: {v:.0%}" for k, v in noisy.items()) + " of the CPUs "
            "taken by other programs)" if noisy else " (load above 1.5 at the start)") +
            ": timings are noisy.**")
    lines += [
        f"{meta['mode']} run ({meta['runs']} runs per number; medians with min-max), "
        f"{meta['minutes']:.1f} min. {meta['cpu_count']} CPUs, load average "
        f"{'/'.join(map(str, meta['loadavg_before']))} before and "
        f"{'/'.join(map(str, meta['loadavg_after']))} after.{load_note} "
        f"{b.get('chromium', 'Chromium ?')} headless (`--disable-gpu`, so WASM), "
        f"Python {meta['python']}, commit {meta['commit']}.", ""]

    if b.get("errors"):
        lines += ["**Failed parts** (their numbers are missing below):", ""]
        lines += [f"- {e}" for e in b["errors"]] + [""]

    pipe = _ok(b.get("pipeline", {}))
    if pipe:
        lines += ["## 1. Pipeline overhead (headline)", "",
                  "End-to-end time from the drop to the drawn result (`timings.run.total`) "
                  "divided by the raw `session.run` of the same model in the same page; 1.0 is "
                  "the physical floor. Headline: the floor is `matteBridge.run` (what timeRaw "
                  "times) on the photo's own tensor right after each run, so a busy machine "
                  "slows both numbers of a pair alike. Second: `matteBridge.timeRaw` as it is "
                  "(zero tensor), timed after all runs. WASM backend, cross-origin isolated "
                  "page (2 threads). Runs after a warm-up drop, so each is a *next* image.", ""]
        rows = []
        for model_id, m in pipe.items():
            for label, s in m["sizes"].items():
                o, r = s["overhead"], s["overhead_real"]
                rows.append([f"`{model_id}`", f"{label} ({_bytes(s['file_bytes'])} JPEG)",
                             _range_s(s["total"]), _range_s(s["raw_real"]),
                             f"**{r['median']:.2f}x** ({r['min']:.2f}-{r['max']:.2f})",
                             _range_s(m["raw"]),
                             f"{o['median']:.2f}x ({o['min']:.2f}-{o['max']:.2f})"])
        lines += _table(["model", "photo", "end-to-end", "session.run (paired)",
                         "overhead", "timeRaw (zeros, after)", "overhead vs timeRaw"], rows)
        rows = []
        for model_id, m in pipe.items():
            for label, s in m["sizes"].items():
                if "first_mask" not in s:
                    continue
                f = s["first_ratio"]
                rows.append([f"`{model_id}`", label, _range_s(s["first_mask"]),
                             _range_s(s["total"]), _range_s(s["raw_real"]),
                             f"**{f['median']:.2f}x** ({f['min']:.2f}-{f['max']:.2f})"])
        if rows:
            lines += ["", "Progressive result: time from the drop to the first visible mask "
                      "(the preview model's, for ISNet: u2netp) and to the final mask, against "
                      "the full model's `session.run` on the photo's tensor (issue 7's bar: "
                      "first mask at most 0.35x):", ""]
            lines += _table(["model", "photo", "first mask", "final mask",
                             "session.run (full model)", "first / session.run"], rows)
        lines += ["", "Where the time goes (median ms per stage, so columns need not add up "
                  "exactly; the inference stage is split into `session.run` on the photo's "
                  "tensor and the rest of the bridge call):", ""]
        rows = []
        for model_id, m in pipe.items():
            for label, s in m["sizes"].items():
                st = s["stages"]

                def med(k: str, st: dict = st) -> str:
                    return _ms(st[k]["median"]) if st.get(k) else "-"

                rows.append([f"`{model_id}`", label, med("file read + call"), med("decode"),
                             med("preview run"), med("glue after decode"), med("preprocess"),
                             _ms(s["raw_real"]["median"]),
                             _ms(s["inference_bridge"]["median"]),
                             med("postprocess"), med("draw"), med("unaccounted"),
                             _ms(s["total"]["median"])])
        lines += _table(["model", "photo", "file read + call", "decode", "preview run",
                         "glue after decode",
                         "preprocess", "session.run", "bridge + copies", "postprocess",
                         "draw", "unaccounted", "total"], rows)
        lines += ["", "## 2. Main-thread responsiveness", "",
                  "Longest main-thread task (PerformanceObserver `longtask`, over 50 ms) per "
                  "stage, median (max) ms; 0 = no long task. Inference runs in onnxruntime's "
                  "proxy worker; Python runs on the main thread.", ""]
        rows = []
        for model_id, m in pipe.items():
            for label, s in m["sizes"].items():
                lt = s["longtasks"]

                def cell(k: str, lt: dict = lt) -> str:
                    v = lt.get(k)
                    return f"{v['median']:.0f} ({v['max']:.0f})" if v else "-"

                rows.append([f"`{model_id}`", label, f"**{cell('inference')}**",
                             cell("file read + call"), cell("decode + glue"),
                             cell("preprocess"), cell("postprocess + draw"),
                             f"{s['longest_task']['median']:.0f} ({s['longest_task']['max']:.0f})"])
        lines += _table(["model", "photo", "during inference", "file read + call",
                         "decode + glue", "preprocess", "postprocess + draw", "whole run"],
                        rows)
        lines += ["", "CPU time by thread group in each stage (median ms; from /proc, so "
                  "other programs on the machine hardly change it; `other` is the rest of "
                  "Chromium: browser process, network, I/O, raster workers). The last row of "
                  "each photo is the paired `session.run` alone, for comparison with the "
                  "inference stage.", ""]
        rows = []
        for model_id, m in pipe.items():
            for label, s in m["sizes"].items():
                for window, c in s.get("cpu", {}).items():
                    rows.append([f"`{model_id}`", label, window, _ms(c["wall"]),
                                 _ms(c["page main thread"]), _ms(c["workers (onnxruntime)"]),
                                 _ms(c["paint + composite"]), _ms(c["other"])])
        lines += _table(["model", "photo", "stage", "wall", "page main thread",
                         "onnxruntime workers", "paint + composite", "other Chromium"], rows)
        lines += ["", "## 3. Memory", "",
                  "Peaks over the runs of each size. JS heap: `performance.memory` of the page "
                  "(sampled every 50 ms when the main thread is free); Pyodide heap: the page's "
                  "WebAssembly memories (Pyodide's never shrinks, so its peak is exact); "
                  "renderer RSS: the page's renderer process (main thread, Pyodide, and "
                  "onnxruntime's worker with its heap), sampled every 100 ms.", ""]
        rows = []
        for model_id, m in pipe.items():
            for label, s in m["sizes"].items():
                rows.append([f"`{model_id}`", label, _mb(s["peak_js_heap"]), _mb(s["peak_wasm"]),
                             _mb(s["peak_renderer_rss"]), _mb(s["peak_chromium_rss"])])
        lines += _table(["model", "photo", "JS heap", "Pyodide wasm heap", "renderer RSS",
                         "all Chromium processes RSS"], rows)
        lines.append("")

    start = b.get("startup")
    if start:
        start = {**start, "pages": _ok(start["pages"])}
        lines += ["## 4. Start-up", "",
                  "Navigation start to ready (`dataset.ready === '1'`: Python and the model "
                  "session both ready; they load in parallel). Cold: a new browser profile "
                  "(empty disk cache); warm: reload in the same profile (the server sends "
                  "`Cache-Control: no-cache`, so every file is revalidated). Python ready is "
                  "counted from navigation start. Bytes: what the server sent (headers + "
                  "bodies), all requests of the page and its workers.", ""]
        rows = []
        for label, pg in start["pages"].items():
            for visit in ("cold", "warm"):
                sm = pg["summary"][visit]
                if pg["kind"] == "app":
                    py, fetch, sess = (sm.get("python_ready_nav"), sm.get("model_fetch"),
                                       sm.get("session"))
                else:
                    py, fetch, sess = sm.get("ready"), None, None
                rows.append([label, visit, _range_s(sm["ready"], 1), _range_s(py, 1),
                             _range_s(fetch, 1) if fetch else "-",
                             _range_s(sess, 1) if sess else "-",
                             _bytes(sm["bytes"]["median"]),
                             f"{sm['requests']['median']:.0f} "
                             f"({sm['not_modified']['median']:.0f})"])
        lines += _table(["page", "visit", "ready", "Python ready", "model fetch",
                         "session creation", "transferred", "requests (304)"], rows)
        bare = next((p for p in start["pages"].values() if p["kind"] == "bare"), None)
        app = next((p for p in start["pages"].values() if p["kind"] == "app"), None)
        if bare:
            lines += ["", "Bare Pyodide page (`bench/pages/bare.html`, no PyScript), median s:",
                      ""]
            rows = []
            for visit in ("cold", "warm"):
                sm = bare["summary"][visit]
                rows.append([visit, _s(sm["module_start"]["median"]),
                             _s(sm["pyodide"]["median"]), _s(sm["packages"]["median"]),
                             _s(sm["imports"]["median"]), _s(sm["ready"]["median"])])
            lines += _table(["visit", "module start", "loadPyodide", "numpy + Pillow",
                             "import", "ready"], rows)
        pys = next((p for p in start["pages"].values() if p["kind"] == "pyscript"), None)
        if bare and pys:
            lines += ["", "Python start-up, decomposed (median s from navigation start): the "
                      "bare page, the same with PyScript (`bench/pages/pyscript.html`: same "
                      "config, no onnxruntime, no model, no matte package), and the app, "
                      "which also imports matte and loads onnxruntime and the model beside "
                      "Python on the same CPUs.", ""]
            rows = []
            for visit in ("cold", "warm"):
                z = bare["summary"][visit]["ready"]["median"]
                y = pys["summary"][visit]["ready"]["median"]
                for label, pg in start["pages"].items():
                    if pg["kind"] != "app":
                        continue
                    a = pg["summary"][visit]["python_ready_nav"]["median"]
                    rows.append([visit, label, _s(z), _s(y), f"+{_s(y - z)}", _s(a),
                                 f"+{_s(a - y)}"])
            lines += _table(["visit", "app page", "bare Pyodide", "PyScript page",
                             "PyScript's share", "app: Python ready", "app's share"], rows)
            steps = []
            for visit in ("cold", "warm"):
                st = pys["summary"][visit].get("micropip step")
                if st:
                    steps.append(f"{_s(st['median'])} {visit}")
            if steps:
                lines += ["", "PyScript installs `packages` through micropip (the bare page "
                          "calls `loadPackage` directly): it first loads micropip and "
                          "packaging, then resolves; numpy is requested "
                          f"{' / '.join(steps)} after micropip arrived (PyScript page)."]
        if app:
            lines += ["", f"Bytes per component ({next(iter(start['pages']))}):", ""]
            cold, warm = app["summary"]["cold"], app["summary"]["warm"]
            rows = []
            names = sorted(cold["components"], key=lambda k: -cold["components"][k]["bytes"])
            for name in names:
                c = cold["components"][name]
                w = warm["components"].get(name, {"bytes": 0, "requests": 0})
                rows.append([name, _bytes(c["bytes"]), f"{c['requests']:.0f}",
                             _bytes(w["bytes"]), f"{w['requests']:.0f}"])
            rows.append(["**total**", f"**{_bytes(cold['bytes']['median'])}**",
                         f"{cold['requests']['median']:.0f}",
                         f"**{_bytes(warm['bytes']['median'])}**",
                         f"{warm['requests']['median']:.0f} "
                         f"({warm['not_modified']['median']:.0f} x 304)"])
            lines += _table(["component", "first visit", "requests", "warm visit",
                             "requests"], rows)
        lines.append("")

    threads = _ok(b.get("threads", {}))
    if threads:
        lines += ["## 5. Threads", "",
                  "Raw `session.run` (WASM, on the 1 MP photo's tensor) with cross-origin "
                  "isolation (COOP/COEP: SharedArrayBuffer, onnxruntime uses "
                  "`navigator.hardwareConcurrency` threads; values: the pipeline page's paired "
                  "runs) and without (one thread, like GitHub Pages; a fresh page, one "
                  f"warm-up call); {meta['cpu_count']} CPUs.", ""]
        rows = []
        for model_id, t in threads.items():
            iso, one = t["isolated"], t["not_isolated"]
            rows.append([f"`{model_id}`", f"{_range_s(iso)} ({iso['threads']} threads)",
                         f"{_range_s(one)} ({one['threads']} thread)",
                         f"**{t['speedup']:.2f}x**"])
        lines += _table(["model", "isolated", "not isolated", "speed-up"], rows)
        lines.append("")

    cpy = res.get("cpython")
    if cpy is not None:
        lines += ["## 6. CPython benchmarks", "",
                  "Every other `bench/bench_*.py`, run as it is (subprocess, "
                  f"{meta['cpython_timeout']:.0f} s timeout); output kept verbatim in the "
                  "JSON.", ""]
        rows = [[f"`{name}`", " ".join(e["args"]) or "-",
                 "timeout" if e.get("timed_out") else str(e["returncode"]),
                 f"{e['seconds']:.1f} s"] for name, e in cpy.items()]
        lines += _table(["script", "args", "exit", "wall"], rows) if rows else ["(none found)"]
        for name, e in cpy.items():
            out = e["stdout"].rstrip() or e["stderr"].rstrip()
            lines += ["", f"<details><summary>{name}</summary>", "", "```", out, "```", "",
                      "</details>"]
        lines.append("")

    lines += ["## 7. Editing and brush latency", ""]
    ed = res.get("editor")
    if ed is None:
        lines += [f"{EDITOR_PLACEHOLDER.capitalize()}.", ""]
    else:
        status = ("timed out" if ed.get("timed_out") else f"exit {ed['returncode']}")
        cmd = " ".join([f"bench/{EDITOR}", *ed["args"]])
        lines += [f"From `{cmd}` (its own output, {status}, {ed['seconds']:.0f} s):", ""]
        body = ed["stdout"].rstrip() if ed["returncode"] == 0 else (
            "```\n" + (ed["stdout"] + ed["stderr"]).rstrip()[-3000:] + "\n```")
        lines += [body, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Entry point


def wait_for_quiet(threshold: float, max_wait: float) -> None:
    """Wait (up to ``max_wait`` s) until the 1-minute load average is below ``threshold``."""
    t = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() - t < max_wait:
        log(f"load {os.getloadavg()[0]:.2f} >= {threshold}: waiting (up to "
            f"{max_wait - (time.monotonic() - t):.0f} s more)")
        time.sleep(30)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="development: 3 runs, u2netp only, shorter CPython benchmarks")
    p.add_argument("--runs", type=int, help="runs per number (default 5, quick 3)")
    p.add_argument("--models", nargs="+",
                   help="models for the pipeline and threads (default u2netp isnet-medium; "
                        "isnet-small is optional)")
    p.add_argument("--skip", nargs="+", default=[],
                   choices=["startup", "pipeline", "threads", "editor", "cpython"])
    p.add_argument("--with-eval", action="store_true",
                   help="also run bench/eval_models.py (model quality; slow)")
    p.add_argument("--cpython-timeout", type=float, default=300)
    p.add_argument("--wait-for-load", type=float, metavar="LOAD",
                   help="first wait until the 1-minute load average is below LOAD")
    p.add_argument("--max-wait", type=float, default=900, help="seconds (with --wait-for-load)")
    p.add_argument("--out", type=Path, help="JSON path (default bench/results/<date>.json)")
    args = p.parse_args(argv)

    if args.wait_for_load:
        wait_for_quiet(args.wait_for_load, args.max_wait)
    runs = args.runs or (3 if args.quick else 5)
    models = args.models or (["u2netp"] if args.quick else ["u2netp", "isnet-medium"])
    startup_models = ["u2netp"] if args.quick else [bench_browser.default_model(), "u2netp"]
    startup_models = list(dict.fromkeys(startup_models))
    now = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    res: dict = {"meta": {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"), "mode": "quick" if args.quick else "full",
        "runs": runs, "models": models, "cpu_count": os.cpu_count(),
        "loadavg_before": bench_browser.loadavg(), "python": platform.python_version(),
        "platform": platform.platform(), "commit": git_commit(),
        "cpython_timeout": args.cpython_timeout,
    }}
    log(f"load average {res['meta']['loadavg_before']} on {os.cpu_count()} CPUs; "
        f"{'quick' if args.quick else 'full'} run: {runs} runs, models {models}")
    sections = {"startup", "pipeline", "threads"} - set(args.skip)
    if sections:
        res["browser"] = bench_browser.run(
            models=models, runs=runs, startup_runs=runs, startup_models=startup_models,
            thread_models=models, sections=sections, progress=log)
    if "editor" not in args.skip:
        res["editor"] = run_editor(quick=args.quick, timeout=args.cpython_timeout)
    if "cpython" not in args.skip:
        res["cpython"] = run_cpython(cpython_scripts(args.with_eval), quick=args.quick,
                                     timeout=args.cpython_timeout)
    res["meta"]["loadavg_after"] = bench_browser.loadavg()
    # other programs' share of the CPUs, time-weighted over the browser parts (measured while
    # each part's processes were alive, so that their CPU time can be told apart)
    b = res.get("browser", {})
    parts = [v for v in [*b.get("pipeline", {}).values(), *b.get("threads", {}).values(),
                         *b.get("startup", {}).get("pages", {}).values()] if "others_cpu" in v]
    if parts:
        res["meta"]["others_cpu"] = (sum(v["others_cpu"] * v["seconds"] for v in parts)
                                     / sum(v["seconds"] for v in parts))
    res["meta"]["minutes"] = (time.monotonic() - t0) / 60
    markdown = render(res)
    res["markdown"] = markdown

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / (now.strftime("%Y-%m-%d") + ("-quick" if args.quick else "")
                                 + ".json")
    out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown + "\n", encoding="utf-8")
    print(markdown)
    log(f"wrote {out} and {out.with_suffix('.md')} in {res['meta']['minutes']:.1f} min; "
        f"load average now {res['meta']['loadavg_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
