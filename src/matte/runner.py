"""Inference runners: the one interface the pipeline uses to run a model.

Two implementations exist: :class:`OnnxRunner` here (onnxruntime under CPython, used by the CLI
and the tests) and the browser's, in :mod:`matte.web`, which calls onnxruntime-web through the
JavaScript bridge. Both take the tensor from :func:`matte.preprocess.to_tensor` and return the
raw output for :func:`matte.postprocess.to_alpha`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from matte.errors import ModelError
from matte.models import ModelSpec


class Runner(Protocol):
    """Runs one model on one prepared tensor."""

    def run(self, spec: ModelSpec, tensor: np.ndarray) -> np.ndarray:
        """Return the raw output (any shape with one image, one channel) as float32."""
        ...


def cache_dir() -> Path:
    """matte cache folder: ``$MATTE_CACHE``, else ``$XDG_CACHE_HOME/matte`` or ~/.cache/matte."""
    env = os.environ.get("MATTE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "matte"


def model_path(spec: ModelSpec, *, models_dir: str | Path | None = None) -> Path:
    """Where build.py puts the verified model file for ``spec``."""
    root = Path(models_dir) if models_dir is not None else cache_dir() / "models"
    return root / spec.file


def verify_model_file(path: Path, spec: ModelSpec) -> None:
    """Check a model file's size and sha256 against the manifest.

    Raises
    ------
    ModelError
        If the file is missing, has the wrong size or the wrong hash; the message says what to do.
    """
    if not path.is_file():
        raise ModelError(
            f"model {spec.id!r} not found at {path}. Run `python build.py fetch` to download it."
        )
    size = path.stat().st_size
    if size != spec.bytes:
        raise ModelError(
            f"model file {path} has {size} bytes, expected {spec.bytes}: it is truncated or "
            "wrong. Delete it and run `python build.py fetch`."
        )
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != spec.sha256:
        raise ModelError(
            f"model file {path} has sha256 {h.hexdigest()}, expected {spec.sha256}. "
            "Delete it and run `python build.py fetch`."
        )


class OnnxRunner:
    """onnxruntime (CPython) runner; one session per model, created on first use and kept.

    Parameters
    ----------
    models_dir : path, optional
        Folder holding the model files (default: the build cache).
    threads : int, optional
        Intra-op threads per session (default: onnxruntime's choice).
    verify : bool
        Check size and sha256 of each model file before loading it (once per model).
    """

    def __init__(
        self,
        *,
        models_dir: str | Path | None = None,
        threads: int | None = None,
        verify: bool = True,
    ) -> None:
        self.models_dir = models_dir
        self.threads = threads
        self.verify = verify
        self._sessions: dict[str, object] = {}

    def session(self, spec: ModelSpec):  # noqa: ANN201 - onnxruntime type is optional
        sess = self._sessions.get(spec.id)
        if sess is not None:
            return sess
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelError(
                "onnxruntime is not installed; `pip install onnxruntime` to run models in Python"
            ) from exc
        path = model_path(spec, models_dir=self.models_dir)
        if self.verify:
            verify_model_file(path, spec)
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load model {spec.id!r} from {path}: {exc}") from exc
        self._sessions[spec.id] = sess
        return sess

    def run(self, spec: ModelSpec, tensor: np.ndarray) -> np.ndarray:
        sess = self.session(spec)
        outputs = [spec.output_name] if spec.output_name else [sess.get_outputs()[0].name]
        try:
            (result,) = sess.run(outputs, {spec.input_name: tensor})
        except Exception as exc:
            raise ModelError(f"inference failed for model {spec.id!r}: {exc}") from exc
        return np.asarray(result, dtype=np.float32)
