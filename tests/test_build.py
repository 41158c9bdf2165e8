"""build.py: pinning, hash checks and clear failures (no network needed)."""

from __future__ import annotations

import hashlib
import json
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
            assert csp == build.content_security_policy(site)
            assert "connect-src 'self'" in csp and "default-src 'self'" in csp
    finally:
        server.shutdown()
        server.server_close()
