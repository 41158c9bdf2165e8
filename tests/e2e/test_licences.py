"""Tier 3: a site built with `--no-agpl` works with the permissive model alone, and every build
shows where its third-party licences are."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import build
from tests.e2e.conftest import PageDriver, Served

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def permissive_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("no-agpl") / "site"
    build.build(quiet=True, agpl=False, site=root)
    served = Served(root, isolate=False)
    yield served
    served.close()


def test_no_agpl_site_runs_on_u2netp_alone(browser, permissive_site, artifacts):
    drv = PageDriver(browser, permissive_site.origin)
    try:
        # a visitor who picked ISNet on a full deployment before: the choice is not offered here
        drv.page.add_init_script("localStorage.setItem('matte.model', 'isnet-medium')")
        drv.open()
        drv.wait_ready()
        options = drv.page.eval_on_selector_all("#model option", "els => els.map(e => e.value)")
        assert options == ["u2netp"]
        assert drv.page.evaluate("window.matteApp.modelId") == "u2netp"
        assert "Apache-2.0" in drv.page.inner_text("#license")
        drv.page.click("#sample")
        assert drv.wait_done() == "done"
        drv.page.screenshot(path=artifacts / "no-agpl-done.png")
        with drv.page.expect_download() as info:
            drv.page.click("#download")
        rgba = np.asarray(Image.open(io.BytesIO(open(info.value.path(), "rb").read())))
        assert rgba.shape[2] == 4 and 0.05 < (rgba[:, :, 3] > 128).mean() < 0.95
        assert not [u for _, u, _ in drv.requests if "isnet" in u]
        assert drv.foreign_requests() == []
        assert drv.errors == []
    finally:
        drv.close()


def test_licences_are_linked_from_the_page_and_served(browser, site):
    drv = PageDriver(browser, site.origin)
    try:
        drv.open("?model=u2netp")
        href = drv.page.get_attribute("#third-party", "href")
        assert href == "THIRD_PARTY.md"
        for rel, needle in ((href, "Third-party components of matte"),
                            ("LICENSE.txt", "Apache License"),
                            (f"models/{build.AGPL_NOTICE}", "GNU Affero General Public License")):
            resp = drv.page.request.get(f"{site.origin}/{rel}")
            assert resp.status == 200, rel
            assert resp.headers["content-type"].startswith("text/plain"), rel
            assert needle in resp.text()[:300], rel
    finally:
        drv.close()
