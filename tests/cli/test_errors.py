"""Bad arguments and bad inputs: one sentence on stderr, no traceback, exit status 2 (1 for some inputs of a batch)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em.cli import main


def _error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if ": error:" in line]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["segment", "x.tif", "--out", "o", "-k", "0"], "whole number of at least 2"),
        (["segment", "x.tif", "--out", "o", "-k", "1"], "one class would label every pixel 1"),
        (["segment", "x.tif"], "--out"),
        (["segment", "x.tif", "--out", "o", "--epsilon", "-1"], "positive number"),
        (["segment", "x.tif", "--out", "o", "--method", "kmeans"], "invalid choice"),
        (["segment", "x.tif", "--out", "o", "--class-sizes", "90,-10"], "one positive number per class"),
        (["segment", "x.tif", "--out", "o", "--class-sizes", "90,10"], "2 sizes but there are 3 classes"),
        (["segment", "x.tif", "--out", "o", "--assign", "nearest"], "invalid choice"),
        (["segment", "x.tif", "--out", "o", "--model", "m.json", "--assign", "plan"], "cannot be used with it"),
        (["cluster"], "invalid choice"),
        (["segment", "x.tif", "--out", "o", "--model", "m.json", "-k", "4"], "cannot be used with it"),
        (["segment", "x.tif", "--out", "o", "--model", "missing.json"], "cannot use the model"),
        (["compare", "missing.tif", "--out", "o"], "cannot read missing.tif"),
    ],
)
def test_bad_arguments_exit_2_with_one_sentence(tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(arguments))

    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert message in error
    assert len(error.splitlines()) == 1
    assert "Traceback" not in error


def test_one_class_is_refused_with_a_sentence(tmp_path, console_script, gray_tiff):
    result = console_script("segment", tmp_path / "gray.tif", "-k", "1", "--out", tmp_path / "out")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "at least 2 (one class would label every pixel 1" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--object-classes", "1"], "add --instances"),
        (["--instances", "--object-classes", "4"], "names class 4, but there are only 3 classes"),
    ],
)
def test_object_classes_are_checked_before_any_work(tmp_path, arguments, message, console_script, gray_tiff):
    result = console_script("segment", tmp_path / "gray.tif", *arguments, "--out", tmp_path / "out")
    assert result.returncode == 2 and message in result.stderr


def test_console_script_reports_errors_without_traceback(tmp_path):
    script = shutil.which("napari-sinkhorn-em", path=str(sys.executable.rsplit("/", 1)[0]))
    assert script is not None

    result = subprocess.run([script, "segment", "x.tif", "--out", str(tmp_path), "-k", "zero"],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_broken_input_is_reported_and_the_others_are_written(tmp_path, inputs, capsys, cli_fast):
    broken = tmp_path / "in" / "broken.tif"
    broken.write_bytes(b"not a tiff")
    out = tmp_path / "out"

    status = main(["segment", str(inputs[0]), str(broken), str(inputs[1]), "--out", str(out), *cli_fast])

    assert status == 1
    assert (out / "a_labels.tif").exists() and (out / "b_labels.tif").exists()
    assert not (out / "broken_labels.tif").exists()
    errors = capsys.readouterr().err
    assert "broken.tif: error:" in errors
    assert "Traceback" not in errors


@pytest.mark.parametrize(
    ("write_bad", "message"),
    [
        (lambda path: tifffile.imwrite(path, np.full((8, 8), np.nan, dtype=np.float32)), "NaN or infinite"),
        (lambda path: tifffile.imwrite(path, np.arange(8, dtype=np.uint8)), "2-D or 3-D image"),
        (lambda path: path.write_text("not an image"), "could not be read as a TIFF image"),
        (lambda path: path.write_bytes(b""), "is empty (0 bytes)"),
    ],
    ids=["nan", "1-D", "text", "empty"],
)
def test_a_bad_input_is_reported_by_name_and_the_others_are_written(
    tmp_path, capsys, write_bad, message, good_image, cli_fast
):
    good, bad = good_image(tmp_path / "good.tif"), tmp_path / "bad.tif"
    write_bad(bad)
    out = tmp_path / "out"

    assert main(["segment", str(bad), str(good), "--out", str(out), *cli_fast]) == 1

    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(f"{bad}: error:") and message in errors[0]
    assert sorted(path.name for path in out.iterdir()) == ["good_labels.tif"]
