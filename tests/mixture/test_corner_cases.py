"""Numerical corner cases of a fit: tiny problems, repeated values, extreme epsilons.

The rule: a corner case gives finite parameters and valid labels, or an honest warning (once per fit).
"""

import numpy as np
import pytest

from napari_sinkhorn_em import GaussianMixture, SinkhornConvergenceWarning

FAST = dict(max_iter=10, tol=0)


SETTINGS = [
    dict(method="em", weights="uniform"),
    dict(method="em", weights="em"),
    dict(method="sinkhorn", weights="uniform"),
    dict(method="sinkhorn", weights="em", init="random"),
    dict(method="sinkhorn", weights="uniform", warmup="sinkhorn_means", covariance_type="diag"),
]


# Tiny problems by name: (points from the blobs function, number of components).
TINY_PROBLEMS = {
    "one point": (lambda blobs: np.array([[1.0, 2.0]]), 1),
    "K=1": (lambda blobs: blobs(), 1),
    "K=n": (lambda blobs: np.random.default_rng(0).normal(size=(5, 2)), 5),  # as many components as points
}


@pytest.mark.parametrize("kwargs", SETTINGS)
@pytest.mark.parametrize("problem", list(TINY_PROBLEMS))
def test_tiny_problems_fit_without_warnings(
    problem, kwargs, separated_blobs, fit_recording, of_type, assert_valid_fit
):
    points, n_components = TINY_PROBLEMS[problem]
    X = points(separated_blobs)
    model = GaussianMixture(n_components, random_state=0, **kwargs, **FAST)
    caught = fit_recording(model, X)
    assert not of_type(caught, UserWarning), [str(w.message) for w in caught]
    assert_valid_fit(model, X)
    if X.shape[0] == n_components:
        # Every point is its own component.
        assert sorted(model.predict(X)) == list(range(n_components))

@pytest.mark.parametrize("kwargs", SETTINGS)
@pytest.mark.parametrize(
    "X, n_components, n_distinct",
    [
        (np.full((50, 2), 3.0), 3, 1),  # every point identical
        (np.repeat([[0.0], [1.0]], 25, axis=0), 4, 2),  # two distinct values, four components
    ],
    ids=["identical", "2 values K=4"],
)
def test_more_components_than_distinct_points_finishes_and_warns_once(
    X, n_components, n_distinct, kwargs, fit_recording, of_type, assert_valid_fit
):
    model = GaussianMixture(n_components, n_init=2, random_state=0, **kwargs, **FAST)
    caught = fit_recording(model, X)
    assert_valid_fit(model, X)
    duplicates = of_type(caught, UserWarning, "distinct value")
    assert len(duplicates) == 1
    assert f"only {n_distinct} distinct value(s)" in str(duplicates[0].message)
    assert f"Use at most {n_distinct} component(s)" in str(duplicates[0].message)
    # The components sit on the distinct points, each point is labelled by one of them.
    np.testing.assert_allclose(np.unique(model.means_.round(9), axis=0), np.unique(X, axis=0), atol=1e-6)
    assert len(np.unique(model.predict(X))) == n_distinct


def test_random_init_starts_on_distinct_values_of_integer_data(fit_recording, of_type):
    # 98 % of the pixels share one value: K random *indices* would mostly repeat it, and
    # components started on the same value stay identical for ever.
    X = np.zeros((1000, 1), dtype=np.uint8)
    X[:10], X[10:20] = 100, 200
    model = GaussianMixture(3, init="random", method="em", weights="em", random_state=0, **FAST)
    caught = fit_recording(model, X)
    assert not of_type(caught, UserWarning)
    np.testing.assert_allclose(np.sort(model.means_[:, 0]), [0.0, 100.0, 200.0], atol=1e-6)
    assert sorted(np.bincount(model.predict(X))) == [10, 10, 980]


@pytest.mark.parametrize("epsilon", [1e-4, 1e4])
@pytest.mark.parametrize("weights", ["uniform", [0.5, 0.3, 0.2], "em"])
def test_extreme_epsilons_give_a_valid_fit(
    epsilon, weights, separated_blobs, fit_recording, of_type, assert_valid_fit
):
    X = separated_blobs()
    model = GaussianMixture(3, epsilon=epsilon, weights=weights, random_state=0, **FAST)
    caught = fit_recording(model, X)
    assert_valid_fit(model, X)
    assert np.isfinite(model.potentials_).all()
    assert np.isfinite(model.history_["ot_objective"]).all()
    assert len(of_type(caught, SinkhornConvergenceWarning)) <= 1
    if not of_type(caught, SinkhornConvergenceWarning):
        assert max(model.history_["mass_error"]) <= model.sinkhorn_tol
    labels, confidence = model.predict_plan(X)
    assert ((labels >= 0) & (labels < 3)).all() and np.isfinite(confidence).all()
