"""Fixtures of the mixture tests: small problems, and fits whose every warning is recorded."""

import warnings

import numpy as np
import pytest


@pytest.fixture
def random_log_prob():
    """A function ``(seed, n_points=60, n_components=4, spread=3.0) -> (log_prob, weights)``.

    Normal log-densities scaled by ``spread`` and random weights (summing to 1) for the E-steps.
    """

    def problem(seed, n_points=60, n_components=4, spread=3.0):
        rng = np.random.default_rng(seed)
        log_prob = rng.normal(size=(n_points, n_components)) * spread
        weights = rng.uniform(0.5, 2.0, size=n_components)
        return log_prob, weights / weights.sum()

    return problem


@pytest.fixture
def blob_centres():
    """The centres of :func:`separated_blobs`: three unit blobs 8 standard deviations apart."""
    return np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])


@pytest.fixture
def separated_blobs(gaussian_blobs, blob_centres):
    """A function ``(seed=0, sizes=(60, 40, 20)) -> points``: unit blobs around :func:`blob_centres`."""

    def blobs(seed=0, sizes=(60, 40, 20)):
        return gaussian_blobs(blob_centres, sizes, seed=seed)

    return blobs


@pytest.fixture
def fit_recording():
    """A function ``(model, X) -> warnings``: fit and return every warning raised (no de-duplication)."""

    def fit(model, X):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X)
        return caught

    return fit


@pytest.fixture
def of_type():
    """A function ``(caught, category, text="") -> warnings``: those of ``category`` whose message holds ``text``."""

    def select(caught, category, text=""):
        return [w for w in caught if issubclass(w.category, category) and text in str(w.message)]

    return select


@pytest.fixture
def assert_valid_fit():
    """A function ``(model, X)``: finite parameters, positive-definite covariances, labels in range,
    posterior rows summing to 1."""

    def check(model, X):
        for name in ("means_", "covariances_", "weights_", "precisions_", "precisions_cholesky_"):
            assert np.isfinite(getattr(model, name)).all(), name
        covariances = model.covariances_
        if model.covariance_type == "full":
            assert (np.linalg.eigvalsh(covariances) >= model.reg_covar * (1 - 1e-9)).all()
        else:
            assert (covariances >= model.reg_covar * (1 - 1e-9)).all()
        labels, confidence = model.predict_with_confidence(X)
        assert ((labels >= 0) & (labels < model.n_components)).all()
        assert np.isfinite(confidence).all() and (confidence > 0).all()
        np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)

    return check
