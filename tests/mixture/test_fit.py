"""GaussianMixture fitted by EM and Sinkhorn-EM: scikit-learn's EM, the objectives, the starts and the phases."""

import warnings

import numpy as np
import pytest
import sklearn.mixture
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_sinkhorn_em import GaussianMixture
from napari_sinkhorn_em.mixture import WARMUP_SINKHORN_TOL

TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
SIZES = (300, 200, 100)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_em_with_learned_weights_matches_scikit_learn(covariance_type, gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.5)
    start = GaussianMixture(
        3, method="em", weights="em", covariance_type=covariance_type, max_iter=1, tol=0,
        random_state=0,
    ).fit(X)
    reference = sklearn.mixture.GaussianMixture(
        3, covariance_type=covariance_type, weights_init=start.weights_, means_init=start.means_,
        precisions_init=start.precisions_, max_iter=20, tol=0, reg_covar=1e-6,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        reference.fit(X)
    ours = start
    ours.warm_start, ours.max_iter = True, 20
    ours.fit(X)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=1e-6)
    np.testing.assert_allclose(ours.covariances_, reference.covariances_, rtol=1e-6)
    np.testing.assert_allclose(ours.weights_, reference.weights_, rtol=1e-6)
    np.testing.assert_allclose(ours.history_["log_likelihood"][-1], reference.lower_bound_, rtol=1e-6)
    np.testing.assert_allclose(ours.score_samples(X), reference.score_samples(X), rtol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(ours.bic(X), reference.bic(X), rtol=1e-6)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_components=st.integers(1, 5),
    covariance_type=st.sampled_from(["full", "diag", "spherical"]),
    learned=st.booleans(),
)
def test_em_log_likelihood_never_decreases(seed, n_components, covariance_type, learned):
    X = np.random.default_rng(seed).normal(size=(200, 3)) * [1.0, 2.0, 0.5]
    model = GaussianMixture(
        n_components, method="em", weights="em" if learned else "uniform",
        covariance_type=covariance_type, max_iter=15, tol=0, random_state=seed,
    ).fit(X)
    loglik = np.array(model.history_["log_likelihood"])
    assert (np.diff(loglik) >= -1e-10 * np.abs(loglik[1:])).all()


@pytest.mark.parametrize("weights", ["uniform", [0.5, 0.3, 0.2]])
def test_sinkhorn_plan_keeps_the_fixed_masses_and_its_objective_decreases(weights, gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES)
    model = GaussianMixture(3, weights=weights, epsilon=0.5, max_iter=30, random_state=0).fit(X)
    assert max(model.history_["mass_error"]) <= model.sinkhorn_tol
    objective = np.array(model.history_["ot_objective"])
    assert (np.diff(objective) <= 1e-9).all()
    # Fixed fractions are handed to the components by the size of their starting clusters.
    expected = np.full(3, 1 / 3) if weights == "uniform" else weights
    np.testing.assert_allclose(np.sort(model.weights_), np.sort(expected))


def test_fixed_fractions_in_any_order_find_the_clusters_of_their_size(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, (540, 40, 20), 0.7)
    for weights in ([0.9, 1 / 15, 1 / 30], [1 / 30, 0.9, 1 / 15], [1 / 15, 1 / 30, 0.9]):
        model = GaussianMixture(3, weights=weights, epsilon=1.0, random_state=0).fit(X)
        nearest = np.argmin(((model.means_[:, None] - TRUE_MEANS[None]) ** 2).sum(axis=2), axis=1)
        assert sorted(nearest) == [0, 1, 2]
        np.testing.assert_allclose(model.weights_, np.array([0.9, 1 / 15, 1 / 30])[nearest])


def test_sinkhorn_with_em_weights_at_epsilon_one_is_em(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.5)
    settings_ = dict(max_iter=10, tol=0, random_state=3, weights="em")
    em = GaussianMixture(3, method="em", **settings_).fit(X)
    sinkhorn = GaussianMixture(3, method="sinkhorn", epsilon=1.0, sinkhorn_tol=1e-12, **settings_).fit(X)
    np.testing.assert_allclose(sinkhorn.means_, em.means_, rtol=1e-8)
    np.testing.assert_allclose(sinkhorn.weights_, em.weights_, rtol=1e-8)
    np.testing.assert_allclose(sinkhorn.history_["log_likelihood"], em.history_["log_likelihood"], rtol=1e-10)


def test_recovers_well_separated_clusters_with_the_right_masses(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, (200, 200, 200))
    model = GaussianMixture(3, random_state=0).fit(X)
    order = np.argsort(model.means_[:, 0] + 10 * model.means_[:, 1])
    np.testing.assert_allclose(model.means_[order], TRUE_MEANS, atol=0.25)
    assert model.converged_
    np.testing.assert_allclose(np.bincount(model.predict(X)), 200, atol=3)


def test_tol_zero_runs_exactly_max_iter(gaussian_blobs):
    model = GaussianMixture(3, max_iter=7, tol=0, random_state=0).fit(gaussian_blobs(TRUE_MEANS, SIZES))
    assert model.n_iter_ == 7 and len(model.history_["log_likelihood"]) == 7


def test_warm_start_continues_and_reuses_the_potentials(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES)
    model = GaussianMixture(3, epsilon=0.5, max_iter=200, random_state=0).fit(X)
    potentials = model.potentials_.copy()
    model.warm_start = True
    model.epsilon = 0.4
    model.fit(X)
    assert model.n_iter_ <= 10
    assert model.history_["sinkhorn_passes"][0] <= 8
    assert not np.array_equal(model.potentials_, potentials)


def test_float32_input_gives_the_float64_result(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES)
    single = GaussianMixture(3, method="em", max_iter=5, tol=0, random_state=0).fit(X.astype(np.float32))
    double = GaussianMixture(3, method="em", max_iter=5, tol=0, random_state=0).fit(
        X.astype(np.float32).astype(np.float64)
    )
    np.testing.assert_allclose(single.means_, double.means_, rtol=1e-10)


def test_fit_steps_reports_every_iteration_and_can_be_abandoned(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES)
    model = GaussianMixture(3, max_iter=6, tol=0, random_state=0)
    steps = list(model.fit_steps(X))
    assert [step.iteration for step in steps] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([s.log_likelihood for s in steps], model.history_["log_likelihood"])
    fitted_means = model.means_.copy()
    model.random_state = 1
    generator = model.fit_steps(X)
    next(generator)
    generator.close()
    np.testing.assert_array_equal(model.means_, fitted_means)


def test_sinkhorn_means_warmup_holds_covariances_then_fits_everything(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.5)
    model = GaussianMixture(
        3, method="em", weights="em", warmup="sinkhorn_means", warmup_iter=5, max_iter=100, tol=0,
        random_state=0,
    ).fit(X)
    assert model.history_["phase"] == ["warmup"] * 5 + ["main"] * 100
    assert model.n_iter_ == 105
    assert all(np.isfinite(model.history_["ot_objective"][:5]))
    assert all(np.isnan(model.history_["ot_objective"][5:]))
    # In the warm-up the masses are held at 1/K (to its looser tolerance): every plan column holds a third.
    assert max(model.history_["mass_error"][:5]) <= max(model.sinkhorn_tol, WARMUP_SINKHORN_TOL)
    # The main fit learned unequal weights (300, 200, 100 points).
    np.testing.assert_allclose(np.sort(model.weights_), [1 / 6, 1 / 3, 1 / 2], atol=0.03)


def test_warmup_only_moves_the_means(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.5)
    warm = GaussianMixture(3, warmup="sinkhorn_means", warmup_iter=4, max_iter=0, random_state=0).fit(X)
    covariances = warm.covariances_
    np.testing.assert_allclose(covariances[0], covariances[1])
    np.testing.assert_allclose(covariances[1], covariances[2])
    start = GaussianMixture(3, warmup="sinkhorn_means", warmup_iter=1, max_iter=0, random_state=0).fit(X)
    assert not np.allclose(start.means_, warm.means_)


def test_kmeans_init_starts_from_a_fixed_point_of_lloyds_iterations(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.5)
    start = GaussianMixture(3, init="kmeans", max_iter=0, random_state=0).fit(X).means_
    nearest = np.argmin(((X[:, None, :] - start[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_allclose(start, [X[nearest == k].mean(axis=0) for k in range(3)])
    seeds = GaussianMixture(3, init="kmeans++", max_iter=0, random_state=0).fit(X).means_
    assert not np.allclose(seeds, start)
    with pytest.raises(ValueError, match="init"):
        GaussianMixture(3, init="k-means").fit(X)
