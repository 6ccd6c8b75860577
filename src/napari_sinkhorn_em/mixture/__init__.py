"""Gaussian mixtures fitted by EM and by Sinkhorn-EM (numpy, scipy and numba only).

- ``estimator``: :class:`GaussianMixture` and its fit loop (starts, phases, iterations).
- ``checks``: the parameters' valid values, and the checks of parameters and points.
- ``initialisation``: k-means++ seeds, Lloyd's iterations, random starts, the starting state.
- ``parameters``: the parameters during a fit (:func:`parameter_shape`, Cholesky factors, M-step).
- ``sinkhorn_step``: Sinkhorn-EM's E-step inside a fit; ``estep``: the E-steps on log-density arrays.
- ``fit_report``: what went wrong in a fit, warned about once; ``prediction``: what a fitted mixture predicts.
- ``_kernels``: the numba passes over the points.
"""

from .checks import COVARIANCE_TYPES, HOT_PIXEL_FRACTION, MIXTURE_METHOD_NAMES, MIXTURE_METHODS, WARMUPS
from .estep import (
    CONTINUATION_EPSILONS,
    CONTINUATION_TOL,
    SOLVERS,
    SinkhornConvergenceWarning,
    em_responsibilities,
    sinkhorn_responsibilities,
    solve_sinkhorn,
)
from .estimator import (
    HOPELESS_MASS_ERROR,
    HOPELESS_SINKHORN_PASSES,
    WARMUP_SINKHORN_TOL,
    ConvergenceWarning,
    FitStep,
    GaussianMixture,
)
from .initialisation import INITS
from .parameters import parameter_shape

__all__ = [
    "CONTINUATION_EPSILONS",
    "CONTINUATION_TOL",
    "COVARIANCE_TYPES",
    "ConvergenceWarning",
    "FitStep",
    "GaussianMixture",
    "HOPELESS_MASS_ERROR",
    "HOPELESS_SINKHORN_PASSES",
    "HOT_PIXEL_FRACTION",
    "INITS",
    "MIXTURE_METHODS",
    "MIXTURE_METHOD_NAMES",
    "SOLVERS",
    "SinkhornConvergenceWarning",
    "WARMUPS",
    "WARMUP_SINKHORN_TOL",
    "em_responsibilities",
    "parameter_shape",
    "sinkhorn_responsibilities",
    "solve_sinkhorn",
]
