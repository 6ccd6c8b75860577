"""The steps of a Segmenter's fit: the subsample's rows, the mixture's fit, the transport plan, their progress."""

from __future__ import annotations

import collections
import math
import time
import warnings
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from ..contracts import FitSource, Progress
from ..mixture import (
    HOPELESS_MASS_ERROR,
    HOPELESS_SINKHORN_PASSES,
    HOT_PIXEL_FRACTION,
    MIXTURE_METHOD_NAMES,
    GaussianMixture,
    SinkhornConvergenceWarning,
)
from .size_search import SizeSearch, size_search_steps

__all__ = [
    "FitClock",
    "LONG_FIT_SECONDS",
    "OUTLIER_RANGES",
    "check_class_sizes_fit",
    "check_enough_points",
    "leave_out_far_outliers",
    "mixture_fit_steps",
    "sampled_rows",
    "size_search_fit_steps",
    "solve_plan",
]


#: A value is a far outlier when it lies beyond the central 99.8 % of its feature's values by more
#: than this many times that central range (:func:`leave_out_far_outliers`).
OUTLIER_RANGES = 10.0


def leave_out_far_outliers(X: np.ndarray) -> np.ndarray:
    """The fitting sample without its few far outliers (hot or dead pixels), with a warning.

    A single hot pixel far brighter than the rest takes a class of its own in a maximum-likelihood
    fit (its Gaussian collapses onto it) and, with held class sizes, drags a whole class's share
    towards it. Points that lie, in any feature, more than :data:`OUTLIER_RANGES` times the range
    of the central 99.8 % of that feature's values beyond that range are left out when they are at
    most ``mixture.HOT_PIXEL_FRACTION`` (1 in 10,000) of the sample, or a single point: a few hot or
    dead pixels, not a small class of real objects. They are still labelled afterwards, like any pixel.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The standardised fitting sample.

    Returns
    -------
    ndarray
        ``X`` itself when it has no such outliers, otherwise a copy without them.
    """
    # The order statistics nearest these quantiles that leave out the extremes even in a small
    # sample (an interpolated quantile would move with the very outlier it is measured against).
    lower = np.quantile(X, 0.001, axis=0, method="higher")
    upper = np.quantile(X, 0.999, axis=0, method="lower")
    reach = OUTLIER_RANGES * (upper - lower)
    # A feature that is constant on 99.8 % of the sample has no range to measure outliers against.
    far = ((X > upper + reach) | (X < lower - reach)) & (reach > 0)
    outlier = far.any(axis=1)
    n_outliers = int(np.count_nonzero(outlier))
    if n_outliers == 0 or n_outliers > max(1, HOT_PIXEL_FRACTION * X.shape[0]):
        return X
    warnings.warn(
        f"{n_outliers} pixel(s) of the fitting sample lie far beyond all the others (more than "
        f"{OUTLIER_RANGES:g} times the range of the other values), as hot or dead pixels do. They were "
        f"left out of the fit so that they do not take a class of their own, and they are still "
        f"labelled. To leave them out of the labels too, clip the image or mask them.",
        UserWarning,
        stacklevel=3,
    )
    return X[~outlier]


def _fit_progress(mixture: GaussianMixture, step: Any) -> Progress:
    """A progress report for one iteration of ``mixture.fit_steps``."""
    name = "Sinkhorn-EM warm-up" if step.phase == "warmup" else MIXTURE_METHOD_NAMES[mixture.method]
    start = f", start {step.start + 1} of {step.n_starts}" if step.n_starts > 1 else ""
    message = (
        f"{name} iteration {step.iteration} of {step.max_iter}{start}, "
        f"log-likelihood {step.log_likelihood:.4g}"
    )
    within = step.iteration / max(step.max_iter, 1)
    if mixture.warmup is not None and not mixture.warm_start:
        # The warm-up fills the first half of each start, the main fit the second.
        within = 0.5 * within + (0.5 if step.phase == "main" else 0.0)
    fraction = (step.start + within) / step.n_starts
    return Progress("fit", min(fraction, 1.0), message)


def mixture_fit_steps(mixture: GaussianMixture, X: np.ndarray) -> Generator[Progress, None, None]:
    """Fit ``mixture`` on ``X``, yielding a progress report per iteration.

    Once the iterations so far say how long the rest may take, each report's message ends with
    that time, and a fit that may take longer than :data:`LONG_FIT_SECONDS` warns once.
    """
    clock = FitClock(mixture.n_components, X.shape[0])
    for step in mixture.fit_steps(X):
        report = _fit_progress(mixture, step)
        yield clock.annotate(report, step.phase, step.start)


#: A fit whose recent iterations project it beyond this many seconds warns once (:class:`FitClock`).
LONG_FIT_SECONDS = 900.0
# The pace is that of the last few iterations of the current phase: the first iterations from a
# rough start (and numba's compilation) are the slowest (a 200-neuron Sinkhorn-EM fit: 49 and 127
# Newton passes, then 4 to 8). Times left are shown after 10 s, the warning only after a minute.
_PACE_ITERATIONS = 5
_PROJECT_AFTER_SECONDS = 10.0
_WARN_AFTER_SECONDS = 60.0


class FitClock:
    """How long the rest of a fit may take, from the pace of its last iterations.

    The projection assumes the fit runs to ``max_iter`` at the pace of the last
    ``_PACE_ITERATIONS`` iterations of its current phase: most fits stop earlier, when they
    converge, but iterations that need more Sinkhorn passes are slower.
    """

    def __init__(self, n_components: int, n_samples: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.n_components = n_components
        self.n_samples = n_samples
        self.clock = clock
        self.started = clock()
        self.warned = False
        # The current phase (name, start) and the (time, fraction) of its latest reports.
        self.phase: tuple[str, int] | None = None
        self.recent: collections.deque[tuple[float, float]] = collections.deque(maxlen=_PACE_ITERATIONS + 1)

    def annotate(self, report: Progress, phase: str, start: int) -> Progress:
        """``report`` with the projected time left in its message, warning once if it is long."""
        now = self.clock()
        if self.phase != (phase, start):
            self.phase = (phase, start)
            self.recent.clear()
        self.recent.append((now, report.fraction))
        (then, fraction_then), elapsed = self.recent[0], now - self.started
        done = report.fraction - fraction_then
        if len(self.recent) <= _PACE_ITERATIONS or elapsed < _PROJECT_AFTER_SECONDS or done <= 0:
            return report
        left = (now - then) / done * (1.0 - report.fraction)
        if not self.warned and elapsed >= _WARN_AFTER_SECONDS and elapsed + left > LONG_FIT_SECONDS:
            self.warned = True
            warnings.warn(
                f"This fit may take up to {_duration(elapsed + left)} ({self.n_components} "
                f"classes on {self.n_samples:,} pixels; it has taken {_duration(elapsed)} so far). "
                f"It stops earlier if it converges. Fewer classes, a smaller sample size or EM make it faster.",
                UserWarning,
                stacklevel=2,
            )
        return Progress(report.stage, report.fraction, f"{report.message}, up to about {_duration(left)} left")


def _duration(seconds: float) -> str:
    """A duration as a person says it, rounded up: "40 s", "12 min", "3.5 h"."""
    seconds = round(seconds, 6)  # so that round-off does not round 69.0000001 s up to 70 s
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    if seconds < 90 * 60:
        return f"{math.ceil(seconds / 60)} min"
    return f"{math.ceil(seconds / 360) / 10:.1f} h"


def check_enough_points(n_points: int, n_components: int) -> None:
    """Refuse an image with fewer pixels to cluster than classes."""
    if n_points < n_components:
        raise ValueError(
            f"The image has {n_points} pixel(s) to cluster, fewer than the "
            f"{n_components} classes asked for; use fewer classes or a larger image or mask."
        )


def check_class_sizes_fit(class_sizes: np.ndarray | None, n_samples: int) -> None:
    """Refuse given class sizes of which one would hold less than one of the ``n_samples`` fitted pixels."""
    if class_sizes is not None and class_sizes.min() * n_samples < 1:
        raise ValueError(
            f"A class size of {class_sizes.min():.3g} is less than one of the {n_samples:,} pixels the "
            f"model is fitted on, so that class would be empty. Give every class at least "
            f"{1 / n_samples:.2g} of the pixels, or fewer classes."
        )


def sampled_rows(source: FitSource, sample: np.ndarray | None) -> Generator[Progress, None, np.ndarray]:
    """The rows ``sample`` (sorted row numbers; None for all) of ``source``, with a report per table.

    A generator: it yields :class:`Progress` reports of the ``"features"``
    stage and returns the rows, in the order of their row numbers.
    """
    rows, done = None, 0
    wanted = source.n_points if sample is None else len(sample)
    yield Progress("features", 0.0, "Computing features")
    for block, table in source.sample_tables(sample):
        where, positions = _rows_of_block(block.row_numbers, sample)
        picked = np.asarray(table) if positions is None else table[positions]
        if rows is None:
            rows = np.empty((source.n_points if sample is None else len(sample), picked.shape[1]), picked.dtype)
        rows[where] = picked
        done += picked.shape[0]
        yield Progress("features", done / wanted, "Computing features")
    return rows


def _rows_of_block(row_numbers: range | np.ndarray, sample: np.ndarray | None) -> tuple[Any, Any]:
    """Where a block's rows of ``sample`` (all when None) go in the sampled rows, and their positions in its table.

    Positions are None when the block's whole table is wanted.
    """
    if isinstance(row_numbers, range):
        if sample is None:
            return slice(row_numbers.start, row_numbers.stop), None
        low, high = np.searchsorted(sample, [row_numbers.start, row_numbers.stop])
        return slice(low, high), sample[low:high] - row_numbers.start
    if sample is None:
        return row_numbers, None
    low, high = np.searchsorted(sample, [row_numbers[0], row_numbers[-1] + 1])
    candidates = sample[low:high]
    positions = np.searchsorted(row_numbers, candidates)
    held = row_numbers[positions] == candidates
    return low + np.flatnonzero(held), positions[held]


def size_search_fit_steps(
    X: np.ndarray,
    class_sizes: np.ndarray,
    size_tolerance: float,
    new_mixture: Callable[[np.ndarray], GaussianMixture],
) -> Generator[Progress, None, tuple[GaussianMixture, SizeSearch]]:
    """Sinkhorn-EM fits with the smallest class's share searched near its guess (:func:`size_search_steps`).

    A generator: it yields :class:`Progress` reports of the ``"fit"`` stage
    and returns ``(mixture, search)``, the chosen fit and what was tried.
    """
    steps = size_search_steps(X, class_sizes, size_tolerance, new_mixture)
    clock = FitClock(len(class_sizes), X.shape[0])
    while True:
        try:
            step = next(steps)
        except StopIteration as finished:
            return finished.value
        fit = step.fit_step
        within = fit.iteration / max(fit.max_iter, 1)
        report = Progress(
            "fit",
            min((step.share_index + within) / step.n_shares, 1.0),
            f"Class sizes: trying a share of {step.share:.1%} ({step.share_index + 1} of {step.n_shares}), "
            f"Sinkhorn-EM iteration {fit.iteration}",
        )
        yield clock.annotate(report, "share", step.share_index)


def solve_plan(mixture: GaussianMixture, X: np.ndarray, assignment: str) -> np.ndarray:
    """The transport plan's potentials on the fitted pixels; its convergence matters only to plan labels.

    Without plan labels a plan whose sizes are out of reach is not solved to the end.
    """
    if assignment == "plan":
        return mixture.transport_potentials(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SinkhornConvergenceWarning)
        return mixture.transport_potentials(X, give_up=(HOPELESS_SINKHORN_PASSES, HOPELESS_MASS_ERROR))
