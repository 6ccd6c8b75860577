"""Two segmentations compared neuron by neuron (match_neurons, NeuronMatch, match_centres)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_sinkhorn_em.neurons import CATEGORY_CODES, match_centres, match_neurons

NEUROPAL_SCALE = (0.75, 0.3, 0.3)


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
