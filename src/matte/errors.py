"""Errors raised by the matte core.

Every error the library raises on bad input is a :class:`MatteError` (or a subclass), and its
message is written for the person who supplied the input: it says what was wrong and, where it
can, what to do instead. Programming errors (wrong dtype passed by our own code) stay plain
``ValueError``/``TypeError``.
"""

from __future__ import annotations


class MatteError(Exception):
    """Base class of every error matte reports to a user."""


class DecodeError(MatteError):
    """The bytes are not an image matte can read (empty, corrupt, truncated, unsupported)."""


class ImageTooLargeError(DecodeError):
    """The image declares more pixels than the configured limit (refused before decoding)."""


class ModelError(MatteError):
    """A model is unknown, its file is missing or corrupt, or inference failed."""
