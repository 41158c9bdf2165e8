"""The edge-aware brush: a stroke's effect snapped to the image's edges.

At the end of a stroke the pixels it changed are re-estimated from the colours of the pixels it
did *not* change (the known foreground and background around it) with the guided filter's local
linear model (He et al.), fitted trimap-style: in every window of radius
``min(96, 1.5 radius + 2)`` px, ``alpha ~ a . RGB + b`` is fitted to the known pixels, the
windows' fits are averaged (weighted by the colour spread of their known pixels) and evaluated
on the changed pixels. Each takes that value clipped between its value before the stroke and the
painted one (an erase stroke never raises alpha), so a restore stroke over hair brings back the
strands and leaves the gaps transparent. The linear fit alone leaves a haze over a plain wall
next to hair, so the value is also capped by :func:`_fg_bg_alpha` (the pixel's position between
the local known background and foreground colours, with a noise dead zone). Only crops around
the tiles the stroke touched are processed, in the fast form (statistics on blocks of 1/8 of the
window radius): the cost follows the painted area. :class:`matte.session.EditSession` calls
:func:`snap_stroke` at ``stroke_end`` for a stroke begun with ``edge_aware=True``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from PIL import Image

from matte import refine
from matte.geometry import EMPTY, Rect

__all__ = ["MAX_RADIUS", "snap_stroke"]

U8 = npt.NDArray[np.uint8]

TILE = 64  # brush tile side (matte.brush.TILE)
MAX_RADIUS = 96  # largest window radius of the edge-aware brush (px)

_SNAP_EPS = 1e-3  # regularization of the colour regression (guide in 0..1)


def _box_sums(x: np.ndarray, r: int) -> np.ndarray:
    """Sums of ``x`` (h, w, C) over (2r+1)^2 windows clipped to the array (float64)."""
    out = x
    for axis in (0, 1):
        n = out.shape[axis]
        c = np.zeros((n + 1,) + out.shape[:axis] + out.shape[axis + 1 :], np.float64)
        np.cumsum(np.moveaxis(out, axis, 0), axis=0, out=c[1:])
        i = np.arange(n)
        out = np.moveaxis(c[np.minimum(i + r + 1, n)] - c[np.maximum(i - r, 0)], 0, axis)
    return out


def _block_means(x: np.ndarray, s: int, *, mode: str = "constant") -> np.ndarray:
    """s x s block means of uint8 ``x`` (h, w[, C]), padded to whole blocks (``np.pad``
    ``mode``), float64 in 0..1 (Pillow's box reduction)."""
    h, w = x.shape[:2]
    pad = ((0, -(-h // s) * s - h), (0, -(-w // s) * s - w)) + ((0, 0),) * (x.ndim - 2)
    x = np.pad(x, pad, mode=mode)  # type: ignore[call-overload]
    if s == 1:
        return x / 255.0
    return np.asarray(Image.fromarray(x).reduce(s)) / 255.0


def _snap_alpha(
    rgb: U8, alpha: U8, known: np.ndarray, r: int, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha predicted from colour by a guided filter fitted on the ``known`` pixels only.

    In every (2r+1)^2 window ``alpha ~ a . I + b`` is fitted by least squares (ridge
    ``_SNAP_EPS``) to the known pixels of the window; the windows' coefficients are averaged
    over the windows covering a pixel, weighted by the colour spread of their known pixels (He
    et al.'s guided filter with a trimap's known pixels as weights), in the fast form:
    statistics on s x s block means (8-bit), ``s = max(1, r // 8)``.

    Parameters
    ----------
    rgb : ndarray of shape (h, w, 3), dtype uint8
    alpha : ndarray of shape (h, w), dtype uint8
    known : ndarray of shape (h, w), dtype bool
        Pixels whose alpha is trusted.
    r : int
        Window radius in px.
    ys, xs : ndarray of shape (n,), dtype intp
        The pixels where the prediction is wanted.

    Returns
    -------
    q : ndarray of shape (n,), dtype float64
        Predicted alpha in 0..1 (unclipped).
    valid : ndarray of shape (n,), dtype bool
        Where some window with enough known pixels covers the pixel.
    """
    h, w = alpha.shape
    s = max(1, r // 8)
    r_low = max(1, round(r / s))
    hc, wc = -(-h // s), -(-w // s)

    wt = _block_means(known.view(np.uint8) * np.uint8(255), s)
    wp = _block_means(np.where(known, alpha, 0).astype(np.uint8), s)
    i_c = _block_means(np.ascontiguousarray(rgb), s, mode="edge")
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    stack = np.empty((hc, wc, 14), np.float64)
    stack[..., 0] = wt
    stack[..., 1:4] = wt[..., None] * i_c
    stack[..., 4] = wp
    for n, (i, j) in enumerate(pairs):
        stack[..., 5 + n] = stack[..., 1 + i] * i_c[..., j]
    stack[..., 11:14] = wp[..., None] * i_c
    sums = _box_sums(stack, r_low)
    weight = sums[..., 0]
    ok = weight >= 0.05 * (2 * r_low + 1) ** 2
    weight = np.where(ok, weight, 1.0)
    m = sums[..., 1:4] / weight[..., None]
    mp = sums[..., 4] / weight
    cov = {}
    for n, (i, j) in enumerate(pairs):
        cov[i, j] = cov[j, i] = sums[..., 5 + n] / weight - m[..., i] * m[..., j] + (
            _SNAP_EPS if i == j else 0.0
        )
    cp = sums[..., 11:14] / weight[..., None] - m * mp[..., None]
    # inverse of the symmetric 3x3 covariance by cofactors
    c00 = cov[1, 1] * cov[2, 2] - cov[1, 2] ** 2
    c01 = cov[0, 2] * cov[1, 2] - cov[0, 1] * cov[2, 2]
    c02 = cov[0, 1] * cov[1, 2] - cov[0, 2] * cov[1, 1]
    c11 = cov[0, 0] * cov[2, 2] - cov[0, 2] ** 2
    c12 = cov[0, 1] * cov[0, 2] - cov[0, 0] * cov[1, 2]
    c22 = cov[0, 0] * cov[1, 1] - cov[0, 1] ** 2
    det = cov[0, 0] * c00 + cov[0, 1] * c01 + cov[0, 2] * c02
    coef = np.empty((hc, wc, 5), np.float64)
    coef[..., 0] = (c00 * cp[..., 0] + c01 * cp[..., 1] + c02 * cp[..., 2]) / det
    coef[..., 1] = (c01 * cp[..., 0] + c11 * cp[..., 1] + c12 * cp[..., 2]) / det
    coef[..., 2] = (c02 * cp[..., 0] + c12 * cp[..., 1] + c22 * cp[..., 2]) / det
    coef[..., 3] = mp - (coef[..., :3] * m).sum(axis=2)
    # average the windows' fits, weighted by the colour spread of their known pixels: a window
    # that saw both sides of an edge is informative, one that saw a single flat colour is not
    spread = cov[0, 0] + cov[1, 1] + cov[2, 2] - 3 * _SNAP_EPS
    coef[..., 4] = np.maximum(spread, 0.0) + 1e-6
    coef[~ok] = 0.0
    coef[..., :4] *= coef[..., 4:5]
    avg = _box_sums(coef, r_low)
    total = avg[..., 4]
    avg[..., :4] /= np.where(total > 0, total, 1.0)[..., None]
    avg[..., 4] = total > 0
    fine = refine._bilinear_at(avg, ys, xs, s)
    q = fine[:, 3] + (fine[:, :3] * (rgb[ys, xs] / 255.0)).sum(axis=1)
    return q, fine[:, 4] > 0.999


def _fg_bg_alpha(
    rgb: U8, alpha: U8, known: np.ndarray, r: int, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha from the local foreground and background colours, with a noise dead zone.

    In every (2r+1)^2 window the mean colour ``B`` of the known background (known pixels with
    alpha <= 8) and the mean colour ``F`` of the known foreground (alpha >= 247) are taken
    (on s x s blocks, ``s = max(1, r // 8)``, sampled bilinearly). A pixel of colour ``I``
    gets ``t = (I - B) . (F - B) / |F - B|^2``, less a dead zone of 2.5 standard deviations
    of the background around its local mean (measured on up to 4096 known background pixels
    of the crop) along ``F - B``, rescaled and clipped to 0..1: a pixel that looks like the
    plain background nearby gets exactly 0, which the guided fit of :func:`_snap_alpha`
    cannot promise (its linear model leaves a haze of tens of levels over a plain wall next
    to hair).

    Parameters
    ----------
    rgb : ndarray of shape (h, w, 3), dtype uint8
    alpha : ndarray of shape (h, w), dtype uint8
    known : ndarray of shape (h, w), dtype bool
        Pixels whose alpha is trusted.
    r : int
        Window radius in px.
    ys, xs : ndarray of shape (n,), dtype intp
        The pixels where the estimate is wanted.

    Returns
    -------
    t : ndarray of shape (n,), dtype float64
        Estimated alpha in 0..1.
    valid : ndarray of shape (n,), dtype bool
        Where both sides were seen nearby and their colours differ (elsewhere ``t`` means
        nothing).
    """
    h, w = alpha.shape
    s = max(1, r // 8)
    r_low = max(1, round(r / s))
    hc, wc = -(-h // s), -(-w // s)

    bg = known & (alpha <= 8)
    fg = known & (alpha >= 247)
    stack = np.empty((hc, wc, 8), np.float64)
    stack[..., 0] = _block_means(bg.view(np.uint8) * np.uint8(255), s)
    stack[..., 1:4] = _block_means(np.where(bg[..., None], rgb, 0).astype(np.uint8), s)
    stack[..., 4] = _block_means(fg.view(np.uint8) * np.uint8(255), s)
    stack[..., 5:8] = _block_means(np.where(fg[..., None], rgb, 0).astype(np.uint8), s)
    sums = _box_sums(stack, r_low)
    enough = 0.02 * (2 * r_low + 1) ** 2
    nb, nf = sums[..., 0], sums[..., 4]
    low = np.empty((hc, wc, 7), np.float64)
    low[..., 0:3] = sums[..., 1:4] / np.maximum(nb, 1e-9)[..., None]
    low[..., 3:6] = sums[..., 5:8] / np.maximum(nf, 1e-9)[..., None]
    low[..., 6] = (nb >= enough) & (nf >= enough)
    fine = refine._bilinear_at(low, ys, xs, s)
    b, f = fine[:, 0:3], fine[:, 3:6]
    valid = fine[:, 6] > 0.999
    # the background's noise around its local mean, per channel, from a sample of its pixels
    by, bx = np.nonzero(bg)
    if len(by) > 4096:
        pick = np.linspace(0, len(by) - 1, 4096).astype(np.intp)
        by, bx = by[pick], bx[pick]
    var = np.full(3, 1.0 / 255.0**2)
    if len(by) >= 16:
        ref = refine._bilinear_at(low, by, bx, s)
        ok = ref[:, 6] > 0.999
        if ok.sum() >= 16:
            res = rgb[by[ok], bx[ok]] / 255.0 - ref[ok, 0:3]
            var = np.maximum((res * res).mean(axis=0), var)
    d = f - b
    dd = (d * d).sum(axis=1)
    valid &= dd >= 0.08**2
    dd = np.where(valid, dd, 1.0)
    t = ((rgb[ys, xs] / 255.0 - b) * d).sum(axis=1) / dd
    dead = np.minimum(2.5 * np.sqrt((d * d * var).sum(axis=1) / dd) / np.sqrt(dd), 0.5)
    t = np.clip((t - dead) / (1.0 - dead), 0.0, 1.0)
    return t, valid


def snap_stroke(
    rgb: U8, alpha: U8, patches: Iterable[tuple[Rect, U8]], *, radius: float
) -> None:
    """Snap a finished stroke's effect to the image's edges, in place.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
        The photo.
    alpha : ndarray of shape (H, W), dtype uint8
        The mask with the stroke painted in; its changed pixels are overwritten.
    patches : iterable of (Rect, ndarray of dtype uint8)
        The stroke's tiles and their masks before the stroke
        (:meth:`matte.brush.Stroke.patches`).
    radius : float
        The brush radius in px (sets the fit's window radius).
    """
    h, w = alpha.shape
    changed = []
    for trect, before in patches:
        ne = alpha[trect.slices] != before
        if ne.any():
            changed.append((trect, before, ne))
    if not changed:
        return
    r = int(min(MAX_RADIUS, math.ceil(1.5 * radius) + 2))
    s = max(1, r // 8)
    margin = (2 * max(1, round(r / s)) + 2) * s
    # crops: one around everything when compact, else one per run of tiles in a tile row
    box = EMPTY
    for trect, _, _ in changed:
        box = box.union(trect)
    groups: list[list[int]]
    if box.area <= 4 * len(changed) * TILE * TILE:
        groups = [list(range(len(changed)))]
    else:
        by_row: dict[int, list[int]] = {}
        for i, (trect, _, _) in enumerate(changed):
            by_row.setdefault(trect.r0, []).append(i)
        groups = []
        for idx in by_row.values():
            idx.sort(key=lambda i: changed[i][0].c0)
            run = [idx[0]]
            for i in idx[1:]:
                if changed[i][0].c0 - changed[run[-1]][0].c1 > 2 * margin:
                    groups.append(run)
                    run = []
                run.append(i)
            groups.append(run)
    results = []
    for group in groups:
        inner = EMPTY
        for i in group:
            inner = inner.union(changed[i][0])
        outer = _grow(inner, margin, (h, w))
        known = np.ones((outer.height, outer.width), bool)
        for trect, _, ne in changed:  # every changed pixel is unknown, in all groups
            i = trect.intersect(outer)
            if not i.empty:
                dst = (
                    slice(i.r0 - outer.r0, i.r1 - outer.r0),
                    slice(i.c0 - outer.c0, i.c1 - outer.c0),
                )
                src = (
                    slice(i.r0 - trect.r0, i.r1 - trect.r0),
                    slice(i.c0 - trect.c0, i.c1 - trect.c0),
                )
                known[dst] &= ~ne[src]
        pts = [np.nonzero(changed[i][2]) for i in group]
        pairs = list(zip(group, pts, strict=True))
        ys = np.concatenate([p[0] + (changed[i][0].r0 - outer.r0) for i, p in pairs])
        xs = np.concatenate([p[1] + (changed[i][0].c0 - outer.c0) for i, p in pairs])
        q, valid = _snap_alpha(
            rgb[outer.slices], alpha[outer.slices], known, r, ys, xs
        )
        # a pixel that looks like the plain background next to it stays background
        t, fb = _fg_bg_alpha(
            rgb[outer.slices], alpha[outer.slices], known, r, ys, xs
        )
        q = np.where(fb, np.minimum(q, t), q)
        est = np.clip(np.rint(q * 255.0), 0, 255).astype(np.uint8)
        off = 0
        for i, (py, px) in pairs:
            trect, before, _ = changed[i]
            n = len(py)
            painted = alpha[trect.slices][py, px]
            b = before[py, px]
            lo, hi = np.minimum(b, painted), np.maximum(b, painted)
            snapped = np.clip(est[off : off + n], lo, hi)
            ok = valid[off : off + n]
            results.append((trect, py[ok], px[ok], snapped[ok]))
            off += n
    for trect, py, px, snapped in results:
        alpha[trect.slices][py, px] = snapped


def _grow(rect: Rect, m: int, shape: tuple[int, ...]) -> Rect:
    return Rect(rect.r0 - m, rect.c0 - m, rect.r1 + m, rect.c1 + m).clip(shape)
