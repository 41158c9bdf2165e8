"""Bounded fuzzing of the decode path: any bytes give a Decoded or a DecodeError, nothing else."""

import io
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from matte.decode import decode
from matte.errors import DecodeError


def _seed_files():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    out = []
    for fmt, mode in [("PNG", "RGB"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"),
                      ("BMP", "RGB"), ("TIFF", "RGB"), ("WEBP", "RGB")]:
        buf = io.BytesIO()
        img = Image.fromarray(a).convert(mode)
        img.save(buf, fmt)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_files()


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[pos: pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.binary(max_size=256)))
def test_decode_never_crashes(data):
    t0 = time.perf_counter()
    try:
        d = decode(data, max_pixels=4_000_000)
    except DecodeError as exc:
        assert str(exc)  # a message for humans
    else:
        h, w = d.shape
        assert d.rgb.shape == (h, w, 3) and d.rgb.dtype == np.uint8
        assert d.alpha is None or d.alpha.shape == (h, w)
    assert time.perf_counter() - t0 < 5.0
