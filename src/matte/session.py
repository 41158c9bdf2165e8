"""The editor's state: one image, its live mask, undo history, output settings and renders.

:class:`EditSession` is the single object the browser glue (:mod:`matte.web`) forwards pointer
events and view changes to. It owns the mask, paints it with :class:`~matte.brush.Stroke`,
records every mask edit in one :class:`~matte.history.History`, previews and commits
:mod:`matte.refine` operations, keeps the output settings (background, shadow, crop,
decontamination) and renders any viewport rectangle at any display scale, so that the view and
the exported file come from the same code.

API
---
Construction and state (read-only properties)::

    s = EditSession(decoded, alpha, name="photo.jpg", history_budget=64 * 2**20)
    s.rgb, s.alpha          # (H, W, 3) / (H, W) uint8, read-only views (alpha is the live mask)
    s.shape, s.name, s.history, s.can_undo, s.can_redo, s.settings (a frozen Settings)
    s.stroke_active, s.previewing, s.nbytes, s.memory()

Brush (positions are continuous (row, col) image pixels, see :mod:`matte.brush`)::

    s.stroke_begin(r, c, *, mode, radius, hardness=0.8, strength=1.0, pressure=1.0,
                   edge_aware=False) -> Rect
    s.stroke_extend([(r, c, pressure), ...]) -> Rect     # union dirty rect of the samples
    s.stroke_end() -> Rect                               # one history step for the stroke
    s.undo() -> Rect | None ; s.redo() -> Rect | None

Refinement (whole mask; preview from the mask as it was when the preview began)::

    s.refine_preview(op, **params) -> Rect   # op: feather, grow, smooth, threshold, islands,
                                             #     holes, edges; repeated calls restart from
                                             #     the same base
    s.refine_commit() -> Rect | None ; s.refine_cancel() -> Rect | None
    s.reset_mask() -> Rect                   # back to the AI mask, undoable

Settings (not part of the mask history)::

    s.set_background(kind, *, color=None, image=None, blur=None)  # transparent|color|image|blur
    s.set_shadow(on, **params)     # offset=(dy, dx), blur, opacity, color
    s.set_crop(on, *, margin=None) ; s.crop_rect() -> Rect | None
    s.set_decontaminate(on, *, radius=None)
    s.set_overlay(*, tint=None, opacity=None)          # the 'refine' view's tint

Rendering and export::

    s.render(rect, scale, *, view="result", window=None, sampling="area", out=None)
        -> (h, w, 4) uint8 RGBA               # view: result | refine | original
    s.output_window(dirty, rect, scale, *, sampling="area") -> Rect
    s.affected_rect(rect) -> Rect             # what the 'result' view redraws after an edit
    s.export(*, format="png", quality=None, mask_only=False) -> (bytes, file name, mime)
    s.result_pixels(rect=None) -> (h, w, 4 | 3) uint8   # the export's pixels, unencoded

Per-event flow in the browser: ``dirty = s.stroke_extend(points)``, then
``win = s.output_window(dirty, viewport, scale)`` and
``s.render(viewport, scale, window=win)`` drawn at ``win``'s offset. A window render is
bit-identical to the same crop of the whole viewport render, so partial redraws leave no seams.
After ``stroke_end`` / ``undo`` / ``redo`` / ``refine_*`` / ``reset_mask`` redraw
``affected_rect(rect)`` (the shadow and the decontaminated colours reach beyond the mask change).

Design notes
------------
*Brush path.* A stroke paints the live mask in place and touches only its dirty rectangle
(:mod:`matte.brush`); rendering a window costs about its source area (area sampling) or its
output area (nearest sampling, or enlarging), never the whole image. The session adds O(1) per
event (validation and marking caches stale).

*History.* Strokes are recorded from the stroke's own before-tiles; refine commits and resets are
recorded as one XOR patch cropped to the changed bounding box. Settings are not in the history.

*Caches* (lazy, computed on first use and counted in :attr:`EditSession.nbytes`):

* AI mask: kept zlib-compressed (a mask compresses 20-100x); decompressed for a reset and for
  the blurred background.
* Blurred background, ``(H, W, 3)``: it depends on the image and on the *AI* mask only, not on
  the live mask, so painting never recomputes it. It is ``blur(I w) / blur(w)`` with
  ``w = 1 - ai_alpha`` (the subject's colours do not bleed into it) blended, where the AI
  subject left no background nearby (``blur(w) < 1/4``), towards the plain blur of the image, so
  erasing part of the AI's subject reveals a blurred photo, never black. It is computed at
  1/``(radius // 4)`` resolution (like :func:`matte.composite.background_blur`) and resized once.
* Cover-fitted background picture, ``(H, W, 3)``, plus the picture as given.
* Only the current background kind's array is kept: switching kinds drops the other one.
* Shadow coverage, ``(H, W)``, and decontaminated RGB, ``(H, W, 3)``
  (:func:`matte.refine.decontaminate`): both depend on the mask, locally. Every mask change
  marks the 128 px blocks it can affect stale (grown by the function's reach, and moved by the
  shadow's offset); the next render or export recomputes only the connected groups of stale
  blocks, each on a crop with enough margin and aligned to the functions' internal downsampling
  grids, so one stroke costs its neighbourhood, not the image (full 12 MP builds: about 0.1-0.2 s
  for the shadow, 0.25-0.6 s for decontamination under CPython). The tests check the result
  equals the whole-image computation (decontamination could in principle differ by float
  rounding, 1 level on a rare soft pixel). *While a stroke or a refine preview is active the
  live view keeps both as they were before it*; they catch up on the first render after it
  (``affected_rect`` says what to redraw). Export always brings them up to date first.
* Subject box for the crop: recomputed after mask changes (a few ms).

*Memory* (:meth:`EditSession.memory`; checked against ``tracemalloc`` in the tests). For a
12 MP photo: photo 36 MB + live mask 12 MB + AI mask (compressed) < 1 MB, plus while in use:
one background array 36 MB (blurred or cover-fitted; the picture itself is held by reference),
shadow 12 MB, decontaminated colours 36 MB, a refine preview's base 12 MB, and the history (about
6 KB per typical stroke; at most ``history_budget``). With everything on and 100 strokes that is
about 133 MB, 0.69 of 4x the RGBA size (192 MB); the default 64 MiB history budget, if ever
filled, would take the worst case above it (pass ``history_budget=48 * 2**20`` at 12 MP to
bound it).

*Views.* ``'result'`` is the composite the export gives: on a transparent background a
straight-alpha RGBA cut-out (for a CSS checkerboard), on colour/image/blur backgrounds opaque
RGBA. When the view is not area-downscaled (scale >= 1, or ``sampling='nearest'``) it is exact:
``render(rect, 1)`` equals the export's pixels over ``rect``. When area-downscaling, the layers
(premultiplied colour and alpha, background, shadow coverage) are box-averaged separately and
composited at display resolution: exact where a box is uniformly opaque or transparent; at soft
edges off by the covariance of background and alpha inside a box (a level or two, a few more
where a busy background meets an edge). ``'refine'`` is :func:`matte.overlay.render_overlay` (tint
proportional to ``1 - alpha``); ``'original'`` the photo.

*Edge-aware brush.* At ``stroke_end`` a stroke begun with ``edge_aware=True`` is snapped to
the image's edges by :func:`matte.edge_brush.snap_stroke` (a guided filter fitted on the pixels
the stroke did not change; ``tests/model/test_edge_brush.py``). The live view shows the raw
brush until the stroke ends.

*Errors.* Bad parameters raise ``ValueError`` naming the parameter, before anything is changed.
Calling a brush method during a refine preview raises ``RuntimeError``; ``undo`` during a
preview cancels the preview, and undo/redo/refine/reset during a stroke end (record) the stroke
first.
"""

from __future__ import annotations

import math
import numbers
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from matte import compose, composite, edge_brush, export, overlay, refine
from matte.brush import Stroke
from matte.compose import default_blur_radius
from matte.decode import Decoded
from matte.geometry import EMPTY, Rect
from matte.history import DEFAULT_BUDGET, History
from matte.overlay import _axis

__all__ = ["BACKGROUNDS", "REFINE_OPS", "VIEWS", "EditSession", "Settings"]

U8 = npt.NDArray[np.uint8]
#: One recorded edit: (kind, keyword parameters, pointer samples (r, c, pressure) of a stroke).
Op = tuple[str, dict[str, Any], list[tuple[float, float, float]]]
RGB = tuple[int, int, int]

BACKGROUNDS = ("transparent", "color", "image", "blur")
"""Background kinds of :meth:`EditSession.set_background`."""

VIEWS = ("result", "refine", "original")
"""Views of :meth:`EditSession.render`."""

_OP_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # op: (required parameters, optional parameters)
    "feather": (("radius",), ()),
    "grow": (("radius",), ()),
    "smooth": (("radius",), ("contrast",)),
    "threshold": ((), ("level",)),
    "islands": (("min_area",), ("connectivity",)),
    "holes": (("max_area",), ("connectivity",)),
    "edges": ((), ("radius", "eps", "band", "guide", "scale")),
}
REFINE_OPS = tuple(_OP_PARAMS)
"""Operations of :meth:`EditSession.refine_preview` (``grow`` with a negative radius shrinks)."""

_BLOCK = 128  # granularity of the staleness of the shadow and decontamination caches


# --------------------------------------------------------------------------------------------
# validation


def _number(
    name: str,
    value: object,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    bad |= lo is not None and (v < lo or (lo_open and v == lo))
    bad |= hi is not None and v > hi
    if bad:
        lo_s = "" if lo is None else (f" > {lo:g}" if lo_open else f" >= {lo:g}")
        hi_s = "" if hi is None else f" <= {hi:g}"
        sep = " and" if lo_s and hi_s else ""
        raise ValueError(f"{name}: expected a finite number{lo_s}{sep}{hi_s}, got {value!r}")
    return v


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _rect(value: object, name: str = "rect") -> Rect:
    if isinstance(value, Rect):
        return value
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 4
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        return Rect(*(int(v) for v in value))
    raise ValueError(f"{name}: expected a Rect(r0, c0, r1, c1) of ints, got {value!r}")


def _color(value: object, name: str) -> RGB:
    rgb = composite.parse_color(value, name=name)  # type: ignore[arg-type]
    if rgb is None:
        raise ValueError(f"{name}: expected an opaque colour, got {value!r}")
    return rgb


def _margin(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"margin: expected int pixels or a float fraction, got {value!r}")
    if isinstance(value, numbers.Integral):
        if value < 0:
            raise ValueError(f"margin: expected >= 0 pixels, got {value!r}")
        return int(value)
    return _number("margin", value, lo=0.0, hi=1.0)


# --------------------------------------------------------------------------------------------
# settings


Settings = compose.Settings  # the output settings are the compose pipeline's


# --------------------------------------------------------------------------------------------
# pixel helpers


def _diff_bbox(a: U8, b: U8) -> Rect:
    """Bounding box of the pixels where two (H, W) arrays differ (EMPTY if none)."""
    ne = a != b
    rows = np.flatnonzero(ne.any(axis=1))
    if rows.size == 0:
        return EMPTY
    cols = np.flatnonzero(ne.any(axis=0))
    return Rect(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def _grow(rect: Rect, m: int, shape: tuple[int, ...]) -> Rect:
    return Rect(rect.r0 - m, rect.c0 - m, rect.r1 + m, rect.c1 + m).clip(shape)


def _box_sum(
    x: np.ndarray, rs: np.ndarray, rl: np.ndarray, cs: np.ndarray, cl: np.ndarray
) -> np.ndarray:
    """Sums of ``x`` (h, w[, C]) uint8 over boxes ``[rs, rs + rl) x [cs, cs + cl)`` (relative to
    ``x``), uint16 or uint32.

    Box lengths along an axis take two values at most (k and k + 1), so each sum is k gathers
    of whole rows (then columns) added together, plus one more for the longer boxes: much
    faster than ``np.add.reduceat`` with a wider accumulator.
    """
    area = int(rl.max()) * int(cl.max())
    dt = np.uint16 if area * 255 <= 0xFFFF else np.uint32
    out = None
    for axis, starts, lens in ((0, rs, rl), (1, cs, cl)):
        src = x if out is None else out
        k = int(lens.min())
        take = (lambda i, src=src: src[i]) if axis == 0 else (lambda i, src=src: src[:, i])
        acc = take(starts).astype(dt)
        for j in range(1, k):
            acc += take(starts + j)
        extra = np.flatnonzero(lens > k)
        if extra.size:
            if axis == 0:
                acc[extra] += take(starts[extra] + k)
            else:
                acc[:, extra] += take(starts[extra] + k)
        out = acc
    assert out is not None
    return out


def _div_round(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``floor(num / den + 0.5)`` (float64; exact for integer num < 2**53, den > 0)."""
    q = np.divide(num, den, dtype=np.float64)
    q += 0.5
    return np.floor(q, out=q)


# --------------------------------------------------------------------------------------------
# caches of local functions of the mask, updated on crops


class _LocalCache:
    """A full-size array ``f(mask)`` where ``f`` is local, brought up to date on crops.

    ``f`` at a pixel depends only on the mask within ``reach`` px of the pixel moved by
    ``-shift`` (the shadow is the mask moved by ``shift``, then blurred). A mask change in a
    rectangle marks the ``block x block`` blocks of its output region stale; :meth:`update`
    recomputes each 8-connected group of stale blocks on a crop holding the group and the
    group moved by ``-shift``, grown by ``reach`` px (corners aligned to ``align`` px, the grid
    of any internal downsampling, so the crop computes what the whole image would), or the
    whole image when the crops would cover more than half of it.

    Parameters
    ----------
    compute : callable
        ``compute(rect) -> ndarray``: ``f`` evaluated on the crop ``rect`` alone (the mask and
        image sliced to it), shape ``(rect.height, rect.width[, C])``.
    shape : (int, int)
        ``(H, W)``.
    reach, shift, align : int, (int, int), int
        See above.
    """

    def __init__(
        self,
        compute: Callable[[Rect], np.ndarray],
        shape: tuple[int, int],
        *,
        reach: int,
        shift: tuple[int, int] = (0, 0),
        align: int = 1,
    ) -> None:
        self.compute = compute
        self.shape = shape
        self.reach = int(reach)
        self.shift = shift
        self.align = max(1, int(align))
        h, w = shape
        self.stale = np.zeros((-(-h // _BLOCK), -(-w // _BLOCK)), bool)
        self.array = compute(Rect(0, 0, h, w))

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes + self.stale.nbytes)

    def mark(self, rect: Rect) -> None:
        """The mask changed inside ``rect``."""
        dy, dx = self.shift
        m = self.reach
        g = Rect(rect.r0 + dy - m, rect.c0 + dx - m, rect.r1 + dy + m, rect.c1 + dx + m)
        g = g.clip(self.shape)
        if not g.empty:
            b = _BLOCK
            self.stale[g.r0 // b : -(-g.r1 // b), g.c0 // b : -(-g.c1 // b)] = True

    def update(self) -> None:
        """Recompute the stale blocks."""
        if not self.stale.any():
            return
        h, w = self.shape
        b, a, m = _BLOCK, self.align, self.reach
        dy, dx = self.shift
        labels, n = refine.label(self.stale, connectivity=8)
        jobs = []
        total = 0
        for k in range(1, n + 1):
            sel = labels == k
            rows = np.flatnonzero(sel.any(axis=1))
            cols = np.flatnonzero(sel.any(axis=0))
            out = Rect(
                int(rows[0]) * b, int(cols[0]) * b, (int(rows[-1]) + 1) * b, (int(cols[-1]) + 1) * b
            ).clip((h, w))
            # the mask that ``out`` depends on: ``out`` and ``out`` moved back by the shift,
            # grown by the reach
            src = out.union(Rect(out.r0 - dy, out.c0 - dx, out.r1 - dy, out.c1 - dx))
            crop = Rect(
                max(0, (src.r0 - m) // a * a),
                max(0, (src.c0 - m) // a * a),
                min(h, -(-(src.r1 + m) // a) * a),
                min(w, -(-(src.c1 + m) // a) * a),
            )
            jobs.append((out, crop))
            total += crop.area
        if total > 0.5 * h * w:
            self.array = self.compute(Rect(0, 0, h, w))
        else:
            for out, crop in jobs:
                res = self.compute(crop)
                self.array[out.slices] = res[
                    out.r0 - crop.r0 : out.r1 - crop.r0, out.c0 - crop.c0 : out.c1 - crop.c0
                ]
        self.stale[...] = False


# --------------------------------------------------------------------------------------------
# the session


class EditSession:
    """Editing state of one image: live mask, undo history, output settings, renders, export.

    Parameters
    ----------
    decoded : matte.decode.Decoded
        The photo: ``rgb`` (H, W, 3) uint8 is used as is (not copied, never modified);
        ``icc_profile`` is embedded in exports. ``decoded.alpha`` is not applied: pass a mask
        that already accounts for it.
    alpha : ndarray of shape (H, W), dtype uint8
        The starting (AI) mask, 255 = subject; copied. :meth:`reset_mask` returns to it.
    name : str, default "image"
        The uploaded file's name, for the download name (:func:`matte.export.output_name`).
    history_budget : int, default 64 MiB
        Byte budget of the undo history (:class:`matte.history.History`).

    Notes
    -----
    See the module docstring for the API overview and the design notes (caches, what the live
    view simplifies).
    """

    def __init__(
        self,
        decoded: Decoded,
        alpha: np.ndarray,
        *,
        name: str = "image",
        history_budget: int = DEFAULT_BUDGET,
    ) -> None:
        rgb = getattr(decoded, "rgb", None)
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
            raise ValueError("decoded: expected a Decoded with an (H, W, 3) uint8 rgb array")
        if rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise ValueError(f"decoded: rgb must have shape (H, W, 3), got {rgb.shape}")
        if (
            not isinstance(alpha, np.ndarray)
            or alpha.dtype != np.uint8
            or alpha.shape != rgb.shape[:2]
        ):
            raise ValueError(
                f"alpha: expected a uint8 array of shape {rgb.shape[:2]}, got "
                f"{getattr(alpha, 'shape', None)} {getattr(alpha, 'dtype', type(alpha).__name__)}"
            )
        if not isinstance(name, str):
            raise ValueError(f"name: expected a string, got {name!r}")
        if (
            isinstance(history_budget, bool)
            or not isinstance(history_budget, numbers.Integral)
            or history_budget < 0
        ):
            raise ValueError(f"history_budget: expected an int >= 0, got {history_budget!r}")
        self._decoded = decoded
        self._rgb: U8 = rgb.view()
        self._rgb.flags.writeable = False
        self._alpha: U8 = np.array(alpha, dtype=np.uint8, order="C", copy=True)
        self._ai_z = zlib.compress(self._alpha, 1)
        self._name = name
        self._history = History(int(history_budget))
        h, w = self.shape
        self._settings = Settings(blur=default_blur_radius((h, w)))
        # brush
        self._stroke: Stroke | None = None
        self._edge_aware = False
        # refine preview
        self._base: U8 | None = None
        self._preview_op: str | None = None
        self._preview_params: dict[str, Any] = {}
        # the edits as operations, in history order (for rebase): done, and undone (redo)
        self._ops: list[tuple[Op, bool]] = []  # (op, whether it made a history step)
        self._redo_ops: list[Op] = []
        self._cur_op: Op | None = None
        # caches
        self._bg_image: U8 | None = None  # the picture as given
        self._bg_fit: U8 | None = None  # cover-fitted to (H, W)
        self._bg_blur: U8 | None = None
        self._bg_blur_radius: float | None = None
        self._shadow_cache: _LocalCache | None = None
        self._decon_cache: _LocalCache | None = None
        self._subject_box: Rect | None = None
        self._subject_stale = True

    # -- properties -----------------------------------------------------------------------

    @property
    def rgb(self) -> U8:
        """The photo, (H, W, 3) uint8, read-only."""
        return self._rgb

    @property
    def alpha(self) -> U8:
        """The live mask, (H, W) uint8 (255 = subject), as a read-only view."""
        v = self._alpha.view()
        v.flags.writeable = False
        return v

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self._alpha.shape[0]), int(self._alpha.shape[1])

    @property
    def name(self) -> str:
        return self._name

    @property
    def history(self) -> History:
        """The undo history (for inspection: ``undo_label``, ``nbytes``...; edit through the
        session, which keeps its caches in step)."""
        return self._history

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo or self._base is not None

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def stroke_active(self) -> bool:
        return self._stroke is not None and self._stroke.active

    @property
    def previewing(self) -> str | None:
        """The refine operation being previewed, or None."""
        return self._preview_op

    @property
    def ai_alpha(self) -> U8:
        """The starting (AI) mask, (H, W) uint8 (a new array, decompressed)."""
        return np.frombuffer(zlib.decompress(self._ai_z), np.uint8).reshape(self.shape).copy()

    def memory(self) -> dict[str, int]:
        """Bytes held by the session, per item (see :attr:`nbytes`)."""
        arrays = {
            "rgb": self._rgb,
            "alpha": self._alpha,
            "preview_base": self._base,
            "background_image": self._bg_image,
            "background_fit": self._bg_fit,
            "background_blur": self._bg_blur,
        }
        out = {
            k: (0 if v is None or (v is self._rgb and k != "rgb") else int(v.nbytes))
            for k, v in arrays.items()
        }
        for k, cache in (("shadow", self._shadow_cache), ("decontaminated", self._decon_cache)):
            out[k] = 0 if cache is None else cache.nbytes
        out["ai_alpha"] = len(self._ai_z)
        out["history"] = self._history.nbytes
        out["stroke"] = self._stroke.nbytes if self.stroke_active else 0  # type: ignore[union-attr]
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held: image, masks, history, active stroke/preview buffers and every cache.

        The photo is counted although it is shared with the caller's ``Decoded``.
        """
        return sum(self.memory().values())

    # -- mask changes: keep caches in step ------------------------------------------------

    def _touch(self, rect: Rect) -> None:
        """Record that the mask changed inside ``rect`` (cheap; caches update lazily)."""
        if rect.empty:
            return
        self._subject_stale = True
        for cache in (self._shadow_cache, self._decon_cache):
            if cache is not None:
                cache.mark(rect)

    def _busy(self) -> bool:
        return self.stroke_active or self._base is not None

    # -- brush ----------------------------------------------------------------------------

    def stroke_begin(
        self,
        r: float,
        c: float,
        *,
        mode: str,
        radius: float,
        hardness: float = 0.8,
        strength: float = 1.0,
        pressure: float = 1.0,
        edge_aware: bool = False,
    ) -> Rect:
        """Start a brush stroke at ``(r, c)`` and paint its first dab.

        Parameters
        ----------
        r, c : float
            Pointer position (row, col) in image pixels (may lie outside the image).
        mode : {'restore', 'erase'}
            Move the mask toward 255 (restore) or 0 (erase).
        radius : float
            Brush radius in image pixels, > 0.
        hardness : float, default 0.8
            Edge hardness in [0, 1] (:func:`matte.brush.brush_profile`).
        strength : float, default 1.0
            Opacity in (0, 1].
        pressure : float, default 1.0
            Pen pressure in [0, 1] at this sample (scales the opacity).
        edge_aware : bool, default False
            Snap the stroke's effect to image edges when it ends (see the module notes).

        Returns
        -------
        Rect
            Mask rectangle changed (clipped to the image; EMPTY when the dab is outside).

        Raises
        ------
        ValueError
            A bad parameter (named in the message); nothing is changed.
        RuntimeError
            A refine preview is active (commit or cancel it first).
        """
        if self._base is not None:
            raise RuntimeError("a refine preview is active; commit or cancel it first")
        if mode not in ("restore", "erase"):
            raise ValueError(f"mode: expected 'restore' or 'erase', got {mode!r}")
        rr = _number("r", r)
        cc = _number("c", c)
        rad = _number("radius", radius, lo=0.0, lo_open=True)
        hard = _number("hardness", hardness, lo=0.0, hi=1.0)
        stren = _number("strength", strength, lo=0.0, hi=1.0, lo_open=True)
        pres = _number("pressure", pressure, lo=0.0, hi=1.0)
        edge = _flag("edge_aware", edge_aware)
        if self.stroke_active:  # a lost pointer-up: finish the previous stroke
            self.stroke_end()
        stroke = Stroke(self._alpha, radius=rad, mode=mode, hardness=hard, strength=stren)
        self._stroke = stroke
        self._edge_aware = edge
        self._cur_op = ("stroke", {"mode": mode, "radius": rad, "hardness": hard,
                                   "strength": stren, "edge_aware": edge}, [(rr, cc, pres)])
        rect = stroke.begin(rr, cc, pres)
        self._touch(rect)
        return rect

    def stroke_extend(self, points: Sequence[Sequence[float]]) -> Rect:
        """Continue the stroke through pointer samples.

        Parameters
        ----------
        points : sequence of (r, c, pressure) or (r, c)
            Samples in order (coalesced pointer events); pressure in [0, 1], default 1.
            All samples are validated before any is painted.

        Returns
        -------
        Rect
            Union of the mask rectangles changed (EMPTY when none).
        """
        if not self.stroke_active:
            raise RuntimeError("stroke_extend() called without an active stroke")
        if isinstance(points, (str, bytes)) or not isinstance(points, Sequence | np.ndarray):
            raise ValueError(f"points: expected a sequence of (r, c, pressure), got {points!r}")
        samples = []
        for i, p in enumerate(points):
            if isinstance(p, (str, bytes)) or not isinstance(p, Sequence | np.ndarray):
                raise ValueError(f"points[{i}]: expected (r, c, pressure), got {p!r}")
            if len(p) not in (2, 3):
                raise ValueError(f"points[{i}]: expected (r, c, pressure), got {p!r}")
            pr = _number(f"points[{i}] pressure", p[2], lo=0.0, hi=1.0) if len(p) == 3 else 1.0
            samples.append((_number(f"points[{i}] r", p[0]), _number(f"points[{i}] c", p[1]), pr))
        stroke = self._stroke
        assert stroke is not None
        if self._cur_op is not None:
            self._cur_op[2].extend(samples)
        dirty = EMPTY
        for rr, cc, pr in samples:
            dirty = dirty.union(stroke.extend(rr, cc, pr))
        self._touch(dirty)
        return dirty

    def stroke_end(self) -> Rect:
        """Finish the stroke and record it as one history step.

        Returns
        -------
        Rect
            Union of everything the stroke changed (EMPTY when no stroke is active).
        """
        stroke = self._stroke
        if stroke is None or not stroke.active:
            return EMPTY
        rect = stroke.end()
        if self._edge_aware and not rect.empty:
            self._snap_to_edges(stroke)
        stepped = self._history.record_stroke(stroke, label=stroke.mode)
        if self._cur_op is not None:
            self._push_op(self._cur_op, stepped)
        self._cur_op = None
        self._stroke = None
        self._touch(rect)
        return rect

    def _snap_to_edges(self, stroke: Stroke) -> None:
        """Edge-aware brush: re-estimate the pixels ``stroke`` changed from the colours of the
        pixels it did not change (:func:`matte.edge_brush.snap_stroke`)."""
        edge_brush.snap_stroke(self._rgb, self._alpha, stroke.patches(), radius=stroke.radius)

    # -- undo / redo / reset --------------------------------------------------------------

    def undo(self) -> Rect | None:
        """Undo the last mask edit (a stroke in progress is ended and undone; a refine preview
        is cancelled instead).

        Returns
        -------
        Rect or None
            The mask rectangle changed, or None when there was nothing to undo.
        """
        if self._base is not None:
            return self.refine_cancel()
        self.stroke_end()
        rect = self._history.undo(self._alpha)
        if rect is not None:
            # gestures after the undone step changed nothing here: they are dropped with it
            while self._ops and not self._ops[-1][1]:
                self._ops.pop()
            if self._ops:
                self._redo_ops.append(self._ops.pop()[0])
            self._touch(rect)
        return rect

    def redo(self) -> Rect | None:
        """Redo the last undone mask edit (a refine preview is cancelled first).

        Returns
        -------
        Rect or None
            The mask rectangle changed, or None when there was nothing to redo.
        """
        self.stroke_end()
        if self._base is not None:
            self.refine_cancel()
        rect = self._history.redo(self._alpha)
        if rect is not None:
            if self._redo_ops:
                self._ops.append((self._redo_ops.pop(), True))
            self._touch(rect)
        return rect

    def reset_mask(self) -> Rect:
        """Return to the AI mask, as one undoable step (a preview is cancelled first).

        Returns
        -------
        Rect
            The mask rectangle changed (EMPTY when the mask already was the AI mask).
        """
        self.stroke_end()
        if self._base is not None:
            self.refine_cancel()
        ai = self.ai_alpha
        rect = _diff_bbox(self._alpha, ai)
        if rect.empty:
            self._push_op(("reset", {}, []), False)
            return EMPTY
        before = self._alpha[rect.slices].copy()
        self._alpha[rect.slices] = ai[rect.slices]
        self._push_op(("reset", {}, []),
                      self._history.record(before, self._alpha[rect.slices], rect, label="reset"))
        self._touch(rect)
        return rect

    def load_mask(self, alpha: np.ndarray) -> Rect:
        """Replace the live mask by an earlier edited one, without a history step.

        Used when an image of a batch is opened again: its edits come back as the starting
        point, while :meth:`reset_mask` still returns to the AI mask.

        Parameters
        ----------
        alpha : ndarray of shape (H, W), dtype uint8

        Returns
        -------
        Rect
            The mask rectangle changed.
        """
        if alpha.shape != self.shape or alpha.dtype != np.uint8:
            raise ValueError(f"alpha: expected {self.shape} uint8, got {alpha.shape} {alpha.dtype}")
        self.stroke_end()
        if self._base is not None:
            self.refine_cancel()
        rect = _diff_bbox(self._alpha, alpha)
        if not rect.empty:
            self._alpha[rect.slices] = alpha[rect.slices]
            self._touch(rect)
            # kept as an operation (no history step), so that ops/rebase keep the loaded edits
            self._push_op(("mask", {"z": zlib.compress(self._alpha, 1)}, []), False)
        return rect

    # -- edits as operations: carried over to a new AI mask ---------------------------------

    def _push_op(self, op: Op, stepped: bool) -> None:
        # Every gesture is kept, also one that changed nothing on this mask (it may change the
        # next one); only a gesture that made a step discards what could be redone, as in
        # History.
        self._ops.append((op, bool(stepped)))
        if stepped:
            self._redo_ops.clear()

    @property
    def ops(self) -> tuple[list[Op], list[Op]]:
        """The edits since the AI mask as operations: ``(done, undone)``, oldest first for
        ``done``, next-to-redo last for ``undone``. Copies; see :meth:`rebase`.

        ``done`` holds every brush stroke, committed refinement and reset in order, also
        those that changed nothing on this mask; an undo drops such gestures made after the
        step it undoes. A mask set by :meth:`load_mask` is kept as a ``('mask', {'z': zlib
        bytes of the mask}, [])`` operation, so that a rebase keeps it."""
        return ([(k, dict(p), list(s)) for (k, p, s), _ in self._ops],
                [(k, dict(p), list(s)) for k, p, s in self._redo_ops])

    def _apply_op(self, op: Op) -> None:
        kind, params, samples = op
        if kind == "stroke":
            (r, c, pr), rest = samples[0], samples[1:]
            self.stroke_begin(r, c, pressure=pr, **params)
            if rest:
                self.stroke_extend(rest)
            self.stroke_end()
        elif kind == "refine":
            kw = dict(params)
            self.refine_preview(kw.pop("op"), **kw)
            self.refine_commit()
        elif kind == "reset":
            self.reset_mask()
        elif kind == "mask":
            z = params["z"]
            self.load_mask(np.frombuffer(zlib.decompress(z), np.uint8).reshape(self.shape))
        else:
            raise ValueError(f"op: unknown edit kind {kind!r}")

    def rebase(
        self, alpha: np.ndarray, *, ops: tuple[list[Op], list[Op]] | None = None
    ) -> Rect:
        """Replace the AI mask and re-apply the edits on top of it.

        Used by the progressive result: the user edits the preview mask, then the
        full-quality mask arrives. Each recorded edit (brush strokes with their pointer
        samples, committed refinements, resets) is replayed in order through the normal
        methods, so the new mask gets the same edits and the same undo/redo steps (undone
        edits stay redoable). A stroke in progress is ended and a refine preview cancelled
        first.

        Parameters
        ----------
        alpha : ndarray of shape (H, W), dtype uint8
            The new AI mask; copied.
        ops : (done, undone), optional
            The edits to replay (:attr:`ops` of this or an earlier session of the same
            image); default: this session's own.

        Returns
        -------
        Rect
            The mask rectangle changed.
        """
        if (
            not isinstance(alpha, np.ndarray)
            or alpha.dtype != np.uint8
            or alpha.shape != self.shape
        ):
            raise ValueError(f"alpha: expected {self.shape} uint8, got "
                             f"{getattr(alpha, 'shape', None)} {getattr(alpha, 'dtype', None)}")
        self.stroke_end()
        if self._base is not None:
            self.refine_cancel()
        done, undone = self.ops if ops is None else ops
        before = self._alpha.copy()
        self._alpha[...] = alpha
        self._ai_z = zlib.compress(self._alpha, 1)
        self._history.clear()
        self._ops, self._redo_ops = [], []
        self._touch(Rect(0, 0, *self.shape))
        for op in done:
            self._apply_op(op)
        steps = 0
        for op in reversed(undone):
            self._apply_op(op)
            steps += int(self._ops[-1][1])
        for _ in range(steps):
            self.undo()
        rect = _diff_bbox(before, self._alpha)
        return rect

    # -- refinement -----------------------------------------------------------------------

    def _refine_func(self, op: object, params: Mapping[str, Any]) -> Callable[[U8], U8]:
        if op not in _OP_PARAMS:
            raise ValueError(f"op: expected one of {', '.join(REFINE_OPS)}, got {op!r}")
        required, optional = _OP_PARAMS[op]  # type: ignore[index]
        for k in params:
            if k not in required and k not in optional:
                allowed = ", ".join(required + optional) or "none"
                raise ValueError(f"{k}: not a parameter of {op!r} (expected: {allowed})")
        for k in required:
            if k not in params:
                raise ValueError(f"{k}: required by {op!r}")
        kw = dict(params)
        rgb = self._rgb
        funcs: dict[str, Callable[[U8], U8]] = {
            "feather": lambda a: refine.feather(a, **kw),
            "grow": lambda a: refine.grow_shrink(a, **kw),
            "smooth": lambda a: refine.smooth(a, **kw),
            "threshold": lambda a: refine.threshold(a, **kw),
            "islands": lambda a: refine.remove_islands(a, **kw),
            "holes": lambda a: refine.fill_holes(a, **kw),
            "edges": lambda a: refine.refine_edges(rgb, a, **kw),
        }
        return funcs[op]  # type: ignore[index]

    def refine_preview(self, op: str, **params: Any) -> Rect:
        """Show a refinement of the whole mask, from the mask as it was when the preview began.

        Parameters
        ----------
        op : {'feather', 'grow', 'smooth', 'threshold', 'islands', 'holes', 'edges'}
            :func:`matte.refine.feather`, :func:`~matte.refine.grow_shrink` (negative radius
            shrinks), :func:`~matte.refine.smooth`, :func:`~matte.refine.threshold`,
            :func:`~matte.refine.remove_islands`, :func:`~matte.refine.fill_holes`,
            :func:`~matte.refine.refine_edges`.
        **params
            That function's keyword options (``radius``, ``contrast``, ``level``, ``min_area``,
            ``max_area``, ``connectivity``, ``eps``, ``band``, ``guide``, ``scale``).

        Returns
        -------
        Rect
            Mask rectangle changed since the previous preview (or since the preview began).

        Raises
        ------
        ValueError
            Unknown op or parameter, missing or bad value; the mask is left as it was.
        """
        func = self._refine_func(op, params)
        self.stroke_end()
        base = self._alpha.copy() if self._base is None else self._base
        result = func(base)  # raises ValueError on bad values, before anything changes
        self._base = base
        self._preview_op = op
        self._preview_params = dict(params)
        rect = _diff_bbox(self._alpha, result)
        if not rect.empty:
            self._alpha[rect.slices] = result[rect.slices]
            self._touch(rect)
        return rect

    def refine_commit(self) -> Rect | None:
        """Keep the previewed refinement as one history step.

        Returns
        -------
        Rect or None
            The rectangle changed relative to before the preview (EMPTY when nothing changed,
            in which case no step is recorded), or None when no preview is active.
        """
        base = self._base
        if base is None:
            return None
        rect = _diff_bbox(base, self._alpha)
        stepped = not rect.empty and self._history.record(
            base[rect.slices], self._alpha[rect.slices], rect, label=f"refine {self._preview_op}"
        )
        self._push_op(("refine", {"op": self._preview_op, **self._preview_params}, []), stepped)
        self._base = None
        self._preview_op = None
        return rect

    def refine_cancel(self) -> Rect | None:
        """Drop the previewed refinement and restore the mask exactly.

        Returns
        -------
        Rect or None
            The rectangle restored, or None when no preview is active.
        """
        base = self._base
        if base is None:
            return None
        rect = _diff_bbox(base, self._alpha)
        if not rect.empty:
            self._alpha[rect.slices] = base[rect.slices]
            self._touch(rect)
        self._base = None
        self._preview_op = None
        return rect

    # -- settings -------------------------------------------------------------------------

    def set_background(
        self,
        kind: str,
        *,
        color: object = None,
        image: np.ndarray | None = None,
        blur: float | None = None,
    ) -> None:
        """Choose what the subject is composited on.

        Parameters
        ----------
        kind : {'transparent', 'color', 'image', 'blur'}
            Background kind.
        color : ColorLike, optional
            Colour of ``'color'`` (``'#rrggbb'``, ``(r, g, b)``, CSS name); kept for later.
        image : ndarray of shape (h, w, 3) or (h, w, 4), dtype uint8, optional
            Picture for ``'image'``, any size: cover-fitted to the photo (its alpha, if any, is
            ignored). Required the first time ``'image'`` is chosen; kept (not copied) for later.
        blur : float, optional
            Gaussian radius (image px, >= 0) of ``'blur'``.
        """
        if kind not in BACKGROUNDS:
            raise ValueError(f"kind: expected one of {', '.join(BACKGROUNDS)}, got {kind!r}")
        new = {"background": kind}
        if color is not None:
            new["color"] = _color(color, "color")
        if blur is not None:
            new["blur"] = _number("blur", blur, lo=0.0)
        if image is not None:
            if (
                not isinstance(image, np.ndarray)
                or image.dtype != np.uint8
                or image.ndim != 3
                or image.shape[2] not in (3, 4)
                or image.shape[0] == 0
                or image.shape[1] == 0
            ):
                raise ValueError(
                    "image: expected an (h, w, 3) or (h, w, 4) uint8 array, got "
                    f"{getattr(image, 'shape', None)} "
                    f"{getattr(image, 'dtype', type(image).__name__)}"
                )
        elif kind == "image" and self._bg_image is None:
            raise ValueError("image: required for the 'image' background")
        if image is not None:
            self._bg_image = image[..., :3] if image.shape[2] == 4 else image
            self._bg_fit = None
        self._settings = replace(self._settings, **new)  # type: ignore[arg-type]
        # keep one full-size background array at most
        if kind != "image":
            self._bg_fit = None
        if kind != "blur" or self._bg_blur_radius != self._settings.blur:
            self._bg_blur = None
            self._bg_blur_radius = None

    def set_shadow(self, on: bool, **params: Any) -> None:
        """Turn the drop shadow on or off and/or change its parameters.

        Parameters
        ----------
        on : bool
        **params
            ``offset=(dy, dx)`` px, ``blur`` (px, >= 0), ``opacity`` (0..1), ``color``.
        """
        on = _flag("on", on)
        cur = self._settings.shadow_params
        known = ("offset", "blur", "opacity", "color")
        for k in params:
            if k not in known:
                raise ValueError(f"{k}: not a shadow parameter (expected: {', '.join(known)})")
        offset, sblur = cur.offset, cur.blur
        opacity, scolor = cur.opacity, cur.color
        if "offset" in params:
            off = params["offset"]
            if isinstance(off, str) or not isinstance(off, Sequence) or len(off) != 2:
                raise ValueError(f"offset: expected (dy, dx) in pixels, got {off!r}")
            offset = (_number("offset", off[0]), _number("offset", off[1]))
        if "blur" in params:
            sblur = _number("blur", params["blur"], lo=0.0)
        if "opacity" in params:
            opacity = _number("opacity", params["opacity"], lo=0.0, hi=1.0)
        if "color" in params:
            scolor = _color(params["color"], "color")
        new = composite.Shadow(offset=offset, blur=sblur, opacity=opacity, color=scolor)
        if new != cur or not on:
            self._shadow_cache = None
        self._settings = replace(self._settings, shadow=on, shadow_params=new)
        self._subject_stale = True

    def set_crop(self, on: bool, *, margin: int | float | None = None) -> None:
        """Crop the export to the subject.

        Parameters
        ----------
        on : bool
        margin : int or float, optional
            Pixels (int >= 0) or a fraction (float in [0, 1]) of the subject box's longer side.
        """
        on = _flag("on", on)
        new: dict[str, Any] = {"crop": on}
        if margin is not None:
            new["crop_margin"] = _margin(margin)
        self._settings = replace(self._settings, **new)

    def set_decontaminate(self, on: bool, *, radius: int | None = None) -> None:
        """Turn colour decontamination of soft edges on or off.

        Parameters
        ----------
        on : bool
        radius : int, optional
            ``radius`` (px, >= 1) of :func:`matte.refine.decontaminate`.
        """
        on = _flag("on", on)
        new: dict[str, Any] = {"decontaminate": on}
        if radius is not None:
            if isinstance(radius, bool) or not isinstance(radius, numbers.Integral) or radius < 1:
                raise ValueError(f"radius: expected an int >= 1, got {radius!r}")
            new["decontaminate_radius"] = int(radius)
        self._settings = replace(self._settings, **new)
        if not on or "decontaminate_radius" in new:
            self._decon_cache = None

    def set_overlay(self, *, tint: object = None, opacity: float | None = None) -> None:
        """Colour and strength (0..1) of the ``'refine'`` view's tint."""
        new: dict[str, Any] = {}
        if tint is not None:
            new["tint"] = _color(tint, "tint")
        if opacity is not None:
            new["tint_opacity"] = _number("opacity", opacity, lo=0.0, hi=1.0)
        self._settings = replace(self._settings, **new)

    # -- caches ---------------------------------------------------------------------------

    @staticmethod
    def _decon_reach(radius: int) -> tuple[int, int]:
        """``(reach, align)`` of :func:`matte.refine.decontaminate`: a mask change at p can
        change its result within ``reach`` px of p; its wide pass works on ``align``-px blocks.
        """
        s = max(1, radius // 8)
        r_low = max(1, round(radius / s)) if s > 1 else radius
        fine = max(1, radius // 15)
        return fine + s * (r_low + 3), s

    def _shadow_reach(self) -> tuple[int, tuple[int, int], int]:
        """``(reach, shift, align)`` of the shadow coverage (see :class:`_LocalCache`)."""
        sp = self._settings.shadow_params
        f = int(sp.blur // 4) if sp.blur >= 8 else 1  # matte.composite's reduced blur
        reach = int(math.ceil(3.5 * sp.blur)) + 6 * f + 4
        return reach, (round(sp.offset[0]), round(sp.offset[1])), f

    def _foreground(self, *, fresh: bool) -> U8:
        """The subject's colours: the photo, or its decontaminated copy (brought up to date
        unless a stroke or preview is active and ``fresh`` is False)."""
        if not self._settings.decontaminate:
            return self._rgb
        cache = self._decon_cache
        if cache is None:
            radius = self._settings.decontaminate_radius
            reach, align = self._decon_reach(radius)

            def compute(rect: Rect) -> np.ndarray:
                return refine.decontaminate(
                    self._rgb[rect.slices], self._alpha[rect.slices], radius=radius
                )

            cache = self._decon_cache = _LocalCache(
                compute, self.shape, reach=reach, align=align
            )
        elif fresh or not self._busy():
            cache.update()
        return cache.array

    def _shadow(self, *, fresh: bool) -> U8 | None:
        """Shadow coverage (H, W) uint8, or None when the shadow is off (brought up to date
        unless a stroke or preview is active and ``fresh`` is False)."""
        st = self._settings
        if not st.shadow:
            return None
        cache = self._shadow_cache
        if cache is None:
            sp = st.shadow_params
            reach, shift, align = self._shadow_reach()

            def compute(rect: Rect) -> np.ndarray:
                layer = composite.drop_shadow(
                    self._alpha[rect.slices],
                    offset=sp.offset,
                    blur=sp.blur,
                    opacity=sp.opacity,
                    color=sp.color,
                )
                return np.ascontiguousarray(layer[..., 3])

            cache = self._shadow_cache = _LocalCache(
                compute, self.shape, reach=reach, shift=shift, align=align
            )
        elif fresh or not self._busy():
            cache.update()
        return cache.array

    def _background(self) -> U8 | RGB | None:
        """The background layer: None (transparent), an RGB tuple or an (H, W, 3) array."""
        st = self._settings
        if st.background == "transparent":
            return None
        if st.background == "color":
            return st.color
        if st.background == "image":
            if self._bg_fit is None:
                assert self._bg_image is not None
                self._bg_fit = composite.cover_fit(np.ascontiguousarray(self._bg_image), self.shape)
            return self._bg_fit
        if self._bg_blur is None or self._bg_blur_radius != st.blur:
            if st.blur == 0:
                self._bg_blur = self._rgb
            else:
                self._bg_blur = compose.blurred_background(
                    self._rgb, self.ai_alpha, radius=st.blur
                )
            self._bg_blur_radius = st.blur
        return self._bg_blur

    def crop_rect(self) -> Rect | None:
        """The export's crop rectangle when cropping is on, else None.

        The subject is ``alpha > 8`` (:func:`matte.composite.subject_bbox`), joined by the
        shadow's footprint when the shadow is on; the box is grown by the margin and clipped
        to the image (the whole image when nothing is visible).
        """
        st = self._settings
        if not st.crop:
            return None
        if self._subject_stale or self._subject_box is None:
            cov = self._shadow(fresh=False)
            src = self._alpha if cov is None else np.maximum(self._alpha, cov)
            self._subject_box = composite.subject_bbox(src)
            self._subject_stale = False
        return compose.subject_crop(self._subject_box, self.shape, margin=st.crop_margin)

    # -- rendering ------------------------------------------------------------------------

    def output_window(
        self, dirty: Rect, rect: Rect, scale: float, *, sampling: str = "area"
    ) -> Rect:
        """Output pixels of ``render(rect, scale)`` that depend on source pixels in ``dirty``.

        Parameters
        ----------
        dirty : Rect
            Changed source rectangle (e.g. from :meth:`stroke_extend`).
        rect, scale, sampling
            As given to :meth:`render`.

        Returns
        -------
        Rect
            Window in output pixels, to pass as ``render(..., window=...)``.
        """
        return overlay.output_window(
            _rect(dirty, "dirty"),
            rect=_rect(rect),
            scale=scale,
            shape=self.shape,
            sampling=sampling,  # type: ignore[arg-type]
        )

    def affected_rect(self, rect: Rect) -> Rect:
        """Source rectangle whose ``'result'`` rendering changes when the mask changes in
        ``rect``, once the caches update (grown by the decontamination reach and the shadow's
        offset and blur when those are on; the crop box may change too, see
        :meth:`crop_rect`)."""
        rect = _rect(rect).clip(self.shape)
        if rect.empty:
            return rect
        st = self._settings
        out = rect
        if st.decontaminate:
            out = _grow(rect, self._decon_reach(st.decontaminate_radius)[0], self.shape)
        if st.shadow:
            m, (dy, dx), _ = self._shadow_reach()
            moved = Rect(rect.r0 + dy - m, rect.c0 + dx - m, rect.r1 + dy + m, rect.c1 + dx + m)
            out = out.union(moved.clip(self.shape))
        return out

    def render(
        self,
        rect: Rect,
        scale: float,
        *,
        view: str = "result",
        window: Rect | None = None,
        sampling: str = "area",
        out: np.ndarray | None = None,
    ) -> U8:
        """Render a viewport of the image at a display scale.

        Parameters
        ----------
        rect : Rect
            Source rectangle (image pixels), clipped to the image.
        scale : float
            Display scale (> 0): the output is :func:`matte.overlay.output_size` of the
            clipped rect, ``round(h * scale) x round(w * scale)``.
        view : {'result', 'refine', 'original'}
            ``'result'``: what the export gives (straight-alpha RGBA on a transparent
            background, opaque otherwise); ``'refine'``: the photo tinted by ``1 - alpha``;
            ``'original'``: the photo.
        window : Rect, optional
            Sub-rectangle of the output (output pixels, see :meth:`output_window`) to render;
            the result equals that crop of the whole render.
        sampling : {'area', 'nearest'}
            Downscaling filter (:mod:`matte.overlay`): ``'area'`` costs about the source area,
            ``'nearest'`` about the output area (use it while panning/zooming).
        out : ndarray of shape (h, w, 4), dtype uint8, optional
            Destination for the window.

        Returns
        -------
        ndarray of shape (h, w, 4), dtype uint8
            RGBA ``ImageData`` pixels of the window (straight alpha).
        """
        if view not in VIEWS:
            raise ValueError(f"view: expected one of {', '.join(VIEWS)}, got {view!r}")
        rect = _rect(rect)
        st = self._settings
        if view == "refine":
            return overlay.render_overlay(
                self._rgb,
                self._alpha,
                rect=rect,
                scale=scale,
                tint=st.tint,
                opacity=st.tint_opacity,
                sampling=sampling,  # type: ignore[arg-type]
                window=window,
                out=out,
            )
        if view == "original":
            return overlay.render_overlay(
                self._rgb,
                self._alpha,
                rect=rect,
                scale=scale,
                opacity=0.0,
                sampling=sampling,  # type: ignore[arg-type]
                window=window,
                out=out,
            )
        fg = self._foreground(fresh=False)
        cov = self._shadow(fresh=False)
        bg = self._background()
        if bg is None and cov is None:
            return overlay.render_cutout(
                fg,
                self._alpha,
                rect=rect,
                scale=scale,
                sampling=sampling,  # type: ignore[arg-type]
                window=window,
                out=out,
            )
        return self._render_composite(fg, cov, bg, rect, scale, window, sampling, out)

    def _compose(
        self, fg: U8, a: U8, cov: U8 | None, bg: U8 | RGB | None, out: np.ndarray
    ) -> None:
        """Composite layers of one region into ``out`` (:func:`matte.compose.blend`)."""
        compose.blend(fg, a, cov, bg, shadow_color=self._settings.shadow_params.color, out=out)

    def _render_composite(
        self,
        fg: U8,
        cov: U8 | None,
        bg: U8 | RGB | None,
        rect: Rect,
        scale: float,
        window: Rect | None,
        sampling: str,
        out: np.ndarray | None,
    ) -> U8:
        """'result' view with an opaque background and/or a shadow (see the module notes)."""
        if sampling not in ("area", "nearest"):
            raise ValueError(f"sampling: expected 'area' or 'nearest', got {sampling!r}")
        area = sampling == "area"
        src = rect.clip(self.shape)
        oh, ow = overlay.output_size(src, scale)
        if oh * ow > overlay.MAX_OUTPUT_PIXELS:
            raise ValueError(
                f"scale: rendering {src} at {scale} gives {oh}x{ow} px; render only the "
                "visible viewport"
            )
        win = Rect(0, 0, oh, ow) if window is None else _rect(window, "window").clip((oh, ow))
        shape = (max(0, win.height), max(0, win.width), 4)
        if out is None:
            out = np.empty(shape, np.uint8)
        elif not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != shape:
            raise ValueError(f"out: expected a uint8 array of shape {shape}")
        if out.size == 0:
            return out
        rs, rl = _axis(src.height, oh, win.r0, win.r1, area)
        cs, cl = _axis(src.width, ow, win.c0, win.c1, area)
        rs += src.r0
        cs += src.c0
        a = self._alpha
        # decided for the whole render (as matte.overlay does), so windows match the full render
        averaging = area and (oh < src.height or ow < src.width)
        if not averaging:
            # exact: composite the sampled pixels, or the (smaller) source when enlarging
            r0, r1 = int(rs[0]), int(rs[-1]) + 1
            c0, c1 = int(cs[0]), int(cs[-1]) + 1
            if (r1 - r0) * (c1 - c0) < len(rs) * len(cs):
                sl = (slice(r0, r1), slice(c0, c1))
                tmp = np.empty((r1 - r0, c1 - c0, 4), np.uint8)
                layer_bg = bg if bg is None or isinstance(bg, tuple) else bg[sl]
                self._compose(fg[sl], a[sl], None if cov is None else cov[sl], layer_bg, tmp)
                packed = tmp.view(np.uint32)[..., 0][np.ix_(rs - r0, cs - c0)]
                if out.flags.c_contiguous:
                    out.view(np.uint32)[..., 0] = packed
                else:
                    out[...] = packed[..., None].view(np.uint8)
                return out
            ix: tuple[Any, Any]
            if r1 - r0 == len(rs) and c1 - c0 == len(cs):  # scale 1: plain slices
                ix = (slice(r0, r1), slice(c0, c1))
            else:
                ix = np.ix_(rs, cs)
            layer_bg = bg if bg is None or isinstance(bg, tuple) else bg[ix]
            self._compose(fg[ix], a[ix], None if cov is None else cov[ix], layer_bg, out)
            return out
        # area-downscaling: average each layer over its boxes, composite at display size
        sl = (slice(int(rs[0]), int(rs[-1] + rl[-1])), slice(int(cs[0]), int(cs[-1] + cl[-1])))
        ri, ci = rs - rs[0], cs - cs[0]
        cnt = np.multiply.outer(rl, cl).astype(np.float64)
        # premultiplied-averaged colour and mean alpha
        fa = overlay.render_cutout(fg, a, rect=rect, scale=scale, sampling="area", window=win)
        f_avg = np.ascontiguousarray(fa[..., :3])
        a_avg = np.ascontiguousarray(fa[..., 3])
        c_avg = None
        if cov is not None:
            c_avg = _div_round(_box_sum(cov[sl], ri, rl, ci, cl), cnt).astype(np.uint8)
        b_avg: U8 | RGB | None = bg
        if bg is not None and not isinstance(bg, tuple):
            sums = _box_sum(bg[sl], ri, rl, ci, cl)
            b_avg = _div_round(sums, cnt[..., None]).astype(np.uint8)
        self._compose(f_avg, a_avg, c_avg, b_avg, out)
        return out

    # -- export ---------------------------------------------------------------------------

    def result_pixels(self, rect: Rect | None = None) -> U8:
        """The full-resolution result over ``rect`` (default: the crop rect, or the image).

        Returns
        -------
        ndarray of shape (h, w, 4) or (h, w, 3), dtype uint8
            Straight-alpha RGBA on a transparent background, else RGB. Caches are brought up
            to date first.
        """
        if rect is None:
            rect = self.crop_rect() or Rect(0, 0, *self.shape)
        rect = _rect(rect).clip(self.shape)
        lay = compose.Layers(
            self._foreground(fresh=True), self._alpha, self._shadow(fresh=True),
            self._background(),
        )
        return compose.flatten(lay, settings=self._settings, rect=rect)

    def export(
        self, *, format: str = "png", quality: int | None = None, mask_only: bool = False
    ) -> tuple[bytes, str, str]:
        """Encode the result (or the mask) at full resolution.

        Parameters
        ----------
        format : {'png', 'webp', 'jpeg'}
            Output format (aliases such as ``'jpg'`` accepted). JPEG flattens a transparent
            result on white. ``mask_only`` requires PNG.
        quality : int, optional
            0..100 for WebP and JPEG.
        mask_only : bool
            Export the live mask as an 8-bit greyscale PNG (full image, never cropped).

        Returns
        -------
        (bytes, str, str)
            The file, its download name (:func:`matte.export.output_name`) and MIME type.
        """
        fmt = export.normalize_format(format)
        if _flag("mask_only", mask_only):
            if fmt != "png":
                raise ValueError(f"format: the mask is exported as PNG only, got {format!r}")
            if quality is not None and (
                isinstance(quality, bool)
                or not isinstance(quality, numbers.Integral)
                or not 0 <= quality <= 100
            ):
                raise ValueError(f"quality: expected an int in 0..100, got {quality!r}")
            data = compose.encode_mask(self._alpha)
            return data, export.output_name(self._name, format="png", suffix="-mask"), "image/png"
        data = compose.encode(
            self.result_pixels(), format=fmt, quality=quality,
            icc_profile=self._decoded.icc_profile,
        )
        return data, export.output_name(self._name, format=fmt), export.mime_type(fmt)
