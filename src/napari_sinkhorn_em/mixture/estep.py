"""E-steps on a table of log-densities: EM's posterior and Sinkhorn-EM's transport plan.

The public functions take the table as (n_points, n_components); :func:`solve_sinkhorn` and the
kernels read it component-major, (n_components, n_points).

Sinkhorn-EM's E-step solves an entropic optimal-transport problem between the
points (mass 1/n each) and the components (mass ``weights[k]`` each). Its
solution is ``r_ik = softmax_k((log_prob_ik + g_k) / epsilon)`` with one dual
potential ``g_k`` per component, so only K numbers are unknown. They maximise
the smooth concave dual

    F(g) = sum_k weights_k g_k - epsilon / n * sum_i logsumexp_k((log_prob_ik + g_k) / epsilon),

whose gradient is ``weights - m(g)`` (m: the column means of r) and whose
Hessian is ``-(diag(m) - r^T r / n) / epsilon``. Two solvers are offered:
plain Sinkhorn sweeps (``g += epsilon * log(weights / m)``) and damped Newton
steps on F, which converge in far fewer passes over the data.

A class-size prior of finite strength tau relaxes the columns: the plan keeps its
rows exact and pays ``tau * KL(m || weights)`` (per point) for column masses m
away from ``weights``, with its entropy taken relative to ``(1/n) x weights``.
Then ``r_ik = softmax_k((log_prob_ik + epsilon log weights_k + h_k) / epsilon)``,
the optimum has ``h_k = -tau log(m_k / weights_k)``, and the scaling iteration of
Chizat et al. (2018) ``h <- tau / (tau + epsilon) * (h - epsilon log(m / weights))``
reaches it, contracting by ``tau / (tau + epsilon)`` per sweep. ``tau -> inf`` is the
hard plan above; ``tau -> 0`` is ``softmax_k((log_prob_ik + epsilon log weights_k) /
epsilon)``, at ``epsilon = 1`` EM's posterior with those weights.
"""

import numbers
import warnings
from dataclasses import dataclass, replace

import numpy as np
import scipy.special

from . import _kernels
from .._validation import check_choice, check_epsilon, check_positive_int, check_weights

SOLVERS = ("newton", "sweeps")
# Largest move of any potential in a Newton step at first, in units of epsilon (a column's mass
# changes by at most e**10); the radius grows after a step cut by it that the quadratic model
# predicted well, and shrinks after a rejected or poorly predicted one.
INITIAL_TRUST_RADIUS = 10.0
# Relative change of the dual below which it is treated as round-off.
DUAL_ROUND_OFF = 1e-12
TRUST_GROWTH = 4.0
# The radius grows only after a step whose dual increase matched the quadratic model's prediction
# this well, and shrinks after one that matched worse than POOR_AGREEMENT.
GOOD_AGREEMENT = 0.75
POOR_AGREEMENT = 0.25
MIN_TRUST_RADIUS = 1.0
ARMIJO = 1e-4
# Newton's Hessian has the constant vector in its kernel; the ridge only guards round-off.
HESSIAN_RIDGE = 1e-12
# A mass below this is treated as this when taking logs, so a vanished column still gets a finite push.
TINY_MASS = 1e-300
# A cold start at small epsilon first solves these larger epsilons, loosely, each warm-starting the
# next: the potentials move smoothly with epsilon, and Newton's steps stay in their fast region.
CONTINUATION_EPSILONS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
CONTINUATION_TOL = 1e-2
# From a plan this close to its column masses a Newton step usually lands within tolerance, so its
# evaluation also gathers the M-step moments (otherwise deferred to one more pass when d is large).
LIKELY_LAST_MASS_ERROR = 1e-3


class SinkhornConvergenceWarning(UserWarning):
    """The Sinkhorn E-step stopped before its column masses reached the tolerance."""


@dataclass
class DualState:
    """The transport plan at one set of potentials, as seen by one pass over the data."""

    potentials: np.ndarray
    column_means: np.ndarray
    mass_error: float
    dual_value: float
    ot_objective: float
    outer: np.ndarray
    first_moment: np.ndarray
    second_moment: np.ndarray


@dataclass
class SinkhornResult:
    """What :func:`solve_sinkhorn` returns: the final plan, the passes it took, whether it converged."""

    state: DualState
    n_passes: int
    converged: bool


def _log_prob_array(log_prob):
    array = np.ascontiguousarray(log_prob, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(
            f"log_prob must be a 2-D array of shape (n_points, n_components); got shape {array.shape}."
        )
    if array.shape[0] < 1:
        raise ValueError("log_prob has no rows; give at least one point.")
    if np.isnan(array).any() or np.isposinf(array).any():
        raise ValueError("log_prob contains NaN or +inf; log-densities must be finite or -inf.")
    impossible = np.flatnonzero(np.isneginf(array).all(axis=1))
    if impossible.size:
        raise ValueError(
            f"log_prob is -inf in every column of {impossible.size} row(s) (first: row "
            f"{impossible[0]}): such a point is impossible under every component and cannot be "
            f"assigned. Remove those points or give them a finite log-density somewhere."
        )
    return array


def em_responsibilities(log_prob, weights):
    """EM's E-step: the posterior probability of each component for each point.

    Parameters
    ----------
    log_prob : array-like of shape (n_points, n_components)
        Log-density of each point under each component.
    weights : array-like of shape (n_components,)
        Mixing weights: positive, summing to 1.

    Returns
    -------
    resp : ndarray of shape (n_points, n_components)
        ``softmax_k(log_prob[i, k] + log(weights[k]))``; each row sums to 1.
    """
    log_prob = _log_prob_array(log_prob)
    weights = check_weights(weights, log_prob.shape[1])
    resp = np.empty_like(log_prob)
    _softmax(np.ascontiguousarray(log_prob.T), np.log(weights), 1.0, resp_out=resp)
    return resp


def check_size_prior_strength(strength):
    """Validate a class-size prior strength; return it as a float, or None for hard sizes.

    Parameters
    ----------
    strength : float or None
        ``None`` or ``inf``: the class sizes are held exactly. Otherwise a finite
        number > 0, the weight per point of ``KL(column masses || weights)``.

    Returns
    -------
    float or None
        None for hard class sizes (``None`` or ``inf`` given), else the strength.

    Raises
    ------
    ValueError
        For anything else (0, negative, NaN, a non-number).
    """
    if strength is None:
        return None
    if (isinstance(strength, bool) or not isinstance(strength, numbers.Real)
            or np.isnan(strength) or strength <= 0):
        raise ValueError(
            f"size_prior_strength must be a number > 0 (per point: how strongly the class sizes "
            f"are pulled to weights; small follows the data, large holds the sizes) or None (or "
            f"inf) for class sizes held exactly; got {strength!r}."
        )
    return None if np.isposinf(strength) else float(strength)


def sinkhorn_responsibilities(
    log_prob, weights, epsilon=1.0, tol=1e-6, max_iter=1000, potentials=None, solver="newton",
    size_prior_strength=None,
):
    """Sinkhorn-EM's E-step: the entropic transport plan with fixed column masses.

    Solves ``min_P sum_ik P_ik C_ik + epsilon sum_ik P_ik log P_ik`` with cost
    ``C = -log_prob``, rows of P summing to ``1 / n`` and columns to ``weights``,
    and returns ``n * P``.

    With a finite ``size_prior_strength`` tau the columns are a prior instead:
    the plan solves ``min_P sum_ik P_ik C_ik + epsilon KL(P || a x weights) +
    tau KL(m || weights)`` with rows of P summing to ``a_i = 1 / n`` and m the
    column sums of P (the class sizes). ``tau -> inf`` is the hard plan;
    ``tau -> 0`` gives ``softmax_k((log_prob_ik + epsilon log weights_k) / epsilon)``,
    at ``epsilon = 1`` EM's posterior (:func:`em_responsibilities`).

    Parameters
    ----------
    log_prob : array-like of shape (n_points, n_components)
        Log-density of each point under each component.
    weights : array-like of shape (n_components,)
        Column masses: the fraction of points each component must hold (positive, sum 1).
    epsilon : float, default=1.0
        Entropic regularisation (> 0). ``epsilon=1`` with potentials ``log(weights)``
        is EM's E-step; smaller values give harder, size-constrained assignments.
    tol : float, default=1e-6
        Stop when ``max_k |m_k / weights_k - 1| <= tol`` (m: column means of the plan).
        With a size prior: when ``max_k |m_k / t_k - 1| <= tol``, t the sizes that the
        current potentials ask for (``t ∝ weights * exp(-h / tau)``, sum 1).
    max_iter : int, default=1000
        Largest number of passes over ``log_prob``.
    potentials : array-like of shape (n_components,), optional
        Dual potentials to start from (a previous call's output: a warm start).
        Default ``epsilon * log(weights)``.
    solver : {"newton", "sweeps"}, default="newton"
        Damped Newton steps on the dual, or plain Sinkhorn sweeps (hard sizes only;
        with a size prior the scaling sweeps are always used).
    size_prior_strength : float or None, default=None
        Strength tau (> 0, per point) of the class-size prior ``tau * KL(m || weights)``.
        None or ``inf`` holds the column masses at ``weights`` exactly.

    Returns
    -------
    resp : ndarray of shape (n_points, n_components)
        The plan times n: rows sum to 1, column means equal ``weights`` within ``tol``
        (with a size prior: lie between EM's posterior masses and ``weights``).
    potentials : ndarray of shape (n_components,)
        The dual potentials g (``resp = softmax((log_prob + g) / epsilon)``), mean zero.
    n_passes : int
        Passes over ``log_prob`` that were needed.

    Warns
    -----
    SinkhornConvergenceWarning
        When ``max_iter`` passes did not reach ``tol``; the plan returned is still
        valid (rows sum to 1), its columns are off by the error reported.
    """
    log_prob = _log_prob_array(log_prob)
    weights = check_weights(weights, log_prob.shape[1])
    strength = check_size_prior_strength(size_prior_strength)
    unreachable = np.flatnonzero(np.isneginf(log_prob).all(axis=0))
    if unreachable.size:
        raise ValueError(
            f"log_prob is -inf in every row of column(s) {unreachable.tolist()}: no point can "
            f"belong to those components, so they cannot receive their fraction of the points "
            f"(weights). Remove those components or give them a finite log-density somewhere."
        )
    by_component = np.ascontiguousarray(log_prob.T)
    result = solve_sinkhorn(
        by_component, weights, check_epsilon(epsilon), potentials=potentials, tol=tol,
        max_passes=max_iter, solver=solver, size_prior_strength=strength,
    )
    if not result.converged:
        warn_unconverged(result)
    resp = np.empty_like(log_prob)
    _softmax(by_component, result.state.potentials, 1.0 / epsilon, resp_out=resp)
    return resp, result.state.potentials, result.n_passes


def warn_unconverged(result, *, n_unconverged=1, n_steps=1, stacklevel=3):
    """Warn that a Sinkhorn E-step stopped before its column masses reached the tolerance.

    Parameters
    ----------
    result : SinkhornResult
        The unconverged E-step (for a whole fit: the one with the largest mass error).
    n_unconverged, n_steps : int, default=1
        How many of the fit's ``n_steps`` E-steps did not converge; a fit warns once.
    stacklevel : int, default=3
        As for :func:`warnings.warn`, counted from this function.
    """
    if n_steps > 1:
        which = (
            f"{n_unconverged} of the fit's {n_steps} Sinkhorn E-steps stopped before reaching "
            f"sinkhorn_tol; the worst stopped after {result.n_passes} passes"
        )
    else:
        which = f"The Sinkhorn E-step stopped after {result.n_passes} passes"
    warnings.warn(
        f"{which} with a column-mass error of {result.state.mass_error:.2g}; the assignment is "
        f"valid but the class sizes are only approximately enforced. Increase sinkhorn_max_iter "
        f"or epsilon.",
        SinkhornConvergenceWarning,
        stacklevel=stacklevel,
    )


_EMPTY_ROWS = np.empty((0, 1))


def _softmax(log_prob, shift, inv_eps, *, want_outer=False, X=None, centre=None, resp_out=None):
    n_components = log_prob.shape[0]
    X = _EMPTY_ROWS if X is None else X
    centre = np.zeros(X.shape[1]) if centre is None else centre
    resp_out = np.empty((0, n_components)) if resp_out is None else resp_out
    return _kernels.softmax_pass(
        log_prob, np.asarray(shift, dtype=np.float64), float(inv_eps), want_outer, X, centre,
        resp_out,
    )


def solve_sinkhorn(
    log_prob, weights, epsilon, *, potentials=None, tol=1e-6, max_passes=1000, solver="newton",
    X=None, centre=None, first_pass=None, size_prior_strength=None, give_up=None,
):
    """Solve the Sinkhorn E-step on a component-major log-density table (inputs assumed validated).

    Parameters
    ----------
    log_prob : ndarray of shape (n_components, n_points)
        Log-density of each point under each component, component-major (the transpose of
        what :func:`sinkhorn_responsibilities` takes): the kernels read it in tiles of
        contiguous rows.
    weights : ndarray of shape (n_components,)
        Column masses: positive, summing to 1.
    epsilon : float
        Entropic regularisation (> 0).
    potentials : array-like of shape (n_components,), optional
        Dual potentials to start from (a warm start). Default ``epsilon * log(weights)``; with
        hard sizes and no ``first_pass``, first moved by loose solves at the larger epsilons of
        ``CONTINUATION_EPSILONS``.
    tol : float, default=1e-6
        Stop when the column-mass error (:attr:`DualState.mass_error`) is at most ``tol``.
    max_passes : int, default=1000
        Largest number of passes over ``log_prob``.
    solver : {"newton", "sweeps"}, default="newton"
        Damped Newton steps on the dual, or plain Sinkhorn sweeps. With a size prior the
        scaling sweeps are used whatever ``solver`` says.
    X : ndarray of shape (n_points, n_features), optional
        The points (float32 or float64): with them each pass also accumulates the M-step
        moments of the plan, so the state returned carries the final plan's moments at no
        extra pass.
    centre : ndarray of shape (n_features,), optional
        Subtracted from every row of ``X``: the moments are relative to it. Default zero.
    first_pass : tuple, optional
        What :func:`_kernels.softmax_pass` returned at ``potentials`` (already centred) when
        the caller evaluated the plan itself, e.g. while computing ``log_prob``; it saves one pass.
    size_prior_strength : float or None, default=None
        Strength of the class-size prior (a float from :func:`check_size_prior_strength`),
        which relaxes the column masses towards ``weights``; None holds them exactly.
    give_up : tuple (passes, mass_error) or None, default=None
        With masses held exactly and Newton steps: stop early, unconverged, once at least
        ``passes`` passes still leave the mass error above ``mass_error`` and the last
        ``passes // 2`` passes have not halved it (sizes out of reach; a fit then stops or hands
        over instead of running every E-step to ``max_passes``). Sweeps, which converge slowly
        but surely at small epsilon, and None run to ``max_passes``.

    Returns
    -------
    SinkhornResult
        The final :class:`DualState` (potentials of mean zero, column means, moments), the
        number of passes over ``log_prob`` and whether the mass error reached ``tol``.
    """
    check_choice(solver, "sinkhorn_solver", SOLVERS)
    max_passes = check_positive_int(max_passes, "sinkhorn_max_iter")
    if size_prior_strength is not None:
        return _solve_semi_relaxed(
            log_prob, weights, epsilon, size_prior_strength, potentials=potentials, tol=tol,
            max_passes=max_passes, X=X, centre=centre, first_pass=first_pass,
        )
    return _solve_hard(
        log_prob, weights, epsilon, potentials=potentials, tol=tol, max_passes=max_passes,
        solver=solver, X=X, centre=centre, first_pass=first_pass, give_up=give_up,
    )


def _solve_hard(log_prob, weights, epsilon, *, potentials, tol, max_passes, solver, X, centre, first_pass,
                give_up=None):
    """:func:`solve_sinkhorn` with the column masses held at ``weights``: Newton steps or sweeps."""
    n_points = log_prob.shape[1]
    log_weights = np.log(weights)
    inv_eps = 1.0 / epsilon
    # The M-step moments cost K d(d+1)/2 per point and pass. When that outweighs the plan's own
    # work (many features), intermediate passes skip them and one last pass adds them.
    defer_moments = X is not None and X.shape[1] * (X.shape[1] + 1) // 2 > log_prob.shape[0]

    def evaluate(g, want_outer, evaluated=None, moments=not defer_moments, likely_last=False):
        evaluated = evaluated or _softmax(
            log_prob, g, inv_eps, want_outer=want_outer, X=X if moments or likely_last else None,
            centre=centre,
        )
        return _hard_state(evaluated, g, weights, epsilon, n_points)

    n_passes = 0
    if potentials is None:
        g = epsilon * log_weights
        if first_pass is None:
            for coarser in (e for e in CONTINUATION_EPSILONS if e > epsilon):
                budget = max_passes - n_passes - 1
                if budget < 1:
                    break
                stage = solve_sinkhorn(
                    log_prob, weights, coarser, potentials=g if n_passes else None,
                    tol=max(tol, CONTINUATION_TOL), max_passes=budget, solver=solver,
                )
                g = stage.state.potentials
                n_passes += stage.n_passes
    else:
        g = _checked_potentials(potentials, weights)
    state = evaluate(g - g.mean(), want_outer=solver == "newton", evaluated=first_pass)
    n_passes += 1
    trust_radius = INITIAL_TRUST_RADIUS
    # The mass error after each Newton step, by pass: progress over the last passes, for give_up.
    errors = {n_passes: state.mass_error}
    while state.mass_error > tol and n_passes < max_passes:
        if solver == "newton" and give_up is not None and _stalled(errors, n_passes, state.mass_error, *give_up):
            break
        if solver == "sweeps":
            # A plain Sinkhorn sweep: rescale every column to its target mass.
            step = epsilon * (log_weights - np.log(np.maximum(state.column_means, TINY_MASS)))
            g = state.potentials + step
            state = evaluate(g - g.mean(), want_outer=False)
            n_passes += 1
            continue
        state, used, trust_radius = _newton_step(
            state, weights, epsilon, evaluate, max_passes - n_passes, trust_radius
        )
        n_passes += used
        errors[n_passes] = state.mass_error
    if defer_moments and state.first_moment.shape[0] == 0:
        state = evaluate(state.potentials, want_outer=False, moments=True)
        n_passes += 1
    return SinkhornResult(state=state, n_passes=n_passes, converged=state.mass_error <= tol)


def _solve_semi_relaxed(
    log_prob, weights, epsilon, strength, *, potentials, tol, max_passes, X, centre, first_pass
):
    """:func:`solve_sinkhorn` with the column masses under the prior ``strength * KL(m || weights)``.

    Works on ``h = g - epsilon log(weights)`` (zero: EM's posterior at epsilon 1), so that
    a tiny ``strength``, where h is of its size, keeps its relative precision.
    """
    n_points = log_prob.shape[1]
    epsilon_log_weights = epsilon * np.log(weights)
    inv_eps = 1.0 / epsilon
    contraction = strength / (strength + epsilon)
    defer_moments = X is not None and X.shape[1] * (X.shape[1] + 1) // 2 > log_prob.shape[0]

    def evaluate(h, evaluated=None, moments=not defer_moments):
        evaluated = evaluated or _softmax(
            log_prob, h + epsilon_log_weights, inv_eps, X=X if moments else None, centre=centre
        )
        return _relaxed_state(evaluated, h, weights, epsilon, strength, n_points)

    if potentials is None:
        h = np.zeros_like(weights)
    else:
        g = _checked_potentials(potentials, weights)
        h = g - epsilon_log_weights
    # h is not centred: ``first_pass`` was evaluated at exactly these potentials.
    state = evaluate(h, evaluated=first_pass)
    n_passes = 1
    while state.mass_error > tol and n_passes < max_passes:
        h = contraction * (h - epsilon * np.log(np.maximum(state.column_means, TINY_MASS) / weights))
        state = evaluate(h)
        n_passes += 1
    if defer_moments and state.first_moment.shape[0] == 0:
        state = evaluate(h, moments=True)
        n_passes += 1
    state = replace(state, potentials=state.potentials - state.potentials.mean())
    return SinkhornResult(state=state, n_passes=n_passes, converged=state.mass_error <= tol)


def _stalled(errors, n_passes, mass_error, passes, limit):
    """Whether Newton has run ``passes`` passes, still misses a size by more than ``limit``, and has
    not halved its mass error over the last ``passes // 2`` passes (sizes out of reach, not slow)."""
    if n_passes < passes or mass_error <= limit:
        return False
    earlier = max(count for count in errors if count <= n_passes - passes // 2)
    return mass_error > 0.5 * errors[earlier]


def _checked_potentials(potentials, weights):
    """Starting potentials given by the caller, as float64; refused unless one finite number per component."""
    g = np.array(potentials, dtype=np.float64)
    if g.shape != weights.shape or not np.isfinite(g).all():
        raise ValueError(
            f"potentials must be {weights.shape[0]} finite numbers (from a previous fit); got {g!r}."
        )
    return g


def _hard_state(evaluated, g, weights, epsilon, n_points):
    """The :class:`DualState` of the plan with hard column masses at potentials ``g``."""
    column_sums, sum_lse, outer, first, second = evaluated
    m = column_sums / n_points
    lse_term = epsilon * sum_lse / n_points
    return DualState(
        potentials=g,
        column_means=m,
        mass_error=float(np.max(np.abs(m / weights - 1.0))),
        dual_value=float(weights @ g - lse_term),
        ot_objective=float(m @ g - lse_term - epsilon * np.log(n_points)),
        outer=outer / n_points if outer.shape[0] > 0 else None,
        first_moment=first,
        second_moment=second,
    )


def _relaxed_state(evaluated, h, weights, epsilon, strength, n_points):
    """The :class:`DualState` of the plan under the size prior at ``h = g - epsilon log(weights)``."""
    column_sums, sum_lse, _, first, second = evaluated
    m = column_sums / n_points
    lse_term = epsilon * sum_lse / n_points
    # The sizes the potentials ask for: at the optimum m = weights * exp(-h / strength).
    log_target = np.log(weights) - h / strength
    target = np.exp(log_target - scipy.special.logsumexp(log_target))
    occupied = m > 0
    divergence = float(m[occupied] @ np.log(m[occupied] / weights[occupied]))
    return DualState(
        potentials=h + epsilon * np.log(weights),
        column_means=m,
        mass_error=float(np.max(np.abs(m / target - 1.0))),
        dual_value=float(-lse_term - strength * (weights @ np.expm1(-h / strength))),
        ot_objective=float(m @ h - lse_term + strength * divergence),
        outer=None,
        first_moment=first,
        second_moment=second,
    )


def plan_state(evaluated, potentials, weights, epsilon, n_points, size_prior_strength=None):
    """The :class:`DualState` of a plan evaluated by a pass over the data.

    Parameters
    ----------
    evaluated : tuple
        What :func:`_kernels.softmax_pass` returns (column sums, summed log
        normalisers, outer products, moments) for the plan at ``potentials``.
    potentials : ndarray of shape (n_components,)
        The dual potentials g the plan was evaluated at.
    weights : ndarray of shape (n_components,)
        Target column masses (validated).
    epsilon : float
        Entropic regularisation.
    n_points : int
        Number of points (rows) of the pass.
    size_prior_strength : float or None, default=None
        As for :func:`solve_sinkhorn`.

    Returns
    -------
    DualState
        Its ``mass_error`` says how far the plan's column masses are from the targets.
    """
    if size_prior_strength is None:
        return _hard_state(evaluated, potentials, weights, epsilon, n_points)
    h = potentials - epsilon * np.log(weights)
    return _relaxed_state(evaluated, h, weights, epsilon, size_prior_strength, n_points)


def _newton_direction(state, weights, epsilon):
    """Newton's direction on the dual at ``state`` (which carries the outer products), mean zero."""
    m = state.column_means
    gradient = weights - m
    hessian = np.diag(m) - state.outer
    hessian[np.diag_indices_from(hessian)] += HESSIAN_RIDGE
    solution, positive_definite = _kernels.solve_positive_definite(hessian, gradient)
    if not positive_definite:
        solution = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
    direction = epsilon * solution
    return direction - direction.mean()


def _newton_step(state, weights, epsilon, evaluate, passes_left, trust_radius):
    """One damped Newton step on the dual with backtracking.

    Returns the new state, the passes used and the trust radius for the next step.
    """
    gradient = weights - state.column_means
    direction = _newton_direction(state, weights, epsilon)
    longest = np.max(np.abs(direction)) / epsilon
    capped = longest > trust_radius
    if capped:
        # Clip each potential's move to the radius rather than shrink the whole step: nearly empty
        # columns ask for huge moves and would otherwise freeze every other column.
        clipped = np.clip(direction, -trust_radius * epsilon, trust_radius * epsilon)
        clipped -= clipped.mean()
        if float(gradient @ clipped) > 0:
            direction = clipped
            longest = np.max(np.abs(direction)) / epsilon
    step_size = min(1.0, trust_radius / longest) if longest > 0 else 1.0
    slope = float(gradient @ direction)
    # The dual's quadratic model along the direction: F(g + a d) - F(g) = a slope - a^2 curvature / 2.
    curvature = float(direction @ (state.column_means * direction - state.outer @ direction)) / epsilon
    used = 0
    while used < passes_left:
        trial = evaluate(state.potentials + step_size * direction, want_outer=True,
                         likely_last=state.mass_error <= LIKELY_LAST_MASS_ERROR)
        used += 1
        # Accept on sufficient increase of the dual. Near the optimum the dual's change drowns in
        # round-off, and only there a smaller mass error is accepted instead (anywhere else that
        # rule lets the search cycle between two points).
        change = trial.dual_value - state.dual_value
        within_round_off = abs(change) <= DUAL_ROUND_OFF * max(1.0, abs(state.dual_value))
        if (change >= ARMIJO * step_size * slope
                or (within_round_off and trial.mass_error < state.mass_error)):
            predicted = step_size * slope - 0.5 * step_size**2 * curvature
            agreement = change / predicted if predicted > 0 else 1.0
            if agreement < POOR_AGREEMENT:
                trust_radius = max(MIN_TRUST_RADIUS, 0.5 * step_size * longest)
            elif capped and used == 1 and agreement > GOOD_AGREEMENT:
                trust_radius *= TRUST_GROWTH
            return trial, used, trust_radius
        step_size *= 0.5
        capped = False
        trust_radius = max(MIN_TRUST_RADIUS, step_size * longest)
    return state, used, trust_radius
