"""Every accepted kind of array (dtype, layout, memmap, list, dask) gives the features of its values."""

import numpy as np
import pytest

from napari_sinkhorn_em.features import extract_features

SMALL = dict(features="multiscale", sigmas=(1.0, 2.0))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, bool, np.float16, np.float64, ">u2", ">f4"])
def test_numeric_dtypes(dtype):
    values = np.random.default_rng(9).integers(0, 2 if dtype is bool else 200, size=(12, 13))
    image = values.astype(dtype)
    stack = extract_features(image, features=[("intensity", None), ("gaussian", 1.0), ("log", 1.0)], standardize=False)
    reference = extract_features(
        values.astype(np.float32), features=[("intensity", None), ("gaussian", 1.0), ("log", 1.0)], standardize=False
    )
    assert stack.data.dtype == np.float32
    np.testing.assert_array_equal(stack.data, reference.data)


@pytest.mark.parametrize("kwargs", [dict(), dict(channel_axis=0)], ids=["2-D", "channels"])
def test_every_array_flavour_gives_the_features_of_its_values(kwargs, array_flavours):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 200, size=(2, 10, 11) if kwargs else (10, 11)).astype(np.float32)
    settings_ = dict(coordinates=True, **SMALL, **kwargs)
    reference = extract_features(values, **settings_)
    kinds = [
        *array_flavours(values, dtypes=(np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float64, ">f8", ">u2", "<f4")),
        *array_flavours(values.astype(np.uint16), dtypes=()),  # the layouts of 16-bit camera images too
        ("reversed strides", values[::-1, ::-1].copy()[::-1, ::-1]),
    ]
    for name, image in kinds:
        stack = extract_features(image, **settings_)
        np.testing.assert_array_equal(stack.data, reference.data, err_msg=name)
        np.testing.assert_array_equal(stack.scaling.spread, reference.scaling.spread, err_msg=name)
    # Booleans are their 0/1 values.
    bits = values > 100
    np.testing.assert_array_equal(
        extract_features(bits, **settings_).data, extract_features(bits.astype(np.float32), **settings_).data
    )


def test_a_dask_array_gives_the_features_of_its_values(integer_image):
    dask_array = pytest.importorskip("dask.array")
    values = integer_image(4, shape=(3, 20, 21))
    lazy = dask_array.from_array(values, chunks=(1, 7, 8))
    settings_ = dict(coordinates=True, mask=values[0] > 50, channel_axis=0, **SMALL)
    np.testing.assert_array_equal(
        extract_features(lazy, **settings_).data, extract_features(values, **settings_).data
    )


def test_the_input_image_is_not_modified(integer_image):
    image = integer_image()
    before = image.copy()
    extract_features(image, **SMALL)
    np.testing.assert_array_equal(image, before)
