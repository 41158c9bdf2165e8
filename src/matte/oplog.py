"""Compact, exact serialization of a session's edits (:attr:`matte.session.EditSession.ops`).

The autosave keeps the edits as operations so that a reload replays them onto the AI mask
(:meth:`matte.session.EditSession.rebase`) and gets back the same mask *and* the same undo and
redo steps. Replaying must give the same mask bit for bit, so nothing is rounded: every
pointer sample comes back as the same float.

Format (``encode_ops`` / ``decode_ops``)::

    b"MOPS" + version (1 byte, 1) + zlib(body)
    body   = header length (uint32 LE) + header (UTF-8 JSON) + samples + exceptions + blobs
    header = {"done": [[kind, params, n], ...], "undone": [[kind, params, n], ...], "x": k,
              "b": [blob sizes]}

``kind`` is ``'stroke'``, ``'refine'``, ``'reset'`` or ``'mask'``, ``params`` the operation's
keyword parameters (str, bool, int, finite float or None: JSON keeps ints and floats apart and
writes floats with ``repr``, which reads back exactly; a bytes value, the compressed mask of a
``'mask'`` operation, is written as ``{"$b": i}``, its bytes being blob ``i`` at the end of the
body), ``n`` its number of pointer samples. The
samples of all operations, in order (``N`` in all), are written as three float32 planes
(every row, then every column, then every pressure), byte-shuffled (the four byte planes of
the float32 values one after the other: the high bytes of nearby coordinates repeat, so zlib
packs them well). Samples that float32 does not hold exactly (the browser sends the moves as
float32, but the first sample of a stroke is a JavaScript double) are listed after that:
``k`` uint32 LE indices into the planes, then their ``k`` float64 LE values.

Size: about 5-7 bytes per mouse sample after compression (more for a pen's varying pressure),
so a 100-stroke session with 30-200 samples a stroke takes about 20-100 KB (measured in
``tests/matte/test_oplog.py``).
"""

from __future__ import annotations

import json
import math
import numbers
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "KINDS", "MAGIC", "MAX_SAVED", "OpLog", "decode_ops", "encode_ops", "restore_edits",
    "saved_ops",
]

MAGIC = b"MOPS"
_VERSION = 1
KINDS = ("stroke", "refine", "reset", "mask")
"""Operation kinds :func:`encode_ops` accepts (those :class:`~matte.session.EditSession`
records)."""

#: ``(kind, params, samples)`` as in :data:`matte.session.Op`.
Op = tuple[str, dict[str, Any], list[tuple[float, float, float]]]
#: ``(done, undone)`` as :attr:`matte.session.EditSession.ops` gives it.
OpLog = tuple[list[Op], list[Op]]

_MAX_BODY = 1 << 30  # refuse to inflate more than this (a damaged or hostile record)


def _param(name: str, value: object) -> str | bool | int | float | None:
    """A parameter value as JSON keeps it exactly; ValueError otherwise."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return float(value)
    raise ValueError(f"{name}: cannot store {value!r} ({type(value).__name__}) exactly")


def _entries(
    ops: Sequence[Any], which: str, blobs: list[bytes]
) -> tuple[list[list[Any]], list[Any]]:
    """Header entries and the flat sample list of one list of operations (bytes parameters
    are appended to ``blobs`` and written as ``{"$b": index}``)."""
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise ValueError(f"{which}: expected a list of (kind, params, samples), got {ops!r}")
    entries, samples = [], []
    for i, op in enumerate(ops):
        where = f"{which}[{i}]"
        if isinstance(op, (str, bytes)) or not isinstance(op, Sequence) or len(op) != 3:
            raise ValueError(f"{where}: expected (kind, params, samples), got {op!r}")
        kind, params, pts = op
        if kind not in KINDS:
            raise ValueError(f"{where}: unknown kind {kind!r}")
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise ValueError(f"{where}: params must be a dict with str keys, got {params!r}")
        clean: dict[str, Any] = {}
        for k, v in params.items():
            if isinstance(v, (bytes, bytearray, memoryview)):
                clean[k] = {"$b": len(blobs)}
                blobs.append(bytes(v))
            else:
                clean[k] = _param(f"{where} {k}", v)
        if isinstance(pts, (str, bytes)) or not isinstance(pts, Sequence | np.ndarray):
            raise ValueError(f"{where}: samples must be a list of (r, c, pressure)")
        if kind == "stroke" and len(pts) == 0:
            raise ValueError(f"{where}: a stroke needs at least one sample")
        for j, p in enumerate(pts):
            if isinstance(p, (str, bytes)) or not isinstance(p, Sequence | np.ndarray) \
                    or len(p) != 3:
                raise ValueError(f"{where} sample {j}: expected (r, c, pressure), got {p!r}")
            samples.append(p)
        entries.append([kind, clean, len(pts)])
    return entries, samples


def encode_ops(ops: OpLog) -> bytes:
    """Serialize ``(done, undone)`` operations exactly and compactly.

    Parameters
    ----------
    ops : (list of Op, list of Op)
        :attr:`matte.session.EditSession.ops`: each op is ``(kind, params, samples)`` with
        ``kind`` in :data:`KINDS`, ``params`` a dict of str, bool, int, finite float, None or
        bytes values and ``samples`` a list of ``(r, c, pressure)`` finite floats.

    Returns
    -------
    bytes
        The record (see the module docstring); :func:`decode_ops` gives ``ops`` back, equal
        value for value.

    Raises
    ------
    ValueError
        Malformed ``ops``, or a value that cannot be stored exactly (a non-finite float, an
        array parameter...).
    """
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence) or len(ops) != 2:
        raise ValueError(f"ops: expected (done, undone), got {type(ops).__name__}")
    blobs: list[bytes] = []
    done, s_done = _entries(ops[0], "done", blobs)
    undone, s_undone = _entries(ops[1], "undone", blobs)
    flat = s_done + s_undone
    try:
        arr = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"samples: expected numbers ({exc})") from None
    if not np.isfinite(arr).all():
        raise ValueError("samples: expected finite numbers")
    planes = np.ascontiguousarray(arr.T).reshape(-1)  # rows, then cols, then pressures
    with np.errstate(over="ignore"):
        f32 = planes.astype("<f4")
    inexact = np.flatnonzero(f32.astype(np.float64) != planes)
    header = json.dumps({"done": done, "undone": undone, "x": int(inexact.size),
                         "b": [len(b) for b in blobs]},
                        separators=(",", ":"), allow_nan=False).encode()
    shuffled = f32.view(np.uint8).reshape(-1, 4).T.tobytes()
    body = b"".join((
        struct.pack("<I", len(header)), header, shuffled,
        inexact.astype("<u4").tobytes(), planes[inexact].astype("<f8").tobytes(), *blobs,
    ))
    return MAGIC + bytes([_VERSION]) + zlib.compress(body, 9)


def _read_entries(
    raw: object, which: str, blobs: list[bytes]
) -> list[tuple[str, dict[str, Any], int]]:
    if not isinstance(raw, list):
        raise ValueError(f"{which}: expected a list")
    out = []
    for i, e in enumerate(raw):
        if (
            not isinstance(e, list)
            or len(e) != 3
            or e[0] not in KINDS
            or not isinstance(e[1], dict)
            or isinstance(e[2], bool)
            or not isinstance(e[2], int)
            or e[2] < (1 if e[0] == "stroke" else 0)
        ):
            raise ValueError(f"{which}[{i}]: malformed entry {e!r}")
        params = {}
        for k, v in e[1].items():
            if isinstance(v, dict):
                j = v.get("$b")
                if len(v) != 1 or isinstance(j, bool) or not isinstance(j, int) \
                        or not 0 <= j < len(blobs):
                    raise ValueError(f"{which}[{i}] {k}: malformed value {v!r}")
                params[k] = blobs[j]
            else:
                params[k] = _param(f"{which}[{i}] {k}", v)
        out.append((e[0], params, e[2]))
    return out


def decode_ops(data: bytes) -> OpLog:
    """Read a record written by :func:`encode_ops`.

    Parameters
    ----------
    data : bytes
        The record.

    Returns
    -------
    (list of Op, list of Op)
        ``(done, undone)``: ``(kind, params, samples)`` tuples, samples as lists of
        ``(r, c, pressure)`` float tuples, ready for :meth:`matte.session.EditSession.rebase`.

    Raises
    ------
    ValueError
        Not such a record, another version, or damaged.
    """
    data = bytes(data)
    if data[:4] != MAGIC or len(data) < 5:
        raise ValueError("ops: not an edit log")
    if data[4] != _VERSION:
        raise ValueError(f"ops: unsupported edit log version {data[4]}")
    try:
        z = zlib.decompressobj()
        body = z.decompress(data[5:], _MAX_BODY)
        if z.unconsumed_tail or z.unused_data or not z.eof:
            raise ValueError("ops: truncated or oversized edit log")
        (hlen,) = struct.unpack_from("<I", body, 0)
        header = json.loads(body[4 : 4 + hlen].decode())
    except (zlib.error, struct.error, ValueError) as exc:  # ValueError: JSON, UTF-8, ours
        raise ValueError(f"ops: damaged edit log ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError("ops: damaged edit log header")
    k, sizes = header.get("x"), header.get("b")
    if (
        isinstance(k, bool)
        or not isinstance(k, int)
        or k < 0
        or not isinstance(sizes, list)
        or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in sizes)
    ):
        raise ValueError("ops: damaged edit log header")
    pos = len(body) - sum(sizes)
    blobs = []
    for size in sizes:
        blobs.append(body[pos : pos + size])
        pos += size
    done = _read_entries(header.get("done"), "done", blobs)
    undone = _read_entries(header.get("undone"), "undone", blobs)
    n = sum(e[2] for e in done) + sum(e[2] for e in undone)
    pos = 4 + hlen
    if len(body) != pos + 12 * n + 12 * k + sum(sizes):
        raise ValueError("ops: edit log length does not match its header")
    raw = np.frombuffer(body, np.uint8, 12 * n, pos).reshape(4, -1).T
    planes = np.ascontiguousarray(raw).view("<f4").reshape(-1).astype(np.float64)
    pos += 12 * n
    idx = np.frombuffer(body, "<u4", k, pos)
    vals = np.frombuffer(body, "<f8", k, pos + 4 * k)
    if k and int(idx.max()) >= planes.size:
        raise ValueError("ops: damaged edit log")
    planes[idx] = vals
    if not np.isfinite(planes).all():
        raise ValueError("ops: damaged edit log (non-finite sample)")
    samples = planes.reshape(3, -1).T.tolist()

    def build(entries: list[tuple[str, dict[str, Any], int]], start: int) -> list[Op]:
        ops: list[Op] = []
        for kind, params, count in entries:
            ops.append((kind, params, [tuple(p) for p in samples[start : start + count]]))
            start += count
        return ops

    first = build(done, 0)
    return first, build(undone, sum(e[2] for e in done))


#: Largest edit log the autosave keeps; a bigger one is left out (the mask is still saved).
MAX_SAVED = 8 * 2**20


def saved_ops(ops: OpLog, *, limit: int = MAX_SAVED) -> tuple[bytes | None, str | None]:
    """The edit log to autosave, or why there is none.

    Parameters
    ----------
    ops : (list of Op, list of Op)
        :attr:`matte.session.EditSession.ops`.
    limit : int, default MAX_SAVED
        Largest record kept, in bytes.

    Returns
    -------
    (bytes or None, str or None)
        ``(record, None)``, or ``(None, reason)`` when the log cannot be stored exactly or is
        over ``limit`` (the autosave then keeps the edited mask only: no undo after a reload).
    """
    try:
        data = encode_ops(ops)
    except ValueError as exc:
        return None, f"the edit history cannot be saved ({exc}); saving the mask only"
    if len(data) > limit:
        return None, (f"the edit history is {len(data) / 2**20:.1f} MB, over the "
                      f"{limit / 2**20:.0f} MB autosave limit; saving the mask only")
    return data, None


def restore_edits(session: Any, ai: np.ndarray, edited: np.ndarray,
                  data: bytes | None) -> tuple[bool, str | None]:
    """Put autosaved edits back on a session: replayed with their history, else the mask.

    The edit log is replayed onto ``ai`` (:meth:`matte.session.EditSession.rebase`, which
    rebuilds the undo and redo steps) and the result is checked against the saved mask. When
    there is no log (an older autosave, or one over :data:`MAX_SAVED`), it cannot be read or
    replayed, or the replay does not give ``edited`` exactly, the session gets ``ai`` with no
    history and ``edited`` as its live mask instead: the user's mask is never lost.

    Parameters
    ----------
    session : matte.session.EditSession
        The session of the restored image.
    ai : ndarray of shape (H, W), dtype uint8
        The saved AI mask.
    edited : ndarray of shape (H, W), dtype uint8
        The saved live mask.
    data : bytes or None
        The saved edit log (:func:`encode_ops`).

    Returns
    -------
    (bool, str or None)
        ``(True, None)`` when the history came back, else ``(False, reason)`` (``reason`` is
        None when there simply was no log).
    """
    reason = None
    if data is not None:
        try:
            session.rebase(ai, ops=decode_ops(data))
            if np.array_equal(session.alpha, edited):
                return True, None
            reason = "replaying the saved edits did not give the saved mask"
        except Exception as exc:  # whatever went wrong, fall back to the saved mask
            reason = f"the saved edits could not be replayed ({type(exc).__name__}: {exc})"
    session.rebase(ai, ops=([], []))
    session.load_mask(edited)
    return False, reason
