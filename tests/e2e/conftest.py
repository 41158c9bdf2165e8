"""Tier 3 fixtures: serve the built site on 127.0.0.1 and drive Debian's Chromium."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

CHROMIUM = os.environ.get("MATTE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"


def site_dir() -> Path:
    site = Path(os.environ.get("MATTE_SITE", build.SITE))
    if not (site / "index.html").is_file():
        pytest.fail(f"{site} is not built: run `python build.py test` (it builds first)")
    return site


class Served:
    def __init__(self, root: Path, *, isolate: bool) -> None:
        self.server = build.Server(("127.0.0.1", 0), build.make_handler(root, isolate=isolate))
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def site():
    served = Served(site_dir(), isolate=False)
    yield served
    served.close()


@pytest.fixture(scope="session")
def isolated_site():
    served = Served(site_dir(), isolate=True)
    yield served
    served.close()


@pytest.fixture(scope="session")
def playwright():
    """The one Playwright driver of the test session (its sync API allows only one at a time);
    tests that need a Chromium with other flags launch it from here."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (see .ci/run)")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class PageDriver:
    """A page plus the record of every request it made."""

    def __init__(self, browser, origin: str, *, viewport=(1280, 800)) -> None:
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.origin = origin
        self.requests: list[tuple[str, str, bytes | None]] = []
        self.errors: list[str] = []
        self.page.on("request",
                     lambda r: self.requests.append((r.method, r.url, r.post_data_buffer)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.origin}/{query}")

    def wait_ready(self, timeout: float = 240_000) -> None:
        self.page.wait_for_function(
            "document.body.dataset.ready === '1' || Boolean(document.body.dataset.error)",
            timeout=timeout)
        err = self.page.evaluate("document.body.dataset.error || ''")
        assert not err, err

    def drop_file(self, path: Path, *, name: str | None = None, mime: str = "image/jpeg") -> None:
        """Drop a file on the page the way a person's drag and drop does (DataTransfer)."""
        data = list(Path(path).read_bytes())
        self.page.evaluate(
            """([bytes, name, mime]) => {
                const file = new File([new Uint8Array(bytes)], name, {type: mime});
                const dt = new DataTransfer();
                dt.items.add(file);
                const target = document.querySelector('#dropzone:not([hidden])')
                    || document.querySelector('.stage');
                for (const type of ['dragenter', 'dragover', 'drop']) {
                    target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true,
                                                              cancelable: true}));
                }
            }""",
            [data, name or Path(path).name, mime],
        )

    def wait_done(self, timeout: float = 300_000) -> str:
        self.page.wait_for_function(
            "['done', 'error'].includes(document.body.dataset.state) && !window.matteApp.busy",
            timeout=timeout)
        return self.page.evaluate("document.body.dataset.state")

    def foreign_requests(self) -> list[str]:
        return [u for _, u, _ in self.requests if not u.startswith(self.origin + "/")]

    def close(self) -> None:
        self.context.close()
