"""What a GaussianMixture accepts: its parameters' values, and points that fit 64-bit floats and memory."""

import warnings

import numpy as np

from .._validation import (
    check_choice,
    check_epsilon,
    check_fits_in_memory,
    check_positive_float,
    check_positive_int,
    check_weights,
)
from .estep import SOLVERS, check_size_prior_strength
from .initialisation import INITS, KMEANSPP_MAX_POINTS
from .parameters import learns_weights, parameter_shape

MIXTURE_METHODS = ("sinkhorn", "em")
# How each method is named in messages, progress reports and layer names.
MIXTURE_METHOD_NAMES = {"em": "EM", "sinkhorn": "Sinkhorn-EM"}
COVARIANCE_TYPES = ("full", "diag", "spherical")
WARMUPS = (None, "sinkhorn_means")
# A feature spanning less than this many sqrt(reg_covar) is swamped by reg_covar (a warning).
REG_COVAR_SPAN_RATIO = 10.0
# ...unless it spans less than this fraction of it: then the feature is constant up to round-off.
ROUND_OFF_SPAN_RATIO = 1e-6
#: At most this fraction of the points (or one point) are taken for hot or dead pixels, refused by the
#: mixture when they swamp the others' spread and left out of a Segmenter's fit when far from the rest.
HOT_PIXEL_FRACTION = 1e-4


def check_parameters(mixture, n_features):
    """Refuse a GaussianMixture's parameters that are out of range, for points of ``n_features``."""
    check_positive_int(mixture.n_components, "n_components")
    check_choice(mixture.method, "method", MIXTURE_METHODS)
    check_epsilon(mixture.epsilon)
    check_choice(mixture.covariance_type, "covariance_type", COVARIANCE_TYPES)
    check_positive_int(mixture.max_iter, "max_iter", minimum=0)
    check_positive_float(mixture.tol, "tol", allow_zero=True)
    check_positive_int(mixture.n_init, "n_init")
    check_choice(mixture.init, "init", INITS)
    check_positive_float(mixture.reg_covar, "reg_covar", allow_zero=True)
    check_positive_float(mixture.sinkhorn_tol, "sinkhorn_tol")
    check_positive_int(mixture.sinkhorn_max_iter, "sinkhorn_max_iter")
    check_choice(mixture.sinkhorn_solver, "sinkhorn_solver", SOLVERS)
    if check_size_prior_strength(mixture.size_prior_strength) is not None and learns_weights(mixture.weights):
        raise ValueError(
            "size_prior_strength needs fixed weights (\"uniform\" or fractions) to pull the "
            "class sizes towards; with weights=\"em\" the sizes are learned and there is no "
            "prior. Give the expected fractions as weights, or leave size_prior_strength=None."
        )
    check_choice(mixture.warmup, "warmup", WARMUPS)
    check_positive_int(mixture.warmup_iter, "warmup_iter", minimum=0)
    if isinstance(mixture.weights, str):
        check_choice(mixture.weights, "weights", ("uniform", "em"))
    else:
        check_weights(mixture.weights, mixture.n_components)
    _check_starting_parameters(mixture, n_features)


def _check_starting_parameters(mixture, n_features):
    if mixture.means_init is not None:
        means = np.asarray(mixture.means_init, dtype=np.float64)
        if means.shape != (mixture.n_components, n_features) or not np.isfinite(means).all():
            raise ValueError(
                f"means_init must be {mixture.n_components} rows of {n_features} finite "
                f"numbers (one mean per component); got shape {means.shape}."
            )
    if mixture.precisions_init is not None:
        expected = parameter_shape(mixture.covariance_type, mixture.n_components, n_features)
        precisions = np.asarray(mixture.precisions_init, dtype=np.float64)
        if precisions.shape != expected or not np.isfinite(precisions).all():
            raise ValueError(
                f"precisions_init for covariance_type={mixture.covariance_type!r} must have "
                f"shape {expected} with finite values; got shape {precisions.shape}."
            )


def check_warm_start(mixture, n_features):
    """Whether a fit continues from the mixture's previous one; refuses a previous fit of another shape."""
    continuing = mixture.warm_start and hasattr(mixture, "means_")
    if continuing and mixture.means_.shape != (mixture.n_components, n_features):
        raise ValueError(
            f"warm_start needs the same number of components and features as the previous "
            f"fit ({mixture.means_.shape}); got {(mixture.n_components, n_features)}."
        )
    return continuing


def check_fit_memory(mixture, n_points, n_features):
    """Refuse a fit whose working memory (``mixture.fit_memory_bytes``) would not fit in this machine's."""
    check_fits_in_memory(
        mixture.fit_memory_bytes(n_points, n_features),
        f"Fitting {mixture.n_components} components (classes) to {n_points:,} points by "
        f"{MIXTURE_METHOD_NAMES[mixture.method]}",
        "Use fewer components, or fit on fewer points (a smaller sample, e.g. sample_size).",
    )


def check_value_range(X, reg_covar):
    """Refuse values whose squares overflow; warn when a feature spans so little that
    ``reg_covar`` swamps it (at the caller of ``fit``)."""
    largest, smallest = X.max(axis=0).astype(np.float64), X.min(axis=0).astype(np.float64)
    # Sums of n * d squared values must stay finite in float64.
    limit = 0.5 * np.sqrt(np.finfo(np.float64).max / X.size)
    magnitude = np.maximum(np.abs(largest), np.abs(smallest))
    if (magnitude > limit).any():
        feature = int(np.argmax(magnitude))
        raise ValueError(
            f"Feature {feature} of X has values as large as {magnitude[feature]:.3g}: too large "
            f"for 64-bit floats once squared (at most {limit:.3g} for {X.shape[0]} points). "
            f"Rescale the features, e.g. divide X by its standard deviation."
        )
    check_outliers(X)
    if reg_covar == 0:
        return
    span = largest - smallest
    smallest_spread = np.sqrt(reg_covar)
    # A span far below reg_covar's is a constant feature up to round-off (e.g. a z-derivative of a
    # single-slice stack): it carries nothing to separate, so it is not worth a warning.
    swamped = np.flatnonzero(
        (span > ROUND_OFF_SPAN_RATIO * smallest_spread) & (span < REG_COVAR_SPAN_RATIO * smallest_spread)
    )
    if swamped.size:
        feature = int(swamped[np.argmin(span[swamped])])
        warnings.warn(
            f"Feature {feature} of X spans only {span[feature]:.2g}, less than "
            f"{REG_COVAR_SPAN_RATIO:g} times sqrt(reg_covar) = {smallest_spread:.2g}, the smallest "
            f"standard deviation a component can have (reg_covar={reg_covar:g} is added to "
            f"every variance), so the fit cannot separate classes along it. Rescale the features "
            f"(e.g. to unit standard deviation) or lower reg_covar.",
            UserWarning,
            stacklevel=4,
        )


def check_outliers(X):
    """Refuse values so far from the rest that 64-bit arithmetic loses the spread of the others.

    A component's covariance is a difference of second moments; a value more than
    ``1 / sqrt(machine epsilon)`` (about 7e7) interquartile ranges from its feature's
    median swamps the others' spread in it (e.g. a hot pixel at 1e30).
    """
    sample = X[:: max(1, X.shape[0] // KMEANSPP_MAX_POINTS)].astype(np.float64)
    lower, median, upper = np.quantile(sample, [0.25, 0.5, 0.75], axis=0)
    spread = upper - lower
    distance = np.maximum(X.max(axis=0) - median, median - X.min(axis=0))
    limit = spread / np.sqrt(np.finfo(np.float64).eps)
    for feature in np.flatnonzero((spread > 0) & (distance > limit)):
        n_far = int(np.count_nonzero(np.abs(X[:, feature] - median[feature]) > limit[feature]))
        # Many such values are a feature that is constant up to round-off elsewhere, not hot pixels.
        if n_far > max(1, HOT_PIXEL_FRACTION * X.shape[0]):
            continue
        raise ValueError(
            f"Feature {feature} of X has {n_far} value(s) as far as {distance[feature]:.3g} from its "
            f"median, {distance[feature] / spread[feature]:.2g} times the spread of the other values "
            f"(their interquartile range, {spread[feature]:.3g}): in 64-bit arithmetic they swamp the "
            f"others, and the fit would give them a class of their own. These are usually hot or dead "
            f"pixels: clip the image to a high percentile (e.g. numpy.clip(image, None, "
            f"numpy.percentile(image, 99.99))) or leave them out with a mask."
        )
