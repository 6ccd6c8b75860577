"""Input to GaussianMixture and the E-steps: bad input is a ValueError that names the problem and the fix;
any kind of array of good values gives the float64 fit."""

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em import GaussianMixture, em_responsibilities, sinkhorn_responsibilities

FAST = dict(max_iter=10, tol=0)


@pytest.mark.parametrize(
    "kwargs, X, message",
    [
        (dict(n_components=0), None, "n_components"),
        (dict(n_components=700), None, "at least 700"),
        (dict(epsilon=0), None, "epsilon"),
        (dict(epsilon=float("inf")), None, "epsilon"),
        (dict(weights=[0.5, 0.6, -0.1]), None, "> 0"),
        (dict(weights=[0.5, 0.5]), None, "3 fractions"),
        (dict(weights=[0.2, 0.2, 0.2]), None, "sum to 1"),
        (dict(weights="sizes"), None, "weights"),
        (dict(method="kmeans"), None, "method"),
        (dict(covariance_type="tied"), None, "covariance_type"),
        (dict(means_init=np.zeros((2, 2))), None, "means_init"),
        ({}, np.zeros(10), "2-D"),
        ({}, np.full((10, 2), np.nan), "NaN"),
        ({}, np.array([[0.0, np.inf]] * 10), "infinite"),
    ],
)
def test_bad_input_is_a_clear_value_error(kwargs, X, message, separated_blobs):
    arguments = dict(n_components=3) | kwargs
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**arguments).fit(separated_blobs() if X is None else X)


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


@pytest.mark.parametrize("method", ["em", "sinkhorn"])
def test_more_components_than_points_is_refused(method):
    with pytest.raises(ValueError, match="3 point.*at least 4 are needed.*fewer components"):
        GaussianMixture(4, method=method).fit(np.ones((3, 2)))


@pytest.mark.parametrize("size, fits", [(1e150, True), (1e155, False), (1e306, False)])
def test_values_too_large_for_float64_are_a_clear_error(size, fits, separated_blobs, assert_valid_fit):
    X = separated_blobs() * size / 8
    model = GaussianMixture(3, method="em", random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning either
        if fits:
            assert_valid_fit(model.fit(X), X)
            return
        with pytest.raises(ValueError, match="values as large as .*too large.*Rescale the features"):
            model.fit(X)


@pytest.mark.parametrize("epsilon", [0, 0.0, -1.0, -np.inf, np.inf, np.nan, True, "1", None])
def test_bad_epsilon_is_refused_everywhere(epsilon, separated_blobs):
    message = r"epsilon must be a finite number > 0"
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, epsilon=epsilon).fit(separated_blobs())
    with pytest.raises(ValueError, match=message):
        sinkhorn_responsibilities(np.zeros((4, 2)), [0.5, 0.5], epsilon=epsilon)
    # Changed after the fit, before labelling by the plan.
    model = GaussianMixture(2, random_state=0, **FAST).fit(separated_blobs())
    model.epsilon = epsilon
    with pytest.raises(ValueError, match=message):
        model.predict_plan(separated_blobs())
    with pytest.raises(ValueError, match=message):
        model.transport_potentials(separated_blobs())


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
def test_bad_weights_are_refused_everywhere(weights, message, separated_blobs):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(3, weights=weights).fit(separated_blobs())
    if isinstance(weights, str):
        return
    log_prob = np.zeros((5, 3))
    with pytest.raises(ValueError, match=message):
        em_responsibilities(log_prob, weights)
    with pytest.raises(ValueError, match=message):
        sinkhorn_responsibilities(log_prob, weights)


@pytest.mark.parametrize("method", ["em", "sinkhorn"])
def test_every_array_flavour_gives_the_float64_fit_bit_for_bit(method, array_flavours):
    # Integer values that every dtype of array_flavours holds exactly.
    rng = np.random.default_rng(0)
    base = np.concatenate([rng.integers(0, 40, (150, 3)), rng.integers(120, 200, (150, 3))]).astype(np.float64)
    settings_ = dict(method=method, random_state=0, max_iter=4, tol=0)
    reference = GaussianMixture(2, **settings_).fit(base)
    reference_labels = reference.predict(base)
    float32_kinds = (("float32 " + name, X) for name, X in array_flavours(base.astype(np.float32), dtypes=()))
    for name, X in [("float64", base), *array_flavours(base), *float32_kinds]:
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

def test_float64_input_is_not_modified(separated_blobs):
    X = separated_blobs()
    before = X.copy()
    GaussianMixture(3, random_state=0, **FAST).fit(X)
    np.testing.assert_array_equal(X, before)
