"""Fixtures shared by the CPython tests of the CLI and its Ray engine."""

from __future__ import annotations

import pytest

from matte.models import load_catalog


@pytest.fixture(scope="session")
def shared_runner():
    """One onnxruntime runner (1 thread) for the session, u2netp loaded; other models load on
    first use and stay loaded."""
    pytest.importorskip("onnxruntime")
    from matte.runner import OnnxRunner

    runner = OnnxRunner(threads=1)
    runner.session(load_catalog().get("u2netp"))
    return runner
