"""The filters' responses: blobs, ridges and tubes, physical units, eigenvalues, constant images."""

import numpy as np
import pytest

from napari_sinkhorn_em.features import extract_features, halo_width
from napari_sinkhorn_em.features.filters import symmetric_eigenvalues


def column(stack, name):
    return stack.data[:, stack.names.index(name)]


def gaussian_blob(shape, centre, width):
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    squared = sum((grid - c) ** 2 for grid, c in zip(grids, centre, strict=True))
    return np.exp(-squared / (2 * width**2))


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
        symmetric_eigenvalues(components, ndim, out)
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
    assert np.all(standardized.scaling.spread == 1.0)
    assert np.all(standardized.data[:, :-3] == 0)
