"""A mixture's parameters during a fit: their shapes, Cholesky factors of the precisions, and the M-step."""

import numpy as np

from . import _kernels
from .._validation import check_weights

# A component whose share of the points falls below this is re-seeded.
EMPTY_COMPONENT_FRACTION = 1e-8


def parameter_shape(covariance_type, n_components, n_features):
    """The shape of ``covariances_`` (and ``precisions_``) for a covariance type, K and d.

    Parameters
    ----------
    covariance_type : {"full", "diag", "spherical"}
        The mixture's covariance type.
    n_components : int
        Number of components K.
    n_features : int
        Number of features d.

    Returns
    -------
    tuple of int
        ``(K, d, d)`` for ``"full"``, ``(K, d)`` for ``"diag"``, ``(K,)`` for ``"spherical"``.
    """
    return {
        "full": (n_components, n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def learns_weights(weights):
    """Whether the ``weights`` parameter asks for weights learned by the EM rule (``"em"``)."""
    return isinstance(weights, str) and weights == "em"


def fixed_weights(weights, n_components):
    """The fractions a fixed ``weights`` parameter stands for (1/K each for ``"uniform"``)."""
    if isinstance(weights, str):
        return np.full(n_components, 1.0 / n_components)
    return check_weights(weights, n_components)


def empty_components(mass, n_points):
    """Which components hold (almost) no points: they are re-seeded."""
    return mass <= max(EMPTY_COMPONENT_FRACTION * n_points, 10 * np.finfo(float).eps)


def normalised(mass):
    """Masses as fractions summing to 1, none of them zero."""
    mass = np.maximum(mass, np.finfo(float).tiny)
    return mass / mass.sum()


def compact_covariances(covariances, covariance_type):
    """Full (K, d, d) covariances in the shape of ``covariance_type`` (diagonals, or their means)."""
    if covariance_type == "full":
        return covariances
    diagonal = np.diagonal(covariances, axis1=1, axis2=2).copy()
    return diagonal if covariance_type == "diag" else diagonal.mean(axis=1)


class FitState:
    """Parameters during a fit; means relative to ``centre``, covariances as given by the type."""

    def __init__(self, centre, means, covariances, weights, potentials, covariance_type):
        self.centre = centre
        self.means = means
        self.covariances = covariances
        self.weights = weights
        self.potentials = potentials
        self.covariance_type = covariance_type
        # The fraction of the points in each component at the last E-step (None before one).
        self.column_masses = None

    @classmethod
    def from_fitted(cls, mixture, centre):
        """The state of a fitted mixture's parameters (``means_``, ``covariances_``, ...)."""
        return cls(
            centre=centre,
            means=mixture.means_ - centre,
            covariances=mixture.covariances_.copy(),
            weights=mixture.weights_.copy(),
            potentials=None if mixture.potentials_ is None else mixture.potentials_.copy(),
            covariance_type=mixture.covariance_type,
        )

    def full_covariances(self):
        """The covariances as (K, d, d) matrices, whatever the covariance type."""
        n_components, n_features = self.means.shape
        if self.covariance_type == "full":
            return self.covariances
        diagonal = self.covariances if self.covariance_type == "diag" else np.repeat(
            self.covariances[:, None], n_features, axis=1
        )
        full = np.zeros((n_components, n_features, n_features))
        full[:, np.arange(n_features), np.arange(n_features)] = diagonal
        return full

    def precision_cholesky(self):
        """Upper-triangular U per component (precision = U U^T) and sum(log diag U)."""
        covariances = self.full_covariances()
        if not (np.isfinite(covariances).all() and np.isfinite(self.means).all()):
            raise ValueError(
                "A component's mean or covariance is not a finite number: the values of X are too "
                "large (their squared differences overflow 64-bit floats). Rescale the features, "
                "e.g. divide X by its standard deviation."
            )
        prec_chol = np.empty_like(covariances)
        log_det, not_positive_definite = _kernels.precision_cholesky(
            np.ascontiguousarray(covariances, dtype=np.float64), prec_chol
        )
        if not_positive_definite >= 0:
            raise ValueError(_not_positive_definite_message(covariances[not_positive_definite]))
        return prec_chol, log_det

    def precisions_cholesky_compact(self):
        """The precisions' Cholesky factors in the shape of the covariance type."""
        prec_chol, _ = self.precision_cholesky()
        if self.covariance_type == "full":
            return prec_chol
        diagonal = np.diagonal(prec_chol, axis1=1, axis2=2).copy()
        return diagonal if self.covariance_type == "diag" else diagonal[:, 0]

    def precisions_compact(self):
        """The precisions (inverse covariances) in the shape of the covariance type."""
        prec_chol = self.precisions_cholesky_compact()
        if self.covariance_type == "full":
            return prec_chol @ np.transpose(prec_chol, (0, 2, 1))
        return prec_chol**2

    def set_precisions(self, precisions):
        """Set the covariances from precisions shaped as the covariance type's."""
        if self.covariance_type == "full":
            self.covariances = np.linalg.inv(precisions)
        else:
            self.covariances = 1.0 / precisions

    def update_from_moments(self, mass, first, second, reg_covar, X, rng, *, means_only=False):
        """M-step from the moments sum r, sum r x, sum r x x^T (centred data).

        With ``means_only`` the covariances are kept. Re-seeds every component whose
        mass vanished at a random data point with the average covariance of the
        others; returns how many were re-seeded.
        """
        n_points = X.shape[0]
        n_components, n_features = first.shape
        empty = empty_components(mass, n_points)
        safe_mass = np.where(empty, 1.0, mass)
        means = first / safe_mass[:, None]
        covariances = second / safe_mass[:, None, None] - means[:, :, None] * means[:, None, :]
        covariances[:, np.arange(n_features), np.arange(n_features)] += reg_covar
        if empty.any():
            kept = ~empty
            fallback = (
                covariances[kept].mean(axis=0) if kept.any()
                else np.cov(X, rowvar=False).reshape(n_features, n_features)
                + reg_covar * np.eye(n_features)
            )
            for k in np.flatnonzero(empty):
                means[k] = X[rng.integers(n_points)] - self.centre
                covariances[k] = fallback
        self.means = means
        if not means_only:
            self.covariances = compact_covariances(covariances, self.covariance_type)
        return int(empty.sum())


# A component whose values spread more than this (standard deviation, in feature units) in some
# direction holds values far beyond the rest: standardised features spread about 1.
FAR_SPREAD = 1e3


def _not_positive_definite_message(covariance):
    """Why a covariance lost its positive definiteness, in a sentence a user can act on."""
    widest = float(np.sqrt(max(np.linalg.eigvalsh(covariance)[-1], 0.0)))
    if widest > FAR_SPREAD:
        return (
            f"A component's covariance is not positive definite: its values spread {widest:.3g} in one "
            f"direction and almost nothing in another, beyond what 64-bit floats resolve. This usually "
            f"means a few values far beyond all others, such as hot or dead pixels (clip the image, e.g. "
            f"numpy.clip(image, None, numpy.percentile(image, 99.99)), or mask them), or features in "
            f"very different units (rescale them); otherwise increase reg_covar (e.g. to 1e-3)."
        )
    return (
        "A component's covariance is not positive definite: the data have too few distinct values in "
        "some direction. Increase reg_covar (e.g. to 1e-3) or use fewer components."
    )
