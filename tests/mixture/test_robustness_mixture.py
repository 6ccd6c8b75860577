"""Robustness of GaussianMixture and the E-steps: bad input, corner cases, array flavours, invariants.

The rule: every bad input is a ValueError that names the problem and the fix; a numerical
corner case gives finite parameters and valid labels, or an honest warning (once per fit).
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from napari_sinkhorn_em import (
    GaussianMixture,
    SinkhornConvergenceWarning,
    em_responsibilities,
    sinkhorn_responsibilities,
)

CENTRES = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
FAST = dict(max_iter=10, tol=0)


def blobs(seed=0, sizes=(60, 40, 20)):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(c, 1.0, size=(n, 2)) for c, n in zip(CENTRES, sizes)])


def fit_recording(model, X):
    """Fit and return the warnings raised, every one of them (no de-duplication)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    return caught


def of_type(caught, category, text=""):
    return [w for w in caught if issubclass(w.category, category) and text in str(w.message)]


def assert_valid_fit(model, X):
    """Finite parameters, positive-definite covariances, labels in range, proba rows summing to 1."""
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


# ---------------------------------------------------------------- bad X


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[0.0, np.nan]] * 5), "5 NaN or infinite value.*nan_to_num"),
        (np.array([[np.inf, 1.0], [-np.inf, 1.0]] * 3), "6 NaN or infinite value"),
        (np.ones((5, 2, 2)), "2-D array.*reshape"),
        (np.ones((5, 0)), "no features"),
        (np.zeros((0, 2)), "0 point"),
        (np.ones((5, 2), dtype=complex), "must hold numbers"),
        (np.array([["a", "b"]] * 5), "must hold numbers"),
    ],
)
@pytest.mark.parametrize("method", ["em", "sinkhorn"])
def test_bad_points_are_refused_with_the_fix(X, message, method):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(1, method=method).fit(X)


def test_predicting_bad_points_is_refused():
    model = GaussianMixture(3, random_state=0, **FAST).fit(blobs())
    for call in (model.predict, model.predict_proba, model.score_samples, model.predict_plan):
        with pytest.raises(ValueError, match="NaN or infinite"):
            call(np.array([[0.0, np.nan]]))
        with pytest.raises(ValueError, match="3 feature.*fitted on 2"):
            call(np.zeros((4, 3)))


# ------------------------------------------------ few points, few distinct points

SETTINGS = [
    dict(method="em", weights="uniform"),
    dict(method="em", weights="em"),
    dict(method="sinkhorn", weights="uniform"),
    dict(method="sinkhorn", weights="em", init="random"),
    dict(method="sinkhorn", weights="uniform", warmup="sinkhorn_means", covariance_type="diag"),
]


@pytest.mark.parametrize("kwargs", SETTINGS)
@pytest.mark.parametrize(
    "X, n_components",
    [
        (np.array([[1.0, 2.0]]), 1),  # one point
        (blobs(), 1),  # one component
        (np.random.default_rng(0).normal(size=(5, 2)), 5),  # as many components as points
    ],
    ids=["one point", "K=1", "K=n"],
)
def test_tiny_problems_fit_without_warnings(X, n_components, kwargs):
    model = GaussianMixture(n_components, random_state=0, **kwargs, **FAST)
    caught = fit_recording(model, X)
    assert not of_type(caught, UserWarning), [str(w.message) for w in caught]
    assert_valid_fit(model, X)
    if X.shape[0] == n_components:
        # Every point is its own component.
        assert sorted(model.predict(X)) == list(range(n_components))


@pytest.mark.parametrize("method", ["em", "sinkhorn"])
def test_more_components_than_points_is_refused(method):
    with pytest.raises(ValueError, match="3 point.*at least 4 are needed.*fewer components"):
        GaussianMixture(4, method=method).fit(np.ones((3, 2)))


@pytest.mark.parametrize("kwargs", SETTINGS)
@pytest.mark.parametrize(
    "X, n_components, n_distinct",
    [
        (np.full((50, 2), 3.0), 3, 1),  # every point identical
        (np.repeat([[0.0], [1.0]], 25, axis=0), 4, 2),  # two distinct values, four components
    ],
    ids=["identical", "2 values K=4"],
)
def test_more_components_than_distinct_points_finishes_and_warns_once(X, n_components, n_distinct, kwargs):
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


def test_random_init_starts_on_distinct_values_of_integer_data():
    # 98 % of the pixels share one value: K random *indices* would mostly repeat it, and
    # components started on the same value stay identical for ever.
    X = np.zeros((1000, 1), dtype=np.uint8)
    X[:10], X[10:20] = 100, 200
    model = GaussianMixture(3, init="random", method="em", weights="em", random_state=0, **FAST)
    caught = fit_recording(model, X)
    assert not of_type(caught, UserWarning)
    np.testing.assert_allclose(np.sort(model.means_[:, 0]), [0.0, 100.0, 200.0], atol=1e-6)
    assert sorted(np.bincount(model.predict(X))) == [10, 10, 980]


@pytest.mark.parametrize("n_init", [1, 3])
def test_an_emptied_component_is_reseeded_and_reported_once(n_init):
    X = blobs()
    means_init = np.vstack([CENTRES, [[1e4, 1e4]]])  # no point is anywhere near the fourth
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


@pytest.mark.parametrize("size, fits", [(1e150, True), (1e155, False), (1e306, False)])
def test_values_too_large_for_float64_are_a_clear_error(size, fits):
    X = blobs() * size / 8
    model = GaussianMixture(3, method="em", random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning either
        if fits:
            assert_valid_fit(model.fit(X), X)
            return
        with pytest.raises(ValueError, match="values as large as .*too large.*Rescale the features"):
            model.fit(X)


def test_features_swamped_by_reg_covar_warn():
    X = blobs() * 1e-5
    model = GaussianMixture(3, random_state=0, **FAST)
    caught = fit_recording(model, X)
    swamped = of_type(caught, UserWarning, "reg_covar")
    assert len(swamped) == 1 and "Rescale the features" in str(swamped[0].message)
    assert_valid_fit(model, X)
    # Rescaled, the same data fit without the warning; a constant feature does not warn either.
    assert not of_type(fit_recording(GaussianMixture(3, random_state=0, **FAST), X * 1e5), UserWarning)
    constant = np.column_stack([blobs()[:, 0], np.full(120, 5.0)])
    assert not of_type(fit_recording(GaussianMixture(3, random_state=0, **FAST), constant), UserWarning)


def test_a_point_beyond_float_range_gets_uniform_confidence_not_nan():
    model = GaussianMixture(3, method="em", random_state=0, **FAST).fit(blobs())
    far = np.array([[1e200, 0.0]])
    labels, confidence = model.predict_with_confidence(far)
    np.testing.assert_allclose(confidence, 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(model.predict_proba(far), 1 / 3)
    assert 0 <= labels[0] < 3


# ---------------------------------------------------------------- epsilon


@pytest.mark.parametrize("epsilon", [0, 0.0, -1.0, -np.inf, np.inf, np.nan, True, "1", None])
def test_bad_epsilon_is_refused_everywhere(epsilon):
    message = r"epsilon must be a finite number > 0"
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, epsilon=epsilon).fit(blobs())
    with pytest.raises(ValueError, match=message):
        sinkhorn_responsibilities(np.zeros((4, 2)), [0.5, 0.5], epsilon=epsilon)
    # Changed after the fit, before labelling by the plan.
    model = GaussianMixture(2, random_state=0, **FAST).fit(blobs())
    model.epsilon = epsilon
    with pytest.raises(ValueError, match=message):
        model.predict_plan(blobs())
    with pytest.raises(ValueError, match=message):
        model.transport_potentials(blobs())


def check_plan(resp, weights, tol, caught):
    """Rows sum to 1; columns match the weights within tol, or one warning gives the error reached."""
    assert np.isfinite(resp).all() and ((resp >= 0) & (resp <= 1)).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    error = np.max(np.abs(resp.mean(axis=0) / weights - 1.0))
    unconverged = of_type(caught, SinkhornConvergenceWarning)
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


@pytest.mark.parametrize("epsilon", [1e-4, 1e4])
@pytest.mark.parametrize("weights", ["uniform", [0.5, 0.3, 0.2], "em"])
def test_extreme_epsilons_give_a_valid_fit(epsilon, weights):
    X = blobs()
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


# ---------------------------------------------------------------- weights

BAD_WEIGHTS = [
    ([0.5, 0.6, 0.1], "sum to 1.*Divide them by their sum"),
    ([0.2, 0.2, 0.2], "sum to 1"),
    ([0.5, 0.6, -0.1], "finite and > 0"),
    ([0.5, 0.5, 0.0], "finite and > 0"),
    ([0.5, 0.5, np.nan], "finite and > 0"),
    ([0.5, np.inf, 0.5], "finite and > 0"),
    ([0.5, 0.5], "3 fractions"),
    ([0.25] * 4, "3 fractions"),
    ([[0.5, 0.3, 0.2]], "3 fractions"),
    ("sizes", "weights must be one of 'uniform', 'em'"),
]


@pytest.mark.parametrize("weights, message", BAD_WEIGHTS)
def test_bad_weights_are_refused_everywhere(weights, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(3, weights=weights).fit(blobs())
    if isinstance(weights, str):
        return
    log_prob = np.zeros((5, 3))
    with pytest.raises(ValueError, match=message):
        em_responsibilities(log_prob, weights)
    with pytest.raises(ValueError, match=message):
        sinkhorn_responsibilities(log_prob, weights)


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


# ------------------------------------------------- one unconverged warning per fit


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(n_init=3), dict(warmup="sinkhorn_means", warmup_iter=3), dict(weights="em")],
)
def test_sinkhorn_max_iter_one_warns_exactly_once_per_fit(kwargs):
    X = blobs(sizes=(100, 100, 20))
    model = GaussianMixture(3, epsilon=1e-3, sinkhorn_max_iter=1, random_state=0, **kwargs, **FAST)
    caught = fit_recording(model, X)
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


# ---------------------------------------------------------------- array flavours


def flavours(base, tmp_path):
    """The same float64 values as every accepted kind of array."""
    memmap = np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="w+", shape=base.shape)
    memmap[:] = base
    memmap.flush()
    memmap32 = np.memmap(tmp_path / "X32.dat", dtype=np.float32, mode="w+", shape=base.shape)
    memmap32[:] = base
    wide = np.zeros((base.shape[0], 2 * base.shape[1]))
    wide[:, ::2] = base
    yield "float64", base
    for dtype in (np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float32, ">f8", ">f4", ">u2"):
        yield np.dtype(dtype).str, base.astype(dtype)
    yield "X[:, ::2]", wide[:, ::2]
    yield "Fortran order", np.asfortranarray(base)
    yield "memmap", np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="r", shape=base.shape)
    yield "float32 memmap", memmap32
    yield "list", base.tolist()


@pytest.mark.parametrize("method", ["em", "sinkhorn"])
def test_every_array_flavour_gives_the_float64_fit_bit_for_bit(method, tmp_path):
    # Integer values that every dtype above holds exactly.
    rng = np.random.default_rng(0)
    base = np.concatenate([rng.integers(0, 40, (150, 3)), rng.integers(120, 200, (150, 3))]).astype(np.float64)
    settings_ = dict(method=method, random_state=0, max_iter=4, tol=0)
    reference = GaussianMixture(2, **settings_).fit(base)
    reference_labels = reference.predict(base)
    for name, X in flavours(base, tmp_path):
        model = GaussianMixture(2, **settings_).fit(X)
        np.testing.assert_array_equal(model.means_, reference.means_, err_msg=name)
        np.testing.assert_array_equal(model.covariances_, reference.covariances_, err_msg=name)
        np.testing.assert_array_equal(model.predict(X), reference_labels, err_msg=name)
    # Booleans are their 0/1 values.
    bits = base > 100
    np.testing.assert_array_equal(
        GaussianMixture(2, **settings_).fit(bits).means_,
        GaussianMixture(2, **settings_).fit(bits.astype(float)).means_,
    )


def test_float64_input_is_not_modified():
    X = blobs()
    before = X.copy()
    GaussianMixture(3, random_state=0, **FAST).fit(X)
    np.testing.assert_array_equal(X, before)


# ---------------------------------------------------------------- properties


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


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["em", "sinkhorn"]))
def test_permuting_the_rows_permutes_the_labels(seed, method):
    X = blobs(seed % 1000)
    order = np.random.default_rng(seed).permutation(X.shape[0])
    means_init = CENTRES + np.random.default_rng(seed).normal(scale=0.5, size=CENTRES.shape)
    settings_ = dict(method=method, means_init=means_init, random_state=0, **FAST)
    model = GaussianMixture(3, **settings_).fit(X)
    shuffled = GaussianMixture(3, **settings_).fit(X[order])
    # Sums run in another order, so the parameters agree to round-off, the labels exactly.
    np.testing.assert_allclose(shuffled.means_, model.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(shuffled.predict(X[order]), model.predict(X)[order])
    # Labelling by a plan with given potentials is row-wise: exactly equivariant.
    potentials = model.transport_potentials(X)
    labels, confidence = model.predict_plan(X, potentials)
    permuted_labels, permuted_confidence = model.predict_plan(X[order], potentials)
    np.testing.assert_array_equal(permuted_labels, labels[order])
    np.testing.assert_array_equal(permuted_confidence, confidence[order])


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_default_inits_depend_on_row_order_but_find_the_same_partition(init):
    # k-means++ and random starts pick points by index, so permuting the rows is another
    # random start: the numbering (and, on ambiguous data, the result) may differ. On
    # well-separated clusters (of the sizes the default uniform weights ask for) the
    # partition is the same.
    X = blobs(sizes=(50, 50, 50))
    order = np.random.default_rng(3).permutation(X.shape[0])
    labels = GaussianMixture(3, init=init, n_init=3, random_state=0).fit_predict(X)
    shuffled = GaussianMixture(3, init=init, n_init=3, random_state=0).fit_predict(X[order])
    assert adjusted_rand_score(labels[order], shuffled) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(method="em", weights="em"),
        dict(method="sinkhorn", n_init=2, init="random"),
        dict(method="sinkhorn", weights=[0.5, 0.3, 0.2], warmup="sinkhorn_means", covariance_type="spherical"),
    ],
)
def test_same_inputs_and_random_state_are_bit_identical(kwargs):
    X = blobs(sizes=(300, 200, 100))
    first = GaussianMixture(3, random_state=11, **kwargs).fit(X)
    second = GaussianMixture(3, random_state=11, **kwargs).fit(X.copy())
    for name in ("means_", "covariances_", "weights_"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    for key in first.history_:
        np.testing.assert_array_equal(first.history_[key], second.history_[key], err_msg=key)
