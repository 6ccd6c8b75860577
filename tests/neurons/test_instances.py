"""One connected body per neuron (clean_instances): small label images worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_sinkhorn_em.neurons import clean_instances


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
