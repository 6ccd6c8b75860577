"""The table's layout: shapes, column names, channels, coordinate columns, masked rows."""

import numpy as np
import pytest

from napari_sinkhorn_em.features import extract_features


def test_intensity_preset_shapes_and_names():
    image = np.arange(20, dtype=np.uint16).reshape(4, 5)
    stack = extract_features(image, standardize=False)
    assert stack.data.shape == (20, 1) and stack.data.dtype == np.float32
    assert stack.names == ("ch0:intensity",)
    assert stack.spatial_shape == (4, 5) and stack.mask is None and stack.scaling is None
    assert np.array_equal(stack.data[:, 0], np.arange(20))


def test_multiscale_names_in_2d():
    stack = extract_features(np.random.default_rng(0).random((16, 18)), features="multiscale", sigmas=(1.0, 2.5))
    assert stack.data.shape == (16 * 18, 16)
    assert stack.names[:8] == (
        "ch0:gaussian(s=1)",
        "ch0:log(s=1)",
        "ch0:gradient_magnitude(s=1)",
        "ch0:hessian_eigenvalues[0](s=1)",
        "ch0:hessian_eigenvalues[1](s=1)",
        "ch0:structure_tensor_eigenvalues[0](s=1)",
        "ch0:structure_tensor_eigenvalues[1](s=1)",
        "ch0:dog(s=1)",
    )
    assert stack.names[8] == "ch0:gaussian(s=2.5)"
    assert np.all(np.isfinite(stack.data))


def test_multiscale_shape_in_3d():
    stack = extract_features(np.random.default_rng(0).random((6, 16, 18)), features="multiscale", sigmas=(1.0, 2.5))
    assert stack.data.shape == (6 * 16 * 18, 20)
    assert stack.spatial_shape == (6, 16, 18)
    assert [name for name in stack.names if "hessian" in name and "2.5" in name] == [
        f"ch0:hessian_eigenvalues[{k}](s=2.5)" for k in range(3)
    ]
    assert np.all(np.isfinite(stack.data))


def test_channel_axis_first_and_last_agree():
    rng = np.random.default_rng(3)
    channels_first = rng.random((2, 5, 12, 14)).astype(np.float32)
    channels_last = np.moveaxis(channels_first, 0, -1)
    first = extract_features(channels_first, channel_axis=0, features="multiscale", sigmas=(1.0,))
    last = extract_features(channels_last, channel_axis=-1, features="multiscale", sigmas=(1.0,))
    assert first.names == last.names
    assert first.spatial_shape == last.spatial_shape == (5, 12, 14)
    assert first.data.shape == (5 * 12 * 14, 20)
    assert first.names[0].startswith("ch0:") and first.names[10].startswith("ch1:")
    np.testing.assert_array_equal(first.data, last.data)
    single = extract_features(channels_first[1], features="multiscale", sigmas=(1.0,), standardize=False)
    both = extract_features(channels_first, channel_axis=0, features="multiscale", sigmas=(1.0,), standardize=False)
    np.testing.assert_array_equal(both.data[:, 10:], single.data)


def test_coordinates_are_physical_and_not_standardized():
    image = np.random.default_rng(0).random((3, 4, 5))
    stack = extract_features(image, scale=(2.0, 0.5, 0.25), coordinates=True, coordinate_weight=3.0)
    assert stack.names[-3:] == ("z", "y", "x")
    z, y, x = np.unravel_index(np.arange(60), (3, 4, 5))
    np.testing.assert_allclose(stack.data[:, -3], 3.0 * 2.0 * z)
    np.testing.assert_allclose(stack.data[:, -2], 3.0 * 0.5 * y)
    np.testing.assert_allclose(stack.data[:, -1], 3.0 * 0.25 * x)
    assert list(stack.scaling.centre[-3:]) == [0, 0, 0] and list(stack.scaling.spread[-3:]) == [1, 1, 1]
    flat = extract_features(image[0], coordinates=True)
    assert flat.names[-2:] == ("y", "x")


def test_mask_restricts_rows_and_to_image_maps_back():
    rng = np.random.default_rng(5)
    image = rng.random((2, 10, 12))
    mask = rng.random((10, 12)) > 0.6
    full = extract_features(image, channel_axis=0, features="multiscale", sigmas=(1.0,), standardize=False)
    masked = extract_features(image, channel_axis=0, features="multiscale", sigmas=(1.0,), mask=mask, standardize=False)
    assert masked.data.shape == (mask.sum(), full.data.shape[1])
    assert np.array_equal(masked.mask, mask)
    np.testing.assert_array_equal(masked.data, full.data[mask.ravel()])
    labels = np.arange(masked.n_points)
    label_image = masked.to_image(labels, fill=-1)
    assert label_image.shape == (10, 12)
    assert np.all(label_image[~mask] == -1)
    np.testing.assert_array_equal(label_image[mask], labels)
    probabilities = masked.to_image(np.ones((masked.n_points, 3)), fill=np.nan)
    assert probabilities.shape == (10, 12, 3) and np.isnan(probabilities[~mask]).all()
    intensity = extract_features(image, channel_axis=0, standardize=False)
    np.testing.assert_array_equal(intensity.to_image(intensity.data[:, 1]), image[1].astype(np.float32))
    with pytest.raises(ValueError, match="one value per row"):
        masked.to_image(np.zeros(masked.n_points + 1))
