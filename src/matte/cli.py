"""The ``matte`` command-line tool: batch background removal under CPython with onnxruntime.

::

    matte remove IN... [-o OUTDIR] [--model ID] [--bg COLOR|IMAGE|blur[:PX]]
                       [--format png|webp|jpg] [--quality Q] [--mask-only]
                       [--crop [--margin PX|N%]] [--feather PX] [--refine-edges]
                       [--decontaminate] [--force] [--jobs N] [--threads N]
                       [--max-pixels N] [--recursive] [--quiet]
                       [--engine local|ray [--address ADDR] [--workers N]]
    matte models [--verify]

``--engine ray`` runs the same per-image code (:func:`remove_background`) as a Ray Data job;
see :mod:`matte.cluster`.

Design
------
* **One model session, many threads.** The model's onnxruntime session is created once, in the
  main thread, before any work starts (a missing or corrupt model file stops the run there, with
  exit code 2); the default, a fusion (``best``), has one session per member (ISNet and u2netp),
  both run on every image and :mod:`matte.fuse` combines them. ``--jobs`` worker threads then
  each run the whole chain for one image: read, decode, preprocess, inference, postprocess,
  refine, composite, encode, write. onnxruntime, Pillow and numpy's large loops release the GIL,
  so one image's decoding or encoding overlaps another's inference. Each inference uses
  ``--threads`` intra-op threads (default: the CPU cores available divided by ``--jobs``, at
  least 1) so the jobs do not oversubscribe the cores: on 2 cores, ISNet over six 1-3 MP photos
  ran at 0.70 images/s with 2 jobs x 1 thread against 0.42-0.44 with 1 x 2, 1 x 1 and 2 x 2
  (``bench/bench_cli.py`` has the full table).
* **Inputs.** Each argument is a file (always attempted, whatever its extension), a folder (its
  images, by extension; subfolders with ``--recursive``) or a glob pattern, expanded here too for
  shells that do not (``**`` matches subfolders). Files found in folders or by a pattern are
  skipped when their extension is not an image's, when they are hidden (``.name``), or when
  they look like an earlier result of this tool (``*-matte[-N].png|webp|jpg``,
  ``*-mask[-N].png``); name such a file explicitly to process it. A file reached twice is
  processed once.
* **Outputs.** ``photo.jpg`` gives ``photo-matte.png`` (``.webp``/``.jpg`` with ``--format``;
  ``photo-mask.png`` with ``--mask-only``) in ``OUTDIR`` (created if needed) or beside the input.
  An existing file is never overwritten without ``--force`` (a per-file error); with ``--force``
  the new file is written to a temporary name and moved into place, so a file is never left half
  written. When two inputs of one run map to the same output (``a/photo.jpg`` and
  ``b/photo.jpg`` with ``-o out``, or ``photo.jpg`` and ``photo.png``), the first in input order
  keeps the plain name and the others get ``-2``, ``-3``, ... (``photo-matte-2.png``), with a
  note; names are compared case-insensitively, so this is safe on macOS and Windows too. An
  output never replaces a file that is itself an input of the run, even with ``--force``.
* **Pixels.** Original resolution; the source's own transparency is kept (the matte is the
  minimum of the model's alpha and the file's alpha); the input's ICC profile is embedded in
  the output (not in the mask). A transparent PNG/WebP cut-out has the RGB under fully
  transparent pixels cleared, so the removed background does not survive invisibly in the file.
  JPEG has no alpha: without ``--bg`` it is flattened on white.
* **Exit codes.** 0: every image succeeded. 1: some failed (each failure is one line on stderr
  naming the file: corrupt, not an image, too large, unreadable, output exists, ...; the others
  still finish). 2: usage error, or nothing could run (unknown or missing model, bad ``--bg``,
  no input found). 130: interrupted (running images finish, the rest are cancelled).
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from matte import __version__, compose
from matte.composite import parse_color
from matte.decode import DEFAULT_MAX_PIXELS, decode
from matte.errors import MatteError, ModelError
from matte.export import normalize_format, output_name
from matte.models import Catalog, FusionSpec, ModelSpec, load_catalog, model_specs
from matte.pipeline import segment

__all__ = ["IMAGE_EXTENSIONS", "expand_inputs", "main", "plan_outputs"]

#: Extensions picked up from folders and patterns. HEIC/HEIF/AVIF are included although this
#: build cannot decode them, so that the user gets decode's "convert it first" message instead
#: of a silent skip.
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".gif", ".bmp", ".dib",
        ".tif", ".tiff", ".heic", ".heif", ".avif",
    }
)  # fmt: skip
RESULT_SUFFIX = "-matte"
MASK_SUFFIX = "-mask"
_GLOB_CHARS = frozenset("*?[")
_EXIT_OK, _EXIT_SOME_FAILED, _EXIT_USAGE, _EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad combination of options or an unusable argument: exit code 2."""


# --------------------------------------------------------------------------------------------
# inputs


_EARLIER_RESULT = re.compile(
    rf"(?:{RESULT_SUFFIX}(?:-\d+)?\.(?:png|webp|jpg)|{MASK_SUFFIX}(?:-\d+)?\.png)$", re.IGNORECASE
)


def _is_earlier_result(path: Path) -> bool:
    """``photo-matte.png``, ``photo-matte-2.webp``, ``photo-mask.png``: this tool's outputs."""
    return _EARLIER_RESULT.search(path.name) is not None


def _wanted(path: Path, skipped: list[Path]) -> bool:
    """Whether a file found in a folder or by a pattern should be processed."""
    if path.name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
        return False
    if _is_earlier_result(path):
        skipped.append(path)
        return False
    return path.is_file()


def _scan_dir(folder: Path, recursive: bool, out: Inputs) -> list[Path]:
    found: list[Path] = []
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        out.errors.append((str(folder), f"cannot read this folder: {exc.strerror or exc}"))
        return found
    for entry in entries:
        p = folder / entry.name
        if entry.name.startswith("."):
            continue
        if recursive and entry.is_dir(follow_symlinks=False):  # no symlink loops
            found.extend(_scan_dir(p, recursive, out))
        elif _wanted(p, out.skipped):
            found.append(p)
    return found


def _key(path: Path) -> str:
    """Identity of a file for duplicate detection: absolute, resolved, case-folded."""
    return os.path.normcase(os.path.realpath(path)).casefold()


@dataclass
class Inputs:
    """Result of :func:`expand_inputs`."""

    files: list[Path] = field(default_factory=list)
    #: ``(argument, message)`` for arguments that gave nothing.
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: Files skipped because they look like earlier results.
    skipped: list[Path] = field(default_factory=list)


def expand_inputs(args: Sequence[str], *, recursive: bool = False) -> Inputs:
    """Turn command-line arguments into the list of files to process (see the module doc)."""
    out = Inputs()
    seen: set[str] = set()

    def add(p: Path) -> None:
        k = _key(p)
        if k not in seen:
            seen.add(k)
            out.files.append(p)

    for arg in args:
        p = Path(arg)
        if p.is_dir():
            n_errors = len(out.errors)
            found = _scan_dir(p, recursive, out)
            if not found and len(out.errors) == n_errors:
                hint = "" if recursive else " (--recursive looks in subfolders)"
                out.errors.append((arg, f"no images in this folder{hint}"))
            for q in found:
                add(q)
        elif os.path.lexists(p):
            add(p)  # named explicitly: always attempted (it may fail with a clear message)
        elif _GLOB_CHARS & set(arg):
            found = []
            for m in sorted(glob.glob(arg, recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    found.extend(_scan_dir(mp, recursive, out))
                elif _wanted(mp, out.skipped):
                    found.append(mp)
            if not found:
                out.errors.append((arg, "no images match this pattern"))
            for q in found:
                add(q)
        else:
            out.errors.append((arg, "no such file or folder"))
    return out


# --------------------------------------------------------------------------------------------
# outputs


@dataclass
class Job:
    """One image to process: ``src`` -> ``dst``; ``error`` set when it is refused up front."""

    src: Path
    dst: Path
    error: str | None = None


def plan_outputs(
    files: Sequence[Path],
    *,
    out_dir: Path | None,
    format: str,
    suffix: str = RESULT_SUFFIX,
    force: bool = False,
) -> tuple[list[Job], list[str]]:
    """Output path of every input, with the no-overwrite and no-clobber rules.

    Returns the jobs (in input order) and notes about renamed outputs.
    """
    natural = [
        (out_dir if out_dir is not None else f.parent)
        / output_name(f.name, format=format, suffix=suffix)
        for f in files
    ]
    natural_keys = {_key(d) for d in natural}
    input_keys = {_key(f): f for f in files}
    used: dict[str, Path] = {}
    jobs: list[Job] = []
    notes: list[str] = []
    for src, dst in zip(files, natural, strict=True):
        k = _key(dst)
        if k in used:
            first = used[k]
            stem, ext = dst.stem, dst.suffix
            n = 2
            while True:
                cand = dst.with_name(f"{stem}-{n}{ext}")
                ck = _key(cand)
                if ck not in used and ck not in natural_keys:
                    break
                n += 1
            notes.append(
                f"{src} and {first} both map to {dst.name}; writing this one to {cand.name}"
            )
            dst, k = cand, ck
        used[k] = src
        job = Job(src, dst)
        if k in input_keys:
            job.error = f"the output {dst} is an input of this run; it is never overwritten"
        elif dst.is_dir():
            job.error = f"the output {dst} is a folder"
        elif not force and os.path.lexists(dst):
            job.error = f"{dst} already exists (use --force to overwrite it)"
        jobs.append(job)
    return jobs, notes


class OutputExistsError(Exception):
    pass


def _write(dst: Path, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``dst`` completely or not at all; refuse to replace without ``force``."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}-{threading.get_ident()}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        if force:
            os.replace(tmp, dst)
            return
        try:
            os.link(tmp, dst)  # atomic "create if absent"
        except FileExistsError:
            raise OutputExistsError(f"{dst} already exists (use --force to overwrite it)") from None
        except OSError:  # no hard links on this file system: exclusive create instead
            try:
                with open(dst, "xb") as f:
                    try:
                        f.write(data)
                    except BaseException:
                        f.close()
                        with suppress(OSError):
                            dst.unlink()
                        raise
            except FileExistsError:
                msg = f"{dst} already exists (use --force to overwrite it)"
                raise OutputExistsError(msg) from None
    finally:
        with suppress(OSError):
            tmp.unlink()


# --------------------------------------------------------------------------------------------
# processing


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs, shared read-only by the threads."""

    spec: ModelSpec | FusionSpec  # a fusion runs both of its models (matte.pipeline.segment)
    runner: object
    format: str
    quality: int | None
    mask_only: bool
    bg_kind: str  # "transparent" | "color" | "image" | "blur"
    bg_color: tuple[int, int, int] | None = None
    bg_image: np.ndarray | None = None
    blur_radius: float | None = None  # None: compose.default_blur_radius, as in the page
    crop: bool = False
    margin: int | float = 0
    feather: float = 0.0
    refine_edges: bool = False
    decontaminate: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    force: bool = False


@dataclass
class Result:
    job: Job
    ok: bool
    message: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def output_settings(s: Settings, shape: tuple[int, ...]) -> compose.Settings:
    """The page's output settings (:class:`matte.compose.Settings`) of a run, for an image of
    ``shape``: what makes the CLI's files the page's for the same choices."""
    blur = compose.default_blur_radius(shape) if s.blur_radius is None else s.blur_radius
    return compose.Settings(
        background=s.bg_kind,  # a transparent JPEG is flattened on white by compose.encode
        color=s.bg_color or (255, 255, 255),
        blur=float(blur),
        crop=s.crop,
        crop_margin=s.margin,
        decontaminate=s.decontaminate,
    )


def render(rgb: np.ndarray, alpha: np.ndarray, icc: bytes | None, s: Settings) -> bytes:
    """The output file's bytes for an image and its final matte (:mod:`matte.compose`, the
    page's export path: the same settings give the same bytes)."""
    if s.mask_only:
        return compose.encode_mask(alpha)
    st = output_settings(s, alpha.shape)
    pixels = compose.compose(rgb, alpha, settings=st, bg_image=s.bg_image)
    return compose.encode(pixels, format=s.format, quality=s.quality, icc_profile=icc)


def load_models(s: Settings) -> None:
    """Create the onnxruntime session(s) ``s`` needs, once, before any image runs.

    The local CLI calls it in the main thread; the Ray engine (:mod:`matte.cluster`) in each
    actor's constructor, so both engines hold the same sessions.

    Raises
    ------
    ModelError
        If a model file is missing, corrupt or cannot be loaded.
    """
    for spec in model_specs(s.spec):  # a fusion: one session per member model
        s.runner.session(spec)  # type: ignore[attr-defined]


def remove_background(data: bytes, s: Settings) -> tuple[bytes, list[str]]:
    """One image's whole pipeline: decode -> segment -> refine -> render -> the output's bytes.

    The one per-image function both engines run (``process`` here, the actors of
    :mod:`matte.cluster`), so their outputs are the same bytes for the same settings.

    Parameters
    ----------
    data : bytes
        The input file's bytes.
    s : Settings
        The run's settings, with a runner whose sessions are loaded (:func:`load_models`).

    Returns
    -------
    out : bytes
        The encoded output file (image or mask PNG).
    notes : list of str
        Decoder notes (e.g. an orientation or colour-profile remark).

    Raises
    ------
    MatteError
        For an input that cannot be decoded or is too large (the message names the reason).
    """
    dec = decode(data, max_pixels=s.max_pixels)
    del data
    rgb = dec.rgb
    alpha = segment(rgb, s.spec, s.runner)  # type: ignore[arg-type]
    if s.refine_edges:
        from matte.refine import refine_edges

        alpha = refine_edges(rgb, alpha)
    if s.feather > 0:
        from matte.refine import feather

        alpha = feather(alpha, radius=s.feather)
    if dec.alpha is not None:
        alpha = np.minimum(alpha, dec.alpha)
    return render(rgb, alpha, dec.icc_profile, s), list(dec.notes)


def _read_local(src: Path) -> bytes:
    if not src.is_file():
        raise MatteError("not a regular file" if src.exists() else "no such file")
    try:
        return src.read_bytes()
    except OSError as exc:
        raise MatteError(f"cannot read the file: {exc.strerror or exc}") from None


def process(
    job: Job,
    s: Settings,
    *,
    read: Callable[[], bytes] | None = None,
    write: Callable[[bytes], None] | None = None,
) -> Result:
    """Run one image end to end; never raises for a bad image (returns a failed Result).

    ``read`` and ``write`` replace the local file access (the Ray engine passes its
    filesystem's); their errors become the Result's message like the local ones.
    """
    t0 = time.perf_counter()
    res = Result(job, ok=False)
    try:
        # no reference kept here: remove_background drops the file's bytes once decoded
        out, notes = remove_background(read() if read is not None else _read_local(job.src), s)
        res.notes.extend(notes)
        if write is not None:
            write(out)
        else:
            try:
                _write(job.dst, out, force=s.force)
            except OSError as exc:
                raise MatteError(f"cannot write {job.dst}: {exc.strerror or exc}") from None
        res.ok = True
    except (MatteError, OutputExistsError) as exc:
        res.message = str(exc)
    except MemoryError:
        res.message = "not enough memory for this image; try --jobs 1 or a smaller image"
    except OSError as exc:  # not expected past the read and the write, but still one line
        res.message = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    except ValueError as exc:  # e.g. an image too large for WebP/JPEG
        res.message = str(exc)
    except Exception as exc:  # a bug: still one line, and the others go on
        if os.environ.get("MATTE_DEBUG"):
            import traceback

            traceback.print_exc()
        res.message = f"internal error ({type(exc).__name__}: {exc}); set MATTE_DEBUG=1 for details"
    res.seconds = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------------------------
# progress


class Progress:
    """``\\r[#####     ] 3/10 photo.jpg`` on a terminal, one line per image otherwise."""

    def __init__(self, total: int, stream: TextIO, *, quiet: bool = False) -> None:
        self.total = total
        self.stream = stream
        self.quiet = quiet
        try:
            self.bar = not quiet and stream.isatty()
        except (AttributeError, ValueError):
            self.bar = False
        self.done = 0
        self._drawn = False

    def _width(self) -> int:
        return max(20, shutil.get_terminal_size((80, 24)).columns - 1)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._width() + "\r")
            self._drawn = False

    def _draw(self, label: str) -> None:
        width = self._width()
        cells = 20
        filled = cells * self.done // max(self.total, 1)
        head = f"[{'#' * filled}{' ' * (cells - filled)}] {self.done}/{self.total} "
        room = width - len(head)
        if len(label) > room:
            label = "..." + label[-(room - 3) :] if room > 3 else ""
        self.stream.write("\r" + (head + label).ljust(width))
        self.stream.flush()
        self._drawn = True

    def message(self, text: str, *, always: bool = False) -> None:
        """A line that must survive the bar (errors are printed even with --quiet)."""
        if self.quiet and not always:
            return
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def start(self) -> None:
        if self.bar:
            self._draw("")

    def step(self, res: Result) -> None:
        self.done += 1
        if self.quiet:
            return
        if self.bar:
            self._draw(str(res.job.src))
        elif res.ok:
            self.stream.write(
                f"[{self.done}/{self.total}] {res.job.src} -> {res.job.dst} ({res.seconds:.2f} s)\n"
            )
            self.stream.flush()

    def finish(self) -> None:
        if self.bar and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


# --------------------------------------------------------------------------------------------
# argument parsing


def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return v


def _quality(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number 0-100, got {text!r}") from None
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError(f"expected a whole number 0-100, got {text!r}")
    return v


def _format(text: str) -> str:
    try:
        return normalize_format(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected png, webp or jpg, got {text!r}") from None


def _margin(text: str) -> int | float:
    """``16`` (pixels) or ``5%`` (of the subject's longer side)."""
    t = text.strip()
    try:
        if t.endswith("%"):
            v = float(t[:-1])
            if not math.isfinite(v) or not 0 <= v <= 100:
                raise ValueError
            return v / 100.0
        v = int(t)
        if v < 0:
            raise ValueError
        return v
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected pixels (e.g. 16) or a percentage of the subject (e.g. 5%), got {text!r}"
        ) from None


def _pixels(text: str) -> int:
    """``50000000``, ``50M``, ``50MP`` or ``5e7``."""
    t = text.strip().upper().removesuffix("P")
    mult = 1
    if t.endswith("M"):
        t, mult = t[:-1], 1_000_000
    elif t.endswith("K"):
        t, mult = t[:-1], 1_000
    try:
        v = float(t) * mult
    except ValueError:
        v = float("nan")
    if not math.isfinite(v) or v < 1:
        raise argparse.ArgumentTypeError(f"expected a pixel count such as 50M, got {text!r}")
    return int(v)


def _output_dir(text: str) -> Path | str:
    """``-o``: a local folder (a Path), or a URI such as ``s3://bucket/out`` (kept as text)."""
    return text if "://" in text else Path(text)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return os.cpu_count() or 1


EPILOG = """\
outputs: photo.jpg -> photo-matte.png (photo-mask.png with --mask-only), beside the input or in
  OUTDIR. Existing files are kept unless --force; two inputs with the same output name in one run
  get -2, -3, ... . Folders and patterns skip non-images, hidden files and earlier results
  (*-matte[-N].png|webp|jpg, *-mask[-N].png); a file named explicitly is always attempted.
exit status: 0 all done, 1 some images failed, 2 usage error or nothing could run.
--engine ray: existing outputs are skipped (a re-run resumes) unless --force; every input gets a
  row (ok, failed, skipped) in OUTDIR/matte-results.parquet.
"""


def build_parser(catalog: Catalog | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matte",
        description="Private background removal, on this machine (no upload).",
    )
    parser.add_argument("--version", action="version", version=f"matte {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{remove,models}")

    default_model = catalog.default if catalog is not None else "the catalog default"
    models_list = ", ".join(catalog.ids()) if catalog is not None else ""
    rm = sub.add_parser(
        "remove",
        help="remove the background of images",
        description="Remove the background of images, files, folders or patterns.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rm.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or patterns")
    rm.add_argument(
        "-o",
        "--output-dir",
        metavar="OUTDIR",
        type=_output_dir,
        help="write results here (created if needed; default: beside each input)",
    )
    rm.add_argument(
        "-m",
        "--model",
        metavar="ID",
        help=f"model id or alias (default {default_model}; one of: {models_list}); a fusion "
        "(best) runs both of its models, a model id runs that model alone",
    )
    rm.add_argument(
        "--bg",
        metavar="BG",
        help="background: a colour ('#rrggbb', 'white', ...), an image file "
        "(cover-fit), 'blur' (the page's strength: a sigma of the longer side / 200 px) or "
        "'blur:PX'; default transparent (white for JPEG)",
    )
    rm.add_argument(
        "-f",
        "--format",
        type=_format,
        default="png",
        metavar="{png,webp,jpg}",
        help="output format (default png)",
    )
    rm.add_argument(
        "--quality", type=_quality, metavar="Q", help="WebP/JPEG quality 0-100 (default 90)"
    )
    rm.add_argument(
        "--mask-only",
        action="store_true",
        help="write the full-size 8-bit grey mask PNG (white = subject) instead; it lines "
        "up with the photo, so it does not take --crop",
    )
    rm.add_argument("--crop", action="store_true", help="crop to the subject")
    rm.add_argument(
        "--margin",
        type=_margin,
        metavar="PX",
        help="margin around the subject with --crop: pixels, or N%% of the "
        "subject's longer side (default 0)",
    )
    rm.add_argument(
        "--feather",
        type=_nonneg_float,
        default=0.0,
        metavar="PX",
        help="soften the mask edge (Gaussian sigma in pixels)",
    )
    rm.add_argument(
        "--refine-edges",
        action="store_true",
        help="snap the mask edge to the image's edges (guided filter)",
    )
    rm.add_argument(
        "--decontaminate",
        action="store_true",
        help="remove background colour spill from soft edges",
    )
    rm.add_argument("--force", action="store_true", help="overwrite existing outputs")
    rm.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=2,
        metavar="N",
        help="images processed in parallel (default 2)",
    )
    rm.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="onnxruntime threads per inference (default: CPU cores / jobs)",
    )
    eng = rm.add_argument_group("engine")
    eng.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: threads on this machine (default); ray: a Ray Data job, on a local Ray "
        "instance or a cluster (pip install matte[ray]); inputs and OUTDIR may then be URIs "
        "such as s3://bucket/photos",
    )
    eng.add_argument(
        "--address",
        metavar="ADDR",
        help="with --engine ray: the cluster to join ('auto', 'ray://head:10001'); "
        "default: start a local Ray instance",
    )
    eng.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="with --engine ray: model actors (one session per model each; default: the "
        "cluster's CPUs / --threads)",
    )
    rm.add_argument(
        "--max-pixels",
        type=_pixels,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse larger images (default {DEFAULT_MAX_PIXELS // 1_000_000}M)",
    )
    rm.add_argument("-r", "--recursive", action="store_true", help="look into subfolders")
    rm.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress or summary (errors are still printed)",
    )

    md = sub.add_parser(
        "models",
        help="list the models and whether they are downloaded",
        description="List the models and whether their files are in the cache.",
    )
    md.add_argument(
        "--verify", action="store_true", help="check the sha256 of every present file (slower)"
    )
    return parser


# --------------------------------------------------------------------------------------------
# commands


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _human_bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _cmd_models(args: argparse.Namespace, catalog: Catalog, out: TextIO) -> int:
    from matte.runner import cache_dir, model_path, verify_model_file

    rows = [("id", "label", "size", "license", "cache", "aliases")]
    for f in catalog.fusions:
        mid = f.id + (" *" if f.id == catalog.default else "")
        rows.append((mid, f.label, _human_bytes(f.bytes), f.license,
                     "= " + " + ".join(f.members), ", ".join(f.aliases)))
    for m in catalog.models:
        path = model_path(m)
        if not path.is_file():
            state = "missing"
        elif path.stat().st_size != m.bytes:
            state = "wrong size"
        elif args.verify:
            try:
                verify_model_file(path, m)
                state = "verified"
            except ModelError:
                state = "corrupt"
        else:
            state = "present"
        mid = m.id + (" *" if m.id == catalog.default else "")
        rows.append((mid, m.label, _human_bytes(m.bytes), m.license, state, ", ".join(m.aliases)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    out.write(f"\n* default. Cache: {cache_dir() / 'models'}\n")
    if any(r[4] in ("missing", "wrong size", "corrupt") for r in rows[1:]):
        out.write("Run `python build.py fetch` to download missing models.\n")
    return _EXIT_OK


def _parse_bg(text: str | None, max_pixels: int | None) -> dict:
    if text is None:
        return {"bg_kind": "transparent"}
    t = text.strip()
    low = t.lower()
    if low == "blur" or low.startswith("blur:"):
        radius = None
        if ":" in low:
            try:
                radius = float(low.split(":", 1)[1])
            except ValueError:
                radius = float("nan")
            if not math.isfinite(radius) or radius <= 0:
                raise UsageError(f"--bg {text!r}: the blur radius must be a number of pixels > 0")
        return {"bg_kind": "blur", "blur_radius": radius}
    try:
        color = parse_color(t, name="--bg")
    except ValueError as exc:
        color_error = str(exc)
    else:
        if color is None:
            return {"bg_kind": "transparent"}
        return {"bg_kind": "color", "bg_color": color}
    path = Path(t).expanduser()
    if path.is_file():
        try:
            dec = decode(path.read_bytes(), max_pixels=max_pixels)
        except (MatteError, OSError) as exc:
            raise UsageError(f"--bg {text}: {exc}") from None
        return {"bg_kind": "image", "bg_image": dec.rgb}
    raise UsageError(
        f"{color_error}; it is not an image file either (and not 'blur' or 'transparent')"
    )


def settings_from_args(
    args: argparse.Namespace, *, spec: ModelSpec, runner: object, bg: dict
) -> Settings:
    """The run's :class:`Settings` from ``matte remove``'s parsed options (both engines).

    ``bg`` is ``_parse_bg``'s result; ``runner`` may be None for settings that are sent to
    other processes, which then put their own runner in (:mod:`matte.cluster`).
    """
    return Settings(
        spec=spec,
        runner=runner,
        format="png" if args.mask_only else args.format,
        quality=args.quality,
        mask_only=args.mask_only,
        crop=args.crop,
        margin=args.margin if args.margin is not None else 0,
        feather=args.feather,
        refine_edges=args.refine_edges,
        decontaminate=args.decontaminate,
        max_pixels=args.max_pixels,
        force=args.force,
        **bg,
    )


def _make_runner(threads: int):  # noqa: ANN202 - onnxruntime is optional
    """The onnxruntime runner (a function so the tests can share one between runs)."""
    from matte.runner import OnnxRunner

    return OnnxRunner(threads=threads)


def _usage(err: TextIO, message: str) -> int:
    err.write("usage: matte remove IN... [options]  (see matte remove --help)\n")
    err.write(f"matte: error: {message}\n")
    return _EXIT_USAGE


def _cmd_remove(args: argparse.Namespace, catalog: Catalog, err: TextIO) -> int:
    t_start = time.perf_counter()
    try:
        spec = catalog.get(args.model)
    except ModelError as exc:
        return _usage(err, str(exc))
    if args.mask_only:
        if args.format != "png":
            return _usage(err, "--mask-only writes a PNG; drop --format")
        if args.bg is not None:
            return _usage(err, "--mask-only and --bg cannot be combined")
        if args.crop:
            return _usage(err, "--mask-only writes the full-size mask (it lines up with the "
                               "photo); drop --crop")
    if args.margin is not None and not args.crop:
        return _usage(err, "--margin needs --crop")
    try:
        bg = _parse_bg(args.bg, args.max_pixels)
    except UsageError as exc:
        return _usage(err, str(exc))
    quiet = args.quiet
    if args.quality is not None and (args.format == "png" or args.mask_only) and not quiet:
        err.write("note: --quality has no effect on PNG output\n")
    # ---- engine ray (matte.cluster): the same Settings and per-image code, as a Ray Data job
    if args.engine == "ray":
        from matte.cluster import run_cli

        return run_cli(args, spec=spec, bg=bg, err=err)
    if args.address is not None or args.workers is not None:
        return _usage(err, "--address and --workers need --engine ray")
    if isinstance(args.output_dir, str):
        return _usage(err, f"-o {args.output_dir}: a URI output needs --engine ray")
    # ---- end of engine ray
    if args.output_dir is not None and args.output_dir.exists() and not args.output_dir.is_dir():
        return _usage(err, f"-o {args.output_dir}: not a folder")

    inputs = expand_inputs(args.inputs, recursive=args.recursive)
    for arg, msg in inputs.errors:
        err.write(f"error: {arg}: {msg}\n")
    if inputs.skipped and not quiet:
        n = len(inputs.skipped)
        err.write(
            f"note: skipped {n} earlier result{'s' if n > 1 else ''} "
            f"(*{RESULT_SUFFIX}.*, *{MASK_SUFFIX}.png); name them explicitly to process them\n"
        )
    if not inputs.files:
        err.write("matte: error: no images to process\n")
        return _EXIT_USAGE

    fmt = "png" if args.mask_only else args.format
    if args.output_dir is not None:
        try:
            args.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            err.write(f"matte: error: cannot create {args.output_dir}: {exc.strerror or exc}\n")
            return _EXIT_USAGE
    jobs, notes = plan_outputs(
        inputs.files,
        out_dir=args.output_dir,
        format=fmt,
        suffix=MASK_SUFFIX if args.mask_only else RESULT_SUFFIX,
        force=args.force,
    )
    progress = Progress(len(jobs), err, quiet=quiet)
    for note in notes:
        progress.message(f"note: {note}")
    failed = len(inputs.errors)
    done = 0
    ready: list[Job] = []
    for job in jobs:
        if job.error:
            progress.message(f"error: {job.src}: {job.error}", always=True)
            failed += 1
        else:
            ready.append(job)

    if ready:
        workers = min(args.jobs, len(ready))
        threads = args.threads or max(1, _cpus() // workers)
        runner = _make_runner(threads)
        settings = settings_from_args(args, spec=spec, runner=runner, bg=bg)
        t_load = time.perf_counter()
        try:
            load_models(settings)  # load (and verify) once, before the threads start
        except ModelError as exc:
            err.write(f"matte: error: {exc}\n")
            return _EXIT_USAGE
        load_s = time.perf_counter() - t_load
        # jobs refused up front still count in the bar's total
        progress.done = len(jobs) - len(ready)
        progress.start()
        t_run = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matte")
        futures: list[Future] = [pool.submit(process, job, settings) for job in ready]
        try:
            for fut in as_completed(futures):
                res: Result = fut.result()
                for note in res.notes:
                    progress.message(f"note: {res.job.src}: {note}")
                if res.ok:
                    done += 1
                else:
                    failed += 1
                    progress.message(f"error: {res.job.src}: {res.message}", always=True)
                progress.step(res)
        except KeyboardInterrupt:
            progress.finish()
            err.write("matte: interrupted; finishing the images in progress...\n")
            pool.shutdown(wait=True, cancel_futures=True)
            return _EXIT_INTERRUPTED
        pool.shutdown(wait=True)
        progress.finish()
        run_s = time.perf_counter() - t_run
        if not quiet:
            total_s = time.perf_counter() - t_start
            rate = done / run_s if run_s > 0 else 0.0
            err.write(
                f"{done} done, {failed} failed in {total_s:.1f} s (model {spec.id} loaded in "
                f"{load_s:.1f} s, then {rate:.2f} images/s with {_n(workers, 'job')} x "
                f"{_n(threads, 'thread')})\n"
            )
    elif not quiet:
        err.write(f"0 done, {failed} failed\n")
    return _EXIT_OK if failed == 0 else _EXIT_SOME_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``matte`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        catalog: Catalog | None = load_catalog()
        catalog_error = None
    except ModelError as exc:
        catalog, catalog_error = None, exc
    parser = build_parser(catalog)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return _EXIT_USAGE
        if catalog is None:
            sys.stderr.write(f"matte: error: {catalog_error}\n")
            return _EXIT_USAGE
        if args.command == "models":
            return _cmd_models(args, catalog, sys.stdout)
        return _cmd_remove(args, catalog, sys.stderr)
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else _EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("matte: interrupted\n")
        return _EXIT_INTERRUPTED
