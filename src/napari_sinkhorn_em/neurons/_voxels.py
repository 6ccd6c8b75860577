"""The labelled voxels of an image grouped by neuron: what the table and the matching measure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
class Voxels:
    """The labelled voxels of an image, grouped by neuron."""

    neurons: np.ndarray  # label values present, sorted (int64)
    index: tuple[np.ndarray, ...]  # voxel indices of the labelled voxels, one array per axis
    row: np.ndarray  # each labelled voxel's neuron (position in ``neurons``)
    counts: np.ndarray  # voxels per neuron
    centres_um: np.ndarray  # (n_neurons, ndim), index * scale averaged


def group_voxels(labels: np.ndarray, scale: tuple[float, ...]) -> Voxels:
    """The labelled voxels of ``labels`` by neuron, with the neurons' centres at ``scale`` (µm).

    Parameters
    ----------
    labels : numpy.ndarray of int
        A checked label image (0 = background).
    scale : tuple of float
        Voxel size in µm per axis.

    Returns
    -------
    Voxels
    """
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
    return Voxels(neurons, index, row, counts, centres)
