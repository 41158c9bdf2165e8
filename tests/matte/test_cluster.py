"""Tests for ``matte remove --engine ray`` (matte.cluster).

Planning and argument errors run without Ray (planning needs pyarrow). Tests marked ``ray``
start one real local Ray instance for the whole session (``num_cpus=2``) and run the real
``u2netp`` model in its actors over a folder of real photos plus a corrupt file; their outputs
are compared byte for byte with the local CLI's for the same options. They skip when Ray Data
is not installed (``pip install 'matte[ray]'``; requirements-test.txt pins it) or when
``u2netp.onnx`` is not in the model cache (``python build.py fetch``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matte import cli
from matte.models import load_catalog
from matte.runner import model_path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
U2NETP = load_catalog().get("u2netp")
PHOTOS = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")

needs_u2netp = pytest.mark.skipif(
    not model_path(U2NETP).is_file(),
    reason="u2netp.onnx is not in the model cache: run `python build.py fetch`",
)


def _photos(folder: Path) -> Path:
    """Three real photos, a truncated JPEG and a text file (ignored in a folder scan)."""
    folder.mkdir(parents=True)
    for name in PHOTOS:
        shutil.copyfile(DATA / name, folder / name)
    (folder / "corrupt.jpg").write_bytes((DATA / "coffee.jpg").read_bytes()[:3000])
    (folder / "notes.txt").write_text("not an image")
    return folder


def _results(path: Path) -> dict[str, dict]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    return {Path(r["file"]).name: r for r in rows}


# --------------------------------------------------------------------------------------------
# without Ray


def test_core_never_imports_ray():
    code = (
        "import sys, matte.cli, matte.pipeline, matte.session, matte.cluster\n"
        "bad = [m for m in ('ray', 'pyarrow', 'pandas') if m in sys.modules]\n"
        "print(bad)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert res.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--workers", "2"], "--address and --workers need --engine ray"),
        (["--address", "auto"], "--address and --workers need --engine ray"),
        (["-o", "s3://bucket/out"], "a URI output needs --engine ray"),
    ],
)
def test_ray_options_refused_by_the_local_engine(tmp_path, capsys, argv, expected):
    src = tmp_path / "a.jpg"
    shutil.copyfile(DATA / "chelsea.jpg", src)
    assert cli.main(["remove", str(src), "--model", "u2netp", *argv]) == 2
    assert expected in capsys.readouterr().err
    assert not list(tmp_path.glob("*-matte*"))


def test_ray_engine_refuses_a_file_as_output_folder(tmp_path, capsys):
    src = tmp_path / "a.jpg"
    shutil.copyfile(DATA / "chelsea.jpg", src)
    (tmp_path / "out").write_text("a file")
    argv = ["remove", str(src), "-o", str(tmp_path / "out"), "--engine", "ray"]
    assert cli.main([*argv, "--model", "u2netp"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_plan_uses_the_local_rules_and_skips_existing(tmp_path):
    pytest.importorskip("pyarrow")
    from matte.cluster import plan_tasks

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        shutil.copyfile(DATA / "chelsea.jpg", d / "photo.jpg")
    shutil.copyfile(DATA / "coffee.jpg", a / "other.jpg")
    (a / "photo-matte.png").write_bytes(b"earlier result")  # filtered, as by the local CLI
    out = tmp_path / "out"
    out.mkdir()
    (out / "other-matte.png").write_bytes(b"exists")

    plan = plan_tasks(
        [str(a), str(b)], output_dir=out, format="png", suffix="-matte", force=False,
        recursive=False,
    )  # fmt: skip
    assert plan.skipped_results == 1 and not plan.errors
    assert [(Path(t.file).parent.name, Path(t.output).name) for t in plan.tasks] == [
        ("a", "photo-matte.png"),
        ("b", "photo-matte-2.png"),  # the local CLI's rename
    ]
    assert [Path(t.output).name for t in plan.existing] == ["other-matte.png"]
    assert all(os.path.isabs(t.src) and os.path.isabs(t.dst) for t in plan.tasks)
    assert any("both map to photo-matte.png" in n for n in plan.notes)

    forced = plan_tasks(
        [str(a), str(b)], output_dir=out, format="png", suffix="-matte", force=True,
        recursive=False,
    )  # fmt: skip
    assert len(forced.tasks) == 3 and not forced.existing


def test_plan_lists_uri_folders_like_local_ones(tmp_path):
    pytest.importorskip("pyarrow")
    from matte.cluster import plan_tasks

    src = _photos(tmp_path / "in")
    (src / ".hidden.jpg").write_bytes(b"x")
    sub = src / "sub"
    sub.mkdir()
    shutil.copyfile(DATA / "chelsea.jpg", sub / "deep.jpg")
    uri = src.as_uri()
    flat = plan_tasks(
        [uri], output_dir=(tmp_path / "o").as_uri(), format="webp", suffix="-matte",
        force=False, recursive=False,
    )  # fmt: skip
    local = plan_tasks(
        [str(src)], output_dir=tmp_path / "o", format="webp", suffix="-matte", force=False,
        recursive=False,
    )  # fmt: skip
    names = sorted(Path(t.file).name for t in flat.tasks)
    assert names == sorted(Path(t.file).name for t in local.tasks)
    assert names == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "corrupt.jpg"]
    assert all(t.file.startswith(uri + "/") for t in flat.tasks)
    assert {t.output for t in flat.tasks} == {
        f"{(tmp_path / 'o').as_uri()}/{Path(n).stem}-matte.webp" for n in names
    }
    deep = plan_tasks(
        [uri], output_dir=None, format="png", suffix="-matte", force=False, recursive=True
    )
    assert f"{uri}/sub/deep.jpg" in {t.file for t in deep.tasks}
    assert f"{uri}/sub/deep-matte.png" in {t.output for t in deep.tasks}  # beside the input

    missing = plan_tasks(
        [(tmp_path / "nope").as_uri()], output_dir=None, format="png", suffix="-matte",
        force=False, recursive=False,
    )  # fmt: skip
    assert missing.errors and "no such file or folder" in missing.errors[0][1]


# --------------------------------------------------------------------------------------------
# a real local Ray instance


@pytest.fixture(scope="session")
def ray_session():
    pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'matte[ray]'")
    import ray

    from matte.cluster import connect

    started = connect(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


def _local_cli(shared_runner, monkeypatch, capsys, src: Path, out: Path, opts) -> str:
    """The local CLI's outputs for the same options; returns its stderr."""
    monkeypatch.setattr(cli, "_make_runner", lambda threads: shared_runner)
    code = cli.main(["remove", str(src), "-o", str(out), "--model", "u2netp", *opts])
    assert code == 1  # the corrupt file
    return capsys.readouterr().err


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.endswith(".parquet")}


OPTION_SETS = {
    "png": [],
    "webp-colour-crop-feather": [
        "--format", "webp", "--bg", "#1e90ff", "--crop", "--margin", "8", "--feather", "1.5",
    ],
}  # fmt: skip


@pytest.mark.ray
@needs_u2netp
@pytest.mark.parametrize("name", sorted(OPTION_SETS))
def test_same_bytes_as_the_local_cli(
    ray_session, shared_runner, monkeypatch, capsys, tmp_path, name
):
    opts = OPTION_SETS[name]
    src = _photos(tmp_path / "in")
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    argv = ["remove", str(src), "-o", str(ray_out), "--model", "u2netp", *opts]
    code = cli.main([*argv, "--engine", "ray", "--workers", "2"])
    ray_err = capsys.readouterr().err
    assert code == 1, ray_err  # one failed, as the local CLI says
    local_err = _local_cli(shared_runner, monkeypatch, capsys, src, local_out, opts)

    got, want = _outputs(ray_out), _outputs(local_out)
    assert sorted(want) == sorted(got) and len(want) == 3
    for fname, data in want.items():
        assert got[fname] == data, f"{fname} differs from the local CLI's"

    corrupt_line = next(ln for ln in local_err.splitlines() if "corrupt.jpg" in ln)
    assert corrupt_line.startswith("error: ") and corrupt_line in ray_err.splitlines()
    assert "3 done, 1 failed, 0 skipped" in ray_err

    rows = _results(ray_out / "matte-results.parquet")
    assert sorted(rows) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "corrupt.jpg"]
    bad = rows["corrupt.jpg"]
    assert bad["status"] == "failed" and f": {bad['message']}" in corrupt_line
    assert all(rows[n]["status"] == "ok" and rows[n]["message"] == "" for n in PHOTOS)
    assert all(":" in rows[n]["worker"] for n in rows)  # host:pid of the actor
    assert all(rows[n]["peak_rss_mb"] > 50 for n in rows)


@pytest.mark.ray
@needs_u2netp
def test_uri_io_resume_and_force(ray_session, shared_runner, monkeypatch, capsys, tmp_path):
    """Python API over file:// URIs (pyarrow's filesystem path, as for s3://), --mask-only."""
    from matte.cluster import remove_dataset

    src = _photos(tmp_path / "in")
    out = tmp_path / "out"
    local_out = tmp_path / "local"
    _local_cli(shared_runner, monkeypatch, capsys, src, local_out, ["--mask-only"])
    want = _outputs(local_out)
    assert sorted(want) == ["astronaut-mask.png", "chelsea-mask.png", "coffee-mask.png"]

    def run(**kw):
        return remove_dataset(
            src.as_uri(), output_dir=out.as_uri(), model="u2netp", mask_only=True, workers=1,
            **kw,
        )  # fmt: skip

    first = run()
    assert (first.done, first.failed, first.skipped, first.exit_code) == (3, 1, 0, 1)
    assert first.results == f"{out.as_uri()}/matte-results.parquet"
    assert [Path(f).name for f, _ in first.failures] == ["corrupt.jpg"]
    assert _outputs(out) == want

    # a crash left one output missing and one with other bytes: a re-run does the missing one
    # only and leaves the existing file alone
    (out / "chelsea-mask.png").unlink()
    (out / "coffee-mask.png").write_bytes(b"left by an earlier run")
    again = run()
    assert (again.done, again.failed, again.skipped) == (1, 1, 2)
    rows = _results(out / "matte-results.parquet")
    assert {n: r["status"] for n, r in rows.items()} == {
        "astronaut.jpg": "skipped",
        "chelsea.jpg": "ok",
        "coffee.jpg": "skipped",
        "corrupt.jpg": "failed",
    }
    assert (out / "chelsea-mask.png").read_bytes() == want["chelsea-mask.png"]
    assert (out / "coffee-mask.png").read_bytes() == b"left by an earlier run"

    forced = run(force=True)
    assert (forced.done, forced.failed, forced.skipped) == (3, 1, 0)
    assert _outputs(out) == want
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


@needs_u2netp
def test_actor_io_through_a_pyarrow_filesystem(tmp_path, shared_runner, monkeypatch, capsys):
    """The actor's non-local path (pyarrow streams, as for s3://), in-process without Ray:
    a filesystem that is not LocalFileSystem (SubTreeFileSystem over a folder)."""
    pytest.importorskip("pyarrow")
    from pyarrow import fs as pafs

    from matte.cluster import Remover, Task, _existing

    src = _photos(tmp_path / "in")
    local_out = tmp_path / "local"
    _local_cli(shared_runner, monkeypatch, capsys, src, local_out, ["--format", "webp"])
    store = tmp_path / "store"
    (store / "photos").mkdir(parents=True)
    for name in ("chelsea.jpg", "corrupt.jpg"):
        shutil.copyfile(src / name, store / "photos" / name)
    bucket = pafs.SubTreeFileSystem(str(store), pafs.LocalFileSystem())

    parsed = cli.build_parser(load_catalog()).parse_args(
        ["remove", "x", "--model", "u2netp", "--format", "webp"]
    )
    settings = cli.settings_from_args(
        parsed, spec=U2NETP, runner=None, bg={"bg_kind": "transparent"}
    )
    monkeypatch.setattr(cli, "_make_runner", lambda threads: shared_runner)
    actor = Remover(settings, 1, [bucket])
    names = ["chelsea.jpg", "corrupt.jpg", "missing.jpg"]
    batch = {
        "file": [f"mock://photos/{n}" for n in names],
        "output": [f"mock://out/{Path(n).stem}-matte.webp" for n in names],
        "src_fs": [0, 0, 0],
        "src": [f"photos/{n}" for n in names],
        "dst_fs": [0, 0, 0],
        "dst": [f"out/{Path(n).stem}-matte.webp" for n in names],
    }
    rows = actor(batch)
    assert rows["status"] == ["ok", "failed", "failed"]
    assert rows["message"][2] == "no such file"
    assert "truncated" in rows["message"][1]
    written = store / "out" / "chelsea-matte.webp"  # the output folder was created
    assert written.read_bytes() == (local_out / "chelsea-matte.webp").read_bytes()

    again = actor({k: v[:1] for k, v in batch.items()})  # no --force: never replaced
    assert again["status"] == ["failed"]
    assert again["message"] == [
        "mock://out/chelsea-matte.webp already exists (use --force to overwrite it)"
    ]

    task = Task("f", "o", 0, "photos/chelsea.jpg", 0, "out/chelsea-matte.webp")
    other = Task("f", "o", 0, "photos/corrupt.jpg", 0, "out/corrupt-matte.webp")
    assert _existing([task, other], [bucket]) == [True, False]
