"""Decoding image files into RGB(A) uint8 arrays, with limits and human error messages.

Any format Pillow reads is accepted (JPEG, PNG, WebP, GIF's first frame, BMP, TIFF, ...). The
EXIF orientation is applied, every mode is converted to 8-bit RGB plus an optional alpha, the
pixel count is checked against a limit *before* the pixels are decoded, and any failure raises
:class:`~matte.errors.DecodeError` with a message meant for the person who chose the file.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from matte.errors import DecodeError, ImageTooLargeError

#: Default pixel limit: 50 megapixels.
DEFAULT_MAX_PIXELS = 50_000_000

_SIGNATURES = {
    b"ftypheic": "HEIC",
    b"ftypheix": "HEIC",
    b"ftypmif1": "HEIF",
    b"ftypavif": "AVIF",
    b"ftypavis": "AVIF",
}


@dataclass
class Decoded:
    """A decoded image.

    Attributes
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
        Colour pixels, EXIF orientation applied.
    alpha : ndarray of shape (H, W), dtype uint8, or None
        The file's own transparency, if it had any.
    icc_profile : bytes or None
        The embedded ICC profile of an RGB source (kept for export).
    format : str
        Pillow's format name ("JPEG", "PNG", ...).
    notes : list of str
        Things the user should know (first frame of an animation used, profile dropped, ...).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None
    format: str
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


def _mp(n: int) -> str:
    return f"{n / 1e6:.1f} MP"


def _sniff(data: bytes) -> str | None:
    head = data[4:12]
    return _SIGNATURES.get(head)


def read_size(data: bytes) -> tuple[int, int]:
    """Header-only ``(height, width)`` of an image file, without decoding its pixels."""
    with _open(data, max_pixels=None) as img:
        return img.size[1], img.size[0]


def _open(data: bytes, *, max_pixels: int | None) -> Image.Image:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise DecodeError("The file is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bombs get our own limit; damage raises
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, with a clearer message
            try:
                img = Image.open(io.BytesIO(bytes(data)))
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except UnidentifiedImageError:
        kind = _sniff(bytes(data[:16]))
        if kind:
            raise DecodeError(
                f"This is a {kind} image, which this build cannot decode. "
                "Convert it to JPEG or PNG first (most photo apps can export one)."
            ) from None
        raise DecodeError(
            "This file is not an image matte can read. "
            "Use JPEG, PNG, WebP, GIF, BMP or TIFF."
        ) from None
    except MemoryError:
        raise DecodeError("Not enough memory to open this image; try a smaller one.") from None
    except Exception as exc:  # Pillow's plugins raise many types on damaged files
        raise DecodeError(f"The image file is damaged and cannot be read ({exc}).") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise DecodeError(f"The image has no pixels ({w}x{h}).")
    if max_pixels is not None and w * h > max_pixels:
        img.close()
        raise ImageTooLargeError(
            f"The image is {w}x{h} ({_mp(w * h)}), over the limit of {_mp(max_pixels)}. "
            "Scale it down and try again."
        )
    return img


def _to_uint8_array(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert any Pillow mode to (rgb uint8 (H, W, 3), alpha uint8 (H, W) or None)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(img)
        if mode == "I" and int(a.max(initial=0)) <= 255 and int(a.min(initial=0)) >= 0:
            g = a.astype(np.uint8)
        else:  # 16-bit grey: keep the high byte with rounding
            g = np.clip((a.astype(np.int64) + 128) // 257, 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2), None
    if mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float32))
        hi = float(a.max(initial=0.0))
        a = a * 255.0 if hi <= 1.0 else a
        g = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"))
        alpha = np.ascontiguousarray(rgba[:, :, 3])
        return np.ascontiguousarray(rgba[:, :, :3]), alpha
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img), None


def decode(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode an image file.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    max_pixels : int or None, optional
        Refuse images with more pixels than this (checked from the header, before decoding).
        None disables the check.

    Returns
    -------
    Decoded
        RGB pixels, optional alpha, ICC profile and notes.

    Raises
    ------
    DecodeError
        Empty, corrupt, truncated or unsupported files.
    ImageTooLargeError
        Images over ``max_pixels``.
    """
    if max_pixels is not None and max_pixels <= 0:
        raise ValueError(f"max_pixels must be > 0 or None, got {max_pixels}")
    img = _open(data, max_pixels=max_pixels)
    notes: list[str] = []
    fmt = img.format or "unknown"
    try:
        frames = int(getattr(img, "n_frames", 1) or 1)
        if frames > 1:
            notes.append(f"Animated {fmt}: only the first of {frames} frames was used.")
            img.seek(0)
        src_mode = img.mode
        icc = img.info.get("icc_profile") or None
        with warnings.catch_warnings():  # damaged files raise below; their warnings are noise
            warnings.simplefilter("ignore")
            img.load()
        img = ImageOps.exif_transpose(img) or img
        rgb, alpha = _to_uint8_array(img)
    except MemoryError:
        raise DecodeError("Not enough memory to decode this image; try a smaller one.") from None
    except Exception as exc:  # Pillow's plugins raise many types on damaged files
        msg = str(exc)
        if "truncat" in msg.lower():
            raise DecodeError(
                "The image file is truncated (it ends early). Download or export it again."
            ) from None
        raise DecodeError(f"The image file is damaged and cannot be read ({msg}).") from None
    finally:
        img.close()
    if icc is not None and src_mode not in ("RGB", "RGBA", "P"):
        notes.append(f"The {src_mode} colour profile was not kept (the output is RGB).")
        icc = None
    if alpha is not None and int(alpha.min()) == 255:
        alpha = None  # an opaque alpha channel carries nothing
    return Decoded(
        rgb=np.ascontiguousarray(rgb),
        alpha=alpha,
        icc_profile=icc,
        format=fmt,
        notes=notes,
    )
