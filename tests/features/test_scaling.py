"""Standardisation: median and interquartile range, a seeded subsample, a stored scaling reused."""

import json

import numpy as np
import pytest

from napari_sinkhorn_em.features import FeatureScaling, extract_features
from napari_sinkhorn_em.features import scaling as scaling_module


def test_standardization_is_median_and_iqr():
    image = np.random.default_rng(2).gamma(2.0, size=(30, 40))
    raw = extract_features(image, features=[("intensity", None), ("gaussian", 1.0)], standardize=False)
    stack = extract_features(image, features=[("intensity", None), ("gaussian", 1.0)])
    for j in range(2):
        q1, median, q3 = np.quantile(raw.data[:, j], [0.25, 0.5, 0.75])
        np.testing.assert_allclose(stack.data[:, j], (raw.data[:, j] - median) / (q3 - q1), rtol=1e-4, atol=1e-5)
        assert stack.scaling.centre[j] == pytest.approx(median, rel=1e-6)


def test_standardization_statistics_use_a_seeded_subsample(monkeypatch):
    monkeypatch.setattr(scaling_module, "MAX_STATISTICS_ROWS", 500)
    image = np.random.default_rng(4).normal(10.0, 2.0, size=(60, 80))
    first = extract_features(image)
    second = extract_features(image)
    np.testing.assert_array_equal(first.scaling.centre, second.scaling.centre)
    np.testing.assert_array_equal(first.scaling.spread, second.scaling.spread)
    assert first.scaling.centre[0] == pytest.approx(np.median(image), abs=0.3)
    assert first.scaling.spread[0] == pytest.approx(2.0 * 1.349, rel=0.15)


def test_mask_standardization_uses_masked_rows_only():
    image = np.zeros((10, 10))
    image[:, 5:] = 1000.0
    mask = np.zeros((10, 10), dtype=bool)
    mask[:, :3] = True
    mask[0, 9] = True
    stack = extract_features(image, mask=mask)
    assert stack.scaling.centre[0] == 0.0
    assert stack.data[:, 0].max() == 1000.0  # the IQR of the masked rows is 0 -> scale 1


def test_feature_scaling_round_trip_and_reuse_on_a_second_image():
    rng = np.random.default_rng(6)
    training = rng.random((2, 20, 24)) * 50
    new_image = rng.random((2, 16, 30)) * 80 + 5
    fitted = extract_features(training, channel_axis=0, features="multiscale", sigmas=(1.0, 2.0), coordinates=True)
    restored = FeatureScaling.from_dict(json.loads(json.dumps(fitted.scaling.to_dict())))
    assert restored.names == fitted.scaling.names
    np.testing.assert_array_equal(restored.centre, fitted.scaling.centre)
    np.testing.assert_array_equal(restored.spread, fitted.scaling.spread)
    reused = extract_features(
        new_image, channel_axis=0, features="multiscale", sigmas=(1.0, 2.0), coordinates=True, standardize=restored
    )
    raw = extract_features(
        new_image, channel_axis=0, features="multiscale", sigmas=(1.0, 2.0), coordinates=True, standardize=False
    )
    assert reused.scaling is restored
    manual = (raw.data.astype(np.float64) - restored.centre) / restored.spread
    np.testing.assert_allclose(reused.data, manual, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(restored.apply(raw.data), manual, rtol=1e-5, atol=1e-5)
    assert not np.shares_memory(restored.apply(raw.data), raw.data)


def test_feature_scaling_rejects_inconsistent_state():
    with pytest.raises(ValueError, match="one centre and one spread"):
        FeatureScaling(names=("a", "b"), centre=[0.0], spread=[1.0, 1.0])
    with pytest.raises(ValueError, match="positive finite"):
        FeatureScaling(names=("a",), centre=[0.0], spread=[0.0])
    with pytest.raises(ValueError, match="missing"):
        FeatureScaling.from_dict({"names": ["a"], "center": [0.0]})
    with pytest.raises(ValueError, match="fitted on 1 features"):
        FeatureScaling(names=("a",), centre=[0.0], spread=[1.0]).apply(np.zeros((3, 2)))


def test_stored_scaling_with_other_columns_is_rejected():
    image = np.random.default_rng(0).random((10, 10))
    fitted = extract_features(image, features="multiscale", sigmas=(1.0,))
    with pytest.raises(ValueError, match="different features"):
        extract_features(image, features="multiscale", sigmas=(2.0,), standardize=fitted.scaling)


def test_standardize_must_be_bool_or_scaling():
    with pytest.raises(TypeError, match="standardize"):
        extract_features(np.zeros((4, 5)), standardize="yes")


def test_a_scaling_stored_with_the_earlier_key_names_still_loads():
    earlier = FeatureScaling.from_dict({"names": ["a", "b"], "center": [1.0, 2.0], "scale": [3.0, 4.0]})
    current = FeatureScaling.from_dict({"names": ["a", "b"], "centre": [1.0, 2.0], "spread": [3.0, 4.0]})
    np.testing.assert_array_equal(earlier.centre, current.centre)
    np.testing.assert_array_equal(earlier.spread, current.spread)
    assert set(current.to_dict()) == {"names", "centre", "spread"}
