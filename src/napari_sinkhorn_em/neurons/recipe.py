"""Neurons of a NeuroPAL stack: the recipe, how many to fit, clean-up, a table per neuron, matching.

The NeuroPAL workflow fits one Gaussian per neuron to the positions (µm) and
colours of the foreground voxels of a *C. elegans* head; the argmax component
of each voxel becomes its label (0 = background, label k = component k − 1).

* :func:`segment_neurons` -- the whole recipe in one call: the foreground
  (:func:`nuclei_foreground` of the pan-neuronal channel), the number of
  neurons, the fit (a :class:`~napari_sinkhorn_em.segmentation.Segmenter` on
  colour and position), clean labels and the neuron table, returned as a
  :class:`NeuronSegmentation`.

The steps are also available one by one, to turn any label image into what a
NeuroPAL user works with:

* :func:`suggest_n_neurons` -- how many neurons (components) to ask for, from
  the foreground volume; :func:`check_n_neurons` -- whether that many can be
  fitted to the foreground at all.
* :func:`clean_instances` -- one connected body per neuron: detached pieces go
  to the neuron they touch or are dropped, specks are dropped. Surviving
  labels keep their numbers.
* :func:`neuron_table` -- one row per neuron: centre and position covariance
  in µm, volume, mean colour, mean confidence; :func:`write_neuron_table`
  writes it as CSV and :func:`napari_features` shapes it for a napari Labels
  layer. :func:`model_position_covariances` reads the fitted Gaussians'
  position covariances (µm²) from a :class:`~napari_sinkhorn_em.segmentation.Segmenter`.
* :func:`match_neurons` -- compares two segmentations of the same stack (EM
  against Sinkhorn-EM, or a prediction against a ground truth) neuron by
  neuron: matched, split, merged, moved, missing and extra, with a label
  image of the categories for display and a table of them
  (:meth:`NeuronMatch.category_table`); :func:`match_centres` pairs two sets
  of centres (e.g. annotated neuron positions) one to one within a distance.

Physical positions follow napari's convention for a layer with ``scale``:
the voxel of index ``(i, j, k)`` sits at ``(i, j, k) * scale`` (its centre),
so a centre in µm divided by ``scale`` is a (fractional) voxel index.

Nothing here needs Qt or napari.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from skimage import measure

from ..features import extract_features
from ..image_files import atomic_write
from ..features import otsu_foreground
from ..segmentation import Segmenter

__all__ = [
    "CATEGORY_CODES",
    "COLOUR_STRETCH_PERCENTILES",
    "DEFAULT_NEURON_MAX_ITER",
    "DEFAULT_NUCLEUS_RADIUS_UM",
    "MAX_FIT_VOXELS",
    "MIN_VOXELS_PER_NEURON",
    "NEURON_INIT",
    "PART_FRACTION",
    "CleanedInstances",
    "NeuronMatch",
    "NeuronSegmentation",
    "check_n_neurons",
    "clean_instances",
    "match_centres",
    "match_neurons",
    "model_position_covariances",
    "napari_features",
    "neuron_table",
    "nuclei_foreground",
    "segment_neurons",
    "suggest_n_neurons",
    "write_neuron_table",
]

#: Typical radius (µm) of a *C. elegans* head neuron's nucleus, used by :func:`suggest_n_neurons`.
DEFAULT_NUCLEUS_RADIUS_UM = 1.4

#: Fewest voxels a neuron needs for its Gaussian to have a covariance (:func:`check_n_neurons`);
#: also the default smallest neuron kept by :func:`clean_instances`.
MIN_VOXELS_PER_NEURON = 10

#: Share of a neuron another segmentation's neuron must take to count as a part of a split or merge.
PART_FRACTION = 0.25

#: Codes of :meth:`NeuronMatch.disagreement_image` (0 is background).
CATEGORY_CODES = {"matched": 1, "split": 2, "merged": 3, "moved": 4, "unmatched": 5}

_AXIS_NAMES = {2: ("y", "x"), 3: ("z", "y", "x")}
_INT64_MAX = np.iinfo(np.int64).max


# ---------------------------------------------------------------------------
# Checks shared by the entry points
# ---------------------------------------------------------------------------


def _check_labels(labels: Any, name: str = "labels") -> np.ndarray:
    """``labels`` as a 2-D or 3-D array of non-negative integers (bool becomes uint8)."""
    array = np.asarray(labels)
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be an integer label image (0 = background, one whole number per neuron); "
            f"got values of type {array.dtype}. If they are whole numbers, convert them first, "
            f"e.g. {name}.astype(np.uint16)."
        )
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be a 2-D (y, x) or 3-D (z, y, x) label image; got {array.ndim} axes "
            f"(shape {array.shape}). Give one time point and no channel axis."
        )
    if array.size == 0:
        raise ValueError(f"{name} of shape {array.shape} contains no voxels.")
    if array.dtype.kind == "i" and array.min() < 0:
        raise ValueError(f"{name} must not be negative (0 is background); found the label {int(array.min())}.")
    if array.dtype == np.uint64 and int(array.max()) > _INT64_MAX:
        raise ValueError(f"{name} holds a label above 2**63 - 1 ({int(array.max())}); renumber the labels.")
    return array


def _check_scale(scale: Any, ndim: int, what: str = "labels") -> tuple[float, ...]:
    """``scale`` as ``ndim`` positive voxel sizes in µm."""
    axes = ", ".join(_AXIS_NAMES.get(ndim, ()))
    try:
        values = np.asarray(scale, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be {ndim} voxel sizes in µm ({axes}); got {scale!r}.") from None
    if scale is None or values.size != ndim:
        raise ValueError(
            f"scale must give one voxel size in µm per axis of the {ndim}-D {what} ({ndim} values: {axes}, "
            f"e.g. {(0.75, 0.3, 0.3)[-ndim:]}); got {scale!r}."
        )
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"Every voxel size in scale must be a positive number of µm; got {tuple(values.tolist())}.")
    return tuple(float(value) for value in values)


def _check_count(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}; got {value!r}.")
    return int(value)


def _check_number(value: Any, name: str, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float between ``low`` and ``high``; a clear error otherwise."""
    number = math.nan
    if not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real):
        number = float(value)
    above_low = number > low if low_open else number >= low
    if not (above_low and number <= high):
        bound = f"{'above' if low_open else 'at least'} {low:g}"
        if high != math.inf:
            bound += f" and at most {high:g}"
        raise ValueError(f"{name} must be a number {bound}; got {value!r}.")
    return number


def _check_same_shape(array: np.ndarray, labels: np.ndarray, name: str) -> None:
    if array.shape != labels.shape:
        raise ValueError(
            f"{name} must cover the same voxels as the labels: its shape {array.shape} differs from the "
            f"labels' {labels.shape}."
        )


# ---------------------------------------------------------------------------
# How many neurons
# ---------------------------------------------------------------------------


def suggest_n_neurons(
    foreground: Any, scale: Sequence[float], nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM
) -> int:
    """Suggest how many neurons (mixture components) to fit to a foreground.

    The rule: the foreground volume divided by the volume of one typical
    nucleus, a sphere of radius ``nucleus_radius_um``,

        K = round(n_foreground_voxels * prod(scale) / (4/3 π r³)),

    and at least 1. For a 2-D foreground the area is divided by the area of
    the nucleus's cross-section, π r². The estimate assumes that the
    foreground is mostly nuclei; a mask that also holds processes or
    autofluorescence suggests too many.

    Parameters
    ----------
    foreground : array_like
        2-D or 3-D image, True (non-zero) on the foreground voxels, e.g. a
        threshold of the pan-neuronal channel or a label image.
    scale : sequence of float
        Voxel size in µm along each axis (z, y, x).
    nucleus_radius_um : float, default DEFAULT_NUCLEUS_RADIUS_UM
        Radius of a typical nucleus in µm (1.4 µm for head neurons).

    Returns
    -------
    int
        The suggested number of neurons, at least 1.

    Raises
    ------
    ValueError
        If the foreground is not a 2-D or 3-D image of numbers, is empty,
        ``scale`` does not give one positive size per axis, or the radius
        is not positive.
    """
    foreground = np.asarray(foreground)
    if foreground.ndim not in (2, 3) or foreground.dtype.kind not in "biuf":
        raise ValueError(
            f"The foreground must be a 2-D or 3-D True/False image; got shape {foreground.shape} "
            f"and values of type {foreground.dtype}."
        )
    scale = _check_scale(scale, foreground.ndim, "foreground")
    radius = _check_number(nucleus_radius_um, "nucleus_radius_um", low=0.0, low_open=True)
    n_voxels = int(np.count_nonzero(foreground))
    if n_voxels == 0:
        raise ValueError("The foreground is empty: no voxel is marked, so there are no neurons to count.")
    nucleus = 4.0 / 3.0 * math.pi * radius**3 if foreground.ndim == 3 else math.pi * radius**2
    return max(1, int(math.floor(n_voxels * math.prod(scale) / nucleus + 0.5)))


def check_n_neurons(n_neurons: int, n_foreground_voxels: int) -> int:
    """Check that ``n_neurons`` Gaussians can be fitted to the foreground voxels.

    Each neuron's Gaussian needs about :data:`MIN_VOXELS_PER_NEURON` (10)
    voxels for its position and colour covariance, so at most
    ``n_foreground_voxels // 10`` neurons can be fitted.

    Parameters
    ----------
    n_neurons : int
        The number of neurons (components) asked for.
    n_foreground_voxels : int
        How many voxels the foreground holds.

    Returns
    -------
    int
        ``n_neurons``, when it fits.

    Raises
    ------
    ValueError
        If ``n_neurons`` is not a whole number of at least 1, or the
        foreground is too small for that many neurons.
    """
    n_neurons = _check_count(n_neurons, "The number of neurons", minimum=1)
    n_foreground_voxels = _check_count(n_foreground_voxels, "The number of foreground voxels", minimum=0)
    most = n_foreground_voxels // MIN_VOXELS_PER_NEURON
    if n_neurons > most:
        raise ValueError(
            f"{n_neurons} neurons cannot be fitted to {n_foreground_voxels:,} foreground voxels: each neuron "
            f"needs at least {MIN_VOXELS_PER_NEURON} voxels to estimate its shape, so at most {most:,} "
            f"neuron{'' if most == 1 else 's'} fit. Ask for fewer neurons, or widen the foreground "
            f"(e.g. a lower threshold on the pan-neuronal channel)."
        )
    return n_neurons


# ---------------------------------------------------------------------------
# One connected body per neuron
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CleanedInstances:
    """The result of :func:`clean_instances`.

    Attributes
    ----------
    labels : numpy.ndarray
        The cleaned label image (same shape and type as the input; surviving
        labels keep their numbers).
    pieces_reassigned : int
        Detached pieces given to the neighbouring neuron they touch most.
    voxels_reassigned : int
        Voxels in those pieces.
    pieces_dropped : int
        Detached pieces that touch no other neuron, set to background.
    voxels_dropped : int
        Voxels that were labelled and are background now (dropped pieces and
        neurons smaller than ``min_voxels``).
    small_labels_dropped : tuple of int
        Labels removed because fewer than ``min_voxels`` voxels remained.
    """

    labels: np.ndarray
    pieces_reassigned: int
    voxels_reassigned: int
    pieces_dropped: int
    voxels_dropped: int
    small_labels_dropped: tuple[int, ...]

    def summary(self) -> str:
        """One sentence saying what the clean-up changed."""
        if not (self.pieces_reassigned or self.pieces_dropped or self.small_labels_dropped):
            return "Every neuron was already one connected body; nothing changed."
        shown = ", ".join(str(label) for label in self.small_labels_dropped[:10])
        more = ", ..." if len(self.small_labels_dropped) > 10 else ""
        return (
            f"Gave {self.pieces_reassigned} detached piece(s) ({self.voxels_reassigned} voxels) to the neuron "
            f"they touch, dropped {self.pieces_dropped} piece(s) touching no other neuron and "
            f"{len(self.small_labels_dropped)} neuron(s) too small to keep"
            + (f" (labels {shown}{more})" if shown else "")
            + f"; {self.voxels_dropped} voxels became background."
        )


def _face_pairs(ndim: int):
    """Slice pairs (here, neighbour) over every face direction of an ``ndim``-D array."""
    for axis in range(ndim):
        low = [slice(None)] * ndim
        high = [slice(None)] * ndim
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        yield tuple(low), tuple(high)
        yield tuple(high), tuple(low)


def _most_touched_labels(piece_image: np.ndarray, body_image: np.ndarray, n_regions: int) -> np.ndarray:
    """For every region id, the body label sharing most faces with it (0 if none; ties: smaller label)."""
    pieces, neighbours = [], []
    for here, there in _face_pairs(piece_image.ndim):
        piece, neighbour = piece_image[here], body_image[there]
        touching = (piece > 0) & (neighbour > 0)
        pieces.append(piece[touching])
        neighbours.append(neighbour[touching].astype(np.int64))
    piece, neighbour = np.concatenate(pieces), np.concatenate(neighbours)
    best = np.zeros(n_regions + 1, dtype=np.int64)
    if piece.size == 0:
        return best
    order = np.lexsort((neighbour, piece))
    piece, neighbour = piece[order], neighbour[order]
    starts = np.flatnonzero(np.r_[True, (piece[1:] != piece[:-1]) | (neighbour[1:] != neighbour[:-1])])
    pair_piece, pair_neighbour = piece[starts], neighbour[starts]
    pair_faces = np.diff(np.r_[starts, piece.size])
    # Per piece: most shared faces first, then the smaller label.
    order = np.lexsort((pair_neighbour, -pair_faces, pair_piece))
    first = np.r_[True, pair_piece[order][1:] != pair_piece[order][:-1]]
    best[pair_piece[order][first]] = pair_neighbour[order][first]
    return best


def clean_instances(labels: Any, *, min_voxels: int = MIN_VOXELS_PER_NEURON) -> CleanedInstances:
    """Make every neuron one connected body, and drop specks.

    1. Each label's voxels are split into face-connected pieces (6
       neighbours in 3-D, 4 in 2-D); the largest piece is the neuron's main
       body (on a tie, the first in scan order).
    2. Every other piece is given to the label whose main body shares the
       most voxel faces with it (on a tie, the smaller label), so it joins
       that body and stays connected; a piece touching no other main body
       becomes background (0).
    3. Labels left with fewer than ``min_voxels`` voxels become background.

    Surviving labels are **not renumbered**: label k stays k, so it still
    belongs to mixture component k − 1 and to the same row of a neuron
    table. After the clean-up every label is one face-connected body.

    The work is one connected-component pass over the whole image
    (:func:`skimage.measure.label`, which separates touching labels) and a
    few array operations, whatever the number of labels.

    Parameters
    ----------
    labels : array_like of int
        2-D or 3-D label image (0 = background).
    min_voxels : int, default MIN_VOXELS_PER_NEURON
        Smallest neuron kept, in voxels; 0 or 1 keeps all.

    Returns
    -------
    CleanedInstances
        The cleaned labels and how many pieces and voxels moved or went.

    Raises
    ------
    ValueError
        If ``labels`` is not a 2-D or 3-D image of non-negative integers, or
        ``min_voxels`` is not a whole number of at least 0.
    """
    labels = _check_labels(labels)
    min_voxels = _check_count(min_voxels, "min_voxels", minimum=0)
    regions, n_regions = measure.label(labels, background=0, connectivity=1, return_num=True)
    flat_regions = regions.ravel()
    region_label = np.zeros(n_regions + 1, dtype=np.int64)
    region_label[flat_regions] = labels.ravel()
    region_size = np.bincount(flat_regions, minlength=n_regions + 1)
    ids = np.arange(n_regions + 1)
    # Main body of each label: the largest region, the first in scan order on a tie.
    order = np.lexsort((ids[1:], -region_size[1:], region_label[1:])) + 1
    first_of_label = np.r_[True, region_label[order][1:] != region_label[order][:-1]]
    is_body = np.zeros(n_regions + 1, dtype=bool)
    is_body[order[first_of_label]] = True
    is_piece = ~is_body
    is_piece[0] = False
    body_label = np.where(is_body, region_label, 0)
    touched = _most_touched_labels(np.where(is_piece, ids, 0)[regions], body_label[regions], n_regions)
    new_label = np.where(is_piece, touched, body_label)
    reassigned = is_piece & (touched > 0)
    # Neurons smaller than min_voxels after the reassignment.
    present, inverse = np.unique(new_label[1:], return_inverse=True)
    sizes = np.bincount(inverse, weights=region_size[1:], minlength=present.size)
    small = present[(present > 0) & (sizes < min_voxels)]
    new_label[np.isin(new_label, small)] = 0
    cleaned = new_label.astype(labels.dtype)[regions]
    return CleanedInstances(
        labels=cleaned,
        pieces_reassigned=int(np.count_nonzero(reassigned)),
        voxels_reassigned=int(region_size[reassigned].sum()),
        pieces_dropped=int(np.count_nonzero(is_piece & (touched == 0))),
        voxels_dropped=int(np.count_nonzero(labels) - np.count_nonzero(cleaned)),
        small_labels_dropped=tuple(int(label) for label in small),
    )


# ---------------------------------------------------------------------------
# Per-neuron measurements
# ---------------------------------------------------------------------------


def _dense_index(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``values`` (sorted, int64) and each value's position among them."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.intp)
    largest = int(values.max())
    if largest <= max(4 * values.size, 1 << 16):
        values = values.astype(np.intp, copy=False)
        present = np.flatnonzero(np.bincount(values, minlength=largest + 1)).astype(np.int64)
        lookup = np.zeros(largest + 1, dtype=np.intp)
        lookup[present] = np.arange(present.size)
        return present, lookup[values]
    present, inverse = np.unique(values, return_inverse=True)
    return present.astype(np.int64), inverse.reshape(-1)


@dataclass(frozen=True)
class _Voxels:
    """The labelled voxels of an image, grouped by neuron."""

    neurons: np.ndarray  # label values present, sorted (int64)
    index: tuple[np.ndarray, ...]  # voxel indices of the labelled voxels, one array per axis
    row: np.ndarray  # each labelled voxel's neuron (position in ``neurons``)
    counts: np.ndarray  # voxels per neuron
    centres_um: np.ndarray  # (n_neurons, ndim), index * scale averaged


def _group_voxels(labels: np.ndarray, scale: tuple[float, ...]) -> _Voxels:
    flat = labels.reshape(-1)
    foreground = np.flatnonzero(flat)
    neurons, row = _dense_index(flat[foreground])
    index = np.unravel_index(foreground, labels.shape)
    counts = np.bincount(row, minlength=neurons.size)
    centres = np.empty((neurons.size, labels.ndim))
    for axis, voxel_size in enumerate(scale):
        centres[:, axis] = np.bincount(row, weights=index[axis], minlength=neurons.size) * voxel_size
    if neurons.size:
        centres /= counts[:, None]
    return _Voxels(neurons, index, row, counts, centres)


def _position_covariances(voxels: _Voxels, scale: tuple[float, ...]) -> np.ndarray:
    """Sample covariance (divisor n − 1, as numpy.cov) of each neuron's voxel positions in µm²."""
    n_neurons, ndim = voxels.centres_um.shape
    offsets = [voxels.index[axis] * scale[axis] - voxels.centres_um[voxels.row, axis] for axis in range(ndim)]
    covariances = np.empty((n_neurons, ndim, ndim))
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(ndim):
            for j in range(i, ndim):
                sums = np.bincount(voxels.row, weights=offsets[i] * offsets[j], minlength=n_neurons)
                covariances[:, i, j] = covariances[:, j, i] = np.where(
                    voxels.counts > 1, sums / (voxels.counts - 1), np.nan
                )
    return covariances


def _covariance_columns(covariances: np.ndarray, prefix: str, axes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The unique entries of (n, d, d) covariances as columns ``{prefix}c{a}{b}_um2``."""
    return {
        f"{prefix}c{axes[i]}{axes[j]}_um2": covariances[:, i, j]
        for i in range(len(axes))
        for j in range(i, len(axes))
    }


def _channels_first(image: Any, channel_axis: Any, labels: np.ndarray) -> np.ndarray:
    """The image with its channels on a leading axis (one channel: a leading axis of length 1)."""
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ValueError(f"The image must hold numbers; got values of type {image.dtype}.")
    if channel_axis is None:
        _check_same_shape(image, labels, "The image (channel_axis=None: one channel)")
        return image[np.newaxis]
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, numbers.Integral):
        raise ValueError(f"channel_axis must be an axis index (such as 0) or None; got {channel_axis!r}.")
    if not -image.ndim <= channel_axis < image.ndim:
        raise ValueError(
            f"channel_axis={channel_axis} is out of range for an image with {image.ndim} axes (shape {image.shape})."
        )
    image = np.moveaxis(image, int(channel_axis), 0)
    _check_same_shape(image[0], labels, f"The image without its channel axis {channel_axis}")
    return image


def _colour_columns(
    image: np.ndarray, voxels: _Voxels, colour_channels: Any, channel_names: Any
) -> dict[str, np.ndarray]:
    """Mean intensity per neuron of each colour channel, as columns ``mean_<channel name>``."""
    n_channels = image.shape[0]
    if channel_names is None:
        channel_names = [f"channel_{channel}" for channel in range(n_channels)]
    channel_names = [str(name) for name in channel_names]
    if len(channel_names) != n_channels:
        raise ValueError(f"channel_names must give one name per channel ({n_channels}); got {len(channel_names)}.")
    channels = range(n_channels) if colour_channels is None else np.atleast_1d(colour_channels).tolist()
    columns = {}
    for channel in channels:
        is_index = isinstance(channel, numbers.Integral) and not isinstance(channel, bool)
        if not is_index or not -n_channels <= channel < n_channels:
            raise ValueError(
                f"colour_channels must be channel indices from 0 to {n_channels - 1}; got {colour_channels!r}."
            )
        sums = np.bincount(voxels.row, weights=image[channel][voxels.index], minlength=voxels.neurons.size)
        columns[f"mean_{channel_names[channel]}"] = sums / np.maximum(voxels.counts, 1)
    return columns


def _mean_confidence(confidence: Any, labels: np.ndarray, voxels: _Voxels) -> np.ndarray:
    """The mean of a per-voxel confidence over each neuron."""
    confidence = np.asarray(confidence)
    _check_same_shape(confidence, labels, "confidence")
    if confidence.dtype.kind not in "biuf":
        raise ValueError(f"confidence must hold numbers; got values of type {confidence.dtype}.")
    sums = np.bincount(voxels.row, weights=confidence[voxels.index], minlength=voxels.neurons.size)
    return sums / np.maximum(voxels.counts, 1)


def _model_covariance_columns(covariances: Any, neurons: np.ndarray, axes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The fitted components' position covariances for each neuron (label k: component k − 1)."""
    ndim = len(axes)
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariances.ndim == 2 and covariances.shape[1] == ndim:
        covariances = covariances[:, :, None] * np.eye(ndim)
    if covariances.ndim != 3 or covariances.shape[1:] != (ndim, ndim):
        raise ValueError(
            f"covariances must be the components' position covariances in µm², shaped (n_components, {ndim}, "
            f"{ndim}) (or (n_components, {ndim}) for diagonal ones); got shape {covariances.shape}."
        )
    if neurons.size and neurons[-1] > covariances.shape[0]:
        raise ValueError(
            f"The labels go up to {int(neurons[-1])} but covariances holds {covariances.shape[0]} components; "
            f"label k is component k - 1, so there must be at least as many components as the largest label."
        )
    return _covariance_columns(covariances[neurons - 1], "model_", axes)


def neuron_table(
    labels: Any,
    image: Any,
    *,
    channel_axis: int | None,
    scale: Sequence[float],
    colour_channels: Sequence[int] | None = None,
    channel_names: Sequence[str] | None = None,
    confidence: Any = None,
    covariances: Any = None,
) -> dict[str, np.ndarray]:
    """One row per neuron: centre, size, mean colour and shape, in µm.

    Parameters
    ----------
    labels : array_like of int
        2-D or 3-D label image (0 = background); every label present gets a
        row, in increasing order.
    image : array_like
        The image the neurons were found in, with the labels' spatial shape
        and optionally a channel axis.
    channel_axis : int or None
        Axis of ``image`` holding the channels; None for one channel.
    scale : sequence of float
        Voxel size in µm along each spatial axis (z, y, x), as given to the
        napari layers.
    colour_channels : sequence of int, optional
        Channels whose mean intensity is tabulated (e.g. ``(0, 1, 2)`` for
        the three NeuroPAL colours); None tabulates every channel.
    channel_names : sequence of str, optional
        One name per channel of ``image`` for the column names (e.g.
        :data:`~napari_sinkhorn_em.data.NEUROPAL_CHANNEL_NAMES`); None names
        them ``channel_0``, ``channel_1``, ...
    confidence : array_like, optional
        A per-voxel confidence of the labels' spatial shape (e.g.
        :func:`~napari_sinkhorn_em.segmentation.label_certainty`); its mean per
        neuron becomes a column.
    covariances : array_like, optional
        The fitted components' position covariances in µm², shape (K, d, d)
        or (K, d) diagonal, row k − 1 for label k (e.g.
        :func:`model_position_covariances`); tabulated next to the voxels'.

    Returns
    -------
    dict of str to numpy.ndarray
        Columns of equal length, units in their names (3-D; 2-D drops z):
        ``label``; ``z_um``, ``y_um``, ``x_um``: the mean voxel position,
        index times ``scale`` (napari's world coordinates of a layer with
        that scale); ``n_voxels``; ``volume_um3`` (``area_um2`` in 2-D);
        ``mean_<channel>``: mean intensity per colour channel;
        ``czz_um2``, ``czy_um2``, ``czx_um2``, ``cyy_um2``, ``cyx_um2``,
        ``cxx_um2``: the sample covariance (divisor n − 1, as
        :func:`numpy.cov`) of the voxel positions, NaN for a one-voxel
        neuron; ``mean_confidence`` with ``confidence``;
        ``model_czz_um2``, ... with ``covariances``.

    Raises
    ------
    ValueError
        If the labels are not a 2-D or 3-D integer image, the image,
        confidence or covariances do not fit them, ``scale`` does not give
        one positive size per axis, or a channel index is out of range.
    """
    labels = _check_labels(labels)
    scale = _check_scale(scale, labels.ndim)
    channels = _channels_first(image, channel_axis, labels)
    axes = _AXIS_NAMES[labels.ndim]
    voxels = _group_voxels(labels, scale)
    table: dict[str, np.ndarray] = {"label": voxels.neurons}
    table.update({f"{axis}_um": voxels.centres_um[:, position] for position, axis in enumerate(axes)})
    table["n_voxels"] = voxels.counts.astype(np.int64)
    table["volume_um3" if labels.ndim == 3 else "area_um2"] = voxels.counts * math.prod(scale)
    table.update(_colour_columns(channels, voxels, colour_channels, channel_names))
    table.update(_covariance_columns(_position_covariances(voxels, scale), "", axes))
    if confidence is not None:
        table["mean_confidence"] = _mean_confidence(confidence, labels, voxels)
    if covariances is not None:
        table.update(_model_covariance_columns(covariances, voxels.neurons, axes))
    return table


def model_position_covariances(segmenter: Any) -> np.ndarray:
    """The fitted Gaussians' position covariances in µm², one per component.

    For a :class:`~napari_sinkhorn_em.segmentation.Segmenter` fitted with
    ``coordinates=True``: the position block of each component's covariance
    (the last d feature columns, z, y, x), undone from the feature scaling
    and from ``coordinate_weight``, so that it is in µm². Row k − 1 belongs
    to label k; pass it as ``covariances=`` to :func:`neuron_table`.

    Parameters
    ----------
    segmenter : Segmenter
        A fitted segmenter whose features include the positions.

    Returns
    -------
    numpy.ndarray
        Shape (n_components, d, d), d = 3 for a 3-D image (2 for 2-D).

    Raises
    ------
    ValueError
        If the segmenter is not fitted or has no position features.
    """
    mixture, recipe = getattr(segmenter, "mixture_", None), getattr(segmenter, "recipe_", None)
    if mixture is None or recipe is None:
        raise ValueError("The segmenter is not fitted yet; fit it before reading its neurons' covariances.")
    weight = float(recipe.get("coordinate_weight", 0.0))
    if not recipe.get("coordinates") or weight <= 0:
        raise ValueError(
            "The segmenter was fitted without the voxel positions as features (coordinates=False or "
            "coordinate_weight=0), so its components have no position covariance."
        )
    ndim = len(segmenter.scale_)
    n_features = len(segmenter.feature_names_)
    columns = np.arange(n_features - ndim, n_features)
    spread = np.asarray(segmenter.scaling_.scale, dtype=np.float64)[columns] / weight
    stored = np.asarray(mixture.covariances_, dtype=np.float64)
    if mixture.covariance_type == "full":
        block = stored[:, columns[:, None], columns[None, :]]
    elif mixture.covariance_type == "diag":
        block = stored[:, columns][:, :, None] * np.eye(ndim)
    else:
        block = stored.reshape(-1, 1, 1) * np.eye(ndim)
    return block * spread[:, None] * spread[None, :]


def napari_features(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The table as a napari Labels layer's ``features``.

    napari finds the row of label value v through an ``index`` column
    (without one, row v would have to describe label v, with row 0 for the
    background); this adds it, equal to ``label``.

    Parameters
    ----------
    table : dict of str to numpy.ndarray
        A :func:`neuron_table`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"index": table["label"], **table}``.
    """
    if "label" not in table:
        raise ValueError("The table has no 'label' column; give the output of neuron_table.")
    return {"index": np.asarray(table["label"]), **table}


def _csv_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(int(value))
    return str(value)


def write_neuron_table(table: dict[str, Any], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a neuron table as CSV: a header of column names, one row per neuron.

    Numbers are written in full precision (floats so that they read back
    exactly); NaN becomes an empty cell. The file appears only once
    completely written (:func:`~napari_sinkhorn_em.image_files.atomic_write`).

    Parameters
    ----------
    table : dict of str to array_like
        Columns of equal length, e.g. from :func:`neuron_table` (units are in
        the column names: ``z_um``, ``volume_um3``, ``czz_um2``...).
    path : str or path-like
        The CSV file to write; its folder must exist.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the table is empty or its columns are not 1-D of one length.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    if not table:
        raise ValueError("The table has no columns to write.")
    columns = {str(name): np.asarray(values) for name, values in table.items()}
    lengths = {name: values.shape for name, values in columns.items()}
    n_rows = next(iter(columns.values())).shape[:1]
    if any(len(shape) != 1 or shape[:1] != n_rows for shape in lengths.values()):
        raise ValueError(f"Every column must be a 1-D array of the same length; got shapes {lengths}.")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in zip(*columns.values()):
        writer.writerow([_csv_cell(value) for value in row])
    path = Path(path)
    with atomic_write(path, overwrite=overwrite) as file:
        file.write(text.getvalue().encode("utf-8"))
    return path


# ---------------------------------------------------------------------------
# Comparing two segmentations neuron by neuron
# ---------------------------------------------------------------------------


def match_centres(
    centres_a: Any, centres_b: Any, *, max_distance_um: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair two sets of centres one to one, as many as possible within a distance.

    The Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
    first makes as many pairs closer than ``max_distance_um`` as it can, and
    among those pairings the one of smallest total distance.

    Parameters
    ----------
    centres_a, centres_b : array_like
        Positions in µm, shapes (n_a, d) and (n_b, d) (e.g. the ``z_um``,
        ``y_um``, ``x_um`` columns of two neuron tables, or annotated
        neuron positions).
    max_distance_um : float
        Largest distance of a pair, in µm (inclusive).

    Returns
    -------
    index_a, index_b : numpy.ndarray
        Row numbers of the paired centres in ``centres_a`` and ``centres_b``.
    distance_um : numpy.ndarray
        The distance of each pair.

    Raises
    ------
    ValueError
        If the centres are not 2-D arrays of the same width, or the distance
        is negative.
    """
    a = np.asarray(centres_a, dtype=np.float64)
    b = np.asarray(centres_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"The centres must be two tables of positions with the same number of axes, shaped (n, d); "
            f"got shapes {a.shape} and {b.shape}."
        )
    limit = _check_number(max_distance_um, "max_distance_um", low=0.0)
    empty = np.zeros(0, dtype=np.intp)
    if not (len(a) and len(b)):
        return empty, empty, np.zeros(0)
    distance = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))
    within = distance <= limit
    # A pair beyond the limit costs more than all pairs within it together.
    too_far = (limit + 1.0) * (min(len(a), len(b)) + 1)
    rows, columns = linear_sum_assignment(np.where(within, distance, too_far))
    keep = within[rows, columns]
    return rows[keep], columns[keep], distance[rows[keep], columns[keep]]


@dataclass(frozen=True, eq=False)
class NeuronMatch:
    """Two segmentations of one stack compared neuron by neuron (:func:`match_neurons`).

    Every neuron of A falls in one category, tried in this order: *split*
    (two or more neurons of B each hold at least ``part_fraction`` of its
    voxels), *merged* (it holds at least ``part_fraction`` of a neuron of B
    that two or more neurons of A share that way), *matched* (paired with a
    neuron of B by the Hungarian algorithm on IoU, at IoU ≥ ``min_iou``),
    *moved* (paired by centre distance, within ``centre_distance_um``, with
    a neuron of B left over) or *missing*. Neurons of B likewise: *merged*
    (the neuron that holds two of A), *split* (a part of a split neuron of
    A), *matched*, *moved* or *extra*.

    Scores and views: ``n_matched`` and ``counts`` (properties),
    ``labels_by_category(side)``, ``disagreement_image(side)`` (a label
    image of the categories for napari), ``fraction_centres_found(within_um)``
    and ``summary()``.

    Attributes
    ----------
    labels_a, labels_b : numpy.ndarray
        The two label images.
    neurons_a, neurons_b : numpy.ndarray
        The labels present in each, sorted.
    centres_a_um, centres_b_um : numpy.ndarray
        Their centres in µm (mean voxel index times ``scale``), one row per
        entry of ``neurons_a`` / ``neurons_b``.
    category_a, category_b : numpy.ndarray
        Each neuron's category as a :data:`CATEGORY_CODES` code (5 =
        missing for A, extra for B).
    matched_pairs : numpy.ndarray
        (n_matched, 2) labels (a, b) of the matched pairs.
    matched_iou : numpy.ndarray
        Their IoU.
    split : dict of int to tuple of int
        Each split neuron of A and the neurons of B it is split into.
    merged : dict of int to tuple of int
        Each merging neuron of B and the neurons of A it holds.
    moved_pairs : numpy.ndarray
        (n_moved, 2) labels (a, b) of the pairs matched by centre distance.
    moved_distance_um : numpy.ndarray
        Their centre distance.
    min_iou, centre_distance_um, part_fraction : float
        The settings used.
    """

    labels_a: np.ndarray = field(repr=False)
    labels_b: np.ndarray = field(repr=False)
    neurons_a: np.ndarray
    neurons_b: np.ndarray
    centres_a_um: np.ndarray = field(repr=False)
    centres_b_um: np.ndarray = field(repr=False)
    category_a: np.ndarray = field(repr=False)
    category_b: np.ndarray = field(repr=False)
    matched_pairs: np.ndarray
    matched_iou: np.ndarray
    split: dict[int, tuple[int, ...]]
    merged: dict[int, tuple[int, ...]]
    moved_pairs: np.ndarray
    moved_distance_um: np.ndarray
    min_iou: float
    centre_distance_um: float
    part_fraction: float

    @property
    def n_matched(self) -> int:
        """Neurons of A matched one to one (IoU ≥ ``min_iou``): a score, higher is better."""
        return int(len(self.matched_pairs))

    @property
    def counts(self) -> dict[str, int]:
        """Neurons of A per category (``matched``, ``split``, ``merged``, ``moved``, ``missing``) and of B ``extra``.

        The A counts add up to ``len(neurons_a)``.
        """
        codes = CATEGORY_CODES
        counts = {name: int(np.count_nonzero(self.category_a == codes[name])) for name in list(codes)[:4]}
        counts["missing"] = int(np.count_nonzero(self.category_a == codes["unmatched"]))
        counts["extra"] = int(np.count_nonzero(self.category_b == codes["unmatched"]))
        return counts

    def labels_by_category(self, side: str = "a") -> dict[str, np.ndarray]:
        """The labels of A (``side="a"``) or B (``"b"``) in each category.

        Returns
        -------
        dict of str to numpy.ndarray
            Keys ``matched``, ``split``, ``merged``, ``moved`` and
            ``missing`` (A) or ``extra`` (B).
        """
        neurons, categories = self._side(side)
        last = "missing" if side == "a" else "extra"
        return {
            (last if name == "unmatched" else name): neurons[categories == code]
            for name, code in CATEGORY_CODES.items()
        }

    def disagreement_image(self, side: str = "a") -> np.ndarray:
        """The voxels of A's (or B's) neurons coloured by category, for display.

        Returns
        -------
        numpy.ndarray of uint8
            The labels' shape: 0 background, 1 matched, 2 split, 3 merged,
            4 moved, 5 unmatched (missing in A, extra in B), as
            :data:`CATEGORY_CODES`.
        """
        neurons, categories = self._side(side)
        labels = self.labels_a if side == "a" else self.labels_b
        image = np.zeros(labels.shape, dtype=np.uint8)
        foreground = labels > 0
        image[foreground] = categories[np.searchsorted(neurons, labels[foreground])]
        return image

    def fraction_centres_found(self, within_um: float | None = None) -> float:
        """Share of A's neurons whose centre has a centre of B within ``within_um`` µm.

        Centres are paired one to one (:func:`match_centres`), whatever the
        categories; None uses ``centre_distance_um``. NaN when A has no neurons.
        """
        within = self.centre_distance_um if within_um is None else within_um
        if not len(self.neurons_a):
            return math.nan
        found, _, _ = match_centres(self.centres_a_um, self.centres_b_um, max_distance_um=within)
        return len(found) / len(self.neurons_a)

    def summary(self) -> str:
        """One sentence with the counts."""
        counts = self.counts
        return (
            f"Of {len(self.neurons_a)} neurons in A, {counts['matched']} matched, {counts['split']} split, "
            f"{counts['merged']} merged, {counts['moved']} moved and {counts['missing']} missing; "
            f"{counts['extra']} of B's {len(self.neurons_b)} neurons have no counterpart."
        )

    def category_table(self, names: tuple[str, str] = ("A", "B")) -> dict[str, np.ndarray]:
        """One row per neuron of A, then of B: its category and its counterparts.

        Parameters
        ----------
        names : tuple of str, default ("A", "B")
            What to call the two segmentations in the ``segmentation``
            column, e.g. ``("EM", "Sinkhorn-EM")``.

        Returns
        -------
        dict of str to numpy.ndarray
            Columns for :func:`write_neuron_table`: ``segmentation``;
            ``label``; ``category`` (``matched``, ``split``, ``merged``,
            ``moved``, and ``missing`` for A or ``extra`` for B);
            ``counterparts``: the other segmentation's labels it is matched,
            moved, split or merged with, separated by spaces; ``iou`` of a
            matched pair (NaN otherwise); ``distance_um`` between the
            centres of a moved pair (NaN otherwise); and the centre
            ``z_um``, ``y_um``, ``x_um`` (``y_um``, ``x_um`` in 2-D).
        """
        partners: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})
        iou: tuple[dict[int, float], dict[int, float]] = ({}, {})
        distance: tuple[dict[int, float], dict[int, float]] = ({}, {})
        for pairs, values, store in ((self.matched_pairs, self.matched_iou, iou),
                                     (self.moved_pairs, self.moved_distance_um, distance)):
            for (a, b), value in zip(pairs.tolist(), values.tolist()):
                partners[0].setdefault(a, []).append(b)
                partners[1].setdefault(b, []).append(a)
                store[0][a] = store[1][b] = value
        for whole, (own, other) in ((self.split, (0, 1)), (self.merged, (1, 0))):
            for label, pieces in whole.items():
                partners[own].setdefault(label, []).extend(pieces)
                for piece in pieces:
                    partners[other].setdefault(piece, []).append(label)
        names_by_code = {code: name for name, code in CATEGORY_CODES.items()}
        columns: dict[str, list] = {"segmentation": [], "label": [], "category": [], "counterparts": [],
                                    "iou": [], "distance_um": []}
        for side, (neurons, categories) in enumerate((self._side("a"), self._side("b"))):
            last = "missing" if side == 0 else "extra"
            for label, code in zip(neurons.tolist(), categories.tolist()):
                columns["segmentation"].append(names[side])
                columns["label"].append(label)
                columns["category"].append(last if names_by_code[code] == "unmatched" else names_by_code[code])
                columns["counterparts"].append(" ".join(map(str, sorted(set(partners[side].get(label, []))))))
                columns["iou"].append(iou[side].get(label, math.nan))
                columns["distance_um"].append(distance[side].get(label, math.nan))
        table = {name: np.asarray(values) for name, values in columns.items()}
        table["label"] = table["label"].astype(np.int64).reshape(-1)
        for name in ("iou", "distance_um"):
            table[name] = table[name].astype(np.float64).reshape(-1)
        centres = np.vstack([self.centres_a_um, self.centres_b_um])
        for position, axis in enumerate(_AXIS_NAMES[self.labels_a.ndim]):
            table[f"{axis}_um"] = centres[:, position]
        return table

    def _side(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        if side == "a":
            return self.neurons_a, self.category_a
        if side == "b":
            return self.neurons_b, self.category_b
        raise ValueError(f"side must be 'a' or 'b'; got {side!r}.")


def _overlap_table(voxels_a: _Voxels, labels_b: np.ndarray, neurons_b: np.ndarray) -> np.ndarray:
    """Voxels shared by every neuron of A (rows) and of B (columns)."""
    b_values = labels_b[voxels_a.index]
    shared = b_values > 0
    rows = voxels_a.row[shared]
    columns = np.searchsorted(neurons_b, b_values[shared])
    n_a, n_b = voxels_a.neurons.size, neurons_b.size
    return np.bincount(rows * n_b + columns, minlength=n_a * n_b).reshape(n_a, n_b)


def _categorise(overlap, size_a, size_b, centres_a, centres_b, settings) -> dict[str, Any]:
    """Split and merge relations, then IoU pairs, then centre pairs, on the neurons still free."""
    min_iou, centre_distance, part_fraction = settings
    part_of_a = (overlap > 0) & (overlap >= part_fraction * size_a[:, None])
    part_of_b = (overlap > 0) & (overlap >= part_fraction * size_b[None, :])
    is_split = part_of_a.sum(axis=1) >= 2
    is_merge = part_of_b.sum(axis=0) >= 2
    category_a = np.full(size_a.size, CATEGORY_CODES["unmatched"], dtype=np.uint8)
    category_b = np.full(size_b.size, CATEGORY_CODES["unmatched"], dtype=np.uint8)
    category_a[(part_of_b & is_merge[None, :]).any(axis=1)] = CATEGORY_CODES["merged"]
    category_a[is_split] = CATEGORY_CODES["split"]
    category_b[(part_of_a & is_split[:, None]).any(axis=0)] = CATEGORY_CODES["split"]
    category_b[is_merge] = CATEGORY_CODES["merged"]
    free_a = np.flatnonzero(category_a == CATEGORY_CODES["unmatched"])
    free_b = np.flatnonzero(category_b == CATEGORY_CODES["unmatched"])
    iou = overlap[np.ix_(free_a, free_b)] / (
        size_a[free_a, None] + size_b[None, free_b] - overlap[np.ix_(free_a, free_b)]
    )
    rows, columns = linear_sum_assignment(iou, maximize=True)
    good = iou[rows, columns] >= min_iou
    matched = (free_a[rows[good]], free_b[columns[good]], iou[rows[good], columns[good]])
    category_a[matched[0]] = category_b[matched[1]] = CATEGORY_CODES["matched"]
    free_a = np.flatnonzero(category_a == CATEGORY_CODES["unmatched"])
    free_b = np.flatnonzero(category_b == CATEGORY_CODES["unmatched"])
    rows, columns, distance = match_centres(centres_a[free_a], centres_b[free_b], max_distance_um=centre_distance)
    moved = (free_a[rows], free_b[columns], distance)
    category_a[moved[0]] = category_b[moved[1]] = CATEGORY_CODES["moved"]
    return {
        "category_a": category_a,
        "category_b": category_b,
        "matched": matched,
        "moved": moved,
        "split": {row: np.flatnonzero(part_of_a[row]) for row in np.flatnonzero(is_split)},
        "merged": {column: np.flatnonzero(part_of_b[:, column]) for column in np.flatnonzero(is_merge)},
    }


def _neuron_match(labels_a, labels_b, voxels_a: _Voxels, voxels_b: _Voxels, found: dict, settings) -> NeuronMatch:
    """The :class:`NeuronMatch` of :func:`_categorise`'s rows and columns, in label numbers."""
    neurons_a, neurons_b = voxels_a.neurons, voxels_b.neurons

    def pairs(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return np.stack([neurons_a[rows], neurons_b[columns]], axis=1).reshape(-1, 2)

    def named(parts: dict, own: np.ndarray, other: np.ndarray) -> dict[int, tuple[int, ...]]:
        return {int(own[key]): tuple(int(label) for label in other[value]) for key, value in parts.items()}

    return NeuronMatch(
        labels_a=labels_a,
        labels_b=labels_b,
        neurons_a=neurons_a,
        neurons_b=neurons_b,
        centres_a_um=voxels_a.centres_um,
        centres_b_um=voxels_b.centres_um,
        category_a=found["category_a"],
        category_b=found["category_b"],
        matched_pairs=pairs(*found["matched"][:2]),
        matched_iou=np.asarray(found["matched"][2], dtype=np.float64),
        split=named(found["split"], neurons_a, neurons_b),
        merged=named(found["merged"], neurons_b, neurons_a),
        moved_pairs=pairs(*found["moved"][:2]),
        moved_distance_um=np.asarray(found["moved"][2], dtype=np.float64),
        min_iou=settings[0],
        centre_distance_um=settings[1],
        part_fraction=settings[2],
    )


def match_neurons(
    labels_a: Any,
    labels_b: Any,
    *,
    scale: Sequence[float],
    min_iou: float = 0.5,
    centre_distance_um: float = 3.0,
    part_fraction: float = PART_FRACTION,
) -> NeuronMatch:
    """Compare two instance segmentations of one stack, neuron by neuron.

    With ``overlap(a, b)`` the voxels neurons a (of A) and b (of B) share,
    each neuron of A gets the first category that applies:

    1. **split**: at least two neurons b each hold ``overlap(a, b) ≥
       part_fraction × |a|``;
    2. **merged**: a holds ``overlap(a, b) ≥ part_fraction × |b|`` of a
       neuron b of which at least two neurons of A hold that much;
    3. **matched**: the Hungarian algorithm on IoU = overlap / union, among
       the neurons of A and B not split or merged, pairs a with b at IoU ≥
       ``min_iou``;
    4. **moved**: among the neurons still unpaired, the Hungarian algorithm
       on centre distance (:func:`match_centres`) pairs a with b within
       ``centre_distance_um`` (whatever their overlap: same neuron, shifted
       or reshaped);
    5. **missing** (unmatched) otherwise.

    Neurons of B get the mirror categories (merged: holds two of A; split:
    a part of a split neuron of A; matched; moved; extra), so swapping A and
    B swaps split and merged.

    Parameters
    ----------
    labels_a, labels_b : array_like of int
        Two label images of the same shape (0 = background), e.g. EM's and
        Sinkhorn-EM's, or a prediction (A) and a ground truth (B).
    scale : sequence of float
        Voxel size in µm along each axis (z, y, x).
    min_iou : float, default 0.5
        Smallest IoU of a match, above 0 and at most 1.
    centre_distance_um : float, default 3.0
        Largest centre distance of a moved pair, in µm.
    part_fraction : float, default PART_FRACTION
        Share of a neuron that counts as a part of a split or merge, above
        0 and at most 0.5.

    Returns
    -------
    NeuronMatch
        Categories, pairs, counts, a category image and centre scores.

    Raises
    ------
    ValueError
        If the label images are not integer 2-D or 3-D images of one shape,
        ``scale`` does not give one positive size per axis, or a setting is
        out of range.
    """
    labels_a, labels_b = _check_labels(labels_a, "labels_a"), _check_labels(labels_b, "labels_b")
    if labels_a.shape != labels_b.shape:
        raise ValueError(
            f"The two label images must cover the same voxels; got shapes {labels_a.shape} and {labels_b.shape}."
        )
    scale = _check_scale(scale, labels_a.ndim)
    settings = (
        _check_number(min_iou, "min_iou", low=0.0, high=1.0, low_open=True),
        _check_number(centre_distance_um, "centre_distance_um", low=0.0),
        _check_number(part_fraction, "part_fraction", low=0.0, high=0.5, low_open=True),
    )
    voxels_a, voxels_b = _group_voxels(labels_a, scale), _group_voxels(labels_b, scale)
    overlap = _overlap_table(voxels_a, labels_b, voxels_b.neurons)
    found = _categorise(overlap, voxels_a.counts, voxels_b.counts, voxels_a.centres_um, voxels_b.centres_um, settings)
    return _neuron_match(labels_a, labels_b, voxels_a, voxels_b, found, settings)


# ---------------------------------------------------------------------------
# The neurons recipe: from a NeuroPAL stack to one label and one row per neuron
# ---------------------------------------------------------------------------

#: Most foreground voxels :func:`segment_neurons` fits on; a larger foreground is subsampled.
MAX_FIT_VOXELS = 500_000

#: Default cap on the iterations of the mixture's main fit in :func:`segment_neurons`.
DEFAULT_NEURON_MAX_ITER = 300
#: How :func:`segment_neurons` starts its mixture: from k-means (k-means++ seeds, then Lloyd's
#: iterations). On the 200-neuron heads of docs/evidence.md (section 6) the default method matched
#: 175 neurons from it (range 174-176 over 6 fits) against 171 (167-176) from k-means++ seeds alone.
NEURON_INIT = "kmeans"

#: Percentiles over the neurons between which :meth:`NeuronSegmentation.colours_rgb` stretches each channel.
COLOUR_STRETCH_PERCENTILES = (2.0, 98.0)


@dataclass(frozen=True, eq=False)
class NeuronSegmentation:
    """The result of :func:`segment_neurons`: one label and one table row per neuron.

    Attributes
    ----------
    labels : numpy.ndarray
        The cleaned instance labels (:func:`clean_instances`), uint16 (uint32
        above 65,535 neurons), 0 = background; label k is mixture component
        k − 1 of ``segmenter``. Labels dropped by the clean-up leave gaps.
    table : dict of str to numpy.ndarray
        :func:`neuron_table` of ``labels``: centre, volume, mean colour and
        position covariance in µm, ``mean_confidence`` (the mean posterior
        probability of each voxel's fitted component) and the fitted
        Gaussians' position covariances (``model_czz_um2``, ...).
    segmenter : Segmenter
        The fitted :class:`~napari_sinkhorn_em.segmentation.Segmenter`: intensity
        of the colour channels plus the voxel positions in µm.
    foreground : numpy.ndarray
        The boolean mask the neurons were fitted in.
    n_neurons : int
        The number of components K fitted.
    suggested_n_neurons : int
        :func:`suggest_n_neurons` of ``foreground`` (K when none was given).
    cleanup : CleanedInstances
        What :func:`clean_instances` changed.
    scale : tuple of float
        Voxel size in µm (z, y, x) used for positions (ones when none was given).
    colour_channels : tuple of int
        The image channels used as colours, in the order given.
    pan_neuronal_channel : int or None
        The pan-neuronal channel (not a feature; it made the default mask).
    colour_columns : tuple of str
        The table's ``mean_<channel>`` columns of ``colour_channels``, in order.
    nucleus_radius_um : float
        The nucleus radius the number of neurons and the position weight came from.
    """

    labels: np.ndarray = field(repr=False)
    table: dict[str, np.ndarray] = field(repr=False)
    segmenter: Any
    foreground: np.ndarray = field(repr=False)
    n_neurons: int
    suggested_n_neurons: int
    cleanup: CleanedInstances = field(repr=False)
    scale: tuple[float, ...]
    colour_channels: tuple[int, ...] = ()
    pan_neuronal_channel: int | None = None
    colour_columns: tuple[str, ...] = ()
    nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM

    def centres_um(self) -> np.ndarray:
        """The neurons' centres in µm, shape (n, ndim), columns (z, y, x), rows as the table's.

        Divide by ``scale`` for voxel indices, e.g. the data of a napari
        Points layer shown with that ``scale``.
        """
        axes = _AXIS_NAMES[self.labels.ndim]
        return np.column_stack([np.asarray(self.table[f"{axis}_um"], dtype=np.float64) for axis in axes]).reshape(
            -1, len(axes)
        )

    def colours_rgb(self) -> np.ndarray:
        """Each neuron's mean colour as red, green, blue in [0, 1], e.g. a Points layer's ``face_color``.

        Red, green and blue are the first three of ``colour_channels`` in
        the order given (a missing third stays 0). Each is stretched from
        its 2nd to its 98th percentile over the neurons
        (:data:`COLOUR_STRETCH_PERCENTILES`), so the camera offset turns
        black and the brightest neurons saturate, and clipped to [0, 1].
        For NeuroPAL channels in :data:`~napari_sinkhorn_em.data.NEUROPAL_CHANNEL_NAMES`
        order (mTagBFP2, CyOFP1, mNeptune2.5, pan-neuronal), give
        ``colour_channels=(2, 1, 0)`` to get NeuroPAL's own colours:
        mNeptune2.5 red, CyOFP1 green, mTagBFP2 blue.

        Returns
        -------
        numpy.ndarray
            float64, shape (n_neurons, 3), rows as the table's.
        """
        n_rows = len(self.table["label"])
        rgb = np.zeros((n_rows, 3))
        low_percentile, high_percentile = COLOUR_STRETCH_PERCENTILES
        for position, column in enumerate(self.colour_columns[:3] if n_rows else ()):
            values = np.asarray(self.table[column], dtype=np.float64)
            low, high = np.percentile(values, [low_percentile, high_percentile])
            rgb[:, position] = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else 1.0
        return rgb

    def summary(self) -> str:
        """One sentence on what was found, for a biologist.

        E.g. ``"Found 196 neurons in 32,447 foreground voxels (200 fitted, as
        suggested by the foreground volume at a nucleus radius of 1.4 µm; 4
        came out empty or too small), median volume 11.2 µm³, median
        confidence 0.98."``
        """
        n_found = len(self.table["label"])
        three_d = self.labels.ndim == 3
        in_voxels = all(value == 1.0 for value in self.scale)
        length = "voxels" if in_voxels else "µm"
        radius = f" at a nucleus radius of {self.nucleus_radius_um:g} {length}"
        if self.n_neurons == self.suggested_n_neurons:
            fitted = f"{self.n_neurons} fitted, as suggested by the foreground volume{radius}"
        else:
            fitted = f"{self.n_neurons} fitted; the foreground volume suggests {self.suggested_n_neurons}{radius}"
        lost = self.n_neurons - n_found
        if lost:
            fitted += f"; {lost} came out empty or too small"
        details = ""
        if n_found:
            sizes = np.asarray(self.table["volume_um3" if three_d else "area_um2"], dtype=np.float64)
            unit = ("voxels" if three_d else "pixels") if in_voxels else ("µm³" if three_d else "µm²")
            details = f", median {'volume' if three_d else 'area'} {np.median(sizes):.3g} {unit}"
            if "mean_confidence" in self.table:
                details += f", median confidence {np.median(self.table['mean_confidence']):.2f}"
        n_foreground = np.count_nonzero(self.foreground)
        return f"Found {n_found} neurons in {n_foreground:,} foreground voxels ({fitted}){details}."


def _spatial_ndim(image: np.ndarray, channel_axis: Any) -> int:
    if image.dtype.kind not in "biuf":
        raise ValueError(f"The image must hold numbers; got values of type {image.dtype}.")
    if channel_axis is not None:
        if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, numbers.Integral):
            raise ValueError(f"channel_axis must be an axis index (such as 0) or None; got {channel_axis!r}.")
        if not -image.ndim <= channel_axis < image.ndim:
            raise ValueError(
                f"channel_axis={channel_axis} does not exist: the image has {image.ndim} axes "
                f"(shape {image.shape}), numbered 0 to {image.ndim - 1}."
            )
    ndim = image.ndim - (channel_axis is not None)
    if ndim not in (2, 3):
        hint = " If one axis holds the channels, give it as channel_axis." if channel_axis is None else ""
        raise ValueError(
            f"Neurons are found in a 3-D (z, y, x) or 2-D (y, x) image with an optional channel axis; "
            f"this image of shape {image.shape} has {ndim} axes besides the channels.{hint}"
        )
    return ndim


def _channel_index(value: Any, n_channels: int, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a channel index (a whole number); got {value!r}.")
    if not -n_channels <= value < n_channels:
        raise ValueError(
            f"{name}={value} does not exist: the image has {n_channels} channel(s), numbered 0 to {n_channels - 1}."
        )
    return int(value) % n_channels


def _neuron_channels(
    n_channels: int, colour_channels: Any, pan_neuronal_channel: Any
) -> tuple[tuple[int, ...], int | None]:
    """The colour channels and the pan-neuronal channel (None: none) of the recipe."""
    if pan_neuronal_channel is False:
        pan = None
    elif pan_neuronal_channel is None:
        pan = n_channels - 1 if n_channels >= 4 else None
    else:
        pan = _channel_index(pan_neuronal_channel, n_channels, "pan_neuronal_channel")
    if colour_channels is None:
        colours = tuple(channel for channel in range(n_channels) if channel != pan)
    else:
        given = np.atleast_1d(colour_channels).tolist()
        colours = tuple(_channel_index(channel, n_channels, "colour_channels") for channel in given)
        if len(set(colours)) != len(colours) or not colours:
            raise ValueError(f"colour_channels must name one or more distinct channels; got {colour_channels!r}.")
    if not colours:
        raise ValueError(
            f"The image has only the pan-neuronal channel ({pan}); with one channel give "
            f"pan_neuronal_channel=False to use it as the colour too."
        )
    return colours, pan


def _recipe_scale(scale: Any, ndim: int) -> tuple[float, ...]:
    """``scale`` as voxel sizes in µm; ones, with a warning, when none is given for a 3-D stack."""
    if scale is not None:
        scale = _check_scale(scale, ndim, "image")
    if ndim == 3 and (scale is None or all(value == 1.0 for value in scale)):
        warnings.warn(
            "No voxel size was given (scale is "
            + ("None" if scale is None else "1 along every axis")
            + "), so neuron positions, sizes and the nucleus radius are taken in voxels, and z steps count "
            "as much as pixels; give the voxel size in µm as scale=(z, y, x), e.g. (0.75, 0.3, 0.3).",
            UserWarning,
            stacklevel=3,
        )
    return (1.0,) * ndim if scale is None else scale


def nuclei_foreground(image: Any, *, channel_axis: int | None = None, channel: int = 0) -> np.ndarray:
    """The voxels inside nuclei: brighter than halfway from the background to a typical nucleus.

    Otsu's threshold (:func:`~napari_sinkhorn_em.features.masks.otsu_foreground`)
    separates the nuclei from the background but, on a blurred recording,
    also takes the halo around every nucleus: on the synthetic NeuroPAL
    heads its foreground is about 1.6 times the nuclei's volume, so
    :func:`suggest_n_neurons` of it suggests 60 % too many neurons. Here the
    threshold is the half-maximum instead,

        background + (peak - background) / 2,

    with ``background`` the median of the voxels below Otsu's threshold and
    ``peak`` the median, over the local maxima above it (of the image
    smoothed by one voxel, in 3 x 3 x 3 windows, 3 x 3 in 2-D), of the voxels' values:
    the half-maximum contour of a blurred nucleus lies near its true edge.
    On those heads it holds 0.9-1 times the nuclei's volume (about 85 % of
    the nuclei's voxels, 90 % of it inside nuclei).

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None, default None
        Index of the channel axis; None for a single channel.
    channel : int, default 0
        The channel thresholded, e.g. the pan-neuronal channel (3 in
        :data:`~napari_sinkhorn_em.data.NEUROPAL_CHANNEL_NAMES` order).

    Returns
    -------
    numpy.ndarray of bool
        The image's spatial shape, True inside the nuclei.

    Raises
    ------
    ValueError
        For a uniform image, NaN or infinite values, or a channel that does
        not exist.
    """
    image = np.asarray(image)
    above_otsu = otsu_foreground(image, channel_axis=channel_axis, channel=channel)
    values = (image if channel_axis is None else np.take(image, channel, axis=channel_axis)).astype(np.float64)
    background = float(np.median(values[~above_otsu]))
    smooth = ndimage.gaussian_filter(values, 1.0)
    peaks = (smooth == ndimage.maximum_filter(smooth, size=3)) & above_otsu
    if not peaks.any():
        return above_otsu
    peak = float(np.median(values[peaks]))
    return values > background + 0.5 * (peak - background)


def _recipe_foreground(channels: np.ndarray, pan: int | None, mask: Any) -> np.ndarray:
    """The mask given, or the :func:`nuclei_foreground` of the pan-neuronal channel (of the channel sum without one)."""
    spatial_shape = channels.shape[1:]
    if mask is None:
        reference = channels[pan] if pan is not None else channels.sum(axis=0, dtype=np.float64)
        return nuclei_foreground(reference)
    mask = np.asarray(mask)
    if mask.shape != spatial_shape or mask.dtype.kind not in "biu":
        raise ValueError(
            f"mask must be a True/False image of the image's spatial shape {spatial_shape}; got shape "
            f"{mask.shape} and values of type {mask.dtype}."
        )
    return mask.astype(bool)


def _fit_neurons(segmenter: Segmenter, colour_image: np.ndarray, scale, foreground, progress):
    """Fit ``segmenter`` to the colour channels (channels first) in the foreground; labels and confidence.

    The confidence of a voxel is the posterior probability of the component
    it is given, from the mixture's :meth:`predict_with_confidence
    <napari_sinkhorn_em.mixture.GaussianMixture.predict_with_confidence>` on
    the same standardised features (0 outside the foreground).
    """
    if colour_image.shape[0] == 1:
        colour_image, channel_axis = colour_image[0], None
    else:
        channel_axis = 0
    segmenter.fit(colour_image, channel_axis=channel_axis, scale=scale, mask=foreground, progress=progress)
    labels = segmenter.predict(colour_image, channel_axis=channel_axis, scale=scale, mask=foreground, progress=progress)
    recipe = segmenter.recipe_
    stack = extract_features(
        colour_image,
        channel_axis=channel_axis,
        scale=scale,
        features=[tuple(entry) for entry in recipe["features"]],
        coordinates=recipe["coordinates"],
        coordinate_weight=recipe["coordinate_weight"],
        mask=foreground,
        standardize=segmenter.scaling_,
    )
    _, probability = segmenter.mixture_.predict_with_confidence(stack.data)
    confidence = np.zeros(foreground.shape, dtype=np.float32)
    confidence[foreground] = probability
    return labels, confidence


def segment_neurons(
    image: Any,
    *,
    channel_axis: int | None,
    scale: Sequence[float] | None,
    n_neurons: int | None = None,
    colour_channels: Sequence[int] | None = None,
    pan_neuronal_channel: int | bool | None = None,
    mask: Any = None,
    nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM,
    method: str | None = None,
    random_state: int | None = 0,
    max_iter: int = DEFAULT_NEURON_MAX_ITER,
    progress: Callable[[str, float], None] | None = None,
    coordinate_weight: float | None = None,
    channel_names: Sequence[str] | None = None,
    min_voxels: int = MIN_VOXELS_PER_NEURON,
) -> NeuronSegmentation:
    """Find the neurons of a NeuroPAL stack: one Gaussian per neuron over position and colour.

    The recipe:

    1. **Foreground**: ``mask``, or the nuclei of the pan-neuronal channel (of
       the sum of the channels when there is none): :func:`nuclei_foreground`,
       the half-maximum between the background and the typical nucleus peak,
       so that the blurred halo around each nucleus stays out.
    2. **How many**: ``n_neurons``, or :func:`suggest_n_neurons` of the
       foreground at ``nucleus_radius_um``; :func:`check_n_neurons` refuses
       more than one neuron per 10 foreground voxels.
    3. **Features** of each foreground voxel: the intensity of each colour
       channel, standardised (median / interquartile range over the
       foreground), and its position in µm (``index * scale``) times
       ``coordinate_weight``, by default ``1 / nucleus_radius_um``, so that
       one nucleus radius counts as much as one colour IQR. The
       pan-neuronal channel is not a feature (every neuron is bright in it).
    4. **Fit**: a :class:`~napari_sinkhorn_em.segmentation.Segmenter` with K
       full-covariance Gaussians started from k-means (:data:`NEURON_INIT`),
       on every foreground voxel (a random
       :data:`MAX_FIT_VOXELS` of them when there are more).
    5. **Labels**: each foreground voxel gets its most probable component
       (label k = component k − 1), then :func:`clean_instances` makes each
       neuron one connected body and drops specks below ``min_voxels``.
    6. **Table**: :func:`neuron_table` of the cleaned labels with the mean
       confidence and the fitted Gaussians' position covariances
       (:func:`model_position_covariances`).

    Parameters
    ----------
    image : array_like
        3-D (z, y, x) stack, or a 2-D image, with an optional channel axis,
        e.g. a NeuroPAL recording (mTagBFP2, CyOFP1, mNeptune2.5, pan-neuronal).
    channel_axis : int or None
        Axis of ``image`` holding the channels; None for one channel.
    scale : sequence of float or None
        Voxel size in µm per spatial axis (z, y, x). None measures in
        voxels; on a 3-D stack, None or all ones gives a UserWarning: the
        nucleus radius and the table are then in voxels and z counts as
        much as y and x.
    n_neurons : int, optional
        The number of neurons K to fit; None uses the suggested number.
    colour_channels : sequence of int, optional
        The channels used as colour features and tabulated; None: every
        channel but the pan-neuronal one. Their order is the order of
        :meth:`NeuronSegmentation.colours_rgb` (red, green, blue).
    pan_neuronal_channel : int, False or None, optional
        The channel marking every neuron's nucleus, used for the default
        mask. None: the last channel of an image with 4 or more channels
        (NeuroPAL's order), else none; False: there is none.
    mask : array_like of bool, optional
        The foreground to fit, of the image's spatial shape.
    nucleus_radius_um : float, default DEFAULT_NUCLEUS_RADIUS_UM
        Typical nucleus radius in µm (1.4 for head neurons).
    method : {"sinkhorn_start", "em", "sinkhorn"} or None, optional
        How the mixture is fitted (:data:`~napari_sinkhorn_em.segmentation.METHODS`);
        None: the pipeline's default.
    random_state : int or None, default 0
        Seed of the start (and of the subsample); the same seed gives the
        same labels.
    max_iter : int, default DEFAULT_NEURON_MAX_ITER
        Most iterations of the mixture's main fit.
    progress : callable, optional
        Called as ``progress(stage, fraction)`` with the stages of
        :meth:`Segmenter.fit <napari_sinkhorn_em.segmentation.Segmenter.fit>` and
        ``"assign"``; an exception raised in it stops the run.
    coordinate_weight : float, optional
        Weight of the positions in µm; None: ``1 / nucleus_radius_um``.
    channel_names : sequence of str, optional
        One name per channel for the table's columns (e.g.
        :data:`~napari_sinkhorn_em.data.NEUROPAL_CHANNEL_NAMES`); None:
        ``channel_0``, ``channel_1``, ...
    min_voxels : int, default MIN_VOXELS_PER_NEURON
        Smallest neuron kept by the clean-up, in voxels.

    Returns
    -------
    NeuronSegmentation
        Labels, table, the fitted segmenter, the foreground and the numbers
        used.

    Raises
    ------
    ValueError
        If the image is not a 2-D or 3-D image with an optional channel
        axis, a channel or the mask does not fit it, the foreground is
        empty or too small for ``n_neurons`` (the sentence of
        :func:`check_n_neurons`), or a setting is out of range.
    """
    image = np.asarray(image)
    ndim = _spatial_ndim(image, channel_axis)
    channels = image[np.newaxis] if channel_axis is None else np.moveaxis(image, int(channel_axis), 0)
    colours, pan = _neuron_channels(channels.shape[0], colour_channels, pan_neuronal_channel)
    scale = _recipe_scale(scale, ndim)
    radius = _check_number(nucleus_radius_um, "nucleus_radius_um", low=0.0, low_open=True)
    weight = 1.0 / radius if coordinate_weight is None else _check_number(
        coordinate_weight, "coordinate_weight", low=0.0, low_open=True
    )
    foreground = _recipe_foreground(channels, pan, mask)
    suggested = suggest_n_neurons(foreground, scale, radius)
    n_components = check_n_neurons(suggested if n_neurons is None else n_neurons, int(np.count_nonzero(foreground)))
    segmenter = Segmenter(
        n_components,
        method=method,
        features="intensity",
        coordinates=True,
        coordinate_weight=weight,
        sample_size=None if np.count_nonzero(foreground) <= MAX_FIT_VOXELS else MAX_FIT_VOXELS,
        random_state=random_state,
        max_iter=max_iter,
        init=NEURON_INIT,
    )
    fitted, confidence = _fit_neurons(segmenter, channels[list(colours)], scale, foreground, progress)
    label_type = np.uint16 if n_components <= np.iinfo(np.uint16).max else np.uint32
    cleanup = clean_instances(fitted.astype(label_type), min_voxels=min_voxels)
    table = neuron_table(
        cleanup.labels,
        channels,
        channel_axis=0,
        scale=scale,
        colour_channels=colours,
        channel_names=channel_names,
        confidence=confidence,
        covariances=model_position_covariances(segmenter),
    )
    names = [f"channel_{c}" for c in range(channels.shape[0])] if channel_names is None else list(channel_names)
    return NeuronSegmentation(
        labels=cleanup.labels,
        table=table,
        segmenter=segmenter,
        foreground=foreground,
        n_neurons=n_components,
        suggested_n_neurons=suggested,
        cleanup=cleanup,
        scale=scale,
        colour_channels=colours,
        pan_neuronal_channel=pan,
        colour_columns=tuple(f"mean_{names[c]}" for c in colours),
        nucleus_radius_um=radius,
    )
