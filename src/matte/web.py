"""Browser glue: the only module of matte that imports ``js`` and ``pyodide``.

It exposes a small API object to the page as ``window.mattePy`` and then fires the DOM event
``matte:py-ready``. The page (``src/app.js``) owns the UI; the pure core owns the pixels and
every image's state (:mod:`matte.app.batch`, :mod:`matte.app.autosave`, :mod:`matte.compose`);
this module converts proxies and the ``{error, code}`` envelope, runs the model through the
JavaScript bridge (onnxruntime-web, :class:`BridgeRunner`), draws views into canvases and hands
downloads over.

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

import io
import json
import sys
import time
import zipfile
from typing import Any

import numpy as np

if "pyodide" not in sys.modules and sys.platform != "emscripten":  # pragma: no cover
    raise ImportError("matte.web runs only inside Pyodide (the browser)")

import js  # noqa: E402  (browser-only import, guarded above)
from pyodide.ffi import JsProxy, create_proxy, to_js  # noqa: E402

from matte.app import autosave  # noqa: E402
from matte.app.batch import THUMB, Batch, BatchError, Item  # noqa: E402
from matte.decode import DEFAULT_MAX_PIXELS, decode  # noqa: E402
from matte.errors import MatteError  # noqa: E402
from matte.geometry import Rect  # noqa: E402
from matte.models import Catalog, ModelSpec, parse_manifest  # noqa: E402
from matte.session import EditSession  # noqa: E402

__all__ = ["THUMB", "BridgeRunner", "WebApp", "boot"]


def _obj(d: dict[str, Any]) -> Any:
    """A plain JS object from a dict (a copy; no proxies left behind)."""
    return to_js(d, dict_converter=js.Object.fromEntries)


def _error(exc: BatchError) -> Any:
    """The envelope of a refused request: ``{error: message, code}``."""
    return _obj({"error": str(exc), "code": exc.code})


def _bytes_to_js(data: bytes) -> Any:
    arr = js.Uint8Array.new(len(data))
    arr.assign(data)
    return arr


class BridgeRunner:
    """Runs a model through ``window.matteBridge`` (onnxruntime-web); asynchronous."""

    def __init__(self, bridge: Any) -> None:
        self.bridge = bridge
        self.runs: dict[str, int] = {}  # model id -> runs started (diagnostics, tests)

    async def run(self, spec: ModelSpec, tensor: np.ndarray) -> np.ndarray:
        self.runs[spec.id] = self.runs.get(spec.id, 0) + 1
        data = js.Float32Array.new(tensor.size)
        data.assign(tensor.reshape(-1))  # copy 1 of 1 into JS memory
        dims = to_js(list(tensor.shape))
        result = await self.bridge.run(spec.id, spec.input_name, data, dims, spec.output_name)
        shape = tuple(int(v) for v in result.dims.to_py())
        out = np.empty(shape, dtype=np.float32)
        result.data.assign_to(out)  # copy into numpy, no intermediate
        return out


class WebApp:
    """State of one page: the batch items, the active editing session and the view."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.runner = BridgeRunner(js.window.matteBridge)
        # the batch owns the images, the open session, the decoded cache and pending masks
        self.batch = Batch(catalog, self.runner, progress=self._progress)
        self._proxies: list[Any] = []
        # the view the canvas shows: rect and scale, so strokes can redraw their dirty part
        self.view: tuple[Rect, float, str] | None = None
        self.canvas: Any = None
        self.background_data: bytes | None = None  # the background picture's file (autosave)

    @property
    def items(self) -> dict[int, Item]:
        return self.batch.items

    @property
    def active(self) -> Item | None:
        return self.batch.active

    @property
    def session(self) -> EditSession | None:
        return self.batch.session

    # -- plumbing ---------------------------------------------------------------------------
    def _progress(self, stage: str, detail: str = "") -> None:
        js.window.dispatchEvent(
            js.CustomEvent.new("matte:progress", _obj({"detail": _obj({"stage": stage,
                                                                         "detail": detail})}))
        )

    def expose(self) -> None:
        api = js.Object.new()
        for name in _API:
            proxy = create_proxy(getattr(self, name))
            self._proxies.append(proxy)
            setattr(api, name, proxy)
        js.window.mattePy = api

    def close(self) -> None:
        for proxy in self._proxies:
            proxy.destroy()
        self._proxies.clear()

    def _history(self) -> Any:
        rebased = self._apply_pending()  # a stroke or refine preview may just have ended
        s = self.session
        return _obj({"can_undo": bool(s and s.can_undo), "can_redo": bool(s and s.can_redo),
                     "rebased": rebased, "applied": _applied(s)})

    def output_info(self) -> Any:
        """What the download of the open image will be: its ``width`` and ``height`` (after
        the crop to the subject) and ``crop`` ({r0, c0, r1, c1} in image px, or None); the
        mask-only export is never cropped (``full_width``, ``full_height``)."""
        if self.session is None:
            return _obj({"error": "No image"})
        h, w = self.session.shape
        box = self.session.crop_rect()
        crop = None if box is None else {"r0": box.r0, "c0": box.c0, "r1": box.r1, "c1": box.c1}
        return _obj({"width": box.width if box else w, "height": box.height if box else h,
                     "full_width": w, "full_height": h, "crop": crop})

    # -- batch ------------------------------------------------------------------------------
    def status(self) -> Any:
        """Versions and memory, for the page's diagnostics and the benchmarks."""
        import pyodide_js  # the Pyodide API object; HEAP8 is the whole wasm linear memory

        kept = self.batch.nbytes()
        return _obj({
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pillow": __import__("PIL").__version__,
            "items": len(self.items),
            "active": self.active.id if self.active else None,
            "wasm_heap": int(pyodide_js._module.HEAP8.length),
            "session_bytes": int(self.session.nbytes) if self.session else 0,
            "items_bytes": int(kept),
            "model_runs": _obj(dict(self.runner.runs)),
        })

    def add_image(self, data: JsProxy, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Any:
        """Decode a file and add it to the batch; on failure nothing changes: ``{error}``."""
        t0 = time.perf_counter()
        raw = data.to_bytes()  # copy 1 of 1
        try:
            item, decoded = self.batch.add(raw, str(name or "image"), max_pixels=int(max_pixels))
        except BatchError as exc:
            return _error(exc)
        h, w = decoded.shape
        return _obj({"id": item.id, "width": w, "height": h, "format": decoded.format,
                     "notes": to_js(decoded.notes), "ms": (time.perf_counter() - t0) * 1e3})

    async def segment(self, item_id: int, model_id: str, stage: str = "final") -> Any:
        """Run the model on one item; returns timings per stage, or ``{error}``.

        ``stage="preview"`` runs the model's preview model instead (u2netp for ISNet: about an
        eighth of the work) with the plain upsampling, so a first mask shows fast; it returns
        ``{skipped: true}`` for a model without a preview. ``stage="final"`` runs the full
        model and the full post-processing; for a fusion (``best``) that is the edges model
        (ISNet) and :func:`matte.fuse.fused_alpha_steps` with the regions model's output the
        preview kept on the item (no second u2netp run; ``fused: false`` in the result when
        that model could not run at all and ISNet's mask stands alone). When the item already
        has a (preview) mask with edits, the edits are re-applied on the new mask
        (:meth:`EditSession.rebase`), now or, if a stroke or refine preview is in progress, as
        soon as it ends.
        """
        try:
            res = await self.batch.segment(int(item_id), str(model_id), str(stage))
        except BatchError as exc:
            return _error(exc)
        if res.skipped:
            return _obj({"skipped": True})
        if res.rebased:
            self._redraw(Rect(0, 0, *self.session.shape), settled=True)
        s = self.session if self.active is not None and self.active.id == int(item_id) else None
        return _obj({"times": _obj(res.times), "preview": res.preview, "rebased": res.rebased,
                     "fused": res.fused, "pending": res.pending,
                     "can_undo": bool(s and s.can_undo), "can_redo": bool(s and s.can_redo)})

    def _apply_pending(self) -> bool:
        """Put a waiting full-quality mask under the open image's edits (when no stroke or
        refine preview is in progress) and redraw the view. True when applied."""
        if not self.batch.apply_pending():
            return False
        self._redraw(Rect(0, 0, *self.session.shape), settled=True)
        return True

    def activate(self, item_id: int) -> Any:
        """Open an item in the editor (the previous one keeps its edited mask)."""
        was = self.session
        try:
            sess = self.batch.activate(int(item_id))
        except BatchError as exc:
            return _error(exc)
        if sess is not was:
            self.view = None
        return self._active_info()

    def _active_info(self) -> Any:
        item, sess = self.active, self.session
        h, w = sess.shape
        st = sess.settings
        return _obj({"id": item.id, "width": w, "height": h, "name": item.name,
                     "background": st.background, "shadow": st.shadow, "crop": st.crop,
                     "decontaminate": st.decontaminate,
                     "can_undo": sess.can_undo, "can_redo": sess.can_redo})

    # -- drawing ----------------------------------------------------------------------------
    def _blit(self, canvas: Any, rgba: np.ndarray, x: int = 0, y: int = 0) -> None:
        h, w = rgba.shape[:2]
        if h == 0 or w == 0:
            return
        buf = js.Uint8ClampedArray.new(rgba.size)
        buf.assign(np.ascontiguousarray(rgba).reshape(-1))  # copy 1 of 1, display size only
        canvas.getContext("2d").putImageData(js.ImageData.new(buf, w, h), x, y)

    def render_view(self, canvas: JsProxy, r0: int, c0: int, r1: int, c1: int, scale: float,
                    mode: str = "result") -> Any:
        """Render the image rect [r0, r1) x [c0, c1) at ``scale`` into ``canvas`` (resized)."""
        if self.session is None:
            return _obj({"error": "No image"})
        t = time.perf_counter()
        rect = Rect(int(r0), int(c0), int(r1), int(c1)).clip(self.session.shape)
        rgba = self.session.render(rect, float(scale), view=str(mode))
        canvas.width, canvas.height = int(rgba.shape[1]), int(rgba.shape[0])
        self._blit(canvas, rgba)
        self.canvas = canvas
        self.view = (rect, float(scale), str(mode))
        return _obj({"width": rgba.shape[1], "height": rgba.shape[0],
                     "ms": (time.perf_counter() - t) * 1e3})

    def render_before(self, canvas: JsProxy, r0: int, c0: int, r1: int, c1: int,
                      scale: float) -> Any:
        """The original photo for the before/after comparison, same rect and scale."""
        if self.session is None:
            return _obj({"error": "No image"})
        rect = Rect(int(r0), int(c0), int(r1), int(c1)).clip(self.session.shape)
        rgba = self.session.render(rect, float(scale), view="original")
        canvas.width, canvas.height = int(rgba.shape[1]), int(rgba.shape[0])
        self._blit(canvas, rgba)
        return _obj({"width": rgba.shape[1], "height": rgba.shape[0]})

    def _redraw(self, dirty: Rect | None, *, settled: bool = False) -> None:
        """Redraw only the part of the current view that ``dirty`` (image px) changed.

        While painting, the mask change is drawn at once; when a step settles (stroke end,
        undo, redo) the reach of the shadow and decontamination is redrawn too.
        """
        if dirty is None or dirty.empty or self.view is None or self.canvas is None:
            return
        rect, scale, mode = self.view
        if settled and mode == "result":
            dirty = self.session.affected_rect(dirty)
        window = self.session.output_window(dirty, rect, scale)
        if window.empty:
            return
        rgba = self.session.render(rect, scale, view=mode, window=window)
        self._blit(self.canvas, rgba, window.c0, window.r0)

    # -- editing ----------------------------------------------------------------------------
    def stroke_begin(self, r: float, c: float, mode: str, radius: float, hardness: float,
                     strength: float, pressure: float = 1.0, edge: bool = False) -> Any:
        if self.session is None:
            return self._history()
        dirty = self.session.stroke_begin(float(r), float(c), mode=str(mode),
                                          radius=float(radius), hardness=float(hardness),
                                          strength=float(strength), pressure=float(pressure),
                                          edge_aware=bool(edge))
        self._redraw(dirty)
        return self._history()

    def stroke_move(self, points: JsProxy) -> None:
        """``points``: Float32Array of (row, col, pressure) triples (copied once)."""
        if self.session is None:
            return
        flat = np.empty(int(points.length), dtype=np.float32)
        points.assign_to(flat)
        pts = flat.reshape(-1, 3).tolist()
        self._redraw(self.session.stroke_extend(pts))

    def stroke_end(self) -> Any:
        if self.session is not None:
            self._redraw(self.session.stroke_end(), settled=True)
        return self._history()

    def undo(self) -> Any:
        if self.session is not None:
            self._redraw(self.session.undo(), settled=True)
        return self._history()

    def redo(self) -> Any:
        if self.session is not None:
            self._redraw(self.session.redo(), settled=True)
        return self._history()

    def refine_preview(self, op: str, value: float) -> Any:
        if self.session is None:
            return self._history()
        try:
            self.session.refine_preview(str(op), **_REFINE_PARAMS[str(op)](float(value)))
        except (ValueError, KeyError) as exc:
            return _obj({"error": str(exc)})
        return self._history()

    def refine_commit(self) -> Any:
        if self.session is not None:
            self.session.refine_commit()
        return self._history()

    def refine_cancel(self) -> Any:
        if self.session is not None:
            self.session.refine_cancel()
        return self._history()

    def reset_mask(self) -> Any:
        if self.session is not None:
            self.session.reset_mask()
        return self._history()

    def set_background(self, kind: str, color: str = "#ffffff") -> Any:
        if self.session is None:
            return self._history()
        try:
            self.session.set_background(str(kind), color=str(color))
        except ValueError as exc:
            return _obj({"error": str(exc)})
        return self._history()

    def set_background_image(self, data: JsProxy, name: str = "") -> Any:
        if self.session is None:
            return _obj({"error": "Open an image first."})
        try:
            raw = data.to_bytes()
            bg = decode(raw)
            self.session.set_background("image", image=bg.rgb)
            self.batch.background = bg.rgb
            self.background_data = raw  # the file as picked: what the autosave keeps
        except MatteError as exc:
            return _obj({"error": f"The background image could not be used: {exc}"})
        return self._history()

    def set_shadow(self, on: bool) -> None:
        if self.session is not None:
            self.session.set_shadow(bool(on))

    def set_crop(self, on: bool, margin: float = 40) -> None:
        if self.session is not None:
            self.session.set_crop(bool(on), margin=int(round(float(margin))))

    def set_decontaminate(self, on: bool) -> None:
        if self.session is not None:
            self.session.set_decontaminate(bool(on))

    # -- autosave ---------------------------------------------------------------------------
    def snapshot(self) -> Any:
        """The open image's state for autosave (:func:`matte.app.autosave.snapshot`): file
        bytes, AI and edited masks (zlib-compressed), the edit log (``ops``: restores undo and
        redo; left out, with a console warning, when it cannot be kept), the background
        picture's file (``background``) and the settings (JSON); each bytes value is one copy
        into JS. ``{empty: true}`` when nothing is open, ``{busy: true}`` during a stroke or a
        refine preview (ask again later)."""
        snap = autosave.snapshot(self.batch, background_file=self.background_data)
        if isinstance(snap, str):
            return _obj({snap: True})
        if snap.ops_note:
            js.console.warn(f"matte autosave: {snap.ops_note}")
        out = {"name": snap.name, "width": snap.width, "height": snap.height,
               "file": _bytes_to_js(snap.file), "ai": _bytes_to_js(snap.ai),
               "mask": _bytes_to_js(snap.mask), "settings": snap.settings}
        if snap.ops is not None:
            out["ops"] = _bytes_to_js(snap.ops)
        if snap.background is not None:
            out["background"] = _bytes_to_js(snap.background)
        return _obj(out)

    def restore(self, file: JsProxy, name: str, ai: JsProxy, mask: JsProxy,
                settings: str, ops: JsProxy | None = None,
                background: JsProxy | None = None) -> Any:
        """Re-open an autosaved image with its masks, edit history and settings
        (:func:`matte.app.autosave.restore`). Returns the open image's info plus ``history``
        (whether undo/redo came back), or ``{error, code}`` if the record is unusable."""
        bg_raw = background.to_bytes() if hasattr(background, "to_bytes") else None
        try:
            _, history, why = autosave.restore(
                self.batch, file=file.to_bytes(), name=str(name), ai=ai.to_bytes(),
                mask=mask.to_bytes(), settings=str(settings),
                ops=ops.to_bytes() if hasattr(ops, "to_bytes") else None, background=bg_raw)
        except BatchError as exc:
            return _error(exc)
        if why:
            js.console.warn(f"matte restore: {why}; the mask came back without its history")
        if self.batch.background is not None:
            self.background_data = bg_raw
        self.view = None
        out = self._active_info()
        out.history = history
        return out

    # -- batch: thumbnails, removal, autosave of the whole batch ------------------------------
    def thumbnail(self, canvas: JsProxy, item_id: int) -> Any:
        """Draw the item's cut-out (at most :data:`THUMB` px a side) into ``canvas``; the
        open image's thumbnail shows its edits."""
        item = self.items.get(int(item_id))
        if item is not None:
            self.batch.refresh_thumb(item)
        if item is None or item.thumb is None:
            return _obj({"error": "No thumbnail yet"})
        h, w = item.thumb.shape[:2]
        canvas.width, canvas.height = w, h
        self._blit(canvas, item.thumb)
        return _obj({"width": w, "height": h})

    def remove_item(self, item_id: int) -> Any:
        """Forget an item (its file, masks and edits); when it was open nothing is open after.
        ``{removed, was_active}``."""
        removed, was_active = self.batch.remove(int(item_id))
        if was_active:
            self.view = None
        return _obj({"removed": removed, "was_active": was_active})

    def batch_snapshot(self, budget: int = autosave.BATCH_BUDGET) -> Any:
        """The finished items other than the open one, for the autosave of the whole batch
        (:func:`matte.app.autosave.snapshot_batch`): ``{items: [{id, name, width, height,
        file, ai, mask?}], skipped: [names], bytes}``, oldest first, within ``budget`` bytes."""
        records, skipped, used = autosave.snapshot_batch(self.batch, budget=int(budget))
        for rec in records:
            for key in ("file", "ai", "mask"):
                if key in rec:
                    rec[key] = _bytes_to_js(rec[key])
        return _obj({"items": records, "skipped": skipped, "bytes": used})

    def restore_item(self, file: JsProxy, name: str, width: int, height: int, ai: JsProxy,
                     mask: JsProxy | None = None) -> Any:
        """Add a finished item of an autosaved batch (not opened): ``{id}`` or ``{error}``."""
        try:
            item = autosave.restore_item(
                self.batch, file=file.to_bytes(), name=str(name), width=int(width),
                height=int(height), ai=ai.to_bytes(),
                mask=mask.to_bytes() if hasattr(mask, "to_bytes") else None)
        except BatchError as exc:
            return _error(exc)
        h, w = item.shape
        return _obj({"id": item.id, "width": w, "height": h})

    # -- export -----------------------------------------------------------------------------
    def export_image(self, fmt: str = "png", quality: int = 90, mask_only: bool = False) -> Any:
        """Encode the active image at full resolution: ``{bytes, name, mime, ms}``."""
        if self.session is None:
            return _obj({"error": "Nothing to export yet."})
        self._progress("compute:export")
        t = time.perf_counter()
        try:
            data, name, mime = self.session.export(format=str(fmt), quality=int(quality),
                                                   mask_only=bool(mask_only))
        except (MatteError, ValueError) as exc:
            return _obj({"error": str(exc)})
        return _obj({"bytes": _bytes_to_js(data), "name": name, "mime": mime,
                     "ms": (time.perf_counter() - t) * 1e3})

    def export_zip(self, fmt: str = "png", quality: int = 90, mask_only: bool = False,
                   ids: JsProxy | None = None) -> Any:
        """The processed images (those of ``ids`` when given), encoded, in one zip:
        ``{bytes, name, count}``."""
        wanted = None if ids is None else {int(i) for i in ids}
        buf = io.BytesIO()
        names: set[str] = set()
        count = 0
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for item in self.items.values():
                if item.alpha is None or (wanted is not None and item.id not in wanted):
                    continue
                try:
                    sess = self.batch.session_of(item)
                    data, name, _ = sess.export(format=str(fmt), quality=int(quality),
                                                mask_only=bool(mask_only))
                except (MatteError, ValueError) as exc:
                    return _obj({"error": f"{item.name}: {exc}"})
                stem, dot, ext = name.rpartition(".")
                unique, n = name, 2
                while unique in names:
                    unique, n = f"{stem}-{n}{dot}{ext}", n + 1
                names.add(unique)
                zf.writestr(unique, data)
                count += 1
        if self.active is not None:
            self.batch.decoded(self.active)  # keep the open image decoded
        return _obj({"bytes": _bytes_to_js(buf.getvalue()), "name": "matte-images.zip",
                     "count": count})


def _applied(sess: EditSession | None) -> list[dict[str, Any]]:
    """The refinements in effect on the session's mask, oldest first: ``[{op, value}]``
    (``value``: the slider's value, or None for *Refine edges*); a reset clears the list."""
    if sess is None:
        return []
    out: list[dict[str, Any]] = []
    for kind, params, _ in sess.ops[0]:
        if kind in ("reset", "mask"):
            out = []
        elif kind == "refine":
            rest = [float(v) for k, v in params.items() if k != "op"]
            value: float | int | None = rest[0] if rest else None
            if value is not None and value.is_integer():
                value = int(value)
            out.append({"op": params["op"], "value": value})
    return out


_API = (
    "status", "add_image", "segment", "activate", "render_view", "render_before",
    "stroke_begin", "stroke_move", "stroke_end", "undo", "redo", "refine_preview",
    "refine_commit", "refine_cancel", "reset_mask", "set_background", "set_background_image",
    "set_shadow", "set_crop", "set_decontaminate", "export_image", "export_zip", "snapshot",
    "restore", "output_info", "thumbnail", "remove_item", "batch_snapshot", "restore_item",
)

#: Slider value -> keyword arguments of each refine operation.
_REFINE_PARAMS = {
    "feather": lambda v: {"radius": v},
    "grow": lambda v: {"radius": v},
    "smooth": lambda v: {"radius": v},
    "islands": lambda v: {"min_area": int(v)},
    "holes": lambda v: {"max_area": int(v)},
    "edges": lambda v: {},
}


async def boot(manifest_url: str = "./models/models.json") -> WebApp:
    """Read the models manifest, create the app, expose it, and announce readiness."""
    from pyodide.http import pyfetch

    resp = await pyfetch(manifest_url)
    app = WebApp(parse_manifest(json.loads(await resp.string())))
    app.expose()
    js.window.dispatchEvent(js.CustomEvent.new("matte:py-ready"))
    return app
