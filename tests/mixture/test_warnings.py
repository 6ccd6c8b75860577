"""The warnings of a fit: each problem once per fit, however many starts and iterations, at the caller's line."""

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em import ConvergenceWarning, GaussianMixture, SinkhornConvergenceWarning
from napari_sinkhorn_em.mixture import estimator

TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
SIZES = (300, 200, 100)
FAST = dict(max_iter=10, tol=0)


def test_emptied_component_is_reseeded_and_reported(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES)
    far_away = np.vstack([TRUE_MEANS, [[1e3, 1e3]]])
    model = GaussianMixture(
        4, method="em", weights="em", means_init=far_away, max_iter=5, tol=0, random_state=0,
        reg_covar=1e-3,
    )
    with pytest.warns(UserWarning, match="re-seeded"):
        model.fit(X)
    assert sum(model.history_["n_reseeded"]) >= 1
    assert np.isfinite(model.means_).all() and np.abs(model.means_).max() < 50


@pytest.mark.parametrize("n_init", [1, 3])
def test_an_emptied_component_is_reseeded_and_reported_once(
    n_init, separated_blobs, blob_centres, fit_recording, of_type, assert_valid_fit
):
    X = separated_blobs()
    means_init = np.vstack([blob_centres, [[1e4, 1e4]]])  # no point is anywhere near the fourth
    model = GaussianMixture(4, method="em", means_init=means_init, n_init=n_init, random_state=0, **FAST)
    caught = fit_recording(model, X)
    reseeded = of_type(caught, UserWarning, "re-seeded")
    assert len(reseeded) == 1
    total = sum(model.history_["n_reseeded"])
    assert total >= 1
    message = str(reseeded[0].message)
    assert "lost all its points" in message and "history_['n_reseeded']" in message
    assert "Use fewer components" in message
    if n_init == 1:
        assert f"{total} time(s)" in message
    assert_valid_fit(model, X)
    assert np.abs(model.means_).max() < 50  # re-seeded at a data point


def test_unconverged_fit_warns(gaussian_blobs):
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        GaussianMixture(3, max_iter=2, tol=1e-12, random_state=0).fit(gaussian_blobs(TRUE_MEANS, SIZES))


def test_features_swamped_by_reg_covar_warn(separated_blobs, fit_recording, of_type, assert_valid_fit):
    X = separated_blobs() * 1e-5
    model = GaussianMixture(3, random_state=0, **FAST)
    caught = fit_recording(model, X)
    swamped = of_type(caught, UserWarning, "reg_covar")
    assert len(swamped) == 1 and "Rescale the features" in str(swamped[0].message)
    assert_valid_fit(model, X)
    # Rescaled, the same data fit without the warning; a constant feature does not warn either.
    assert not of_type(fit_recording(GaussianMixture(3, random_state=0, **FAST), X * 1e5), UserWarning)
    constant = np.column_stack([separated_blobs()[:, 0], np.full(120, 5.0)])
    assert not of_type(fit_recording(GaussianMixture(3, random_state=0, **FAST), constant), UserWarning)


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(n_init=3), dict(warmup="sinkhorn_means", warmup_iter=3), dict(weights="em")],
)
def test_sinkhorn_max_iter_one_warns_exactly_once_per_fit(kwargs, separated_blobs, of_type, assert_valid_fit):
    X = separated_blobs(sizes=(100, 100, 20))
    model = GaussianMixture(3, epsilon=1e-3, sinkhorn_max_iter=1, random_state=0, **kwargs, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    unconverged = of_type(caught, SinkhornConvergenceWarning)
    assert len(unconverged) == 1
    message = str(unconverged[0].message)
    assert "Sinkhorn E-steps stopped before reaching sinkhorn_tol" in message
    if "n_init" not in kwargs:  # history_ holds the kept start only
        errors = np.array(model.history_["mass_error"])
        assert f"{np.sum(errors > model.sinkhorn_tol)} of the fit's {errors.size} Sinkhorn E-steps" in message
        assert f"column-mass error of {errors.max():.2g}" in message
    assert "Increase sinkhorn_max_iter or epsilon" in message
    assert unconverged[0].filename == __file__  # points at the caller's line
    assert_valid_fit(model, X)
    assert np.isfinite(model.potentials_).all()


def _unequal_blobs():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(centre, 0.3, size=(n, 2)) for centre, n in zip(((0, 0), (6, 0), (0, 6)), (900, 50, 50))])


def test_sizes_out_of_reach_refuse_sinkhorn_em_with_a_sentence(monkeypatch):
    # A Sinkhorn E-step that ran long and still left a class far from its size: the next ones would
    # run as long, so the fit stops. (The pass count is lowered so that a tiny problem shows it.)
    monkeypatch.setattr(estimator, "HOPELESS_SINKHORN_PASSES", 1)
    model = GaussianMixture(3, method="sinkhorn", sinkhorn_max_iter=1, random_state=0)
    with pytest.raises(ValueError, match="could not give the 3 classes their sizes.*method='em'"):
        model.fit(_unequal_blobs())


def test_sizes_out_of_reach_hand_the_sinkhorn_start_over_to_em(monkeypatch):
    monkeypatch.setattr(estimator, "HOPELESS_SINKHORN_PASSES", 1)
    X = _unequal_blobs()
    model = GaussianMixture(3, method="em", weights="em", warmup="sinkhorn_means", sinkhorn_max_iter=1, random_state=0)
    with pytest.warns(UserWarning, match="Sinkhorn start could not give the 3 classes equal sizes"):
        model.fit(X)
    assert set(model.history_["phase"]) == {"main"}  # no warm-up iteration was kept
    reference = GaussianMixture(3, method="em", weights="em", random_state=0).fit(X)
    np.testing.assert_array_equal(model.means_, reference.means_)  # EM from the same start


def test_the_abandoned_sinkhorn_start_is_said_once(monkeypatch, fit_recording, of_type):
    monkeypatch.setattr(estimator, "HOPELESS_SINKHORN_PASSES", 1)
    model = GaussianMixture(3, method="em", weights="em", warmup="sinkhorn_means", sinkhorn_max_iter=1, random_state=0)
    caught = fit_recording(model, _unequal_blobs())
    assert len(of_type(caught, UserWarning, "Sinkhorn start could not")) == 1
    assert not of_type(caught, SinkhornConvergenceWarning)
