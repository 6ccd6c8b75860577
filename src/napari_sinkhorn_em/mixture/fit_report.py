"""What went wrong in a fit, over all its starts and phases, and the warnings that say so once."""

import warnings

import numpy as np

from .estep import warn_unconverged
from .initialisation import n_distinct_rows

# Components whose means are closer than this many standard deviations have merged into one.
MERGED_MEAN_DISTANCE = 0.01


class FitReport:
    """Problems met during a fit, over all its starts and phases, warned about once at its end."""

    def __init__(self):
        self.n_sinkhorn_steps = 0
        self.n_sinkhorn_unconverged = 0
        self.worst_sinkhorn = None
        self.n_reseeded = 0
        self.n_distinct_starts = None
        self.n_merged_by_epsilon = 0
        self.epsilon = None
        self.abandoned_warmup = None

    def note_sinkhorn_phase_end(self, state, epsilon):
        """Count components merged at the end of a Sinkhorn phase with epsilon above 1.

        Above 1 the plan is softer than the posterior; far above, it shares every
        point almost equally between the components, whose means then meet.
        """
        if epsilon > 1:
            n_merged = n_merged_components(state)
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

    def note_abandoned_warmup(self, record):
        """Keep the E-step record of a Sinkhorn start that handed over to EM before moving the means."""
        self.abandoned_warmup = record

    def note_starting_means(self, means):
        """Count the distinct starting means of a start; the fewest over the starts are kept."""
        n_distinct = n_distinct_rows(means)
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
        if self.abandoned_warmup is not None:
            warnings.warn(
                f"The Sinkhorn start could not give the {n_components} classes equal sizes (after "
                f"{self.abandoned_warmup['sinkhorn_passes']:,} passes a class still held "
                f"{self.abandoned_warmup['mass_error']:.0%} more or less than its share), so the fit went "
                f"on with EM from its starting means. With this many classes the features barely tell "
                f"them apart; fewer classes or more features (e.g. features='multiscale') let the sizes "
                f"help again.",
                UserWarning,
                stacklevel=stacklevel,
            )
        # The abandoned warm-up's own unconverged E-step is said by the warning above.
        only_the_abandoned = self.abandoned_warmup is not None and self.n_sinkhorn_unconverged == 1
        if self.worst_sinkhorn is not None and not only_the_abandoned:
            warn_unconverged(
                self.worst_sinkhorn, n_unconverged=self.n_sinkhorn_unconverged,
                n_steps=self.n_sinkhorn_steps, stacklevel=stacklevel + 1,
            )


def n_merged_components(state):
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
