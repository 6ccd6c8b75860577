"""The steps of a Segmenter's fit: the subsample's rows, the mixture's fit, the transport plan, their progress."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from ..contracts import FitSource, Progress
from ..mixture import MIXTURE_METHOD_NAMES, GaussianMixture, SinkhornConvergenceWarning
from .size_search import SizeSearch, size_search_steps

__all__ = [
    "check_class_sizes_fit",
    "check_enough_points",
    "mixture_fit_steps",
    "sampled_rows",
    "size_search_fit_steps",
    "solve_plan",
]


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
    """Fit ``mixture`` on ``X``, yielding a progress report per iteration."""
    for step in mixture.fit_steps(X):
        yield _fit_progress(mixture, step)


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
    stage and returns the rows, in order.
    """
    pieces, offset = [], 0
    yield Progress("features", 0.0, "Computing features")
    for _, stop, table in source.tables():
        if sample is None:
            pieces.append(table)
        else:
            low, high = np.searchsorted(sample, [offset, offset + table.shape[0]])
            pieces.append(table[sample[low:high] - offset])
        offset += table.shape[0]
        yield Progress("features", stop / source.spatial_shape[0], "Computing features")
    return np.concatenate(pieces)


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
    while True:
        try:
            step = next(steps)
        except StopIteration as finished:
            return finished.value
        fit = step.fit_step
        within = fit.iteration / max(fit.max_iter, 1)
        yield Progress(
            "fit",
            min((step.share_index + within) / step.n_shares, 1.0),
            f"Class sizes: trying a share of {step.share:.1%} ({step.share_index + 1} of {step.n_shares}), "
            f"Sinkhorn-EM iteration {fit.iteration}",
        )


def solve_plan(mixture: GaussianMixture, X: np.ndarray, assignment: str) -> np.ndarray:
    """The transport plan's potentials on the fitted pixels; its convergence matters only to plan labels."""
    with warnings.catch_warnings():
        if assignment != "plan":
            warnings.simplefilter("ignore", SinkhornConvergenceWarning)
        return mixture.transport_potentials(X)
