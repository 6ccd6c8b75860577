"""Tests of the ``napari-sinkhorn-em`` command line (napari_sinkhorn_em.cli)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files as io
from napari_sinkhorn_em.cli import main
from napari_sinkhorn_em.segmentation.segmenter import Segmenter

FAST = ["--sample-size", "2000"]


def _write_input(path, seed, *, scale=(0.5, 0.25)):
    """A 2-D OME-TIFF with three noisy vertical bands of equal size and the given pixel size."""
    rng = np.random.default_rng(seed)
    bands = np.repeat(np.array([100.0, 160.0, 220.0]), [21, 21, 22])[None, :].repeat(48, axis=0)
    image = np.round(bands + rng.normal(0.0, 15.0, bands.shape)).astype(np.uint16)
    metadata = {"axes": "YX", "PhysicalSizeY": scale[0], "PhysicalSizeX": scale[1]}
    tifffile.imwrite(path, image, ome=True, metadata=metadata)
    return path


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return [_write_input(folder / "a.ome.tif", 0), _write_input(folder / "b.tif", 1, scale=(2.0, 3.0))]


def _last_error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return lines[-1]


def test_segment_writes_one_labels_file_per_input_with_its_voxel_size(tmp_path, inputs):
    out = tmp_path / "out"

    assert main(["segment", *map(str, inputs), "--out", str(out), *FAST]) == 0

    first, second = io.read_image(out / "a_labels.tif"), io.read_image(out / "b_labels.tif")
    assert first.scale == (0.5, 0.25)
    assert second.scale == (2.0, 3.0)
    assert first.data.shape == (48, 64)
    assert set(np.unique(first.data)) == {1, 2, 3}
    assert sorted(path.name for path in out.iterdir()) == ["a_labels.tif", "b_labels.tif"]


def test_segment_skips_inputs_whose_output_exists(tmp_path, inputs, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_labels.tif").write_bytes(b"from an earlier run")

    assert main(["segment", *map(str, inputs), "--out", str(out), *FAST]) == 0

    assert (out / "a_labels.tif").read_bytes() == b"from an earlier run"
    assert (out / "b_labels.tif").exists()
    assert "skipped" in capsys.readouterr().err


def test_segment_overwrite_replaces_outputs(tmp_path, inputs):
    out = tmp_path / "out"
    main(["segment", str(inputs[0]), "--out", str(out), "-k", "2", *FAST])
    assert io.read_image(out / "a_labels.tif").data.max() == 2

    assert main(["segment", str(inputs[0]), "--out", str(out), "-k", "3", "--overwrite", *FAST]) == 0

    assert io.read_image(out / "a_labels.tif").data.max() == 3


def test_broken_input_is_reported_and_the_others_are_written(tmp_path, inputs, capsys):
    broken = tmp_path / "in" / "broken.tif"
    broken.write_bytes(b"not a tiff")
    out = tmp_path / "out"

    status = main(["segment", str(inputs[0]), str(broken), str(inputs[1]), "--out", str(out), *FAST])

    assert status == 1
    assert (out / "a_labels.tif").exists() and (out / "b_labels.tif").exists()
    assert not (out / "broken_labels.tif").exists()
    errors = capsys.readouterr().err
    assert "broken.tif: error:" in errors
    assert "Traceback" not in errors


def test_save_model_fits_once_and_applies_to_all(tmp_path, inputs):
    out, model = tmp_path / "out", tmp_path / "model.json"

    assert main(["segment", *map(str, inputs), "--out", str(out), "--save-model", str(model), *FAST]) == 0

    loaded = Segmenter.load(model)
    second = io.read_image(inputs[1])
    np.testing.assert_array_equal(io.read_image(out / "b_labels.tif").data,
                                  loaded.predict(second.data, scale=second.scale))


def test_save_model_still_fits_the_first_input_when_its_output_exists(tmp_path, inputs):
    out, model = tmp_path / "out", tmp_path / "model.json"
    out.mkdir()
    (out / "a_labels.tif").write_bytes(b"from an earlier run")

    assert main(["segment", *map(str, inputs), "--out", str(out), "--save-model", str(model), *FAST]) == 0

    assert model.exists()
    assert (out / "a_labels.tif").read_bytes() == b"from an earlier run"
    assert (out / "b_labels.tif").exists()


def test_model_option_applies_a_saved_model(tmp_path, inputs):
    segmenter = Segmenter(2, random_state=5).fit(io.read_image(inputs[0]).data)
    model = segmenter.save(tmp_path / "model.json")
    out = tmp_path / "out"

    assert main(["segment", str(inputs[1]), "--out", str(out), "--model", str(model)]) == 0

    second = io.read_image(inputs[1])
    np.testing.assert_array_equal(io.read_image(out / "b_labels.tif").data,
                                  segmenter.predict(second.data, scale=second.scale))


@pytest.mark.parametrize(
    "options, settings",
    [
        ([], dict(method="sinkhorn_start")),
        (["--method", "sinkhorn", "--class-sizes", "equal", "--epsilon", "0.5"],
         dict(method="sinkhorn", weights="uniform", epsilon=0.5)),
        (["--method", "em", "--class-sizes", "50,30,20", "--assign", "plan"],
         dict(method="em", weights=(0.5, 0.3, 0.2), assignment="plan")),
    ],
    ids=["default", "sinkhorn-equal", "em-fractions-plan"],
)
def test_fit_options_give_the_same_labels_as_the_library(tmp_path, inputs, options, settings):
    out = tmp_path / "out"

    assert main(["segment", str(inputs[0]), "--out", str(out), *FAST, *options]) == 0

    image = io.read_image(inputs[0])
    expected = Segmenter(3, sample_size=2000, **settings).fit_predict(image.data, scale=image.scale)
    np.testing.assert_array_equal(io.read_image(out / "a_labels.tif").data, expected)


def test_instances_option_numbers_objects_of_all_but_the_largest_class(tmp_path, inputs):
    out = tmp_path / "out"

    assert main(["segment", str(inputs[0]), "--out", str(out), "--instances", "--min-size", "50", *FAST]) == 0

    labels = io.read_image(out / "a_labels.tif").data
    # Three bands; the widest (the last, 22 columns) is the largest class, taken as background.
    assert labels.max() == 2  # one object per other band; stray pixels are removed
    band_objects = [np.bincount(labels[:, band].ravel()).argmax() for band in (slice(0, 21), slice(21, 42), slice(42, None))]
    assert band_objects == [1, 2, 0]


def test_object_classes_chooses_the_classes_that_are_split(tmp_path, inputs):
    out = tmp_path / "out"

    assert main(["segment", str(inputs[0]), "--out", str(out), "--instances", "--object-classes", "3",
                 "--min-size", "50", *FAST]) == 0

    labels = io.read_image(out / "a_labels.tif").data
    assert labels.max() == 1 and (labels[:, 42:] == 1).mean() > 0.9 and (labels[:, :42] == 0).mean() > 0.9


def test_instances_remove_objects_below_the_minimum_size(tmp_path):
    image = np.full((40, 40), 100, dtype=np.uint16)
    image[5:15, 5:15] = 200  # one object of 100 pixels
    image[30, 30] = 200  # and one of a single pixel
    tifffile.imwrite(tmp_path / "spots.tif", image)
    out = tmp_path / "out"

    assert main(["segment", str(tmp_path / "spots.tif"), "--out", str(out), "-k", "2", "--instances",
                 "--min-size", "5", *FAST]) == 0

    labels = io.read_image(out / "spots_labels.tif").data
    assert labels.max() == 1 and (labels == 1).sum() == 100 and labels[30, 30] == 0


def test_compare_writes_both_labelings_the_disagreement_and_a_figure(tmp_path, inputs):
    out = tmp_path / "out"

    assert main(["compare", str(inputs[0]), "--out", str(out), "-k", "3", *FAST]) == 0

    assert sorted(path.name for path in out.iterdir()) == [
        "a_comparison.png", "a_disagreement.tif", "a_em_labels.tif", "a_sinkhorn_labels.tif",
    ]
    assert (out / "a_comparison.png").read_bytes()[:4] == b"\x89PNG"
    disagreement = io.read_image(out / "a_disagreement.tif").data
    em, sinkhorn = (io.read_image(out / f"a_{name}_labels.tif").data for name in ("em", "sinkhorn"))
    np.testing.assert_array_equal(disagreement, em != sinkhorn)


def test_compare_does_not_overwrite_without_the_flag(tmp_path, inputs, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_comparison.png").write_bytes(b"keep me")

    assert main(["compare", str(inputs[0]), "--out", str(out), *FAST]) == 2

    assert (out / "a_comparison.png").read_bytes() == b"keep me"
    assert "--overwrite" in _last_error_line(capsys)


def test_demo_writes_labels_and_figure(tmp_path, capsys):
    out = tmp_path / "demo"

    assert main(["demo", "--out", str(out)]) == 0

    names = sorted(path.name for path in out.iterdir())
    assert names == ["worms_2d.tif", "worms_2d_comparison.png", "worms_2d_disagreement.tif",
                     "worms_2d_em_labels.tif", "worms_2d_sinkhorn_labels.tif"]
    assert str(out / "worms_2d_comparison.png") in capsys.readouterr().err
    assert io.read_image(out / "worms_2d_em_labels.tif").scale == (6.25, 6.25)


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


def test_output_that_would_replace_an_input_is_refused(tmp_path, inputs, capsys):
    twin = shutil.copy(inputs[0], tmp_path / "in" / "a_labels.tif")

    assert main(["segment", str(inputs[0]), str(twin), "--out", str(tmp_path / "in"), "--overwrite"]) == 2
    assert "would replace an input" in _last_error_line(capsys)


def test_console_script_reports_errors_without_traceback(tmp_path):
    script = shutil.which("napari-sinkhorn-em", path=str(sys.executable.rsplit("/", 1)[0]))
    assert script is not None

    result = subprocess.run([script, "segment", "x.tif", "--out", str(tmp_path), "-k", "zero"],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr
