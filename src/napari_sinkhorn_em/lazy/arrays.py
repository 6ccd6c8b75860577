"""dask arrays for the chunked path: importing dask and zarr, the channels and halo of an image, progress.

dask and zarr are optional (``pip install "napari-sinkhorn-em[dask]"``) and
imported only when a function of :mod:`napari_sinkhorn_em.lazy` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_image_layout, check_mask_layout
from ..contracts import ProgressCallback

__all__ = [
    "as_dask",
    "channels_first",
    "compute_with_progress",
    "dask_mask",
    "import_dask",
    "import_zarr",
    "is_dask_array",
    "low_padding",
    "with_halo_room",
]

_INSTALL_HINT = 'install it with: pip install "napari-sinkhorn-em[dask]"'


def import_dask() -> tuple[Any, Any]:
    """``(dask, dask.array)``, or an ImportError that says how to install them."""
    try:
        import dask
        import dask.array as da
    except ImportError as error:
        raise ImportError(f"Segmenting dask or zarr images needs the optional package dask; {_INSTALL_HINT}") from error
    return dask, da


def import_zarr() -> Any:
    """The ``zarr`` module, or an ImportError that says how to install it."""
    try:
        import zarr
    except ImportError as error:
        raise ImportError(f"Reading and writing zarr stores needs the optional package zarr; {_INSTALL_HINT}") from error
    return zarr


def is_dask_array(image: Any) -> bool:
    """Whether ``image`` is a dask array (checked without importing dask).

    Parameters
    ----------
    image : object
        Any image.

    Returns
    -------
    bool
        True for a ``dask.array.Array``.
    """
    return type(image).__module__.startswith("dask.array")


def as_dask(image: Any) -> Any:
    """``image`` as a dask array; zarr arrays (and anything with ``chunks``) keep their chunks."""
    _, da = import_dask()
    if is_dask_array(image):
        return image
    return da.from_array(image, chunks=getattr(image, "chunks", "auto"))


def channels_first(image: Any, channel_axis: int | None) -> tuple[Any, int | None]:
    """The image with its channels on a leading axis of one chunk (a size-1 axis for one channel)."""
    image = as_dask(image)
    channel_axis = check_image_layout(image.shape, image.dtype, channel_axis)
    if channel_axis is None:
        return image[None], None
    data = image.rechunk({channel_axis: -1}).transpose(
        (channel_axis, *(axis for axis in range(image.ndim) if axis != channel_axis))
    )
    return data, channel_axis


def with_halo_room(data: Any, halo: Sequence[int]) -> tuple[Any, tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """``data`` rechunked where needed for overlapping chunks, its spatial chunks, and the overlap per axis.

    dask takes a chunk's halo from its neighbouring chunks only, so chunks
    thinner than the halo are merged into their neighbours; an axis not longer
    than the halo becomes one chunk without overlap (every chunk would need
    all of it anyway).
    """
    _, da = import_dask()
    chunks, depth = [], []
    for width, axis_chunks in zip(halo, data.chunks[1:]):
        if width >= sum(axis_chunks):
            chunks.append((sum(axis_chunks),))
            depth.append(0)
        else:
            chunks.append(da.overlap.ensure_minimum_chunksize(width, axis_chunks))
            depth.append(width)
    chunks = tuple(chunks)
    if chunks != data.chunks[1:]:
        data = data.rechunk((data.chunks[0], *chunks))
    return data, chunks, tuple(depth)


def dask_mask(mask: Any, spatial_shape: tuple[int, ...], chunks: tuple[tuple[int, ...], ...]) -> Any:
    """The mask as a boolean dask array with the given spatial chunks (None stays None)."""
    if mask is None:
        return None
    _, da = import_dask()
    mask = mask if is_dask_array(mask) else da.from_array(np.asarray(mask), chunks=chunks)
    check_mask_layout(mask.shape, mask.dtype, spatial_shape)
    return mask.astype(bool).rechunk(chunks)


def low_padding(depth: Sequence[int], chunk_location: Sequence[int]) -> tuple[int, ...]:
    """Voxels of overlap before a chunk: dask's ``boundary="none"`` adds none before the first chunk."""
    return tuple(width if index > 0 else 0 for width, index in zip(depth, chunk_location))


def compute_with_progress(tasks: list[Any], progress: ProgressCallback | None, stage: str) -> tuple[Any, ...]:
    """``dask.compute(*tasks)``, reporting the fraction of tasks done as ``progress(stage, fraction)``.

    Fractions come from dask's local schedulers (threads, processes,
    synchronous); under a ``distributed.Client`` only 0 and 1 are reported
    (follow the dashboard instead).
    """
    dask, _ = import_dask()
    if progress is None:
        return dask.compute(*tasks)
    from dask.callbacks import Callback

    keys = {task.key for task in tasks}
    finished = 0

    def count(key: Any, result: Any, graph: Any, state: Any, worker_id: Any) -> None:
        nonlocal finished
        if key in keys:
            finished += 1
            progress(stage, finished / len(keys))

    progress(stage, 0.0)
    with Callback(posttask=count):
        results = dask.compute(*tasks)
    progress(stage, 1.0)
    return results
