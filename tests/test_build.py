"""build.py: pinning, hash checks and clear failures (no network needed)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402


def test_wrong_hash_names_file_and_both_hashes(tmp_path):
    f = tmp_path / "x.tgz"
    f.write_bytes(b"not what we pinned")
    actual = hashlib.sha256(b"not what we pinned").hexdigest()
    with pytest.raises(build.BuildError) as info:
        build.check_hash(f, "0" * 64, what="pkg@1.0")
    msg = str(info.value)
    assert "pkg@1.0" in msg and str(f) in msg and "0" * 64 in msg and actual in msg
    assert "Delete" in msg and "build.py fetch" in msg


def test_truncated_file_names_sizes(tmp_path):
    f = tmp_path / "model.onnx"
    f.write_bytes(b"1234")
    with pytest.raises(build.BuildError, match="has 4 bytes, expected 10"):
        build.check_hash(f, "0" * 64, what="model m", size=10)


def test_cached_download_with_wrong_hash_is_refused(tmp_path):
    pkg = build.Package("t", "npm", "left-pad", "1.3.0", "left-pad-1.3.0.tgz", "1" * 64, "MIT")
    (tmp_path / pkg.file).write_bytes(b"tampered")
    with pytest.raises(build.BuildError, match="sha256 mismatch"):
        build.download(pkg, tmp_path)


def test_missing_npm_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    pkg = build.Package("t", "npm", "left-pad", "1.3.0", "left-pad-1.3.0.tgz", "1" * 64, "MIT")
    with pytest.raises(build.BuildError, match="npm is needed.*Install Node.js"):
        build.download(pkg, tmp_path)


def test_missing_pip_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(build.sys, "executable", str(tmp_path / "no-python"))
    pkg = build.Package("t", "pypi", "six", "1.16.0", "six-1.16.0-py2.py3-none-any.whl",
                        "1" * 64, "MIT")
    with pytest.raises((build.BuildError, OSError)) as info:
        build.download(pkg, tmp_path)
    if isinstance(info.value, build.BuildError):
        assert "pip is needed" in str(info.value)


def test_manifest_models_are_all_pinned():
    manifest = json.loads(build.MANIFEST.read_text())
    for entry in manifest["models"]:
        if entry.get("kind") == "fusion":  # no file: two of the other entries combined
            continue
        pkg = build._package_for(entry["source"])
        assert len(pkg.sha256) == 64


def test_built_site_is_self_contained():
    site = build.SITE
    if not (site / "assets.json").is_file():
        pytest.skip("site/ not built (python build.py test builds it first)")
    assets = json.loads((site / "assets.json").read_text())["assets"]
    for rel in ["index.html", "pyscript.toml", "src/app.js", "src/matte.zip",
                "vendor/pyodide/pyodide.mjs", "vendor/pyodide/pyodide-lock.json",
                "vendor/ort/ort.wasm.min.mjs", "models/models.json"]:
        assert rel in assets, rel
    lock = json.loads((site / "vendor/pyodide/pyodide-lock.json").read_text())
    for name in build.PYODIDE_WHEELS:
        entry = lock["packages"][name]
        assert assets[f"vendor/pyodide/{entry['file_name']}"]["sha256"] == entry["sha256"]
    # relative URLs only: nothing in the page points at another origin
    for rel in ["index.html", "pyscript.toml", "src/app.js", "src/bridge.js", "src/style.css"]:
        text = (site / rel).read_text()
        assert "http://" not in text and "https://" not in text, rel
    # source maps are not shipped (they would be requested by devtools only)
    assert not [r for r in assets if r.endswith(".map")]


def test_serve_sets_mime_types_and_isolation():
    site = build.SITE
    if not (site / "index.html").is_file():
        pytest.skip("site/ not built")
    server = build.Server(("127.0.0.1", 0), build.make_handler(site, isolate=True))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/vendor/pyodide/pyodide.mjs") as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        with urllib.request.urlopen(base + "/vendor/ort/ort-wasm-simd-threaded.wasm") as r:
            assert r.headers["Content-Type"] == "application/wasm"
        with urllib.request.urlopen(base + "/") as r:
            csp = r.headers["Content-Security-Policy"]
            # the meta tag's policy, plus frame-ancestors from embed.json (header-only)
            assert csp == build.header_csp(site)
            assert csp.startswith(build.content_security_policy(site) + "; frame-ancestors 'self'")
            assert "connect-src 'self'" in csp and "default-src 'self'" in csp
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------
# Offline: sw.js, its build id and precache list; the web app manifest and its icons


def _built_site() -> Path:
    import os

    site = Path(os.environ.get("MATTE_SITE", build.SITE))
    if not (site / "assets.json").is_file():
        pytest.skip("site/ not built (python build.py test builds it first)")
    return site


def _sw_values(text: str) -> tuple[str, dict, list]:
    import re

    build_id = json.loads(re.search(r"^const BUILD = (.*);$", text, re.M).group(1))
    assets = json.loads(re.search(r"^const ASSETS = (\{.*?\});", text, re.M | re.S).group(1))
    precache = json.loads(re.search(r"^const PRECACHE = (\[.*?\]);", text, re.M | re.S).group(1))
    return build_id, assets, precache


def test_service_worker_sits_at_the_site_root_with_the_build_id():
    site = _built_site()
    manifest = json.loads((site / "assets.json").read_text())
    assert (site / "sw.js").is_file() and not (site / "src" / "sw.js").exists()
    text = (site / "sw.js").read_text()
    for placeholder in (build.SW_BUILD, build.SW_ASSETS, build.SW_PRECACHE):
        assert placeholder not in text
    build_id, table, precache = _sw_values(text)
    assert build_id == manifest["build"] and len(build_id) == 16
    assets = manifest["assets"]
    assert assets["sw.js"]["sha256"] == build.sha256_file(site / "sw.js")
    assert "sw.js" not in table  # it cannot name its own hash
    assert table == {rel: [a["bytes"], a["sha256"]] for rel, a in assets.items() if rel != "sw.js"}
    assert build_id == build.build_id_of({k: v for k, v in assets.items() if k != "sw.js"})
    # the precache: the shell and the WASM runtime; no model, no WebGPU build, no editor chunks
    assert precache == build.precache_paths(assets) and set(precache) <= set(table)
    for rel in ["index.html", "pyscript.toml", "src/app.js", "src/bridge.js", "src/matte.zip",
                "src/main.py", "src/manifest.webmanifest", "src/icon-192.png", "src/sample.jpg",
                "models/models.json", "vendor/pyscript/core.js", "vendor/pyodide/pyodide.mjs",
                "vendor/pyodide/pyodide.asm.wasm", "vendor/pyodide/python_stdlib.zip",
                "vendor/ort/ort.wasm.min.mjs", "vendor/ort/ort-wasm-simd-threaded.wasm"]:
        assert rel in precache, rel
    lock = json.loads((site / "vendor/pyodide/pyodide-lock.json").read_text())
    for name in build.PYODIDE_WHEELS:
        assert f"vendor/pyodide/{lock['packages'][name]['file_name']}" in precache
    assert not [r for r in precache if r.endswith(".onnx") or "webgpu" in r or "asyncify" in r
                or "codemirror" in r or "xterm" in r]
    # the worker talks to its own origin only
    assert "http://" not in text and "https://" not in text


def test_a_changed_build_makes_a_new_service_worker(tmp_path):
    template = build.SW_SOURCE.read_text()
    a = {"index.html": {"bytes": 3, "sha256": "a" * 64},
         "models/m.onnx": {"bytes": 9, "sha256": "b" * 64}}
    b = {**a, "index.html": {"bytes": 3, "sha256": "c" * 64}}
    id_a, id_b = build.build_id_of(a), build.build_id_of(b)
    assert id_a != id_b and id_a == build.build_id_of(dict(a))
    sw_a = build.render_service_worker(template, id_a, a)
    sw_b = build.render_service_worker(template, id_b, b)
    assert sw_a != sw_b and id_a in sw_a and id_b in sw_b
    assert _sw_values(sw_a) == (id_a, {"index.html": [3, "a" * 64],
                                       "models/m.onnx": [9, "b" * 64]}, ["index.html"])
    # a change of the worker's own source is a new build too (a new cache name)
    other = tmp_path / "sw.js"
    other.write_text(template + "\n// changed\n")
    assert build.build_id_of(a, other) != id_a
    with pytest.raises(build.BuildError, match="exactly once"):
        build.render_service_worker(template.replace(build.SW_PRECACHE, "[]"), id_a, a)


def _png_size(path: Path) -> tuple[int, int]:
    import struct

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def test_web_app_manifest_and_icons():
    import re

    src = build.ROOT / "src"
    manifest = json.loads((src / "manifest.webmanifest").read_text())
    assert manifest["name"] == "matte" and manifest["display"] == "standalone"
    assert manifest["start_url"] == manifest["scope"] == "../"  # the site root, seen from src/
    pngs = {(i["sizes"], i["purpose"]): i["src"] for i in manifest["icons"]
            if i["type"] == "image/png"}
    assert set(pngs) == {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}
    for (sizes, _), name in pngs.items():
        w, h = _png_size(src / name)
        assert f"{w}x{h}" == sizes, name
    css = (src / "style.css").read_text()
    light = css[:css.index("@media (prefers-color-scheme: dark)")]
    assert f"--bg: {manifest['background_color']};" in light
    assert f"--panel: {manifest['theme_color']};" in light  # the top bar
    html = (build.ROOT / "index.html").read_text()
    assert re.search(r'<link rel="manifest" href="\./src/manifest\.webmanifest">', html)
    assert build.MIME[".webmanifest"] == "application/manifest+json"


def test_serve_types_the_worker_and_the_manifest():
    site = _built_site()
    server = build.Server(("127.0.0.1", 0), build.make_handler(site, isolate=False))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/sw.js") as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert r.headers["Cache-Control"] == "no-cache"
        with urllib.request.urlopen(base + "/src/manifest.webmanifest") as r:
            assert r.headers["Content-Type"] == "application/manifest+json"
            assert "Cross-Origin-Opener-Policy" not in r.headers  # like GitHub Pages
    finally:
        server.shutdown()
        server.server_close()


def test_test_command_passes_pytest_arguments_verbatim(monkeypatch):
    got = []
    monkeypatch.setattr(build, "run_tests", lambda extra: got.append(extra) or 0)
    assert build.main(["test", "-q", "-p", "no:warnings", "-k", "brush", "tests/matte"]) == 0
    assert got == [["-q", "-p", "no:warnings", "-k", "brush", "tests/matte"]]


# --------------------------------------------------------------------------------------------
# `build.py test` sets itself up: venv, browsers, Firefox driver


class Calls:
    """Records subprocess.run calls; each returns the given exit code."""

    def __init__(self, rc: int = 0, effect=None) -> None:
        self.cmds: list[list[str]] = []
        self.rc = rc
        self.effect = effect

    def __call__(self, cmd, **kw):
        self.cmds.append([str(c) for c in cmd])
        if self.effect:
            self.effect(cmd, kw)
        return type("P", (), {"returncode": self.rc})()


def test_test_venv_is_created_once_and_reinstalled_only_when_requirements_change(
        tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    req = tmp_path / "req.txt"
    req.write_text("# nothing pinned\n")

    def make_venv(cmd, kw):
        if cmd[1:3] == ["-m", "venv"]:
            py = build.venv_python(Path(cmd[3]))
            py.parent.mkdir(parents=True)
            py.write_text("")

    calls = Calls(effect=make_venv)
    monkeypatch.setattr(build.subprocess, "run", calls)
    py = build.ensure_test_venv(venv, req)
    assert py == build.venv_python(venv)
    assert [c[1:3] for c in calls.cmds] == [["-m", "venv"], ["-m", "pip"]]
    assert "--require-hashes" in calls.cmds[1] and str(req) in calls.cmds[1]
    build.ensure_test_venv(venv, req)  # unchanged: nothing runs
    assert len(calls.cmds) == 2
    req.write_text("# one more pin\n")
    build.ensure_test_venv(venv, req)  # changed: pip again, no new venv
    assert [c[1:3] for c in calls.cmds[2:]] == [["-m", "pip"]]


def test_failed_pip_install_is_a_build_error_and_leaves_no_stamp(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    py = build.venv_python(venv)
    py.parent.mkdir(parents=True)
    py.write_text("")
    req = tmp_path / "req.txt"
    req.write_text("x==1\n")
    monkeypatch.setattr(build.subprocess, "run", Calls(rc=1))
    with pytest.raises(build.BuildError, match="could not install req.txt"):
        build.ensure_test_venv(venv, req)
    assert not (venv / ".matte-requirements").exists()


def test_unsupported_python_uses_a_supported_one_from_path_or_says_which(tmp_path, monkeypatch):
    monkeypatch.setattr(build.sys, "version_info", (3, 13, 0))
    monkeypatch.setattr(build.shutil, "which",
                        lambda name: "/opt/py/python3.11" if name == "python3.11" else None)
    assert build.test_interpreter() == "/opt/py/python3.11"
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(build.BuildError, match=r"3\.11 or 3\.12.*python3\.12 build\.py test"):
        build.ensure_test_venv(tmp_path / "venv", tmp_path / "req.txt")
    monkeypatch.setattr(build.sys, "version_info", (3, 12, 1))
    assert build.test_interpreter() == build.sys.executable


def test_missing_browser_without_root_prints_the_command(tmp_path, monkeypatch):
    have = tmp_path / "chromium"
    have.write_text("")
    monkeypatch.setattr(build.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(build.subprocess, "run", Calls())
    with pytest.raises(build.BuildError) as info:
        build.ensure_browsers([(str(have), "chromium"), (str(tmp_path / "ff"), "firefox-esr"),
                               (str(tmp_path / "wk"), "webkit2gtk-driver")])
    msg = str(info.value)
    assert "sudo apt-get install -y firefox-esr webkit2gtk-driver" in msg
    assert "chromium" not in msg.split("run")[1]  # only what is missing
    assert build.subprocess.run.cmds == []  # nothing was attempted


def test_missing_browser_as_root_is_installed_with_apt(tmp_path, monkeypatch):
    target = tmp_path / "firefox-esr"

    def installs(cmd, kw):
        if cmd[:2] == ["apt-get", "install"]:
            target.write_text("")

    calls = Calls(effect=installs)
    monkeypatch.setattr(build.os, "geteuid", lambda: 0)
    monkeypatch.setattr(build.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(build.subprocess, "run", calls)
    build.ensure_browsers([(str(target), "firefox-esr")])
    assert calls.cmds == [["apt-get", "update", "-qq"],
                          ["apt-get", "install", "-y", "firefox-esr", "-qq"]]
    build.ensure_browsers([(str(target), "firefox-esr")])  # present now: nothing runs
    assert len(calls.cmds) == 2


def test_engine_driver_is_npm_ci_once_per_lock(tmp_path, monkeypatch):
    folder = tmp_path / "engines"
    folder.mkdir()
    (folder / "package-lock.json").write_text('{"lockfileVersion": 3}')

    def npm_ci(cmd, kw):
        (Path(kw["cwd"]) / "node_modules").mkdir(exist_ok=True)

    calls = Calls(effect=npm_ci)
    monkeypatch.setattr(build.subprocess, "run", calls)
    monkeypatch.setattr(build.shutil, "which", lambda name: f"/usr/bin/{name}")
    build.ensure_engine_drivers(folder)
    build.ensure_engine_drivers(folder)
    assert [c[1] for c in calls.cmds] == ["ci"]
    (folder / "package-lock.json").write_text('{"lockfileVersion": 3, "x": 1}')
    build.ensure_engine_drivers(folder)
    assert [c[1] for c in calls.cmds] == ["ci", "ci"]


def test_engine_driver_lock_has_integrity_and_no_registry_addresses():
    lock = json.loads((ROOT / "tests/e2e/engines/package-lock.json").read_text())
    pkgs = {k: v for k, v in lock["packages"].items() if k}
    assert pkgs and all(v.get("integrity", "").startswith("sha512-") for v in pkgs.values())
    assert not [k for k, v in pkgs.items() if "resolved" in v]


# --------------------------------------------------------------------------------------------
# Licences: LICENSE, THIRD_PARTY.md, and a build without the AGPL weights


def test_third_party_lists_every_vendored_package_and_model():
    text = (ROOT / "THIRD_PARTY.md").read_text()
    for pkg in build.PACKAGES.values():
        assert pkg.name in text and pkg.version in text, pkg
    for entry in build.load_manifest()["models"]:
        if entry.get("kind") == "fusion":
            continue  # no file of its own: its members are listed
        row = next((line for line in text.splitlines() if f"`{entry['id']}`" in line), None)
        assert row is not None, f"model {entry['id']} missing from THIRD_PARTY.md"
        assert entry["license"] in row, (entry["id"], entry["license"])
    assert "Apache" in (ROOT / "LICENSE").read_text()[:200]


def _manifest(*models, default):
    return {"schema": 1, "default": default, "models": list(models)}


def test_permissive_manifest_drops_copyleft_models_and_what_needs_them():
    isnet = {"id": "isnet", "license": "AGPL-3.0", "preview": "u2netp"}
    u2 = {"id": "u2netp", "license": "Apache-2.0"}
    rvm = {"id": "rvm", "license": "GPL-3.0"}
    fused = {"id": "best", "kind": "fusion", "members": {"edges": "isnet", "regions": "u2netp"}}
    mit = {"id": "tiny", "license": "MIT", "preview": "isnet"}
    out = build.permissive_manifest(_manifest(fused, isnet, u2, rvm, mit, default="best"))
    assert [m["id"] for m in out["models"]] == ["u2netp", "tiny"]
    assert out["default"] == "u2netp"  # the first model left
    assert "preview" not in out["models"][1]  # its preview was dropped with ISNet
    assert mit["preview"] == "isnet"  # the input is not changed
    keep = build.permissive_manifest(_manifest(u2, isnet, default="u2netp"))
    assert keep["default"] == "u2netp"
    with pytest.raises(build.BuildError, match="leaves no model"):
        build.permissive_manifest(_manifest(isnet, default="isnet"))


def test_build_without_agpl_has_no_isnet_files(tmp_path):
    site = tmp_path / "site"
    build.build(quiet=True, agpl=False, site=site)
    served = json.loads((site / "models" / "models.json").read_text())
    assert [m["id"] for m in served["models"]] == ["u2netp"] and served["default"] == "u2netp"
    onnx = sorted(p.name for p in (site / "models").glob("*.onnx"))
    assert onnx == ["u2netp.onnx"]
    assert not (site / "models" / build.AGPL_NOTICE).exists()
    assets = json.loads((site / "assets.json").read_text())["assets"]
    assert not [rel for rel in assets if "isnet" in rel]
    assert (site / "THIRD_PARTY.md").read_text() == (ROOT / "THIRD_PARTY.md").read_text()
    assert (site / "LICENSE.txt").read_text() == (ROOT / "LICENSE").read_text()


def test_default_build_deploys_the_agpl_text_beside_the_weights():
    site = Path(os.environ.get("MATTE_SITE", ROOT / "site"))
    if not (site / "assets.json").is_file():
        pytest.skip("site/ is not built (python build.py test builds it)")
    notice = (site / "models" / build.AGPL_NOTICE).read_text()
    assert "GNU Affero General Public License" in notice[:200]
    assert (site / "THIRD_PARTY.md").is_file() and (site / "LICENSE.txt").is_file()
