"""Cooperative computations: long numpy work split into steps, so a page can stay responsive.

A *steps* function (``*_steps``) is a generator that yields ``None`` between chunks of work
(an upsampled image, one crop of the edge refinement) and returns its result. :func:`drain`
runs one to the end: the plain functions (``finish``, ``refined_alpha``, ``refine_edges``)
are their steps function drained at once. Under Pyodide the browser glue (:mod:`matte.web`)
awaits between steps instead, so post-processing a 12 MP photo is many short tasks on the
page's main thread, not one of most of a second.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")

#: A steps generator: yields None between chunks of work, returns the result.
Steps = Generator[None, None, T]


def drain(steps: Steps[T]) -> T:
    """Run a steps generator to the end and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
