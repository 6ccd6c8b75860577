"""What segment / Segmenter do with unusual images and settings: clear errors, valid labels, honest warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em import SinkhornConvergenceWarning
from napari_sinkhorn_em.segmentation import Segmenter, segment

FAST = {"max_iter": 30}


def _two_halves(shape=(32, 32), seed=0):
    """A dark left half and a bright right half, values 100 and 150 with noise, as float32."""
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 10.0, shape).astype(np.float32)
    image[..., shape[-1] // 2 :] += 50.0
    return image


def _check_valid(labels, shape, n_components):
    assert labels.shape == shape
    assert labels.dtype.kind == "u"
    assert labels.min() >= 1 and labels.max() <= n_components


# ---------------------------------------------------------------- bad images


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_pixels_are_an_error_that_says_how_to_replace_them(bad_value):
    image = _two_halves()
    image[3, 3] = bad_value
    with pytest.raises(ValueError, match="NaN or infinite.*nan_to_num"):
        segment(image, 2)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.arange(10.0), "2-D or 3-D image"),
        (np.zeros((2,) * 6), "2-D or 3-D image"),
        (np.zeros((4, 4), dtype=complex), "must hold numbers"),
        (np.full((4, 4), "a"), "must hold numbers"),
    ],
    ids=["1-D", "6-D", "complex", "text"],
)
def test_images_that_are_not_2d_or_3d_numbers_are_refused(image, message):
    with pytest.raises(ValueError, match=message):
        segment(image, 2)


def test_a_channel_axis_outside_the_image_is_refused():
    with pytest.raises(ValueError, match="channel_axis=5 is out of range"):
        segment(_two_halves(), 2, channel_axis=5)


def test_an_empty_mask_is_refused():
    with pytest.raises(ValueError, match="mask selects no pixels"):
        segment(_two_halves(), 2, mask=np.zeros((32, 32), dtype=bool))


def test_more_classes_than_pixels_is_refused():
    with pytest.raises(ValueError, match="4 pixel.*fewer than the 5 classes"):
        segment(np.ones((2, 2)), 5)


# ------------------------------------------------------ degenerate but valid


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
def test_one_class_and_one_pixel_are_valid(method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-posed problem warns about nothing
        assert (segment(_two_halves(), 1, method=method, **FAST) == 1).all()
    np.testing.assert_array_equal(segment(np.ones((1, 1)), 1, method=method, **FAST), [[1]])


@pytest.mark.parametrize("epsilon", [1e-4, 1e4])
@pytest.mark.parametrize("method", ["sinkhorn_start", "sinkhorn"])
def test_extreme_epsilons_give_valid_labels(method, epsilon):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SinkhornConvergenceWarning)
        labels = segment(_two_halves(), 2, method=method, epsilon=epsilon, **FAST)
    _check_valid(labels, (32, 32), 2)


@pytest.mark.parametrize("epsilon", [0, -1, np.inf, np.nan])
def test_invalid_epsilons_are_refused(epsilon):
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0"):
        segment(_two_halves(), 2, epsilon=epsilon)


@pytest.mark.parametrize(
    ("weights", "message"),
    [([0.5, 0.7], "sum to 1"), ([0.5, 0.3, 0.2], "2"), ([1.5, -0.5], "> 0")],
)
def test_invalid_class_sizes_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        segment(_two_halves(), 2, weights=weights)


def test_a_sample_larger_than_the_image_uses_every_pixel():
    segmenter = Segmenter(2, sample_size=10**9, **FAST).fit(_two_halves())
    assert segmenter.n_samples_fit_ == 32 * 32


def test_an_unconverged_sinkhorn_step_warns_once_and_still_labels():
    with pytest.warns(SinkhornConvergenceWarning) as record:
        labels = segment(_two_halves(), 2, method="sinkhorn", epsilon=0.01, sinkhorn_max_iter=1, **FAST)
    assert sum(issubclass(item.category, SinkhornConvergenceWarning) for item in record) == 1
    _check_valid(labels, (32, 32), 2)


# ------------------------------------------------------------ array flavours


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.uint16, np.int32, np.float16, np.float64, ">f4", ">u2"])
def test_every_numeric_dtype_gives_the_labels_of_its_float64_values(dtype):
    source = _two_halves()
    image = (source > 125) if dtype is bool else source.astype(dtype)
    expected = segment(image.astype(np.float64), 2, **FAST)
    np.testing.assert_array_equal(segment(image, 2, **FAST), expected)


def test_non_contiguous_memory_mapped_and_list_images_give_the_same_labels(tmp_path):
    image = _two_halves((32, 64))
    expected = segment(np.ascontiguousarray(image[:, ::2]), 2, **FAST)
    np.testing.assert_array_equal(segment(image[:, ::2], 2, **FAST), expected)
    np.testing.assert_array_equal(segment(np.asfortranarray(image[:, ::2]), 2, **FAST), expected)
    mapped = np.lib.format.open_memmap(tmp_path / "image.npy", mode="w+", dtype=np.float32, shape=(32, 32))
    mapped[:] = image[:, ::2]
    np.testing.assert_array_equal(segment(mapped, 2, **FAST), expected)
    as_list = segment(image[:, ::2].tolist(), 2, **FAST)
    np.testing.assert_array_equal(as_list, segment(image[:, ::2].astype(float), 2, **FAST))


@pytest.mark.parametrize("features", ["intensity", "multiscale"])
def test_a_stack_with_one_slice_is_segmented_like_its_plane(features):
    image = _two_halves()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the z-derivatives are zero up to round-off: nothing to warn about
        labels = segment(image[None], 2, features=features, sigmas=(1.0,), **FAST)
    assert labels.shape == (1, 32, 32)
    agreement = np.mean(labels[0] == segment(image, 2, features=features, sigmas=(1.0,), **FAST))
    assert agreement > 0.9  # the 3-D filters add z-derivative columns that are zero


def test_a_dask_image_gives_the_labels_of_the_same_numpy_image():
    dask_array = pytest.importorskip("dask.array")
    image = _two_halves()
    labels = np.asarray(segment(dask_array.from_array(image, chunks=16), 2, **FAST))
    np.testing.assert_array_equal(labels, segment(image, 2, **FAST))


# ------------------------------------------------------------- determinism


@pytest.mark.parametrize("method", ["sinkhorn_start", "em", "sinkhorn"])
def test_same_inputs_and_seed_give_bit_identical_labels_and_fit_equals_segment(method):
    image = _two_halves((48, 48), seed=3)
    first = segment(image, 3, method=method, sample_size=500, random_state=4, **FAST)
    second = segment(image, 3, method=method, sample_size=500, random_state=4, **FAST)
    fitted = Segmenter(3, method=method, sample_size=500, random_state=4, **FAST).fit(image)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(fitted.predict(image), first)
