"""Feature specifications: presets, names, recipes that reproduce a table, and the filters' reach."""

import json

import numpy as np
import pytest

from napari_sinkhorn_em.features import FEATURE_NAMES, MULTISCALE_FEATURES, expand_features, extract_features, halo_width


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


@pytest.mark.parametrize("bad_name", ["gausian", "sobel"])
def test_unknown_feature_names_list_the_valid_ones(bad_name):
    for spec in (bad_name, [(bad_name, 1.0)]):
        with pytest.raises(ValueError, match="Valid feature names are") as error:
            extract_features(np.zeros((4, 5)), features=spec)
        assert all(name in str(error.value) for name in FEATURE_NAMES)
        assert "multiscale" in str(error.value)


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
