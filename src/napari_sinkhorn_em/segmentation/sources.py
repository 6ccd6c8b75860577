"""The feature rows of an in-memory image, slab by slab along its first spatial axis."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._validation import check_image_layout, check_mask_layout, check_positive_int, check_scale, check_selects_pixels
from ..contracts import recipe_features
from ..features import check_filter_reach, coordinate_columns, correct_illumination, extract_features, halo_width
from ..lazy import source_column_names

__all__ = ["DEFAULT_MEMORY_LIMIT", "FeatureSource", "settings_source"]

#: Default bound, in bytes, on the feature tables and filter workspace held at one time.
DEFAULT_MEMORY_LIMIT = 1 << 30

# Float32 arrays of image size that the filters of one channel at one sigma may hold at once
# (up to ten Gaussian derivatives in 3-D plus temporaries), and the intensity-only minimum.
_FILTER_WORKSPACE_ARRAYS = 14
_INTENSITY_WORKSPACE_ARRAYS = 2
_BYTES_PER_VALUE = 4


def _slab_bounds(
    features: list[tuple[str, float | None]],
    spatial_shape: tuple[int, ...],
    n_columns: int,
    halo: int,
    memory_limit: int,
) -> list[tuple[int, int]]:
    """``[start, stop)`` of the slabs along the first axis, as thick as ``memory_limit`` allows.

    A slab is computed with ``halo`` extra planes on each side. When the limit
    cannot hold even a one-plane slab with its halo, slabs are one plane thick
    (the least memory possible) -- unless one slab with its halo would already
    span the whole axis: then the whole image is one slab, which holds no more
    planes and computes each once (a thin stack in 1-plane slabs computed the
    whole stack once per plane).
    """
    uses_filters = any(sigma is not None for _, sigma in features)
    workspace = _FILTER_WORKSPACE_ARRAYS if uses_filters else _INTENSITY_WORKSPACE_ARRAYS
    # The table, its standardised copy, and the filter workspace of one channel.
    bytes_per_voxel = _BYTES_PER_VALUE * (2 * n_columns + workspace)
    slice_voxels = math.prod(spatial_shape[1:])
    length = spatial_shape[0]
    planes_allowed = int(memory_limit // (bytes_per_voxel * slice_voxels))
    planes_held = max(planes_allowed, min(length, 1 + 2 * halo))
    thickness = length if planes_held >= length else max(1, planes_held - 2 * halo)
    return [(start, min(start + thickness, length)) for start in range(0, length, thickness)]


def _slab(array: np.ndarray, start: int, stop: int, axis: int) -> np.ndarray:
    index = [slice(None)] * array.ndim
    index[axis] = slice(start, stop)
    return array[tuple(index)]


class FeatureSource:
    """Unstandardised feature rows of one image, produced in slabs along the first spatial axis.

    The in-memory :class:`~napari_sinkhorn_em.contracts.FitSource` that
    :class:`~napari_sinkhorn_em.segmentation.Segmenter` fits on and labels.
    Each slab is computed from the image padded by the filters' reach
    (:func:`~napari_sinkhorn_em.features.halo_width`) along that axis, so its
    rows are bit-identical to those of the whole image computed at once.
    With a ``background_sigma`` in the recipe the illumination is corrected on
    the whole image first (one float32 copy of it), since its background
    reaches far beyond a slab.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None
        Axis of ``image`` holding channels; None for one channel.
    scale : sequence of float or None
        Voxel size per spatial axis; None means 1 for every axis.
    mask : array_like of bool or None
        Only voxels where the mask is True give rows.
    recipe : dict
        The feature recipe (see :mod:`napari_sinkhorn_em.contracts`).
    memory_limit : int
        Bytes the tables and filter workspace of one slab may hold; slabs are
        as thick as it allows.
    keep : bool, default False
        When the whole table fits in ``memory_limit``, compute the rows once
        and replay them on later passes (fit, then assign).
    """

    def __init__(
        self,
        image: Any,
        *,
        channel_axis: int | None,
        scale: Sequence[float] | None,
        mask: Any,
        recipe: dict[str, Any],
        memory_limit: int,
        keep: bool = False,
    ) -> None:
        memory_limit = check_positive_int(memory_limit, "memory_limit")
        image = np.asarray(image)
        channel_axis = check_image_layout(image.shape, image.dtype, channel_axis)
        if recipe.get("background_sigma") is not None:
            image = correct_illumination(
                image, recipe["background_sigma"], channel_axis=channel_axis, scale=scale, mask=mask
            )
        spatial_axes = [axis for axis in range(image.ndim) if axis != channel_axis]
        self.spatial_shape = tuple(image.shape[axis] for axis in spatial_axes)
        ndim = len(self.spatial_shape)
        self.scale = check_scale(scale, ndim)
        if mask is not None:
            mask = np.asarray(mask)
            check_mask_layout(mask.shape, mask.dtype, self.spatial_shape)
            mask = mask.astype(bool, copy=False)
        self.image = image
        self.channel_axis = channel_axis
        self.first_axis = spatial_axes[0]
        self.n_channels = 1 if channel_axis is None else image.shape[channel_axis]
        self.mask = mask
        self.recipe = recipe
        self.features = recipe_features(recipe)
        self.n_points = math.prod(self.spatial_shape) if mask is None else int(np.count_nonzero(mask))
        check_selects_pixels(self.n_points)
        self.names: tuple[str, ...] | None = None
        self.n_feature_columns = 0

        check_filter_reach(self.features, (), self.scale, self.spatial_shape)
        self.halo = halo_width(self.features, (), self.scale)[0]
        # Upper bound on the columns: every feature as wide as the number of axes.
        n_columns = self.n_channels * len(self.features) * ndim + (ndim if recipe["coordinates"] else 0)
        self.bounds = _slab_bounds(self.features, self.spatial_shape, n_columns, self.halo, memory_limit)
        self._kept: list[tuple[int, int, np.ndarray]] | None = None
        self._keep = keep and self.n_points * _BYTES_PER_VALUE * n_columns <= memory_limit

    def _compute(self, start: int, stop: int) -> np.ndarray | None:
        """Rows of the slab ``[start, stop)`` (None when the mask leaves none)."""
        low, high = max(0, start - self.halo), min(self.spatial_shape[0], stop + self.halo)
        block = _slab(self.image, low, high, self.first_axis)
        block_mask = None
        if self.mask is not None:
            if not self.mask[start:stop].any():
                return None
            block_mask = np.zeros((high - low,) + self.spatial_shape[1:], dtype=bool)
            block_mask[start - low : stop - low] = self.mask[start:stop]
        stack = extract_features(
            block,
            channel_axis=self.channel_axis,
            scale=self.scale,
            features=self.features,
            mask=block_mask,
            standardize=False,
        )
        table = stack.data
        if block_mask is None:
            slice_voxels = math.prod(self.spatial_shape[1:])
            table = table[(start - low) * slice_voxels : (stop - low) * slice_voxels]
        if self.names is None:
            self.n_feature_columns = len(stack.names)
            self.names = source_column_names(stack.names, self.recipe, len(self.spatial_shape))
        if self.recipe["coordinates"]:
            table = np.hstack([table, self._coordinate_columns(start, stop)])
        return table

    def _coordinate_columns(self, start: int, stop: int) -> np.ndarray:
        """The position columns of the rows of slab ``[start, stop)``."""
        if self.mask is None:
            shape = (stop - start,) + self.spatial_shape[1:]
            indices = np.indices(shape, dtype=np.int32).reshape(len(shape), -1)
        else:
            indices = np.array(np.nonzero(self.mask[start:stop]))
        indices[0] += start
        return coordinate_columns(indices, self.scale, self.recipe["coordinate_weight"])

    def tables(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(start, stop, rows)`` per slab, rows in C order (masked pixels only)."""
        if self._kept is not None:
            yield from self._kept
            return
        kept = []
        for start, stop in self.bounds:
            table = self._compute(start, stop)
            if table is None:
                continue
            if self._keep:
                kept.append((start, stop, table))
            yield start, stop, table
        if self._keep:
            self._kept = kept

    def place(self, out: np.ndarray, start: int, stop: int, values: np.ndarray) -> None:
        """Write per-row ``values`` of slab ``[start, stop)`` into the spatial image ``out``."""
        slab = out[start:stop]
        if self.mask is None:
            slab[...] = values.reshape(slab.shape)
        else:
            slab[self.mask[start:stop]] = values


def settings_source(
    settings: Any,
    image: Any,
    channel_axis: int | None,
    scale: Sequence[float] | None,
    mask: Any,
    recipe: dict[str, Any],
    *,
    keep: bool = False,
) -> FeatureSource:
    """The :class:`FeatureSource` of an in-memory image within the memory that a Segmenter's settings allow.

    Parameters
    ----------
    settings : SegmenterSettings
        The settings; their ``memory_limit`` bounds the slabs.
    image, channel_axis, scale, mask, recipe, keep
        As for :class:`FeatureSource`.

    Returns
    -------
    FeatureSource
    """
    return FeatureSource(
        image, channel_axis=channel_axis, scale=scale, mask=mask, recipe=recipe,
        memory_limit=settings.memory_limit, keep=keep,
    )
