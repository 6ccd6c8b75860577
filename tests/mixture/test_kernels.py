"""The numba kernels against numpy references: exp, Cholesky factors, K x K solves, passes."""

import numba
import numpy as np
import pytest
import scipy.special

from napari_sinkhorn_em.mixture import _kernels

EMPTY_X = np.empty((0, 1))


def _problem(n_points=1000, n_features=3, n_components=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_points, n_features)) * 2.0
    means = rng.normal(size=(n_components, n_features)) * 2.0
    a = rng.normal(size=(n_components, n_features, n_features)) * 0.3
    covariances = a @ a.transpose(0, 2, 1) + np.eye(n_features)
    prec_chol = np.empty_like(covariances)
    log_det, failed = _kernels.precision_cholesky(covariances, prec_chol)
    assert failed == -1
    weights = rng.dirichlet(np.ones(n_components))
    return X, means, covariances, prec_chol, log_det, weights


def _reference_log_prob(X, means, covariances):
    n_features = X.shape[1]
    out = np.empty((means.shape[0], X.shape[0]))
    for k, (mean, cov) in enumerate(zip(means, covariances)):
        diff = X - mean
        mahalanobis = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
        out[k] = -0.5 * (n_features * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + mahalanobis)
    return out


def test_exp_is_within_two_units_in_the_last_place_and_zero_below_its_range():
    z = np.concatenate([-np.logspace(-300, np.log10(707.9), 500), [0.0, -0.0, -707.99, -708.5, -1e4, -np.inf]])
    out = np.empty_like(z)
    _kernels._exp_tile(z, z.size, np.empty(z.size), out)
    inside = z >= _kernels.EXP_MIN
    np.testing.assert_allclose(out[inside], np.exp(z[inside]), rtol=4.5e-16, atol=0)
    assert (out[~inside] == 0).all()


def test_precision_cholesky_matches_numpy_and_names_the_first_bad_component():
    _, _, covariances, prec_chol, log_det, _ = _problem()
    precision = prec_chol @ prec_chol.transpose(0, 2, 1)
    np.testing.assert_allclose(precision, np.linalg.inv(covariances), rtol=1e-12, atol=1e-12)
    assert (np.tril(prec_chol, -1) == 0).all()
    np.testing.assert_allclose(log_det, -0.5 * np.linalg.slogdet(covariances)[1], rtol=1e-12)
    broken = covariances.copy()
    broken[3] = -np.eye(3)
    assert _kernels.precision_cholesky(broken, np.empty_like(broken))[1] == 3


def test_positive_definite_solve_matches_numpy_and_reports_an_indefinite_matrix():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 40))
    matrix = a @ a.T + 40 * np.eye(40)
    rhs = rng.normal(size=40)
    solution, ok = _kernels.solve_positive_definite(matrix, rhs)
    assert ok
    np.testing.assert_allclose(solution, np.linalg.solve(matrix, rhs), rtol=1e-10)
    assert not _kernels.solve_positive_definite(-matrix, rhs)[1]


@pytest.mark.parametrize("n_points", [1, 127, 1000, 5003])
def test_em_pass_matches_a_numpy_e_step_and_m_step(n_points):
    X, means, covariances, prec_chol, log_det, weights = _problem(n_points)
    centre = X.mean(axis=0)
    loglik, mass, first, second = _kernels.em_pass(
        X, centre, means - centre, prec_chol, log_det, np.log(weights)
    )
    joint = _reference_log_prob(X, means, covariances) + np.log(weights)[:, None]
    resp = np.exp(joint - scipy.special.logsumexp(joint, axis=0))
    centred = X - centre
    np.testing.assert_allclose(loglik, scipy.special.logsumexp(joint, axis=0).sum(), rtol=1e-12)
    np.testing.assert_allclose(mass, resp.sum(axis=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first, resp @ centred, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(second, np.einsum("kn,ni,nj->kij", resp, centred, centred),
                               rtol=1e-10, atol=1e-10)


def test_component_major_log_prob_and_the_plan_pass_agree_with_the_reference():
    X, means, covariances, prec_chol, log_det, weights = _problem(3000)
    centre = np.zeros(3)
    log_prob = np.empty((7, 3000))
    _kernels.log_prob_pass(X, centre, means, prec_chol, log_det, log_prob)
    np.testing.assert_allclose(log_prob, _reference_log_prob(X, means, covariances), rtol=1e-11)
    shift = np.random.default_rng(1).normal(size=7)
    stored = np.empty_like(log_prob)
    loglik, posterior, mass, lse, outer, first, second = _kernels.log_prob_plan_pass(
        X, centre, means, prec_chol, log_det, np.log(weights), shift, 2.0, True, stored
    )
    np.testing.assert_array_equal(stored, log_prob)
    plan = np.exp((log_prob + shift[:, None]) * 2.0
                  - scipy.special.logsumexp((log_prob + shift[:, None]) * 2.0, axis=0))
    np.testing.assert_allclose(mass, plan.sum(axis=1), rtol=1e-10)
    np.testing.assert_allclose(outer, plan @ plan.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first, plan @ X, rtol=1e-10, atol=1e-10)
    again = _kernels.softmax_pass(log_prob, shift, 2.0, True, X, centre, np.empty((0, 7)))
    np.testing.assert_allclose(again[0], mass, rtol=1e-12)
    np.testing.assert_allclose(again[2], outer, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("spread", [1.0, 40.0, 2 * _kernels.MAX_REWEIGHTING_SPREAD])
def test_plan_pass_at_epsilon_one_gives_the_posterior_and_log_likelihood(spread):
    # At epsilon = 1 the posterior is derived from the plan while the potentials and log-weights
    # differ by less than MAX_REWEIGHTING_SPREAD, and computed with its own exponential beyond.
    X, means, _, prec_chol, log_det, weights = _problem(3000)
    X[5] = 1e200  # beyond float range of every component: a uniform row and a -inf log-likelihood
    centre = np.zeros(3)
    log_prob = np.empty((7, 3000))
    _kernels.log_prob_pass(X, centre, means, prec_chol, log_det, log_prob)
    shift = np.linspace(-spread / 2, spread / 2, 7)
    loglik, posterior, mass, lse, *_ = _kernels.log_prob_plan_pass(
        X, centre, means, prec_chol, log_det, np.log(weights), shift, 1.0, False, np.empty((1, 0))
    )
    assert loglik == -np.inf and lse == -np.inf
    finite = np.ones(3000, dtype=bool)
    finite[5] = False
    joint = log_prob[:, finite] + np.log(weights)[:, None]
    reference = np.exp(joint - scipy.special.logsumexp(joint, axis=0)).sum(axis=1) + 1.0 / 7
    np.testing.assert_allclose(posterior, reference, rtol=1e-12)
    finite_loglik = _kernels.log_prob_plan_pass(
        X[finite], centre, means, prec_chol, log_det, np.log(weights), shift, 1.0, False, np.empty((1, 0))
    )[0]
    np.testing.assert_allclose(finite_loglik, scipy.special.logsumexp(joint, axis=0).sum(), rtol=1e-12)


def test_outer_products_summed_row_by_row_for_many_components_match_the_dense_sum():
    rng = np.random.default_rng(2)
    n_components = 3 * _kernels.SPARSE_OUTER_ACTIVE
    log_prob = rng.normal(scale=3.0, size=(n_components, 4000))
    shift = np.zeros(n_components)
    mass, _, outer, _, _ = _kernels.softmax_pass(
        log_prob, shift, 1.0, True, EMPTY_X, np.zeros(1), np.empty((0, n_components))
    )
    resp = np.exp(log_prob - scipy.special.logsumexp(log_prob, axis=0))
    np.testing.assert_allclose(outer, resp @ resp.T, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mass, resp.sum(axis=1), rtol=1e-12)


def test_small_passes_run_on_one_thread_and_the_thread_count_is_restored():
    before = numba.get_num_threads()
    with _kernels.threads_for(_kernels.MIN_PARALLEL_WORK - 1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with _kernels.threads_for(_kernels.MIN_PARALLEL_WORK):
        assert numba.get_num_threads() == before


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs numba with two threads")
def test_parallel_passes_are_bit_identical_to_one_thread():
    X, means, _, prec_chol, log_det, weights = _problem(60_000, n_components=8)
    assert _kernels.pass_work(60_000, 8, 3) >= _kernels.MIN_PARALLEL_WORK
    centre = X.mean(axis=0)
    args = (X, centre, means - centre, prec_chol, log_det, np.log(weights))
    threads = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        parallel = _kernels.em_pass(*args)
    finally:
        numba.set_num_threads(threads)
    numba.set_num_threads(1)
    try:
        serial = _kernels.em_pass(*args)
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(parallel, serial):
        np.testing.assert_array_equal(a, b)
