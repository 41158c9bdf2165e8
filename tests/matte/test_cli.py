"""Tests for the ``matte`` command-line tool (matte.cli).

Input expansion, output planning, argument errors and the progress display run without the
models. Tests marked ``model`` run the real ``u2netp`` model (about 0.5-1 s an image) through
``main()`` in-process, sharing one onnxruntime session; two run ``python -m matte`` in a real
subprocess. They skip when ``u2netp.onnx`` is not in the model cache (``python build.py fetch``).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from matte import cli
from matte.composite import subject_bbox
from matte.decode import decode
from matte.models import load_catalog
from matte.pipeline import segment
from matte.runner import model_path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CAT = load_catalog()
U2NETP = CAT.get("u2netp")
HAVE_U2NETP = model_path(U2NETP).is_file()

needs_u2netp = pytest.mark.skipif(
    not HAVE_U2NETP, reason="u2netp.onnx is not in the model cache: run `python build.py fetch`"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def _open(path: Path) -> Image.Image:
    im = Image.open(path)
    im.load()
    return im


def _photo(tmp_path: Path, name: str = "photo.jpg", source: str = "astronaut.jpg") -> Path:
    dst = tmp_path / name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DATA / source, dst)
    return dst


def _run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture
def cli_runner(shared_runner, monkeypatch):
    """Make every in-process main() reuse one session (the CLI makes one per run)."""
    monkeypatch.setattr(cli, "_make_runner", lambda threads: shared_runner)
    return shared_runner


# --------------------------------------------------------------------------------------------
# input expansion and output planning (no model)


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_scan_filters_and_recursion(tmp_path):
    a = _touch(tmp_path / "a.jpg")
    b = _touch(tmp_path / "B.PNG")
    _touch(tmp_path / "notes.txt")
    _touch(tmp_path / ".hidden.jpg")
    _touch(tmp_path / "a-matte.png")  # an earlier result
    _touch(tmp_path / "a-mask.png")
    _touch(tmp_path / "a-matte-2.WEBP")  # disambiguated earlier result
    deep = _touch(tmp_path / "sub" / "c.webp")

    flat = cli.expand_inputs([str(tmp_path)])
    assert flat.files == [b, a]  # sorted by name, only images
    assert sorted(p.name for p in flat.skipped) == ["a-mask.png", "a-matte-2.WEBP", "a-matte.png"]
    assert flat.errors == []

    rec = cli.expand_inputs([str(tmp_path)], recursive=True)
    assert rec.files == [b, a, deep]


def test_explicit_files_always_attempted_and_deduplicated(tmp_path):
    txt = _touch(tmp_path / "notes.txt")
    earlier = _touch(tmp_path / "x-matte.png")
    a = _touch(tmp_path / "a.jpg")
    got = cli.expand_inputs([str(txt), str(earlier), str(a), str(tmp_path), str(a)])
    assert got.files == [txt, earlier, a]  # a.jpg once, though named twice and in the folder


def test_glob_expanded_here(tmp_path):
    a = _touch(tmp_path / "a.jpg")
    b = _touch(tmp_path / "b.jpg")
    _touch(tmp_path / "c.png")
    _touch(tmp_path / "d.txt")
    deep = _touch(tmp_path / "sub" / "e.jpg")
    assert cli.expand_inputs([str(tmp_path / "*.jpg")]).files == [a, b]
    assert cli.expand_inputs([str(tmp_path / "**" / "*.jpg")]).files == [a, b, deep]
    star = cli.expand_inputs([str(tmp_path / "*")])  # non-images found by a pattern: skipped
    assert [p.name for p in star.files] == ["a.jpg", "b.jpg", "c.png", "e.jpg"]


def test_missing_inputs_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    got = cli.expand_inputs(
        [str(tmp_path / "nope.jpg"), str(tmp_path / "*.gif"), str(tmp_path / "empty")]
    )
    assert got.files == []
    msgs = dict(got.errors)
    assert msgs[str(tmp_path / "nope.jpg")] == "no such file or folder"
    assert msgs[str(tmp_path / "*.gif")] == "no images match this pattern"
    assert "no images in this folder" in msgs[str(tmp_path / "empty")]


def test_unreadable_folder_reported(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    _touch(locked / "a.jpg")

    def scandir(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cli.os, "scandir", scandir)
    got = cli.expand_inputs([str(locked)])
    assert got.files == []
    assert got.errors == [(str(locked), "cannot read this folder: Permission denied")]


def test_output_names_and_collisions(tmp_path):
    a = _touch(tmp_path / "a" / "photo.jpg")
    b = _touch(tmp_path / "b" / "photo.jpg")
    c = _touch(tmp_path / "a" / "photo.PNG")
    out = tmp_path / "out"
    jobs, notes = cli.plan_outputs([a, b, c], out_dir=out, format="png")
    assert [j.dst for j in jobs] == [
        out / "photo-matte.png",
        out / "photo-matte-2.png",
        out / "photo-matte-3.png",
    ]
    assert all(j.error is None for j in jobs)
    assert len(notes) == 2 and "photo-matte-2.png" in notes[0]
    # beside the input by default: a/photo.jpg and a/photo.PNG collide, b/photo.jpg does not
    jobs, _ = cli.plan_outputs([a, b, c], out_dir=None, format="jpeg", suffix="-mask")
    assert [j.dst for j in jobs] == [
        a.parent / "photo-mask.jpg",
        b.parent / "photo-mask.jpg",
        a.parent / "photo-mask-2.jpg",
    ]


def test_existing_outputs_refused_unless_forced(tmp_path):
    a = _touch(tmp_path / "photo.jpg")
    _touch(tmp_path / "photo-matte.png")
    (jobs, _) = cli.plan_outputs([a], out_dir=None, format="png")
    assert "already exists" in jobs[0].error and "--force" in jobs[0].error
    (jobs, _) = cli.plan_outputs([a], out_dir=None, format="png", force=True)
    assert jobs[0].error is None
    # an output that is another input of the run is never replaced, even with --force
    other = _touch(tmp_path / "photo-matte.png")
    (jobs, _) = cli.plan_outputs([a, other], out_dir=None, format="png", force=True)
    assert "is an input of this run" in jobs[0].error


def test_write_is_exclusive_without_force(tmp_path):
    dst = _touch(tmp_path / "x.png", b"old")
    with pytest.raises(cli.OutputExistsError):
        cli._write(dst, b"new", force=False)
    assert dst.read_bytes() == b"old"
    cli._write(dst, b"new", force=True)
    assert dst.read_bytes() == b"new"
    cli._write(tmp_path / "y.png", b"fresh", force=False)
    assert (tmp_path / "y.png").read_bytes() == b"fresh"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png", "y.png"]  # no temp files left


def test_progress_bar_on_a_terminal_and_lines_otherwise(tmp_path):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    def result(name, ok=True):
        job = cli.Job(tmp_path / name, tmp_path / f"{name}.out")
        return cli.Result(job, ok=ok, seconds=0.5)

    tty = Tty()
    p = cli.Progress(2, tty)
    p.start()
    p.step(result("one.jpg"))
    p.message("error: two.jpg: broken", always=True)
    p.step(result("two.jpg", ok=False))
    p.finish()
    text = tty.getvalue()
    assert "\r[          " in text and "] 1/2 " in text and "one.jpg" in text
    assert "\r[####################] 2/2 " in text
    assert "error: two.jpg: broken\n" in text and text.endswith("\n")

    plain = io.StringIO()
    p = cli.Progress(2, plain)
    p.start()
    p.step(result("one.jpg"))
    p.step(result("two.jpg", ok=False))
    assert (
        plain.getvalue() == f"[1/2] {tmp_path / 'one.jpg'} -> {tmp_path / 'one.jpg.out'} (0.50 s)\n"
    )

    quiet = Tty()
    p = cli.Progress(1, quiet, quiet=True)
    p.start()
    p.message("note: hidden")
    p.step(result("one.jpg"))
    p.message("error: shown", always=True)
    p.finish()
    assert quiet.getvalue() == "error: shown\n"


# --------------------------------------------------------------------------------------------
# argument errors, help, models (no model files needed)


def test_python_m_matte_help():
    res = subprocess.run(
        [sys.executable, "-m", "matte", "--help"], capture_output=True, text=True, env=_env()
    )
    assert res.returncode == 0, res.stderr
    assert "remove" in res.stdout and "models" in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "matte", "remove", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert res.returncode == 0
    for opt in ("--bg", "--format", "--mask-only", "--crop", "--force", "--jobs", "exit status"):
        assert opt in res.stdout


def test_no_command_is_a_usage_error(capsys):
    assert _run() == 2
    assert "remove" in capsys.readouterr().err


def test_unknown_model_lists_choices(tmp_path, capsys):
    src = _photo(tmp_path)
    assert _run("remove", src, "--model", "nope") == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err
    for mid in CAT.ids():
        assert mid in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--mask-only", "--format", "jpg"], "--mask-only writes a PNG"),
        (["--mask-only", "--bg", "red"], "cannot be combined"),
        (["--mask-only", "--crop"], "full-size mask"),
        (["--margin", "4"], "--margin needs --crop"),
        (["--bg", "not-a-colour"], "not an image file either"),
        (["--bg", "blur:-3"], "blur radius"),
        (["--jobs", "0"], "expected a number >= 1"),
        (["--format", "gif"], "expected png, webp or jpg"),
        (["--quality", "101"], "0-100"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, args, expect):
    src = _photo(tmp_path)
    assert _run("remove", src, *args) == 2
    assert expect in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_nothing_to_process_exit_2(tmp_path, capsys):
    assert _run("remove", tmp_path / "missing.jpg", tmp_path / "*.png") == 2
    err = capsys.readouterr().err
    assert "missing.jpg: no such file or folder" in err
    assert "no images to process" in err


def test_missing_model_file_exit_2(tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MATTE_CACHE", str(tmp_path / "empty-cache"))
    src = _photo(tmp_path)
    assert _run("remove", src, "--model", "u2netp") == 2
    err = capsys.readouterr().err
    assert "not found" in err and "python build.py fetch" in err
    assert not (tmp_path / "photo-matte.png").exists()


def test_models_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MATTE_CACHE", str(tmp_path))
    models = tmp_path / "models"
    models.mkdir()
    with open(models / U2NETP.file, "wb") as f:  # right size (sparse), wrong bytes
        f.truncate(U2NETP.bytes)
    small = CAT.get("isnet-small")
    (models / small.file).write_bytes(b"short")
    assert _run("models") == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "present" in lines["u2netp"] and "Apache-2.0" in lines["u2netp"]
    assert "4.6 MB" in lines["u2netp"] and U2NETP.label in lines["u2netp"]
    assert "wrong size" in lines["isnet-small"]
    assert "missing" in lines["isnet-medium"] and "AGPL-3.0" in lines["isnet-medium"]
    assert "best *" in out and str(models) in out and "build.py fetch" in out
    assert "= isnet-medium + u2netp" in lines["best"] and "92.7 MB" in lines["best"]
    assert _run("models", "--verify") == 0
    out = capsys.readouterr().out
    assert "corrupt" in next(line for line in out.splitlines() if line.startswith("u2netp"))


# --------------------------------------------------------------------------------------------
# real runs with u2netp


@pytest.fixture
def mask_of(cli_runner):
    def f(path: Path) -> np.ndarray:
        dec = decode(path.read_bytes())
        alpha = segment(dec.rgb, U2NETP, cli_runner)
        return alpha if dec.alpha is None else np.minimum(alpha, dec.alpha)

    return f


@pytest.mark.model
@needs_u2netp
def test_single_file_cutout_keeps_size_and_icc(tmp_path, capsys, cli_runner, mask_of):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "photo.jpg"
    Image.open(DATA / "astronaut.jpg").save(src, quality=95, icc_profile=icc)
    assert _run("remove", src, "--model", "u2netp") == 0
    err = capsys.readouterr().err
    assert "1 done, 0 failed" in err and "images/s" in err
    out = _open(tmp_path / "photo-matte.png")
    assert out.mode == "RGBA" and out.size == (512, 512)
    assert out.info.get("icc_profile") == icc
    px = np.asarray(out)
    a = px[..., 3]
    np.testing.assert_array_equal(a, mask_of(src))
    assert a[300:480, 60:300].mean() > 230  # the astronaut
    assert a[0:100, 400:512].mean() < 15  # the sky
    keep = a > 0
    np.testing.assert_array_equal(px[..., :3][keep], decode(src.read_bytes()).rgb[keep])
    assert not px[..., :3][~keep].any()  # the removed background does not survive under a=0


@pytest.mark.model
@needs_u2netp
def test_folder_with_outdir(tmp_path, capsys, cli_runner):
    folder = tmp_path / "in"
    _photo(folder, "cat.jpg", "chelsea.jpg")
    _photo(folder, "cup.jpg", "coffee.jpg")
    _touch(folder / "readme.txt", b"not an image")
    out = tmp_path / "out" / "nested"
    assert _run("remove", folder, "-o", out, "--model", "fast") == 0
    assert sorted(p.name for p in out.iterdir()) == ["cat-matte.png", "cup-matte.png"]
    assert _open(out / "cat-matte.png").size == (451, 300)
    assert _open(out / "cup-matte.png").size == (600, 400)
    assert "2 done, 0 failed" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg", "cup.jpg", "readme.txt"]


@pytest.mark.model
@needs_u2netp
def test_glob_pattern(tmp_path, capsys, cli_runner):
    _photo(tmp_path, "cat.jpg", "chelsea.jpg")
    Image.open(DATA / "coffee.jpg").save(tmp_path / "cup.png")
    assert _run("remove", str(tmp_path / "*.jpg"), "--model", "u2netp", "--jobs", "1") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat-matte.png", "cat.jpg", "cup.png"]
    assert "1 done, 0 failed" in capsys.readouterr().err


@pytest.mark.model
@needs_u2netp
def test_no_overwrite_without_force(tmp_path, capsys, cli_runner):
    src = _photo(tmp_path, "cat.jpg", "chelsea.jpg")
    other = _photo(tmp_path, "cup.jpg", "coffee.jpg")
    dst = _touch(tmp_path / "cat-matte.png", b"precious")
    assert _run("remove", src, other, "--model", "u2netp") == 1
    err = capsys.readouterr().err
    assert f"error: {src}: {dst} already exists (use --force to overwrite it)" in err
    assert "1 done, 1 failed" in err
    assert dst.read_bytes() == b"precious"
    assert _open(tmp_path / "cup-matte.png").size == (600, 400)  # the other one finished

    assert _run("remove", src, "--model", "u2netp", "--force", "--quiet") == 0
    assert capsys.readouterr().err == ""
    assert _open(dst).size == (451, 300)


@pytest.mark.model
@needs_u2netp
def test_bad_files_among_good_ones_subprocess(tmp_path):
    good = _photo(tmp_path, "good.jpg", "coffee.jpg")
    _touch(tmp_path / "garbage.jpg", b"this is not a picture at all")
    whole = (DATA / "chelsea.jpg").read_bytes()
    _touch(tmp_path / "truncated.jpg", whole[: len(whole) // 3])
    _touch(tmp_path / "empty.png", b"")
    res = subprocess.run(
        [sys.executable, "-m", "matte", "remove", str(tmp_path), "--model", "u2netp"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3, res.stderr
    assert any("garbage.jpg: This file is not an image" in e for e in errors)
    assert any("truncated.jpg: " in e for e in errors)
    assert any("empty.png: The file is empty (0 bytes)." in e for e in errors)
    assert "1 done, 3 failed" in res.stderr
    assert _open(tmp_path / "good-matte.png").size == (600, 400)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "empty.png", "garbage.jpg", "good-matte.png", "good.jpg", "truncated.jpg"
    ]  # fmt: skip
    assert good.exists()


@pytest.mark.model
@needs_u2netp
def test_zero_byte_file_and_too_large(tmp_path, capsys, cli_runner):
    empty = _touch(tmp_path / "empty.jpg", b"")
    assert _run("remove", empty, "--model", "u2netp") == 1
    err = capsys.readouterr().err
    assert f"error: {empty}: The file is empty (0 bytes)." in err and "0 done, 1 failed" in err
    big = _photo(tmp_path, "big.jpg")
    assert _run("remove", big, "--model", "u2netp", "--max-pixels", "100K") == 1
    err = capsys.readouterr().err
    assert f"error: {big}: The image is 512x512 (0.3 MP), over the limit of 0.1 MP" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jpg", "empty.jpg"]


@pytest.mark.model
@needs_u2netp
def test_jpeg_and_webp_outputs(tmp_path, cli_runner, mask_of):
    src = _photo(tmp_path)
    alpha = mask_of(src)
    assert _run("remove", src, "--model", "u2netp", "--format", "jpg", "-q") == 0
    assert _run("remove", src, "--model", "u2netp", "--format", "webp", "--quality", "80") == 0
    jpg = _open(tmp_path / "photo-matte.jpg")
    assert jpg.format == "JPEG" and jpg.mode == "RGB" and jpg.size == (512, 512)
    px = np.asarray(jpg).astype(int)
    bg = alpha == 0
    assert bg.sum() > 10_000
    assert np.abs(px[bg] - 255).mean() < 3  # flattened on white
    webp = _open(tmp_path / "photo-matte.webp")
    assert webp.format == "WEBP" and webp.mode == "RGBA" and webp.size == (512, 512)
    wa = np.asarray(webp)[..., 3].astype(int)
    assert np.abs(wa - alpha).max() <= 2


@pytest.mark.model
@needs_u2netp
def test_mask_only(tmp_path, cli_runner, mask_of):
    src = _photo(tmp_path)
    assert _run("remove", src, "--model", "u2netp", "--mask-only") == 0
    m = _open(tmp_path / "photo-mask.png")
    assert m.format == "PNG" and m.mode == "L" and m.size == (512, 512)
    np.testing.assert_array_equal(np.asarray(m), mask_of(src))


@pytest.mark.model
@needs_u2netp
def test_bg_color(tmp_path, cli_runner, mask_of):
    src = _photo(tmp_path)
    assert _run("remove", src, "--model", "u2netp", "--bg", "#00ff00") == 0
    out = _open(tmp_path / "photo-matte.png")
    assert out.mode == "RGB" and out.size == (512, 512)
    px = np.asarray(out)
    alpha = mask_of(src)
    assert (alpha == 0).sum() > 10_000 and (alpha == 255).sum() > 10_000
    assert (px[alpha == 0] == (0, 255, 0)).all()
    np.testing.assert_array_equal(px[alpha == 255], decode(src.read_bytes()).rgb[alpha == 255])


@pytest.mark.model
@needs_u2netp
def test_crop_shrinks_to_subject(tmp_path, cli_runner, mask_of):
    src = _photo(tmp_path, "cup.jpg", "coffee.jpg")
    box = subject_bbox(mask_of(src))
    assert box is not None and box.area < 600 * 400 * 0.8
    assert _run("remove", src, "--model", "u2netp", "--crop") == 0
    out = _open(tmp_path / "cup-matte.png")
    assert out.size == (box.width, box.height)
    assert _run("remove", src, "--model", "u2netp", "--crop", "--margin", "10", "--force") == 0
    out = _open(tmp_path / "cup-matte.png")
    want = box.__class__(box.r0 - 10, box.c0 - 10, box.r1 + 10, box.c1 + 10).clip((400, 600))
    assert out.size == (want.width, want.height)


@pytest.mark.model
@needs_u2netp
def test_source_alpha_is_kept(tmp_path, cli_runner):
    rgba = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGBA")).copy()
    rgba[:, :256, 3] = 0  # left half transparent in the source
    src = tmp_path / "half.png"
    Image.fromarray(rgba, "RGBA").save(src)
    assert _run("remove", src, "--model", "u2netp") == 0
    a = np.asarray(_open(tmp_path / "half-matte.png"))[..., 3]
    model = segment(rgba[..., :3].copy(), U2NETP, cli_runner)
    assert not a[:, :256].any()
    assert model[:, :256].mean() > 50  # the model alone would have kept much of it
    np.testing.assert_array_equal(a[:, 256:], model[:, 256:])


@pytest.mark.model
@needs_u2netp
def test_same_output_name_in_one_run_is_disambiguated(tmp_path, capsys, cli_runner):
    a = _photo(tmp_path / "a", "photo.jpg", "chelsea.jpg")
    b = _photo(tmp_path / "b", "photo.jpg", "coffee.jpg")
    out = tmp_path / "out"
    assert _run("remove", a, b, "-o", out, "--model", "u2netp") == 0
    err = capsys.readouterr().err
    assert "photo-matte-2.png" in err and "2 done, 0 failed" in err
    assert _open(out / "photo-matte.png").size == (451, 300)  # the first input keeps the name
    assert _open(out / "photo-matte-2.png").size == (600, 400)


@pytest.mark.model
@needs_u2netp
def test_bg_image_and_blur(tmp_path, cli_runner, mask_of):
    src = _photo(tmp_path)
    alpha = mask_of(src)
    rgb = decode(src.read_bytes()).rgb
    Image.new("RGB", (40, 30), (10, 20, 200)).save(tmp_path / "blue.png")
    out = tmp_path / "out"
    assert _run("remove", src, "-o", out, "--model", "u2netp", "--bg", tmp_path / "blue.png") == 0
    px = np.asarray(_open(out / "photo-matte.png")).astype(int)
    assert px.shape == (512, 512, 3)
    assert np.abs(px[alpha == 0] - (10, 20, 200)).max() <= 1  # cover-fit of a plain picture
    np.testing.assert_array_equal(px[alpha == 255], rgb[alpha == 255])

    assert _run("remove", src, "-o", out, "--model", "u2netp", "--bg", "blur", "--force") == 0
    px = np.asarray(_open(out / "photo-matte.png")).astype(int)
    np.testing.assert_array_equal(px[alpha == 255], rgb[alpha == 255])
    bg = alpha == 0
    assert np.abs(px[bg] - rgb[bg]).mean() > 1  # the background changed (blurred)
    assert np.abs(px[bg] - rgb[bg]).mean() < 40  # ... but it is still the photo's background


@pytest.mark.model
@needs_u2netp
@pytest.mark.parametrize("option", ["--feather", "--refine-edges"])
def test_mask_refinement_options(tmp_path, cli_runner, mask_of, option):
    from matte.refine import feather, refine_edges

    src = _photo(tmp_path)
    alpha = mask_of(src)
    extra = ["--feather", "3"] if option == "--feather" else ["--refine-edges"]
    assert _run("remove", src, "--model", "u2netp", "--mask-only", *extra) == 0
    got = np.asarray(_open(tmp_path / "photo-mask.png"))
    if option == "--feather":
        want = feather(alpha, radius=3)
    else:
        want = refine_edges(decode(src.read_bytes()).rgb, alpha)
    assert not np.array_equal(want, alpha)
    np.testing.assert_array_equal(got, want)


@pytest.mark.model
@needs_u2netp
def test_unwritable_output_is_a_per_file_error(tmp_path, capsys, cli_runner, monkeypatch):
    src = _photo(tmp_path, "cat.jpg", "chelsea.jpg")
    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        if "w" in mode or "x" in mode:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    assert _run("remove", src, "--model", "u2netp") == 1
    err = capsys.readouterr().err
    dst = tmp_path / "cat-matte.png"
    assert f"error: {src}: cannot write {dst}: Permission denied" in err
    assert "Traceback" not in err and not dst.exists()


@pytest.mark.model
@needs_u2netp
@pytest.mark.skipif(not model_path(CAT.model("isnet-medium")).is_file(),
                    reason="isnet-medium.onnx is not in the model cache")
def test_default_runs_the_fusion(tmp_path, cli_runner):
    """No --model: the default fusion (ISNet + u2netp); --model picks one model alone."""
    src = _photo(tmp_path, source="chelsea.jpg")  # ISNet leaves a wide part of it grey
    assert _run("remove", src, "--mask-only") == 0
    got = np.asarray(_open(tmp_path / "photo-mask.png")).astype(int)
    rgb = decode(src.read_bytes()).rgb
    np.testing.assert_array_equal(got, segment(rgb, CAT.get("best"), cli_runner))
    assert _run("remove", src, "--mask-only", "--model", "isnet-medium", "--force") == 0
    alone = np.asarray(_open(tmp_path / "photo-mask.png")).astype(int)
    np.testing.assert_array_equal(alone, segment(rgb, CAT.get("isnet-medium"), cli_runner))
    assert np.abs(got - alone).mean() > 5
