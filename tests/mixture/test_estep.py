"""The E-steps on log-density arrays: EM's posterior and Sinkhorn-EM's transport plan."""

import warnings

import numpy as np
import ot
import pytest
import scipy.special
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_sinkhorn_em import (
    SinkhornConvergenceWarning,
    em_responsibilities,
    sinkhorn_responsibilities,
)


def test_em_responsibilities_is_the_posterior(random_log_prob):
    log_prob, weights = random_log_prob(0)
    expected = scipy.special.softmax(log_prob + np.log(weights), axis=1)
    np.testing.assert_allclose(em_responsibilities(log_prob, weights), expected, rtol=1e-12)


@pytest.mark.parametrize("epsilon", [0.05, 0.3, 1.0, 10.0])
def test_sinkhorn_plan_equals_pot(epsilon, random_log_prob):
    log_prob, weights = random_log_prob(1)
    n_points = log_prob.shape[0]
    plan = ot.sinkhorn(
        np.full(n_points, 1.0 / n_points), weights, -log_prob, reg=epsilon,
        method="sinkhorn_log", numItermax=200_000, stopThr=1e-13,
    )
    resp, _, _ = sinkhorn_responsibilities(log_prob, weights, epsilon=epsilon, tol=1e-11)
    np.testing.assert_allclose(resp, n_points * plan, atol=1e-8)


@pytest.mark.parametrize("epsilon", [1e-3, 1e-2, 1.0, 1e2, 1e3])
@pytest.mark.parametrize("solver", ["newton", "sweeps"])
def test_sinkhorn_marginals_hold_for_a_wide_range_of_epsilon(epsilon, solver, random_log_prob):
    log_prob, weights = random_log_prob(2)
    tol = 1e-6
    resp, potentials, _ = sinkhorn_responsibilities(
        log_prob, weights, epsilon=epsilon, tol=tol, max_iter=20_000, solver=solver
    )
    assert np.isfinite(resp).all() and np.isfinite(potentials).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    assert np.max(np.abs(resp.mean(axis=0) / weights - 1.0)) <= tol
    assert abs(potentials.mean()) < 1e-9 * max(1.0, np.abs(potentials).max())


def test_newton_needs_far_fewer_passes_than_sweeps(random_log_prob):
    log_prob, weights = random_log_prob(3, n_points=400, n_components=10)
    _, g_newton, passes_newton = sinkhorn_responsibilities(log_prob, weights, epsilon=0.3, solver="newton")
    _, g_sweeps, passes_sweeps = sinkhorn_responsibilities(
        log_prob, weights, epsilon=0.3, solver="sweeps", max_iter=100_000
    )
    np.testing.assert_allclose(g_newton, g_sweeps, atol=1e-4)
    assert passes_newton * 5 < passes_sweeps


def test_warm_start_from_converged_potentials_needs_one_pass(random_log_prob):
    log_prob, weights = random_log_prob(4)
    _, potentials, _ = sinkhorn_responsibilities(log_prob, weights, epsilon=0.5)
    _, _, n_passes = sinkhorn_responsibilities(log_prob, weights, epsilon=0.5, potentials=potentials)
    assert n_passes == 1


def test_epsilon_one_with_log_weights_potentials_is_em_when_masses_match(random_log_prob):
    # If the column masses are EM's own posterior masses, the plan is EM's posterior.
    log_prob, weights = random_log_prob(5)
    posterior = em_responsibilities(log_prob, weights)
    resp, _, _ = sinkhorn_responsibilities(log_prob, posterior.mean(axis=0), epsilon=1.0, tol=1e-12)
    np.testing.assert_allclose(resp, posterior, atol=1e-9)


def test_unconverged_sinkhorn_warns_once_and_returns_a_valid_plan(random_log_prob):
    log_prob, weights = random_log_prob(6, spread=50.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resp, _, n_passes = sinkhorn_responsibilities(log_prob, weights, epsilon=1e-3, max_iter=2)
    messages = [w for w in caught if issubclass(w.category, SinkhornConvergenceWarning)]
    assert len(messages) == 1 and "column-mass error" in str(messages[0].message)
    assert n_passes == 2
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epsilon=0.0), "epsilon"),
        (dict(epsilon=-1.0), "epsilon"),
        (dict(epsilon=float("nan")), "epsilon"),
        (dict(epsilon=float("inf")), "epsilon"),
        (dict(weights=[0.5, 0.5, 0.5, -0.5]), "> 0"),
        (dict(weights=[0.5, 0.5]), "4 fractions"),
        (dict(weights=[0.3, 0.3, 0.3, 0.3]), "sum to 1"),
        (dict(log_prob=np.zeros(5)), "2-D"),
        (dict(log_prob=np.full((3, 4), np.nan)), "NaN"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message, random_log_prob):
    log_prob, weights = random_log_prob(7)
    arguments = dict(log_prob=log_prob, weights=weights, epsilon=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        sinkhorn_responsibilities(**arguments)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    n_components=st.integers(1, 6),
    epsilon=st.sampled_from([0.01, 0.1, 1.0, 10.0]),
)
def test_plan_rows_sum_to_one_and_columns_to_the_weights(seed, n_components, epsilon, random_log_prob):
    log_prob, weights = random_log_prob(seed, n_points=40, n_components=n_components)
    resp, _, _ = sinkhorn_responsibilities(log_prob, weights, epsilon=epsilon, max_iter=5000)
    assert ((resp >= 0) & (resp <= 1)).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(resp.mean(axis=0), weights, rtol=1e-6)


def clustered_log_prob(n_points=3000, n_components=100, seed=0):
    """Log-densities of points from K unit Gaussians under K unit Gaussians started at data points."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_components, 3))
    X = centres[rng.integers(n_components, size=n_points)] + rng.normal(size=(n_points, 3))
    starts = X[rng.choice(n_points, n_components, replace=False)]
    return -0.5 * ((X[:, None, :] - starts[None]) ** 2).sum(axis=2)


@pytest.mark.parametrize("epsilon, max_passes", [(100.0, 60), (10.0, 60), (1.0, 60), (0.1, 60), (0.01, 100)])
def test_newton_solver_contract_from_a_cold_start(epsilon, max_passes):
    # K = 100 components with masses spanning 1:20, relative mass error <= 1e-6.
    log_prob = clustered_log_prob()
    weights = np.linspace(1.0, 20.0, 100)
    weights /= weights.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkhornConvergenceWarning)
        resp, _, n_passes = sinkhorn_responsibilities(log_prob, weights, epsilon=epsilon, tol=1e-6)
    assert n_passes <= max_passes
    assert np.max(np.abs(resp.mean(axis=0) / weights - 1.0)) <= 1e-6


def test_newton_converges_when_log_densities_differ_by_thousands_of_epsilon():
    # Tight, well-separated clusters of very unequal sizes with equal target masses: the
    # potentials must move by thousands of epsilon, which a fixed trust radius never reached.
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(c, 0.05, size=n) for c, n in ((0.0, 560), (10.0, 40), (20.0, 10))])
    log_prob = -0.5 * ((points[:, None] - np.array([0.0, 10.0, 20.0])) / 0.05) ** 2
    weights = np.full(3, 1 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkhornConvergenceWarning)
        resp, _, n_passes = sinkhorn_responsibilities(log_prob, weights, epsilon=1.0)
    assert n_passes < 500
    np.testing.assert_allclose(resp.mean(axis=0), weights, rtol=1e-6)


def check_plan(resp, weights, tol, caught):
    """Rows sum to 1; columns match the weights within tol, or one warning gives the error reached."""
    assert np.isfinite(resp).all() and ((resp >= 0) & (resp <= 1)).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    error = np.max(np.abs(resp.mean(axis=0) / weights - 1.0))
    unconverged = [w for w in caught if issubclass(w.category, SinkhornConvergenceWarning)]
    assert len(unconverged) <= 1
    if unconverged:
        assert f"column-mass error of {error:.2g}" in str(unconverged[0].message)
    else:
        assert error <= tol


@pytest.mark.parametrize("epsilon", [1e-4, 1e4])
@pytest.mark.parametrize("solver", ["newton", "sweeps"])
def test_extreme_epsilons_give_a_valid_plan(epsilon, solver):
    rng = np.random.default_rng(1)
    log_prob = rng.normal(size=(200, 3)) * 5
    weights = np.array([0.6, 0.3, 0.1])
    for max_iter in (1000, 2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resp, potentials, _ = sinkhorn_responsibilities(
                log_prob, weights, epsilon=epsilon, max_iter=max_iter, solver=solver
            )
        assert np.isfinite(potentials).all()
        check_plan(resp, weights, 1e-6, caught)


@pytest.mark.parametrize(
    "log_prob, message",
    [
        (np.array([[0.0, -1.0], [-np.inf, -np.inf], [0.0, 0.0]]), "every column of 1 row.*row 1"),
        (np.array([[0.0, np.nan]]), "NaN or \\+inf"),
        (np.array([[0.0, np.inf]]), "NaN or \\+inf"),
        (np.zeros((0, 2)), "no rows"),
    ],
)
def test_impossible_log_densities_are_refused(log_prob, message):
    for estep in (em_responsibilities, sinkhorn_responsibilities):
        with pytest.raises(ValueError, match=message):
            estep(log_prob, [0.5, 0.5])


def test_a_component_no_point_can_reach_is_refused_by_the_plan():
    log_prob = np.array([[0.0, -np.inf], [-1.0, -np.inf], [0.0, -np.inf]])
    with pytest.raises(ValueError, match=r"column\(s\) \[1\].*cannot receive"):
        sinkhorn_responsibilities(log_prob, [0.5, 0.5])
    # EM simply gives that component nothing.
    np.testing.assert_array_equal(em_responsibilities(log_prob, [0.5, 0.5])[:, 1], 0.0)


def random_weights(draw_seed, n_components):
    """Weights whose largest and smallest differ by up to 1:20."""
    rng = np.random.default_rng(draw_seed)
    weights = np.exp(rng.uniform(0, np.log(20), size=n_components))
    return weights / weights.sum()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_points=st.integers(1, 60),
    n_components=st.integers(1, 5),
    epsilon=st.floats(0.05, 10.0),
    spread=st.floats(0.0, 30.0),
)
def test_esteps_are_row_stochastic_and_the_plan_keeps_the_weights(seed, n_points, n_components, epsilon, spread):
    rng = np.random.default_rng(seed)
    log_prob = rng.normal(size=(n_points, n_components)) * spread
    weights = random_weights(seed + 1, n_components)
    tol = 1e-6
    resp = em_responsibilities(log_prob, weights)
    assert ((resp >= 0) & (resp <= 1)).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkhornConvergenceWarning)
        resp, potentials, _ = sinkhorn_responsibilities(log_prob, weights, epsilon=epsilon, tol=tol)
    assert ((resp >= 0) & (resp <= 1)).all() and np.isfinite(potentials).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    assert np.max(np.abs(resp.mean(axis=0) / weights - 1.0)) <= tol


def _sizes_out_of_reach():
    # Class 2 can take only point 0: its share of 1/3 is out of reach (by a factor of e^1e300 in density).
    log_prob = np.zeros((3, 300))
    log_prob[2] = -1e300
    log_prob[2, 0] = 0.0
    return log_prob, np.full(3, 1 / 3)


def test_solve_sinkhorn_gives_up_early_on_sizes_out_of_reach_when_asked():
    from napari_sinkhorn_em.mixture import solve_sinkhorn

    log_prob, weights = _sizes_out_of_reach()
    result = solve_sinkhorn(log_prob, weights, 1.0, potentials=np.zeros(3), max_passes=300, give_up=(20, 0.5))
    assert not result.converged and 20 <= result.n_passes < 40
    assert result.state.mass_error > 0.5
    full = solve_sinkhorn(log_prob, weights, 1.0, potentials=np.zeros(3), max_passes=300)
    assert full.n_passes == 300 and not full.converged


def test_sweeps_never_give_up_since_they_converge_slowly_but_surely():
    from napari_sinkhorn_em.mixture import solve_sinkhorn

    log_prob, weights = _sizes_out_of_reach()
    result = solve_sinkhorn(log_prob, weights, 1.0, potentials=np.zeros(3), max_passes=300, solver="sweeps",
                            give_up=(20, 0.5))
    assert result.n_passes == 300


def test_solve_sinkhorn_does_not_give_up_on_reachable_sizes():
    from napari_sinkhorn_em.mixture import solve_sinkhorn

    rng = np.random.default_rng(0)
    log_prob = rng.normal(0, 3, (4, 500))
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    asked = solve_sinkhorn(log_prob, weights, 1.0, potentials=np.zeros(4), give_up=(3, 0.5))
    plain = solve_sinkhorn(log_prob, weights, 1.0, potentials=np.zeros(4))
    assert asked.converged and asked.n_passes == plain.n_passes
    np.testing.assert_array_equal(asked.state.potentials, plain.state.potentials)


def test_newton_gives_up_only_when_it_stalls_far_from_the_sizes():
    from napari_sinkhorn_em.mixture.estep import _stalled

    stuck = {0: 10.0, 40: 9.0, 70: 12.0, 100: 9.5}
    assert _stalled(stuck, 100, 9.5, 100, 0.5)
    slow = {0: 10.0, 40: 6.0, 70: 3.0, 100: 1.4}  # halved over the last 50 passes: keep going
    assert not _stalled(slow, 100, 1.4, 100, 0.5)
    assert not _stalled(stuck, 99, 9.5, 100, 0.5)  # not yet 100 passes
    assert not _stalled({0: 0.4, 100: 0.4}, 100, 0.4, 100, 0.5)  # near the sizes
