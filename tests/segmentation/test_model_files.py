"""Saving and loading models: identical labels, readable JSON, versions, refusing damaged files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_sinkhorn_em.segmentation import FORMAT_VERSION, Segmenter

FAST = {"max_iter": 30}


@pytest.mark.parametrize(
    "settings",
    [
        dict(method="sinkhorn", coordinates=True, covariance_type="diag"),
        dict(method="em", features="multiscale", sigmas=(1.0,)),
    ],
    ids=["sinkhorn-coordinates", "em-multiscale"],
)
def test_saved_model_predicts_identical_labels(three_levels, tmp_path, image2d, settings):
    segmenter = Segmenter(3, **settings, **FAST).fit(image2d[0], scale=(0.5, 0.5))
    path = segmenter.save(tmp_path / "model.json")

    loaded = Segmenter.load(path)
    other = three_levels(shape=(48, 48), seed=5)[0]

    np.testing.assert_array_equal(loaded.predict(other), segmenter.predict(other))
    np.testing.assert_array_equal(loaded.predict_proba(other), segmenter.predict_proba(other))
    assert loaded.feature_names_ == segmenter.feature_names_
    assert loaded.scale_ == (0.5, 0.5)


def test_model_file_is_readable_json_with_versions_and_settings(tmp_path, fitted):
    document = json.loads(fitted.save(tmp_path / "model.json").read_text())

    assert document["format_version"] == FORMAT_VERSION
    assert document["package_version"]
    assert document["settings"]["n_components"] == 3
    assert document["settings"]["mixture_options"] == {"max_iter": 30}
    assert document["recipe"]["features"] == [["intensity", None]]
    assert document["scaling"]["names"] == ["ch0:intensity"]
    assert np.array(document["mixture"]["means"]).shape == (3, 1)


def test_save_does_not_overwrite_unless_asked(tmp_path, fitted):
    path = fitted.save(tmp_path / "model.json")

    with pytest.raises(FileExistsError):
        fitted.save(path)
    fitted.save(path, overwrite=True)


def test_model_from_a_newer_version_asks_to_upgrade(tmp_path, fitted):
    path = fitted.save(tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(document))

    with pytest.raises(ValueError, match="newer napari-sinkhorn-em.*[Uu]pgrade"):
        Segmenter.load(path)


def test_model_file_of_format_1_still_loads(tmp_path, fitted, image2d):
    path = fitted.save(tmp_path / "model.json")
    document = json.loads(path.read_text())
    scaling = document["scaling"]
    document["format_version"] = 1
    document["scaling"] = {"names": scaling["names"], "center": scaling["centre"], "scale": scaling["spread"]}
    path.write_text(json.dumps(document))

    loaded = Segmenter.load(path)

    np.testing.assert_array_equal(loaded.scaling_.centre, fitted.scaling_.centre)
    np.testing.assert_array_equal(loaded.scaling_.spread, fitted.scaling_.spread)
    np.testing.assert_array_equal(loaded.predict(image2d[0]), fitted.predict(image2d[0]))


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: text.replace('"means"', '"averages"'),
        lambda text: json.dumps({**json.loads(text), "scaling": {"names": ["x"], "center": [0], "scale": [1]}}),
        lambda text: json.dumps(
            {**json.loads(text), "mixture": {**json.loads(text)["mixture"], "weights": [0.5, 0.5]}}
        ),
        lambda text: json.dumps([1, 2, 3]),
    ],
    ids=["truncated", "missing-key", "wrong-scaling", "wrong-shape", "not-a-model"],
)
def test_damaged_model_file_is_a_clear_error(tmp_path, fitted, damage):
    path = fitted.save(tmp_path / "damaged.json")
    path.write_text(damage(path.read_text()))

    with pytest.raises(ValueError, match="damaged.json is damaged"):
        Segmenter.load(path)


def test_saved_model_keeps_the_plan(tmp_path, image2d):
    segmenter = Segmenter(3, assignment="plan", epsilon=0.2, **FAST).fit(image2d[0])
    loaded = Segmenter.load(segmenter.save(tmp_path / "plan.json"))

    assert loaded.assignment == "plan"
    np.testing.assert_array_equal(loaded.predict(image2d[0]), segmenter.predict(image2d[0]))
