"""Gaussian mixture fitted by EM or by Sinkhorn-EM, with a scikit-learn-shaped API.

The fit loop lives here: each start draws its means (:mod:`.initialisation`), may run the
Sinkhorn warm-up, then the main phase; every iteration is an E-step (EM's posterior, or
:class:`.sinkhorn_step.SinkhornEStep`) and the M-step of :class:`.parameters.FitState`.
What went wrong is warned about once per fit (:mod:`.fit_report`).
"""

import warnings
from dataclasses import dataclass

import numpy as np

from . import _kernels
from .._validation import check_points, check_positive_int, check_random_state
from .checks import (
    MIXTURE_METHOD_NAMES, check_fit_memory, check_parameters, check_value_range, check_warm_start,
)
from .estep import check_size_prior_strength
from .fit_report import FitReport
from .initialisation import pooled_covariances, starting_means, starting_state
from .parameters import FitState, empty_components, learns_weights, normalised
from .prediction import FittedMixture
from .sinkhorn_step import SinkhornEStep

# The Sinkhorn start's warm-up only spreads the means with the class sizes held for EM to take
# over; its E-steps stop once every class is within this relative error of its size.
WARMUP_SINKHORN_TOL = 1e-3
# A Sinkhorn E-step that has run this many Newton passes with a class still off its size by more
# than this fraction, and has not halved that error over its last half, will not find the sizes (nor
# will the next E-steps): it stops there, and the fit is refused, or the Sinkhorn start hands over
# to EM. (A 200-neuron head with equal sizes needed 127 passes in its second E-step, and got there.) (K = 200 classes on one intensity feature of a
# 512 x 512 image with 236 distinct values: components collapse onto values with fewer pixels than
# a class's share; each E-step ran its 1,000 passes, with a class 8 to 26 times its share.)
HOPELESS_SINKHORN_PASSES = 200
HOPELESS_MASS_ERROR = 0.5
HISTORY_KEYS = ("log_likelihood", "ot_objective", "sinkhorn_passes", "mass_error", "n_reseeded", "phase")


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


@dataclass(frozen=True)
class _Phase:
    """One stage of a fit: which E-step, whether weights are learned, whether only means move."""

    name: str
    method: str
    learn_weights: bool
    means_only: bool
    max_iter: int
    size_prior_strength: float | None
    # The warm-up's E-steps may stop at a looser column-mass error than the main phase's.
    sinkhorn_tol: float


@dataclass
class _FitRun:
    """One phase (or a whole start) of a fit: where it ended, and its history."""

    state: FitState
    history: dict
    converged: bool
    n_iter: int
    score: float


class GaussianMixture(FittedMixture):
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

    def fit(self, X, y=None):
        """Fit the mixture to the points ``X``.

        ``X`` may have any numeric dtype, memory layout or byte order (it is read as
        float64, float32 as is); it must be finite. Every warning below is issued at
        most once per fit, however many starts and iterations ran.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
        y : ignored

        Returns
        -------
        GaussianMixture
            self, fitted.

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
        """Fit, then return the component index of each point (``fit(X).predict(X)``).

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
        y : ignored

        Returns
        -------
        ndarray of int of shape (n_points,)
        """
        return self.fit(X).predict(X)

    def fit_steps(self, X):
        """Fit like :meth:`fit`, yielding a :class:`FitStep` after every iteration.

        The estimator is fitted once the generator is exhausted; closing it early
        (``generator.close()``) abandons the fit and leaves any previous fit intact.
        This is how a user interface shows progress and cancels a fit.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Yields
        ------
        FitStep
        """
        X = check_points(X, min_rows=check_positive_int(self.n_components, "n_components"))
        check_parameters(self, X.shape[1])
        rng = check_random_state(self.random_state)
        continuing = check_warm_start(self, X.shape[1])
        check_fit_memory(self, *X.shape)
        check_value_range(X, self.reg_covar)
        centre = X.mean(axis=0, dtype=np.float64)
        best = None
        n_starts = 1 if continuing else self.n_init
        # Problems met in any start or phase are reported once per fit, after it.
        report = FitReport()
        for start_index in range(n_starts):
            run = yield from self._fit_start(X, centre, rng, report, continuing, (start_index, n_starts))
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
        self._store(best, X.shape[1])

    def _fit_start(self, X, centre, rng, report, continuing, start):
        """One start: the warm-up if asked for, then the main phase; their histories joined."""
        warmup = None
        if continuing:
            state = FitState.from_fitted(self, centre)
        else:
            state = self._initial_state(X, centre, rng, report)
            warmup = self._warmup_phase(state, X, centre)
        if warmup is not None:
            warmup_run = yield from _run_phase(self, X, centre, state, rng, warmup, report, start)
            state = warmup_run.state
            report.note_sinkhorn_phase_end(state, self.epsilon)
            if learns_weights(self.weights):
                state.weights = np.full(self.n_components, 1.0 / self.n_components)
        run = yield from _run_phase(self, X, centre, state, rng, self._main_phase(), report, start)
        if self.method == "sinkhorn":
            report.note_sinkhorn_phase_end(run.state, self.epsilon)
        if warmup is not None:
            run.history = {key: warmup_run.history[key] + run.history[key] for key in HISTORY_KEYS}
            run.n_iter += warmup_run.n_iter
        return run

    def _initial_state(self, X, centre, rng, report):
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
        else:
            means = starting_means(X, self.n_components, self.init, rng)
            report.note_starting_means(means)
        return starting_state(
            X, centre, means, rng, covariance_type=self.covariance_type, weights=self.weights,
            reg_covar=self.reg_covar, precisions_init=self.precisions_init, rank_sizes=self.means_init is None,
        )

    def _main_phase(self):
        strength = check_size_prior_strength(self.size_prior_strength) if self.method == "sinkhorn" else None
        return _Phase(name="main", method=self.method, learn_weights=learns_weights(self.weights),
                      means_only=False, max_iter=self.max_iter, size_prior_strength=strength,
                      sinkhorn_tol=self.sinkhorn_tol)

    def _warmup_phase(self, state, X, centre):
        """Set up the warm-up on ``state`` (held covariance and masses); None without warm-up."""
        if self.warmup is None or self.warmup_iter == 0:
            return None
        if self.precisions_init is None:
            state.covariances = pooled_covariances(X, centre, state, self.reg_covar)
        if learns_weights(self.weights):
            state.weights = np.full(self.n_components, 1.0 / self.n_components)
        return _Phase(name="warmup", method="sinkhorn", learn_weights=False, means_only=True,
                      max_iter=self.warmup_iter, size_prior_strength=None,
                      sinkhorn_tol=max(self.sinkhorn_tol, WARMUP_SINKHORN_TOL))

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
        uses_sinkhorn = self.method == "sinkhorn" or (self.warmup is not None and self.warmup_iter > 0)
        table = n_points * n_components if uses_sinkhorn else 0
        per_block = n_components * (n_features * n_features + n_features + 4)
        if uses_sinkhorn and self.sinkhorn_solver == "newton":
            per_block += n_components * n_components
        return 8 * (table + _kernels.n_blocks_for(n_points) * per_block)

    def _store(self, run, n_features):
        state = run.state
        self.means_ = state.means + state.centre
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


def _run_phase(mixture, X, centre, state, rng, phase, report, start):
    """Iterate one phase from ``state``, yielding a :class:`FitStep` after each iteration.

    ``start`` is (index of this start, number of starts), for the progress reports.
    Returns the phase's :class:`_FitRun`.
    """
    start_index, n_starts = start
    n_points = X.shape[0]
    history = {key: [] for key in HISTORY_KEYS}
    previous = None
    converged = False
    n_iter = 0
    sinkhorn_step = None if phase.method == "em" else SinkhornEStep(
        epsilon=mixture.epsilon, tol=phase.sinkhorn_tol, max_passes=mixture.sinkhorn_max_iter,
        solver=mixture.sinkhorn_solver, size_prior_strength=phase.size_prior_strength,
        learn_weights=phase.learn_weights, give_up=(HOPELESS_SINKHORN_PASSES, HOPELESS_MASS_ERROR),
    )
    for n_iter in range(1, phase.max_iter + 1):
        objective, mass, first, second, record = _e_step(X, centre, state, phase.method, sinkhorn_step, report)
        if _sizes_out_of_reach(record):
            if phase.name != "warmup":
                raise ValueError(_sizes_out_of_reach_message(mixture.n_components, record))
            report.note_abandoned_warmup(record)
            n_iter -= 1  # this E-step's plan is not used: EM starts from the same parameters
            break
        n_reseeded = state.update_from_moments(
            mass, first, second, mixture.reg_covar, X, rng, means_only=phase.means_only
        )
        if phase.learn_weights:
            # A re-seeded component restarts with an average share; at its old share of
            # (almost) nothing it would lose its points again at once.
            empty = empty_components(mass, n_points)
            learned = mass if phase.method == "em" else state.weights * n_points
            state.weights = normalised(np.where(empty, n_points / mixture.n_components, learned))
        report.n_reseeded += n_reseeded
        record.update(n_reseeded=n_reseeded, phase=phase.name)
        for key in HISTORY_KEYS:
            history[key].append(record[key])
        yield FitStep(phase=phase.name, start=start_index, n_starts=n_starts, iteration=n_iter,
                      max_iter=phase.max_iter, log_likelihood=record["log_likelihood"],
                      ot_objective=record["ot_objective"])
        if previous is not None and abs(objective - previous) < mixture.tol and n_reseeded == 0:
            converged = True
            break
        previous = objective
    score = -np.inf
    if history["log_likelihood"]:
        final = history["ot_objective" if phase.method == "sinkhorn" else "log_likelihood"][-1]
        score = -final if phase.method == "sinkhorn" else final
    return _FitRun(state=state, history=history, converged=converged, n_iter=n_iter, score=score)


def _sizes_out_of_reach(record):
    """Whether a Sinkhorn E-step ran long and still left a class far from its size."""
    return (
        record["sinkhorn_passes"] >= HOPELESS_SINKHORN_PASSES
        and record["mass_error"] > HOPELESS_MASS_ERROR
    )


def _sizes_out_of_reach_message(n_components, record):
    return (
        f"Sinkhorn-EM could not give the {n_components} classes their sizes: after "
        f"{record['sinkhorn_passes']:,} passes of an E-step a class still held {record['mass_error']:.0%} "
        f"more or less than its share, and every later E-step would run as long. With this many "
        f"classes the features barely tell them apart; use fewer classes, more features (e.g. "
        f"features='multiscale'), a larger epsilon, or method='em', which learns the sizes."
    )


def _e_step(X, centre, state, method, sinkhorn_step, report):
    """The E-step of ``method`` at the parameters of ``state`` (``sinkhorn_step`` solves Sinkhorn-EM's).

    Returns the per-point objective (higher is better), the moments sum r, sum r x and
    sum r x x^T of the responsibilities, and the iteration's history record.
    """
    n_points = X.shape[0]
    prec_chol, log_det = state.precision_cholesky()
    if method == "em":
        loglik, mass, first, second = _kernels.em_pass(
            X, centre, state.means, prec_chol, log_det, np.log(state.weights),
        )
        state.column_masses = mass / n_points
        record = dict(log_likelihood=loglik / n_points, ot_objective=np.nan, sinkhorn_passes=0, mass_error=np.nan)
        return loglik / n_points, mass, first, second, record
    loglik, result = sinkhorn_step(X, centre, state, prec_chol, log_det)
    report.sinkhorn_step(result)
    plan = result.state
    state.potentials = plan.potentials
    state.column_masses = plan.column_means
    record = dict(log_likelihood=loglik / n_points, ot_objective=plan.ot_objective,
                  sinkhorn_passes=result.n_passes, mass_error=plan.mass_error)
    # Sinkhorn-EM descends the transport objective: lower is better.
    return -plan.ot_objective, plan.column_means * n_points, plan.first_moment, plan.second_moment, record
