"""Gaussian mixtures fitted by EM and by Sinkhorn-EM (numpy, scipy and numba only).

- ``estimator``: :class:`GaussianMixture` and its fit loop (starts, phases, iterations).
- ``checks``: the parameters' valid values, and the checks of parameters and points.
- ``initialisation``: k-means++ seeds, Lloyd's iterations, random starts, the starting state.
- ``parameters``: the parameters during a fit (:func:`parameter_shape`, Cholesky factors, M-step).
- ``sinkhorn_step``: Sinkhorn-EM's E-step inside a fit; ``estep``: the E-steps on log-density arrays.
- ``fit_report``: what went wrong in a fit, warned about once; ``prediction``: what a fitted mixture predicts.
- ``_kernels``: the numba passes over the points.
"""

from .checks import (
    COVARIANCE_TYPES,
    HOT_PIXEL_FRACTION,
    MIXTURE_METHOD_NAMES,
    MIXTURE_METHODS,
    REG_COVAR_SPAN_RATIO,
    ROUND_OFF_SPAN_RATIO,
    WARMUPS,
)
from .estimator import (
    HISTORY_KEYS,
    WARMUP_SINKHORN_TOL,
    ConvergenceWarning,
    FitStep,
    GaussianMixture,
)
from .fit_report import MERGED_MEAN_DISTANCE
from .initialisation import INITS, KMEANS_INIT_ITER, KMEANSPP_MAX_POINTS
from .parameters import EMPTY_COMPONENT_FRACTION, parameter_shape
from .prediction import PREDICT_BLOCK_ROWS
from .sinkhorn_step import SMOOTH_POTENTIAL_CHANGE
from .estep import (
    SOLVERS,
    INITIAL_TRUST_RADIUS,
    DUAL_ROUND_OFF,
    TRUST_GROWTH,
    GOOD_AGREEMENT,
    POOR_AGREEMENT,
    MIN_TRUST_RADIUS,
    ARMIJO,
    HESSIAN_RIDGE,
    TINY_MASS,
    CONTINUATION_EPSILONS,
    CONTINUATION_TOL,
    LIKELY_LAST_MASS_ERROR,
    SinkhornConvergenceWarning,
    DualState,
    SinkhornResult,
    em_responsibilities,
    check_size_prior_strength,
    sinkhorn_responsibilities,
    warn_unconverged,
    solve_sinkhorn,
    plan_state,
)

__all__ = [
    "parameter_shape",
    "ARMIJO",
    "CONTINUATION_EPSILONS",
    "CONTINUATION_TOL",
    "COVARIANCE_TYPES",
    "ConvergenceWarning",
    "DUAL_ROUND_OFF",
    "DualState",
    "EMPTY_COMPONENT_FRACTION",
    "FitStep",
    "GOOD_AGREEMENT",
    "GaussianMixture",
    "HESSIAN_RIDGE",
    "HISTORY_KEYS",
    "HOT_PIXEL_FRACTION",
    "INITIAL_TRUST_RADIUS",
    "INITS",
    "KMEANSPP_MAX_POINTS",
    "KMEANS_INIT_ITER",
    "LIKELY_LAST_MASS_ERROR",
    "MERGED_MEAN_DISTANCE",
    "MIXTURE_METHODS",
    "MIXTURE_METHOD_NAMES",
    "MIN_TRUST_RADIUS",
    "POOR_AGREEMENT",
    "PREDICT_BLOCK_ROWS",
    "REG_COVAR_SPAN_RATIO",
    "ROUND_OFF_SPAN_RATIO",
    "SMOOTH_POTENTIAL_CHANGE",
    "SOLVERS",
    "SinkhornConvergenceWarning",
    "SinkhornResult",
    "TINY_MASS",
    "TRUST_GROWTH",
    "WARMUPS",
    "WARMUP_SINKHORN_TOL",
    "check_size_prior_strength",
    "em_responsibilities",
    "plan_state",
    "sinkhorn_responsibilities",
    "solve_sinkhorn",
    "warn_unconverged",
]
