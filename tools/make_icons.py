"""Render the app icons (PNG) from src/icon.svg with headless Chromium; run once, commit them.

    python tools/make_icons.py

build.py runs with the standard library only, so the PNGs are committed rather than rendered
at build time. Writes src/icon-192.png and src/icon-512.png (the SVG as it is) and
src/icon-maskable-512.png (full-bleed background, the figure inside the maskable safe zone:
the central circle of 80% diameter).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CHROMIUM = os.environ.get("MATTE_CHROMIUM", "/usr/bin/chromium")


def maskable(svg: str) -> str:
    """The icon without rounded corners, the figure scaled to 70% around the centre."""
    body = re.search(r"<svg[^>]*>(.*)</svg>", svg, re.S).group(1)
    defs = re.search(r"<defs>.*?</defs>", body, re.S).group(0)
    figure = re.search(r"<path .*?/>", body, re.S).group(0)
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' + defs
            + '<rect width="32" height="32" fill="url(#c)"/>'
            + f'<g transform="translate(16 16) scale(0.7) translate(-16 -16)">{figure}</g></svg>')


def render(page: Page, svg: str, size: int) -> bytes:
    svg = re.sub(r"<svg ", f'<svg width="{size}" height="{size}" ', svg, count=1)
    page.set_viewport_size({"width": size, "height": size})
    page.set_content(f'<body style="margin:0">{svg}</body>')
    png = page.locator("svg").screenshot(omit_background=True)
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGBA").save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    svg = (SRC / "icon.svg").read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        for name, source, size in [("icon-192.png", svg, 192), ("icon-512.png", svg, 512),
                                   ("icon-maskable-512.png", maskable(svg), 512)]:
            data = render(page, source, size)
            (SRC / name).write_bytes(data)
            print(f"{name}: {len(data)} bytes")
        browser.close()


if __name__ == "__main__":
    main()
