"""The page's output settings as data, and the one place that puts them on a session.

Opening another image of the batch carries the open image's :class:`~matte.session.Settings`
over; an autosave stores them as JSON (:func:`settings_record`) and puts them back after a
reload. Both go through :func:`apply_settings`, so the session's own setters validate them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from matte.session import EditSession, Settings

__all__ = ["apply_settings", "settings_record"]


def settings_record(settings: Settings, *, has_picture: bool) -> dict[str, Any]:
    """The settings as JSON-able data; an ``'image'`` background without its picture's file
    (``has_picture`` False) is stored as ``'transparent'``."""
    kind = settings.background
    if kind == "image" and not has_picture:
        kind = "transparent"
    return {"background": kind, "color": list(settings.color), "blur": settings.blur,
            "shadow": settings.shadow, "crop": settings.crop,
            "crop_margin": settings.crop_margin, "decontaminate": settings.decontaminate}


def apply_settings(sess: EditSession, settings: Settings | Mapping[str, Any], *,
                   picture: np.ndarray | None = None) -> bool:
    """Put output settings on a session (a :class:`Settings`, or a :func:`settings_record`).

    ``picture`` is the 'image' background's picture; without one an 'image' background becomes
    transparent. Returns False (the session keeps its defaults for what was not
    applied yet) when a record is from an older version or damaged.
    """
    rec = settings_record(settings, has_picture=True) if isinstance(settings, Settings) \
        else settings
    try:
        kind = rec["background"]
        if kind == "image" and picture is None:
            kind = "transparent"  # the picture is gone (or was never saved)
        sess.set_background(kind, color=tuple(rec["color"]), blur=rec["blur"],
                            image=picture if kind == "image" else None)
        sess.set_shadow(bool(rec["shadow"]))
        sess.set_crop(bool(rec["crop"]), margin=rec["crop_margin"])
        sess.set_decontaminate(bool(rec["decontaminate"]))
    except (KeyError, TypeError, ValueError):
        return False
    return True
