"""Feature sources of dask images: the lazy table a Segmenter fits on, and the table of one chunk it labels.

The fit draws its subsample exactly as for an in-memory image, and only the
chunks holding drawn voxels are read, each padded by the filters' reach
(:func:`~napari_sinkhorn_em.features.halo_width`); a chunk padded by the halo
gives the same features in its interior as the whole image, so the rows are
bit-identical to the in-memory path's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._validation import check_scale, check_selects_pixels
from ..contracts import ProgressCallback, RowBlock, recipe_features
from ..features import SPATIAL_AXIS_NAMES, FeatureStack, coordinate_columns, extract_features, halo_width
from .arrays import channels_first, compute_with_progress, dask_mask, import_dask, low_padding, with_halo_room

__all__ = [
    "ChunkSource",
    "DaskFeatureSource",
    "LazyRows",
    "block_feature_rows",
    "block_features",
    "check_no_illumination_correction",
    "slab_coordinates",
    "source_column_names",
]


def slab_coordinates(slab: np.ndarray, ranks: np.ndarray, first: int) -> np.ndarray:
    """Indices (ndim, n) of the True voxels number ``ranks`` (sorted, C order) of a mask slab.

    Works plane by plane, so memory stays at one plane's index list.
    """
    plane_starts = np.concatenate([[0], np.cumsum(slab.reshape(len(slab), -1).sum(axis=1))])
    pieces = []
    for plane in range(len(slab)):
        low, high = np.searchsorted(ranks, plane_starts[plane : plane + 2])
        if low == high:
            continue
        flat = np.flatnonzero(slab[plane])[ranks[low:high] - plane_starts[plane]]
        pieces.append(np.vstack([np.full(high - low, first + plane), *np.unravel_index(flat, slab.shape[1:])]))
    return np.hstack(pieces)


def source_column_names(filter_names: tuple[str, ...], recipe: dict[str, Any], spatial_ndim: int) -> tuple[str, ...]:
    """The names of a feature source's columns: its filter features', then the positions' if the recipe has them.

    Parameters
    ----------
    filter_names : tuple of str
        The names of the filter features' columns (``FeatureStack.names``).
    recipe : dict
        The feature recipe (see :mod:`napari_sinkhorn_em.contracts`).
    spatial_ndim : int
        The image's number of spatial axes.

    Returns
    -------
    tuple of str
        One name per column of the source's rows.
    """
    return filter_names + (SPATIAL_AXIS_NAMES[spatial_ndim] if recipe["coordinates"] else ())


def block_features(
    block: np.ndarray, select: np.ndarray, features: list[tuple[str, float | None]], scale: tuple[float, ...]
) -> FeatureStack:
    """Unstandardised features of the selected voxels of a padded block, in C order.

    Parameters
    ----------
    block : numpy.ndarray
        The block with its halo, channels on axis 0.
    select : numpy.ndarray of bool
        The voxels to compute, of the block's spatial shape.
    features : list of (str, float or None)
        The features (:func:`~napari_sinkhorn_em.contracts.recipe_features`).
    scale : tuple of float
        The voxel size.

    Returns
    -------
    FeatureStack
        One row per selected voxel.
    """
    return extract_features(block, channel_axis=0, scale=scale, features=features, mask=select, standardize=False)


def block_feature_rows(
    block: np.ndarray, local: np.ndarray, features: list[tuple[str, float | None]], scale: tuple[float, ...]
) -> FeatureStack:
    """:func:`block_features` of the voxels ``local`` (ndim, n) of a padded block.

    The fit's tasks are given the drawn voxels' indices, not masks: a mask as
    large as its block for every task would put an image-sized array in the graph.

    Parameters
    ----------
    block, features, scale
        As for :func:`block_features`.
    local : numpy.ndarray of int
        Indices (ndim, n) of the voxels in the block, in C order.

    Returns
    -------
    FeatureStack
        One row per voxel of ``local``.
    """
    select = np.zeros(block.shape[1:], dtype=bool)
    select[tuple(local)] = True
    return block_features(block, select, features, scale)


class LazyRows:
    """The feature table of a dask image, one row per (masked) voxel in C order, computed on indexing.

    ``rows[positions]`` (sorted row numbers) computes only the chunks holding
    those voxels, each from the chunk padded by the halo, with dask; this is
    what the Segmenter's fit does with the subsample it draws.
    """

    def __init__(self, source: DaskFeatureSource) -> None:
        self.source = source
        self.shape = (source.n_points, None)

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        return self.source.rows(np.asarray(positions))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        rows = self.source.rows(np.arange(self.source.n_points))
        return rows if dtype is None else rows.astype(dtype)


class DaskFeatureSource:
    """A dask image as a :class:`~napari_sinkhorn_em.contracts.FitSource`, computed only where indexed.

    :meth:`tables` yields one lazy table of all rows, so ``Segmenter.fit_source``
    draws its subsample (same random numbers as for the in-memory image), indexes
    the table with it, and only then are the needed chunks read.
    """

    def __init__(
        self,
        image: Any,
        *,
        channel_axis: int | None,
        scale: Sequence[float] | None,
        mask: Any,
        recipe: dict[str, Any],
        progress: ProgressCallback | None,
    ) -> None:
        _, da = import_dask()
        data, _ = channels_first(image, channel_axis)
        self.spatial_shape = tuple(data.shape[1:])
        self.scale = check_scale(scale, len(self.spatial_shape))
        check_no_illumination_correction(recipe)
        self.recipe = recipe
        self.features = recipe_features(recipe)
        self.n_channels = data.shape[0]
        data, self.chunks, self.depth = with_halo_room(data, halo_width(self.features, (), self.scale))
        self.blocks = da.overlap.overlap(data, depth=(0, *self.depth), boundary="none").to_delayed()
        self.mask = dask_mask(mask, self.spatial_shape, self.chunks)
        if self.mask is None:
            self.n_points = math.prod(self.spatial_shape)
        else:
            # Masked voxels per plane of the first axis: where each plane's rows start.
            plane_counts = self.mask.sum(axis=tuple(range(1, len(self.spatial_shape)))).compute()
            self.plane_starts = np.concatenate([[0], np.cumsum(plane_counts)])
            self.n_points = int(self.plane_starts[-1])
            check_selects_pixels(self.n_points)
        self.names: tuple[str, ...] | None = None
        self.n_feature_columns = 0
        self.progress = progress

    def tables(self) -> Iterator[tuple[RowBlock, LazyRows]]:
        """Yield one lazy table of every row, as the block of the whole image."""
        yield RowBlock(tuple(slice(0, n) for n in self.spatial_shape), range(self.n_points)), LazyRows(self)

    def sample_tables(self, rows: np.ndarray | None) -> Iterator[tuple[RowBlock, LazyRows]]:
        """:meth:`tables`: the lazy table computes only the rows it is indexed with."""
        return self.tables()

    def voxel_coordinates(self, positions: np.ndarray) -> np.ndarray:
        """Indices (ndim, n) of the voxels of rows ``positions`` (sorted)."""
        if self.mask is None:
            return np.array(np.unravel_index(positions, self.spatial_shape))
        dask, _ = import_dask()
        tasks = []
        bounds = np.cumsum((0, *self.chunks[0]))
        for low, high in zip(bounds[:-1], bounds[1:]):
            first, last = np.searchsorted(positions, self.plane_starts[[low, high]])
            if first < last:
                ranks = positions[first:last] - self.plane_starts[low]
                tasks.append(dask.delayed(slab_coordinates)(self.mask[low:high], ranks, int(low)))
        return np.hstack(dask.compute(*tasks))

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Feature rows (float32, C order of the masked voxels) of the sorted row numbers ``positions``."""
        dask, _ = import_dask()
        coordinates = self.voxel_coordinates(positions)
        starts = [np.cumsum((0, *axis_chunks)) for axis_chunks in self.chunks]
        chunk_index = np.array(
            [np.searchsorted(axis_starts, axis, side="right") - 1 for axis_starts, axis in zip(starts, coordinates)]
        )
        block_number = np.ravel_multi_index(chunk_index, self.blocks.shape[1:])
        # Stable: the rows of one chunk stay in C order, which is also their order inside the chunk.
        order = np.argsort(block_number, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(block_number[order])) + 1)
        tasks = []
        for group in groups:
            index = tuple(int(axis[group[0]]) for axis in chunk_index)
            padding = low_padding(self.depth, index)
            origin = np.array([axis_starts[i] - pad for axis_starts, i, pad in zip(starts, index, padding)])
            local = coordinates[:, group] - origin[:, None]
            tasks.append(dask.delayed(block_feature_rows)(self.blocks[(0, *index)], local, self.features, self.scale))
        stacks = compute_with_progress(tasks, self.progress, "features")
        if self.names is None:
            self.n_feature_columns = len(stacks[0].names)
            self.names = source_column_names(stacks[0].names, self.recipe, len(self.spatial_shape))
        table = np.empty((len(positions), self.n_feature_columns), dtype=np.float32)
        for group, stack in zip(groups, stacks):
            table[group] = stack.data
        if self.recipe["coordinates"]:
            table = np.hstack([table, coordinate_columns(coordinates, self.scale, self.recipe["coordinate_weight"])])
        return table


def check_no_illumination_correction(recipe: dict[str, Any]) -> None:
    """Refuse a feature recipe with illumination correction, which the lazy path cannot compute yet.

    Raises
    ------
    NotImplementedError
        When ``recipe["background_sigma"]`` is set (``features="brightfield"``).
    """
    if recipe.get("background_sigma") is not None:
        raise NotImplementedError(
            "Illumination-corrected features (features='brightfield' or background_sigma=) are not "
            "available for dask or zarr images yet: their background reaches beyond a chunk. Load the "
            "image into memory (np.asarray(image)), or choose features='multiscale'."
        )


class ChunkSource:
    """The feature table of one chunk as a :class:`~napari_sinkhorn_em.contracts.LabelSource`.

    ``Segmenter.assign`` labels it exactly as it labels a slab of an
    in-memory image; :meth:`place` writes the labels of the selected voxels.
    """

    def __init__(self, table: np.ndarray, inside: np.ndarray) -> None:
        self.table = table
        self.inside = inside
        self.spatial_shape = inside.shape
        self.n_points = table.shape[0]

    def tables(self) -> Iterator[tuple[RowBlock, np.ndarray]]:
        """Yield the chunk's table as one block."""
        yield RowBlock(tuple(slice(0, n) for n in self.spatial_shape), range(self.n_points)), self.table

    def place(self, out: np.ndarray, block: RowBlock, values: np.ndarray) -> None:
        """Write the labels of the selected voxels into the chunk's labels ``out``."""
        out[self.inside] = values
