"""How ``segment`` fits: its options give the library's labels; saved models; objects split into instances."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files
from napari_sinkhorn_em.cli import main
from napari_sinkhorn_em.segmentation import Segmenter


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
def test_fit_options_give_the_same_labels_as_the_library(tmp_path, inputs, options, settings, cli_fast):
    out = tmp_path / "out"

    assert main(["segment", str(inputs[0]), "--out", str(out), *cli_fast, *options]) == 0

    image = image_files.read_image(inputs[0])
    expected = Segmenter(3, sample_size=2000, **settings).fit_predict(image.data, scale=image.scale)
    np.testing.assert_array_equal(image_files.read_image(out / "a_labels.tif").data, expected)


def test_save_model_fits_once_and_applies_to_all(tmp_path, inputs, cli_fast):
    out, model = tmp_path / "out", tmp_path / "model.json"

    assert main(["segment", *map(str, inputs), "--out", str(out), "--save-model", str(model), *cli_fast]) == 0

    loaded = Segmenter.load(model)
    second = image_files.read_image(inputs[1])
    np.testing.assert_array_equal(image_files.read_image(out / "b_labels.tif").data,
                                  loaded.predict(second.data, scale=second.scale))


def test_save_model_still_fits_the_first_input_when_its_output_exists(tmp_path, inputs, cli_fast):
    out, model = tmp_path / "out", tmp_path / "model.json"
    out.mkdir()
    (out / "a_labels.tif").write_bytes(b"from an earlier run")

    assert main(["segment", *map(str, inputs), "--out", str(out), "--save-model", str(model), *cli_fast]) == 0

    assert model.exists()
    assert (out / "a_labels.tif").read_bytes() == b"from an earlier run"
    assert (out / "b_labels.tif").exists()


def test_model_option_applies_a_saved_model(tmp_path, inputs):
    segmenter = Segmenter(2, random_state=5).fit(image_files.read_image(inputs[0]).data)
    model = segmenter.save(tmp_path / "model.json")
    out = tmp_path / "out"

    assert main(["segment", str(inputs[1]), "--out", str(out), "--model", str(model)]) == 0

    second = image_files.read_image(inputs[1])
    np.testing.assert_array_equal(image_files.read_image(out / "b_labels.tif").data,
                                  segmenter.predict(second.data, scale=second.scale))


def test_a_damaged_model_file_is_refused_before_any_work(tmp_path, capsys, good_image):
    good = good_image(tmp_path / "good.tif")
    model = tmp_path / "model.json"
    model.write_text('{"format": "napari-sinkhorn-em segmentation model", "format_version": 1')

    assert main(["segment", str(good), "--out", str(tmp_path / "out"), "--model", str(model)]) == 2

    assert "is damaged or not a model file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_instances_option_numbers_objects_of_all_but_the_largest_class(tmp_path, inputs, cli_fast):
    out = tmp_path / "out"

    assert main(["segment", str(inputs[0]), "--out", str(out), "--instances", "--min-size", "50", *cli_fast]) == 0

    labels = image_files.read_image(out / "a_labels.tif").data
    # Three bands; the widest (the last, 22 columns) is the largest class, taken as background.
    assert labels.max() == 2  # one object per other band; stray pixels are removed
    band_objects = [np.bincount(labels[:, band].ravel()).argmax() for band in (slice(0, 21), slice(21, 42), slice(42, None))]
    assert band_objects == [1, 2, 0]


def test_object_classes_chooses_the_classes_that_are_split(tmp_path, inputs, cli_fast):
    out = tmp_path / "out"

    assert main(["segment", str(inputs[0]), "--out", str(out), "--instances", "--object-classes", "3",
                 "--min-size", "50", *cli_fast]) == 0

    labels = image_files.read_image(out / "a_labels.tif").data
    assert labels.max() == 1 and (labels[:, 42:] == 1).mean() > 0.9 and (labels[:, :42] == 0).mean() > 0.9


def test_instances_remove_objects_below_the_minimum_size(tmp_path, cli_fast):
    image = np.full((40, 40), 100, dtype=np.uint16)
    image[5:15, 5:15] = 200  # one object of 100 pixels
    image[30, 30] = 200  # and one of a single pixel
    tifffile.imwrite(tmp_path / "spots.tif", image)
    out = tmp_path / "out"

    assert main(["segment", str(tmp_path / "spots.tif"), "--out", str(out), "-k", "2", "--instances",
                 "--min-size", "5", *cli_fast]) == 0

    labels = image_files.read_image(out / "spots_labels.tif").data
    assert labels.max() == 1 and (labels == 1).sum() == 100 and labels[30, 30] == 0
