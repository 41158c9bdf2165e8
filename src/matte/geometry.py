"""Axis-aligned rectangles in (row, col) image coordinates.

A :class:`Rect` is half-open: it covers rows ``r0 <= r < r1`` and columns ``c0 <= c < c1``, so
``alpha[rect.slices]`` is exactly its pixels and an empty rectangle has ``r1 <= r0`` or
``c1 <= c0``. Brush strokes return the rectangle they touched (the "dirty rectangle"), history
stores patches by rectangle, and views render a viewport rectangle.
"""

from __future__ import annotations

from typing import NamedTuple


class Rect(NamedTuple):
    """Half-open rectangle ``[r0, r1) x [c0, c1)`` in pixel (row, col) coordinates."""

    r0: int
    c0: int
    r1: int
    c1: int

    @property
    def height(self) -> int:
        return max(0, self.r1 - self.r0)

    @property
    def width(self) -> int:
        return max(0, self.c1 - self.c0)

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def empty(self) -> bool:
        return self.r1 <= self.r0 or self.c1 <= self.c0

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(slice(r0, r1), slice(c0, c1))`` for indexing an (H, W[, C]) array."""
        return slice(self.r0, self.r1), slice(self.c0, self.c1)

    def clip(self, shape: tuple[int, ...]) -> Rect:
        """This rectangle intersected with an image of ``shape`` (H, W, ...)."""
        h, w = int(shape[0]), int(shape[1])
        return Rect(
            min(max(self.r0, 0), h),
            min(max(self.c0, 0), w),
            min(max(self.r1, 0), h),
            min(max(self.c1, 0), w),
        )

    def union(self, other: Rect) -> Rect:
        """Smallest rectangle holding both (an empty side is ignored)."""
        if self.empty:
            return other
        if other.empty:
            return self
        return Rect(
            min(self.r0, other.r0),
            min(self.c0, other.c0),
            max(self.r1, other.r1),
            max(self.c1, other.c1),
        )

    def intersect(self, other: Rect) -> Rect:
        """Overlap of the two rectangles (possibly empty)."""
        return Rect(
            max(self.r0, other.r0),
            max(self.c0, other.c0),
            min(self.r1, other.r1),
            min(self.c1, other.c1),
        )


EMPTY = Rect(0, 0, 0, 0)
