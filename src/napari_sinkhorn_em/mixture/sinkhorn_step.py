"""Sinkhorn-EM's E-step inside a fit, with what it carries from one iteration to the next."""

import numpy as np

from . import _kernels
from .estep import SinkhornResult, plan_state, solve_sinkhorn
from .parameters import normalised

# Sinkhorn-EM's potentials are extrapolated from the last two E-steps only while they moved by less
# than this many epsilon in the last iteration (late in a fit); far from convergence they jump.
SMOOTH_POTENTIAL_CHANGE = 0.1
_NO_POINTS = np.empty((1, 0))


class SinkhornEStep:
    """The E-steps of one Sinkhorn-EM phase of a fit, solved to ``tol``.

    Parameters
    ----------
    epsilon, tol, max_passes, solver, size_prior_strength
        As for :func:`~napari_sinkhorn_em.mixture.solve_sinkhorn`.
    learn_weights : bool
        Re-estimate the weights (the mean of the ordinary posterior) before each plan.
    give_up : tuple (passes, mass_error) or None
        As for :func:`~napari_sinkhorn_em.mixture.solve_sinkhorn`: when an E-step stops hopeless.
    """

    def __init__(self, *, epsilon, tol, max_passes, solver, size_prior_strength, learn_weights, give_up=None):
        self.epsilon = epsilon
        self.tol = tol
        self.max_passes = max_passes
        self.solver = solver
        self.size_prior_strength = size_prior_strength
        self.learn_weights = learn_weights
        self.give_up = give_up
        # The (K, n) log-density table, allocated once a longer solve first needs it.
        self.log_prob = None
        self.last_single_pass = False
        self._previous = None
        self._latest = None

    def predict_potentials(self, potentials):
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
        if np.max(np.abs(change)) > SMOOTH_POTENTIAL_CHANGE * self.epsilon:
            return potentials
        return potentials + change

    def __call__(self, X, centre, state, prec_chol, log_det):
        """The E-step at the parameters of ``state``, whose potentials (and learned weights) it updates.

        The plan is first evaluated in the pass that computes the log-densities, at
        potentials predicted from the last two E-steps; late in a fit that evaluation
        already holds the class sizes and the E-step costs one pass. Returns the
        summed log-likelihood and the :class:`SinkhornResult`.
        """
        n_points = X.shape[0]
        if state.potentials is None:
            state.potentials = self.epsilon * np.log(state.weights)
        state.potentials = self.predict_potentials(state.potentials)
        # After an E-step done in one pass the next one is likely done in one too: skip the (n, K)
        # table that only a longer solve needs.
        store = not self.last_single_pass
        if store:
            self._allocate_table(state.means.shape[0], n_points)
        # Newton's outer products too are only needed by a longer solve.
        newton = self.solver == "newton" and self.size_prior_strength is None and store
        loglik, posterior_mass, *first_pass = _kernels.log_prob_plan_pass(
            X, centre, state.means, prec_chol, log_det, np.log(state.weights), state.potentials,
            1.0 / self.epsilon, newton, self.log_prob if store else _NO_POINTS,
        )
        if self.learn_weights:
            state.weights = normalised(posterior_mass)
        first_state = plan_state(tuple(first_pass), state.potentials, state.weights, self.epsilon,
                                 n_points, self.size_prior_strength)
        self.last_single_pass = first_state.mass_error <= self.tol
        if self.last_single_pass:
            return loglik, SinkhornResult(state=first_state, n_passes=1, converged=True)
        evaluated = tuple(first_pass)
        n_extra = 0
        if not store:
            self._allocate_table(state.means.shape[0], n_points)
            _kernels.log_prob_pass(X, centre, state.means, prec_chol, log_det, self.log_prob)
            # The first pass had neither the table nor the outer products: the solve starts afresh.
            evaluated = None
            n_extra = 2
        result = solve_sinkhorn(
            self.log_prob, state.weights, self.epsilon, potentials=state.potentials,
            tol=self.tol, max_passes=self.max_passes, solver=self.solver,
            X=X, centre=centre, first_pass=evaluated, size_prior_strength=self.size_prior_strength,
            give_up=self.give_up,
        )
        result.n_passes += n_extra
        return loglik, result

    def _allocate_table(self, n_components, n_points):
        if self.log_prob is None:
            self.log_prob = np.empty((n_components, n_points))
