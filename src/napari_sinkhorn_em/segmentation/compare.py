"""Comparing two labelings of one image (Hungarian matching, adjusted Rand index), and EM with Sinkhorn-EM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..contracts import ProgressCallback
from .methods import METHOD_NAMES
from .segmenter import Segmenter
from .sources import settings_source

__all__ = ["LabelComparison", "MethodComparison", "compare_labels", "compare_methods"]


@dataclass(frozen=True)
class LabelComparison:
    """Agreement of a labeling ``b`` with a reference labeling ``a``.

    Attributes
    ----------
    matched : numpy.ndarray
        ``b`` renumbered so that each of its labels carries the number of the
        ``a`` label it overlaps most (Hungarian matching); labels of ``b``
        left without a partner get new numbers above ``a``'s largest.
    adjusted_rand_index : float
        Adjusted Rand index of the two labelings (1 = identical up to
        renumbering, about 0 = chance agreement).
    disagreement_fraction : float
        Fraction of pixels where ``matched`` differs from ``a``.
    disagreement : numpy.ndarray
        Boolean image, True where ``matched`` differs from ``a``.
    mapping : dict
        ``{label of b: label in matched}``.
    """

    matched: np.ndarray
    adjusted_rand_index: float
    disagreement_fraction: float
    disagreement: np.ndarray
    mapping: dict[Any, Any]


def _adjusted_rand_index(table: np.ndarray) -> float:
    """Adjusted Rand index from a contingency table, via the pair confusion counts.

    Counts are converted to Python integers so that the products cannot
    overflow for images of any size.
    """
    n = int(table.sum())
    sum_squares = int((table.astype(np.int64) ** 2).sum())
    row_sizes, column_sizes = table.sum(axis=1), table.sum(axis=0)
    together_in_b_only = int((table * column_sizes[None, :]).sum()) - sum_squares
    together_in_a_only = int((table * row_sizes[:, None]).sum()) - sum_squares
    together_in_both = sum_squares - n
    apart_in_both = n * n - together_in_b_only - together_in_a_only - sum_squares
    if together_in_a_only == 0 and together_in_b_only == 0:
        return 1.0
    numerator = 2 * (together_in_both * apart_in_both - together_in_a_only * together_in_b_only)
    denominator = (together_in_both + together_in_a_only) * (together_in_a_only + apart_in_both) + (
        together_in_both + together_in_b_only
    ) * (together_in_b_only + apart_in_both)
    return numerator / denominator


def compare_labels(a: Any, b: Any) -> LabelComparison:
    """Match the labels of ``b`` to those of ``a`` and measure their agreement.

    The overlap of every pair of labels (the contingency table) is computed,
    and the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
    pairs ``b``'s labels with ``a``'s so that the total overlap is largest.

    Parameters
    ----------
    a, b : array_like
        Two labelings of the same image (any integer or boolean labels, same
        shape), e.g. EM's and Sinkhorn-EM's.

    Returns
    -------
    LabelComparison
        ``b`` renumbered like ``a``, the adjusted Rand index, the fraction and
        mask of pixels labelled differently, and the mapping used.

    Raises
    ------
    ValueError
        If the shapes differ or the images are empty.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"The two label images must have the same shape; got {a.shape} and {b.shape}.")
    if a.size == 0:
        raise ValueError("The label images are empty.")
    values_a, index_a = np.unique(a.ravel(), return_inverse=True)
    values_b, index_b = np.unique(b.ravel(), return_inverse=True)
    table = np.bincount(
        index_a * len(values_b) + index_b, minlength=len(values_a) * len(values_b)
    ).reshape(len(values_a), len(values_b))
    rows, columns = linear_sum_assignment(table, maximize=True)
    unmatched = np.setdiff1d(np.arange(len(values_b)), columns)
    dtype, first_new = a.dtype, 0
    if len(unmatched):
        first_new = int(values_a.max()) + 1
        dtype = np.result_type(a.dtype, np.min_scalar_type(first_new + len(unmatched) - 1))
    new_values = np.empty(len(values_b), dtype=dtype)
    new_values[columns] = values_a[rows]
    new_values[unmatched] = first_new + np.arange(len(unmatched))
    matched = new_values[index_b].reshape(a.shape)
    disagreement = matched != a
    return LabelComparison(
        matched=matched,
        adjusted_rand_index=_adjusted_rand_index(table),
        disagreement_fraction=float(np.count_nonzero(disagreement) / a.size),
        disagreement=disagreement,
        mapping={value.item(): new.item() for value, new in zip(values_b, new_values)},
    )


@dataclass(frozen=True)
class MethodComparison:
    """EM and Sinkhorn-EM fitted to the same features of one image.

    Attributes
    ----------
    em, sinkhorn : Segmenter
        The two fitted segmenters (same settings apart from ``method``).
    em_labels, sinkhorn_labels : numpy.ndarray
        Their label images, each numbered by :func:`segment`'s rule.
    comparison : LabelComparison
        ``sinkhorn_labels`` matched to ``em_labels``.
    """

    em: Segmenter
    sinkhorn: Segmenter
    em_labels: np.ndarray
    sinkhorn_labels: np.ndarray
    comparison: LabelComparison


def compare_methods(
    image: Any,
    n_components: int = 3,
    *,
    epsilon: float = 1.0,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> MethodComparison:
    """Segment one image with EM and with Sinkhorn-EM and compare the results.

    Both fits use the same features (computed once when they fit in memory),
    the same subsample and the same seed. EM learns the class sizes from the
    image; Sinkhorn-EM holds them (equal, unless ``weights`` gives them).

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    n_components : int, default 3
        Number of classes K.
    epsilon : float, default 1.0
        Sinkhorn-EM's entropic regularisation.
    channel_axis, scale, mask : optional
        See :meth:`Segmenter.fit`.
    progress : callable or None, default None
        Called as ``progress(stage, fraction)`` with stages such as
        ``"fit (EM)"`` and ``"assign (Sinkhorn-EM)"``.
    **settings
        Other :class:`Segmenter` arguments (``features``, ``sample_size``,
        ``random_state``, mixture options...).

    Returns
    -------
    MethodComparison
    """
    em_settings = {name: value for name, value in settings.items() if name != "weights"}
    segmenters = {
        "em": Segmenter(n_components, method="em", epsilon=epsilon, **em_settings),
        "sinkhorn": Segmenter(n_components, method="sinkhorn", epsilon=epsilon, **settings),
    }
    em = segmenters["em"]
    source = settings_source(em, image, channel_axis, scale, mask, em.feature_recipe(), keep=True)
    labels = {}
    for method, segmenter in segmenters.items():
        name = METHOD_NAMES[method]
        stage_progress = None if progress is None else (lambda stage, fraction, name=name: progress(f"{stage} ({name})", fraction))
        labels[method] = segmenter.fit_source(source, stage_progress).assign(source, stage_progress)
    return MethodComparison(
        em=segmenters["em"],
        sinkhorn=segmenters["sinkhorn"],
        em_labels=labels["em"],
        sinkhorn_labels=labels["sinkhorn"],
        comparison=compare_labels(labels["em"], labels["sinkhorn"]),
    )
