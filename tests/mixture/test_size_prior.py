"""The class-size prior: Sinkhorn-EM's semi-relaxed plan, between hard sizes and EM's posterior."""

import warnings

import numpy as np
import ot
import pytest
import scipy.special

from napari_sinkhorn_em import (
    GaussianMixture,
    SinkhornConvergenceWarning,
    em_responsibilities,
    sinkhorn_responsibilities,
)

TRUE_MEANS = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
# Fractions that differ from the data's (0.5, 0.33, 0.17), so the prior has something to pull.
WEIGHTS = np.array([0.2, 0.3, 0.5])
SIZES = (300, 200, 100)


def kl(m, weights):
    return float(m @ np.log(m / weights))


@pytest.mark.parametrize("epsilon", [0.3, 1.0])
def test_a_strong_prior_is_the_hard_plan(epsilon, random_log_prob):
    log_prob, weights = random_log_prob(0)
    hard, _, _ = sinkhorn_responsibilities(log_prob, weights, epsilon=epsilon, tol=1e-11)
    soft, _, _ = sinkhorn_responsibilities(
        log_prob, weights, epsilon=epsilon, tol=1e-11, max_iter=100_000, size_prior_strength=1e9
    )
    np.testing.assert_allclose(soft, hard, atol=1e-6)
    # inf is the hard plan itself.
    same, _, _ = sinkhorn_responsibilities(
        log_prob, weights, epsilon=epsilon, tol=1e-11, size_prior_strength=np.inf
    )
    np.testing.assert_array_equal(same, hard)


def test_a_vanishing_prior_at_epsilon_one_is_the_em_posterior(random_log_prob):
    log_prob, weights = random_log_prob(1)
    soft, potentials, _ = sinkhorn_responsibilities(log_prob, weights, size_prior_strength=1e-9)
    np.testing.assert_allclose(soft, em_responsibilities(log_prob, weights), atol=1e-6)
    # At other epsilon it is the tempered posterior softmax((log_prob + epsilon log w) / epsilon).
    soft, _, _ = sinkhorn_responsibilities(log_prob, weights, epsilon=0.3, size_prior_strength=1e-9)
    expected = scipy.special.softmax((log_prob + 0.3 * np.log(weights)) / 0.3, axis=1)
    np.testing.assert_allclose(soft, expected, atol=1e-6)


@pytest.mark.parametrize("epsilon", [0.3, 1.0])
@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_the_soft_plan_equals_pot_semi_relaxed_unbalanced_transport(epsilon, tau, random_log_prob):
    log_prob, weights = random_log_prob(2)
    n_points = log_prob.shape[0]
    # POT: min <P, M> + reg KL(P || a b^T) + reg_m1 KL(P 1 || a) + reg_m2 KL(P^T 1 || b).
    plan = ot.unbalanced.sinkhorn_unbalanced(
        np.full(n_points, 1.0 / n_points), weights, -log_prob, reg=epsilon, reg_m=(np.inf, tau),
        reg_type="kl", numItermax=200_000, stopThr=1e-14,
    )
    resp, potentials, _ = sinkhorn_responsibilities(
        log_prob, weights, epsilon=epsilon, tol=1e-12, max_iter=100_000, size_prior_strength=tau
    )
    np.testing.assert_allclose(resp, n_points * plan, atol=1e-9)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    # The plan is softmax((log_prob + g) / epsilon) and, with h = g - epsilon log w, the optimum
    # has h_k = -tau log(m_k / w_k) up to the constant that softmax ignores.
    np.testing.assert_allclose(
        resp, scipy.special.softmax((log_prob + potentials) / epsilon, axis=1), atol=1e-12
    )
    h = potentials - epsilon * np.log(weights)
    expected = -tau * np.log(resp.mean(axis=0) / weights)
    np.testing.assert_allclose(h - h.mean(), expected - expected.mean(), atol=1e-9)


def test_column_masses_move_from_the_posterior_to_the_weights_as_the_strength_grows(random_log_prob):
    log_prob, weights = random_log_prob(3, n_points=200, n_components=4)
    posterior_masses = em_responsibilities(log_prob, weights).mean(axis=0)
    strengths = np.logspace(-9, 9, 19)
    masses = np.array([
        sinkhorn_responsibilities(
            log_prob, weights, tol=1e-12, max_iter=100_000, size_prior_strength=tau
        )[0].mean(axis=0)
        for tau in strengths
    ])
    np.testing.assert_allclose(masses[0], posterior_masses, atol=1e-8)
    np.testing.assert_allclose(masses[-1], weights, atol=1e-8)
    divergences = np.array([kl(m, weights) for m in masses])
    assert kl(posterior_masses, weights) > 0.005
    assert np.all(np.diff(divergences) <= 1e-12)
    assert divergences[9] < 0.9 * divergences[0] and divergences[9] > 10 * divergences[-1]


def test_with_two_classes_each_mass_moves_monotonically(random_log_prob):
    log_prob, weights = random_log_prob(4, n_points=200, n_components=2)
    posterior = em_responsibilities(log_prob, weights).mean(axis=0)
    masses = np.array([
        sinkhorn_responsibilities(log_prob, weights, tol=1e-12, size_prior_strength=tau)[0].mean(axis=0)
        for tau in np.logspace(-3, 3, 13)
    ])
    direction = np.sign(weights[0] - posterior[0])
    assert direction != 0
    steps = direction * np.diff(np.concatenate([[posterior[0]], masses[:, 0], [weights[0]]]))
    assert np.all(steps >= -1e-12) and steps.sum() > 0.05


@pytest.mark.parametrize("bad", [-1.0, 0, 0.0, np.nan, -np.inf, "strong", True])
def test_bad_strengths_are_a_clear_error(bad, gaussian_blobs, random_log_prob):
    log_prob, weights = random_log_prob(5)
    with pytest.raises(ValueError, match="size_prior_strength must be a number > 0"):
        sinkhorn_responsibilities(log_prob, weights, size_prior_strength=bad)
    with pytest.raises(ValueError, match="size_prior_strength must be a number > 0"):
        GaussianMixture(3, size_prior_strength=bad).fit(gaussian_blobs(TRUE_MEANS, SIZES, 1.2))


def test_a_prior_needs_fixed_weights(gaussian_blobs):
    with pytest.raises(ValueError, match="size_prior_strength needs fixed weights"):
        GaussianMixture(3, weights="em", size_prior_strength=1.0).fit(gaussian_blobs(TRUE_MEANS, SIZES, 1.2))


def test_an_unconverged_soft_plan_warns(random_log_prob):
    log_prob, weights = random_log_prob(6)
    with pytest.warns(SinkhornConvergenceWarning, match="stopped after 2 passes"):
        resp, _, n_passes = sinkhorn_responsibilities(
            log_prob, weights, epsilon=0.3, max_iter=2, size_prior_strength=100.0
        )
    assert n_passes == 2
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)


def fit(X, **settings):
    defaults = dict(weights=WEIGHTS, max_iter=30, random_state=0, sinkhorn_tol=1e-11,
                    sinkhorn_max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkhornConvergenceWarning)
        return GaussianMixture(3, **{**defaults, **settings}).fit(X)


def assert_same_fit(fitted, expected, atol=1e-6):
    np.testing.assert_allclose(fitted.means_, expected.means_, atol=atol)
    np.testing.assert_allclose(fitted.covariances_, expected.covariances_, atol=atol)
    np.testing.assert_allclose(fitted.weights_, expected.weights_, atol=atol)
    assert fitted.n_iter_ == expected.n_iter_


def test_a_fit_with_a_strong_prior_is_the_hard_sinkhorn_em_fit(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.2)
    hard = fit(X, epsilon=0.5)
    soft = fit(X, epsilon=0.5, size_prior_strength=1e9)
    assert_same_fit(soft, hard)
    np.testing.assert_allclose(soft.column_masses_, hard.weights_, atol=1e-6)
    np.testing.assert_allclose(hard.column_masses_, hard.weights_, atol=1e-9)
    np.testing.assert_allclose(soft.history_["log_likelihood"], hard.history_["log_likelihood"], atol=1e-6)


def test_a_fit_with_a_vanishing_prior_at_epsilon_one_is_em_with_those_weights(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.2)
    em = fit(X, method="em")
    soft = fit(X, epsilon=1.0, size_prior_strength=1e-9)
    assert_same_fit(soft, em)
    np.testing.assert_allclose(soft.column_masses_, em.column_masses_, atol=1e-6)
    np.testing.assert_allclose(soft.history_["log_likelihood"], em.history_["log_likelihood"], atol=1e-6)
    # Its objective is then minus the log-likelihood.
    np.testing.assert_allclose(
        soft.history_["ot_objective"], -np.asarray(soft.history_["log_likelihood"]), atol=1e-6
    )


def test_a_fit_keeps_the_prior_weights_and_reports_the_sizes_it_ended_with(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 0.7)
    # With means_init, weights[k] belongs to TRUE_MEANS[k]: the data's sizes are (0.5, 0.33, 0.17),
    # the prior's (0.2, 0.3, 0.5).
    settings_ = dict(epsilon=0.5, means_init=TRUE_MEANS, max_iter=200)
    model = fit(X, size_prior_strength=3.0, **settings_)
    assert "size_prior_strength=3.0" in repr(model)
    np.testing.assert_array_equal(model.weights_, WEIGHTS)
    masses = model.column_masses_
    assert masses.sum() == pytest.approx(1.0)
    free = fit(X, size_prior_strength=1e-9, **settings_).column_masses_
    np.testing.assert_allclose(free, [0.5, 1 / 3, 1 / 6], atol=0.01)
    # The prior pulls the sizes most of the way from the data's towards its own, not all of it.
    assert kl(free, WEIGHTS) > 10 * kl(masses, WEIGHTS) > 0.01
    # The fit's objective decreases, and predict_plan solves the same soft plan.
    objective = np.asarray(model.history_["ot_objective"])
    assert np.all(np.diff(objective) <= 1e-9)
    labels, _ = model.predict_plan(X)
    log_prob = model.estimate_log_prob(X)
    resp, _, _ = sinkhorn_responsibilities(
        log_prob, model.weights_, epsilon=0.5, size_prior_strength=3.0, tol=1e-11, max_iter=100_000
    )
    np.testing.assert_array_equal(labels, resp.argmax(axis=1))
    # column_masses_ are the last E-step's, one M-step (of a converged fit) before these parameters.
    np.testing.assert_allclose(resp.mean(axis=0), masses, atol=1e-3)


def test_the_warmup_keeps_hard_sizes_and_the_main_phase_relaxes_them(gaussian_blobs):
    X = gaussian_blobs(TRUE_MEANS, SIZES, 1.2)
    model = fit(X, size_prior_strength=0.05, epsilon=0.5, warmup="sinkhorn_means", warmup_iter=3)
    phases = model.history_["phase"]
    assert phases[:3] == ["warmup"] * 3 and phases[3] == "main"
    hard = fit(X, epsilon=0.5, warmup="sinkhorn_means", warmup_iter=3, max_iter=0)
    # max_iter=0 stops after the warm-up: same warm-up as the soft fit's.
    np.testing.assert_allclose(hard.history_["ot_objective"], model.history_["ot_objective"][:3])
