"""Brush rasterization on an alpha mask.

The mask is ``alpha``: an ``(H, W)`` ``uint8`` array where 255 keeps a pixel (foreground) and 0
removes it. A brush moves pixels toward 255 (``mode="restore"``) or toward 0 (``mode="erase"``).
Painting is done in place and every painting call returns the dirty :class:`~matte.geometry.Rect`
it touched, clipped to the image (:data:`~matte.geometry.EMPTY` when nothing was touched); no
pixel outside that rectangle is ever written.

Coordinates
-----------
Positions are continuous ``(row, col)`` image coordinates: pixel ``(r, c)`` covers
``[r, r + 1) x [c, c + 1)`` and its center is ``(r + 0.5, c + 0.5)``. A pointer position mapped
into image pixels can be passed as is; positions outside the image are allowed.

Brush shape
-----------
A dab is round. Its coverage at distance ``d`` from its center is
``smoothstep(clip((outer - d) / width, 0, 1))`` where, with ``soft = (1 - hardness) * radius``,

* ``soft >= 1``: ``outer = radius`` and ``width = soft`` (full coverage inside the core
  ``hardness * radius``, a smooth falloff to 0 at ``radius``);
* ``soft < 1``: ``width = 1`` and ``outer = radius + 0.5 * (1 - soft)``, so ``hardness = 1`` is
  a hard edge anti-aliased over one pixel centered on ``radius``.

See :func:`brush_profile`.

Strokes
-------
A :class:`Stroke` joins pointer samples with dabs at an even spacing along the path (default
``max(0.5, radius / 4)``), carrying the leftover distance across segments, so fast pointer moves
leave no gaps and spacing does not depend on how the path was split into events. Within one
stroke dabs do not accumulate: each touched pixel ends at ::

    base + (target - base) * strength * max(coverage of every dab of the stroke)

where ``base`` is its value when the stroke began and ``target`` is 255 (restore) or 0 (erase).
A 50 % stroke painted slowly over itself therefore stays at 50 %.

Per-stroke buffer
~~~~~~~~~~~~~~~~~
The stroke keeps ``base`` in a sparse grid of ``TILE x TILE`` ``uint8`` tiles, copied from the
mask the first time the stroke touches a tile, so memory and time are proportional to the painted
area, never to the image. A separate float coverage buffer is not needed: inside one stroke a
pixel only moves monotonically toward ``target``, and rounding is monotone, so
``round(base + D * max(c_old, c_new)) == max(round(base + D * c_old), round(base + D * c_new))``
(``min`` for erase, where ``D < 0``). The current mask value therefore *is* the max-combined
coverage, stored at the mask's precision, and the result is bit-identical to keeping a float32
coverage buffer. The same tiles hold the "before" pixels that :mod:`matte.history` needs to undo
the stroke (:meth:`Stroke.patches`).

Everything is vectorized numpy (no per-pixel Python loops) and runs the same under CPython and
Pyodide.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from matte.geometry import EMPTY, Rect

__all__ = [
    "MODES",
    "TILE",
    "Mode",
    "Stroke",
    "brush_profile",
    "default_spacing",
    "paint_segment",
]

Mode = Literal["restore", "erase"]
MODES: tuple[str, ...] = ("restore", "erase")
"""Valid brush modes: ``"restore"`` moves pixels toward 255, ``"erase"`` toward 0."""

TILE = 64
"""Side of the square tiles in which a stroke keeps the mask values it started from."""

_MIN_SPACING = 0.5
_EPS = 1e-9  # tolerance, in spacings, for a dab falling exactly on a segment's end
_MIN_CHUNK = 64.0  # dabs are rasterized in runs about max(2 * outer, this) px long

AlphaArray = npt.NDArray[np.uint8]


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _check_alpha(alpha: object) -> None:
    if not isinstance(alpha, np.ndarray):
        raise TypeError(f"alpha must be a numpy array, got {type(alpha).__name__}")
    if alpha.dtype != np.uint8:
        raise TypeError(f"alpha must have dtype uint8, got {alpha.dtype}")
    if alpha.ndim != 2:
        raise ValueError(f"alpha must be 2-D (H, W), got shape {alpha.shape}")
    if not alpha.flags.writeable:
        raise ValueError("alpha must be writeable (the brush paints in place)")


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    return v


def _check_radius(radius: object) -> float:
    v = _check_number("radius", radius)
    if v <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    return v


def _check_hardness(hardness: object) -> float:
    v = _check_number("hardness", hardness)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"hardness must be in [0, 1], got {hardness}")
    return v


def _check_strength(strength: object) -> float:
    v = _check_number("strength", strength)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    return v


def _check_pressure(pressure: object) -> float:
    v = _check_number("pressure", pressure)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"pressure must be in [0, 1], got {pressure}")
    return v


def _check_mode(mode: object) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be 'restore' or 'erase', got {mode!r}")
    return str(mode)


def _check_spacing(spacing: object, radius: float) -> float:
    if spacing is None:
        return default_spacing(radius)
    v = _check_number("spacing", spacing)
    if v <= 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    return v


def _check_point(name: str, r: object, c: object) -> tuple[float, float]:
    return _check_number(f"{name} row", r), _check_number(f"{name} col", c)


# --------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------


def default_spacing(radius: float) -> float:
    """Default distance between dab centers: ``max(0.5, radius / 4)`` px."""
    return max(_MIN_SPACING, 0.25 * float(radius))


def _profile(radius: float, hardness: float) -> tuple[float, float]:
    """``(outer, width)`` of the coverage ramp; see the module docstring."""
    soft = (1.0 - hardness) * radius
    if soft >= 1.0:
        return radius, soft
    return radius + 0.5 * (1.0 - soft), 1.0


def _coverage_from_d2(d2: np.ndarray, outer: float, width: float) -> np.ndarray:
    """Coverage for squared distances ``d2`` (float32), computed in place in ``d2``."""
    t = np.sqrt(d2, out=d2)
    np.subtract(np.float32(outer), t, out=t)
    t *= np.float32(1.0 / width)
    np.clip(t, 0.0, 1.0, out=t)
    s = t * np.float32(-2.0)
    s += np.float32(3.0)
    s *= t
    s *= t
    return s


def brush_profile(
    distance: npt.ArrayLike, *, radius: float, hardness: float = 1.0
) -> npt.NDArray[np.float32]:
    """Coverage of one dab as a function of the distance from its center.

    Parameters
    ----------
    distance : array_like of float, any shape
        Distances in pixels (>= 0).
    radius : float
        Brush radius in pixels, > 0.
    hardness : float, default 1.0
        In [0, 1]. 1 is a hard edge anti-aliased over about one pixel; lower values grow a
        smooth (smoothstep) falloff from the core ``hardness * radius`` out to ``radius``.

    Returns
    -------
    ndarray of float32, same shape as `distance`
        Coverage in [0, 1]; 0 at and beyond the outer edge.
    """
    radius = _check_radius(radius)
    hardness = _check_hardness(hardness)
    outer, width = _profile(radius, hardness)
    d = np.array(distance, dtype=np.float32, ndmin=1)
    out = _coverage_from_d2(np.square(d), outer, width)
    return out.reshape(np.shape(distance))


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def _clip_line(
    p: tuple[float, float], u: tuple[float, float], length: float, box: tuple[float, ...]
) -> tuple[float, float] | None:
    """Arc-length interval ``[t0, t1]`` of ``p + t * u``, ``0 <= t <= length``, inside ``box``.

    ``box`` is ``(rmin, cmin, rmax, cmax)``; Liang-Barsky clipping. ``None`` when outside.
    """
    t0, t1 = 0.0, length
    for pos, d, lo, hi in ((p[0], u[0], box[0], box[2]), (p[1], u[1], box[1], box[3])):
        if d == 0.0:
            if pos < lo or pos > hi:
                return None
            continue
        a, b = (lo - pos) / d, (hi - pos) / d
        if a > b:
            a, b = b, a
        t0, t1 = max(t0, a), min(t1, b)
        if t0 > t1:
            return None
    return t0, t1


def _clamp(k: float) -> float:
    """A dab index (float, maybe huge or infinite) clamped to a range ``int()`` can take."""
    return min(max(k, -1.0), 2.0**53)


# --------------------------------------------------------------------------------------------
# Stroke
# --------------------------------------------------------------------------------------------


class Stroke:
    """One brush stroke on a mask: pointer samples joined by evenly spaced dabs.

    Parameters
    ----------
    alpha : ndarray of shape (H, W), dtype uint8
        The mask, painted in place (255 keeps, 0 removes). It must not be modified by anything
        else while the stroke is active.
    radius : float
        Brush radius in pixels, > 0.
    mode : {"restore", "erase"}, default "restore"
        Move pixels toward 255 (restore) or toward 0 (erase).
    hardness : float, default 1.0
        Edge hardness in [0, 1]; see :func:`brush_profile`.
    strength : float, default 1.0
        Opacity in (0, 1]: the most a pixel moves toward the target in this stroke, as a
        fraction of its distance to the target when the stroke began.
    spacing : float, optional
        Distance between dab centers in pixels, > 0; default ``max(0.5, radius / 4)``.

    Notes
    -----
    Use ``begin`` once, ``extend`` for every further pointer sample and ``end`` when the pointer
    is released; each returns the rectangle it touched. After ``end`` the stroke still holds the
    pixels it started from (:meth:`patches`, :meth:`before_patch`) for
    :meth:`matte.history.History.record_stroke`. Calling ``begin`` again starts a new stroke on
    the same mask and forgets them.

    Pressure (0..1, default 1) scales the coverage (opacity) of the dabs, interpolated linearly
    between samples; it does not change the size.

    Examples
    --------
    >>> alpha = np.zeros((100, 100), np.uint8)
    >>> s = Stroke(alpha, radius=10, mode="restore")
    >>> s.begin(50, 20)
    Rect(r0=40, c0=10, r1=60, c1=30)
    >>> s.extend(50, 80)
    Rect(r0=40, c0=12, r1=60, c1=90)
    >>> s.end()
    Rect(r0=40, c0=10, r1=60, c1=90)
    """

    def __init__(
        self,
        alpha: AlphaArray,
        *,
        radius: float,
        mode: Mode = "restore",
        hardness: float = 1.0,
        strength: float = 1.0,
        spacing: float | None = None,
    ) -> None:
        _check_alpha(alpha)
        self._radius = _check_radius(radius)
        self._mode = _check_mode(mode)
        self._hardness = _check_hardness(hardness)
        self._strength = _check_strength(strength)
        self._spacing = _check_spacing(spacing, self._radius)
        self._alpha = alpha
        self._outer, self._width = _profile(self._radius, self._hardness)
        self._chunk = max(2.0 * self._outer, _MIN_CHUNK)
        self._active = False
        self._pos: tuple[float, float] | None = None
        self._pressure = 1.0
        self._to_next = 0.0
        self._tiles: dict[tuple[int, int], AlphaArray] = {}
        self._rect = EMPTY

    # -- properties -----------------------------------------------------------------------

    @property
    def alpha(self) -> AlphaArray:
        """The mask this stroke paints, shape (H, W), dtype uint8."""
        return self._alpha

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def radius(self) -> float:
        return self._radius

    @property
    def hardness(self) -> float:
        return self._hardness

    @property
    def strength(self) -> float:
        return self._strength

    @property
    def spacing(self) -> float:
        return self._spacing

    @property
    def active(self) -> bool:
        """True between ``begin`` and ``end``."""
        return self._active

    @property
    def position(self) -> tuple[float, float] | None:
        """Last pointer sample ``(row, col)``, or None before ``begin``."""
        return self._pos

    @property
    def leftover(self) -> float:
        """Distance in px from the last sample along the path to where the next dab goes."""
        return self._to_next

    @property
    def rect(self) -> Rect:
        """Union of the rectangles touched so far by this stroke (clipped to the image)."""
        return self._rect

    @property
    def nbytes(self) -> int:
        """Bytes held by the stroke's tiles of starting pixels."""
        return sum(t.nbytes for t in self._tiles.values())

    # -- pointer events -------------------------------------------------------------------

    def begin(self, r: float, c: float, pressure: float = 1.0) -> Rect:
        """Start the stroke at ``(r, c)`` and paint its first dab.

        Parameters
        ----------
        r, c : float
            Pointer position in image pixel coordinates (row, col).
        pressure : float, default 1.0
            Pen pressure in [0, 1], scales the dab's opacity.

        Returns
        -------
        Rect
            The rectangle touched (clipped to the image; EMPTY if the dab is outside).
        """
        if self._active:
            raise RuntimeError("Stroke.begin() called on an active stroke; call end() first")
        r, c = _check_point("begin", r, c)
        pressure = _check_pressure(pressure)
        self._tiles = {}
        self._rect = EMPTY
        self._active = True
        self._pos = (r, c)
        self._pressure = pressure
        self._to_next = self._spacing
        return self._paint_run((r, c), (0.0, 1.0), 0.0, 1, pressure, 0.0)

    def extend(self, r: float, c: float, pressure: float = 1.0) -> Rect:
        """Move the pointer to ``(r, c)``: paint dabs along the segment from the last sample.

        Parameters
        ----------
        r, c : float
            New pointer position (row, col) in image pixels.
        pressure : float, default 1.0
            Pen pressure in [0, 1] at this sample.

        Returns
        -------
        Rect
            The rectangle this segment touched (EMPTY when it placed no dab or all its dabs
            are outside the image).
        """
        if not self._active or self._pos is None:
            raise RuntimeError("Stroke.extend() called before begin()")
        r, c = _check_point("extend", r, c)
        pressure = _check_pressure(pressure)
        (r_prev, c_prev), p_prev = self._pos, self._pressure
        self._pos, self._pressure = (r, c), pressure
        length = math.hypot(r - r_prev, c - c_prev)
        if length == 0.0:
            return EMPTY
        if not math.isfinite(length):
            raise ValueError(f"extend moved too far: from {(r_prev, c_prev)} to {(r, c)}")
        first = self._to_next
        s = self._spacing
        if first > length + _EPS * s:
            self._to_next = first - length
            return EMPTY
        # Dabs at arc lengths first + k * s, k = 0..k_last, up to the end of the segment (with
        # a 1e-9 spacing tolerance, so splitting a segment in two gives the same dabs).
        q = (length - first) / s
        if q < 2.0**52:
            k_last = math.floor(q + _EPS)
            self._to_next = first + (k_last + 1) * s - length
        else:  # an absurdly long move: the phase of the next dab no longer matters
            k_last = 2**53
            self._to_next = s - math.fmod(length - first, s)
        u = ((r - r_prev) / length, (c - c_prev) / length)
        # Only dabs whose center lies within `outer` of the image can touch it.
        h, w = self._alpha.shape
        o = self._outer + 1.0
        span = _clip_line((r_prev, c_prev), u, length, (-o, -o, h + o, w + o))
        if span is None:
            return EMPTY
        k0 = max(0, math.ceil(_clamp((span[0] - first) / s)))
        k1 = min(k_last, math.floor(_clamp((span[1] - first) / s + _EPS)))
        # Bounded work even when far-away coordinates make the arithmetic above inexact.
        k1 = min(k1, k0 + math.ceil(math.hypot(h + 2 * o, w + 2 * o) / s) + 1)
        if k1 < k0:
            return EMPTY
        dp = (pressure - p_prev) / length  # pressure change per px of path
        a0 = first + k0 * s
        return self._paint_run((r_prev, c_prev), u, a0, k1 - k0 + 1, p_prev + dp * a0, dp * s)

    def end(self) -> Rect:
        """Finish the stroke.

        Returns
        -------
        Rect
            Union of everything the stroke touched (clipped to the image).
        """
        if not self._active:
            raise RuntimeError("Stroke.end() called before begin()")
        self._active = False
        return self._rect

    # -- starting pixels, for history -----------------------------------------------------

    def patches(self) -> list[tuple[Rect, AlphaArray]]:
        """The mask's pixels from before the stroke, per touched tile.

        Returns
        -------
        list of (Rect, ndarray of shape (rect.height, rect.width), dtype uint8)
            One entry per ``TILE x TILE`` tile the stroke touched (clipped to the image), in
            row-major tile order, holding the tile's values when the stroke began. Pixels
            outside these tiles were not changed by the stroke. The arrays are the stroke's own
            buffers: do not modify them.
        """
        h, w = self._alpha.shape
        out = []
        for (tr, tc), tile in sorted(self._tiles.items()):
            r0, c0 = tr * TILE, tc * TILE
            out.append((Rect(r0, c0, min(r0 + TILE, h), min(c0 + TILE, w)), tile))
        return out

    def before_patch(self) -> AlphaArray:
        """The mask over :attr:`rect` as it was when the stroke began.

        Returns
        -------
        ndarray of shape (rect.height, rect.width), dtype uint8
            A new array (dense: its size is the rectangle's area).
        """
        rect = self._rect
        out = self._alpha[rect.slices].copy()
        for trect, tile in self.patches():
            i = trect.intersect(rect)
            if i.empty:
                continue
            out[i.r0 - rect.r0 : i.r1 - rect.r0, i.c0 - rect.c0 : i.c1 - rect.c0] = tile[
                i.r0 - trect.r0 : i.r1 - trect.r0, i.c0 - trect.c0 : i.c1 - trect.c0
            ]
        return out

    # -- rasterization --------------------------------------------------------------------

    def _paint_run(
        self,
        origin: tuple[float, float],
        u: tuple[float, float],
        a0: float,
        n: int,
        p0: float,
        dp: float,
    ) -> Rect:
        """Paint ``n`` dabs at ``origin + u * (a0 + k * spacing)`` with pressure ``p0 + k*dp``.

        Split into chunks about ``self._chunk`` px long so each bounding box stays close to the
        painted area even for diagonal segments.
        """
        s = self._spacing
        per_chunk = max(1, int(self._chunk / s))
        dirty = EMPTY
        for k in range(0, n, per_chunk):
            m = min(per_chunk, n - k)
            a = a0 + k * s
            center = (origin[0] + u[0] * a, origin[1] + u[1] * a)
            dirty = dirty.union(self._paint_chunk(center, u, m, p0 + dp * k, dp))
        self._rect = self._rect.union(dirty)
        return dirty

    def _paint_chunk(
        self, c0: tuple[float, float], u: tuple[float, float], m: int, p0: float, dp: float
    ) -> Rect:
        """Paint ``m`` dabs at ``c0 + u * k * spacing`` (pressure ``p0 + k * dp``)."""
        alpha = self._alpha
        h, w = alpha.shape
        s = self._spacing
        outer = self._outer
        if m == 1:
            dp = 0.0
        end = (c0[0] + u[0] * s * (m - 1), c0[1] + u[1] * s * (m - 1))
        # Pixel r is touched iff |r + 0.5 - center| < outer for some dab.
        r0 = max(0, math.floor(min(c0[0], end[0]) - outer - 0.5) + 1)
        c0_ = max(0, math.floor(min(c0[1], end[1]) - outer - 0.5) + 1)
        r1 = min(h, math.ceil(max(c0[0], end[0]) + outer - 0.5))
        c1 = min(w, math.ceil(max(c0[1], end[1]) + outer - 0.5))
        if r1 <= r0 or c1 <= c0_:
            return EMPTY
        pmax = max(p0, p0 + dp * (m - 1))
        if pmax <= 0.0:
            return EMPTY
        ys = np.arange(r0, r1, dtype=np.float32)
        ys += np.float32(0.5 - c0[0])
        ys = ys[:, None]
        xs = np.arange(c0_, c1, dtype=np.float32)
        xs += np.float32(0.5 - c0[1])
        xs = xs[None, :]
        if m == 1:
            d2 = np.square(ys) + np.square(xs)
            cov = _coverage_from_d2(d2, outer, self._width)
            if p0 != 1.0:
                cov *= np.float32(p0)
        else:
            uy, ux = np.float32(u[0]), np.float32(u[1])
            along = ys * uy + xs * ux
            perp = ys * ux - xs * uy
            perp2 = np.square(perp, out=perp)
            inv_s = np.float32(1.0 / s)
            fs = np.float32(s)
            kn = along * inv_s
            np.rint(kn, out=kn)
            if dp == 0.0:
                # Equal pressure: the nearest dab center gives the largest coverage.
                np.clip(kn, 0, m - 1, out=kn)
                kn *= fs
                diff = np.subtract(along, kn, out=kn)
                d2 = np.square(diff, out=diff)
                d2 += perp2
                cov = _coverage_from_d2(d2, outer, self._width)
                if p0 != 1.0:
                    cov *= np.float32(p0)
            else:
                # Varying pressure: max over every dab that can reach the pixel.
                reach = int(math.ceil(outer / s))
                cov = np.zeros_like(along)
                k = np.empty_like(along)
                for j in range(-reach, reach + 1):
                    np.add(kn, np.float32(j), out=k)
                    np.clip(k, 0, m - 1, out=k)
                    d2 = k * fs
                    np.subtract(along, d2, out=d2)
                    np.square(d2, out=d2)
                    d2 += perp2
                    c = _coverage_from_d2(d2, outer, self._width)
                    k *= np.float32(dp)
                    k += np.float32(p0)
                    c *= k
                    np.maximum(cov, c, out=cov)
        base = self._base(r0, c0_, r1, c1).astype(np.float32)
        cov *= np.float32(self._strength)
        view = alpha[r0:r1, c0_:c1]
        if self._mode == "restore":
            # base + (255 - base) * strength * cov
            v = np.subtract(np.float32(255.0), base)
            v *= cov
            v += base
            v += np.float32(0.5)
            np.maximum(view, v.astype(np.uint8), out=view)
        else:
            # base + (0 - base) * strength * cov
            np.subtract(np.float32(1.0), cov, out=cov)
            cov *= base
            cov += np.float32(0.5)
            np.minimum(view, cov.astype(np.uint8), out=view)
        return Rect(r0, c0_, r1, c1)

    def _base(self, r0: int, c0: int, r1: int, c1: int) -> AlphaArray:
        """Mask values at stroke start over ``[r0, r1) x [c0, c1)``, saving new tiles."""
        alpha, tiles = self._alpha, self._tiles
        h, w = alpha.shape
        tr0, tr1 = r0 // TILE, (r1 - 1) // TILE
        tc0, tc1 = c0 // TILE, (c1 - 1) // TILE
        out = np.empty((r1 - r0, c1 - c0), dtype=np.uint8)
        for tr in range(tr0, tr1 + 1):
            y0 = tr * TILE
            y1 = min(y0 + TILE, h)
            ir0, ir1 = max(r0, y0), min(r1, y1)
            for tc in range(tc0, tc1 + 1):
                x0 = tc * TILE
                tile = tiles.get((tr, tc))
                if tile is None:
                    tile = alpha[y0:y1, x0 : min(x0 + TILE, w)].copy()
                    tiles[(tr, tc)] = tile
                ic0, ic1 = max(c0, x0), min(c1, x0 + TILE)
                out[ir0 - r0 : ir1 - r0, ic0 - c0 : ic1 - c0] = tile[
                    ir0 - y0 : ir1 - y0, ic0 - x0 : ic1 - x0
                ]
        return out


# --------------------------------------------------------------------------------------------
# Pure function
# --------------------------------------------------------------------------------------------


def paint_segment(
    alpha: AlphaArray,
    p0: tuple[float, float],
    p1: tuple[float, float],
    *,
    radius: float,
    hardness: float = 1.0,
    strength: float = 1.0,
    mode: Mode = "restore",
    pressure: tuple[float, float] = (1.0, 1.0),
    spacing: float | None = None,
) -> Rect:
    """Paint one straight stroke from `p0` to `p1` in place.

    Equivalent to a :class:`Stroke` with ``begin(*p0)``, ``extend(*p1)``, ``end()``: dabs at
    ``p0`` and every `spacing` px toward `p1`, max-combined (no accumulation within the call).
    ``p0 == p1`` paints a single dab.

    Parameters
    ----------
    alpha : ndarray of shape (H, W), dtype uint8
        The mask, modified in place.
    p0, p1 : (float, float)
        Start and end ``(row, col)`` in image pixel coordinates.
    radius : float
        Brush radius in pixels, > 0.
    hardness : float, default 1.0
        Edge hardness in [0, 1].
    strength : float, default 1.0
        Opacity in (0, 1].
    mode : {"restore", "erase"}, default "restore"
        Toward 255 or toward 0.
    pressure : (float, float), default (1.0, 1.0)
        Pressure in [0, 1] at `p0` and at `p1`, interpolated along the segment.
    spacing : float, optional
        Dab spacing in px, default ``max(0.5, radius / 4)``.

    Returns
    -------
    Rect
        The rectangle touched, clipped to the image (EMPTY if entirely outside).
    """
    stroke = Stroke(
        alpha, radius=radius, hardness=hardness, strength=strength, mode=mode, spacing=spacing
    )
    stroke.begin(p0[0], p0[1], pressure[0])
    stroke.extend(p1[0], p1[1], pressure[1])
    return stroke.end()
