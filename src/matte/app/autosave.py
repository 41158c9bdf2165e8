"""Autosave records of a batch: the open image with its history, and the other finished images.

Plain data in and out (``bytes``, ``str``, dicts), so the page's glue (:mod:`matte.web`) only
converts them to JS, and the round trip is tested under CPython
(``tests/matte/app/test_autosave.py``). The output settings are stored as JSON by
:func:`matte.app.settings.settings_record` and put back by
:func:`matte.app.settings.apply_settings`.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from matte.app.batch import Batch, BatchError, Item
from matte.app.settings import apply_settings, settings_record
from matte.decode import decode
from matte.errors import MatteError
from matte.oplog import restore_edits, saved_ops
from matte.session import EditSession

__all__ = ["BATCH_BUDGET", "Snapshot", "restore", "restore_item", "snapshot", "snapshot_batch"]

#: What the autosave of a batch keeps besides the open image: files plus compressed masks.
BATCH_BUDGET = 200 * 2**20


def _pack(alpha: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(alpha).tobytes(), 1)


def _unpack(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    return np.frombuffer(zlib.decompress(data), np.uint8).reshape(shape).copy()


@dataclass(frozen=True)
class Snapshot:
    """The open image's autosave record (all bytes: a copy each when sent to JS)."""

    name: str
    width: int
    height: int
    file: bytes  # the image file as dropped
    ai: bytes  # zlib of the AI mask (H * W bytes)
    mask: bytes  # zlib of the live mask
    settings: str  # JSON (settings_record)
    ops: bytes | None  # the edit log (matte.oplog.encode_ops): undo and redo after a reload
    ops_note: str | None  # why there is no edit log, when there is none
    background: bytes | None  # the 'image' background's file


def snapshot(batch: Batch, *, background_file: bytes | None = None) -> Snapshot | str:
    """The open image's record, or ``'empty'`` (nothing open) or ``'busy'`` (a stroke or a
    refine preview is in progress: the mask is not a saved state yet, ask again later)."""
    s, item = batch.session, batch.active
    if s is None or item is None:
        return "empty"
    if s.stroke_active or s.previewing is not None:
        return "busy"
    picture = s.settings.background == "image" and background_file is not None
    ops, why = saved_ops(s.ops)
    h, w = s.shape
    return Snapshot(
        name=item.name, width=w, height=h, file=item.data, ai=_pack(s.ai_alpha),
        mask=_pack(s.alpha), settings=json.dumps(settings_record(s.settings,
                                                                 has_picture=picture)),
        ops=ops, ops_note=why, background=background_file if picture else None,
    )


def restore(batch: Batch, *, file: bytes, name: str, ai: bytes, mask: bytes, settings: str,
            ops: bytes | None = None, background: bytes | None = None
            ) -> tuple[EditSession, bool, str | None]:
    """Re-open an autosaved image with its masks, edit history and settings.

    The edit log is replayed onto the AI mask so that undo and redo work as before the reload;
    without it, or when the replay does not give the saved mask exactly, the saved mask comes
    back without history (:func:`matte.oplog.restore_edits`): the mask is never lost.

    Returns
    -------
    (EditSession, bool, str or None)
        The open session, whether the history came back, and why not.

    Raises
    ------
    BatchError
        ``'restore'`` for an unusable record (nothing is added).
    """
    try:
        dec = decode(file, max_pixels=None)
        ai_alpha = _unpack(ai, dec.shape)
        edited = _unpack(mask, dec.shape)
        conf = json.loads(settings)
    except (MatteError, ValueError, zlib.error) as exc:
        raise BatchError("restore",
                         f"The saved session could not be restored ({exc}).") from None
    item = batch.add_done(file, name, dec, ai_alpha, edited)
    sess = batch.activate(item.id)
    history, why = restore_edits(sess, ai_alpha, edited, ops)
    picture = None
    if isinstance(conf, dict) and conf.get("background") == "image" and background:
        try:
            picture = decode(background).rgb
            batch.background = picture
        except MatteError:
            picture = None  # an unreadable picture: a transparent background
    if isinstance(conf, dict):
        apply_settings(sess, conf, picture=picture)  # an older version's: the defaults stay
    return sess, history, why


def snapshot_batch(batch: Batch, *, budget: int = BATCH_BUDGET
                   ) -> tuple[list[dict[str, Any]], list[str], int]:
    """The finished images other than the open one, oldest first, while their files and
    compressed masks fit in ``budget`` bytes: ``(records, skipped names, bytes used)``; each
    record is ``{id, name, width, height, file, ai, mask?}``."""
    records: list[dict[str, Any]] = []
    skipped: list[str] = []
    used = 0
    for item in batch.items.values():
        if item is batch.active or item.alpha is None or item.preview:
            continue
        h, w = item.shape
        ai = _pack(item.alpha)
        mask = None if item.edited is None else _pack(item.edited)
        size = len(item.data) + len(ai) + (len(mask) if mask else 0)
        if used + size > int(budget):
            skipped.append(item.name)
            continue
        used += size
        rec: dict[str, Any] = {"id": item.id, "name": item.name, "width": w, "height": h,
                               "file": item.data, "ai": ai}
        if mask is not None:
            rec["mask"] = mask
        records.append(rec)
    return records, skipped, used


def restore_item(batch: Batch, *, file: bytes, name: str, width: int, height: int, ai: bytes,
                 mask: bytes | None = None) -> Item:
    """Add a finished image of an autosaved batch (not opened).

    Raises
    ------
    BatchError
        ``'restore'`` when the record does not match its file or cannot be read.
    """
    try:
        shape = (int(height), int(width))
        alpha = _unpack(ai, shape)
        edited = None if mask is None else _unpack(mask, shape)
        dec = decode(file, max_pixels=None)
        if dec.shape != shape:
            raise ValueError(f"saved size {width}x{height} does not match the file")
    except (MatteError, ValueError, zlib.error) as exc:
        raise BatchError("restore", f"{name}: could not be restored ({exc}).") from None
    return batch.add_done(file, name, dec, alpha, edited)
