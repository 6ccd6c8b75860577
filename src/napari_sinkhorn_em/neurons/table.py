"""One row per neuron: centre, size, mean colour and shape in µm; as CSV and as napari features."""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..features import SPATIAL_AXIS_NAMES
from ..image_files import atomic_write
from ._checks import channels_first, check_labels, check_same_shape, check_scale_um
from ._voxels import Voxels, group_voxels


def _position_covariances(voxels: Voxels, scale: tuple[float, ...]) -> np.ndarray:
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


def _image_channels(image: Any, channel_axis: Any, labels: np.ndarray) -> np.ndarray:
    """The image with its channels on a leading axis, each channel covering the labels' voxels."""
    channels = channels_first(image, channel_axis)
    if channel_axis is None:
        name = "The image (channel_axis=None: one channel)"
    else:
        name = f"The image without its channel axis {channel_axis}"
    check_same_shape(channels[0], labels, name)
    return channels


def _colour_columns(
    image: np.ndarray, voxels: Voxels, colour_channels: Any, channel_names: Any
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


def _mean_confidence(confidence: Any, labels: np.ndarray, voxels: Voxels) -> np.ndarray:
    """The mean of a per-voxel confidence over each neuron."""
    confidence = np.asarray(confidence)
    check_same_shape(confidence, labels, "confidence")
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
    labels = check_labels(labels)
    scale = check_scale_um(scale, labels.ndim)
    channels = _image_channels(image, channel_axis, labels)
    axes = SPATIAL_AXIS_NAMES[labels.ndim]
    voxels = group_voxels(labels, scale)
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
    spread = np.asarray(segmenter.scaling_.spread, dtype=np.float64)[columns] / weight
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
