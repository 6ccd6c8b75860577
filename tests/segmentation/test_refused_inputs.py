"""Inputs that segment and Segmenter refuse, each with a sentence that says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sinkhorn_em.segmentation import Segmenter, segment

@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_pixels_are_an_error_that_says_how_to_replace_them(two_halves, bad_value):
    image = two_halves()
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


def test_a_channel_axis_outside_the_image_is_refused(two_halves):
    with pytest.raises(ValueError, match="channel_axis=5 is out of range"):
        segment(two_halves(), 2, channel_axis=5)


def test_an_empty_mask_is_refused(two_halves):
    with pytest.raises(ValueError, match="mask selects no pixels"):
        segment(two_halves(), 2, mask=np.zeros((32, 32), dtype=bool))


def test_more_classes_than_pixels_is_refused():
    with pytest.raises(ValueError, match="4 pixel.*fewer than the 5 classes"):
        segment(np.ones((2, 2)), 5)


@pytest.mark.parametrize("epsilon", [0, -1, np.inf, np.nan])
def test_invalid_epsilons_are_refused(two_halves, epsilon):
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0"):
        segment(two_halves(), 2, epsilon=epsilon)


@pytest.mark.parametrize(
    ("weights", "message"),
    [([0.5, 0.7], "sum to 1"), ([0.5, 0.3, 0.2], "2"), ([1.5, -0.5], "> 0")],
)
def test_invalid_class_sizes_are_refused(two_halves, weights, message):
    with pytest.raises(ValueError, match=message):
        segment(two_halves(), 2, weights=weights)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(method="sinkhorn_means"), "method"),
        (dict(warmup="sinkhorn_means"), "with method="),
        (dict(assignment="hard"), "assignment"),
    ],
)
def test_unknown_method_or_assignment_is_a_clear_error_before_any_work(image2d, settings, message):
    with pytest.raises(ValueError, match=message):
        Segmenter(3, **settings).fit(image2d[0])


def test_predict_before_fit_is_an_error(image2d):
    with pytest.raises(RuntimeError, match="not fitted"):
        Segmenter(3).predict(image2d[0])


def test_wrong_number_of_channels_is_a_clear_error(fitted, image2d):
    stack = np.stack([image2d[0]] * 2)

    with pytest.raises(ValueError, match="fitted on images with 1 channel"):
        fitted.predict(stack, channel_axis=0)


def test_wrong_mask_shape_is_a_clear_error(image2d):
    with pytest.raises(ValueError, match="mask must be"):
        segment(image2d[0], 3, mask=np.ones((3, 3), bool))
