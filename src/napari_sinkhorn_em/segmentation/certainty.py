"""How sure a fitted model is of each voxel's label, on a scale that spreads.

The largest class probability is close to 1 almost everywhere once the
classes are well apart (on the worms sample, three quarters of the pixels
are above 0.99), so a map of it looks uniform. :func:`label_certainty`
instead compares the most probable class with the runner-up on a
logarithmic scale: 0 where the two are equally probable (a toss-up), 1 where
the chosen class is 10 times as probable, 2 for 100 times, and so on, up to
:data:`CERTAINTY_CAP`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CERTAINTY_CAP", "label_certainty"]

#: Largest certainty reported: the chosen class a million times as probable as the next one, or more.
CERTAINTY_CAP = 6.0


def label_certainty(probabilities: Any, *, cap: float = CERTAINTY_CAP) -> np.ndarray:
    """How many powers of ten more probable each voxel's best class is than its second best.

    Parameters
    ----------
    probabilities : array_like
        Class probabilities with the classes along the last axis (at least
        two), e.g. the output of :meth:`Segmenter.predict_proba
        <napari_sinkhorn_em.segmentation.Segmenter.predict_proba>` or
        :meth:`GaussianMixture.predict_proba
        <napari_sinkhorn_em.mixture.GaussianMixture.predict_proba>`.
    cap : float, default CERTAINTY_CAP
        Largest value returned (positive).

    Returns
    -------
    numpy.ndarray
        float32 array of the input's shape without its last axis:
        ``log10(p_best / p_second)`` clipped to ``[0, cap]``. 0 means the two
        most probable classes are equally probable; voxels whose
        probabilities are all 0 (outside a mask) get 0 too.

    Raises
    ------
    ValueError
        For fewer than two classes or a ``cap`` that is not positive.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim < 1 or probabilities.shape[-1] < 2:
        raise ValueError(f"Certainty needs the probabilities of at least two classes; got shape {probabilities.shape}.")
    if not cap > 0:
        raise ValueError(f"cap must be a positive number of powers of ten, got {cap}.")
    two_best = np.partition(probabilities, -2, axis=-1)[..., -2:].astype(np.float64)
    second, best = two_best[..., 0], two_best[..., 1]
    # A second best of 0 (or below the smallest float) means "more than cap powers of ten".
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log10(best) - np.log10(second)
    certainty = np.where(best > 0, np.clip(np.nan_to_num(ratio, nan=0.0, posinf=cap), 0.0, cap), 0.0)
    return certainty.astype(np.float32)
