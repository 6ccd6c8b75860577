"""Gaussian mixture fitted by EM or by Sinkhorn-EM, with a scikit-learn-shaped API."""

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.special

from ..mixture import _kernels
from .._validation import (
    check_choice,
    check_epsilon,
    check_fits_in_memory,
    check_points,
    check_positive_float,
    check_positive_int,
    check_random_state,
    check_weights,
)
from ..mixture.estep import (
    SOLVERS, SinkhornResult, check_size_prior_strength, plan_state, solve_sinkhorn,
    warn_unconverged,
)

MIXTURE_METHODS = ("sinkhorn", "em")
# How each method is named in messages, progress reports and layer names.
MIXTURE_METHOD_NAMES = {"em": "EM", "sinkhorn": "Sinkhorn-EM"}
COVARIANCE_TYPES = ("full", "diag", "spherical")
INITS = ("kmeans++", "kmeans", "random")
# Lloyd iterations of init="kmeans" after its k-means++ seeds, at most.
KMEANS_INIT_ITER = 100
WARMUPS = (None, "sinkhorn_means")
# A component whose share of the points falls below this is re-seeded.
EMPTY_COMPONENT_FRACTION = 1e-8
# Rows per block when labelling many points, so memory stays O(block * K).
PREDICT_BLOCK_ROWS = 1 << 18
# Points used to choose k-means++ seeds: plenty to spread K seeds, cheap for any N.
KMEANSPP_MAX_POINTS = 100_000
# A feature spanning less than this many sqrt(reg_covar) is swamped by reg_covar (a warning).
REG_COVAR_SPAN_RATIO = 10.0
# ...unless it spans less than this fraction of it: then the feature is constant up to round-off.
ROUND_OFF_SPAN_RATIO = 1e-6
# At most this fraction of the points may be refused as hot pixels (values that swamp the others' spread).
HOT_PIXEL_FRACTION = 1e-4
# Components whose means are closer than this many standard deviations have merged into one.
MERGED_MEAN_DISTANCE = 0.01
# Sinkhorn-EM's potentials are extrapolated from the last two E-steps only while they moved by less
# than this many epsilon in the last iteration (late in a fit); far from convergence they jump.
SMOOTH_POTENTIAL_CHANGE = 0.1
# The Sinkhorn start's warm-up only spreads the means with the class sizes held for EM to take
# over; its E-steps stop once every class is within this relative error of its size.
WARMUP_SINKHORN_TOL = 1e-3
_NO_POINTS = np.empty((1, 0))


class ConvergenceWarning(UserWarning):
    """The fit stopped at ``max_iter`` before the objective changed by less than ``tol``."""


@dataclass(frozen=True)
class FitStep:
    """Progress of a fit after one iteration, as yielded by :meth:`GaussianMixture.fit_steps`."""

    phase: str
    start: int
    n_starts: int
    iteration: int
    max_iter: int
    log_likelihood: float
    ot_objective: float


class GaussianMixture:
    """Gaussian mixture fitted by EM or by Sinkhorn-EM.

    Both methods share the M-step (weighted means and covariances). EM's E-step
    is the posterior ``softmax_k(log N(x_i; mu_k, Sigma_k) + log w_k)``; Sinkhorn-EM's
    E-step is the entropic optimal-transport plan that gives component k exactly
    the fraction ``w_k`` of the points (see :func:`sinkhorn_responsibilities`).

    Parameters
    ----------
    n_components : int
        Number of Gaussian components K.
    method : {"sinkhorn", "em"}, default="sinkhorn"
        The E-step: Sinkhorn-EM's transport plan, or EM's posterior.
    epsilon : float, default=1.0
        Entropic regularisation of the Sinkhorn E-step (ignored by EM). At 1 the
        plan has the posterior's softness; smaller values give harder assignments.
    weights : {"uniform", "em"} or array-like of shape (n_components,), default="uniform"
        The mixing weights. ``"uniform"`` fixes them at 1/K; an array fixes them at
        the given fractions (positive, sum 1); ``"em"`` learns them by the EM rule
        (the mean of the ordinary posterior) every iteration. Sinkhorn-EM uses the
        weights as the fixed column masses of its plan; with ``"em"`` they are
        re-estimated first, and at ``epsilon=1`` Sinkhorn-EM then equals EM.
        Fixed fractions go to the starting clusters by size (the largest fraction
        to the component whose starting cluster holds the most points), unless
        ``means_init`` is given: then ``weights[k]`` belongs to ``means_init[k]``.
    covariance_type : {"full", "diag", "spherical"}, default="full"
        Shape of each component's covariance.
    max_iter : int, default=100
        Largest number of EM / Sinkhorn-EM iterations. With ``tol=0`` exactly this many run.
    tol : float, default=1e-4
        Stop when the per-point objective (log-likelihood for EM, transport objective
        for Sinkhorn-EM) changes by less than this between iterations.
    n_init : int, default=1
        Number of starts; the best final objective is kept.
    init : {"kmeans++", "kmeans", "random"}, default="kmeans++"
        How starting means are chosen: k-means++ seeding, k-means++ seeding followed by
        k-means (Lloyd's iterations, as scikit-learn's default), or K distinct random points.
        Starting covariances and weights come from assigning each point to its nearest mean.
    means_init : array-like of shape (n_components, n_features), optional
        Starting means (overrides ``init``).
    precisions_init : array-like, optional
        Starting precisions (inverse covariances), shaped as ``precisions_``.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping it positive definite.
    sinkhorn_tol : float, default=1e-6
        Largest relative error of the plan's column masses (in the ``"sinkhorn_means"``
        warm-up at most ``WARMUP_SINKHORN_TOL``, 1e-3: it only spreads the means).
    sinkhorn_max_iter : int, default=1000
        Largest number of passes over the points per Sinkhorn E-step.
    sinkhorn_solver : {"newton", "sweeps"}, default="newton"
        Damped Newton on the K dual potentials, or plain Sinkhorn sweeps. With a
        finite ``size_prior_strength`` the main fit's plans use scaling sweeps.
    size_prior_strength : float or None, default=None
        How strongly Sinkhorn-EM holds the class sizes at ``weights``: the strength
        tau (> 0, per point, in the units of the per-point objective, i.e. nats) of
        the penalty ``tau * KL(m || weights)`` on the plan's column masses m, whose
        entropy is then taken relative to ``(1/n) x weights``. ``None`` (or ``inf``)
        holds the sizes exactly, as before; ``tau -> inf`` approaches that, and
        ``tau -> 0`` lets the sizes follow the data: at ``epsilon=1`` the E-step is
        then EM's posterior with the fixed ``weights``. Used by the main phase of
        ``method="sinkhorn"`` (not by EM, nor by the warm-up, whose sizes stay hard)
        and by :meth:`transport_potentials` and :meth:`predict_plan`. Needs fixed
        weights (not ``"em"``). ``weights_`` stays ``weights``; the class sizes the
        fit ended with are ``column_masses_``.
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the starts and of re-seeding.
    warm_start : bool, default=False
        Continue from the previous fit (means, covariances, weights and the Sinkhorn
        dual potentials) instead of starting anew; ``n_init`` and ``warmup`` are then
        ignored. Changing ``epsilon`` and refitting is then cheap.
    warmup : {None, "sinkhorn_means"}, default=None
        ``"sinkhorn_means"`` runs up to ``warmup_iter`` Sinkhorn-EM iterations that move
        only the means before the main fit, with every component's covariance held at
        its starting value (``precisions_init``, or one covariance pooled over the
        starting assignment) and the class sizes held at the fixed weights (uniform
        when ``weights="em"``). This is where Sinkhorn-EM's advantage over EM lives;
        the main fit (``method``) then moves everything from there.
    warmup_iter : int, default=100
        Largest number of warm-up iterations.

    Attributes
    ----------
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (K, d, d) for "full", (K, d) for "diag", (K,) for "spherical".
    precisions_ : ndarray
        Inverse covariances, shaped as ``covariances_``.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions, shaped as ``covariances_``.
    weights_ : ndarray of shape (n_components,)
        The mixing weights in use at the end of the fit (with a size prior: the
        prior's weights).
    column_masses_ : ndarray of shape (n_components,)
        The fraction of the points in each component in the last E-step: the plan's
        column masses for Sinkhorn-EM (``weights_`` with hard sizes, between the
        posterior's and ``weights_`` with a size prior), the posterior's for EM.
    potentials_ : ndarray of shape (n_components,) or None
        Dual potentials g of the last Sinkhorn E-step (None for EM).
    converged_ : bool
    n_iter_ : int
    history_ : dict of lists
        Per iteration: ``log_likelihood`` (mean per point, with ``weights_``),
        ``ot_objective`` (Sinkhorn-EM's transport objective, NaN for EM; with a
        size prior the semi-relaxed one, entropy relative to ``(1/n) x weights``
        plus the prior's penalty, which at ``epsilon=1`` and a vanishing strength
        is minus the log-likelihood),
        ``sinkhorn_passes`` (0 for EM), ``mass_error`` (largest relative column-mass
        error of the plan, NaN for EM), ``n_reseeded`` (components re-seeded) and
        ``phase`` ("warmup" or "main").
    n_features_in_ : int
    """

    def __init__(
        self,
        n_components,
        *,
        method="sinkhorn",
        epsilon=1.0,
        weights="uniform",
        covariance_type="full",
        max_iter=100,
        tol=1e-4,
        n_init=1,
        init="kmeans++",
        means_init=None,
        precisions_init=None,
        reg_covar=1e-6,
        sinkhorn_tol=1e-6,
        sinkhorn_max_iter=1000,
        sinkhorn_solver="newton",
        size_prior_strength=None,
        random_state=None,
        warm_start=False,
        warmup=None,
        warmup_iter=100,
    ):
        self.n_components = n_components
        self.method = method
        self.epsilon = epsilon
        self.weights = weights
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.reg_covar = reg_covar
        self.sinkhorn_tol = sinkhorn_tol
        self.sinkhorn_max_iter = sinkhorn_max_iter
        self.sinkhorn_solver = sinkhorn_solver
        self.size_prior_strength = size_prior_strength
        self.random_state = random_state
        self.warm_start = warm_start
        self.warmup = warmup
        self.warmup_iter = warmup_iter

    def __repr__(self):
        return (
            f"GaussianMixture(n_components={self.n_components!r}, method={self.method!r}, "
            f"epsilon={self.epsilon!r}, weights={self.weights!r}, "
            f"covariance_type={self.covariance_type!r}"
            + ("" if self.size_prior_strength is None
               else f", size_prior_strength={self.size_prior_strength!r}")
            + ")"
        )

    # ------------------------------------------------------------------ checks
    def _check_parameters(self, n_features):
        check_positive_int(self.n_components, "n_components")
        check_choice(self.method, "method", MIXTURE_METHODS)
        check_epsilon(self.epsilon)
        check_choice(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        check_positive_int(self.max_iter, "max_iter", minimum=0)
        check_positive_float(self.tol, "tol", allow_zero=True)
        check_positive_int(self.n_init, "n_init")
        check_choice(self.init, "init", INITS)
        check_positive_float(self.reg_covar, "reg_covar", allow_zero=True)
        check_positive_float(self.sinkhorn_tol, "sinkhorn_tol")
        check_positive_int(self.sinkhorn_max_iter, "sinkhorn_max_iter")
        check_choice(self.sinkhorn_solver, "sinkhorn_solver", SOLVERS)
        if check_size_prior_strength(self.size_prior_strength) is not None and self._learns_weights():
            raise ValueError(
                "size_prior_strength needs fixed weights (\"uniform\" or fractions) to pull the "
                "class sizes towards; with weights=\"em\" the sizes are learned and there is no "
                "prior. Give the expected fractions as weights, or leave size_prior_strength=None."
            )
        check_choice(self.warmup, "warmup", WARMUPS)
        check_positive_int(self.warmup_iter, "warmup_iter", minimum=0)
        if isinstance(self.weights, str):
            check_choice(self.weights, "weights", ("uniform", "em"))
        else:
            check_weights(self.weights, self.n_components)
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
            if means.shape != (self.n_components, n_features) or not np.isfinite(means).all():
                raise ValueError(
                    f"means_init must be {self.n_components} rows of {n_features} finite "
                    f"numbers (one mean per component); got shape {means.shape}."
                )
        if self.precisions_init is not None:
            expected = parameter_shape(self.covariance_type, self.n_components, n_features)
            precisions = np.asarray(self.precisions_init, dtype=np.float64)
            if precisions.shape != expected or not np.isfinite(precisions).all():
                raise ValueError(
                    f"precisions_init for covariance_type={self.covariance_type!r} must have "
                    f"shape {expected} with finite values; got shape {precisions.shape}."
                )

    def _learns_weights(self):
        return isinstance(self.weights, str) and self.weights == "em"

    def _fixed_weights(self):
        if isinstance(self.weights, str):
            return np.full(self.n_components, 1.0 / self.n_components)
        return check_weights(self.weights, self.n_components)

    # --------------------------------------------------------------- fitting
    def fit(self, X, y=None):
        """Fit the mixture to the points ``X`` (n_points, n_features). Returns self.

        ``X`` may have any numeric dtype, memory layout or byte order (it is read as
        float64, float32 as is); it must be finite. Every warning below is issued at
        most once per fit, however many starts and iterations ran.

        Raises
        ------
        ValueError
            For NaN or infinite values, values too large to square in float64, fewer
            points than components, or invalid parameters.

        Warns
        -----
        UserWarning
            When X has fewer distinct points than components (some stay identical),
            when a component lost all its points and was re-seeded (counted in
            ``history_["n_reseeded"]``), or when a feature spans less than
            ``10 * sqrt(reg_covar)``.
        SinkhornConvergenceWarning
            When Sinkhorn E-steps stopped at ``sinkhorn_max_iter`` before reaching
            ``sinkhorn_tol``: how many, and the largest column-mass error.
        ConvergenceWarning
            When the fit stopped at ``max_iter`` before the objective settled.
        """
        for _ in self.fit_steps(X):
            pass
        return self

    def fit_predict(self, X, y=None):
        """Fit, then return the component index of each point."""
        return self.fit(X).predict(X)

    def fit_steps(self, X):
        """Fit like :meth:`fit`, yielding a :class:`FitStep` after every iteration.

        The estimator is fitted once the generator is exhausted; closing it early
        (``generator.close()``) abandons the fit and leaves any previous fit intact.
        This is how a user interface shows progress and cancels a fit.
        """
        X = check_points(X, min_rows=check_positive_int(self.n_components, "n_components"))
        self._check_parameters(X.shape[1])
        rng = check_random_state(self.random_state)
        continuing = self.warm_start and hasattr(self, "means_")
        if continuing and self.means_.shape != (self.n_components, X.shape[1]):
            raise ValueError(
                f"warm_start needs the same number of components and features as the previous "
                f"fit ({self.means_.shape}); got {(self.n_components, X.shape[1])}."
            )
        self._check_memory(*X.shape)
        self._check_value_range(X)
        centre = X.mean(axis=0, dtype=np.float64)
        best = None
        n_starts = 1 if continuing else self.n_init
        # Problems met in any start or phase are reported once per fit, after it.
        report = _FitReport()
        for start_index in range(n_starts):
            if continuing:
                state = _FitState.from_estimator(self, centre)
                warmup = None
            else:
                state = self._initial_state(X, centre, rng, report)
                warmup = self._warmup_phase(state, X, centre)
            if warmup is not None:
                warmup_run = yield from self._run_iterations(
                    X, centre, state, rng, warmup, start_index, n_starts, report
                )
                state = warmup_run.state
                report.note_sinkhorn_phase_end(state, self.epsilon)
                if self._learns_weights():
                    state.weights = np.full(self.n_components, 1.0 / self.n_components)
            run = yield from self._run_iterations(
                X, centre, state, rng, self._main_phase(), start_index, n_starts, report
            )
            if self.method == "sinkhorn":
                report.note_sinkhorn_phase_end(run.state, self.epsilon)
            if warmup is not None:
                run.history = {key: warmup_run.history[key] + run.history[key] for key in HISTORY_KEYS}
                run.n_iter += warmup_run.n_iter
            if best is None or run.score > best.score:
                best = run
        report.warn(self.n_components)
        if not best.converged and self.tol > 0 and self.max_iter > 0:
            warnings.warn(
                f"The {MIXTURE_METHOD_NAMES[self.method]} fit did not converge within max_iter={self.max_iter} "
                f"iterations; increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._store(best, centre, X.shape[1])

    def _main_phase(self):
        strength = check_size_prior_strength(self.size_prior_strength) if self.method == "sinkhorn" else None
        return _Phase("main", self.method, self._learns_weights(), False, self.max_iter, strength)

    def _warmup_phase(self, state, X, centre):
        """Set up the warm-up on ``state`` (held covariance and masses); None without warm-up."""
        if self.warmup is None or self.warmup_iter == 0:
            return None
        if self.precisions_init is None:
            state.set_pooled_covariance(X, centre, self.reg_covar)
        if self._learns_weights():
            state.weights = np.full(self.n_components, 1.0 / self.n_components)
        return _Phase("warmup", "sinkhorn", False, True, self.warmup_iter,
                      sinkhorn_tol=max(self.sinkhorn_tol, WARMUP_SINKHORN_TOL))

    def _uses_sinkhorn(self):
        return self.method == "sinkhorn" or (self.warmup is not None and self.warmup_iter > 0)

    def fit_memory_bytes(self, n_points, n_features):
        """Estimate the memory a fit holds on top of its points, in bytes.

        Parameters
        ----------
        n_points, n_features : int
            Shape of the points ``X`` the mixture would be fitted on.

        Returns
        -------
        int
            Bytes of the Sinkhorn E-step's (n_points, K) log-density table and of the
            per-block sums of the passes over the points (with Newton's K x K matrices).
        """
        n_components = self.n_components
        table = n_points * n_components if self._uses_sinkhorn() else 0
        per_block = n_components * (n_features * n_features + n_features + 4)
        if self._uses_sinkhorn() and self.sinkhorn_solver == "newton":
            per_block += n_components * n_components
        return 8 * (table + _kernels.n_blocks_for(n_points) * per_block)

    def _check_memory(self, n_points, n_features):
        check_fits_in_memory(
            self.fit_memory_bytes(n_points, n_features),
            f"Fitting {self.n_components} components (classes) to {n_points:,} points by "
            f"{MIXTURE_METHOD_NAMES[self.method]}",
            "Use fewer components, or fit on fewer points (a smaller sample, e.g. sample_size).",
        )

    def _check_value_range(self, X):
        """Refuse values whose squares overflow; warn when a feature spans so little that
        ``reg_covar`` swamps it."""
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
        self._check_outliers(X)
        if self.reg_covar == 0:
            return
        span = largest - smallest
        smallest_spread = np.sqrt(self.reg_covar)
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
                f"standard deviation a component can have (reg_covar={self.reg_covar:g} is added to "
                f"every variance), so the fit cannot separate classes along it. Rescale the features "
                f"(e.g. to unit standard deviation) or lower reg_covar.",
                UserWarning,
                stacklevel=4,
            )

    def _check_outliers(self, X):
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

    def _initial_state(self, X, centre, rng, report):
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
        elif self.init == "random":
            means = _random_distinct_points(X, self.n_components, rng)
        else:
            means = _kmeans_plusplus(X, self.n_components, rng)
            if self.init == "kmeans":
                means = _lloyd(X, means, rng)
        if self.means_init is None:
            report.note_starting_means(means)
        labels = _nearest_mean(X, means)
        mass, first, second = _moments_from_labels(X, centre, labels, self.n_components)
        state = _FitState(
            centre=centre, means=means - centre, covariances=None, weights=None,
            potentials=None, covariance_type=self.covariance_type,
        )
        state.update_from_moments(mass, first, second, self.reg_covar, X, rng)
        state.means = means - centre
        if self._learns_weights():
            state.weights = np.maximum(mass, 1.0) / np.maximum(mass, 1.0).sum()
        elif self.means_init is None:
            # Component numbers are arbitrary here, so each fixed fraction goes to the starting
            # cluster of the same size rank; otherwise a 4 % class could start on 90 % of the points.
            state.weights = np.empty(self.n_components)
            state.weights[np.argsort(mass, kind="stable")] = np.sort(self._fixed_weights())
        else:
            state.weights = self._fixed_weights()
        if self.precisions_init is not None:
            state.set_precisions(np.asarray(self.precisions_init, dtype=np.float64))
        return state

    def _run_iterations(self, X, centre, state, rng, phase, start_index, n_starts, report):
        n_points = X.shape[0]
        history = {key: [] for key in HISTORY_KEYS}
        previous = None
        converged = False
        n_iter = 0
        workspace = _SinkhornWorkspace()
        for n_iter in range(1, phase.max_iter + 1):
            prec_chol, log_det = state.precision_cholesky()
            if phase.method == "em":
                loglik, mass, first, second = _kernels.em_pass(
                    X, centre, state.means, prec_chol, log_det, np.log(state.weights),
                )
                objective = loglik / n_points
                state.column_masses = mass / n_points
                record = dict(log_likelihood=objective, ot_objective=np.nan,
                              sinkhorn_passes=0, mass_error=np.nan)
            else:
                loglik, result = self._sinkhorn_e_step(X, centre, state, prec_chol, log_det, phase,
                                                       workspace)
                report.sinkhorn_step(result)
                plan = result.state
                state.potentials = plan.potentials
                state.column_masses = plan.column_means
                mass = plan.column_means * n_points
                first, second = plan.first_moment, plan.second_moment
                # Sinkhorn-EM descends the transport objective: lower is better.
                objective = -plan.ot_objective
                record = dict(log_likelihood=loglik / n_points, ot_objective=plan.ot_objective,
                              sinkhorn_passes=result.n_passes, mass_error=plan.mass_error)
            n_reseeded = state.update_from_moments(
                mass, first, second, self.reg_covar, X, rng, means_only=phase.means_only
            )
            if phase.learn_weights:
                # A re-seeded component restarts with an average share; at its old share of
                # (almost) nothing it would lose its points again at once.
                empty = _empty_components(mass, n_points)
                learned = mass if phase.method == "em" else state.weights * n_points
                state.weights = _normalised(np.where(empty, n_points / self.n_components, learned))
            report.n_reseeded += n_reseeded
            record.update(n_reseeded=n_reseeded, phase=phase.name)
            for key in HISTORY_KEYS:
                history[key].append(record[key])
            yield FitStep(phase=phase.name, start=start_index, n_starts=n_starts, iteration=n_iter,
                          max_iter=phase.max_iter, log_likelihood=record["log_likelihood"],
                          ot_objective=record["ot_objective"])
            if previous is not None and abs(objective - previous) < self.tol and n_reseeded == 0:
                converged = True
                break
            previous = objective
        score = -np.inf
        if history["log_likelihood"]:
            final = history["ot_objective" if phase.method == "sinkhorn" else "log_likelihood"][-1]
            score = -final if phase.method == "sinkhorn" else final
        return _FitRun(state=state, history=history, converged=converged, n_iter=n_iter, score=score)

    def _sinkhorn_e_step(self, X, centre, state, prec_chol, log_det, phase, workspace):
        """Sinkhorn-EM's E-step at the current parameters, solved to ``sinkhorn_tol``.

        The plan is first evaluated in the pass that computes the log-densities, at
        potentials predicted from the last two E-steps; late in a fit that evaluation
        already holds the class sizes and the E-step costs one pass. Returns the
        summed log-likelihood and the :class:`SinkhornResult`.
        """
        n_points = X.shape[0]
        if state.potentials is None:
            state.potentials = self.epsilon * np.log(state.weights)
        state.potentials = workspace.predict_potentials(state.potentials, self.epsilon)
        # After an E-step done in one pass the next one is likely done in one too: skip the (n, K)
        # table that only a longer solve needs.
        store = not workspace.last_single_pass
        if store and workspace.log_prob is None:
            workspace.log_prob = np.empty((self.n_components, n_points))
        # Newton's outer products too are only needed by a longer solve.
        newton = self.sinkhorn_solver == "newton" and phase.size_prior_strength is None and store
        loglik, posterior_mass, *first_pass = _kernels.log_prob_plan_pass(
            X, centre, state.means, prec_chol, log_det, np.log(state.weights), state.potentials,
            1.0 / self.epsilon, newton, workspace.log_prob if store else _NO_POINTS,
        )
        if phase.learn_weights:
            state.weights = _normalised(posterior_mass)
        first_state = plan_state(tuple(first_pass), state.potentials, state.weights, self.epsilon,
                                 n_points, phase.size_prior_strength)
        tol = self.sinkhorn_tol if phase.sinkhorn_tol is None else phase.sinkhorn_tol
        workspace.last_single_pass = first_state.mass_error <= tol
        if workspace.last_single_pass:
            return loglik, SinkhornResult(state=first_state, n_passes=1, converged=True)
        evaluated = tuple(first_pass)
        n_extra = 0
        if not store:
            if workspace.log_prob is None:
                workspace.log_prob = np.empty((self.n_components, n_points))
            _kernels.log_prob_pass(X, centre, state.means, prec_chol, log_det, workspace.log_prob)
            # The first pass had neither the table nor the outer products: the solve starts afresh.
            evaluated = None
            n_extra = 2
        result = solve_sinkhorn(
            workspace.log_prob, state.weights, self.epsilon, potentials=state.potentials,
            tol=tol, max_passes=self.sinkhorn_max_iter, solver=self.sinkhorn_solver,
            X=X, centre=centre, first_pass=evaluated, size_prior_strength=phase.size_prior_strength,
        )
        result.n_passes += n_extra
        return loglik, result

    def _store(self, run, centre, n_features):
        state = run.state
        self.means_ = state.means + centre
        self.covariances_ = state.covariances.copy()
        self.weights_ = state.weights.copy()
        masses = state.weights if state.column_masses is None else state.column_masses
        self.column_masses_ = masses.copy()
        self.precisions_cholesky_ = state.precisions_cholesky_compact()
        self.precisions_ = state.precisions_compact()
        self.potentials_ = None if state.potentials is None else state.potentials.copy()
        self.converged_ = run.converged
        self.n_iter_ = run.n_iter
        self.history_ = run.history
        self.n_features_in_ = n_features

    FITTED_ARRAYS = ("means_", "covariances_", "weights_", "precisions_cholesky_", "precisions_")

    def set_fitted_parameters(self, *, means, covariances, weights, precisions_cholesky, precisions,
                              potentials=None, converged=True, n_iter=0):
        """Make this mixture a fitted one from stored parameters (e.g. read from a model file).

        The arrays are taken as they are (the caller validates them);
        ``column_masses_`` become the weights and ``history_`` is empty.
        Returns the mixture itself.
        """
        means = np.asarray(means, dtype=np.float64)
        self.means_ = means
        self.covariances_ = np.asarray(covariances, dtype=np.float64)
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.column_masses_ = self.weights_.copy()
        self.precisions_cholesky_ = np.asarray(precisions_cholesky, dtype=np.float64)
        self.precisions_ = np.asarray(precisions, dtype=np.float64)
        self.potentials_ = None if potentials is None else np.asarray(potentials, dtype=np.float64)
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.history_ = {}
        self.n_features_in_ = means.shape[1]
        return self

    def reorder_components(self, order):
        """Renumber the fitted components in place: new component k is old component ``order[k]``."""
        order = np.asarray(order)
        for name in self.FITTED_ARRAYS:
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[order]))
        for name in ("potentials_", "column_masses_"):
            if getattr(self, name, None) is not None:
                setattr(self, name, getattr(self, name)[order])

    # ------------------------------------------------------------ prediction
    def _check_fitted(self, X):
        if not hasattr(self, "means_"):
            raise RuntimeError("This GaussianMixture is not fitted yet; call fit(X) first.")
        X = check_points(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} feature(s) but the mixture was fitted on {self.n_features_in_}."
            )
        return X

    def _kernel_parameters(self):
        state = _FitState.from_estimator(self, np.zeros(self.n_features_in_))
        prec_chol, log_det = state.precision_cholesky()
        return state.means, prec_chol, log_det

    def estimate_log_prob(self, X):
        """Log-density of each point under each component, shape (n_points, n_components)."""
        return self._log_prob_by_component(self._check_fitted(X)).T

    def _log_prob_by_component(self, X):
        """Log-densities of validated ``X``, component-major: shape (n_components, n_points)."""
        means, prec_chol, log_det = self._kernel_parameters()
        log_prob = np.empty((self.n_components, X.shape[0]))
        _kernels.log_prob_pass(X, np.zeros(X.shape[1]), means, prec_chol, log_det, log_prob)
        return log_prob

    def score_samples(self, X):
        """Log-likelihood of each point under the mixture (with ``weights_``)."""
        log_prob = self.estimate_log_prob(X) + np.log(self.weights_)
        return scipy.special.logsumexp(log_prob, axis=1)

    def score(self, X, y=None):
        """Mean log-likelihood per point."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """Posterior probability of each component for each point, shape (n_points, n_components)."""
        log_prob = self.estimate_log_prob(X) + np.log(self.weights_)
        # A point so far from every component that all its log-densities are -inf gets 1/K each
        # (as in predict_with_confidence), not NaN.
        log_prob[np.isneginf(log_prob).all(axis=1)] = 0.0
        return np.exp(log_prob - scipy.special.logsumexp(log_prob, axis=1, keepdims=True))

    def predict(self, X):
        """Component index (0..K-1) of the highest posterior probability for each point."""
        return self.predict_with_confidence(X)[0]

    def predict_with_confidence(self, X):
        """Component index of each point and its posterior probability (the confidence).

        Works in blocks of rows, so memory stays small for any number of points.
        """
        X = self._check_fitted(X)
        return self._assign(X, np.log(self.weights_), 1.0)

    def transport_potentials(self, X):
        """Dual potentials of the transport plan of ``X`` at the fitted parameters.

        The plan gives component k exactly the fraction ``weights_[k]`` of the
        points of ``X`` (Sinkhorn-EM's E-step at ``epsilon``; with a finite
        ``size_prior_strength`` it is the E-step's semi-relaxed plan, whose sizes
        are only pulled towards ``weights_``); its rows are
        ``softmax_k((log N(x_i; mu_k, Sigma_k) + g_k) / epsilon)``.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Returns
        -------
        ndarray of shape (n_components,)
            The potentials g, mean zero.
        """
        return self._transport_potentials(self._check_fitted(X))

    def _transport_potentials(self, X):
        """:meth:`transport_potentials` of validated ``X``; warns at the caller of the public method."""
        check_epsilon(self.epsilon)
        result = solve_sinkhorn(
            self._log_prob_by_component(X), self.weights_, self.epsilon, potentials=self.potentials_,
            tol=self.sinkhorn_tol, max_passes=self.sinkhorn_max_iter, solver=self.sinkhorn_solver,
            size_prior_strength=check_size_prior_strength(self.size_prior_strength),
        )
        if not result.converged:
            warn_unconverged(result, stacklevel=4)
        return result.state.potentials.copy()

    def predict_plan(self, X, potentials=None):
        """Component of each point under the transport plan, which enforces the class sizes.

        Unlike :meth:`predict` (the ordinary posterior, whose class sizes follow
        the data), each component k receives the fraction ``weights_[k]`` of the
        points the plan was solved on (with a finite ``size_prior_strength``: a
        fraction pulled towards it that strongly).

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
        potentials : array-like of shape (n_components,), optional
            Potentials of a plan solved earlier, e.g. ``transport_potentials(X_train)``:
            new points are then labelled as the training points were, which is how
            an image too big to hold is labelled block by block. None solves the
            plan on ``X`` itself.

        Returns
        -------
        labels : ndarray of int of shape (n_points,)
            Component index (0..K-1) of each point.
        confidence : ndarray of float32 of shape (n_points,)
            The point's share in its component under the plan.
        """
        X = self._check_fitted(X)
        check_epsilon(self.epsilon)
        if potentials is None:
            potentials = self._transport_potentials(X)
        potentials = np.asarray(potentials, dtype=np.float64)
        if potentials.shape != (self.n_components,) or not np.isfinite(potentials).all():
            raise ValueError(
                f"potentials must be {self.n_components} finite numbers, one per component; "
                f"got shape {potentials.shape}."
            )
        return self._assign(X, potentials, 1.0 / self.epsilon)

    def _assign(self, X, shift, inv_eps):
        """argmax_k and max_k of softmax_k((log N + shift) * inv_eps), in blocks of rows."""
        means, prec_chol, log_det = self._kernel_parameters()
        labels = np.empty(X.shape[0], dtype=np.intp)
        confidence = np.empty(X.shape[0], dtype=np.float32)
        zero_centre = np.zeros(X.shape[1])
        for start in range(0, X.shape[0], PREDICT_BLOCK_ROWS):
            stop = min(start + PREDICT_BLOCK_ROWS, X.shape[0])
            _kernels.assign_pass(
                X[start:stop], zero_centre, means, prec_chol, log_det, shift, inv_eps,
                labels[start:stop], confidence[start:stop],
            )
        return labels, confidence

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better)."""
        X = self._check_fitted(X)
        return -2.0 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def _n_parameters(self):
        n_features = self.n_features_in_
        covariance_parameters = {
            "full": n_features * (n_features + 1) / 2,
            "diag": n_features,
            "spherical": 1,
        }[self.covariance_type]
        return int(self.n_components * (covariance_parameters + n_features) + self.n_components - 1)


HISTORY_KEYS = ("log_likelihood", "ot_objective", "sinkhorn_passes", "mass_error", "n_reseeded", "phase")


@dataclass(frozen=True)
class _Phase:
    """One stage of a fit: which E-step, whether weights are learned, whether only means move."""

    name: str
    method: str
    learn_weights: bool
    means_only: bool
    max_iter: int
    size_prior_strength: float | None = None
    # The warm-up's E-steps may stop at a looser column-mass error than sinkhorn_tol.
    sinkhorn_tol: float | None = None


class _FitReport:
    """Problems met during a fit, over all its starts and phases, warned about once at its end."""

    def __init__(self):
        self.n_sinkhorn_steps = 0
        self.n_sinkhorn_unconverged = 0
        self.worst_sinkhorn = None
        self.n_reseeded = 0
        self.n_distinct_starts = None
        self.n_merged_by_epsilon = 0
        self.epsilon = None

    def note_sinkhorn_phase_end(self, state, epsilon):
        """Count components merged at the end of a Sinkhorn phase with epsilon above 1.

        Above 1 the plan is softer than the posterior; far above, it shares every
        point almost equally between the components, whose means then meet.
        """
        if epsilon > 1:
            n_merged = _n_merged_components(state)
            if n_merged > self.n_merged_by_epsilon:
                self.n_merged_by_epsilon, self.epsilon = n_merged, epsilon

    def sinkhorn_step(self, result):
        """Count one Sinkhorn E-step; keep the unconverged one with the largest mass error."""
        self.n_sinkhorn_steps += 1
        if not result.converged:
            self.n_sinkhorn_unconverged += 1
            if self.worst_sinkhorn is None or not (
                result.state.mass_error <= self.worst_sinkhorn.state.mass_error
            ):
                self.worst_sinkhorn = result

    def note_starting_means(self, means):
        n_distinct = _n_distinct_rows(means)
        if self.n_distinct_starts is None or n_distinct < self.n_distinct_starts:
            self.n_distinct_starts = n_distinct

    def warn(self, n_components, stacklevel=4):
        """Issue the warnings of the fit (``stacklevel`` 4: the caller of ``fit``)."""
        if self.n_distinct_starts is not None and self.n_distinct_starts < n_components:
            warnings.warn(
                f"The points take only {self.n_distinct_starts} distinct value(s), fewer than the "
                f"{n_components} components (classes) asked for, so {n_components - self.n_distinct_starts} "
                f"component(s) start on the same point as another and stay identical to it: some labels "
                f"will stay unused. Use at most {self.n_distinct_starts} component(s).",
                UserWarning,
                stacklevel=stacklevel,
            )
        if self.n_reseeded:
            warnings.warn(
                f"During the fit a component lost all its points {self.n_reseeded} time(s) and was "
                f"re-seeded at a random point (see history_['n_reseeded']); the data may hold fewer "
                f"groups than the {n_components} components. Use fewer components.",
                UserWarning,
                stacklevel=stacklevel,
            )
        if self.n_merged_by_epsilon:
            warnings.warn(
                f"At epsilon = {self.epsilon:g} the Sinkhorn E-step shares each point almost equally "
                f"between the components, so {self.n_merged_by_epsilon} of the {n_components} components "
                f"(classes) ended with the same mean as another and their labels mean nothing. Use a "
                f"smaller epsilon (1 or below; above 1 the classes are softer than the data's own "
                f"posterior) or fewer components.",
                UserWarning,
                stacklevel=stacklevel,
            )
        if self.worst_sinkhorn is not None:
            warn_unconverged(
                self.worst_sinkhorn, n_unconverged=self.n_sinkhorn_unconverged,
                n_steps=self.n_sinkhorn_steps, stacklevel=stacklevel + 1,
            )


class _SinkhornWorkspace:
    """What Sinkhorn-EM's E-steps carry from one iteration to the next within one run."""

    def __init__(self):
        self.log_prob = None
        self.last_single_pass = False
        self._previous = None
        self._latest = None

    def predict_potentials(self, potentials, epsilon):
        """Mean-zero potentials to evaluate the next plan at, from the last E-step's solution.

        When the potentials moved by less than ``SMOOTH_POTENTIAL_CHANGE * epsilon`` in
        the last iteration (late in a fit, where they drift steadily), the next value is
        extrapolated linearly; otherwise the last potentials are used as they are.
        """
        potentials = potentials - potentials.mean()
        self._previous, self._latest = self._latest, potentials
        if self._previous is None:
            return potentials
        change = potentials - self._previous
        if np.max(np.abs(change)) > SMOOTH_POTENTIAL_CHANGE * epsilon:
            return potentials
        return potentials + change


class _FitRun:
    def __init__(self, state, history, converged, n_iter, score):
        self.state = state
        self.history = history
        self.converged = converged
        self.n_iter = n_iter
        self.score = score


class _FitState:
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
    def from_estimator(cls, estimator, centre):
        return cls(
            centre=centre,
            means=estimator.means_ - centre,
            covariances=estimator.covariances_.copy(),
            weights=estimator.weights_.copy(),
            potentials=None if estimator.potentials_ is None else estimator.potentials_.copy(),
            covariance_type=estimator.covariance_type,
        )

    def full_covariances(self):
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
            raise ValueError(
                "A component's covariance is not positive definite: the data have too "
                "few distinct values in some direction. Increase reg_covar (e.g. to 1e-3) "
                "or use fewer components."
            )
        return prec_chol, log_det

    def precisions_cholesky_compact(self):
        prec_chol, _ = self.precision_cholesky()
        if self.covariance_type == "full":
            return prec_chol
        diagonal = np.diagonal(prec_chol, axis1=1, axis2=2).copy()
        return diagonal if self.covariance_type == "diag" else diagonal[:, 0]

    def precisions_compact(self):
        prec_chol = self.precisions_cholesky_compact()
        if self.covariance_type == "full":
            return prec_chol @ np.transpose(prec_chol, (0, 2, 1))
        return prec_chol**2

    def set_precisions(self, precisions):
        if self.covariance_type == "full":
            self.covariances = np.linalg.inv(precisions)
        else:
            self.covariances = 1.0 / precisions

    def set_pooled_covariance(self, X, centre, reg_covar):
        """Give every component the within-class covariance pooled over the nearest-mean assignment."""
        labels = _nearest_mean(X, self.means + centre)
        mass, first, second = _moments_from_labels(X, centre, labels, self.means.shape[0])
        occupied = mass > 0
        between = np.einsum("ki,kj->ij", first[occupied], first[occupied] / mass[occupied, None])
        pooled = (second.sum(axis=0) - between) / X.shape[0] + reg_covar * np.eye(X.shape[1])
        self.covariances = np.repeat(pooled[None], self.means.shape[0], axis=0)
        if self.covariance_type != "full":
            diagonal = np.diagonal(self.covariances, axis1=1, axis2=2).copy()
            self.covariances = diagonal if self.covariance_type == "diag" else diagonal.mean(axis=1)

    def update_from_moments(self, mass, first, second, reg_covar, X, rng, *, means_only=False):
        """M-step from the moments sum r, sum r x, sum r x x^T (centred data).

        With ``means_only`` the covariances are kept. Re-seeds every component whose
        mass vanished at a random data point with the average covariance of the
        others; returns how many were re-seeded.
        """
        n_points = X.shape[0]
        n_components, n_features = first.shape
        empty = _empty_components(mass, n_points)
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
        if means_only:
            return int(empty.sum())
        if self.covariance_type == "full":
            self.covariances = covariances
        else:
            diagonal = np.diagonal(covariances, axis1=1, axis2=2).copy()
            self.covariances = diagonal if self.covariance_type == "diag" else diagonal.mean(axis=1)
        return int(empty.sum())


def parameter_shape(covariance_type, n_components, n_features):
    """The shape of ``covariances_`` (and ``precisions_``) for a covariance type, K and d."""
    return {
        "full": (n_components, n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def _empty_components(mass, n_points):
    """Which components hold (almost) no points: they are re-seeded."""
    return mass <= max(EMPTY_COMPONENT_FRACTION * n_points, 10 * np.finfo(float).eps)


def _normalised(mass):
    mass = np.maximum(mass, np.finfo(float).tiny)
    return mass / mass.sum()


def _n_merged_components(state):
    """Number of components whose mean lies within MERGED_MEAN_DISTANCE standard deviations of
    an earlier one's, measured with the components' average covariance."""
    covariance = state.full_covariances().mean(axis=0)
    try:
        whitening = np.linalg.inv(np.linalg.cholesky(covariance))
    except np.linalg.LinAlgError:
        return 0
    means = state.means @ whitening.T
    distances = np.sqrt(((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2))
    return int((np.tril(distances < MERGED_MEAN_DISTANCE, k=-1)).any(axis=1).sum())


def _n_distinct_rows(points):
    """Number of distinct rows of a float array (-0.0 and 0.0 count as one)."""
    return len(np.unique(np.asarray(points, dtype=np.float64) + 0.0, axis=0))


def _random_distinct_points(X, n_components, rng):
    """``n_components`` random points of ``X``, distinct in value wherever ``X`` has that many.

    Points at distinct indices may still be equal (integer images repeat values); equal
    starting means would give components that stay identical, so they are replaced by
    random distinct points, looked for among at most ``KMEANSPP_MAX_POINTS`` points.
    """
    means = X[rng.choice(X.shape[0], n_components, replace=False)].astype(np.float64)
    if _n_distinct_rows(means) == n_components:
        return means
    sample = X
    if X.shape[0] > KMEANSPP_MAX_POINTS:
        sample = X[np.sort(rng.choice(X.shape[0], KMEANSPP_MAX_POINTS, replace=False))]
    _, first = np.unique(sample.astype(np.float64) + 0.0, axis=0, return_index=True)
    distinct = sample[np.sort(first)].astype(np.float64)
    chosen = rng.choice(distinct.shape[0], min(n_components, distinct.shape[0]), replace=False)
    # Where X has fewer distinct points than components, the rest repeat chosen ones.
    extra = rng.choice(chosen, n_components - chosen.size, replace=True)
    return distinct[np.concatenate([chosen, extra])]


def _nearest_mean(X, means):
    """Index of the nearest mean (Euclidean) for every row, in blocks."""
    labels = np.empty(X.shape[0], dtype=np.intp)
    squared_norms = (means**2).sum(axis=1)
    for start in range(0, X.shape[0], PREDICT_BLOCK_ROWS):
        block = X[start:start + PREDICT_BLOCK_ROWS].astype(np.float64)
        labels[start:start + block.shape[0]] = np.argmin(squared_norms - 2.0 * block @ means.T, axis=1)
    return labels


def _moments_from_labels(X, centre, labels, n_components):
    n_features = X.shape[1]
    mass = np.bincount(labels, minlength=n_components).astype(np.float64)
    first = np.zeros((n_components, n_features))
    second = np.zeros((n_components, n_features, n_features))
    for k in range(n_components):
        members = X[labels == k].astype(np.float64) - centre
        first[k] = members.sum(axis=0)
        second[k] = members.T @ members
    return mass, first, second


def _lloyd(X, means, rng):
    """k-means from ``means``: Lloyd's iterations (at most ``KMEANS_INIT_ITER``, until no point
    changes cluster) on at most ``KMEANSPP_MAX_POINTS`` points; a cluster that empties keeps its mean."""
    if X.shape[0] > KMEANSPP_MAX_POINTS:
        X = X[np.sort(rng.choice(X.shape[0], KMEANSPP_MAX_POINTS, replace=False))]
    X = X.astype(np.float64)
    n_components = means.shape[0]
    labels = None
    for _ in range(KMEANS_INIT_ITER):
        new_labels = _nearest_mean(X, means)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=n_components)
        sums = np.zeros_like(means)
        np.add.at(sums, labels, X)
        occupied = counts > 0
        means = means.copy()
        means[occupied] = sums[occupied] / counts[occupied, None]
    return means


def _kmeans_plusplus(X, n_components, rng):
    """k-means++ seeding (greedy, 2 + log K candidates per seed) on at most 100,000 points."""
    if X.shape[0] > KMEANSPP_MAX_POINTS:
        X = X[np.sort(rng.choice(X.shape[0], KMEANSPP_MAX_POINTS, replace=False))]
    X = X.astype(np.float64)
    n_candidates = 2 + int(np.log(n_components))
    centres = np.empty((n_components, X.shape[1]))
    centres[0] = X[rng.integers(X.shape[0])]
    closest = ((X - centres[0]) ** 2).sum(axis=1)
    for c in range(1, n_components):
        total = closest.sum()
        if total <= 0:
            centres[c] = X[rng.integers(X.shape[0])]
            continue
        candidates = np.searchsorted(np.cumsum(closest), rng.random(n_candidates) * total)
        candidates = np.minimum(candidates, X.shape[0] - 1)
        distances = ((X[None, :, :] - X[candidates][:, None, :]) ** 2).sum(axis=2)
        distances = np.minimum(closest[None, :], distances)
        best = int(np.argmin(distances.sum(axis=1)))
        centres[c] = X[candidates[best]]
        closest = distances[best]
    return centres
