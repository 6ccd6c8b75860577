"""Labelling every voxel of a dask (or zarr) image lazily, chunk by chunk, with a fitted Segmenter.

:func:`predict_dask` builds the labels with ``dask.array.map_overlap``: a
lazy label array with the image's spatial chunks, each chunk labelled from
the chunk padded by the filters' reach by the Segmenter's own assignment
step, so the labels are bit-identical to the in-memory path's. Every task is
a module-level function of picklable arguments, so the same graphs run on the
local threads, a ``dask.distributed.LocalCluster`` or any cluster a
``Client`` connects to.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_scale
from ..contracts import SourceSegmenter, recipe_features
from ..features import coordinate_columns, halo_width
from .arrays import channels_first, dask_mask, import_dask, low_padding, with_halo_room
from .sources import ChunkSource, block_features, check_no_illumination_correction

__all__ = ["predict_dask"]

# numba's fallback "workqueue" threading layer aborts the process when two threads launch
# parallel kernels at once; with it, the mixture's labelling in dask threads takes turns.
_WORKQUEUE_LOCK = threading.Lock()


def _numba_is_thread_safe() -> bool:
    """True once numba runs parallel kernels with a layer that several threads may enter at once."""
    import numba

    try:
        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # no parallel kernel has run yet, so no layer is chosen
        return False


def _label_block(
    block: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    segmenter: SourceSegmenter,
    scale: tuple[float, ...],
    overlap: tuple[int, ...],
    block_info: dict,
) -> np.ndarray:
    """Labels of one chunk from the chunk padded by ``overlap`` (channels on axis 0): 1..K, 0 outside the mask."""
    location = block_info[None]["array-location"]
    padding = low_padding(overlap, block_info[0]["chunk-location"][1:])
    interior = tuple(slice(pad, pad + stop - start) for pad, (start, stop) in zip(padding, location))
    select = np.zeros(block.shape[1:], dtype=bool)
    select[interior] = True if mask is None else mask[interior]
    inside = select[interior]
    if not inside.any():
        return np.zeros(inside.shape, dtype=segmenter.label_dtype)
    recipe = segmenter.recipe_
    table = block_features(block, select, recipe_features(recipe), scale).data
    if recipe["coordinates"]:
        voxels = np.array(np.nonzero(inside)) + np.array([start for start, _ in location])[:, None]
        table = np.hstack([table, coordinate_columns(voxels, scale, recipe["coordinate_weight"])])
    source = ChunkSource(table, inside)
    if _numba_is_thread_safe():
        return segmenter.assign(source)
    with _WORKQUEUE_LOCK:
        return segmenter.assign(source)


def predict_dask(
    segmenter: SourceSegmenter,
    image: Any,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
) -> Any:
    """Label every voxel of a dask (or zarr) image lazily with a fitted Segmenter.

    Nothing is read or computed until the result is (``.compute()``,
    :func:`write_zarr_labels`, ``dask.array.to_zarr``...); then each chunk is
    labelled from the chunk padded by the filters' reach, with the same labels
    as ``segmenter.predict(numpy.asarray(image), ...)``.

    Parameters
    ----------
    segmenter : Segmenter
        A fitted (or loaded) segmenter.
    image : dask.array.Array or zarr.Array
        2-D or 3-D image with the training image's number of channels and
        spatial axes.
    channel_axis : int or None, default None
        Axis of ``image`` holding channels; None for one channel. The channel
        axis is gathered into one chunk.
    scale : sequence of float or None, default None
        Voxel size; None uses the training image's (``segmenter.scale_``).
    mask : array_like or dask array of bool, or None, default None
        Voxels outside the mask get label 0.

    Returns
    -------
    dask.array.Array
        Labels 1..K with the image's spatial shape and spatial chunks (0
        outside ``mask``), in the smallest unsigned integer type that holds K.
    """
    _, da = import_dask()
    segmenter.check_fitted()
    data, channel_axis = channels_first(image, channel_axis)
    spatial_shape, spatial_chunks = tuple(data.shape[1:]), data.chunks[1:]
    segmenter.check_image(data.shape[0], len(spatial_shape), channel_axis=channel_axis, shape=image.shape)
    scale = check_scale(segmenter.scale_ if scale is None else scale, len(spatial_shape))
    check_no_illumination_correction(segmenter.recipe_)
    halo = halo_width(recipe_features(segmenter.recipe_), (), scale)
    data, chunks, depth = with_halo_room(data, halo)
    dtype = segmenter.label_dtype
    arrays, depths = [data], [(0, *depth)]
    mask = dask_mask(mask, spatial_shape, chunks)
    if mask is not None:
        arrays.append(mask)
        depths.append(depth)
    labels = da.map_overlap(
        _label_block,
        *arrays,
        depth=depths,
        boundary="none",
        trim=False,
        drop_axis=0,
        chunks=chunks,
        dtype=dtype,
        meta=np.empty((0,) * len(spatial_shape), dtype=dtype),
        segmenter=segmenter.fitted_copy(),
        scale=scale,
        overlap=depth,
    )
    return labels if chunks == spatial_chunks else labels.rechunk(spatial_chunks)
