"""Shared fixtures: paths, real photos, and the model catalog."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def astronaut_bytes() -> bytes:
    return (DATA / "astronaut.jpg").read_bytes()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))


def encode(array: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    """Encode an array with Pillow (test helper)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **kw)
    return buf.getvalue()
