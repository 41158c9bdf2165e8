"""Editor benchmark in headless Chromium: brush latency and memory on a 12 MP photo.

    python bench/bench_editor.py [--strokes 100] [--model u2netp]

Builds nothing: run `python build.py build` first. Prints per-pointer-event latency of the
brush (the JS -> Python call that paints the mask and redraws the dirty part of the view:
p50/p95/max over every event), and the page's pixel memory after N strokes: JS heap, the
Pyodide (wasm) heap, canvas pixels, against 4x the RGBA size of the image.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402

from tests.e2e.conftest import ARGS, CHROMIUM, Served  # noqa: E402


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strokes", type=int, default=100)
    ap.add_argument("--model", default="u2netp")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    photo = tmp / "photo-12mp.jpg"
    Image.open(ROOT / "tests/data/astronaut.jpg").resize((4000, 3000), Image.LANCZOS).save(
        photo, quality=92)
    served = Served(ROOT / "site", isolate=True)
    result: dict = {"cores": os.cpu_count(), "load_before": os.getloadavg()}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{served.origin}/?model={args.model}")
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=300_000)
        page.set_input_files("#file", str(photo))
        page.wait_for_function("document.body.dataset.state === 'done' && !window.matteApp.busy",
                               timeout=600_000)
        result["run"] = page.evaluate("window.matteApp.timings.run")
        box = page.locator("#stage").bounding_box()
        page.evaluate("window.matteApp.brushTimes.length = 0")
        t0 = time.time()
        for i in range(args.strokes):
            y = box["y"] + 40 + (i * 37) % (box["height"] - 80)
            x0 = box["x"] + 40 + (i * 53) % (box["width"] / 2)
            page.keyboard.press("e" if i % 2 else "b")
            page.mouse.move(x0, y)
            page.mouse.down()
            page.mouse.move(x0 + 220, y + 30, steps=25)
            page.mouse.up()
        result["paint_wall_s"] = time.time() - t0
        times = page.evaluate("Array.from(window.matteApp.brushTimes)")
        mem = page.evaluate("""(() => {
            const st = window.mattePy.status();
            const canvases = Array.from(document.querySelectorAll('canvas'))
                .reduce((n, c) => n + c.width * c.height * 4, 0);
            return {wasm_heap: st.wasm_heap, session_bytes: st.session_bytes,
                    items_bytes: st.items_bytes, canvas_bytes: canvases,
                    js_heap: performance.memory ? performance.memory.usedJSHeapSize : null};
        })()""")
        browser.close()
    served.close()
    rgba = 4000 * 3000 * 4
    result.update({
        "events": len(times),
        "brush_ms": {"p50": statistics.median(times), "p95": pct(times, 95), "max": max(times)},
        "memory": mem,
        "rgba_bytes": rgba,
        "load_after": os.getloadavg(),
    })
    held = mem["wasm_heap"] + (mem["js_heap"] or 0) + mem["canvas_bytes"]
    print("| metric | value |\n|---|---|")
    print(f"| brush events | {len(times)} over {args.strokes} strokes |")
    b = result["brush_ms"]
    print(f"| brush latency per pointer event, ms (p50 / p95 / max) | "
          f"{b['p50']:.2f} / {b['p95']:.2f} / {b['max']:.2f} |")
    print(f"| Pyodide wasm heap | {mem['wasm_heap'] / 1e6:.0f} MB |")
    print(f"| of which EditSession (rgb, masks, history, caches) | "
          f"{mem['session_bytes'] / 1e6:.0f} MB |")
    print(f"| JS heap | {(mem['js_heap'] or 0) / 1e6:.0f} MB |")
    print(f"| canvases | {mem['canvas_bytes'] / 1e6:.1f} MB |")
    print(f"| total held / RGBA size | {held / 1e6:.0f} MB / {rgba / 1e6:.0f} MB = "
          f"{held / rgba:.2f}x |")
    print(f"| load average before / after | {result['load_before'][0]:.2f} / "
          f"{result['load_after'][0]:.2f} on {result['cores']} cores |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
