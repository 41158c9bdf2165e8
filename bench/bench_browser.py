"""Browser benchmarks of matte in headless Chromium (prints numbers; asserts nothing).

Measures, on the built site (``site/``) served from 127.0.0.1:

* ``pipeline``: end-to-end time from "file dropped" to "result drawn" for a 1 MP and a 12 MP
  photo per model (WASM backend), split into stages, divided by the raw ``session.run`` time of
  the same model measured in the same page right after (``matteBridge.timeRaw``); the longest
  main-thread task per stage; peak memory (JS heap, WebAssembly memories of the page, renderer
  process RSS) during the 12 MP runs.
* ``startup``: navigation to ready, cold (fresh browser context, empty cache) and warm (reload
  in the same context), for the app and for a bare Pyodide page (``bench/pages/bare.html``),
  with the bytes and requests the server answered on each visit.
* ``threads``: raw inference with and without cross-origin isolation (threads vs one thread).

The site is snapshotted (hard links) into a temporary folder together with ``bench/pages`` and
the generated photos, so ``site/`` is never modified and a concurrent ``build.py build`` cannot
pull files from under a run. ``bench/run_all.py`` calls :func:`run` and renders the table;
``python bench/bench_browser.py --quick`` runs this part alone and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

PAGES = ROOT / "bench" / "pages"
DATA = ROOT / "tests" / "data"
CHROMIUM = os.environ.get("MATTE_CHROMIUM", "/usr/bin/chromium")
#: The flags of tests/e2e/conftest.py, plus precise (unquantised) performance.memory.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--enable-precise-memory-info"]
#: Photos made from the test images with Pillow: (label, source, width, height).
PHOTOS = [("1 MP", "astronaut.jpg", 1024, 1024), ("12 MP", "coffee.jpg", 4000, 3000)]
# Injected before any page script: records matte:stage events, long tasks, and the
# WebAssembly memories created in the page's main thread (Pyodide's heap lives there), and
# samples the peaks of the JS heap and of those memories every 50 ms while the thread is free.
INIT_SCRIPT = r"""
(() => {
  const rec = { stages: [], longtasks: [], peakJs: 0, peakWasm: 0 };
  const memories = new Set();
  window.__bench = rec;
  window.addEventListener("matte:stage",
    (e) => rec.stages.push([e.detail.stage, performance.now(), e.detail.phase || ""]));
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) rec.longtasks.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch (err) { rec.noLongtasks = String(err); }
  // Only the exports of finished instances and the Memory constructor are looked at: the
  // import objects of Emscripten's dynamic linker are Proxies with side effects on access.
  const W = WebAssembly;
  const keep = (exports) => {
    try {
      for (const v of Object.values(exports || {})) if (v instanceof W.Memory) memories.add(v);
    } catch (err) { /* not ours to break */ }
  };
  W.Memory = new Proxy(W.Memory, {
    construct(target, args, newTarget) {
      const m = Reflect.construct(target, args, newTarget);
      memories.add(m);
      return m;
    },
  });
  const inst = W.instantiate;
  W.instantiate = async function (...args) {
    const r = await inst.apply(this, args);
    keep((r.instance || r).exports);
    return r;
  };
  if (W.instantiateStreaming) {
    const streaming = W.instantiateStreaming;
    W.instantiateStreaming = async function (...args) {
      const r = await streaming.apply(this, args);
      keep(r.instance.exports);
      return r;
    };
  }
  rec.wasmBytes = () => Array.from(memories, (m) => m.buffer.byteLength);
  const sample = () => {
    if (performance.memory) rec.peakJs = Math.max(rec.peakJs, performance.memory.usedJSHeapSize);
    let total = 0;
    for (const m of memories) total += m.buffer.byteLength;
    rec.peakWasm = Math.max(rec.peakWasm, total);
  };
  rec.sample = sample;
  rec.reset = () => { sample(); rec.peakJs = 0; rec.peakWasm = 0; sample(); };
  setInterval(sample, 50);
})();
"""

COLLECT_JS = """() => {
  const b = window.__bench;
  b.sample();
  const res = performance.getEntriesByType('resource').map((e) => ({
    name: new URL(e.name).pathname, start: e.startTime, end: e.responseEnd,
    transfer: e.transferSize, body: e.encodedBodySize}));
  return {
    now: performance.now(),
    isolated: crossOriginIsolated,
    t0: window.matteApp ? window.matteApp.t0 : null,
    timings: window.matteApp ? JSON.parse(JSON.stringify(window.matteApp.timings)) : null,
    backend: window.matteApp ? window.matteApp.backend || null : null,
    bare: window.bareTimings ? JSON.parse(JSON.stringify(window.bareTimings)) : null,
    pyscriptReady: window.benchPyReady || null,
    stages: b.stages, longtasks: b.longtasks, peakJs: b.peakJs, peakWasm: b.peakWasm,
    wasm: b.wasmBytes(),
    jsHeap: performance.memory ? performance.memory.usedJSHeapSize : null,
    resources: res,
  };
}"""

DROP_JS = """async ([url, name]) => {
  window.__photos = window.__photos || {};
  if (!window.__photos[url]) {
    const blob = await (await fetch(url)).blob();
    window.__photos[url] = new File([blob], name, {type: 'image/jpeg'});
  }
  const file = window.__photos[url];
  window.__bench.reset();
  window.__bench.stages = [];
  window.__bench.longtasks = [];
  const dt = new DataTransfer();
  dt.items.add(file);
  // the page listens on window: any element under it will do
  const target = document.querySelector('#dropzone:not([hidden])') || document.body;
  const t = performance.now();
  for (const type of ['dragenter', 'dragover', 'drop']) {
    target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true,
                                              cancelable: true}));
  }
  const state = document.body.dataset.state;
  return {dropped: t, state, size: file.size,
          started: state === 'loading' || Boolean(window.matteApp.busy)};
}"""

# The model input made from a photo in the page (the browser's resize instead of Pillow's, the
# manifest's scaling and mean/std): session.run on it is the floor a real photo has, which may
# differ from timeRaw's zero tensor.
REAL_INPUT_JS = """async ([url, h, w, scale, mean, std]) => {
  const blob = await (await fetch(url)).blob();
  const bmp = await createImageBitmap(blob, {resizeWidth: w, resizeHeight: h,
                                             resizeQuality: 'medium'});
  const ctx = new OffscreenCanvas(w, h).getContext('2d');
  ctx.drawImage(bmp, 0, 0);
  const px = ctx.getImageData(0, 0, w, h).data;
  let div = 1;
  if (scale === 'unit') div = 255;
  if (scale === 'max') {
    div = 1;
    for (let i = 0; i < px.length; i++) if ((i & 3) !== 3 && px[i] > div) div = px[i];
  }
  const n = h * w, out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) out[c * n + i] = (px[4 * i + c] / div - mean[c]) / std[c];
  }
  window.__realInput = out;
}"""

TIME_REAL_JS = """async ([id, name, dims]) => {
  const data = window.__realInput.slice();
  const t = performance.now();
  await window.matteBridge.run(id, name, data, dims, null);
  return performance.now() - t;
}"""

READY_APP = "() => document.body.dataset.ready === '1' || Boolean(document.body.dataset.error)"
DONE_APP = ("() => ['done', 'error'].includes(document.body.dataset.state) "
            "&& !window.matteApp.busy")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Statistics


def summary(values: list[float]) -> dict:
    """Median, min, max and n of a list of numbers (empty dict for no numbers)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _busy_jiffies() -> int:
    """CPU time all programs of the machine used so far (user + nice + system + irq + softirq +
    steal), in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def _tree_jiffies() -> int:
    """CPU time of this process and all its descendants, living or waited for, in ticks."""
    kids = _children_map()
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, []))
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total


class OthersCpu:
    """How much of the machine's CPUs other programs used between two points: the noise
    indicator of a shared machine (the load average also counts this benchmark itself)."""

    def __init__(self) -> None:
        self.t, self.busy, self.mine = time.monotonic(), _busy_jiffies(), _tree_jiffies()

    def share(self) -> float:
        """Fraction of all CPUs (0..1) used by other programs since construction."""
        dt = time.monotonic() - self.t
        busy, mine = _busy_jiffies() - self.busy, _tree_jiffies() - self.mine
        capacity = dt * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
        return max(0.0, (busy - mine) / capacity) if capacity else 0.0


# ---------------------------------------------------------------------------------------------
# Site snapshot, photos, server with byte accounting


def make_photos(folder: Path) -> dict[str, Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for label, src, w, h in PHOTOS:
        path = folder / f"{Path(src).stem}-{w}x{h}.jpg"
        Image.open(DATA / src).convert("RGB").resize((w, h), Image.Resampling.LANCZOS).save(
            path, quality=90)
        out[label] = path
    return out


def snapshot_site(dest: Path, photos: dict[str, Path]) -> Path:
    """Hard-link site/ into ``dest`` and add bench/pages and the photos under ``bench/``."""
    if not (build.SITE / "index.html").is_file():
        log("site/ is not built: running build.build()")
        build.build(quiet=True)
    for src in build.SITE.rglob("*"):
        if src.is_file():
            dst = dest / src.relative_to(build.SITE)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    shutil.copytree(PAGES, dest / "bench")
    (dest / "bench" / "photos").mkdir()
    for path in photos.values():
        shutil.copyfile(path, dest / "bench" / "photos" / path.name)
    return dest


class _Counter:
    """Wraps a socket file and counts the bytes written."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.count = 0

    def write(self, data) -> int:
        self.count += len(data)
        return self.raw.write(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


class Served:
    """build.Server + build.make_handler, recording (path, status, bytes sent) per request."""

    def __init__(self, root: Path, *, isolate: bool) -> None:
        base = build.make_handler(root, isolate=isolate)
        records: list[dict] = []
        lock = threading.Lock()
        self.records = records

        class Handler(base):
            def setup(self) -> None:
                super().setup()
                self.wfile = _Counter(self.wfile)

            def send_response(self, code, message=None):
                self._bench_code = code
                super().send_response(code, message)

            def handle_one_request(self) -> None:
                before = self.wfile.count
                self._bench_code = None
                self.path = ""
                super().handle_one_request()
                if self._bench_code is not None:
                    with lock:
                        records.append({"path": self.path.split("?")[0],
                                        "status": self._bench_code,
                                        "bytes": self.wfile.count - before,
                                        "t": time.monotonic()})

        self.server = build.Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self) -> list[dict]:
        """The records since the last call (and forget them)."""
        out = list(self.records)
        del self.records[: len(out)]
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def component(path: str) -> str:
    rel = path.lstrip("/")
    if rel.startswith("bench/"):
        return "bench page"
    if rel in ("", "index.html"):
        return "app (HTML, JS, CSS, Python)"
    name = build.component_of(rel)
    return name


def bytes_by_component(records: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for r in records:
        c = out.setdefault(component(r["path"]), {"bytes": 0, "requests": 0, "not_modified": 0})
        c["bytes"] += r["bytes"]
        c["requests"] += 1
        c["not_modified"] += r["status"] == 304
    total = {"bytes": sum(r["bytes"] for r in records), "requests": len(records),
             "not_modified": sum(r["status"] == 304 for r in records)}
    return {"total": total, "components": out}


# ---------------------------------------------------------------------------------------------
# Process memory (renderer RSS) of the Chromium this process launched


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def chromium_processes() -> dict[int, str]:
    """pid -> process type ('browser', 'renderer', 'gpu-process', ...) of our descendants."""
    kids = _children_map()
    out: dict[int, str] = {}
    todo = list(kids.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, []))
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").split()  # renderers rewrite their title
        except OSError:
            continue
        if not cmd or b"chrom" not in cmd[0]:
            continue
        kind = "browser"
        for arg in cmd:
            if arg.startswith(b"--type="):
                kind = arg[7:].decode()
        out[pid] = kind
    return out


#: Thread groups for CPU accounting, by process type and thread name (/proc/.../comm, 15
#: characters). Dedicated workers are onnxruntime's proxy worker and its wasm threads (the app
#: starts no other worker; Python runs on the page's main thread). Only the renderer and GPU
#: processes count: the page's renderer holds the main thread and the workers, and with
#: --disable-gpu the display compositor runs in software in the GPU process.
def thread_group(kind: str, comm: str, main: bool) -> str:
    if kind == "renderer":
        if main:  # the process's first thread (named after the executable, not CrRendererMain)
            return "page main thread"
        if comm.startswith("DedicatedWorker"):
            return "workers (onnxruntime)"
        if comm.startswith("Compositor") or "Raster" in comm:
            return "paint + composite"
        return "other"
    if kind == "gpu-process":  # --disable-gpu: the display compositor runs here, in software
        return "paint + composite"
    return "other"


CPU_GROUPS = ["page main thread", "workers (onnxruntime)", "paint + composite", "other"]
_TICK = 1000.0 / os.sysconf("SC_CLK_TCK")  # ms per clock tick


def _thread_cpu(procs: dict[int, str]) -> dict[str, float]:
    """CPU ms (user + system) used so far by each thread group of ``procs``."""
    out = dict.fromkeys(CPU_GROUPS, 0.0)
    for pid, kind in procs.items():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    comm = f.read().strip()
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            out[thread_group(kind, comm, tid == str(pid))] += ticks * _TICK
    return out


class ProcSampler:
    """Every 100 ms: the RSS of our Chromium's renderers and of all its processes (peaks), and
    the CPU time of its thread groups (kept with time.monotonic(), see :meth:`cpu_between`).
    CPU time, unlike wall time, hardly changes when other programs load the machine."""

    def __init__(self) -> None:
        self.peak_renderer = 0
        self.peak_total = 0
        self.cpu: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        procs: dict[int, str] = {}
        last_scan = 0.0
        while True:
            if time.monotonic() - last_scan > 2:
                procs = chromium_processes()
                last_scan = time.monotonic()
            rss = {pid: _rss(pid) for pid in procs}
            renderers = [v for pid, v in rss.items() if procs[pid] == "renderer"]
            self.peak_renderer = max(self.peak_renderer, max(renderers, default=0))
            self.peak_total = max(self.peak_total, sum(rss.values()))
            self.cpu.append((time.monotonic(), _thread_cpu(procs)))
            if self._stop.wait(0.1):
                break

    def cpu_between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU ms of each thread group between two time.monotonic() times (interpolated)."""
        a, b = self._at(t0), self._at(t1)
        return {g: max(0.0, b[g] - a[g]) for g in CPU_GROUPS}

    def _at(self, t: float) -> dict[str, float]:
        samples = list(self.cpu)
        if not samples:
            return dict.fromkeys(CPU_GROUPS, 0.0)
        if t <= samples[0][0]:
            return samples[0][1]
        for (ta, a), (tb, b) in zip(samples, samples[1:], strict=False):
            if ta <= t <= tb:
                f = (t - ta) / (tb - ta) if tb > ta else 0.0
                return {g: a[g] + f * (b[g] - a[g]) for g in CPU_GROUPS}
        return samples[-1][1]

    def __enter__(self) -> ProcSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------------------------
# Browser


class Chromium:
    """Playwright's Chromium: one shared browser (pipeline, threads) and fresh profiles."""

    def __init__(self, pw) -> None:
        self.pw = pw
        self.browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        self.version = self.browser.version

    @contextmanager
    def profile(self) -> Iterator:
        """A browser with a new, empty profile on disk (so its HTTP cache is the disk cache a
        person's browser has; playwright's new_context() keeps a small in-memory cache that
        does not hold files over ~10 MB, which would make every warm visit look cold)."""
        with tempfile.TemporaryDirectory(prefix="matte-profile-") as folder:
            context = self.pw.chromium.launch_persistent_context(
                folder, executable_path=CHROMIUM, args=ARGS,
                viewport={"width": 1280, "height": 800})
            try:
                yield context
            finally:
                context.close()

    def close(self) -> None:
        self.browser.close()


@contextmanager
def chromium() -> Iterator[Chromium]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `apt-get install -y chromium`")
    with sync_playwright() as p:
        chrome = Chromium(p)
        try:
            yield chrome
        finally:
            chrome.close()


def new_page(chrome: Chromium, *, reduced_motion: bool = False):
    context = chrome.browser.new_context(viewport={"width": 1280, "height": 800},
                                         reduced_motion="reduce" if reduced_motion else None)
    page = context.new_page()
    page.add_init_script("" if os.environ.get("NOINIT") else INIT_SCRIPT)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.bench_errors = errors
    return context, page


def wait_js(page, fn: str, timeout: float, interval: float = 0.1) -> None:
    """Poll ``fn`` (a JS function) with page.evaluate until it returns true. Not
    page.wait_for_function: that compiles its predicate in the page, which a Content-Security-
    Policy without 'unsafe-eval' forbids; evaluate goes through the DevTools protocol."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(fn):
                return
        except Error as exc:  # the page is (re)loading: try again
            if "context was destroyed" not in str(exc) and "navigation" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"{fn} was not true within {timeout:.0f} s")
        time.sleep(interval)


def wait_ready(page, expr: str = READY_APP, timeout: float = 300) -> None:
    wait_js(page, expr, timeout)
    err = page.evaluate("document.body.dataset.error || ''")
    if err:
        raise RuntimeError(f"page error: {err}")


def default_model() -> str:
    return build.load_manifest()["default"]


def model_entry(model_id: str) -> dict:
    return next(m for m in build.load_manifest()["models"] if m["id"] == model_id)


def time_raw(page, model_id: str, n: int) -> list[float]:
    m = model_entry(model_id)
    h, w = m["input"]["size"]
    return page.evaluate(
        "([id, name, dims, n]) => window.matteBridge.timeRaw(id, name, dims, n)",
        [model_id, m["input"]["name"], [1, 3, h, w], n])


# ---------------------------------------------------------------------------------------------
# Start-up


#: Files whose arrival is worth a mark in the start-up timeline (name part -> label).
MARKS = {"pyodide.asm.wasm": "pyodide.asm.wasm", "micropip": "micropip-",
         "numpy": "numpy-", "matte.zip": "matte.zip", "main.py": "/src/main.py",
         "model": ".onnx"}


def _startup_sample(page, served: Served, kind: str) -> dict:
    got = page.evaluate(COLLECT_JS)
    records = served.take()
    if kind == "app":
        t = got["timings"]
        # matteApp.timings count from app.js's start (t0); "ready" and "python_ready_nav"
        # here count from navigation start
        sample = {"ready": t["ready"] + got["t0"], "app_js_start": got["t0"],
                  "python_ready_nav": t["pythonReady"] + got["t0"],
                  "python_ready": t.get("pythonReady"), "model_fetch": t.get("modelFetch"),
                  "session": t.get("session"), "backend": got["backend"]}
    elif kind == "pyscript":
        sample = {"ready": got["pyscriptReady"]}
    else:
        b = got["bare"]
        sample = {"ready": b["imports"], "module_start": b["moduleStart"],
                  "pyodide": b["pyodide"] - b["moduleStart"],
                  "packages": b["packages"] - b["pyodide"],
                  "imports": b["imports"] - b["packages"], "wasm_heap": b["wasmHeapBytes"]}
    sample["isolated"] = got["isolated"]
    # when key files arrived (resource timing of the page's main thread, ms from navigation)
    for key, needle in MARKS.items():
        hits = [r for r in got["resources"] if needle in r["name"]]
        if hits:
            sample[f"{key} requested"] = min(r["start"] for r in hits)
            sample[f"{key} arrived"] = max(r["end"] for r in hits)
    if "micropip arrived" in sample and "numpy requested" in sample:
        sample["micropip step"] = sample["numpy requested"] - sample["micropip arrived"]
    sample["net"] = bytes_by_component(records)
    sample["resources"] = got["resources"]
    return sample


def measure_startup(chrome: Chromium, served: Served, kind: str, runs: int,
                    query: str = "") -> dict:
    """Cold (new profile: empty cache) then warm (reload, same profile) loads, ``runs`` pairs."""
    url = f"{served.origin}/{query}" if kind == "app" else f"{served.origin}/bench/{kind}.html"
    cold, warm, others = [], [], []
    for i in range(runs):
        with chrome.profile() as context:
            # each profile is a browser of its own, whose processes are gone (and their CPU
            # time with them) once it closes: measure other programs' share inside
            busy = OthersCpu()
            context.add_init_script(INIT_SCRIPT)
            page = context.pages[0] if context.pages else context.new_page()
            served.take()
            page.goto(url, wait_until="commit")
            wait_ready(page)
            cold.append(_startup_sample(page, served, kind))
            page.reload(wait_until="commit")
            wait_ready(page)
            warm.append(_startup_sample(page, served, kind))
            others.append((time.monotonic() - busy.t, busy.share()))
        if i:  # the resource timeline of the first pair is enough
            del cold[-1]["resources"], warm[-1]["resources"]
        log(f"startup {kind}{query} {i + 1}/{runs}: cold {cold[-1]['ready'] / 1e3:.1f} s "
            f"({cold[-1]['net']['total']['bytes'] / 1e6:.1f} MB), warm "
            f"{warm[-1]['ready'] / 1e3:.1f} s ({warm[-1]['net']['total']['bytes'] / 1e6:.1f} MB)"
            f", load {loadavg()[0]}")
    return {"kind": kind, "url": url.replace(served.origin, ""), "cold": cold, "warm": warm,
            "summary": {v: _startup_summary(samples) for v, samples in
                        (("cold", cold), ("warm", warm))},
            "others_cpu": sum(t * x for t, x in others) / sum(t for t, _ in others)}


def _startup_summary(samples: list[dict]) -> dict:
    keys = [k for k, v in samples[0].items() if isinstance(v, (int, float))
            and not isinstance(v, bool)]
    out = {k: summary([s[k] for s in samples]) for k in keys}
    out["bytes"] = summary([s["net"]["total"]["bytes"] for s in samples])
    out["requests"] = summary([s["net"]["total"]["requests"] for s in samples])
    out["not_modified"] = summary([s["net"]["total"]["not_modified"] for s in samples])
    comps: dict[str, dict] = {}
    for s in samples:
        for name, c in s["net"]["components"].items():
            comps.setdefault(name, {"bytes": [], "requests": []})
            comps[name]["bytes"].append(c["bytes"])
            comps[name]["requests"].append(c["requests"])
    out["components"] = {k: {"bytes": statistics.median(v["bytes"]),
                             "requests": statistics.median(v["requests"])}
                         for k, v in comps.items()}
    return out


# ---------------------------------------------------------------------------------------------
# Pipeline


#: The timeline of one run, from the page's matte:stage events: (window name, event that opens
#: it). The drop opens the first window; "done" (or the end of the run) closes the last.
WINDOWS = [("file read + call", None), ("decode + glue", "compute:decode"),
           ("preprocess", "compute:preprocess"), ("inference", "compute:inference"),
           ("postprocess + draw", "compute:postprocess")]


def _stage_times(stages: list, dropped: float) -> dict[str, float]:
    """First time of each matte:stage event after the drop; the preview model's run (phase
    "preview" of the progressive result) is not a window of its own: it falls in "decode +
    glue", and :func:`_stages` takes it out of there."""
    out: dict[str, float] = {}
    for name, t, *phase in stages:
        if t >= dropped and name not in out and phase[:1] != ["preview"]:
            out[name] = t
    return out


def _windows(ev: dict[str, float], start: float, end: float) -> list[tuple[str, float, float]]:
    """The stage windows of one run; a window whose event is missing merges into the previous."""
    marks = [(name, start if event is None else ev.get(event)) for name, event in WINDOWS]
    marks = [(n, t) for n, t in marks if t is not None] + [("end", end)]
    return [(marks[i][0], marks[i][1], marks[i + 1][1]) for i in range(len(marks) - 1)]


def _longtasks_by_stage(tasks: list, windows: list) -> dict[str, float]:
    """Longest task per stage window (each task goes to the window it overlaps most)."""
    out = {name: 0.0 for name, _, _ in windows}
    for start, dur in tasks:
        end = start + dur
        best, overlap = None, 0.0
        for name, a, b in windows:
            o = min(end, b) - max(start, a)
            if o > overlap:
                best, overlap = name, o
        if best is not None:
            out[best] = max(out[best], dur)
    return out


def _stages(run: dict, windows: list) -> dict[str, float | None]:
    """Split a run into stages: the windows between the page's events, and inside them the
    durations Python measured (decode, preprocess, inference, postprocess, draw if the page
    reports it). What a window holds beyond its measured part is named after what runs there:
    "glue" (return to JS, UI updates, waiting for the session, the call into segment), "draw"
    (everything after postprocess until the result is on screen)."""
    win = {name: b - a for name, a, b in windows}
    out: dict[str, float | None] = {"file read + call": win.get("file read + call")}
    dec = run.get("decode")
    out["decode"] = dec
    w = win.get("decode + glue")
    pre = run.get("preview")  # the progressive result's first mask (another model's run)
    out["preview run"] = (pre["preprocess"] + pre["inference"] + pre["postprocess"]
                          if pre else None)
    out["glue after decode"] = (w - dec - (out["preview run"] or 0)) \
        if (w is not None and dec is not None) else None
    out["preprocess"] = run.get("preprocess")
    out["inference"] = run.get("inference")
    out["postprocess"] = run.get("postprocess")
    w, post = win.get("postprocess + draw"), run.get("postprocess")
    out["draw"] = (w - post) if (w is not None and post is not None) else run.get("draw")
    out["unaccounted"] = run["total"] - sum(v for v in out.values() if v is not None)
    return out


def page_clock(page) -> float:
    """time.monotonic() minus the page's performance.now() (in s), to a few ms."""
    m0 = time.monotonic()
    p = page.evaluate("performance.now()")
    return (m0 + time.monotonic()) / 2 - p / 1e3


def _one_run(page, photo_url: str, name: str) -> dict:
    clock = page_clock(page)
    drop = page.evaluate(DROP_JS, [photo_url, name])
    if not drop["started"]:
        raise RuntimeError(f"the drop did not start a run (state {drop['state']!r})")
    wait_js(page, DONE_APP, timeout=600, interval=0.2)
    got = page.evaluate(COLLECT_JS)
    state, err = page.evaluate("[document.body.dataset.state, document.body.dataset.error]")
    run = (got["timings"] or {}).get("run") or {}
    if state != "done" or err or "total" not in run or run.get("start", -1) < drop["dropped"]:
        raise RuntimeError(f"run ended in state {state}: {err or run}")
    ev = _stage_times(got["stages"], drop["dropped"])
    windows = _windows(ev, run["start"], run["start"] + run["total"])
    return {"total": run["total"], "stages": _stages(run, windows), "events": ev,
            "windows_monotonic": [(n, clock + a / 1e3, clock + b / 1e3) for n, a, b in windows],
            "timings": run, "file_bytes": drop["size"],
            "longtasks": _longtasks_by_stage(got["longtasks"], windows),
            "longest_task": max((d for _, d in got["longtasks"]), default=0.0),
            "peak_js_heap": got["peakJs"], "peak_wasm": got["peakWasm"], "wasm": got["wasm"]}


def real_input(page, model_id: str, photo_url: str) -> None:
    """Make the model's input from a photo in the page (browser resize, the manifest's
    scaling and mean/std) and keep it for :func:`time_real`."""
    m = model_entry(model_id)["input"]
    h, w = m["size"]
    page.evaluate(REAL_INPUT_JS, [photo_url, h, w, m["scale"], m["mean"], m["std"]])


def time_real(page, model_id: str) -> float:
    """One raw ``matteBridge.run`` (what timeRaw times) on the photo's tensor, in ms."""
    m = model_entry(model_id)
    h, w = m["input"]["size"]
    return page.evaluate(TIME_REAL_JS, [model_id, m["input"]["name"], [1, 3, h, w]])


def measure_pipeline(chrome: Chromium, served: Served, model_id: str, photos: dict[str, Path],
                     runs: int, *, reduced_motion: bool = False) -> dict:
    context, page = new_page(chrome, reduced_motion=reduced_motion)
    try:
        served.take()
        page.goto(f"{served.origin}/?model={model_id}", wait_until="commit")
        wait_ready(page)
        info = page.evaluate("({backend: matteApp.backend, model: matteApp.modelId, "
                             "isolated: crossOriginIsolated, threads: matteApp.caps.threads})")
        if info["model"] != model_id or info["backend"] != "wasm":
            raise RuntimeError(f"unexpected page state {info}")
        cdp = context.new_cdp_session(page)
        out: dict = {"model": model_id, **info, "sizes": {}}
        first = True
        for label, path in photos.items():
            url = f"/bench/photos/{path.name}"
            real_input(page, model_id, url)
            if first:  # one untimed warm-up run: first-call costs of Python and onnxruntime
                warm = _one_run(page, url, path.name)
                out["warmup"] = {"total": warm["total"], "real": time_real(page, model_id)}
                first = False
            samples = []
            with ProcSampler() as rss:
                for i in range(runs):
                    sample = _one_run(page, url, path.name)
                    # session.run on this photo's tensor right after, in the same page: noise
                    # on a shared machine hits both numbers of a pair alike
                    m0 = time.monotonic()
                    sample["raw_real"] = time_real(page, model_id)
                    sample["raw_monotonic"] = (m0, time.monotonic())
                    sample["overhead_real"] = sample["total"] / sample["raw_real"]
                    # the progressive result: when the first mask was on screen
                    pre = sample["timings"].get("preview")
                    sample["first_mask"] = pre["shown"] if pre else sample["total"]
                    sample["first_ratio"] = sample["first_mask"] / sample["raw_real"]
                    samples.append(sample)
                    log(f"{model_id} {label} run {i + 1}/{runs}: "
                        f"{sample['total'] / 1e3:.2f} s, inference stage "
                        f"{sample['stages']['inference'] / 1e3:.2f} s, session.run "
                        f"{sample['raw_real'] / 1e3:.2f} s, load {loadavg()[0]}")
            for sample in samples:  # CPU time per thread group in each stage window
                spans = sample.pop("windows_monotonic") + [
                    ("session.run alone", *sample.pop("raw_monotonic"))]
                sample["cpu"] = {n: {**rss.cpu_between(a, b), "wall": (b - a) * 1e3}
                                 for n, a, b in spans}
            heap = cdp.send("Runtime.getHeapUsage")
            stages = {k: summary([s["stages"][k] for s in samples])
                      for k in samples[0]["stages"]}
            # the inference stage split: session.run on the same tensor, and the rest (tensor
            # copies Python <-> JS, the bridge call, resuming the Python coroutine)
            bridge = [s["stages"]["inference"] - s["raw_real"] for s in samples]
            out["sizes"][label] = {
                "photo": path.name, "file_bytes": samples[0]["file_bytes"], "runs": samples,
                "total": summary([s["total"] for s in samples]),
                "raw_real": summary([s["raw_real"] for s in samples]),
                "overhead_real": summary([s["overhead_real"] for s in samples]),
                "first_mask": summary([s["first_mask"] for s in samples]),
                "first_ratio": summary([s["first_ratio"] for s in samples]),
                "stages": stages, "inference_bridge": summary(bridge),
                "longtasks": {k: summary([s["longtasks"].get(k, 0) for s in samples])
                              for k in samples[0]["longtasks"]},
                "longest_task": summary([s["longest_task"] for s in samples]),
                "cpu": {w: {g: statistics.median(s["cpu"][w][g] for s in samples
                                                 if w in s["cpu"]) for g in [*CPU_GROUPS, "wall"]}
                        for w in samples[0]["cpu"]},
                "peak_js_heap": max(s["peak_js_heap"] for s in samples),
                "peak_wasm": max(s["peak_wasm"] for s in samples),
                "wasm_memories": samples[-1]["wasm"],
                "peak_renderer_rss": rss.peak_renderer, "peak_chromium_rss": rss.peak_total,
                "heap_usage_after": heap,
            }
        # matteBridge.timeRaw as it is (a zero tensor), after all runs, in the same page
        raw = time_raw(page, model_id, runs)
        out["raw"] = {**summary(raw), "samples": raw}
        log(f"{model_id} timeRaw x{runs}: median {out['raw']['median'] / 1e3:.2f} s")
        for s in out["sizes"].values():
            s["overhead"] = summary([r["total"] / out["raw"]["median"] for r in s["runs"]])
        out["errors"] = page.bench_errors
        return out
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------
# Threads


def measure_raw(chrome: Chromium, served: Served, model_id: str, runs: int,
                photo: Path) -> dict:
    """Raw inference of a model in a fresh page on a photo's tensor (as the pipeline's paired
    runs): one warm-up call, then ``runs`` timed."""
    context, page = new_page(chrome)
    try:
        page.goto(f"{served.origin}/?model={model_id}", wait_until="commit")
        wait_ready(page)
        info = page.evaluate("({backend: matteApp.backend, isolated: crossOriginIsolated, "
                             "threads: matteApp.caps.threads})")
        real_input(page, model_id, f"/bench/photos/{photo.name}")
        warm = time_real(page, model_id)
        raw = [time_real(page, model_id) for _ in range(runs)]
        log(f"raw {model_id} isolated={info['isolated']}: median "
            f"{statistics.median(raw) / 1e3:.2f} s")
        return {**info, "warmup": warm, "samples": raw, **summary(raw)}
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------
# Entry point


def _attempt(what: str, fn: Callable[[], dict], errors: list[str]) -> dict:
    """Run one measurement; a failure is recorded (and printed), not raised, so that one broken
    part does not cost the numbers of the others."""
    t = time.monotonic()
    others = OthersCpu()
    try:
        res = fn()
    except Exception as exc:  # reported in the results and the table
        msg = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log(f"FAILED {msg}")
        errors.append(msg)
        return {"error": msg}
    res["seconds"] = time.monotonic() - t
    res["loadavg_after"] = loadavg()
    res.setdefault("others_cpu", others.share())
    log(f"{what}: {res['seconds']:.0f} s; other programs used {res['others_cpu']:.0%} of the "
        "CPUs meanwhile")
    return res


def run(*, models: list[str], runs: int, startup_runs: int, startup_models: list[str],
        thread_models: list[str], sections: set[str],
        progress: Callable[[str], None] = log) -> dict:
    out: dict = {"loadavg_before": loadavg(), "errors": []}
    errors = out["errors"]
    with tempfile.TemporaryDirectory(prefix="matte-bench-") as tmp:
        photos = make_photos(Path(tmp) / "photos")
        root = snapshot_site(Path(tmp) / "site", photos)
        isolated = Served(root, isolate=True)
        plain = Served(root, isolate=False)
        try:
            with chromium() as chrome:
                out["chromium"] = chrome.version
                out["photos"] = {k: {"file": p.name, "bytes": p.stat().st_size}
                                 for k, p in photos.items()}
                if "startup" in sections:
                    progress(f"start-up ({startup_runs} cold + warm pairs per page)")
                    default = default_model()
                    pages = {}
                    for model_id in startup_models:
                        label = f"app, {model_id}" + (" (default)" if model_id == default else "")
                        query = "" if model_id == default else f"?model={model_id}"
                        pages[label] = _attempt(f"start-up {label}", lambda q=query: (
                            measure_startup(chrome, isolated, "app", startup_runs, q)), errors)
                    for label, kind in (("PyScript + numpy + Pillow", "pyscript"),
                                        ("bare Pyodide + numpy + Pillow", "bare")):
                        pages[label] = _attempt(f"start-up {label}", lambda k=kind: (
                            measure_startup(chrome, isolated, k, startup_runs)), errors)
                    out["startup"] = {"server": "isolated (COOP/COEP)", "pages": pages,
                                      "loadavg_after": loadavg()}
                if "pipeline" in sections:
                    out["pipeline"] = {}
                    for model_id in models:
                        progress(f"pipeline {model_id} ({runs} runs per size)")
                        out["pipeline"][model_id] = _attempt(
                            f"pipeline {model_id}", lambda m=model_id: measure_pipeline(
                                chrome, isolated, m, photos, runs), errors)
                if "threads" in sections:
                    out["threads"] = {}
                    for model_id in thread_models:
                        progress(f"threads {model_id} ({runs} raw runs, isolated and not)")
                        out["threads"][model_id] = _attempt(
                            f"threads {model_id}", lambda m=model_id: _threads(
                                chrome, isolated, plain, m, runs, out.get("pipeline", {}),
                                photos),
                            errors)
        finally:
            isolated.close()
            plain.close()
    out["loadavg_after"] = loadavg()
    return out


def _threads(chrome: Chromium, isolated: Served, plain: Served, model_id: str, runs: int,
             pipeline: dict, photos: dict[str, Path]) -> dict:
    photo = photos[next(iter(photos))]
    piped = pipeline.get(model_id, {})
    if "sizes" in piped:  # the pipeline page's paired runs (isolated), all photos
        raw = [r["raw_real"] for s in piped["sizes"].values() for r in s["runs"]]
        iso = {"isolated": piped["isolated"], "threads": piped["threads"],
               "source": "pipeline page: the paired session.run after each drop",
               "samples": raw, **summary(raw)}
    else:
        iso = measure_raw(chrome, isolated, model_id, runs, photo)
    one = measure_raw(chrome, plain, model_id, runs, photo)
    return {"isolated": iso, "not_isolated": one, "speedup": one["median"] / iso["median"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 runs, u2netp only")
    p.add_argument("--sections", default="startup,pipeline,threads")
    p.add_argument("--models", help="comma-separated model ids (default: per --quick)")
    p.add_argument("--runs", type=int, help="runs per number (default 5, --quick 3)")
    args = p.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    models = ["u2netp"] if args.quick else ["u2netp", "isnet-medium"]
    if args.models:
        models = args.models.split(",")
    res = run(models=models, runs=runs, startup_runs=runs,
              startup_models=["u2netp"] if args.quick else ["isnet-medium", "u2netp"],
              thread_models=models,
              sections=set(args.sections.split(",")))
    json.dump(res, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
