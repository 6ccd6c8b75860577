"""What the command line does with bad inputs, interruptions and existing files: nothing a user had is lost."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files as io
from napari_sinkhorn_em.cli import main
from napari_sinkhorn_em.segmentation.segmenter import Segmenter

FAST = ["--sample-size", "2000"]


def _good_image(path, seed=0):
    rng = np.random.default_rng(seed)
    image = np.round(rng.normal(100.0, 10.0, (32, 32)) + 60.0 * (np.arange(32) >= 16)).astype(np.uint16)
    tifffile.imwrite(path, image)
    return path


def _error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if ": error:" in line]


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
def test_a_bad_input_is_reported_by_name_and_the_others_are_written(tmp_path, capsys, write_bad, message):
    good, bad = _good_image(tmp_path / "good.tif"), tmp_path / "bad.tif"
    write_bad(bad)
    out = tmp_path / "out"

    assert main(["segment", str(bad), str(good), "--out", str(out), *FAST]) == 1

    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(f"{bad}: error:") and message in errors[0]
    assert sorted(path.name for path in out.iterdir()) == ["good_labels.tif"]


def test_an_output_folder_that_is_a_file_is_refused_and_kept(tmp_path, capsys):
    good = _good_image(tmp_path / "good.tif")
    taken = tmp_path / "out"
    taken.write_text("my notes")

    assert main(["segment", str(good), "--out", str(taken), *FAST]) == 2

    assert taken.read_text() == "my notes"
    assert "cannot create the output folder" in capsys.readouterr().err


def test_a_damaged_model_file_is_refused_before_any_work(tmp_path, capsys):
    good = _good_image(tmp_path / "good.tif")
    model = tmp_path / "model.json"
    model.write_text('{"format": "napari-sinkhorn-em segmentation model", "format_version": 1')

    assert main(["segment", str(good), "--out", str(tmp_path / "out"), "--model", str(model)]) == 2

    assert "is damaged or not a model file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_interrupted_batch_resumes_without_redoing_finished_files(tmp_path, monkeypatch):
    inputs = [_good_image(tmp_path / f"{name}.tif", seed) for seed, name in enumerate("abc")]
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
        main(["segment", *map(str, inputs), "--out", str(out), *FAST])
    assert sorted(path.name for path in out.iterdir()) == ["a_labels.tif"]
    finished = (out / "a_labels.tif").read_bytes()

    fitted.clear()
    monkeypatch.setattr(Segmenter, "fit_predict", fit_predict)
    assert main(["segment", *map(str, inputs), "--out", str(out), *FAST]) == 0

    assert (out / "a_labels.tif").read_bytes() == finished
    assert sorted(path.name for path in out.iterdir()) == ["a_labels.tif", "b_labels.tif", "c_labels.tif"]


def test_an_interrupted_write_leaves_no_partial_labels_file(tmp_path, monkeypatch):
    good = _good_image(tmp_path / "good.tif")
    out = tmp_path / "out"

    def fail_midway(handle, *args, **kwargs):
        handle.write(b"II*\x00 half a TIFF")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", fail_midway)
    assert main(["segment", str(good), "--out", str(out), *FAST]) == 1

    assert list(out.iterdir()) == []


def test_inputs_are_never_replaced(tmp_path, capsys):
    image = _good_image(tmp_path / "scan.tif")
    original = image.read_bytes()
    labels_named_like_output = tmp_path / "scan_labels.tif"
    labels_named_like_output.write_bytes(original)

    code = main(["segment", str(image), str(labels_named_like_output), "--out", str(tmp_path), "--overwrite", *FAST])

    assert code == 2
    assert image.read_bytes() == original and labels_named_like_output.read_bytes() == original
    assert "would replace an input file" in capsys.readouterr().err


def test_labels_written_are_read_back_identically(tmp_path):
    good = _good_image(tmp_path / "good.tif")
    out = tmp_path / "out"
    assert main(["segment", str(good), "--out", str(out), *FAST]) == 0
    expected = Segmenter(3, sample_size=2000).fit_predict(io.read_image(good).data)
    np.testing.assert_array_equal(io.read_image(out / "good_labels.tif").data, expected)
