"""What a fitted GaussianMixture predicts: posteriors, labels with their confidence, and labels by the plan."""

import numpy as np
import pytest

from napari_sinkhorn_em import GaussianMixture

TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
SIZES = (300, 200, 100)
FAST = dict(max_iter=10, tol=0)


def test_predict_plan_enforces_the_class_sizes_that_the_posterior_lets_drift(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, (200, 200, 200), 2.0)
    model = GaussianMixture(3, method="em", weights="em", random_state=0).fit(X)
    model.weights_ = np.array([0.5, 0.25, 0.25])
    model.epsilon = 0.05
    posterior_counts = np.bincount(model.predict(X), minlength=3)
    labels, confidence = model.predict_plan(X)
    plan_counts = np.bincount(labels, minlength=3)
    assert np.abs(posterior_counts - [300, 150, 150]).max() > 40
    np.testing.assert_allclose(plan_counts, [300, 150, 150], atol=6)
    assert confidence.dtype == np.float32 and ((confidence > 0) & (confidence <= 1)).all()
    # New points are labelled with the potentials solved on the training points.
    potentials = model.transport_potentials(X)
    np.testing.assert_array_equal(model.predict_plan(X[::-1], potentials)[0], labels[::-1])
    with pytest.raises(ValueError, match="one per component"):
        model.predict_plan(X, potentials=[0.0, 1.0])


def test_predictions_have_the_expected_shapes(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES)
    model = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    proba = model.predict_proba(X[:10])
    assert proba.shape == (10, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    labels, confidence = model.predict_with_confidence(X)
    np.testing.assert_array_equal(labels[:10], proba.argmax(axis=1))
    np.testing.assert_allclose(confidence[:10], proba.max(axis=1), rtol=1e-6)
    assert model.covariances_.shape == (3, 2)
    assert model.precisions_cholesky_.shape == (3, 2)


def test_predict_before_fit_is_a_clear_error():
    with pytest.raises(RuntimeError, match="not fitted"):
        GaussianMixture(2).predict(np.zeros((3, 2)))


def test_predicting_bad_points_is_refused(separated_blobs):
    model = GaussianMixture(3, random_state=0, **FAST).fit(separated_blobs())
    for call in (model.predict, model.predict_proba, model.score_samples, model.predict_plan):
        with pytest.raises(ValueError, match="NaN or infinite"):
            call(np.array([[0.0, np.nan]]))
        with pytest.raises(ValueError, match="3 feature.*fitted on 2"):
            call(np.zeros((4, 3)))


def test_a_point_beyond_float_range_gets_uniform_confidence_not_nan(separated_blobs):
    model = GaussianMixture(3, method="em", random_state=0, **FAST).fit(separated_blobs())
    far = np.array([[1e200, 0.0]])
    labels, confidence = model.predict_with_confidence(far)
    np.testing.assert_allclose(confidence, 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(model.predict_proba(far), 1 / 3)
    assert 0 <= labels[0] < 3
