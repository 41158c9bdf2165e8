"""Undo/redo for mask edits, stored as compressed patches of the changed pixels.

Design
------
Every step of a :class:`History` is a list of rectangles and one zlib stream holding, for each
rectangle, ``before XOR after`` (row-major ``uint8``). The XOR of a local edit is mostly zeros,
so it compresses to a small fraction of the rectangle, and since ``x ^ d ^ d == x`` the same
delta serves undo and redo: both XOR it into the mask in place. Full snapshots are never kept.

Where the "before" pixels come from:

* brush strokes: the :class:`~matte.brush.Stroke` already keeps the mask values it started from,
  in the ``TILE x TILE`` tiles it touched (:meth:`~matte.brush.Stroke.patches`).
  :meth:`History.record_stroke` stores only the tiles that actually changed, so a long diagonal
  stroke costs its painted area, not its bounding box;
* any other edit (e.g. a refine over the whole mask): :meth:`History.edit` copies the rectangle
  before the edit runs and records it after, or the caller passes both patches to
  :meth:`History.record`.

A CRC-32 of the "after" (resp. "before") pixels is kept with each step. :meth:`History.undo`
(resp. :meth:`History.redo`) checks it before touching the mask and raises ``ValueError`` if the
mask was changed without being recorded, instead of XOR-ing a delta onto the wrong pixels.

Budget
------
``nbytes`` counts the compressed streams plus a small fixed estimate per step and per rectangle.
When a new step makes the total exceed ``budget_bytes`` the oldest steps are dropped until it
fits; the newest step is always kept, even when it alone exceeds the budget (the last edit can
always be undone). Steps that can be redone count toward the budget too; a new record discards
them first. Recording an edit that changed no pixel stores nothing, returns False and leaves the
redo steps alone.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matte.brush import _check_alpha
from matte.geometry import EMPTY, Rect

if TYPE_CHECKING:
    from matte.brush import Stroke

__all__ = ["DEFAULT_BUDGET", "History"]

DEFAULT_BUDGET = 64 * 2**20
"""Default history budget: 64 MiB."""

_STEP_OVERHEAD = 256  # approximate Python bytes per step, counted in nbytes
_RECT_OVERHEAD = 16  # bytes per stored rectangle (int32 x 4)

AlphaArray = npt.NDArray[np.uint8]


def _check_patch(name: str, patch: object, rect: Rect) -> AlphaArray:
    if not isinstance(patch, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(patch).__name__}")
    if patch.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {patch.dtype}")
    if patch.shape != (rect.height, rect.width):
        raise ValueError(
            f"{name} has shape {patch.shape} but rect {tuple(rect)} needs "
            f"{(rect.height, rect.width)}"
        )
    return patch


def _changed(delta: AlphaArray) -> Rect | None:
    """Bounding box of the nonzero pixels of ``delta`` (patch coordinates), or None."""
    rows = np.flatnonzero(delta.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(delta.any(axis=0))
    return Rect(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def _inside(rect: Rect, shape: tuple[int, ...]) -> bool:
    return 0 <= rect.r0 <= rect.r1 <= shape[0] and 0 <= rect.c0 <= rect.c1 <= shape[1]


@dataclass(frozen=True)
class _Step:
    label: str
    rect: Rect  # union of rects
    rects: npt.NDArray[np.int32]  # (n, 4): r0, c0, r1, c1
    blob: bytes  # zlib(concatenated before ^ after)
    crc_before: int
    crc_after: int

    @property
    def nbytes(self) -> int:
        return len(self.blob) + self.rects.nbytes + _STEP_OVERHEAD

    def iter_rects(self) -> Iterator[Rect]:
        for r0, c0, r1, c1 in self.rects.tolist():
            yield Rect(r0, c0, r1, c1)


class History:
    """Undo/redo stack of mask edits, stored as compressed XOR patches.

    Parameters
    ----------
    budget_bytes : int, default 64 MiB
        Most bytes to hold (see ``nbytes``); the oldest steps are dropped beyond it, but never
        the newest one.
    level : int, default 6
        zlib compression level, 0-9.

    Notes
    -----
    All methods that take ``alpha`` expect the same ``(H, W)`` ``uint8`` mask that the recorded
    edits were made on, in the state the history left it in: undo/redo check a CRC-32 and raise
    ``ValueError`` (leaving the mask untouched) when it does not match.

    Examples
    --------
    >>> from matte.brush import Stroke
    >>> alpha = np.full((64, 64), 255, np.uint8)
    >>> history = History()
    >>> stroke = Stroke(alpha, radius=5, mode="erase")
    >>> _ = stroke.begin(10, 10); _ = stroke.extend(10, 40); stroke.end()
    Rect(r0=5, c0=5, r1=15, c1=45)
    >>> history.record_stroke(stroke)
    True
    >>> history.undo(alpha), bool((alpha == 255).all())
    (Rect(r0=5, c0=5, r1=15, c1=45), True)
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET, *, level: int = 6) -> None:
        if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, (int, np.integer)):
            raise TypeError(f"budget_bytes must be an int, got {type(budget_bytes).__name__}")
        if budget_bytes < 0:
            raise ValueError(f"budget_bytes must be >= 0, got {budget_bytes}")
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
            raise ValueError(f"level must be an int in [0, 9], got {level!r}")
        self._budget = int(budget_bytes)
        self._level = level
        self._steps: list[_Step] = []
        self._pos = 0  # steps[:pos] can be undone, steps[pos:] redone
        self._nbytes = 0

    # -- state ----------------------------------------------------------------------------

    @property
    def budget_bytes(self) -> int:
        return self._budget

    @property
    def nbytes(self) -> int:
        """Bytes held: compressed patches plus a small per-step estimate."""
        return self._nbytes

    @property
    def can_undo(self) -> bool:
        return self._pos > 0

    @property
    def can_redo(self) -> bool:
        return self._pos < len(self._steps)

    @property
    def undo_label(self) -> str | None:
        """Label of the step :meth:`undo` would revert, or None."""
        return self._steps[self._pos - 1].label if self._pos > 0 else None

    @property
    def redo_label(self) -> str | None:
        """Label of the step :meth:`redo` would re-apply, or None."""
        return self._steps[self._pos].label if self.can_redo else None

    def __len__(self) -> int:
        """Number of steps held (undoable plus redoable)."""
        return len(self._steps)

    def clear(self) -> None:
        """Forget every step (e.g. when a new image is loaded)."""
        self._steps.clear()
        self._pos = 0
        self._nbytes = 0

    # -- recording ------------------------------------------------------------------------

    def record(
        self, before: AlphaArray, after: AlphaArray, rect: Rect, *, label: str = "edit"
    ) -> bool:
        """Record an edit of one rectangle.

        Parameters
        ----------
        before, after : ndarray of shape (rect.height, rect.width), dtype uint8
            The rectangle's pixels before and after the edit (views are fine; copied).
        rect : Rect
            Where the patches lie in the mask (inside the image). A full-image rect is fine
            for whole-mask operations: only the bounding box of the changed pixels is kept.
        label : str, default "edit"
            Shown by ``undo_label``/``redo_label``.

        Returns
        -------
        bool
            True if a step was added; False when no pixel changed (nothing stored, redo kept).
        """
        rect = Rect(*(int(v) for v in rect))
        if rect.r0 < 0 or rect.c0 < 0:
            raise ValueError(f"rect {tuple(rect)} must not start at a negative row or column")
        before = _check_patch("before", before, rect)
        after = _check_patch("after", after, rect)
        if rect.empty:
            return False
        delta = np.bitwise_xor(before, after)
        crop = _changed(delta)
        if crop is None:
            return False
        self._push(
            label,
            [Rect(rect.r0 + crop.r0, rect.c0 + crop.c0, rect.r0 + crop.r1, rect.c0 + crop.c1)],
            [before[crop.slices]],
            [after[crop.slices]],
            [delta[crop.slices]],
        )
        return True

    def record_patches(
        self,
        alpha: AlphaArray,
        patches: Iterable[tuple[Rect, AlphaArray]],
        *,
        label: str = "edit",
    ) -> bool:
        """Record an edit given the "before" pixels of the rectangles it may have changed.

        Parameters
        ----------
        alpha : ndarray of shape (H, W), dtype uint8
            The mask after the edit; the "after" pixels are read from it.
        patches : iterable of (Rect, ndarray of shape (rect.height, rect.width), dtype uint8)
            Non-overlapping rectangles inside the mask and their pixels before the edit.
            Pixels outside every rectangle must be unchanged. Each rectangle is cropped to the
            bounding box of its changed pixels; unchanged ones are not stored.
        label : str, default "edit"

        Returns
        -------
        bool
            True if a step was added; False when no pixel changed.
        """
        _check_alpha(alpha)
        rects, befores, afters, deltas = [], [], [], []
        for rect, before in patches:
            rect = Rect(*(int(v) for v in rect))
            if not _inside(rect, alpha.shape):
                raise ValueError(f"patch rect {tuple(rect)} is outside the mask {alpha.shape}")
            before = _check_patch("patch", before, rect)
            after = alpha[rect.slices]
            delta = np.bitwise_xor(before, after)
            crop = _changed(delta)
            if crop is None:
                continue
            rects.append(
                Rect(rect.r0 + crop.r0, rect.c0 + crop.c0, rect.r0 + crop.r1, rect.c0 + crop.c1)
            )
            befores.append(before[crop.slices])
            afters.append(after[crop.slices])
            deltas.append(delta[crop.slices])
        if not rects:
            return False
        self._push(label, rects, befores, afters, deltas)
        return True

    def record_stroke(self, stroke: Stroke, *, label: str = "brush") -> bool:
        """Record a finished brush stroke from the starting pixels it kept.

        Parameters
        ----------
        stroke : matte.brush.Stroke
            A stroke after ``end()``; its mask must not have changed since.
        label : str, default "brush"

        Returns
        -------
        bool
            True if a step was added; False when the stroke changed no pixel.
        """
        if stroke.active:
            raise ValueError("stroke is still active; call stroke.end() before recording it")
        return self.record_patches(stroke.alpha, stroke.patches(), label=label)

    @contextmanager
    def edit(
        self, alpha: AlphaArray, rect: Rect | None = None, *, label: str = "edit"
    ) -> Iterator[Rect]:
        """Context manager recording whatever the body does to ``alpha[rect]``.

        Copies the rectangle on entry and records it on exit. If the body raises, the
        rectangle is restored and nothing is recorded.

        Parameters
        ----------
        alpha : ndarray of shape (H, W), dtype uint8
            The mask the body modifies in place.
        rect : Rect, optional
            The region the body may change (clipped to the mask); default the whole mask.
        label : str, default "edit"

        Yields
        ------
        Rect
            The clipped rectangle.

        Examples
        --------
        >>> alpha = np.zeros((4, 4), np.uint8)
        >>> history = History()
        >>> with history.edit(alpha, label="refine"):
        ...     alpha[1:3, 1:3] = 255
        >>> history.undo(alpha)
        Rect(r0=1, c0=1, r1=3, c1=3)
        """
        _check_alpha(alpha)
        full = Rect(0, 0, alpha.shape[0], alpha.shape[1])
        r = full if rect is None else Rect(*(int(v) for v in rect)).clip(alpha.shape)
        before = alpha[r.slices].copy()
        try:
            yield r
        except BaseException:
            alpha[r.slices] = before
            raise
        self.record(before, alpha[r.slices], r, label=label)

    def _push(
        self,
        label: str,
        rects: list[Rect],
        befores: list[AlphaArray],
        afters: list[AlphaArray],
        deltas: list[AlphaArray],
    ) -> None:
        comp = zlib.compressobj(self._level)
        parts = []
        crc_b = crc_a = 0
        for before, after, delta in zip(befores, afters, deltas, strict=True):
            crc_b = zlib.crc32(np.ascontiguousarray(before), crc_b)
            crc_a = zlib.crc32(np.ascontiguousarray(after), crc_a)
            parts.append(comp.compress(np.ascontiguousarray(delta)))
        parts.append(comp.flush())
        union = EMPTY
        for r in rects:
            union = union.union(r)
        step = _Step(
            label=str(label),
            rect=union,
            rects=np.array([tuple(r) for r in rects], dtype=np.int32).reshape(-1, 4),
            blob=b"".join(parts),
            crc_before=crc_b,
            crc_after=crc_a,
        )
        # A new edit discards what could be redone.
        for dropped in self._steps[self._pos :]:
            self._nbytes -= dropped.nbytes
        del self._steps[self._pos :]
        self._steps.append(step)
        self._nbytes += step.nbytes
        # Over budget: drop the oldest steps, never the newest.
        drop = 0
        while len(self._steps) - drop > 1 and self._nbytes > self._budget:
            self._nbytes -= self._steps[drop].nbytes
            drop += 1
        del self._steps[:drop]
        self._pos = len(self._steps)

    # -- undo / redo ----------------------------------------------------------------------

    def undo(self, alpha: AlphaArray) -> Rect | None:
        """Revert the newest applied step in place.

        Parameters
        ----------
        alpha : ndarray of shape (H, W), dtype uint8
            The mask, in the state right after that step.

        Returns
        -------
        Rect or None
            The rectangle changed, or None when there is nothing to undo.
        """
        if self._pos == 0:
            return None
        self._apply(alpha, self._steps[self._pos - 1], undo=True)
        self._pos -= 1
        return self._steps[self._pos].rect

    def redo(self, alpha: AlphaArray) -> Rect | None:
        """Re-apply the step most recently undone, in place.

        Parameters
        ----------
        alpha : ndarray of shape (H, W), dtype uint8
            The mask, in the state right before that step.

        Returns
        -------
        Rect or None
            The rectangle changed, or None when there is nothing to redo.
        """
        if self._pos >= len(self._steps):
            return None
        self._apply(alpha, self._steps[self._pos], undo=False)
        self._pos += 1
        return self._steps[self._pos - 1].rect

    def _apply(self, alpha: AlphaArray, step: _Step, *, undo: bool) -> None:
        _check_alpha(alpha)
        if not alpha.flags.writeable:
            raise ValueError("alpha must be writeable (undo/redo modify it in place)")
        if not _inside(step.rect, alpha.shape):
            raise ValueError(
                f"history step rect {tuple(step.rect)} is outside the mask {alpha.shape}; "
                "is this the mask the history was recorded on?"
            )
        rects = list(step.iter_rects())
        crc = 0
        for r in rects:
            crc = zlib.crc32(np.ascontiguousarray(alpha[r.slices]), crc)
        if crc != (step.crc_after if undo else step.crc_before):
            what = "undo" if undo else "redo"
            raise ValueError(
                f"cannot {what} {step.label!r}: the mask does not match the history "
                "(was it changed without being recorded?)"
            )
        delta = np.frombuffer(zlib.decompress(step.blob), dtype=np.uint8)
        off = 0
        for r in rects:
            n = r.area
            view = alpha[r.slices]
            np.bitwise_xor(view, delta[off : off + n].reshape(r.height, r.width), out=view)
            off += n
