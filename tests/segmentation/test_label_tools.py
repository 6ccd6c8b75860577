"""Working with label images: objects (split_instances), comparisons, class sizes from a painting."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from napari_sinkhorn_em.segmentation import (
    class_sizes_from_labels,
    compare_labels,
    compare_methods,
    segment,
    split_instances,
)

FAST = {"max_iter": 30}


def test_instances_split_classes_into_objects_and_drop_small_ones():
    image = np.zeros((40, 40), np.float32)
    image[5:15, 5:15] = 10.0      # object A (100 px)
    image[25:35, 20:35] = 10.0    # object B (150 px)
    image[30, 5] = 10.0           # a 1-pixel speck

    labels = segment(image, 2, method="em", instances=True, min_size=5, **FAST)

    assert labels[10, 10] != labels[30, 30]
    assert labels[10, 10] > 0 and labels[30, 30] > 0
    assert labels[30, 5] == 0
    assert len(np.unique(labels)) == 4  # background class as one object, A, B, and removed pixels (0)


def test_split_instances_numbers_objects_class_by_class():
    labels = np.array([[1, 0, 2, 2],
                       [1, 0, 0, 0],
                       [0, 0, 1, 1]], dtype=np.uint8)

    objects = split_instances(labels, min_size=1)

    np.testing.assert_array_equal(objects, [[1, 0, 3, 3],
                                            [1, 0, 0, 0],
                                            [0, 0, 2, 2]])


def test_split_instances_uses_a_wider_type_for_many_objects():
    labels = np.zeros((40, 40), np.uint8)
    labels[::2, ::2] = 1  # 400 isolated pixels

    objects = split_instances(labels, min_size=1)

    assert objects.max() == 400
    assert objects.dtype == np.uint16


def test_compare_labels_matches_sklearn_adjusted_rand_index():
    rng = np.random.default_rng(0)
    for shape, n_a, n_b in [((50, 40), 3, 3), ((30, 30), 2, 5), ((7, 8, 9), 6, 4)]:
        a = rng.integers(0, n_a, shape)
        b = np.where(rng.random(shape) < 0.7, a, rng.integers(0, n_b, shape))

        result = compare_labels(a, b)

        assert result.adjusted_rand_index == pytest.approx(adjusted_rand_score(a.ravel(), b.ravel()), abs=1e-12)


def test_permuted_labels_match_perfectly(image2d):
    truth = image2d[1]
    permuted = np.array([0, 3, 1, 2], dtype=np.uint8)[truth]

    result = compare_labels(truth, permuted)

    assert result.adjusted_rand_index == 1.0
    assert result.disagreement_fraction == 0.0
    assert not result.disagreement.any()
    np.testing.assert_array_equal(result.matched, truth)
    assert result.mapping == {1: 2, 2: 3, 3: 1}


def test_compare_labels_counts_disagreement_and_numbers_extra_labels():
    a = np.array([1, 1, 1, 2, 2, 2])
    b = np.array([5, 5, 7, 6, 6, 6])

    result = compare_labels(a, b)

    np.testing.assert_array_equal(result.matched, [1, 1, 3, 2, 2, 2])
    np.testing.assert_array_equal(result.disagreement, [False, False, True, False, False, False])
    assert result.disagreement_fraction == pytest.approx(1 / 6)
    assert result.mapping == {5: 1, 6: 2, 7: 3}


def test_compare_labels_rejects_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        compare_labels(np.zeros((4, 4)), np.zeros((4, 5)))


def test_compare_methods_equals_two_separate_segmentations(image2d):
    image = image2d[0]

    result = compare_methods(image, 3, sample_size=1500, **FAST)

    np.testing.assert_array_equal(result.em_labels, segment(image, 3, method="em", sample_size=1500, **FAST))
    np.testing.assert_array_equal(
        result.sinkhorn_labels, segment(image, 3, method="sinkhorn", sample_size=1500, **FAST)
    )
    assert result.comparison.adjusted_rand_index > 0.99


def test_class_sizes_from_a_rough_painting():
    painting = np.zeros((10, 10), dtype=np.uint8)
    painting[0, :6] = 1
    painting[5, :3] = 2
    painting[9, :1] = 3

    np.testing.assert_allclose(class_sizes_from_labels(painting, 3), [0.6, 0.3, 0.1])
    with pytest.raises(ValueError, match="Class 3 is not painted"):
        class_sizes_from_labels(np.where(painting == 3, 0, painting), 3)
    with pytest.raises(ValueError, match="label 3, but there are 2 classes"):
        class_sizes_from_labels(painting, 2)
    with pytest.raises(ValueError, match="whole-number labels"):
        class_sizes_from_labels(painting.astype(float), 3)
