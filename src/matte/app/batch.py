"""One owner of every image's life in the page: the batch and its state machine.

An image goes ``DECODED -> PREVIEW -> FINAL`` (``PREVIEW`` only when the model has a quick
preview model; a failed model run leaves the state as it was, so the run can be retried), and
:class:`Batch` holds everything that follows from it: the file's bytes, the AI mask, the edits
of an image that is not open, at most two decoded images (the open one and the next one of the
batch, decoded while the open image's model runs), the open image's
:class:`~matte.session.EditSession`, and a full-quality mask that arrived while the user was
painting or previewing a refinement (*pending*: it goes under the edits as soon as that ends).

It takes and returns plain data and Python objects, and runs the model through any object with
an ``async run(spec, tensor) -> ndarray`` method, so the races (a final mask that arrives during
a stroke, an image switched or removed while its model runs) are tested under CPython with a
fake runner (``tests/matte/app/test_batch.py``); :mod:`matte.web` only converts proxies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import numpy as np

from matte.app.settings import apply_settings
from matte.decode import DEFAULT_MAX_PIXELS, Decoded, decode
from matte.errors import MatteError
from matte.fuse import fused_alpha_steps
from matte.models import Catalog, FusionSpec, ModelSpec
from matte.pipeline import finish_steps, prepare
from matte.session import EditSession, Settings
from matte.steps import Steps

__all__ = ["MIN_SIDE", "THUMB", "Batch", "BatchError", "Item", "Runner", "State", "thumb"]

#: Images with a side shorter than this are refused by :meth:`Batch.add` (a 1x1 image would
#: "work" and show one pixel at 3200%).
MIN_SIDE = 16
#: The side of a batch thumbnail, in pixels (the strip shows them at 76 CSS px, 2x for HiDPI).
THUMB = 152
#: History budget of an editing session: keeps a 12 MP session under 4x the image's RGBA size.
HISTORY_BUDGET = 48 * 2**20


class State(str, Enum):
    """Where an image is in its life (:class:`Item.state`)."""

    DECODED = "decoded"  # added: decoded once, no mask yet
    PREVIEW = "preview"  # the quick preview mask; the full-quality run is pending
    FINAL = "final"  # the full-quality mask


class BatchError(Exception):
    """A request the batch cannot serve; ``code`` says which kind (for the page's envelope):
    ``'gone'`` (the image was removed), ``'not-ready'`` (no mask yet), ``'decode'``,
    ``'too-small'``, ``'model'`` (unknown model), ``'inference'`` (the model run failed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Runner(Protocol):
    """Runs a model: ``await runner.run(spec, tensor)`` gives the raw output array."""

    async def run(self, spec: ModelSpec, tensor: np.ndarray) -> np.ndarray: ...


@dataclass
class Item:
    """One image of the batch: its file bytes (compressed, cheap to keep) and its masks."""

    id: int
    name: str
    data: bytes
    shape: tuple[int, int]
    state: State = State.DECODED
    alpha: np.ndarray | None = None  # the AI mask
    edited: np.ndarray | None = None  # the mask as last edited (when not open)
    ops: Any = None  # the edits as operations (EditSession.ops), when not open
    # raw output of the preview model (u2netp, 320x320 float32, 400 KB), kept until the final
    # stage of a fusion reuses it: (model id, output)
    preview_raw: tuple[str, np.ndarray] | None = None
    thumb: np.ndarray | None = None  # (h, w, 4) uint8: the cut-out, at most THUMB px a side

    @property
    def preview(self) -> bool:
        """The mask is the quick preview (the full-quality run is pending)."""
        return self.state is State.PREVIEW


@dataclass
class Segmented:
    """What one model run did (:meth:`Batch.segment`)."""

    times: dict[str, float] = field(default_factory=dict)  # ms per stage
    preview: bool = False
    skipped: bool = False  # the model has no preview model
    rebased: bool = False  # the new mask went under the open image's edits now
    fused: bool = False  # a fusion's two models were combined
    pending: bool = False  # it waits for a stroke or refine preview to end


class Batch:
    """The images of one page, the open one's editing session, and the decoded cache.

    Parameters
    ----------
    catalog : matte.models.Catalog
        The models.
    runner : Runner
        Runs them.
    progress : callable, optional
        ``progress(stage, detail)`` with the named stages ``compute:decode``,
        ``compute:preprocess``, ``compute:inference``, ``compute:postprocess``.
    """

    def __init__(
        self, catalog: Catalog, runner: Runner, *,
        progress: Callable[[str, str], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.runner = runner
        self._progress = progress or (lambda stage, detail: None)
        self.items: dict[int, Item] = {}
        self._next_id = 1
        self.active: Item | None = None
        self.session: EditSession | None = None
        self._decoded_now: tuple[int, Decoded] | None = None  # the open (or only) image
        self._decoded_next: tuple[int, Decoded] | None = None  # the next one, decoded ahead
        self._pending: tuple[int, np.ndarray] | None = None
        self.background: np.ndarray | None = None  # the picture of an 'image' background

    # -- decoded images ---------------------------------------------------------------------
    def decoded(self, item: Item) -> Decoded:
        """The decoded pixels of ``item``. At most two images are kept decoded: the open one
        and the next one of a batch (decoded ahead, while a model runs, and not again)."""
        for slot in (self._decoded_now, self._decoded_next):
            if slot is not None and slot[0] == item.id:
                return slot[1]
        dec = decode(item.data, max_pixels=None)
        self._keep(item, dec)
        return dec

    def is_decoded(self, item_id: int) -> bool:
        """Whether ``item_id`` is held decoded (no decode on its next use)."""
        return any(s is not None and s[0] == item_id
                   for s in (self._decoded_now, self._decoded_next))

    def _keep(self, item: Item, dec: Decoded) -> None:
        if self.session is not None and self.active is not None and self.active.id != item.id:
            self._decoded_next = (item.id, dec)  # the open image keeps its slot
        else:
            self._decoded_now = (item.id, dec)

    # -- adding and removing ----------------------------------------------------------------
    def add(self, data: bytes, name: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
            ) -> tuple[Item, Decoded]:
        """Decode a file and add it (``DECODED``); on failure nothing changes.

        Raises
        ------
        BatchError
            ``'decode'`` (not an image, too large, ...) or ``'too-small'``.
        """
        self._progress("compute:decode", "")
        try:
            dec = decode(data, max_pixels=max_pixels)
        except MatteError as exc:
            raise BatchError("decode", str(exc)) from None
        h, w = dec.shape
        if min(h, w) < MIN_SIDE:
            raise BatchError("too-small", f"This image is {w}×{h} pixels: too small to be "
                                          f"useful. Use a photo at least {MIN_SIDE} pixels on "
                                          "each side.")
        item = self._new(name, data, (h, w))
        self._keep(item, dec)  # it is likely processed (and shown) next
        return item, dec

    def add_done(self, data: bytes, name: str, dec: Decoded, alpha: np.ndarray,
                 edited: np.ndarray | None = None) -> Item:
        """Add an image that already has its masks (restored from an autosave): ``FINAL``."""
        item = self._new(name, data, dec.shape)
        item.alpha, item.edited, item.state = alpha, edited, State.FINAL
        item.thumb = thumb(dec.rgb, edited if edited is not None else alpha)
        return item

    def _new(self, name: str, data: bytes, shape: tuple[int, int]) -> Item:
        item = Item(id=self._next_id, name=str(name or "image"), data=data, shape=shape)
        self._next_id += 1
        self.items[item.id] = item
        return item

    def remove(self, item_id: int) -> tuple[bool, bool]:
        """Forget an item (its file, masks and edits); when it was open nothing is open after.
        Returns ``(removed, was_active)``."""
        item = self.items.pop(int(item_id), None)
        if item is None:
            return False, False
        if self._decoded_now is not None and self._decoded_now[0] == item.id:
            self._decoded_now = None
        if self._decoded_next is not None and self._decoded_next[0] == item.id:
            self._decoded_next = None
        was_active = item is self.active
        if was_active:
            self.active, self.session, self._pending = None, None, None
        return True, was_active

    def get(self, item_id: int) -> Item:
        """The item, or ``BatchError('gone')``."""
        item = self.items.get(int(item_id))
        if item is None:
            raise BatchError("gone", "That image is no longer open.")
        return item

    # -- the model --------------------------------------------------------------------------
    async def segment(self, item_id: int, model_id: str, stage: str = "final") -> Segmented:
        """Run the model on one item and put its mask in place.

        ``stage='preview'`` runs the model's preview model (u2netp for ISNet: about an eighth
        of the work) with the plain upsampling (``skipped`` for a model without one);
        ``'final'`` the full model and post-processing; for a fusion that is the edges model
        and :func:`matte.fuse.fused_alpha_steps` with the regions model's output the preview
        kept on the item (``fused`` False when that model could not run at all). When the item
        already has a mask with edits, the edits are re-applied on the new mask
        (:meth:`EditSession.rebase`), now or, during a stroke or refine preview, as soon as it
        ends (:meth:`apply_pending`).

        Raises
        ------
        BatchError
            ``'gone'`` (also when the item is removed while its model runs), ``'model'``,
            ``'decode'``, ``'inference'``. The item's masks are unchanged.
        """
        item = self.get(item_id)
        preview = str(stage) == "preview"
        fusion: FusionSpec | None = None
        try:
            spec = self.catalog.get(model_id)
            if preview:
                if spec.preview is None:
                    return Segmented(preview=True, skipped=True)
                spec = self.catalog.model(spec.preview)
            elif isinstance(spec, FusionSpec):
                fusion, spec = spec, spec.edges
        except MatteError as exc:
            raise BatchError("model", str(exc)) from None
        try:
            image = self.decoded(item)
        except MatteError as exc:
            raise BatchError("decode", str(exc)) from None
        out = Segmented(preview=preview)
        t = time.perf_counter()
        self._progress("compute:preprocess", str(stage))
        tensor = prepare(image.rgb, spec)
        out.times["preprocess"] = (time.perf_counter() - t) * 1e3
        self._progress("compute:inference", str(stage))
        t = time.perf_counter()
        try:
            output = await self.runner.run(spec, tensor)
            regions = None
            if fusion is not None:
                regions = await self._regions_output(item, fusion, image.rgb)
        except Exception as exc:  # a JS error from the bridge: keep the image, report it
            raise BatchError("inference",
                             f"Inference failed: {getattr(exc, 'message', exc)}") from None
        out.times["inference"] = (time.perf_counter() - t) * 1e3
        if self.items.get(item.id) is not item:
            raise BatchError("gone", "That image is no longer open.")
        if preview:  # a fusion's final stage reuses it instead of running the model again
            item.preview_raw = (spec.id, output)
        self._progress("compute:postprocess", str(stage))
        t = time.perf_counter()
        image = self.decoded(item)  # the user may have switched images during inference
        if fusion is not None and regions is None:
            fusion = None  # the regions model could not run: the edges model alone
        if fusion is not None:
            steps = fused_alpha_steps(output, regions, image.rgb, edges=fusion.edges,
                                      regions=fusion.regions)
            item.preview_raw = None  # used: 400 KB less per item of a batch
        else:
            steps = finish_steps(output, spec, image.rgb, refine=not preview)
        # in steps, yielding to the event loop every ~40 ms: a 12 MP refinement is no single
        # long task, so the user can keep painting (on the preview) meanwhile
        alpha = await cooperatively(steps)
        if self.items.get(item.id) is not item:
            raise BatchError("gone", "That image is no longer open.")
        if image.alpha is not None:  # a transparent source stays transparent where it was
            np.minimum(alpha, image.alpha, out=alpha)
        out.rebased = self._place(item, alpha)
        item.state = State.PREVIEW if preview else State.FINAL
        item.thumb = thumb(image.rgb, alpha)
        out.times["postprocess"] = (time.perf_counter() - t) * 1e3
        out.fused = fusion is not None
        out.pending = self._pending is not None
        return out

    async def _regions_output(self, item: Item, fusion: FusionSpec, rgb: np.ndarray) -> Any:
        """The fusion's regions model output for ``item``: the preview's, kept on the item
        (the page runs u2netp once per image), else one run of it now (no preview ran, e.g.
        its session failed to load)."""
        if item.preview_raw is not None and item.preview_raw[0] == fusion.regions.id:
            return item.preview_raw[1]
        try:
            return await self.runner.run(fusion.regions, prepare(rgb, fusion.regions))
        except Exception:  # no session for it either: the edges model's mask alone
            return None

    def _place(self, item: Item, alpha: np.ndarray) -> bool:
        """Put a new AI mask on ``item``: under the open session's edits (now, or pending
        while a stroke or refine preview runs), else on the item, whose edits are replayed
        when it is opened. True when the open session was rebased now."""
        if item.alpha is None:
            item.alpha = alpha
            return False
        if self.active is item and self.session is not None:
            self._pending = (item.id, alpha)
            return self.apply_pending()
        item.alpha = alpha  # edited while open, then left: the edits are replayed on opening
        item.edited = None if item.ops is not None else item.edited
        return False

    @property
    def pending(self) -> bool:
        """A full-quality mask waits for a stroke or refine preview to end."""
        return self._pending is not None

    def apply_pending(self) -> bool:
        """Put a waiting full-quality mask under the open session's edits, unless a stroke or
        a refine preview is in progress. True when applied (the whole view changed)."""
        if self._pending is None or self.session is None or self.active is None:
            return False
        item_id, alpha = self._pending
        if item_id != self.active.id:
            self._pending = None
            return False
        if self.session.stroke_active or self.session.previewing is not None:
            return False
        self._pending = None
        self.active.alpha = alpha
        self.session.rebase(alpha)
        return True

    # -- the open image ---------------------------------------------------------------------
    def activate(self, item_id: int) -> EditSession:
        """Open an item in the editor (the previous one keeps its edits and their history,
        and the output settings carry over).

        Raises
        ------
        BatchError
            ``'gone'``, ``'not-ready'`` (no mask yet) or ``'decode'``.
        """
        item = self.items.get(int(item_id))
        if item is None or item.alpha is None:
            raise BatchError("not-ready", "That image has not been processed yet.")
        if item is self.active and self.session is not None:
            return self.session  # already open: keep the session (edits, history)
        settings = None
        if self.active is not None and self.session is not None:
            prev = self.active
            prev.edited = self.session.alpha.copy()
            prev.ops = self.session.ops
            if self._decoded_now is not None and self._decoded_now[0] == prev.id:
                prev.thumb = thumb(self._decoded_now[1].rgb, prev.edited)
            if self._pending is not None and self._pending[0] == prev.id:
                prev.alpha = self._pending[1]  # its edits are replayed when reopened
                prev.edited = None
                self._pending = None
            settings = self.session.settings
        self.session = None  # free the previous session before decoding the next image
        try:
            dec = self.decoded(item)
        except MatteError as exc:
            raise BatchError("decode", str(exc)) from None
        if self._decoded_next is not None and self._decoded_next[0] == item.id:
            self._decoded_next = None
        self._decoded_now = (item.id, dec)
        self.session = self.session_for(item, dec, settings)
        self.active = item
        return self.session

    def session_for(self, item: Item, dec: Decoded, settings: Settings | None) -> EditSession:
        """An editing session for ``item``, with its edits and the given output settings."""
        sess = EditSession(dec, item.alpha, name=item.name, history_budget=HISTORY_BUDGET)
        if item.ops is not None:  # the edits come back with their undo steps, on the current
            sess.rebase(item.alpha, ops=item.ops)  # AI mask (which may have changed meanwhile)
        elif item.edited is not None:  # restored from autosave: the mask only
            sess.load_mask(item.edited)
        if settings is not None:
            apply_settings(sess, settings, picture=self.background)
        return sess

    def session_of(self, item: Item) -> EditSession:
        """The session that exports ``item``: the open one, or a fresh one with its edits and
        the open image's settings."""
        if item is self.active and self.session is not None:
            return self.session
        settings = self.session.settings if self.session is not None else None
        return self.session_for(item, self.decoded(item), settings)

    def refresh_thumb(self, item: Item) -> None:
        """The open image's thumbnail shows its edits."""
        if item is self.active and self.session is not None and self._decoded_now is not None \
                and self._decoded_now[0] == item.id:
            item.thumb = thumb(self._decoded_now[1].rgb, self.session.alpha)

    def nbytes(self) -> int:
        """Bytes held by the items (files and masks; the open session apart)."""
        return sum(len(i.data) + (i.alpha.nbytes if i.alpha is not None else 0)
                   + (i.edited.nbytes if i.edited is not None else 0)
                   for i in self.items.values())


def thumb(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A small RGBA cut-out, at most :data:`THUMB` px a side.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
    alpha : ndarray of shape (H, W), dtype uint8

    Returns
    -------
    ndarray of shape (th, tw, 4), dtype uint8
    """
    from PIL import Image

    h, w = alpha.shape
    step = max(1, max(h, w) // (THUMB * 2))  # cheap decimation first, then a good resize
    rgba = np.dstack([rgb[::step, ::step], alpha[::step, ::step]])
    im = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    im.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR)
    return np.asarray(im)


async def cooperatively(steps: Steps[Any], budget_ms: float = 40.0) -> Any:
    """Run a steps generator (:mod:`matte.steps`), giving the event loop a turn whenever
    ``budget_ms`` of work has passed; returns the generator's result."""
    t = time.perf_counter()
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
        if (time.perf_counter() - t) * 1e3 >= budget_ms:
            await asyncio.sleep(0)  # a macrotask in Pyodide's event loop: input and paint run
            t = time.perf_counter()
