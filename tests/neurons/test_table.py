"""The neuron table (neuron_table, write_neuron_table, napari_features, model_position_covariances)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from napari_sinkhorn_em.neurons import (
    model_position_covariances,
    napari_features,
    neuron_table,
    write_neuron_table,
)

NEUROPAL_SCALE = (0.75, 0.3, 0.3)


def _table_case():
    labels = np.zeros((4, 5, 6), dtype=np.uint8)
    labels[1:3, 0:2, 2:5] = 3  # a box of 2 x 2 x 3 voxels
    rng = np.random.default_rng(1)
    scattered = rng.random(labels.shape) < 0.3
    labels[scattered & (labels == 0)] = 1  # an irregular neuron
    image = rng.normal(100.0, 20.0, size=(*labels.shape, 2))  # channels last
    confidence = rng.random(labels.shape)
    return labels, image, confidence


def test_table_centres_volume_colours_and_covariances_in_micrometres():
    labels, image, confidence = _table_case()
    table = neuron_table(labels, image, channel_axis=-1, scale=NEUROPAL_SCALE, confidence=confidence)
    assert list(table) == [
        "label", "z_um", "y_um", "x_um", "n_voxels", "volume_um3", "mean_channel_0", "mean_channel_1",
        "czz_um2", "czy_um2", "czx_um2", "cyy_um2", "cyx_um2", "cxx_um2", "mean_confidence",
    ]  # fmt: skip
    np.testing.assert_array_equal(table["label"], [1, 3])
    box = 1  # row of label 3
    # Mean voxel index (1.5, 0.5, 3) times the voxel size (0.75, 0.3, 0.3) µm.
    assert (table["z_um"][box], table["y_um"][box], table["x_um"][box]) == pytest.approx((1.125, 0.15, 0.9))
    assert table["n_voxels"][box] == 12
    assert table["volume_um3"][box] == pytest.approx(12 * 0.75 * 0.3 * 0.3)
    # The box's covariance by hand: z takes 0 and 0.75 µm (variance 0.1875 · 12/11), x 0.6, 0.9, 1.2 µm.
    assert table["czz_um2"][box] == pytest.approx(0.75**2 / 4 * 12 / 11)
    assert table["cxx_um2"][box] == pytest.approx(0.06 * 12 / 11)
    assert table["czx_um2"][box] == pytest.approx(0.0, abs=1e-12)
    for row, label in enumerate(table["label"]):
        inside = labels == label
        positions = np.argwhere(inside) * np.asarray(NEUROPAL_SCALE)
        np.testing.assert_allclose([table[f"{a}_um"][row] for a in "zyx"], positions.mean(axis=0))
        covariance = np.cov(positions, rowvar=False)
        for i, a in enumerate("zyx"):
            for j, b in enumerate("zyx"):
                if j >= i:
                    assert table[f"c{a}{b}_um2"][row] == pytest.approx(covariance[i, j], abs=1e-12)
        for channel in range(2):
            assert table[f"mean_channel_{channel}"][row] == pytest.approx(image[..., channel][inside].mean())
        assert table["mean_confidence"][row] == pytest.approx(confidence[inside].mean())


def test_table_names_colour_channels_adds_model_covariances_and_handles_2d():
    labels, image, _ = _table_case()
    image = np.moveaxis(image, -1, 0)
    model = np.stack([np.diag([1.0, 2.0, 3.0]) * (k + 1) for k in range(3)])  # components 0, 1, 2
    table = neuron_table(
        labels, image, channel_axis=0, scale=NEUROPAL_SCALE, colour_channels=[1],
        channel_names=("mTagBFP2", "CyOFP1"), covariances=model,
    )  # fmt: skip
    assert "mean_CyOFP1" in table and "mean_mTagBFP2" not in table
    # Label 1 is component 0, label 3 component 2.
    np.testing.assert_allclose(table["model_czz_um2"], [1.0, 3.0])
    np.testing.assert_allclose(table["model_cxx_um2"], [3.0, 9.0])
    np.testing.assert_allclose(table["model_czy_um2"], [0.0, 0.0])
    flat = neuron_table(labels[1], image[0, 1], channel_axis=None, scale=(0.3, 0.25))
    assert {"y_um", "x_um", "area_um2", "cyy_um2", "cyx_um2", "cxx_um2"} <= set(flat)
    assert "z_um" not in flat
    assert flat["area_um2"][list(flat["label"]).index(3)] == pytest.approx(6 * 0.3 * 0.25)


def test_one_voxel_neuron_has_no_covariance_and_an_empty_image_gives_an_empty_table():
    labels = np.zeros((3, 3, 3), dtype=np.uint8)
    labels[1, 1, 1] = 4
    table = neuron_table(labels, np.ones((3, 3, 3)), channel_axis=None, scale=NEUROPAL_SCALE)
    assert math.isnan(table["czz_um2"][0])
    empty = neuron_table(np.zeros((3, 3, 3), dtype=np.uint8), np.ones((3, 3, 3)), channel_axis=None, scale=NEUROPAL_SCALE)
    assert all(len(column) == 0 for column in empty.values())


def test_neuron_table_explains_bad_input():
    labels, image, _ = _table_case()
    with pytest.raises(ValueError, match="must cover the same voxels as the labels"):
        neuron_table(labels[:, :4], image, channel_axis=-1, scale=NEUROPAL_SCALE)
    with pytest.raises(ValueError, match="integer label image"):
        neuron_table(labels.astype(float), image, channel_axis=-1, scale=NEUROPAL_SCALE)
    with pytest.raises(ValueError, match=r"3 values: z, y, x"):
        neuron_table(labels, image, channel_axis=-1, scale=(0.3, 0.3))
    with pytest.raises(ValueError, match="channel_axis=5 does not exist"):
        neuron_table(labels, image, channel_axis=5, scale=NEUROPAL_SCALE)
    with pytest.raises(ValueError, match="colour_channels must be channel indices from 0 to 1"):
        neuron_table(labels, image, channel_axis=-1, scale=NEUROPAL_SCALE, colour_channels=[2])
    with pytest.raises(ValueError, match="one name per channel"):
        neuron_table(labels, image, channel_axis=-1, scale=NEUROPAL_SCALE, channel_names=["a"])
    with pytest.raises(ValueError, match="confidence must cover the same voxels"):
        neuron_table(labels, image, channel_axis=-1, scale=NEUROPAL_SCALE, confidence=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="labels go up to 3 but covariances holds 2 components"):
        neuron_table(labels, image, channel_axis=-1, scale=NEUROPAL_SCALE, covariances=np.ones((2, 3)))


def test_written_table_has_a_header_with_units_and_reads_back_exactly(tmp_path):
    labels, image, _ = _table_case()
    table = neuron_table(labels, image, channel_axis=-1, scale=NEUROPAL_SCALE)
    table["czz_um2"][0] = np.nan
    path = write_neuron_table(table, tmp_path / "neurons.csv")
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == list(table)
    assert len(rows) == 1 + len(table["label"])
    assert rows[1][rows[0].index("czz_um2")] == ""  # NaN: an empty cell
    for row, values in enumerate(rows[1:]):
        assert int(values[0]) == table["label"][row]
        assert float(values[rows[0].index("x_um")]) == table["x_um"][row]
    with pytest.raises(FileExistsError):
        write_neuron_table(table, path)
    write_neuron_table(table, path, overwrite=True)
    with pytest.raises(ValueError, match="1-D array of the same length"):
        write_neuron_table({"label": np.arange(3), "x_um": np.zeros(2)}, tmp_path / "bad.csv")


def test_napari_features_look_rows_up_by_label():
    features = napari_features({"label": np.array([3, 8]), "x_um": np.array([1.0, 2.0])})
    assert list(features) == ["index", "label", "x_um"]
    np.testing.assert_array_equal(features["index"], [3, 8])


class _FittedSegmenter:
    """The attributes of a fitted Segmenter that model_position_covariances reads."""

    def __init__(self, covariance_type, covariances, coordinate_weight=2.0):
        self.scale_ = NEUROPAL_SCALE
        self.feature_names_ = ("ch0:intensity", "ch1:intensity", "z", "y", "x")
        self.recipe_ = {"features": [["intensity", None]], "coordinates": True, "coordinate_weight": coordinate_weight}
        self.scaling_ = type("Scaling", (), {"spread": np.array([5.0, 5.0, 1.0, 1.0, 1.0])})()
        self.mixture_ = type("Mixture", (), {"covariance_type": covariance_type, "covariances_": covariances})()


def test_model_position_covariances_take_the_position_block_in_square_micrometres():
    full = np.zeros((2, 5, 5))
    full[:, 2:, 2:] = [[4.0, 2.0, 0.0], [2.0, 8.0, 0.0], [0.0, 0.0, 12.0]]
    full[:, 0, 0] = 99.0
    positions = model_position_covariances(_FittedSegmenter("full", full))
    # Position features are position * coordinate_weight (2): covariances shrink by 4.
    np.testing.assert_allclose(positions[1], [[1.0, 0.5, 0.0], [0.5, 2.0, 0.0], [0.0, 0.0, 3.0]])
    diagonal = model_position_covariances(_FittedSegmenter("diag", np.full((2, 5), 4.0)))
    np.testing.assert_allclose(diagonal[0], np.eye(3))
    with pytest.raises(ValueError, match="without the voxel positions as features"):
        model_position_covariances(_FittedSegmenter("full", full, coordinate_weight=0.0))
    with pytest.raises(ValueError, match="not fitted"):
        model_position_covariances(object())
