"""What ``segment`` writes, skips, keeps and resumes: one labels file per input, and nothing a user had is lost."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files
from napari_sinkhorn_em.cli import main
from napari_sinkhorn_em.segmentation import Segmenter


def _last_error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return lines[-1]


def test_segment_writes_one_labels_file_per_input_with_its_voxel_size(tmp_path, inputs, cli_fast):
    out = tmp_path / "out"

    assert main(["segment", *map(str, inputs), "--out", str(out), *cli_fast]) == 0

    first, second = image_files.read_image(out / "a_labels.tif"), image_files.read_image(out / "b_labels.tif")
    assert first.scale == (0.5, 0.25)
    assert second.scale == (2.0, 3.0)
    assert first.data.shape == (48, 64)
    assert set(np.unique(first.data)) == {1, 2, 3}
    assert sorted(path.name for path in out.iterdir()) == ["a_labels.tif", "b_labels.tif"]


def test_labels_written_are_read_back_identically(tmp_path, good_image, cli_fast):
    good = good_image(tmp_path / "good.tif")
    out = tmp_path / "out"
    assert main(["segment", str(good), "--out", str(out), *cli_fast]) == 0
    expected = Segmenter(3, sample_size=2000).fit_predict(image_files.read_image(good).data)
    np.testing.assert_array_equal(image_files.read_image(out / "good_labels.tif").data, expected)


def test_segment_skips_inputs_whose_output_exists(tmp_path, inputs, capsys, cli_fast):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_labels.tif").write_bytes(b"from an earlier run")

    assert main(["segment", *map(str, inputs), "--out", str(out), *cli_fast]) == 0

    assert (out / "a_labels.tif").read_bytes() == b"from an earlier run"
    assert (out / "b_labels.tif").exists()
    assert "skipped" in capsys.readouterr().err


def test_segment_overwrite_replaces_outputs(tmp_path, inputs, cli_fast):
    out = tmp_path / "out"
    main(["segment", str(inputs[0]), "--out", str(out), "-k", "2", *cli_fast])
    assert image_files.read_image(out / "a_labels.tif").data.max() == 2

    assert main(["segment", str(inputs[0]), "--out", str(out), "-k", "3", "--overwrite", *cli_fast]) == 0

    assert image_files.read_image(out / "a_labels.tif").data.max() == 3


def test_an_existing_output_made_with_other_settings_is_not_skipped_silently(
    tmp_path, console_script, gray_tiff, cli_fast
):
    out = tmp_path / "out"
    assert console_script("segment", tmp_path / "gray.tif", "-k", "2", "--out", out, *cli_fast).returncode == 0
    first = (out / "gray_labels.tif").read_bytes()

    same = console_script("segment", tmp_path / "gray.tif", "-k", "2", "--out", out, *cli_fast)
    assert same.returncode == 0 and "skipped" in same.stderr

    changed = console_script("segment", tmp_path / "gray.tif", "-k", "3", "--out", out, *cli_fast)
    assert changed.returncode == 1
    assert "already exists but was made with other settings (n_components 2 there, 3 now)" in changed.stderr
    assert (out / "gray_labels.tif").read_bytes() == first  # kept

    replaced = console_script("segment", tmp_path / "gray.tif", "-k", "3", "--out", out, "--overwrite", *cli_fast)
    assert replaced.returncode == 0 and image_files.read_image(out / "gray_labels.tif").data.max() == 3


def test_a_finished_zarr_output_made_with_other_settings_is_not_skipped_silently(
    tmp_path, console_script, three_bands, cli_fast
):
    zarr = pytest.importorskip("zarr")
    source = tmp_path / "stack.zarr"
    zarr.create_array(store=str(source), shape=(40, 60), chunks=(20, 30), dtype="uint16")[...] = three_bands
    out = tmp_path / "out"
    assert console_script("segment", source, "-k", "2", "--out", out, *cli_fast).returncode == 0

    changed = console_script("segment", source, "-k", "3", "--out", out, *cli_fast)

    assert changed.returncode == 1 and "n_components 2 there, 3 now" in changed.stderr


def test_an_interrupted_batch_resumes_without_redoing_finished_files(tmp_path, monkeypatch, good_image, cli_fast):
    inputs = [good_image(tmp_path / f"{name}.tif", seed) for seed, name in enumerate("abc")]
    out = tmp_path / "out"
    fitted = []
    fit_predict = Segmenter.fit_predict

    def interrupted_on_b(self, image, **options):
        fitted.append(len(fitted))
        if len(fitted) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while b was being segmented
        return fit_predict(self, image, **options)

    monkeypatch.setattr(Segmenter, "fit_predict", interrupted_on_b)
    with pytest.raises(KeyboardInterrupt):
        main(["segment", *map(str, inputs), "--out", str(out), *cli_fast])
    assert sorted(path.name for path in out.iterdir()) == ["a_labels.tif"]
    finished = (out / "a_labels.tif").read_bytes()

    fitted.clear()
    monkeypatch.setattr(Segmenter, "fit_predict", fit_predict)
    assert main(["segment", *map(str, inputs), "--out", str(out), *cli_fast]) == 0

    assert (out / "a_labels.tif").read_bytes() == finished
    assert sorted(path.name for path in out.iterdir()) == ["a_labels.tif", "b_labels.tif", "c_labels.tif"]


def test_an_interrupted_write_leaves_no_partial_labels_file(tmp_path, monkeypatch, good_image, cli_fast):
    good = good_image(tmp_path / "good.tif")
    out = tmp_path / "out"

    def fail_midway(handle, *args, **kwargs):
        handle.write(b"II*\x00 half a TIFF")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", fail_midway)
    assert main(["segment", str(good), "--out", str(out), *cli_fast]) == 1

    assert list(out.iterdir()) == []


def test_inputs_are_never_replaced(tmp_path, capsys, good_image, cli_fast):
    image = good_image(tmp_path / "scan.tif")
    original = image.read_bytes()
    labels_named_like_output = tmp_path / "scan_labels.tif"
    labels_named_like_output.write_bytes(original)

    code = main(["segment", str(image), str(labels_named_like_output), "--out", str(tmp_path), "--overwrite",
                 *cli_fast])

    assert code == 2
    assert image.read_bytes() == original and labels_named_like_output.read_bytes() == original
    assert "would replace an input file" in capsys.readouterr().err


def test_output_that_would_replace_an_input_is_refused(tmp_path, inputs, capsys):
    twin = shutil.copy(inputs[0], tmp_path / "in" / "a_labels.tif")

    assert main(["segment", str(inputs[0]), str(twin), "--out", str(tmp_path / "in"), "--overwrite"]) == 2
    assert "would replace an input" in _last_error_line(capsys)


def test_an_output_folder_that_is_a_file_is_refused_and_kept(tmp_path, capsys, good_image, cli_fast):
    good = good_image(tmp_path / "good.tif")
    taken = tmp_path / "out"
    taken.write_text("my notes")

    assert main(["segment", str(good), "--out", str(taken), *cli_fast]) == 2

    assert taken.read_text() == "my notes"
    assert "cannot create the output folder" in capsys.readouterr().err
