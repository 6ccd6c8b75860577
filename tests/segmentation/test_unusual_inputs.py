"""Unusual but valid images and settings: valid labels, honest warnings, the same labels for every array kind."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em import SinkhornConvergenceWarning
from napari_sinkhorn_em.segmentation import Segmenter, segment

FAST = {"max_iter": 30}


def _check_valid(labels, shape, n_components):
    assert labels.shape == shape
    assert labels.dtype.kind == "u"
    assert labels.min() >= 1 and labels.max() <= n_components


@pytest.mark.parametrize("value", [0.0, 7.0])
def test_a_constant_image_gets_one_label_and_a_warning(value):
    with pytest.warns(UserWarning, match="only 1 distinct value.*at most 1 component"):
        labels = segment(np.full((16, 16), value), 3, **FAST)
    _check_valid(labels, (16, 16), 3)
    assert len(np.unique(labels)) == 1


def test_fewer_distinct_values_than_classes_warns_and_labels_every_pixel():
    image = np.repeat(np.array([[0.0, 1.0]]), 16, axis=0)
    with pytest.warns(UserWarning, match="only 2 distinct value"):
        labels = segment(image, 4, **FAST)
    _check_valid(labels, image.shape, 4)
    assert len(np.unique(labels[:, 0])) == 1 and len(np.unique(labels[:, 1])) == 1


@pytest.mark.parametrize("method", ["sinkhorn_start", "em", "sinkhorn"])
def test_one_class_and_one_pixel_are_valid(two_halves, method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-posed problem warns about nothing
        assert (segment(two_halves(), 1, method=method, **FAST) == 1).all()
    np.testing.assert_array_equal(segment(np.ones((1, 1)), 1, method=method, **FAST), [[1]])


@pytest.mark.parametrize("epsilon", [1e-4, 1e4])
@pytest.mark.parametrize("method", ["sinkhorn_start", "sinkhorn"])
def test_extreme_epsilons_give_valid_labels(two_halves, method, epsilon):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SinkhornConvergenceWarning)
        labels = segment(two_halves(), 2, method=method, epsilon=epsilon, **FAST)
    _check_valid(labels, (32, 32), 2)


def test_a_sample_larger_than_the_image_uses_every_pixel(two_halves):
    segmenter = Segmenter(2, sample_size=10**9, **FAST).fit(two_halves())
    assert segmenter.n_samples_fit_ == 32 * 32


def test_an_unconverged_sinkhorn_step_warns_once_and_still_labels(two_halves):
    with pytest.warns(SinkhornConvergenceWarning) as record:
        labels = segment(two_halves(), 2, method="sinkhorn", epsilon=0.01, sinkhorn_max_iter=1, **FAST)
    assert sum(issubclass(item.category, SinkhornConvergenceWarning) for item in record) == 1
    _check_valid(labels, (32, 32), 2)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.uint16, np.int32, np.float16, np.float64, ">f4", ">u2"])
def test_every_numeric_dtype_gives_the_labels_of_its_float64_values(two_halves, dtype):
    source = two_halves()
    image = (source > 125) if dtype is bool else source.astype(dtype)
    expected = segment(image.astype(np.float64), 2, **FAST)
    np.testing.assert_array_equal(segment(image, 2, **FAST), expected)


def test_non_contiguous_memory_mapped_and_list_images_give_the_same_labels(two_halves, tmp_path):
    image = two_halves((32, 64))
    expected = segment(np.ascontiguousarray(image[:, ::2]), 2, **FAST)
    np.testing.assert_array_equal(segment(image[:, ::2], 2, **FAST), expected)
    np.testing.assert_array_equal(segment(np.asfortranarray(image[:, ::2]), 2, **FAST), expected)
    mapped = np.lib.format.open_memmap(tmp_path / "image.npy", mode="w+", dtype=np.float32, shape=(32, 32))
    mapped[:] = image[:, ::2]
    np.testing.assert_array_equal(segment(mapped, 2, **FAST), expected)
    as_list = segment(image[:, ::2].tolist(), 2, **FAST)
    np.testing.assert_array_equal(as_list, segment(image[:, ::2].astype(float), 2, **FAST))


@pytest.mark.parametrize("features", ["intensity", "multiscale"])
def test_a_stack_with_one_slice_is_segmented_like_its_plane(two_halves, features):
    image = two_halves()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the z-derivatives are zero up to round-off: nothing to warn about
        labels = segment(image[None], 2, features=features, sigmas=(1.0,), **FAST)
    assert labels.shape == (1, 32, 32)
    agreement = np.mean(labels[0] == segment(image, 2, features=features, sigmas=(1.0,), **FAST))
    assert agreement > 0.9  # the 3-D filters add z-derivative columns that are zero


def test_a_dask_image_gives_the_labels_of_the_same_numpy_image(two_halves):
    dask_array = pytest.importorskip("dask.array")
    image = two_halves()
    labels = np.asarray(segment(dask_array.from_array(image, chunks=16), 2, **FAST))
    np.testing.assert_array_equal(labels, segment(image, 2, **FAST))
