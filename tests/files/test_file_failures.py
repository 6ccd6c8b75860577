"""Files that fail (issue 20), through the library and the command line: damaged inputs, concurrent runs,
hostile model files, unusable voxel sizes, temporaries left by killed runs, read-only output folders.
Nothing a user had is lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files
from napari_sinkhorn_em.cli import main
from napari_sinkhorn_em.segmentation import Segmenter

def _good_image(path, seed=0):
    rng = np.random.default_rng(seed)
    image = np.round(rng.normal(100.0, 10.0, (32, 32)) + 60.0 * (np.arange(32) >= 16)).astype(np.uint16)
    tifffile.imwrite(path, image, compression="zlib")
    return path


def _truncated(path, source):
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])


def _corrupted(path, source):
    data = bytearray(source.read_bytes())
    data[300:400] = bytes(100)  # inside the zlib stream of the pixels
    path.write_bytes(bytes(data))


def _six_bytes(path, source):
    path.write_bytes(source.read_bytes()[:6])


def _cli(*arguments, timeout=300):
    script = shutil.which("napari-sinkhorn-em", path=os.path.dirname(sys.executable))
    return subprocess.run([script, *map(str, arguments)], capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------
# D1: a damaged TIFF is reported by name and the batch goes on
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [_truncated, _corrupted, _six_bytes], ids=["truncated", "corrupted", "6-byte"])
def test_a_damaged_tiff_is_a_value_error_naming_the_file(tmp_path, damage):
    bad = tmp_path / "bad.tif"
    damage(bad, _good_image(tmp_path / "good.tif"))
    with pytest.raises(ValueError, match=r"bad\.tif could not be read as a TIFF image"):
        image_files.read_image(bad)


def test_a_damaged_tiff_in_a_batch_is_reported_and_the_next_input_is_segmented(tmp_path, cli_fast):
    good = _good_image(tmp_path / "good.tif")
    truncated, corrupted = tmp_path / "truncated.tif", tmp_path / "corrupted.tif"
    _truncated(truncated, good)
    _corrupted(corrupted, good)
    out = tmp_path / "out"

    result = _cli("segment", truncated, corrupted, good, "--out", out, *cli_fast)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{truncated}: error: " in result.stderr and f"{corrupted}: error: " in result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["good_labels.tif"]


def test_compare_reports_a_damaged_tiff_in_one_sentence(tmp_path, cli_fast):
    bad = tmp_path / "bad.tif"
    _truncated(bad, _good_image(tmp_path / "good.tif"))

    result = _cli("compare", bad, "--out", tmp_path / "out", *cli_fast)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot read {bad}" in result.stderr and "could not be read as a TIFF image" in result.stderr


# ---------------------------------------------------------------------------
# D2: two runs into the same output: the second to finish does not replace the first's file
# ---------------------------------------------------------------------------


def test_atomic_write_does_not_replace_a_file_created_meanwhile(tmp_path):
    target = tmp_path / "labels.tif"
    with pytest.raises(FileExistsError, match="created by another program or run while this one was writing"):
        with image_files.atomic_write(target) as handle:
            handle.write(b"mine")
            target.write_bytes(b"the other run's")  # another run finished first
    assert target.read_bytes() == b"the other run's"
    assert list(tmp_path.iterdir()) == [target]  # no temporary left


def test_the_run_that_finishes_second_fails_with_a_clear_message(tmp_path, monkeypatch, capsys, cli_fast):
    good = _good_image(tmp_path / "good.tif")
    out = tmp_path / "out"
    fit_predict = Segmenter.fit_predict

    def other_run_writes_first(self, image, **options):
        labels = fit_predict(self, image, **options)
        image_files.write_tiff(out / "good_labels.tif", np.ones((4, 4), dtype=np.uint8))  # the concurrent run's result
        return labels

    monkeypatch.setattr(Segmenter, "fit_predict", other_run_writes_first)

    assert main(["segment", str(good), "--out", str(out), *cli_fast]) == 1

    errors = [line for line in capsys.readouterr().err.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "was written by another run or program while good.tif was being segmented" in errors[0]
    np.testing.assert_array_equal(image_files.read_image(out / "good_labels.tif").data, np.ones((4, 4)))


# ---------------------------------------------------------------------------
# D9: hostile JSON
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"n_iter": 1e999}', "beyond the range of floating-point numbers"),
        ('{"n_iter": -1e999}', "beyond the range of floating-point numbers"),
        ('{"weights": [NaN, 1]}', "NaN, which is not a number JSON allows"),
        ('{"weights": Infinity}', "Infinity, which is not a number JSON allows"),
        ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels deep"),
        ("[" * 70 + "]" * 70, "nested more than 64 levels deep"),
        ('{"a": [1, 2', "Expecting"),
    ],
    ids=["1e999", "-1e999", "NaN", "Infinity", "100000-deep", "70-deep", "truncated"],
)
def test_parse_json_refuses_hostile_documents_with_a_value_error(text, message):
    with pytest.raises(ValueError, match=message):
        image_files.parse_json(text)


def test_parse_json_reads_a_saved_model_unchanged(tmp_path):
    image = np.random.default_rng(0).normal(size=(20, 20))
    path = Segmenter(2, sample_size=200).fit(image).save(tmp_path / "m.json")
    assert image_files.parse_json(path.read_bytes()) == json.loads(path.read_text())


def _hostile_model(tmp_path, edit):
    image = np.random.default_rng(0).normal(size=(20, 20))
    text = Segmenter(2, sample_size=200).fit(image).save(tmp_path / "model.json").read_text()
    (tmp_path / "model.json").write_text(edit(text))
    return tmp_path / "model.json"


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace('"n_iter": ', '"n_iter": 1e999, "was": '),
        lambda text: text.replace('"n_iter": ', '"n_iter": ' + "[" * 100_000 + "]" * 100_000 + ', "was": '),
    ],
    ids=["1e999", "100000-deep"],
)
def test_a_hostile_model_file_is_refused_in_one_sentence(tmp_path, edit):
    model = _hostile_model(tmp_path, edit)

    result = _cli("segment", _good_image(tmp_path / "good.tif"), "--out", tmp_path / "out", "--model", model)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is damaged or not a model file" in result.stderr


# ---------------------------------------------------------------------------
# D11: unusable OME voxel sizes
# ---------------------------------------------------------------------------


def _ome_with_sizes(path, size_x, size_y="0.5"):
    tifffile.imwrite(path, np.zeros((8, 8), dtype=np.uint8), ome=True, metadata={"axes": "YX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    xml = xml.replace("<Pixels ", f'<Pixels PhysicalSizeX="{size_x}" PhysicalSizeY="{size_y}" ', 1)
    tifffile.tiffcomment(path, xml.encode())
    return path


@pytest.mark.parametrize("value", ["0", "-1", "NaN", "inf"])
def test_an_unusable_physical_size_is_warned_about_with_what_was_used(tmp_path, value):
    path = _ome_with_sizes(tmp_path / "cells.ome.tif", value)
    with pytest.warns(UserWarning, match=rf"cells\.ome\.tif: .*PhysicalSizeX = {value} µm.*1 µm along the axes"):
        image = image_files.read_image(path)
    assert image.scale == (0.5, 1.0)


def test_no_usable_physical_size_says_no_voxel_size_is_used(tmp_path):
    path = _ome_with_sizes(tmp_path / "cells.ome.tif", "0", "nan")
    with pytest.warns(UserWarning, match="no voxel size is used"):
        assert image_files.read_image(path).scale is None


def test_the_command_line_prints_the_voxel_size_warning(tmp_path, cli_fast):
    path = _ome_with_sizes(tmp_path / "cells.ome.tif", "-1")
    tifffile.imwrite(path, np.arange(64, dtype=np.uint8).reshape(8, 8), ome=True, metadata={"axes": "YX"})
    _ome_with_sizes(path, "-1")

    result = _cli("segment", path, "--out", tmp_path / "out", "-k", "2", *cli_fast)

    assert "warning: cells.ome.tif: the voxel size in the file's OME metadata is not a positive length" in result.stderr


# ---------------------------------------------------------------------------
# D12: temporaries of a killed run are removed by the next run
# ---------------------------------------------------------------------------


def test_a_temporary_left_by_a_killed_write_is_removed_by_the_next_run(tmp_path, cli_fast):
    good = _good_image(tmp_path / "good.tif")
    out = tmp_path / "out"
    out.mkdir()
    (out / "good_labels.tif").write_bytes(b"an earlier result")  # kept: the input is skipped
    stale = out / ".good_labels.tif.0123456789ab.tmp"
    stale.write_bytes(b"II*\x00 half a TIFF")  # as SIGKILL during a write leaves it
    foreign = out / ".notes.txt.tmp"
    foreign.write_bytes(b"not ours")

    result = _cli("segment", good, "--out", out, *cli_fast)

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == [".notes.txt.tmp", "good_labels.tif"]


def test_a_temporary_being_written_by_a_running_process_is_kept(tmp_path):
    target = tmp_path / "labels.tif"
    with image_files.atomic_write(target) as handle:
        handle.write(b"in progress")
        (temporary,) = tmp_path.glob(".labels.tif.*.tmp")
        # A second process cleaning the folder sees the lock of the live writer.
        code = (f"from napari_sinkhorn_em import image_files; "
                f"print(len(image_files.remove_stale_temporaries({str(tmp_path)!r})))")
        cleaned = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert cleaned.stdout.strip() == "0" and temporary.exists()
    assert target.read_bytes() == b"in progress"


def test_a_temporary_of_a_killed_process_is_removed(tmp_path):
    code = (
        "import os, signal, sys\n"
        "from napari_sinkhorn_em import image_files\n"
        "with image_files.atomic_write(sys.argv[1]) as handle:\n"
        "    handle.write(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(tmp_path / "labels.tif")], timeout=120)
    assert killed.returncode == -9
    (temporary,) = tmp_path.glob(".labels.tif.*.tmp")

    assert image_files.remove_stale_temporaries(tmp_path) == [temporary]
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# D13: a read-only output folder is refused before any work
# ---------------------------------------------------------------------------


def test_a_read_only_output_folder_is_refused_before_segmenting(tmp_path, monkeypatch, capsys, cli_fast):
    good = _good_image(tmp_path / "good.tif")
    out = tmp_path / "out"
    out.mkdir()
    fitted = []
    monkeypatch.setattr(Segmenter, "fit_predict", lambda *args, **kwargs: fitted.append(1))

    def read_only(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)  # as for a folder without write permission

    assert main(["segment", str(good), "--out", str(out), *cli_fast]) == 2

    assert fitted == []
    assert f"cannot write into the output folder {out} (Permission denied)" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write into read-only folders")
def test_a_read_only_output_folder_exits_2(tmp_path, cli_fast):
    good = _good_image(tmp_path / "good.tif")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = _cli("segment", good, "--out", out, *cli_fast)
    finally:
        out.chmod(0o755)
    assert result.returncode == 2 and "cannot write into the output folder" in result.stderr
