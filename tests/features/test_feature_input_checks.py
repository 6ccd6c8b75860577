"""Bad input is an error that names the problem and the fix: layouts, axes, arguments, NaN, overflow."""

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em.features import extract_features


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros(10), {}, "2-D or 3-D image"),
        (np.zeros((2, 3, 4, 5)), {}, "channel_axis"),
        (np.zeros((2, 3, 4, 5, 6)), {"channel_axis": 0}, "2-D or 3-D image"),
        (np.zeros((3, 4, 5)), {"channel_axis": 3}, "out of range"),
        (np.zeros((3, 4, 5)), {"channel_axis": -4}, "out of range"),
        (np.zeros((4, 5)), {"scale": (1.0, 1.0, 1.0)}, "one voxel size per spatial axis"),
        (np.zeros((4, 5)), {"scale": (1.0, 0.0)}, "positive finite"),
        (np.zeros((4, 5)), {"scale": (1.0, -2.0)}, "positive finite"),
        (np.zeros((4, 5)), {"mask": np.ones((5, 4), bool)}, "spatial shape"),
        (np.zeros((2, 4, 5)), {"channel_axis": 0, "mask": np.ones((2, 4, 5), bool)}, "spatial shape"),
        (np.zeros((4, 5)), {"mask": np.zeros((4, 5), bool)}, "selects no pixels"),
        (np.zeros((4, 5)), {"features": "log", "sigmas": (1.0, 0.0)}, "positive finite"),
        (np.zeros((4, 5)), {"features": "multiscale", "sigmas": (-1.0,)}, "positive finite"),
        (np.zeros((4, 5)), {"features": [("gaussian", float("nan"))]}, "positive finite"),
        (np.zeros((4, 5)), {"features": [("gaussian", float("inf"))]}, "positive finite"),
        (np.zeros((4, 5)), {"features": [("gaussian", None)]}, "positive number"),
        (np.zeros((4, 5)), {"features": "multiscale", "sigmas": ()}, "at least one sigma"),
        (np.zeros((4, 5)), {"features": [("intensity", 2.0)]}, "has no scale"),
        (np.zeros((4, 5)), {"features": ["gaussian"]}, "pair"),
        (np.zeros((4, 5)), {"features": []}, "empty"),
        (np.zeros((4, 5)), {"features": [(["gaussian"], 1.0)]}, "Unknown feature"),
        (np.zeros((4, 5)), {"coordinate_weight": -1.0}, "coordinate_weight"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), {}, "NaN or infinite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]], dtype=np.float16), {}, "nan_to_num"),
        (np.array([[1e300, 0.0], [0.0, 1.0]]), {}, "too large"),
        (np.zeros((4, 5), dtype=complex), {}, "must hold numbers"),
        (np.zeros((0, 5)), {}, "no pixels"),
    ],
)
def test_errors_explain_the_problem(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_features(image, **kwargs)


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((8,), {}, "1 spatial axes.*reshape\\(1, -1\\)"),
        ((2, 3, 4, 5), {}, "4 spatial axes.*channel_axis"),
        ((2,) * 6, {}, "6 spatial axes.*pass its index as channel_axis"),
        ((2,) * 6, {"channel_axis": 0}, "5 spatial axes.*one time point at a time"),
        ((3, 8), {"channel_axis": 0}, "1 spatial axes"),
        ((3, 4, 5), {"channel_axis": 3}, "channel_axis=3 is out of range.*-3 to 2"),
        ((3, 4, 5), {"channel_axis": -4}, "out of range"),
        ((3, 4, 5), {"channel_axis": 1.0}, "channel_axis must be an axis index"),
        ((3, 4, 5), {"channel_axis": "0"}, "channel_axis must be an axis index"),
        ((3, 4, 5), {"channel_axis": True}, "channel_axis must be an axis index"),
        ((0, 5), {}, "no pixels"),
    ],
)
def test_wrong_dimensions_and_channel_axes_are_refused(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_features(np.zeros(shape), **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f8"])
@pytest.mark.parametrize(
    "where, kwargs",
    [
        ((0, 0), {}),
        ((2, 5, 6), {"channel_axis": 0}),  # in the last channel only
        ((3, 4), {"mask": np.arange(12 * 13).reshape(12, 13) > 100}),  # under the mask
    ],
    ids=["pixel", "one channel", "masked out"],
)
def test_nan_and_inf_pixels_are_refused_with_how_to_replace_them(bad, dtype, where, kwargs, integer_image):
    image = integer_image() if "channel_axis" not in kwargs else np.stack([integer_image(s) for s in range(3)])
    image = image.astype(dtype)
    image[where] = bad
    with pytest.raises(ValueError) as error:
        extract_features(image, **kwargs)
    message = str(error.value)
    assert "NaN or infinite pixel values" in message
    assert "np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)" in message and "mask=" in message


@pytest.mark.parametrize(
    "image",
    [np.array([[3e38, -3e38], [1.0, 1.0]], dtype=np.float32), np.full((6, 6), 1e30) * np.eye(6)],
    ids=["float32 extremes", "1e30 spikes"],
)
def test_intensities_that_overflow_a_filter_are_a_clear_error(image):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning before the error
        with pytest.raises(ValueError, match="overflows 32-bit floats.*Rescale the image"):
            extract_features(image, features="multiscale", sigmas=(1.0,))
    # Intensity alone holds them.
    stack = extract_features(image, standardize=False)
    assert stack.data.dtype == np.float32 and stack.data.shape[0] == image.size
    assert np.isfinite(stack.data).all()


def test_float64_beyond_float32_is_refused():
    with pytest.raises(ValueError, match="too large for 32-bit floats.*rescale"):
        extract_features(np.array([[1e39, 0.0], [0.0, 0.0]]))
