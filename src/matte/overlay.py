"""Refine-mode views, rendered per viewport: the tinted overlay and the cut-out preview.

The editor shows the original image with a tint over what is removed, proportional to how
removed each pixel is::

    w   = opacity * (1 - alpha / 255)          # continuous: soft edges stay visible
    out = image * (1 - w) + tint * w

Both renderers draw only a source rectangle ``rect`` (clipped to the image) at a display
``scale``; the output is ``round(rect.height * scale) x round(rect.width * scale)`` pixels
(:func:`output_size`) and optionally only a sub-``window`` of it, so a brush stroke redraws just
the part of the visible viewport it changed (:func:`output_window` maps the stroke's dirty
source rectangle to that window). A window render is bit-identical to the same crop of the
full render, so partial redraws leave no seams.

Sampling
--------
Output pixel ``i`` of an axis with ``n`` source and ``m`` output pixels covers source pixels
``[i*n // m, (i+1)*n // m)``.

* ``sampling="area"`` (default): when downscaling (``m < n``) each output pixel is the
  rounded mean of that box (image and alpha averaged separately, then tinted: what drawing a
  reduced tint layer over a reduced image would show; the cut-out view averages premultiplied
  colour). Thin hair and soft edges keep their true coverage instead of flickering while
  panning. Cost is proportional to the source rectangle: a 1200 x 800 output at scale 0.3
  (a 4000 x 2666 source) takes about 25 ms (overlay) / 37 ms (cut-out) under CPython and
  55-90 ms / 75-125 ms in Pyodide (Node 20, shared 2-core machine).
* ``sampling="nearest"``: the pixel at the box centre, ``(2i+1)*n // (2m)``. Cost is
  proportional to the output only: 1200 x 800 takes about 6 ms under CPython and 5-25 ms in
  Pyodide at any scale. Use it while dragging/zooming and redraw with ``"area"`` when the
  view settles; brush strokes redraw only their small window (well under 1 ms).

When enlarging (``m >= n``) both modes are nearest-neighbour: zoomed-in pixels stay crisp, which
is what one wants when refining an edge. At scale 1 the output is exactly the source.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np

from matte.composite import (
    ColorLike,
    _check_alpha,
    _check_image,
    _check_out,
    _finite,
    _mix,
    _solid,
)
from matte.geometry import Rect

__all__ = [
    "MAX_OUTPUT_PIXELS",
    "output_size",
    "output_window",
    "render_cutout",
    "render_overlay",
]

Sampling = Literal["area", "nearest"]

MAX_OUTPUT_PIXELS = 1 << 26
"""Largest output (64 MP) a render may produce; larger requests are refused as a likely bug."""

_BAND_ELEMENTS = 1 << 21  # source elements gathered per band when averaging


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _as_rect(rect: Rect | Sequence[int], name: str = "rect") -> Rect:
    if isinstance(rect, Rect):
        return rect
    if (
        isinstance(rect, Sequence)
        and len(rect) == 4
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in rect)
    ):
        return Rect(*(int(v) for v in rect))
    raise ValueError(f"{name}: expected a Rect(r0, c0, r1, c1) of ints, got {rect!r}")


def _scale(scale: object) -> float:
    s = _finite(scale, "scale", lo=0.0)
    if s <= 0:
        raise ValueError(f"scale: expected a number > 0, got {scale!r}")
    return s


def output_size(rect: Rect, scale: float) -> tuple[int, int]:
    """Output ``(height, width)`` of rendering ``rect`` at ``scale``.

    Parameters
    ----------
    rect : Rect
        Source rectangle, already clipped to the image (the renderers clip it first).
    scale : float
        Display scale (> 0).

    Returns
    -------
    (int, int)
        ``floor(rect.height * scale + 0.5)``, ``floor(rect.width * scale + 0.5)`` (JavaScript's
        ``Math.round``).
    """
    rect = _as_rect(rect)
    s = _scale(scale)
    return _round_half_up(rect.height * s), _round_half_up(rect.width * s)


def _axis(n: int, m: int, lo: int, hi: int, area: bool) -> tuple[np.ndarray, np.ndarray]:
    """Source box ``(starts, lengths)`` (relative to the rect) of output pixels ``lo..hi-1``.

    Computed in int64, returned as ``np.intp`` (32-bit on wasm32/Pyodide, where int64 index
    arrays are refused by some functions and need a conversion by others).
    """
    i = np.arange(lo, hi, dtype=np.int64)
    if area and m < n:
        starts = (i * n) // m
        lens = (i + 1) * n // m - starts
    else:
        starts, lens = ((2 * i + 1) * n) // (2 * m), np.ones(hi - lo, np.int64)
    return starts.astype(np.intp), lens.astype(np.intp)


def output_window(
    dirty: Rect,
    *,
    rect: Rect,
    scale: float,
    shape: tuple[int, ...],
    sampling: Sampling = "area",
) -> Rect:
    """Output pixels of a render of ``rect`` that depend on source pixels in ``dirty``.

    Parameters
    ----------
    dirty : Rect
        Changed source rectangle (e.g. a brush stroke's dirty rectangle).
    rect, scale, sampling
        As given to :func:`render_overlay` / :func:`render_cutout`.
    shape : tuple
        The image's shape ``(H, W, ...)`` (to clip ``rect`` as the renderers do).

    Returns
    -------
    Rect
        Window in output pixel coordinates (possibly empty) to pass as ``window=``; exact, not
        padded.
    """
    dirty = _as_rect(dirty, "dirty")
    src = _as_rect(rect).clip(shape)
    oh, ow = output_size(src, scale)
    area = _sampling(sampling)
    bounds = []
    for n, m, d0, d1 in (
        (src.height, oh, dirty.r0 - src.r0, dirty.r1 - src.r0),
        (src.width, ow, dirty.c0 - src.c0, dirty.c1 - src.c0),
    ):
        if m == 0 or d1 <= d0:
            bounds.append((0, 0))
            continue
        starts, lens = _axis(n, m, 0, m, area)
        lo = int(np.searchsorted(starts + lens, d0, side="right"))
        hi = int(np.searchsorted(starts, d1, side="left"))
        bounds.append((lo, max(lo, hi)))
    return Rect(bounds[0][0], bounds[1][0], bounds[0][1], bounds[1][1])


def _sampling(sampling: object) -> bool:
    if sampling not in ("area", "nearest"):
        raise ValueError(f"sampling: expected 'area' or 'nearest', got {sampling!r}")
    return sampling == "area"


def _plan(
    image: np.ndarray,
    alpha: np.ndarray,
    rect: Rect,
    scale: float,
    sampling: object,
    window: Rect | None,
) -> tuple[Rect, bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate; return the output window, whether any axis averages boxes (decided for the
    whole render, so a window render takes the same path as the full one) and the absolute
    source boxes ``(row starts, row lengths, col starts, col lengths)`` of the window."""
    _check_image(image)
    _check_alpha(alpha, image.shape)
    src = _as_rect(rect).clip(image.shape)
    area = _sampling(sampling)
    oh, ow = output_size(src, scale)
    if oh * ow > MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"scale: rendering {src} at {scale} gives {oh}x{ow} px, more than "
            f"{MAX_OUTPUT_PIXELS}; render only the visible viewport"
        )
    win = Rect(0, 0, oh, ow) if window is None else _as_rect(window, "window").clip((oh, ow))
    if win.empty:
        win = Rect(win.r0, win.c0, max(win.r0, win.r1), max(win.c0, win.c1))
        z = np.zeros(0, np.intp)
        return win, False, z, z, z, z
    averaging = area and (oh < src.height or ow < src.width)
    rs, rl = _axis(src.height, oh, win.r0, win.r1, area)
    cs, cl = _axis(src.width, ow, win.c0, win.c1, area)
    return win, averaging, rs + src.r0, rl, cs + src.c0, cl


def _run(ix: np.ndarray) -> np.ndarray | slice:
    """``ix`` as a slice when it is a run of consecutive indices (scale 1), else unchanged."""
    if len(ix) and int(ix[-1]) - int(ix[0]) == len(ix) - 1 and bool((np.diff(ix) == 1).all()):
        return slice(int(ix[0]), int(ix[-1]) + 1)
    return ix


def _store_packed(out: np.ndarray, packed: np.ndarray) -> None:
    """Write (h, w) uint32 RGBA words into (h, w, 4) uint8 ``out`` (as words when possible:
    a byte-wise copy from a reinterpreted array is ~20x slower)."""
    if out.strides[-1] == 1 and out.strides[-2] == 4:
        out.view(np.uint32)[..., 0] = packed
    else:
        out[...] = packed[..., None].view(np.uint8)


def _gather(src: np.ndarray, rs: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """``src[rs][:, cs]`` for (H, W, C) ``src``, reading only the needed column span.

    Fancy indexing throughout, never ``ndarray.take``: ``take`` first copies a non-contiguous
    array whole, and along axis 1 it is about 8x slower than indexing in Pyodide.
    """
    c_lo = int(cs[0])
    sub = src[:, c_lo : int(cs[-1]) + 1]
    rows = sub[_run(rs)]
    nr, wc, c = rows.shape
    cols = _run(cs - c_lo)
    if isinstance(cols, slice):
        return rows[:, cols]
    idx = (cols[:, None] * c + np.arange(c)).ravel()
    return rows.reshape(nr, wc * c)[:, idx].reshape(nr, len(cs), c)


def _col_sums(acc: np.ndarray, cs: np.ndarray, cl: np.ndarray) -> np.ndarray:
    """Sums of (n, wc, C) ``acc`` over column boxes ``[cs, cs+cl)`` (relative to acc)."""
    n, wc, c = acc.shape
    flat = acc.reshape(n, wc * c)
    base = (cs[:, None] * c + np.arange(c)).ravel()
    k = int(cl.min())
    res = flat[:, base]  # fancy indexing: ndarray.take(axis=1) is ~8x slower in Pyodide
    for j in range(1, k):
        res += flat[:, base + j * c]
    extra = np.flatnonzero(np.repeat(cl > k, c))
    if extra.size:
        res[:, extra] += flat[:, base[extra] + k * c]
    return res.reshape(n, len(cs), c)


def _box_sums(
    image: np.ndarray,
    alpha: np.ndarray,
    rs: np.ndarray,
    rl: np.ndarray,
    cs: np.ndarray,
    cl: np.ndarray,
    *,
    premultiply: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Sums of image (or image * alpha) and alpha over boxes ``[rs, rs+rl) x [cs, cs+cl)``.

    Returns ``(nr, nc, 3)`` and ``(nr, nc)`` integer arrays. Boxes along an axis have two
    lengths at most (k and k+1), so each sum is k (+1) gathers of whole source rows added
    together (memcpy-speed, SIMD adds), then the same over columns on the row sums. Output
    rows go in bands to keep the temporaries around a few MB.
    """
    c_lo, c_hi = int(cs[0]), int(cs[-1] + cl[-1])
    sub_i, sub_a = image[:, c_lo:c_hi], alpha[:, c_lo:c_hi]
    wc = c_hi - c_lo
    area = int(rl.max()) * int(cl.max())
    cap_i = area * 255 * (255 if premultiply else 1)
    dt_i = np.uint16 if cap_i <= 0xFFFF else np.uint32 if cap_i <= 0xFFFFFFFF else np.uint64
    dt_a = np.uint16 if area * 255 <= 0xFFFF else np.uint32
    nr, nc = len(rs), len(cs)
    sum_i = np.empty((nr, nc, 3), dt_i)
    sum_a = np.empty((nr, nc), dt_a)
    kr = int(rl.min())
    rcs = cs - c_lo
    band = max(1, _BAND_ELEMENTS // (int(rl.max()) * wc * 4))

    def terms(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows_i, rows_a = sub_i[sel], sub_a[sel]  # fancy indexing copies just these rows
        if not premultiply:
            return rows_i, rows_a
        prod = np.empty(rows_i.shape, np.uint16)
        for c in range(3):
            prod[..., c] = rows_a
        prod *= rows_i
        return prod, rows_a

    for b0 in range(0, nr, band):
        brs, brl = rs[b0 : b0 + band], rl[b0 : b0 + band]
        n = len(brs)
        ti, ta = terms(brs)
        if kr == 1:
            acc_i, acc_a = ti.astype(dt_i), ta.astype(dt_a)
        else:  # first two rows added straight into the wide type: no zero fill, one pass less
            ti1, ta1 = terms(brs + 1)
            acc_i, acc_a = np.add(ti, ti1, dtype=dt_i), np.add(ta, ta1, dtype=dt_a)
        for j in range(2, kr):
            ti, ta = terms(brs + j)
            acc_i += ti
            acc_a += ta
        extra = np.flatnonzero(brl > kr)
        if extra.size:
            ti, ta = terms(brs[extra] + kr)
            acc_i[extra] += ti
            acc_a[extra] += ta
        sum_i[b0 : b0 + n] = _col_sums(acc_i, rcs, cl)
        sum_a[b0 : b0 + n] = _col_sums(acc_a[..., None], rcs, cl)[..., 0]
    return sum_i, sum_a


def _div_round(num: np.ndarray, den: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``floor(num / den + 0.5)`` for non-negative integer ``num`` and ``den > 0``, as float.

    IEEE division is correctly rounded, so exact .5 ties stay ties, and other quotients are at
    least ``1 / (2 den)`` from one, far more than the rounding error: this equals the integer
    ``(num + den // 2) // den`` and is several times faster than numpy's integer division.
    float32 is exact enough while ``num < 2**24`` and ``den <= 4096`` (error < 3e-5 < 1/8192).
    """
    q = np.divide(num, den, dtype=dtype)
    q += 0.5
    return np.floor(q, out=q)


def _counts(rl: np.ndarray, cl: np.ndarray, dtype: type) -> np.ndarray:
    return np.multiply.outer(rl, cl).astype(dtype)


def render_overlay(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    rect: Rect,
    scale: float,
    tint: ColorLike = (255, 0, 0),
    opacity: float = 0.5,
    sampling: Sampling = "area",
    window: Rect | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Render the refine overlay (image tinted by how removed each pixel is) for a viewport.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        Original RGB image.
    alpha : ndarray of shape (H, W), dtype uint8
        Current matte, 255 = keep.
    rect : Rect
        Source rectangle shown (clipped to the image).
    scale : float
        Display scale, > 0; output size is :func:`output_size` of the clipped rect.
    tint : ColorLike
        Colour of removed areas.
    opacity : float
        Tint strength in [0, 1] where ``alpha == 0``; it falls linearly to 0 at ``alpha == 255``
        (``w = round(opacity*255) * (255 - alpha) / 255`` in 1/255 steps, so neighbouring alpha
        values never differ by more than one step).
    sampling : {'area', 'nearest'}
        Downscaling filter, see the module docstring.
    window : Rect, optional
        Sub-rectangle of the output, in output pixels, to render (default: all of it); the
        result equals that crop of the full render.
    out : ndarray of shape (h, w, 4), dtype uint8, optional
        Destination for the window.

    Returns
    -------
    ndarray of shape (h, w, 4), dtype uint8
        Opaque RGBA (A = 255), ready for ``ImageData``; (h, w) is the window's size.
    """
    rgb = _solid(tint, "tint")
    k = round(_finite(opacity, "opacity", lo=0.0, hi=1.0) * 255)
    win, averaging, rs, rl, cs, cl = _plan(image, alpha, rect, scale, sampling, window)
    out = _check_out(out, (win.height, win.width, 4))
    if out.size == 0:
        return out
    lut = ((k * (255 - np.arange(256)) + 127) // 255).astype(np.uint8)
    if not averaging:
        r_lo, r_hi = int(rs.min()), int(rs.max()) + 1
        c_lo, c_hi = int(cs.min()), int(cs.max()) + 1
        if (r_hi - r_lo) * (c_hi - c_lo) < len(rs) * len(cs):
            # Enlarging: tint the (smaller) source once, then replicate packed 32-bit pixels.
            src = np.empty((r_hi - r_lo, c_hi - c_lo, 4), np.uint8)
            _mix(rgb, lut[alpha[r_lo:r_hi, c_lo:c_hi]], image[r_lo:r_hi, c_lo:c_hi], src)
            src[..., 3] = 255
            packed = src.view(np.uint32)[..., 0]
            _store_packed(out, packed[rs - r_lo][:, cs - c_lo])
            return out
        img = _gather(image, rs, cs)
        a = _gather(alpha[..., None], rs, cs)[..., 0]
    else:
        sum_i, sum_a = _box_sums(image, alpha, rs, rl, cs, cl, premultiply=False)
        ft = np.float32 if int(rl.max()) * int(cl.max()) <= 4096 else np.float64
        cnt = _counts(rl, cl, ft)
        img = np.empty((len(rs), len(cs), 3), np.uint8)
        for c in range(3):
            img[..., c] = _div_round(sum_i[..., c], cnt, ft)
        a = _div_round(sum_a, cnt, ft).astype(np.uint8)
    _mix(rgb, lut[a], img, out)
    out[..., 3] = 255
    return out


def render_cutout(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    rect: Rect,
    scale: float,
    sampling: Sampling = "area",
    window: Rect | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Render the cut-out (result view) for a viewport, for drawing over a CSS checkerboard.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        Original RGB image.
    alpha : ndarray of shape (H, W), dtype uint8
        Current matte, 255 = keep.
    rect, scale, sampling, window
        As in :func:`render_overlay`. Area averaging weights colour by alpha (premultiplied),
        so fully transparent pixels do not darken or tint the edges; an all-transparent box
        gives RGBA (0, 0, 0, 0).
    out : ndarray of shape (h, w, 4), dtype uint8, optional
        Destination for the window.

    Returns
    -------
    ndarray of shape (h, w, 4), dtype uint8
        Straight-alpha RGBA (``ImageData`` convention). At scale 1 it equals
        ``cutout(image, alpha)[rect]`` exactly.
    """
    win, averaging, rs, rl, cs, cl = _plan(image, alpha, rect, scale, sampling, window)
    out = _check_out(out, (win.height, win.width, 4))
    if out.size == 0:
        return out
    if not averaging:
        r_lo, r_hi = int(rs.min()), int(rs.max()) + 1
        c_lo, c_hi = int(cs.min()), int(cs.max()) + 1
        if (r_hi - r_lo) * (c_hi - c_lo) < len(rs) * len(cs):
            src = np.empty((r_hi - r_lo, c_hi - c_lo, 4), np.uint8)
            for c in range(3):
                src[..., c] = image[r_lo:r_hi, c_lo:c_hi, c]
            src[..., 3] = alpha[r_lo:r_hi, c_lo:c_hi]
            packed = src.view(np.uint32)[..., 0]
            _store_packed(out, packed[rs - r_lo][:, cs - c_lo])
            return out
        rgb = _gather(image, rs, cs)
        for c in range(3):  # per channel: much faster than out[..., :3] = rgb
            out[..., c] = rgb[..., c]
        out[..., 3] = _gather(alpha[..., None], rs, cs)[..., 0]
        return out
    sum_i, sum_a = _box_sums(image, alpha, rs, rl, cs, cl, premultiply=True)
    den = np.maximum(sum_a, 1)
    for c in range(3):
        out[..., c] = _div_round(sum_i[..., c], den)
    out[..., 3] = _div_round(sum_a, _counts(rl, cl, np.float64))
    return out
