"""Tests of the neuron tools (napari_sinkhorn_em.neurons): small arrays with answers worked out by hand."""

from __future__ import annotations

import ast
import csv
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from napari_sinkhorn_em import neurons
from napari_sinkhorn_em.neurons import (
    CATEGORY_CODES,
    MIN_VOXELS_PER_NEURON,
    check_n_neurons,
    clean_instances,
    match_centres,
    match_neurons,
    model_position_covariances,
    napari_features,
    neuron_table,
    suggest_n_neurons,
    write_neuron_table,
)

NEUROPAL_SCALE = (0.75, 0.3, 0.3)


# ---------------------------------------------------------------------------
# How many neurons
# ---------------------------------------------------------------------------


def test_suggested_number_is_foreground_volume_over_nucleus_volume():
    # 10 x 20 x 20 voxels of 0.5 x 1 x 1 µm: 2000 µm³; a 1.4 µm nucleus holds 4/3 π 1.4³ = 11.49 µm³.
    foreground = np.ones((10, 20, 20), dtype=bool)
    assert suggest_n_neurons(foreground, (0.5, 1.0, 1.0)) == 174
    # A nucleus of 1 µm³ makes the count the volume itself: 100 voxels of 0.0675 µm³ = 6.75 µm³ -> 7.
    unit_radius = (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
    foreground = np.zeros((4, 10, 10), dtype=bool)
    foreground[1, :, :] = True
    assert suggest_n_neurons(foreground, NEUROPAL_SCALE, nucleus_radius_um=unit_radius) == 7
    # 2-D: the area over the nucleus's cross-section: 400 µm² / (π 2²) = 31.8 -> 32.
    assert suggest_n_neurons(np.ones((20, 20)), (1.0, 1.0), nucleus_radius_um=2.0) == 32


def test_suggested_number_is_at_least_one_and_label_images_count_as_foreground():
    speck = np.zeros((5, 5, 5), dtype=np.uint16)
    speck[2, 2, 2] = 7
    assert suggest_n_neurons(speck, NEUROPAL_SCALE) == 1


def test_suggest_n_neurons_explains_bad_input():
    with pytest.raises(ValueError, match="foreground is empty"):
        suggest_n_neurons(np.zeros((3, 4, 4), dtype=bool), NEUROPAL_SCALE)
    with pytest.raises(ValueError, match="one voxel size in µm per axis of the 3-D foreground"):
        suggest_n_neurons(np.ones((3, 4, 4), dtype=bool), (0.3, 0.3))
    with pytest.raises(ValueError, match="positive number of µm"):
        suggest_n_neurons(np.ones((3, 4, 4), dtype=bool), (0.75, 0.0, 0.3))
    with pytest.raises(ValueError, match="nucleus_radius_um must be a number above 0"):
        suggest_n_neurons(np.ones((3, 4, 4), dtype=bool), NEUROPAL_SCALE, nucleus_radius_um=-1.0)
    with pytest.raises(ValueError, match="2-D or 3-D True/False image"):
        suggest_n_neurons(np.ones(10, dtype=bool), (1.0,))


def test_check_n_neurons_allows_ten_voxels_per_neuron_and_explains_more():
    assert MIN_VOXELS_PER_NEURON == 10
    assert check_n_neurons(150, 1500) == 150
    with pytest.raises(ValueError, match=r"200 neurons cannot be fitted to 1,500 foreground voxels.*at most 150"):
        check_n_neurons(200, 1500)
    with pytest.raises(ValueError, match="number of neurons must be a whole number of at least 1"):
        check_n_neurons(0, 1500)
    with pytest.raises(ValueError, match="whole number"):
        check_n_neurons(2.5, 1500)


# ---------------------------------------------------------------------------
# Clean-up
# ---------------------------------------------------------------------------


def _pieces_image():
    """Label 5 with a detached piece touching label 7 and a lone voxel; label 9 a 3-voxel speck."""
    labels = np.zeros((3, 10, 12), dtype=np.uint16)
    labels[:, 1:5, 1:5] = 5  # main body of 5: 48 voxels
    labels[:, 1:3, 6] = 5  # detached piece of 5 (6 voxels), touching 7 at x = 7
    labels[:, 1:5, 7:11] = 7  # 48 voxels
    labels[1, 8, 1] = 5  # lone voxel of 5, touching nothing
    labels[0, 8, 8:11] = 9  # too small
    return labels


def test_clean_instances_gives_detached_pieces_to_the_touching_neuron_and_drops_the_rest():
    labels = _pieces_image()
    result = clean_instances(labels, min_voxels=5)
    expected = np.zeros_like(labels)
    expected[:, 1:5, 1:5] = 5
    expected[:, 1:3, 6] = 7
    expected[:, 1:5, 7:11] = 7
    np.testing.assert_array_equal(result.labels, expected)
    assert result.labels.dtype == labels.dtype
    assert (result.pieces_reassigned, result.voxels_reassigned) == (1, 6)
    assert result.pieces_dropped == 1
    assert result.voxels_dropped == 1 + 3
    assert result.small_labels_dropped == (9,)
    assert "1 detached piece(s) (6 voxels)" in result.summary()
    # Nothing left to do the second time.
    again = clean_instances(result.labels, min_voxels=5)
    np.testing.assert_array_equal(again.labels, result.labels)
    assert again.summary().startswith("Every neuron was already one connected body")


def test_clean_instances_keeps_label_numbers_and_leaves_every_label_one_face_connected_body():
    labels = _pieces_image()
    labels[labels == 7] = 200  # numbers with gaps stay as they are
    cleaned = clean_instances(labels, min_voxels=0).labels
    assert set(np.unique(cleaned)) == {0, 5, 9, 200}
    for label in (5, 9, 200):
        _, n_pieces = ndimage.label(cleaned == label)  # face connectivity
        assert n_pieces == 1


def test_clean_instances_uses_face_connectivity_and_the_neighbour_sharing_most_faces():
    labels = np.array(
        [
            [1, 1, 0, 0, 0],
            [1, 1, 0, 0, 0],
            [0, 0, 1, 2, 2],
            [0, 3, 1, 2, 2],
            [0, 3, 0, 0, 0],
        ],
        dtype=np.int32,
    )
    # The piece of 1 at (2:4, 2) touches its main body only diagonally: it is detached. It shares two
    # faces with label 2 and one with label 3, so it goes to 2.
    result = clean_instances(labels, min_voxels=0)
    expected = labels.copy()
    expected[2:4, 2] = 2
    np.testing.assert_array_equal(result.labels, expected)
    assert result.pieces_reassigned == 1


def test_clean_instances_explains_bad_input():
    with pytest.raises(ValueError, match="must be an integer label image"):
        clean_instances(np.ones((4, 4)) * 1.0)
    with pytest.raises(ValueError, match="must not be negative"):
        clean_instances(-np.ones((4, 4), dtype=np.int8))
    with pytest.raises(ValueError, match=r"2-D \(y, x\) or 3-D \(z, y, x\) label image; got 4 axes"):
        clean_instances(np.ones((2, 2, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="min_voxels must be a whole number of at least 0"):
        clean_instances(np.ones((4, 4), dtype=np.uint8), min_voxels=-1)


# ---------------------------------------------------------------------------
# Neuron table
# ---------------------------------------------------------------------------


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
    with pytest.raises(ValueError, match="channel_axis=5 is out of range"):
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
        self.scaling_ = type("Scaling", (), {"scale": np.array([5.0, 5.0, 1.0, 1.0, 1.0])})()
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


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------

MATCH_SCALE = (1.0, 0.5)  # µm per row, per column


def _two_segmentations():
    """A: neurons 1..6; B: a match, a split, a merge, a shifted neuron and an extra one."""
    a = np.zeros((40, 60), dtype=np.uint16)
    b = np.zeros_like(a)
    a[0:10, 0:10] = 1
    b[0:10, 0:10] = 11  # matched, IoU 1
    a[0:10, 20:30] = 2
    b[0:10, 20:26], b[0:10, 26:30] = 21, 22  # 2 split 60 / 40
    a[20:30, 0:10], a[20:30, 10:20] = 3, 4
    b[20:30, 0:20] = 31  # 3 and 4 merged
    a[20:24, 30:34] = 5
    b[20:24, 32:36] = 51  # shifted by 2 columns = 1 µm: IoU 1/3
    a[32:36, 50:54] = 6  # missing
    b[32:36, 2:6] = 71  # extra
    return a, b


def test_match_neurons_finds_matched_split_merged_moved_missing_and_extra():
    a, b = _two_segmentations()
    match = match_neurons(a, b, scale=MATCH_SCALE)
    assert match.counts == {"matched": 1, "split": 1, "merged": 2, "moved": 1, "missing": 1, "extra": 1}
    assert match.n_matched == 1
    np.testing.assert_array_equal(match.matched_pairs, [[1, 11]])
    np.testing.assert_allclose(match.matched_iou, [1.0])
    assert match.split == {2: (21, 22)}
    assert match.merged == {31: (3, 4)}
    np.testing.assert_array_equal(match.moved_pairs, [[5, 51]])
    np.testing.assert_allclose(match.moved_distance_um, [1.0])
    by_category = match.labels_by_category("a")
    assert {name: list(labels) for name, labels in by_category.items()} == {
        "matched": [1], "split": [2], "merged": [3, 4], "moved": [5], "missing": [6],
    }  # fmt: skip
    assert list(match.labels_by_category("b")["extra"]) == [71]
    assert "1 matched, 1 split, 2 merged, 1 moved and 1 missing" in match.summary()


def test_disagreement_image_colours_each_side_by_category():
    a, b = _two_segmentations()
    match = match_neurons(a, b, scale=MATCH_SCALE)
    image = match.disagreement_image()
    assert image.dtype == np.uint8 and image.shape == a.shape
    expected = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5}
    for label, code in expected.items():
        assert set(np.unique(image[a == label])) == {code}
    image_b = match.disagreement_image("b")
    for label, code in {11: 1, 21: 2, 22: 2, 31: 3, 51: 4, 71: 5}.items():
        assert set(np.unique(image_b[b == label])) == {code}
    assert CATEGORY_CODES == {"matched": 1, "split": 2, "merged": 3, "moved": 4, "unmatched": 5}
    with pytest.raises(ValueError, match="side must be 'a' or 'b'"):
        match.disagreement_image("c")


def test_swapping_the_segmentations_swaps_split_and_merged():
    a, b = _two_segmentations()
    swapped = match_neurons(b, a, scale=MATCH_SCALE)
    assert swapped.split == {31: (3, 4)}
    assert swapped.merged == {2: (21, 22)}
    assert swapped.counts == {"matched": 1, "split": 1, "merged": 2, "moved": 1, "missing": 1, "extra": 1}


def test_moved_uses_micrometres_so_the_scale_decides():
    a, b = _two_segmentations()
    # With 2 µm columns the shift is 4 µm, beyond the 3 µm default: missing and extra instead of moved.
    match = match_neurons(a, b, scale=(1.0, 2.0))
    assert match.counts["moved"] == 0
    assert list(match.labels_by_category("a")["missing"]) == [5, 6]
    assert match_neurons(a, b, scale=(1.0, 2.0), centre_distance_um=4.5).counts["moved"] == 1


def test_split_needs_two_parts_of_a_quarter_each():
    a = np.zeros((10, 20), dtype=np.uint8)
    a[:, :10] = 1
    b = np.zeros_like(a)
    b[:, :8], b[:, 8:10] = 1, 2  # 80 / 20: matched, the sliver is extra
    match = match_neurons(a, b, scale=(1.0, 1.0))
    assert match.split == {} and match.n_matched == 1 and match.counts["extra"] == 1
    assert match_neurons(a, b, scale=(1.0, 1.0), part_fraction=0.2).split == {1: (1, 2)}


def test_identical_segmentations_match_fully_in_3d():
    labels = np.zeros((6, 12, 12), dtype=np.uint32)
    labels[1:3, 1:5, 1:5], labels[3:6, 6:11, 2:9] = 1, 2
    match = match_neurons(labels, labels, scale=NEUROPAL_SCALE)
    assert match.counts == {"matched": 2, "split": 0, "merged": 0, "moved": 0, "missing": 0, "extra": 0}
    assert match.fraction_centres_found(0.0) == 1.0
    empty = match_neurons(labels, np.zeros_like(labels), scale=NEUROPAL_SCALE)
    assert empty.counts["missing"] == 2 and empty.fraction_centres_found() == 0.0
    assert math.isnan(match_neurons(np.zeros_like(labels), labels, scale=NEUROPAL_SCALE).fraction_centres_found())


def test_fraction_of_centres_found_pairs_centres_one_to_one():
    a, b = _two_segmentations()
    match = match_neurons(a, b, scale=MATCH_SCALE)
    # Within 1.2 µm: 1 (0 µm), 2 with 21 (1 µm), 5 with 51 (1 µm); 3 and 4 are 2.5 µm from 31.
    assert match.fraction_centres_found(1.2) == pytest.approx(3 / 6)
    # Within 3 µm one of 3 and 4 also pairs with 31, but not both (one to one).
    assert match.fraction_centres_found() == pytest.approx(4 / 6)


def test_match_centres_makes_as_many_pairs_as_it_can_within_the_distance():
    a = np.array([[0.0], [1.0]])
    b = np.array([[0.9], [1.95]])
    # The closest pair (1.0, 0.9) would leave 0.0 and 1.95 too far apart; two pairs are made instead.
    rows, columns, distance = match_centres(a, b, max_distance_um=1.0)
    np.testing.assert_array_equal(rows, [0, 1])
    np.testing.assert_array_equal(columns, [0, 1])
    np.testing.assert_allclose(distance, [0.9, 0.95])
    rows, _, _ = match_centres(a, np.zeros((0, 1)), max_distance_um=1.0)
    assert rows.size == 0
    with pytest.raises(ValueError, match="same number of axes"):
        match_centres(a, np.zeros((2, 2)), max_distance_um=1.0)


def test_match_neurons_explains_bad_input():
    a, b = _two_segmentations()
    with pytest.raises(ValueError, match="must cover the same voxels"):
        match_neurons(a, b[:20], scale=MATCH_SCALE)
    with pytest.raises(ValueError, match="labels_b must be an integer label image"):
        match_neurons(a, b.astype(np.float32), scale=MATCH_SCALE)
    with pytest.raises(ValueError, match="one voxel size in µm per axis of the 2-D labels"):
        match_neurons(a, b, scale=NEUROPAL_SCALE)
    with pytest.raises(ValueError, match="min_iou must be a number above 0 and at most 1"):
        match_neurons(a, b, scale=MATCH_SCALE, min_iou=0.0)
    with pytest.raises(ValueError, match="part_fraction must be a number above 0 and at most 0.5"):
        match_neurons(a, b, scale=MATCH_SCALE, part_fraction=0.6)
    with pytest.raises(ValueError, match="centre_distance_um must be a number at least 0"):
        match_neurons(a, b, scale=MATCH_SCALE, centre_distance_um=-1)


# ---------------------------------------------------------------------------
# The module itself
# ---------------------------------------------------------------------------


def test_module_imports_without_qt_or_napari():
    code = (
        "import sys, napari_sinkhorn_em.neurons\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_modules_import_no_private_names_of_the_package():
    # Outside the neurons package only the shared checks (_validation) are a private module it may read.
    for path in pathlib.Path(neurons.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                if node.level > 1:
                    assert node.module == "_validation" or not (node.module or "").startswith("_"), (path, node.module)
                assert not any(alias.name.startswith("_") for alias in node.names), path
