"""Browser glue: the only module of matte that imports ``js`` and ``pyodide``.

It exposes a small API object to the page as ``window.mattePy`` and then fires the DOM event
``matte:py-ready``. The page (``src/app.js``) owns the UI; this module owns the pixels: it
decodes the file, prepares the tensor, awaits the JavaScript bridge (onnxruntime-web) for
inference, turns the output into alpha, draws previews into canvases and encodes downloads.

Bridge calls and copies (every crossing says whether it copies):

- ``open_image(u8)``: the file's bytes, JS ``Uint8Array`` -> Python ``bytes``: one copy.
- tensor to JS: ``Float32Array.new(n).assign(tensor)``: one copy, no intermediate.
- output to Python: ``Float32Array.assign_to(ndarray)``: one copy into a numpy array.
- preview to a canvas: ``Uint8ClampedArray.assign(rgba)`` then ``ImageData``: one copy, at
  display size only.
- download: ``Uint8Array.assign(png_bytes)``: one copy of the encoded file.

Ownership: the proxies of the API functions belong to :class:`WebApp`, which destroys them in
:meth:`WebApp.close`. JS objects passed in as arguments are borrowed for the call only.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from PIL import Image

if "pyodide" not in sys.modules and sys.platform != "emscripten":  # pragma: no cover
    raise ImportError("matte.web runs only inside Pyodide (the browser)")

import js  # noqa: E402  (browser-only import, guarded above)
from pyodide.ffi import JsProxy, create_proxy, to_js  # noqa: E402

from matte import composite, export  # noqa: E402
from matte.decode import DEFAULT_MAX_PIXELS, Decoded, decode  # noqa: E402
from matte.errors import MatteError  # noqa: E402
from matte.models import Catalog, ModelSpec, parse_manifest  # noqa: E402
from matte.pipeline import finish, prepare  # noqa: E402

#: Longest side of the on-screen preview, in canvas pixels.
PREVIEW_MAX_SIDE = 2048


def _obj(d: dict[str, Any]) -> Any:
    """A plain JS object from a dict (a copy; no proxies left behind)."""
    return to_js(d, dict_converter=js.Object.fromEntries)


def _bytes_to_js(data: bytes) -> Any:
    arr = js.Uint8Array.new(len(data))
    arr.assign(data)
    return arr


def _preview_rgba(rgb: np.ndarray, alpha: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """The cut-out (or the opaque original) resized to ``size`` (h, w), premultiplied by Pillow."""
    a = alpha if alpha is not None else np.full(rgb.shape[:2], 255, dtype=np.uint8)
    rgba = composite.cutout(rgb, a)
    if rgba.shape[:2] == size:
        return rgba
    img = Image.fromarray(rgba, "RGBA").resize((size[1], size[0]), Image.Resampling.BILINEAR,
                                               reducing_gap=2.0)
    return np.asarray(img)


class BridgeRunner:
    """Runs a model through ``window.matteBridge`` (onnxruntime-web); asynchronous."""

    def __init__(self, bridge: Any) -> None:
        self.bridge = bridge

    async def run(self, spec: ModelSpec, tensor: np.ndarray) -> np.ndarray:
        data = js.Float32Array.new(tensor.size)
        data.assign(tensor.reshape(-1))  # copy 1 of 1 into JS memory
        dims = to_js(list(tensor.shape))
        result = await self.bridge.run(spec.id, spec.input_name, data, dims, spec.output_name)
        shape = tuple(int(v) for v in result.dims.to_py())
        out = np.empty(shape, dtype=np.float32)
        result.data.assign_to(out)  # copy into numpy, no intermediate
        return out


class WebApp:
    """State of one page: the current image, its alpha, and the model catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.runner = BridgeRunner(js.window.matteBridge)
        self.image: Decoded | None = None
        self.name = "image"
        self.alpha: np.ndarray | None = None
        self.model_id: str | None = None
        self._proxies: list[Any] = []

    # -- plumbing ---------------------------------------------------------------------------
    def _progress(self, stage: str, detail: str = "") -> None:
        js.window.dispatchEvent(
            js.CustomEvent.new("matte:progress", _obj({"detail": _obj({"stage": stage,
                                                                         "detail": detail})}))
        )

    def expose(self) -> None:
        api = js.Object.new()
        for name in ("open_image", "segment", "render_preview", "export_image", "status"):
            proxy = create_proxy(getattr(self, name))
            self._proxies.append(proxy)
            setattr(api, name, proxy)
        js.window.mattePy = api

    def close(self) -> None:
        for proxy in self._proxies:
            proxy.destroy()
        self._proxies.clear()

    # -- API called by the page -------------------------------------------------------------
    def status(self) -> Any:
        return _obj({
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pillow": __import__("PIL").__version__,
            "has_image": self.image is not None,
            "has_alpha": self.alpha is not None,
        })

    def open_image(self, data: JsProxy, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Any:
        """Decode a file; on failure keep the previous image and return ``{error}``."""
        self._progress("compute:decode")
        t0 = time.perf_counter()
        try:
            raw = data.to_bytes()  # copy 1 of 1
            decoded = decode(raw, max_pixels=int(max_pixels))
        except MatteError as exc:
            return _obj({"error": str(exc)})
        self.image = decoded
        self.name = str(name or "image")
        self.alpha = None
        h, w = decoded.shape
        return _obj({"width": w, "height": h, "format": decoded.format,
                     "notes": to_js(decoded.notes), "ms": (time.perf_counter() - t0) * 1e3})

    async def segment(self, model_id: str) -> Any:
        """Run the model on the open image; returns timings per stage, or ``{error}``."""
        if self.image is None:
            return _obj({"error": "Open an image first."})
        try:
            spec = self.catalog.get(model_id)
        except MatteError as exc:
            return _obj({"error": str(exc)})
        image = self.image
        times: dict[str, float] = {}
        t = time.perf_counter()
        self._progress("compute:preprocess")
        tensor = prepare(image.rgb, spec)
        times["preprocess"] = (time.perf_counter() - t) * 1e3
        self._progress("compute:inference")
        t = time.perf_counter()
        try:
            output = await self.runner.run(spec, tensor)
        except Exception as exc:  # a JS error from the bridge: keep the image, report it
            return _obj({"error": f"Inference failed: {getattr(exc, 'message', exc)}"})
        times["inference"] = (time.perf_counter() - t) * 1e3
        if self.image is not image:  # a new image arrived while this one was inferring
            return _obj({"cancelled": True})
        self._progress("compute:postprocess")
        t = time.perf_counter()
        alpha = finish(output, spec, image.shape)
        if image.alpha is not None:  # a transparent source stays transparent where it was
            np.minimum(alpha, image.alpha, out=alpha)
        self.alpha = alpha
        self.model_id = spec.id
        times["postprocess"] = (time.perf_counter() - t) * 1e3
        return _obj({"times": _obj(times)})

    def render_preview(self, canvas: JsProxy, max_side: int = PREVIEW_MAX_SIDE) -> Any:
        """Draw the cut-out (or the original, before segmentation) at display size."""
        if self.image is None:
            return _obj({"error": "No image"})
        t = time.perf_counter()
        h, w = self.image.shape
        scale = min(1.0, float(max_side) / max(h, w))
        dh, dw = max(1, round(h * scale)), max(1, round(w * scale))
        rgba = _preview_rgba(self.image.rgb, self.alpha, (dh, dw))
        canvas.width, canvas.height = dw, dh
        buf = js.Uint8ClampedArray.new(rgba.size)
        buf.assign(rgba.reshape(-1))  # copy 1 of 1, display size only
        canvas.getContext("2d").putImageData(js.ImageData.new(buf, dw, dh), 0, 0)
        return _obj({"width": dw, "height": dh, "ms": (time.perf_counter() - t) * 1e3})

    def export_image(self, fmt: str = "png") -> Any:
        """Encode the full-resolution result; returns ``{bytes, name, mime}`` or ``{error}``."""
        if self.image is None or self.alpha is None:
            return _obj({"error": "Nothing to export yet."})
        self._progress("compute:export")
        t = time.perf_counter()
        try:
            rgba = composite.cutout(self.image.rgb, self.alpha)
            data = export.encode(rgba, format=fmt, icc_profile=self.image.icc_profile)
        except (MatteError, ValueError) as exc:
            return _obj({"error": str(exc)})
        return _obj({
            "bytes": _bytes_to_js(data),
            "name": export.output_name(self.name, format=fmt),
            "mime": export.mime_type(fmt),
            "ms": (time.perf_counter() - t) * 1e3,
        })


async def boot(manifest_url: str = "./models/models.json") -> WebApp:
    """Read the models manifest, create the app, expose it, and announce readiness."""
    import json

    from pyodide.http import pyfetch

    resp = await pyfetch(manifest_url)
    app = WebApp(parse_manifest(json.loads(await resp.string())))
    app.expose()
    js.window.dispatchEvent(js.CustomEvent.new("matte:py-ready"))
    return app
