"""Tests for napari_sinkhorn_em.features: filter responses, units, bookkeeping, errors."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_sinkhorn_em.features import extract as features_module
from napari_sinkhorn_em.features.extract import (
    FEATURE_NAMES,
    MULTISCALE_FEATURES,
    FeatureScaling,
    expand_features,
    extract_features,
    halo_width,
)


def column(stack, name):
    return stack.data[:, stack.names.index(name)]


def gaussian_blob(shape, centre, width):
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    squared = sum((grid - c) ** 2 for grid, c in zip(grids, centre, strict=True))
    return np.exp(-squared / (2 * width**2))


# ---------------------------------------------------------------------------
# Filter responses
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "centre", "best_sigma", "sigmas"),
    [
        # A Gaussian blob of width w: sigma**2 * LoG at the centre is
        # -d sigma**2 w**d / (w**2 + sigma**2)**(d/2 + 1), most negative at
        # sigma = w * sqrt(2/d) (w in 2-D, the disk rule sigma = r/sqrt(2)).
        ((64, 64), (33, 30), 3.0, (1.0, 1.5, 2.0, 3.0, 4.5, 6.0)),
        ((40, 40, 40), (20, 19, 21), 3.0 * np.sqrt(2 / 3), (1.0, 1.5, 3.0 * np.sqrt(2 / 3), 3.5, 5.0)),
    ],
)
def test_log_of_bright_blob_is_most_negative_at_centre_and_matching_sigma(shape, centre, best_sigma, sigmas):
    image = 100 * gaussian_blob(shape, centre, 3.0)
    stack = extract_features(image, features="log", sigmas=sigmas, standardize=False)
    centre_row = np.ravel_multi_index(centre, shape)
    for sigma in sigmas:
        response = column(stack, f"ch0:log(s={sigma:.10g})")
        assert response[centre_row] < 0
        assert np.argmin(response) == centre_row
    at_centre = [column(stack, f"ch0:log(s={sigma:.10g})")[centre_row] for sigma in sigmas]
    assert sigmas[int(np.argmin(at_centre))] == best_sigma
    expected = -len(shape) * best_sigma**2 * 3.0 ** len(shape) / (9.0 + best_sigma**2) ** (len(shape) / 2 + 1)
    assert min(at_centre) == pytest.approx(100 * expected, rel=0.02)


def test_hessian_eigenvalues_of_bright_ridge():
    rows = np.arange(48, dtype=np.float64)
    ridge = np.repeat(np.exp(-((rows - 20) ** 2) / (2 * 2.0**2))[:, None], 40, axis=1)
    stack = extract_features(ridge, features=[("hessian_eigenvalues", 2.0)], standardize=False)
    across = stack.to_image(column(stack, "ch0:hessian_eigenvalues[0](s=2)"))
    along = stack.to_image(column(stack, "ch0:hessian_eigenvalues[1](s=2)"))
    # Analytic curvature across a Gaussian ridge of width 2 seen at sigma 2: -w/(w^2+s^2)^(3/2).
    assert across[20, 20] == pytest.approx(-2.0 / 8.0**1.5, rel=0.02)
    assert abs(along[20, 20]) < 1e-4 * abs(across[20, 20])
    assert np.argmin(across[:, 20]) == 20


def test_hessian_eigenvalues_of_bright_tube_in_3d():
    tube = np.broadcast_to(gaussian_blob((32, 32), (15, 16), 2.0)[None], (30, 32, 32))
    stack = extract_features(tube, features=[("hessian_eigenvalues", 2.0)], standardize=False)
    centre = np.ravel_multi_index((15, 15, 16), tube.shape)
    smallest, middle, largest = stack.data[centre]
    assert smallest < 0 and middle < 0
    assert middle == pytest.approx(smallest, rel=1e-3)
    assert abs(largest) < 1e-4 * abs(smallest)


def test_anisotropic_scale_matches_isotropic_sampling_of_the_same_function():
    def specimen(z, y, x):
        return np.cos(2 * np.pi * z / 40) * np.sin(2 * np.pi * y / 32 + 0.3) + 0.5 * np.cos(2 * np.pi * x / 24)

    yx = np.arange(48, dtype=np.float64)
    z_fine = np.arange(80, dtype=np.float64)
    z_coarse = np.arange(0, 80, 4, dtype=np.float64)
    isotropic = specimen(*np.meshgrid(z_fine, yx, yx, indexing="ij"))
    anisotropic = specimen(*np.meshgrid(z_coarse, yx, yx, indexing="ij"))
    feature_list = [
        ("gaussian", 4.0),
        ("log", 4.0),
        ("gradient_magnitude", 4.0),
        ("hessian_eigenvalues", 4.0),
        ("dog", 4.0),
    ]
    fine = extract_features(isotropic, features=feature_list, standardize=False)
    coarse = extract_features(anisotropic, scale=(4.0, 1.0, 1.0), features=feature_list, standardize=False)
    assert fine.names == coarse.names
    # Compare planes far enough from the z borders that neither grid's reflection reaches them
    # (y and x are sampled identically, so their borders affect both alike).
    fine_reach = halo_width(feature_list, (), (1.0, 1.0, 1.0))[0]
    coarse_reach = halo_width(feature_list, (), (4.0, 1.0, 1.0))[0]
    planes = [
        k
        for k in range(len(z_coarse))
        if coarse_reach <= k < len(z_coarse) - coarse_reach and fine_reach <= 4 * k < len(z_fine) - fine_reach
    ]
    assert len(planes) >= 4
    for index, name in enumerate(fine.names):
        fine_image = fine.to_image(fine.data[:, index])[[4 * k for k in planes]]
        coarse_image = coarse.to_image(coarse.data[:, index])[planes]
        assert np.abs(coarse_image - fine_image).max() <= 0.01 * np.abs(fine_image).max(), name
    # And both equal the analytic smoothing: each cosine is damped by exp(-k^2 sigma^2 / 2).
    inner = slice(16, 32)  # the Gaussian's reach is 16 pixels in y and x
    z, y, x = np.meshgrid(z_coarse[planes], yx[inner], yx[inner], indexing="ij")
    damping = lambda period: np.exp(-((2 * np.pi / period) ** 2) * 16 / 2)  # noqa: E731
    analytic = damping(40) * damping(32) * np.cos(2 * np.pi * z / 40) * np.sin(2 * np.pi * y / 32 + 0.3)
    analytic += damping(24) * 0.5 * np.cos(2 * np.pi * x / 24)
    smoothed = coarse.to_image(column(coarse, "ch0:gaussian(s=4)"))[planes, inner, inner]
    assert np.abs(smoothed - analytic).max() < 1e-3


def test_derivatives_are_per_physical_length():
    ramp = 3.0 * 0.5 * np.arange(40, dtype=np.float64)[None, :].repeat(30, axis=0)  # 3 per unit, pixel 0.5
    stack = extract_features(ramp, scale=(0.5, 0.5), features=[("gradient_magnitude", 1.0)], standardize=False)
    gradient = stack.to_image(stack.data[:, 0])
    assert np.allclose(gradient[10:20, 10:30], 3.0, rtol=1e-4)


def test_symmetric_eigenvalues_match_numpy_including_degenerate_matrices():
    rng = np.random.default_rng(1)
    for ndim in (2, 3):
        matrices = rng.normal(size=(5000, ndim, ndim))
        matrices = matrices + matrices.transpose(0, 2, 1)
        matrices[:10] = 3 * np.eye(ndim)
        matrices[10:20] = 0
        matrices[20:30] = np.diag(np.arange(ndim, dtype=float))
        matrices = matrices.astype(np.float32)
        components = {(a, b): matrices[:, a, b] for a in range(ndim) for b in range(a, ndim)}
        out = np.empty((len(matrices), ndim), dtype=np.float32)
        features_module._symmetric_eigenvalues(components, ndim, out)
        assert np.allclose(out, np.linalg.eigvalsh(matrices.astype(np.float64)), atol=1e-5)
        assert np.all(np.diff(out, axis=1) >= 0)


@pytest.mark.parametrize("fill_value", [0, 7])
def test_constant_images_give_finite_features_with_zero_derivatives(fill_value):
    image = np.full((12, 20, 24), fill_value, dtype=np.uint8)
    raw = extract_features(image, features="multiscale", standardize=False)
    derivative_columns = [i for i, name in enumerate(raw.names) if "gaussian" not in name]
    assert np.abs(raw.data[:, derivative_columns]).max() < 1e-5
    standardized = extract_features(image, features="multiscale", coordinates=True)
    assert np.all(np.isfinite(standardized.data))
    assert np.all(standardized.scaling.scale == 1.0)
    assert np.all(standardized.data[:, :-3] == 0)


# ---------------------------------------------------------------------------
# Shapes, names, coordinates, masks
# ---------------------------------------------------------------------------


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
    assert list(stack.scaling.center[-3:]) == [0, 0, 0] and list(stack.scaling.scale[-3:]) == [1, 1, 1]
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


def test_mask_standardization_uses_masked_rows_only():
    image = np.zeros((10, 10))
    image[:, 5:] = 1000.0
    mask = np.zeros((10, 10), dtype=bool)
    mask[:, :3] = True
    mask[0, 9] = True
    stack = extract_features(image, mask=mask)
    assert stack.scaling.center[0] == 0.0
    assert stack.data[:, 0].max() == 1000.0  # the IQR of the masked rows is 0 -> scale 1


# ---------------------------------------------------------------------------
# Standardisation and recipes
# ---------------------------------------------------------------------------


def test_standardization_is_median_and_iqr():
    image = np.random.default_rng(2).gamma(2.0, size=(30, 40))
    raw = extract_features(image, features=[("intensity", None), ("gaussian", 1.0)], standardize=False)
    stack = extract_features(image, features=[("intensity", None), ("gaussian", 1.0)])
    for j in range(2):
        q1, median, q3 = np.quantile(raw.data[:, j], [0.25, 0.5, 0.75])
        np.testing.assert_allclose(stack.data[:, j], (raw.data[:, j] - median) / (q3 - q1), rtol=1e-4, atol=1e-5)
        assert stack.scaling.center[j] == pytest.approx(median, rel=1e-6)


def test_standardization_statistics_use_a_seeded_subsample(monkeypatch):
    monkeypatch.setattr(features_module, "MAX_STATISTICS_ROWS", 500)
    image = np.random.default_rng(4).normal(10.0, 2.0, size=(60, 80))
    first = extract_features(image)
    second = extract_features(image)
    np.testing.assert_array_equal(first.scaling.center, second.scaling.center)
    np.testing.assert_array_equal(first.scaling.scale, second.scaling.scale)
    assert first.scaling.center[0] == pytest.approx(np.median(image), abs=0.3)
    assert first.scaling.scale[0] == pytest.approx(2.0 * 1.349, rel=0.15)


def test_feature_scaling_round_trip_and_reuse_on_a_second_image():
    rng = np.random.default_rng(6)
    training = rng.random((2, 20, 24)) * 50
    new_image = rng.random((2, 16, 30)) * 80 + 5
    fitted = extract_features(training, channel_axis=0, features="multiscale", sigmas=(1.0, 2.0), coordinates=True)
    restored = FeatureScaling.from_dict(json.loads(json.dumps(fitted.scaling.to_dict())))
    assert restored.names == fitted.scaling.names
    np.testing.assert_array_equal(restored.center, fitted.scaling.center)
    np.testing.assert_array_equal(restored.scale, fitted.scaling.scale)
    reused = extract_features(
        new_image, channel_axis=0, features="multiscale", sigmas=(1.0, 2.0), coordinates=True, standardize=restored
    )
    raw = extract_features(
        new_image, channel_axis=0, features="multiscale", sigmas=(1.0, 2.0), coordinates=True, standardize=False
    )
    assert reused.scaling is restored
    manual = (raw.data.astype(np.float64) - restored.center) / restored.scale
    np.testing.assert_allclose(reused.data, manual, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(restored.apply(raw.data), manual, rtol=1e-5, atol=1e-5)
    assert not np.shares_memory(restored.apply(raw.data), raw.data)


def test_feature_scaling_rejects_inconsistent_state():
    with pytest.raises(ValueError, match="one center and one scale"):
        FeatureScaling(names=("a", "b"), center=[0.0], scale=[1.0, 1.0])
    with pytest.raises(ValueError, match="positive finite"):
        FeatureScaling(names=("a",), center=[0.0], scale=[0.0])
    with pytest.raises(ValueError, match="missing"):
        FeatureScaling.from_dict({"names": ["a"], "center": [0.0]})
    with pytest.raises(ValueError, match="fitted on 1 features"):
        FeatureScaling(names=("a",), center=[0.0], scale=[1.0]).apply(np.zeros((3, 2)))


def test_stored_scaling_with_other_columns_is_rejected():
    image = np.random.default_rng(0).random((10, 10))
    fitted = extract_features(image, features="multiscale", sigmas=(1.0,))
    with pytest.raises(ValueError, match="different features"):
        extract_features(image, features="multiscale", sigmas=(2.0,), standardize=fitted.scaling)


def test_recipe_round_trip_reproduces_identical_data():
    rng = np.random.default_rng(7)
    image = rng.random((2, 6, 14, 15)).astype(np.float32)
    original = extract_features(
        image,
        channel_axis=0,
        scale=(3.0, 1.0, 1.0),
        features=[("intensity", None), ("dog", 1.5), *expand_features("multiscale", (2.0,))],
        coordinates=True,
        coordinate_weight=0.25,
    )
    recipe = json.loads(json.dumps(original.recipe))
    assert set(recipe) == {"features", "coordinates", "coordinate_weight", "background_sigma"}
    assert recipe["features"][:2] == [["intensity", None], ["dog", 1.5]]
    assert recipe["background_sigma"] is None
    again = extract_features(
        image,
        channel_axis=0,
        scale=(3.0, 1.0, 1.0),
        features=recipe["features"],
        coordinates=recipe["coordinates"],
        coordinate_weight=recipe["coordinate_weight"],
        standardize=original.scaling,
    )
    assert again.names == original.names
    np.testing.assert_array_equal(again.data, original.data)


def test_expand_features_presets_and_single_names():
    assert expand_features("intensity") == [("intensity", None)]
    assert expand_features("log", (1, 2)) == [("log", 1.0), ("log", 2.0)]
    assert expand_features("gaussian", 3) == [("gaussian", 3.0)]
    multiscale = expand_features("multiscale", (1.0, 4.0))
    assert multiscale == [(name, sigma) for sigma in (1.0, 4.0) for name in MULTISCALE_FEATURES]
    assert set(FEATURE_NAMES) == {
        "intensity",
        "gaussian",
        "log",
        "gradient_magnitude",
        "hessian_eigenvalues",
        "structure_tensor_eigenvalues",
        "dog",
    }


def test_halo_width_gives_exact_chunked_features():
    rng = np.random.default_rng(8)
    image = rng.random((24, 40, 44)).astype(np.float32)
    scale = (2.0, 1.0, 1.0)
    halo = halo_width("multiscale", (1.0, 2.0), scale)
    # Widest reach: the difference of Gaussians at 1.6 * 2 = 3.2 (13 pixels in y, x; 6 in z,
    # tied with the structure tensor's 4 + 2).
    assert halo == (6, 13, 13)
    full = extract_features(image, scale=scale, features="multiscale", sigmas=(1.0, 2.0), standardize=False)
    block = (slice(8, 14), slice(14, 26), slice(4, 30))
    padded = tuple(
        slice(max(b.start - h, 0), min(b.stop + h, n)) for b, h, n in zip(block, halo, image.shape, strict=True)
    )
    chunk = extract_features(image[padded], scale=scale, features="multiscale", sigmas=(1.0, 2.0), standardize=False)
    inner = tuple(slice(b.start - p.start, b.stop - p.start) for b, p in zip(block, padded, strict=True))
    for j in range(full.n_features):
        np.testing.assert_array_equal(chunk.to_image(chunk.data[:, j])[inner], full.to_image(full.data[:, j])[block])
    assert halo_width("intensity", (), (1.0, 1.0)) == (0, 0)
    assert halo_width([("hessian_eigenvalues", 0.1)], (), (1.0, 1.0)) == (2, 2)


# ---------------------------------------------------------------------------
# Input dtypes
# ---------------------------------------------------------------------------


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


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=2, max_size=3).map(tuple),
    dtype=st.sampled_from(["uint8", "int16", "float32", ">f8", "bool"]),
    seed=st.integers(0, 2**16),
)
def test_multiscale_is_finite_for_any_small_image(shape, dtype, seed):
    image = (np.random.default_rng(seed).random(shape) * 100).astype(dtype)
    stack = extract_features(image, features="multiscale", sigmas=(0.5, 3.0), coordinates=True)
    assert stack.data.shape == (int(np.prod(shape)), 2 * (4 + 2 * len(shape)) + len(shape))
    assert np.all(np.isfinite(stack.data))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


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


@pytest.mark.parametrize("bad_name", ["gausian", "sobel"])
def test_unknown_feature_names_list_the_valid_ones(bad_name):
    for spec in (bad_name, [(bad_name, 1.0)]):
        with pytest.raises(ValueError, match="Valid feature names are") as error:
            extract_features(np.zeros((4, 5)), features=spec)
        assert all(name in str(error.value) for name in FEATURE_NAMES)
        assert "multiscale" in str(error.value)


def test_standardize_must_be_bool_or_scaling():
    with pytest.raises(TypeError, match="standardize"):
        extract_features(np.zeros((4, 5)), standardize="yes")
