"""Where the neurons are before any fit: the bright spots of the pan-neuronal channel.

Every nucleus is a bright blob in the pan-neuronal channel. Its centre is a
local maximum of the channel filtered by a Laplacian of Gaussian (LoG) of
about half a nucleus radius, which answers most to blobs of that size and
keeps two touching nuclei apart (a plain Gaussian blur merges them).
:func:`find_neuron_peaks` finds those maxima inside the foreground, at least
one nucleus radius apart; :func:`peak_starting_means` turns them into the
starting means of the neurons' mixture, in the mixture's feature space.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from .._validation import check_random_state
from ..features import FeatureStack
from ._checks import check_number, check_scale_um
from .counting import DEFAULT_NUCLEUS_RADIUS_UM, MIN_VOXELS_PER_NEURON, suggest_n_neurons

#: Width of the Laplacian of Gaussian of :func:`find_neuron_peaks`, as a fraction of the nucleus
#: radius. On the 200-neuron heads of docs/evidence.md (section 6) 0.4-0.5 found a peak within
#: 1.5 µm of each of the 200 centres and nothing else; the blob-matched width 1/√3 (0.58) merged
#: touching nuclei into 196 and 200 peaks, 0.7 into 184 and 192, and 0.3 found 203 on one head.
PEAK_SIGMA_FACTOR = 0.5
#: Smallest distance between two peaks of :func:`find_neuron_peaks`, as a fraction of the nucleus
#: radius: a peak is the largest value within this distance (at least one voxel along every axis).
#: On the same heads 0.5-1.0 gave the same 200 peaks; 1.25 lost 5 on one head.
PEAK_DISTANCE_FACTOR = 1.0
# A peak's filtered value must exceed this fraction of the largest: flat stretches, whose filtered
# values are round-off and kernel truncation, give none.
_MIN_RELATIVE_RESPONSE = 1e-3


def _neighbourhood(distance_um: float, scale: tuple[float, ...]) -> np.ndarray:
    """The ellipsoid of voxels within ``distance_um``, at least one voxel along every axis."""
    semi_axes = [max(1.0, distance_um / size) for size in scale]
    grids = np.meshgrid(*[np.arange(-int(k), int(k) + 1) / k for k in semi_axes], indexing="ij")
    return sum(grid**2 for grid in grids) <= 1.0


def _largest_within(values: np.ndarray, candidates: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Where ``candidates`` hold the largest of ``values`` over ``footprint`` (edges repeated), as a mask.

    The same as ``values == maximum_filter(values, footprint=footprint, mode="nearest")`` on the
    candidates, but the footprint is only visited around the few candidates that are the largest of
    their face neighbours (which every footprint here holds): seconds become a fraction of one on a head.
    """
    cross = ndimage.generate_binary_structure(values.ndim, 1)
    candidates = candidates & (values == ndimage.maximum_filter(values, footprint=cross, mode="nearest"))
    at = np.argwhere(candidates)
    offsets = np.argwhere(footprint) - np.array(footprint.shape) // 2
    top = np.array(values.shape) - 1
    keep = np.zeros(len(at), dtype=bool)
    for start in range(0, len(at), 1024):
        block = at[start:start + 1024]
        around = np.clip(block[:, None, :] + offsets[None], 0, top)
        keep[start:start + 1024] = values[tuple(block.T)] >= values[tuple(np.moveaxis(around, -1, 0))].max(axis=1)
    result = np.zeros(values.shape, dtype=bool)
    result[tuple(at[keep].T)] = True
    return result


def _checked_image(image: Any, foreground: Any) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(image)
    if values.ndim not in (2, 3) or values.dtype.kind not in "biuf" or values.size == 0:
        raise ValueError(
            f"Peaks are found in one 2-D or 3-D channel of numbers, e.g. the pan-neuronal channel; got shape "
            f"{values.shape} and values of type {values.dtype}. Give one channel of one time point."
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("The image holds NaN or infinite values; replace them (e.g. np.nan_to_num) first.")
    mask = np.asarray(foreground)
    if mask.shape != values.shape or mask.dtype.kind not in "biu":
        raise ValueError(
            f"foreground must be a True/False image of the image's shape {values.shape}; got shape {mask.shape} "
            f"and values of type {mask.dtype}."
        )
    return values, mask.astype(bool)


def find_neuron_peaks(
    image: Any, foreground: Any, scale: Sequence[float], nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM
) -> np.ndarray:
    """The centres of the bright blobs of a channel inside a foreground, strongest first.

    The image is filtered by a negative Laplacian of Gaussian of width
    ``PEAK_SIGMA_FACTOR * nucleus_radius_um`` µm along every axis (so in
    voxels it follows the voxel size: fewer voxels along a coarse z). A
    voxel is a peak where the filtered image (of the image less its
    median) is above 0.1 % of its largest value, the largest
    within ``PEAK_DISTANCE_FACTOR * nucleus_radius_um`` µm (at least one
    voxel along every axis) and inside the foreground; of a plateau of equal
    maxima one voxel is kept.

    Parameters
    ----------
    image : array_like
        2-D or 3-D channel, e.g. the pan-neuronal channel of a NeuroPAL stack.
    foreground : array_like of bool
        The image's shape, True where neurons may be (e.g. :func:`nuclei_foreground`).
    scale : sequence of float
        Voxel size in µm along each axis (z, y, x).
    nucleus_radius_um : float, default DEFAULT_NUCLEUS_RADIUS_UM
        Typical nucleus radius in µm (1.4 for head neurons).

    Returns
    -------
    numpy.ndarray
        int64, shape (n_peaks, ndim): the voxel index of each peak, in
        decreasing order of the filtered image (ties in C order). Multiply
        by ``scale`` for positions in µm.

    Raises
    ------
    ValueError
        If the image is not one 2-D or 3-D channel of finite numbers, the
        foreground does not fit it, ``scale`` does not give one positive size
        per axis, or the radius is not positive.
    """
    values, mask = _checked_image(image, foreground)
    scale = check_scale_um(scale, values.ndim, "image")
    radius = check_number(nucleus_radius_um, "nucleus_radius_um", low=0.0, low_open=True)
    sigma = [PEAK_SIGMA_FACTOR * radius / size for size in scale]
    # Less the median, so that the truncated kernel's small sum does not turn a flat offset into a response.
    response = -ndimage.gaussian_laplace(values - np.median(values), sigma, mode="nearest")
    floor = _MIN_RELATIVE_RESPONSE * max(float(response.max()), 0.0)
    footprint = _neighbourhood(PEAK_DISTANCE_FACTOR * radius, scale)
    peaks = _largest_within(response, (response > floor) & mask, footprint)
    # Neighbouring peaks that see each other tie: one plateau, one peak.
    centre = np.array(footprint.shape) // 2
    core = footprint[tuple(slice(c - 1, c + 2) for c in centre)]
    plateaus, n_plateaus = ndimage.label(peaks, structure=core)
    flat = plateaus.ravel()
    first = np.flatnonzero(flat)
    keep = first[np.unique(flat[first], return_index=True)[1]] if n_plateaus else first
    strength = response.ravel()[keep]
    keep = keep[np.lexsort((keep, -strength))]
    return np.column_stack(np.unravel_index(keep, values.shape)).astype(np.int64).reshape(-1, values.ndim)


def suggest_n_neurons_from_peaks(
    image: Any, foreground: Any, scale: Sequence[float], nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM,
    *, peaks: Any = None,
) -> tuple[int, str]:
    """How many neurons :func:`segment_neurons` fits by default: one per bright spot of the foreground.

    The number of :func:`find_neuron_peaks`, at most one per
    :data:`MIN_VOXELS_PER_NEURON` foreground voxels; without any peak, the
    foreground volume's :func:`suggest_n_neurons`.

    Parameters
    ----------
    image : array_like
        2-D or 3-D channel, e.g. the pan-neuronal channel (the sum of the channels without one).
    foreground : array_like of bool
        The image's shape, True where neurons may be (e.g. :func:`pan_neuronal_foreground`).
    scale : sequence of float
        Voxel size in µm along each axis (z, y, x).
    nucleus_radius_um : float, default DEFAULT_NUCLEUS_RADIUS_UM
        Typical nucleus radius in µm.
    peaks : array_like, optional
        :func:`find_neuron_peaks` of these, when already found (not searched again).

    Returns
    -------
    n_neurons : int
        The suggested number, at least 1.
    suggested_by : {"peaks", "volume"}
        What gave it.

    Raises
    ------
    ValueError
        As :func:`find_neuron_peaks`, or for an empty foreground.
    """
    n_peaks = len(find_neuron_peaks(image, foreground, scale, nucleus_radius_um) if peaks is None else peaks)
    n_foreground = int(np.count_nonzero(foreground))
    if n_peaks:
        return min(n_peaks, max(1, n_foreground // MIN_VOXELS_PER_NEURON)), "peaks"
    return suggest_n_neurons(foreground, scale, nucleus_radius_um), "volume"


def peak_starting_means(
    features: FeatureStack, peaks: Any, n_components: int, random_state: Any = 0
) -> np.ndarray:
    """Starting means of a mixture: the feature rows of the first ``n_components`` peaks.

    Each peak's mean is its voxel's row of ``features`` (its standardised
    colour and its weighted position), so the means are in the space the
    mixture is fitted in when ``features`` was standardised like the fit's
    (the same voxels, ``standardize=True``: the median / IQR of the fit's
    rows, which are those same rows when the fit is not subsampled). With
    fewer peaks than components the other means are drawn as k-means++
    seeds would be: each a row drawn with probability proportional to its
    squared distance from the nearest mean so far.

    Parameters
    ----------
    features : FeatureStack
        :func:`~napari_sinkhorn_em.features.extract_features` of the
        foreground (its ``mask``), one row per foreground voxel in C order.
    peaks : array_like of int
        Voxel indices (n_peaks, ndim), e.g. :func:`find_neuron_peaks`, strongest first; every
        one inside the mask.
    n_components : int
        The number of means wanted.
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the extra means drawn when there are too few peaks.

    Returns
    -------
    numpy.ndarray
        float64, shape (n_components, n_features).

    Raises
    ------
    ValueError
        If the peaks are not voxel indices inside the mask, or there are
        fewer rows than ``n_components``.
    """
    spatial_shape = tuple(features.spatial_shape)
    mask = np.ones(spatial_shape, dtype=bool) if features.mask is None else np.asarray(features.mask, dtype=bool)
    at = np.asarray(peaks)
    if at.ndim != 2 or at.shape[1] != len(spatial_shape) or (at.size and at.dtype.kind not in "iu"):
        raise ValueError(f"peaks must be voxel indices of shape (n, {len(spatial_shape)}); got shape {at.shape}.")
    at = at.astype(np.int64)
    inside = np.all((at >= 0) & (at < np.asarray(spatial_shape)), axis=1)
    if not inside.all() or not mask[tuple(at.T)].all():
        raise ValueError("Every peak must be a voxel inside the features' mask; some lie outside it.")
    rows = features.data
    if not 1 <= n_components <= rows.shape[0]:
        raise ValueError(f"{n_components} means cannot be drawn from {rows.shape[0]} feature rows.")
    row_of = np.cumsum(mask.ravel()) - 1
    chosen = row_of[np.ravel_multi_index(tuple(at.T), spatial_shape)][:n_components] if len(at) else at[:0, 0]
    means = np.asarray(rows[chosen], dtype=np.float64)
    if len(means) < n_components:
        means = _more_means(np.asarray(rows, dtype=np.float64), means, n_components, check_random_state(random_state))
    return means


def _more_means(rows: np.ndarray, means: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray:
    """``means`` completed to ``n_components`` rows by k-means++ draws (the first uniform when there is none)."""
    chosen = list(means)
    if not chosen:
        chosen.append(rows[rng.integers(rows.shape[0])])
    nearest = np.full(rows.shape[0], np.inf)
    for mean in chosen:
        nearest = np.minimum(nearest, ((rows - mean) ** 2).sum(axis=1))
    while len(chosen) < n_components:
        total = nearest.sum()
        index = rng.choice(rows.shape[0], p=nearest / total) if total > 0 else rng.integers(rows.shape[0])
        chosen.append(rows[index])
        nearest = np.minimum(nearest, ((rows - rows[index]) ** 2).sum(axis=1))
    return np.array(chosen, dtype=np.float64)
