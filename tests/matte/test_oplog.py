"""Tests for matte.oplog: the autosaved edit log round-trips exactly and restores history."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matte.decode import Decoded
from matte.oplog import MAGIC, decode_ops, encode_ops, restore_edits, saved_ops
from matte.session import EditSession
from tests.matte.test_session import make_photo

STROKE = {"mode": "erase", "radius": 6.5, "hardness": 0.8, "strength": 1.0, "edge_aware": False}


def roundtrip(ops):
    data = encode_ops(ops)
    assert data[:4] == MAGIC
    back = decode_ops(data)
    assert back == ops
    # exact, type for type (an int parameter stays an int, a float a float)
    for a, b in zip(back[0] + back[1], ops[0] + ops[1], strict=True):
        assert a[0] == b[0]
        assert {k: type(v) for k, v in a[1].items()} == {k: type(v) for k, v in b[1].items()}
        for pa, pb in zip(a[2], b[2], strict=True):
            assert [float(x).hex() for x in pa] == [float(x).hex() for x in pb]
    return data


def mouse_stroke(rng, n, *, zoom=1.37, pressure=False):
    """Samples as the page sends them: moves as float32, the first sample a JS double."""
    cy = rng.integers(0, 800) + np.cumsum(rng.integers(-3, 6, n))
    cx = rng.integers(0, 800) + np.cumsum(rng.integers(-2, 7, n))
    r = (np.float32(12.3) + cy.astype(np.float32) / np.float32(zoom)).astype(np.float32)
    c = (np.float32(-5.1) + cx.astype(np.float32) / np.float32(zoom)).astype(np.float32)
    p = rng.uniform(0.2, 1.0, n).astype(np.float32) if pressure else np.ones(n, np.float32)
    pts = [(float(a), float(b), float(q)) for a, b, q in zip(r, c, p, strict=True)]
    pts[0] = (12.3 + cy[0] / zoom, -5.1 + cx[0] / zoom, 1.0)
    return ("stroke", dict(STROKE), pts)


def test_empty_and_edge_cases_round_trip():
    roundtrip(([], []))
    roundtrip(([], [("stroke", dict(STROKE), [(1.0, 2.0, 1.0)])]))  # undone only
    roundtrip(([("reset", {}, [])], []))
    roundtrip(([("refine", {"op": "islands", "min_area": 40}, []),
                ("refine", {"op": "grow", "radius": -2.5}, []),
                ("refine", {"op": "edges"}, []),
                ("refine", {"op": "threshold", "level": None}, [])],
               [("refine", {"op": "feather", "radius": 3.0}, [])]))
    edge = dict(STROKE, edge_aware=True, mode="restore")
    roundtrip(([("stroke", edge, [(0.1, 1e-300, 0.0), (-5e30, 7.25, 0.5)])], []))
    roundtrip(([("mask", {"z": zlib.compress(b"\x00\xff" * 50)}, [])], []))


@given(st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False, width=64),
                          st.floats(allow_nan=False, allow_infinity=False, width=32),
                          st.floats(0, 1)), min_size=1, max_size=30),
       st.integers(0, 3))
@settings(max_examples=60, deadline=None)
def test_any_finite_samples_round_trip_bit_for_bit(samples, split):
    ops = ([("stroke", dict(STROKE), samples[: split + 1])] if split < len(samples) else [],
           [("stroke", dict(STROKE), samples)])
    roundtrip(ops)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="kind"):
        encode_ops(([("fill", {}, [])], []))
    with pytest.raises(ValueError, match="finite"):
        encode_ops(([("stroke", dict(STROKE), [(float("nan"), 1.0, 1.0)])], []))
    with pytest.raises(ValueError, match="exactly"):
        encode_ops(([("refine", {"op": "x", "guide": np.zeros(3)}, [])], []))
    with pytest.raises(ValueError, match="sample"):
        encode_ops(([("stroke", dict(STROKE), [])], []))
    with pytest.raises(ValueError, match="r, c, pressure"):
        encode_ops(([("stroke", dict(STROKE), [(1.0, 2.0)])], []))
    good = encode_ops(([("stroke", dict(STROKE), [(1.0, 2.0, 1.0)])], []))
    for bad in (b"", b"nope", good[:4] + b"\x09" + good[5:], good[:-3], good + b"x",
                good[:5] + zlib.compress(b"\xff\xff\xff\x7f{}")):
        with pytest.raises(ValueError, match="ops"):
            decode_ops(bad)


def test_size_of_a_100_stroke_session():
    rng = np.random.default_rng(0)
    sizes = {}
    for n, pen in ((30, False), (100, False), (200, False), (100, True)):
        ops = ([mouse_stroke(rng, n, pressure=pen) for _ in range(100)], [])
        sizes[(n, pen)] = len(roundtrip(ops))
    # measured: 30 -> ~19 KB, 100 -> ~54 KB, 200 -> ~99 KB, 100 with pen pressure -> ~88 KB
    assert sizes[(200, False)] < 150_000
    assert sizes[(100, True)] < 150_000
    big = ([mouse_stroke(rng, 200) for _ in range(100)], [])
    data, why = saved_ops(big, limit=50_000)
    assert data is None and "over" in why
    data, why = saved_ops(big)
    assert why is None and decode_ops(data) == big


def _edit(s: EditSession) -> None:
    s.stroke_begin(10.3, 5.7, mode="erase", radius=4.0)
    s.stroke_extend([(20.25, 40.5, 1.0), (30.0, 50.0, 0.5)])
    s.stroke_end()
    s.stroke_begin(30.0, 10.0, mode="restore", radius=6.0, edge_aware=True)
    s.stroke_extend([(35.0, 30.0, 1.0), (38.0, 45.0, 1.0)])
    s.stroke_end()
    s.refine_preview("grow", radius=2)
    s.refine_commit()
    s.stroke_begin(5.0, 5.0, mode="restore", radius=3.0)
    s.stroke_end()
    s.reset_mask()
    s.stroke_begin(40.0, 60.0, mode="erase", radius=8.0, hardness=0.3, strength=0.7)
    s.stroke_extend([(10.0, 60.0, 0.8)])
    s.stroke_end()
    s.undo()
    s.undo()


def _steps(s: EditSession) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every mask reachable by redo, then by undo (the session is walked back after)."""
    fwd, back = [], []
    n = 0
    while s.can_redo:
        s.redo()
        fwd.append(np.array(s.alpha))
        n += 1
    while s.can_undo:
        s.undo()
        back.append(np.array(s.alpha))
    return fwd, back


def test_restore_replays_the_edits_with_their_history():
    rgb, ai = make_photo(48, 64, seed=4)
    a = EditSession(Decoded(rgb, None, None, "PNG"), ai)
    _edit(a)
    assert a.can_undo and a.can_redo
    data, why = saved_ops(a.ops)
    assert why is None
    edited = np.array(a.alpha)
    b = EditSession(Decoded(rgb, None, None, "PNG"), ai)
    b.load_mask(edited)  # what the page opens first
    assert restore_edits(b, ai, edited, data) == (True, None)
    np.testing.assert_array_equal(b.alpha, edited)
    assert (b.can_undo, b.can_redo) == (a.can_undo, a.can_redo)
    assert b.ops == a.ops
    for x, y in zip(_steps(a), _steps(b), strict=True):
        assert len(x) == len(y)
        for m, n in zip(x, y, strict=True):
            np.testing.assert_array_equal(m, n)


def test_restore_falls_back_to_the_saved_mask():
    rgb, ai = make_photo(48, 64, seed=5)
    a = EditSession(Decoded(rgb, None, None, "PNG"), ai)
    _edit(a)
    data = encode_ops(a.ops)
    edited = np.array(a.alpha)
    other = edited.copy()
    other[0, 0] ^= 1  # the saved mask is what counts: the replay does not give it
    broken = encode_ops(([("refine", {"op": "grow"}, [])], []))  # replay raises
    for mask, log, reason in ((other, data, "did not give"), (edited, broken, "replayed"),
                              (edited, None, None), (edited, b"junk", "replayed")):
        b = EditSession(Decoded(rgb, None, None, "PNG"), ai)
        restored, why = restore_edits(b, ai, mask, log)
        assert not restored
        assert (why is None) if reason is None else (reason in why)
        np.testing.assert_array_equal(b.alpha, mask)
        np.testing.assert_array_equal(b.ai_alpha, ai)
        assert not b.can_undo and not b.can_redo
        # the loaded mask is kept as an operation: reopening the image (rebase) keeps it
        c = EditSession(Decoded(rgb, None, None, "PNG"), ai)
        c.rebase(ai, ops=decode_ops(encode_ops(b.ops)))
        np.testing.assert_array_equal(c.alpha, mask)
        b.reset_mask()
        np.testing.assert_array_equal(b.alpha, ai)
