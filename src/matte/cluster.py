"""``matte remove --engine ray``: the local CLI's per-image pipeline as a Ray Data job.

::

    matte remove IN... -o OUT --engine ray [--address ADDR] [--workers N] [--threads T]

or, from Python, :func:`remove_dataset`. Ray (``pip install matte[ray]``) is imported here only,
and only when a job runs: the core and the browser never import it.

Design
------
* **Same code, same bytes.** The driver builds the run's :class:`matte.cli.Settings` with
  :func:`matte.cli.settings_from_args` (as the local CLI does) and sends it to the actors without
  a runner; each actor makes its own with :func:`matte.cli._make_runner` and loads every model
  once in its constructor (:func:`matte.cli.load_models`), then runs :func:`matte.cli.process`
  (read -> :func:`matte.cli.remove_background` -> write) on each image, the local CLI's own
  function. For a local file the read and the write are the local CLI's (atomic, no-clobber);
  for other filesystems they go through pyarrow.
* **Inputs.** Local arguments are expanded by :func:`matte.cli.expand_inputs` (folders, globs,
  ``--recursive``, the same filters). An argument with a scheme (``s3://bucket/photos``,
  ``gs://...``, ``file:///data``) is opened with ``pyarrow.fs.FileSystem.from_uri``: a file is
  always attempted, a folder gives its images (same extension, hidden-file and earlier-result
  filters; subfolders with ``--recursive``); patterns are not expanded in URIs.
* **Outputs.** Names come from :func:`matte.cli.plan_outputs` over all inputs (same names,
  same ``-2``, ``-3`` renames, an input is never overwritten). ``-o`` may be a URI. Unlike the
  local CLI, an existing output is *skipped* (not an error) unless ``--force``: a re-run resumes
  after a crash. A table of every input, ``matte-results.parquet`` (columns ``file``,
  ``output``, ``status`` = ``ok``/``failed``/``skipped``, ``message``, ``notes``, ``seconds``,
  ``worker``, ``peak_rss_mb``, ``finished``), is written to OUTDIR (or the current folder
  without ``-o``), replacing the previous run's.
* **Ray Data.** The jobs become a dataset (``ray.data.from_items``, small blocks for load
  balancing); ``map_batches`` runs :class:`Remover`, a callable class, on an actor pool of
  ``--workers`` actors, each asking for ``--threads`` CPUs (its onnxruntime intra-op threads).
  The driver streams the results (``iter_batches``) into the table, printing failures as they
  come; Ray Data shows its own progress. A bad image is a ``failed`` row, never an exception.
  A worker that dies (a crash, the out-of-memory killer) is replaced and its block retried
  twice; a block that still fails is dropped (``max_errored_blocks``) and its images get
  ``failed`` rows saying so, so the job always finishes.
* **Where it runs.** Without ``--address`` a local Ray instance is started (the CPUs of this
  machine); with one (``auto``, ``ray://head:10001``) the job joins that cluster. The driver's
  copy of the ``matte`` package is shipped to the workers (``runtime_env`` ``py_modules``), so
  they run the same code; they need numpy, Pillow, onnxruntime and pyarrow installed, and the
  model files in their model cache (``$MATTE_CACHE``, ``python build.py fetch``). Local paths
  must be visible to every node (a shared filesystem); use a bucket URI otherwise.
* **Exit codes** as the local CLI: 0 all done (skipped outputs count as done), 1 some failed,
  2 usage error or nothing could run (e.g. a model missing), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import posixpath
import resource
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from matte import cli
from matte.decode import DEFAULT_MAX_PIXELS
from matte.errors import MatteError, ModelError

__all__ = ["RESULTS_NAME", "Remover", "RunSummary", "connect", "remove_dataset", "run_cli"]

#: The results table written next to the outputs.
RESULTS_NAME = "matte-results.parquet"
#: Images per dataset block at most: small blocks balance the actors; a dropped block (a worker
#: that kept dying) costs at most this many images.
BLOCK_IMAGES = 8
COLUMNS = (
    "file",
    "output",
    "status",
    "message",
    "notes",
    "seconds",
    "worker",
    "peak_rss_mb",
    "finished",
)


def _require_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MatteError(
            "--engine ray needs Ray Data: pip install 'matte[ray]' (or 'ray[data]')"
        ) from exc
    return ray


def _is_uri(text: str) -> bool:
    return "://" in text


# --------------------------------------------------------------------------------------------
# planning: inputs -> (source, destination) tasks


@dataclass(frozen=True)
class Task:
    """One image: where to read it and where to write its output."""

    file: str  # as shown to the user (the argument's form: a path or a URI)
    output: str
    src_fs: int  # index into the run's filesystem list; -1: local
    src: str
    dst_fs: int
    dst: str


@dataclass
class Plan:
    tasks: list[Task]
    #: Tasks whose output exists (and no --force): skipped.
    existing: list[Task]
    #: ``(file, message)``: arguments that gave nothing, and jobs refused up front.
    errors: list[tuple[str, str]]
    notes: list[str]
    skipped_results: int
    filesystems: list[Any]


def _fs_index(filesystems: list[Any], fs: Any) -> int:
    for i, known in enumerate(filesystems):
        if type(known) is type(fs) and known.equals(fs):
            return i
    filesystems.append(fs)
    return len(filesystems) - 1


def _local(fs: Any) -> bool:
    from pyarrow import fs as pafs

    return isinstance(fs, pafs.LocalFileSystem)


def _list_uri(arg: str, *, recursive: bool, filesystems: list[Any], plan: Plan) -> list[tuple]:
    """``(display, fs index, path)`` of the images an URI argument names."""
    from pyarrow import fs as pafs

    try:
        fs, path = pafs.FileSystem.from_uri(arg)
        info = fs.get_file_info(path)
    except (OSError, ValueError) as exc:
        plan.errors.append((arg, f"cannot open this URI: {exc}"))
        return []
    idx = _fs_index(filesystems, fs)
    if info.type == pafs.FileType.File:
        return [(arg, idx, path)]
    if info.type != pafs.FileType.Directory:
        plan.errors.append((arg, "no such file or folder"))
        return []
    try:
        entries = fs.get_file_info(pafs.FileSelector(path, recursive=recursive))
    except OSError as exc:
        plan.errors.append((arg, f"cannot read this folder: {exc}"))
        return []
    found = []
    base = arg.rstrip("/")
    for e in sorted(entries, key=lambda e: e.path):
        if e.type != pafs.FileType.File:
            continue
        rel = posixpath.relpath(e.path, path)
        parts = rel.split("/")
        if any(p.startswith(".") for p in parts):
            continue
        name = parts[-1]
        if posixpath.splitext(name)[1].lower() not in cli.IMAGE_EXTENSIONS:
            continue
        if cli._is_earlier_result(Path(name)):
            plan.skipped_results += 1
            continue
        found.append((f"{base}/{rel}", idx, e.path))
    if not found:
        hint = "" if recursive else " (--recursive looks in subfolders)"
        plan.errors.append((arg, f"no images in this folder{hint}"))
    return found


def plan_tasks(
    inputs: Sequence[str],
    *,
    output_dir: str | Path | None,
    format: str,
    suffix: str,
    force: bool,
    recursive: bool,
) -> Plan:
    """Expand the inputs and name the outputs with the local CLI's rules (see the module doc)."""
    plan = Plan([], [], [], [], 0, [])
    local_args = [a for a in inputs if not _is_uri(a)]
    # (display, fs index or -1, path as a Path for plan_outputs)
    files: list[tuple[str, int, str]] = []
    if local_args:
        loc = cli.expand_inputs(local_args, recursive=recursive)
        plan.errors.extend(loc.errors)
        plan.skipped_results += len(loc.skipped)
        files.extend((str(p), -1, str(p)) for p in loc.files)
    for arg in inputs:
        if _is_uri(arg):
            files.extend(
                _list_uri(arg, recursive=recursive, filesystems=plan.filesystems, plan=plan)
            )
    seen: set[tuple[int, str]] = set()
    unique = []
    for f in files:  # a URI file reached twice runs once (expand_inputs did it for local ones)
        if f[1] == -1 or (f[1], f[2]) not in seen:
            seen.add((f[1], f[2]))
            unique.append(f)
    files = unique
    if not files:
        return plan

    out_display: str | None = None
    out_idx, out_path = -1, None
    if output_dir is not None:
        if isinstance(output_dir, str) and _is_uri(output_dir):
            from pyarrow import fs as pafs

            out_fs, out_path = pafs.FileSystem.from_uri(output_dir)
            out_idx = _fs_index(plan.filesystems, out_fs)
            out_display = output_dir.rstrip("/")
        else:
            out_path = str(output_dir)
    jobs, notes = cli.plan_outputs(
        [Path(f[2]) for f in files],
        out_dir=Path(out_path) if out_path is not None else None,
        format=format,
        suffix=suffix,
        force=True,  # existence is checked below, per filesystem: it means "skip" here
    )
    plan.notes.extend(notes)
    candidates: list[Task] = []
    for (display, idx, _), job in zip(files, jobs, strict=True):
        dst_idx = out_idx if output_dir is not None else idx
        if dst_idx == -1:
            out_text = str(job.dst)
        else:
            parent = out_display if out_display is not None else display.rsplit("/", 1)[0]
            out_text = f"{parent}/{job.dst.name}"
        if job.error:
            plan.errors.append((display, job.error))
            continue
        # actors get absolute local paths (their working folder is not the driver's)
        src = os.path.abspath(job.src) if idx == -1 else str(job.src)
        dst = os.path.abspath(job.dst) if dst_idx == -1 else str(job.dst)
        candidates.append(Task(display, out_text, idx, src, dst_idx, dst))
    exists = _existing(candidates, plan.filesystems)
    for t, there in zip(candidates, exists, strict=True):
        if there and not force:
            plan.existing.append(t)
        else:
            plan.tasks.append(t)
    return plan


def _existing(tasks: Sequence[Task], filesystems: list[Any]) -> list[bool]:
    """Whether each task's output exists: one listing per output folder on a remote store."""
    from pyarrow import fs as pafs

    listed: dict[tuple[int, str], set[str]] = {}
    out = []
    for t in tasks:
        if t.dst_fs == -1 or _local(filesystems[t.dst_fs]):
            out.append(os.path.lexists(t.dst))
            continue
        parent = posixpath.dirname(t.dst)
        key = (t.dst_fs, parent)
        if key not in listed:
            sel = pafs.FileSelector(parent, allow_not_found=True)
            listed[key] = {e.path for e in filesystems[t.dst_fs].get_file_info(sel)}
        out.append(t.dst in listed[key])
    return out


# --------------------------------------------------------------------------------------------
# the actor


def _peak_rss_mb() -> float:
    """This process's peak resident memory (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)


class Remover:
    """Ray Data callable class: one actor's sessions, created once, then one image per row.

    Parameters
    ----------
    settings : matte.cli.Settings
        The run's settings without a runner (``runner=None``).
    threads : int
        onnxruntime intra-op threads of this actor's sessions.
    filesystems : list of pyarrow.fs.FileSystem
        The run's filesystems; rows refer to them by index (-1: the local one).
    """

    def __init__(self, settings: cli.Settings, threads: int, filesystems: list[Any]) -> None:
        self.settings = replace(settings, runner=cli._make_runner(threads))
        cli.load_models(self.settings)  # every session once per actor, before any image
        self.filesystems = filesystems
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def _read(self, idx: int, path: str):  # noqa: ANN202
        fs = self.filesystems[idx]

        def read() -> bytes:
            try:
                with fs.open_input_stream(path) as f:
                    return f.readall()
            except FileNotFoundError:
                raise MatteError("no such file") from None
            except OSError as exc:
                raise MatteError(f"cannot read the file: {exc}") from None

        return read

    def _write(self, idx: int, path: str, shown: str):  # noqa: ANN202
        from pyarrow import fs as pafs

        fs = self.filesystems[idx]
        force = self.settings.force

        def write(data: bytes) -> None:
            if not force and fs.get_file_info(path).type != pafs.FileType.NotFound:
                raise cli.OutputExistsError(f"{shown} already exists (use --force to overwrite it)")
            try:
                parent = posixpath.dirname(path)
                if parent:
                    fs.create_dir(parent, recursive=True)
                with fs.open_output_stream(path) as f:  # object stores: a whole-object put
                    f.write(data)
            except OSError as exc:
                raise MatteError(f"cannot write {shown}: {exc}") from None

        return write

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        rows: dict[str, list] = {c: [] for c in COLUMNS}
        for i in range(len(batch["file"])):
            src_fs, dst_fs = int(batch["src_fs"][i]), int(batch["dst_fs"][i])
            src, dst = str(batch["src"][i]), str(batch["dst"][i])
            shown_out = str(batch["output"][i])
            local_src = src_fs == -1 or _local(self.filesystems[src_fs])
            local_dst = dst_fs == -1 or _local(self.filesystems[dst_fs])
            job = cli.Job(Path(src), Path(dst))
            res = cli.process(
                job,
                self.settings,
                read=None if local_src else self._read(src_fs, src),
                write=None if local_dst else self._write(dst_fs, dst, shown_out),
            )
            rows["file"].append(str(batch["file"][i]))
            rows["output"].append(shown_out)
            rows["status"].append("ok" if res.ok else "failed")
            rows["message"].append(res.message)
            rows["notes"].append("; ".join(res.notes))
            rows["seconds"].append(res.seconds)
            rows["worker"].append(self.worker)
            rows["peak_rss_mb"].append(_peak_rss_mb())
            rows["finished"].append(time.time())
        return rows


# --------------------------------------------------------------------------------------------
# running


@dataclass
class RunSummary:
    """What a run did; :attr:`exit_code` is the CLI's."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    #: Images done per second of the Ray job (actor start-up and model load included).
    images_per_s: float = 0.0
    workers: int = 0
    threads: int = 0
    results: str = ""
    #: ``(file, message)`` of every failure, in the order they were reported.
    failures: list[tuple[str, str]] | None = None

    @property
    def exit_code(self) -> int:
        return cli._EXIT_OK if self.failed == 0 else cli._EXIT_SOME_FAILED


def _matte_dir() -> str:
    return str(Path(cli.__file__).resolve().parent)


def connect(*, address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start a local Ray instance (``address=None``) or join a cluster; ship matte's code.

    Does nothing when Ray is already initialised in this process (returns False). The
    workers get this process's copy of the ``matte`` package (``runtime_env`` ``py_modules``).

    Parameters
    ----------
    address : str, optional
        ``"auto"``, ``"ray://head:10001"``, ...; None starts a local instance.
    num_cpus : int, optional
        CPUs of the local instance (default: all of this machine's); ignored with ``address``.

    Returns
    -------
    bool
        True if this call started or joined Ray (the caller shuts it down), False if it was
        already initialised.
    """
    ray = _require_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "runtime_env": {"py_modules": [_matte_dir()]},
        "include_dashboard": False,
        "logging_level": "warning",
    }
    if address is None:
        kwargs["num_cpus"] = num_cpus
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    return True


def _table_writer(output_dir: str | Path | None):  # noqa: ANN202
    """(pyarrow ParquetWriter on a temporary name, finish(), shown path) for the results."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    if isinstance(output_dir, str) and _is_uri(output_dir):
        fs, base = pafs.FileSystem.from_uri(output_dir)
        shown = f"{output_dir.rstrip('/')}/{RESULTS_NAME}"
    else:
        fs = pafs.LocalFileSystem()
        base = str(Path(output_dir if output_dir is not None else ".").resolve())
        shown = str(Path(output_dir if output_dir is not None else ".") / RESULTS_NAME)
    fs.create_dir(base, recursive=True)
    final = posixpath.join(base, RESULTS_NAME)
    tmp = posixpath.join(base, f".{RESULTS_NAME}.{os.getpid()}.part")
    schema = pa.schema(
        [
            ("file", pa.string()),
            ("output", pa.string()),
            ("status", pa.string()),
            ("message", pa.string()),
            ("notes", pa.string()),
            ("seconds", pa.float64()),
            ("worker", pa.string()),
            ("peak_rss_mb", pa.float64()),
            ("finished", pa.float64()),
        ]
    )
    writer = pq.ParquetWriter(tmp, schema, filesystem=fs)

    def write(rows: dict[str, list]) -> None:
        if rows["file"]:
            writer.write_table(pa.table({c: rows[c] for c in COLUMNS}, schema=schema))

    def finish() -> None:
        writer.close()
        fs.move(tmp, final)

    return write, finish, shown


def _plain_rows(items: Sequence[tuple[str, str, str, str]]) -> dict[str, list]:
    """Rows decided on the driver: ``(file, output, status, message)``."""
    rows: dict[str, list] = {c: [] for c in COLUMNS}
    for file, output, status, message in items:
        for c, v in zip(
            COLUMNS,
            (file, output, status, message, "", 0.0, "", 0.0, time.time()),
            strict=True,
        ):
            rows[c].append(v)
    return rows


def _execute(
    inputs: Sequence[str],
    *,
    output_dir: str | Path | None,
    settings: cli.Settings,
    recursive: bool,
    workers: int | None,
    threads: int | None,
    address: str | None,
    quiet: bool,
    err: TextIO,
) -> RunSummary | int:
    """The run shared by the CLI and :func:`remove_dataset`; an int is a usage exit code."""
    t_start = time.perf_counter()
    ray = _require_ray()
    suffix = cli.MASK_SUFFIX if settings.mask_only else cli.RESULT_SUFFIX
    plan = plan_tasks(
        inputs,
        output_dir=output_dir,
        format=settings.format,
        suffix=suffix,
        force=settings.force,
        recursive=recursive,
    )
    summary = RunSummary(failures=[])
    for file, msg in plan.errors:
        err.write(f"error: {file}: {msg}\n")
        summary.failures.append((file, msg))
    if plan.skipped_results and not quiet:
        n = plan.skipped_results
        err.write(
            f"note: skipped {n} earlier result{'s' if n > 1 else ''} "
            f"(*{cli.RESULT_SUFFIX}.*, *{cli.MASK_SUFFIX}.png); name them explicitly to process "
            "them\n"
        )
    if not plan.tasks and not plan.existing:
        err.write("matte: error: no images to process\n")
        return cli._EXIT_USAGE
    for note in plan.notes:
        if not quiet:
            err.write(f"note: {note}\n")
    summary.failed = len(plan.errors)
    summary.skipped = len(plan.existing)
    if plan.existing and not quiet:
        err.write(
            f"note: {cli._n(len(plan.existing), 'output')} already there, skipped "
            "(--force writes them again)\n"
        )
    if address is None and plan.tasks:
        from matte.models import model_specs
        from matte.runner import model_path, verify_model_file

        try:  # a local instance shares this machine's model cache: fail early and clearly
            for spec in model_specs(settings.spec):
                verify_model_file(model_path(spec), spec)
        except ModelError as exc:
            err.write(f"matte: error: {exc}\n")
            return cli._EXIT_USAGE

    write_rows, finish_table, shown = _table_writer(output_dir)
    summary.results = shown
    write_rows(_plain_rows([(f, "", "failed", m) for f, m in plan.errors]))
    write_rows(_plain_rows([(t.file, t.output, "skipped", "output exists") for t in plan.existing]))

    if plan.tasks:
        started = connect(address=address)
        try:
            code = _run_ray(
                ray, plan, settings, summary, workers, threads, address, quiet, err, write_rows
            )
        finally:
            if started:
                ray.shutdown()
        if code is not None:
            finish_table()
            return code
    finish_table()
    summary.seconds = time.perf_counter() - t_start
    if not quiet:
        rate = (
            f" ({summary.images_per_s:.2f} images/s with {cli._n(summary.workers, 'worker')} x "
            f"{cli._n(summary.threads, 'thread')} on Ray)"
            if summary.workers
            else ""
        )
        err.write(
            f"{summary.done} done, {summary.failed} failed, {summary.skipped} skipped "
            f"(output exists) in {summary.seconds:.1f} s{rate}; results: {shown}\n"
        )
    return summary


def _retries() -> dict[str, Any]:
    """Actor options over Ray Data's defaults: a block is retried twice, not forever (an image
    that kills its worker every time would otherwise stop the job from ending)."""
    return {"max_task_retries": 2}


def _run_ray(ray, plan, settings, summary, workers, threads, address, quiet, err, write_rows):  # noqa: ANN001, ANN202
    """Run the Ray Data job over ``plan.tasks``; None on success, an exit code otherwise."""
    from ray.data import DataContext

    threads = threads or 1
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if workers is None:
        workers = max(1, cpus // threads)
    workers = min(workers, len(plan.tasks))
    if address is None and workers * threads > cpus:
        err.write(
            f"matte: error: --workers {workers} x --threads {threads} needs "
            f"{workers * threads} CPUs; this machine's Ray instance has {cpus}\n"
        )
        return cli._EXIT_USAGE
    summary.workers, summary.threads = workers, threads
    items = [
        {"file": t.file, "output": t.output, "src_fs": t.src_fs, "src": t.src,
         "dst_fs": t.dst_fs, "dst": t.dst}
        for t in plan.tasks
    ]  # fmt: skip
    blocks = max(min(len(items), workers * 2), math.ceil(len(items) / BLOCK_IMAGES))
    ctx = DataContext.get_current()
    saved = (ctx.max_errored_blocks, ctx.enable_progress_bars)
    ctx.max_errored_blocks = -1  # a block whose worker kept dying is dropped, not fatal
    data_log = logging.getLogger("ray.data")
    saved_level = data_log.level
    if quiet:
        ctx.enable_progress_bars = False
        data_log.setLevel(logging.WARNING)
    reported: set[str] = set()
    t_run = time.perf_counter()
    try:
        ds = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            Remover,
            batch_size=1,
            batch_format="numpy",
            concurrency=workers,
            num_cpus=threads,
            fn_constructor_kwargs={
                "settings": replace(settings, runner=None),
                "threads": threads,
                "filesystems": plan.filesystems,
            },
            # the one way to bound retries in Ray 2.60 (deprecated there, removed in 2.64: the
            # extra pins ray<2.64)
            ray_remote_args_fn=_retries,
        )
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            rows = batch.to_pydict()
            write_rows(rows)
            for file, status, message, notes in zip(
                rows["file"], rows["status"], rows["message"], rows["notes"], strict=True
            ):
                reported.add(file)
                if notes and not quiet:
                    for note in notes.split("; "):
                        err.write(f"note: {file}: {note}\n")
                if status == "ok":
                    summary.done += 1
                else:
                    summary.failed += 1
                    summary.failures.append((file, message))
                    err.write(f"error: {file}: {message}\n")
    except KeyboardInterrupt:
        err.write("matte: interrupted; outputs written so far are kept (a re-run resumes)\n")
        return cli._EXIT_INTERRUPTED
    except Exception as exc:  # e.g. every actor failed to start (a model missing on a node)
        lines = [ln for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        err.write(f"matte: error: the Ray job failed: {type(exc).__name__}: {lines[-1]}\n")
        return cli._EXIT_USAGE
    finally:
        ctx.max_errored_blocks, ctx.enable_progress_bars = saved
        data_log.setLevel(saved_level)
    run_s = time.perf_counter() - t_run
    lost = [t for t in plan.tasks if t.file not in reported]
    if lost:
        msg = (
            "its worker died (a crash or out of memory), also on the retries; "
            "a re-run tries it again"
        )
        write_rows(_plain_rows([(t.file, t.output, "failed", msg) for t in lost]))
        for t in lost:
            err.write(f"error: {t.file}: {msg}\n")
            summary.failures.append((t.file, msg))
        summary.failed += len(lost)
    summary.images_per_s = summary.done / run_s if run_s > 0 else 0.0
    return None


# --------------------------------------------------------------------------------------------
# entry points


def run_cli(args: argparse.Namespace, *, spec: cli.ModelSpec, bg: dict, err: TextIO) -> int:
    """``matte remove --engine ray``: called by :mod:`matte.cli` after it checked the options."""
    if args.jobs != 2 and not args.quiet:  # 2 is --jobs's default
        err.write("note: --jobs has no effect with --engine ray (use --workers)\n")
    out = args.output_dir
    if isinstance(out, Path) and out.exists() and not out.is_dir():
        return cli._usage(err, f"-o {out}: not a folder")
    settings = cli.settings_from_args(args, spec=spec, runner=None, bg=bg)
    try:
        res = _execute(
            args.inputs,
            output_dir=args.output_dir,
            settings=settings,
            recursive=args.recursive,
            workers=args.workers,
            threads=args.threads,
            address=args.address,
            quiet=args.quiet,
            err=err,
        )
    except MatteError as exc:
        err.write(f"matte: error: {exc}\n")
        return cli._EXIT_USAGE
    return res if isinstance(res, int) else res.exit_code


def remove_dataset(
    inputs: Sequence[str | Path] | str | Path,
    *,
    output_dir: str | Path | None = None,
    model: str | None = None,
    format: str = "png",
    quality: int | None = None,
    mask_only: bool = False,
    bg: str | None = None,
    crop: bool = False,
    margin: int | float = 0,
    feather: float = 0.0,
    refine_edges: bool = False,
    decontaminate: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    force: bool = False,
    recursive: bool = False,
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    quiet: bool = True,
    err: TextIO | None = None,
) -> RunSummary:
    """Remove the background of many images as a Ray Data job (``matte remove --engine ray``).

    Every option means what the CLI's option of the same name means (``matte remove --help``);
    the outputs are the local CLI's, byte for byte.

    Parameters
    ----------
    inputs : str, Path or sequence of them
        Files, folders, glob patterns, or URIs (``s3://bucket/photos``, ``file:///data``).
    output_dir : str or Path, optional
        Where outputs and ``matte-results.parquet`` go (a URI too); default beside each input.
    workers, threads : int, optional
        Actors (default: the cluster's CPUs / ``threads``) and onnxruntime threads (CPUs)
        per actor (default 1).
    address : str, optional
        The Ray cluster to join; None starts a local instance. If Ray is already
        initialised in this process it is used as it is: its workers must then import
        ``matte`` themselves (installed there, or ``runtime_env={"py_modules": [...]}`` in
        your ``ray.init``, which is what :func:`connect` does).
    quiet : bool
        No notes, progress bars or summary on ``err`` (failures are still written there).
    err : text stream, optional
        Where messages go (default ``sys.stderr``).

    Returns
    -------
    RunSummary
        Counts, rate, the results table's location and every failure.

    Raises
    ------
    ValueError
        For a bad option; the message names it.
    MatteError
        If nothing could run (no images, a model missing, Ray not installed).
    """
    from matte.export import normalize_format
    from matte.models import load_catalog

    err = err if err is not None else sys.stderr
    if isinstance(inputs, str | Path):
        inputs = [inputs]
    inputs = [str(i) for i in inputs]
    try:
        spec = load_catalog().get(model)
    except ModelError as exc:
        raise ValueError(f"model: {exc}") from None
    try:
        fmt = normalize_format(format)
    except ValueError:
        raise ValueError(f"format: expected png, webp or jpg, got {format!r}") from None
    if mask_only and (fmt != "png" or bg is not None):
        raise ValueError("mask_only: writes a PNG mask; drop format and bg")
    if mask_only and crop:
        raise ValueError("mask_only: writes the full-size mask (it lines up with the photo); "
                         "drop crop")
    if quality is not None and not 0 <= quality <= 100:
        raise ValueError(f"quality: expected 0-100, got {quality!r}")
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise ValueError(f"{name}: expected a number >= 1, got {value!r}")
    if not math.isfinite(feather) or feather < 0:
        raise ValueError(f"feather: expected a number >= 0, got {feather!r}")
    try:
        bg_kw = cli._parse_bg(bg, max_pixels)
    except cli.UsageError as exc:
        raise ValueError(f"bg: {exc}") from None
    ns = argparse.Namespace(
        format=fmt, quality=quality, mask_only=mask_only, crop=crop, margin=margin,
        feather=feather, refine_edges=refine_edges, decontaminate=decontaminate,
        max_pixels=max_pixels, force=force,
    )  # fmt: skip
    settings = cli.settings_from_args(ns, spec=spec, runner=None, bg=bg_kw)
    res = _execute(
        inputs,
        output_dir=output_dir,
        settings=settings,
        recursive=recursive,
        workers=workers,
        threads=threads,
        address=address,
        quiet=quiet,
        err=err,
    )
    if isinstance(res, int):
        raise MatteError("nothing could run (see the messages above)")
    return res
