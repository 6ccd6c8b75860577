"""Choosing a class's size near a rough guess, from the costs of Sinkhorn-EM's size constraint.

Sinkhorn-EM holds every class at a given share of the pixels. A biologist knows
such a share only roughly ("the worms cover about a tenth of the well"), and the
result depends on it: held at half the true share, a class can cover at most half
of its objects. The fitted log-likelihood cannot choose the share (it rises
steadily as the share grows). What can is the price of the constraint.

At the optimum of the transport problem, the dual potential ``g_k`` of class k is
the marginal cost of giving it one more pixel (the envelope theorem: the optimal
objective's derivative in the class size). While the class grows over pixels of
its objects, each new pixel is nearly as good as the last; once the objects are
used up, the next pixels belong to the background and cost much more. The share
where this marginal cost rises fastest is where the objects end: that is where
the fitted classes are separated by a gap in the data. :func:`size_search_steps`
fits Sinkhorn-EM at shares on a log-spaced grid within a factor ``tolerance`` of
the guess and keeps the fit at that share. docs/evidence.md measures it on the
BBBC010 wells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_positive_float, check_weights

__all__ = [
    "SIZE_BINDING_FRACTION",
    "SIZE_MIN_RISE_FRACTION",
    "SIZE_SLOPE_SPAN",
    "SIZE_STEPS_PER_DOUBLING",
    "SizeSearch",
    "SizeSearchStep",
    "knee_index",
    "size_search_steps",
    "user_order",
]

#: Shares tried per doubling of the searched class's share (a step of 2 ** (1/8), about 9 %).
SIZE_STEPS_PER_DOUBLING = 8
#: The rise of the marginal cost is measured over this many grid steps (a factor of about 1.3),
#: which averages out the noise of single fits.
SIZE_SLOPE_SPAN = 3
#: A rise counts as the end of the objects only if it ends where the constraint still binds: at a
#: marginal cost below this fraction of the lowest one (costs are negative). Closer to 0 the class
#: nears the share the data would give it unconstrained (EM's), where no object ends. On the BBBC010
#: wells and the worms sample the rise at the worms ends at 0.65-0.75 of the lowest cost.
SIZE_BINDING_FRACTION = 0.5
#: A rise smaller than this fraction of the lowest cost's magnitude is the noise of single fits, not
#: the end of the objects (the worms' rise is 0.25-0.35 of it on the BBBC010 wells and the sample).
SIZE_MIN_RISE_FRACTION = 0.1


@dataclass(frozen=True)
class SizeSearchStep:
    """Progress of :func:`size_search_steps`: one iteration of the fit at one share.

    Attributes
    ----------
    share_index : int
        Which share is being fitted (0-based).
    n_shares : int
        How many shares are tried.
    share : float
        The share of the searched class in this fit.
    fit_step : FitStep
        The mixture's own progress report.
    """

    share_index: int
    n_shares: int
    share: float
    fit_step: Any


@dataclass(frozen=True)
class SizeSearch:
    """What the search for a class's size tried and chose.

    Attributes
    ----------
    searched_class : int
        Index (in the order of the given class sizes) of the class whose share
        was searched: the smallest one. The other classes keep their relative sizes.
    guess : float
        The share given for that class.
    shares : numpy.ndarray
        The shares tried, increasing.
    marginal_costs : numpy.ndarray
        At each share, the dual potential of the searched class minus the
        size-weighted mean potential of the others: the cost of its next pixel.
    chosen : float
        The share kept: where the marginal cost rises fastest.
    """

    searched_class: int
    guess: float
    shares: np.ndarray
    marginal_costs: np.ndarray
    chosen: float


def user_order(fitted_weights: np.ndarray, sizes: np.ndarray, tie_break: np.ndarray | None = None) -> np.ndarray:
    """Component index of each given class size: ``order[k]`` holds ``sizes[k]``.

    A mixture with fixed fractions gives them to its starting clusters by size rank
    (see :class:`~napari_sinkhorn_em.mixture.GaussianMixture`), so the k-th smallest
    fitted weight belongs to the k-th smallest given size. Components of equal
    weight are taken in the order of ``tie_break`` (one number per component,
    e.g. the rank of its mean), or of their index; equal sizes in the given order.

    Parameters
    ----------
    fitted_weights : numpy.ndarray
        The fitted mixture's weights, one per component.
    sizes : numpy.ndarray
        The given class sizes, in the user's (label) order.
    tie_break : numpy.ndarray or None, default None
        One number per component ordering components of equal weight; None: their index.

    Returns
    -------
    numpy.ndarray of int
        ``order[k]``, the component of the k-th given size.
    """
    n_components = len(fitted_weights)
    tie_break = np.arange(n_components) if tie_break is None else np.asarray(tie_break)
    order = np.empty(n_components, dtype=np.intp)
    order[np.argsort(sizes, kind="stable")] = np.lexsort((tie_break, fitted_weights))
    return order


def knee_index(costs: np.ndarray) -> int:
    """Where a marginal-cost curve (over increasing shares) rises fastest into its plateau.

    The objects end where the marginal cost jumps from one level to a higher one
    (the gap between them and the background). Near the share that the data
    prefer without a constraint it also rises, smoothly and to the end of the
    range, towards 0. So the rise chosen is the largest one that ends in a peak
    inside the range (from the lowest point since the previous peak) where the
    constraint still binds (a cost below :data:`SIZE_BINDING_FRACTION` of the
    lowest) and that is more than noise (at least :data:`SIZE_MIN_RISE_FRACTION`
    of the lowest cost's magnitude); without such a peak, the rise from the
    lowest point while the constraint binds, up to the first share where it
    no longer does. Within it, the share
    at the upper middle of its steepest stretch of :data:`SIZE_SLOPE_SPAN` steps
    is returned.

    Parameters
    ----------
    costs : numpy.ndarray
        The marginal cost of the searched class at each share, shares increasing.

    Returns
    -------
    int
        The index of the share chosen.
    """
    n = len(costs)
    if n < 2:
        return 0
    peaks = [j for j in range(1, n - 1) if costs[j] > costs[j - 1] and costs[j] >= costs[j + 1]]
    binding = SIZE_BINDING_FRACTION * min(float(costs.min()), 0.0)
    least_rise = SIZE_MIN_RISE_FRACTION * abs(float(costs.min()))
    best_low, best_high, best_rise = int(np.argmin(costs)), None, least_rise
    previous = 0
    for peak in peaks:
        low = previous + int(np.argmin(costs[previous : peak + 1]))
        if costs[peak] <= binding and costs[peak] - costs[low] > best_rise:
            best_low, best_high, best_rise = low, peak, costs[peak] - costs[low]
        previous = peak
    if best_high is None:
        best_high = best_low
        while best_high < n - 1 and costs[best_high] <= binding:
            best_high += 1
    if best_high <= best_low:
        return best_low
    span = min(SIZE_SLOPE_SPAN, best_high - best_low)
    stretch = costs[best_low + span : best_high + 1] - costs[best_low : best_high + 1 - span]
    return best_low + int(np.argmax(stretch)) + (span + 1) // 2


def _sizes_with_share(sizes: np.ndarray, searched: int, share: float) -> np.ndarray:
    others = np.delete(sizes, searched)
    candidate = np.insert(others / others.sum() * (1.0 - share), searched, share)
    return candidate / candidate.sum()


def size_search_steps(
    X: np.ndarray,
    sizes: Any,
    tolerance: float,
    new_mixture: Callable[[np.ndarray], Any],
) -> Iterator[Any]:
    """Fit Sinkhorn-EM with the smallest class's share searched within a factor ``tolerance``.

    A generator: it yields a :class:`SizeSearchStep` after every iteration of
    every mixture it fits (for progress reports) and returns ``(mixture,
    search)`` as its ``StopIteration.value``, so ``mixture, search = yield from
    size_search_steps(...)`` inside another generator.

    Parameters
    ----------
    X : ndarray of shape (n_points, n_features)
        The points (standardised features).
    sizes : array-like of shape (n_components,)
        The guessed class sizes: positive, summing to 1.
    tolerance : float
        How far off the guess may be, as a factor (>= 1): the share of the
        smallest class is searched from ``guess / tolerance`` to
        ``guess * tolerance`` (and never beyond the point where it would stop
        being the smallest class). 1 holds the sizes as given.
    new_mixture : callable
        ``new_mixture(sizes)`` returns an unfitted
        :class:`~napari_sinkhorn_em.mixture.GaussianMixture` that holds those
        class sizes (``method="sinkhorn"``, ``weights=sizes``). It is called once
        per share tried, each time with the same settings and seed.

    Returns
    -------
    mixture : GaussianMixture
        The fit at the chosen share.
    search : SizeSearch
        The shares tried, their marginal costs and the choice.
    """
    tolerance = check_positive_float(tolerance, "size_tolerance")
    if tolerance < 1.0:
        raise ValueError(
            f"size_tolerance is a factor by which the class sizes may be off, so it must be 1 or more "
            f"(1 holds them as given, 2 searches from half to twice the guess); got {tolerance!r}."
        )
    sizes = check_weights(sizes, len(np.atleast_1d(sizes)))
    searched = int(np.argmin(sizes))
    guess = float(sizes[searched])
    others = np.delete(sizes, searched)
    # The searched class stays at most as large as the smallest of the others.
    smallest_other = float(others.min() / others.sum())
    largest_share = smallest_other / (1.0 + smallest_other)
    n_steps = int(np.ceil(SIZE_STEPS_PER_DOUBLING * np.log2(tolerance)))
    shares = guess * tolerance ** np.linspace(-1.0, 1.0, 2 * n_steps + 1) if n_steps else np.array([guess])
    shares = np.unique(np.minimum(shares, max(guess, largest_share)))

    fits, costs = [], []
    for index, share in enumerate(shares):
        candidate = _sizes_with_share(sizes, searched, float(share))
        mixture = new_mixture(candidate)
        for step in mixture.fit_steps(X):
            yield SizeSearchStep(index, len(shares), float(share), step)
        potentials = mixture.potentials_[user_order(mixture.weights_, candidate)]
        rest = np.delete(candidate, searched)
        costs.append(float(potentials[searched] - rest @ np.delete(potentials, searched) / rest.sum()))
        fits.append(mixture)
    costs = np.array(costs)
    chosen = knee_index(costs)
    search = SizeSearch(
        searched_class=searched, guess=guess, shares=shares, marginal_costs=costs, chosen=float(shares[chosen])
    )
    return fits[chosen], search
