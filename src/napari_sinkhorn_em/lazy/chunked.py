"""Segment images larger than memory with dask, and write the labels to zarr chunk by chunk.

The image is a dask array (a zarr store opens as one with :func:`read_zarr`),
and nothing here needs more than a few chunks in memory at once:

* :func:`fit_dask` fits a :class:`~napari_sinkhorn_em.segmentation.Segmenter` on
  a random subsample of the voxels. It runs the Segmenter's own fit on a
  feature source whose table is lazy: the subsample is drawn exactly as for an
  in-memory image, and only the chunks holding drawn voxels are read, each
  padded by the filters' reach, :func:`~napari_sinkhorn_em.features.halo_width`.
* :func:`predict_dask` labels every voxel with ``dask.array.map_overlap``:
  a lazy label array with the image's spatial chunks, computed chunk by chunk
  when asked for, each chunk labelled by the Segmenter's own assignment step.
* :func:`write_zarr_labels` writes such an array into a zarr store, one chunk
  per task, and can resume an interrupted write.

Labels are bit-identical to the in-memory path (same settings and seed): a
chunk padded by the halo gives the same features in its interior as the whole
image (the filters reflect only at the true image border, which is where a
padded chunk ends too), and the fit sees the same rows in the same order.

dask and zarr are optional (``pip install "napari-sinkhorn-em[dask]"``) and
imported only when one of these functions runs. Every task is a module-level
function of picklable arguments, so the same graphs run on the local threads,
a ``dask.distributed.LocalCluster`` or any cluster a ``Client`` connects to.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_image_layout, check_mask_layout, check_scale
from ..features import extract_features, halo_width
from ..segmentation.segmenter import Progress, ProgressCallback, Segmenter, _label_dtype

__all__ = [
    "ZarrWrite",
    "fit_dask",
    "fit_dask_steps",
    "image_fingerprint",
    "is_dask_array",
    "predict_dask",
    "read_zarr",
    "segment_dask",
    "write_zarr_labels",
    "zarr_labels_complete",
    "zarr_labels_settings",
]

_INSTALL_HINT = 'install it with: pip install "napari-sinkhorn-em[dask]"'
# Attribute of a label store written here: its description, and whether every chunk is written.
_STORE_KEY = "napari_sinkhorn_em"
_STORE_FORMAT = "napari-sinkhorn-em labels"
# Chunks of the input hashed by image_fingerprint, and written chunks recomputed to check a resume without a model.
_FINGERPRINT_CHUNKS = 8
_CHECKED_CHUNKS = 3
# Folder inside a store being written: one empty file per finished chunk, named "i.j.k".
_DONE_FOLDER = ".chunks-done"
_ZARR_METADATA_FILES = ("zarr.json", ".zarray", ".zgroup")
# numba's fallback "workqueue" threading layer aborts the process when two threads launch
# parallel kernels at once; with it, the mixture's labelling in dask threads takes turns.
_WORKQUEUE_LOCK = threading.Lock()


def _import_dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.array as da
    except ImportError as error:
        raise ImportError(f"Segmenting dask or zarr images needs the optional package dask; {_INSTALL_HINT}") from error
    return dask, da


def _import_zarr() -> Any:
    try:
        import zarr
    except ImportError as error:
        raise ImportError(f"Reading and writing zarr stores needs the optional package zarr; {_INSTALL_HINT}") from error
    return zarr


def is_dask_array(image: Any) -> bool:
    """True if ``image`` is a dask array (checked without importing dask)."""
    return type(image).__module__.startswith("dask.array")


# ---------------------------------------------------------------------------
# Preparing the image
# ---------------------------------------------------------------------------


def _as_dask(image: Any) -> Any:
    """``image`` as a dask array; zarr arrays (and anything with ``chunks``) keep their chunks."""
    _, da = _import_dask()
    if is_dask_array(image):
        return image
    return da.from_array(image, chunks=getattr(image, "chunks", "auto"))


def _channels_first(image: Any, channel_axis: int | None) -> tuple[Any, int | None]:
    """The image with its channels on a leading axis of one chunk (a size-1 axis for one channel)."""
    image = _as_dask(image)
    channel_axis = check_image_layout(image.shape, image.dtype, channel_axis)
    if channel_axis is None:
        return image[None], None
    data = image.rechunk({channel_axis: -1}).transpose(
        (channel_axis, *(axis for axis in range(image.ndim) if axis != channel_axis))
    )
    return data, channel_axis


def _with_halo_room(data: Any, halo: Sequence[int]) -> tuple[Any, tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """``data`` rechunked where needed for overlapping chunks, its spatial chunks, and the overlap per axis.

    dask takes a chunk's halo from its neighbouring chunks only, so chunks
    thinner than the halo are merged into their neighbours; an axis not longer
    than the halo becomes one chunk without overlap (every chunk would need
    all of it anyway).
    """
    _, da = _import_dask()
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


def _dask_mask(mask: Any, spatial_shape: tuple[int, ...], chunks: tuple[tuple[int, ...], ...]) -> Any:
    """The mask as a boolean dask array with the given spatial chunks (None stays None)."""
    if mask is None:
        return None
    _, da = _import_dask()
    mask = mask if is_dask_array(mask) else da.from_array(np.asarray(mask), chunks=chunks)
    check_mask_layout(mask.shape, mask.dtype, spatial_shape)
    return mask.astype(bool).rechunk(chunks)


def _low_padding(depth: Sequence[int], chunk_location: Sequence[int]) -> tuple[int, ...]:
    """Voxels of overlap before a chunk: dask's ``boundary="none"`` adds none before the first chunk."""
    return tuple(width if index > 0 else 0 for width, index in zip(depth, chunk_location))


def _coordinate_columns(
    coordinates: np.ndarray, scale: Sequence[float], coordinate_weight: float
) -> np.ndarray:
    """Position features ``index * scale * coordinate_weight`` (float32) of voxels given as (ndim, n) indices.

    The same float32 products as the in-memory path, so the columns are bit-identical.
    """
    return np.column_stack(
        [axis.astype(np.float32) * np.float32(step * coordinate_weight) for axis, step in zip(coordinates, scale)]
    )


def _compute(tasks: list[Any], progress: ProgressCallback | None, stage: str) -> tuple[Any, ...]:
    """``dask.compute(*tasks)``, reporting the fraction of tasks done as ``progress(stage, fraction)``.

    Fractions come from dask's local schedulers (threads, processes,
    synchronous); under a ``distributed.Client`` only 0 and 1 are reported
    (follow the dashboard instead).
    """
    dask, _ = _import_dask()
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


# ---------------------------------------------------------------------------
# Fitting on a subsample
# ---------------------------------------------------------------------------


def _slab_coordinates(slab: np.ndarray, ranks: np.ndarray, first: int) -> np.ndarray:
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


def _block_feature_rows(
    block: np.ndarray, local: np.ndarray, features: list[tuple[str, float | None]], scale: tuple[float, ...]
) -> Any:
    """Unstandardised features of the voxels ``local`` (ndim, n) of a padded block, in C order."""
    select = np.zeros(block.shape[1:], dtype=bool)
    select[tuple(local)] = True
    return extract_features(block, channel_axis=0, scale=scale, features=features, mask=select, standardize=False)


class _LazyRows:
    """The feature table of a dask image, one row per (masked) voxel in C order, computed on indexing.

    ``rows[positions]`` (sorted row numbers) computes only the chunks holding
    those voxels, each from the chunk padded by the halo, with dask; this is
    what the Segmenter's fit does with the subsample it draws.
    """

    def __init__(self, source: _DaskFeatureSource) -> None:
        self.source = source
        self.shape = (source.n_points, None)

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        return self.source.rows(np.asarray(positions))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        rows = self.source.rows(np.arange(self.source.n_points))
        return rows if dtype is None else rows.astype(dtype)


class _DaskFeatureSource:
    """A dask image seen through the interface of :class:`pipeline._FeatureSource` that fitting uses.

    :meth:`tables` yields one lazy table of all rows, so ``Segmenter._fit_source``
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
        _, da = _import_dask()
        data, _ = _channels_first(image, channel_axis)
        self.spatial_shape = tuple(data.shape[1:])
        self.scale = check_scale(scale, len(self.spatial_shape))
        check_no_illumination_correction(recipe)
        self.background_sigma = None
        self.features = [tuple(entry) for entry in recipe["features"]]
        self.coordinates = recipe["coordinates"]
        self.coordinate_weight = recipe["coordinate_weight"]
        self.n_channels = data.shape[0]
        data, self.chunks, self.depth = _with_halo_room(data, halo_width(self.features, (), self.scale))
        self.blocks = da.overlap.overlap(data, depth=(0, *self.depth), boundary="none").to_delayed()
        self.mask = _dask_mask(mask, self.spatial_shape, self.chunks)
        if self.mask is None:
            self.n_points = math.prod(self.spatial_shape)
        else:
            # Masked voxels per plane of the first axis: where each plane's rows start.
            plane_counts = self.mask.sum(axis=tuple(range(1, len(self.spatial_shape)))).compute()
            self.plane_starts = np.concatenate([[0], np.cumsum(plane_counts)])
            self.n_points = int(self.plane_starts[-1])
            if self.n_points == 0:
                raise ValueError("The mask selects no pixels; it must be True on at least one pixel.")
        self.names: tuple[str, ...] | None = None
        self.n_feature_columns = 0
        self.progress = progress

    def tables(self) -> Iterator[tuple[int, int, _LazyRows]]:
        yield 0, self.spatial_shape[0], _LazyRows(self)

    def voxel_coordinates(self, positions: np.ndarray) -> np.ndarray:
        """Indices (ndim, n) of the voxels of rows ``positions`` (sorted)."""
        if self.mask is None:
            return np.array(np.unravel_index(positions, self.spatial_shape))
        dask, _ = _import_dask()
        tasks = []
        bounds = np.cumsum((0, *self.chunks[0]))
        for low, high in zip(bounds[:-1], bounds[1:]):
            first, last = np.searchsorted(positions, self.plane_starts[[low, high]])
            if first < last:
                ranks = positions[first:last] - self.plane_starts[low]
                tasks.append(dask.delayed(_slab_coordinates)(self.mask[low:high], ranks, int(low)))
        return np.hstack(dask.compute(*tasks))

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Feature rows (float32, C order of the masked voxels) of the sorted row numbers ``positions``."""
        dask, _ = _import_dask()
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
            padding = _low_padding(self.depth, index)
            origin = np.array([axis_starts[i] - pad for axis_starts, i, pad in zip(starts, index, padding)])
            local = coordinates[:, group] - origin[:, None]
            tasks.append(dask.delayed(_block_feature_rows)(self.blocks[(0, *index)], local, self.features, self.scale))
        stacks = _compute(tasks, self.progress, "features")
        if self.names is None:
            self.n_feature_columns = len(stacks[0].names)
            coordinate_names = ("z", "y", "x")[-len(self.spatial_shape) :] if self.coordinates else ()
            self.names = stacks[0].names + coordinate_names
        table = np.empty((len(positions), self.n_feature_columns), dtype=np.float32)
        for group, stack in zip(groups, stacks):
            table[group] = stack.data
        if self.coordinates:
            table = np.hstack([table, _coordinate_columns(coordinates, self.scale, self.coordinate_weight)])
        return table


def fit_dask(
    segmenter: Segmenter,
    image: Any,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
    progress: ProgressCallback | None = None,
) -> Segmenter:
    """Fit a Segmenter on a dask (or zarr) image, reading only the chunks its subsample needs.

    The result is bit-identical to ``segmenter.fit(numpy.asarray(image), ...)``:
    the same voxels are drawn with the same random numbers and their features
    are computed from their chunk padded by the filters' reach.

    Parameters
    ----------
    segmenter : Segmenter
        The segmenter to fit (its ``memory_limit`` is not used: the chunks
        bound the memory).
    image : dask.array.Array or zarr.Array
        2-D or 3-D image, optionally with a channel axis, in any chunks.
    channel_axis : int or None, default None
        Axis of ``image`` holding channels; None for one channel.
    scale : sequence of float or None, default None
        Voxel size per spatial axis; None means 1 for every axis.
    mask : array_like or dask array of bool, or None, default None
        Only voxels where the mask is True are used.
    progress : callable or None, default None
        Called as ``progress(stage, fraction)`` with stages ``"features"``
        (chunks done, under dask's local schedulers) and ``"fit"``.

    Returns
    -------
    Segmenter
        ``segmenter``, fitted.
    """
    segmenter._fit_source(_source_to_fit(segmenter, image, channel_axis, scale, mask, progress), progress)
    return segmenter


def fit_dask_steps(
    segmenter: Segmenter,
    image: Any,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
) -> Iterator[Progress]:
    """Fit like :func:`fit_dask`, yielding a :class:`~napari_sinkhorn_em.segmentation.Progress` report per step.

    This is :meth:`Segmenter.fit_steps` for dask images (which it calls for
    them): the segmenter is fitted once the generator is exhausted, and closing
    it early leaves a previous fit intact. Parameters are as for
    :func:`fit_dask`.
    """
    yield from segmenter._fit_source_steps(_source_to_fit(segmenter, image, channel_axis, scale, mask, None))


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


def _source_to_fit(segmenter, image, channel_axis, scale, mask, progress) -> _DaskFeatureSource:
    return _DaskFeatureSource(
        image,
        channel_axis=channel_axis,
        scale=scale,
        mask=mask,
        recipe=segmenter._settings_recipe(),
        progress=progress,
    )


# ---------------------------------------------------------------------------
# Labelling every voxel
# ---------------------------------------------------------------------------


class _ChunkSource:
    """The feature table of one chunk, seen through the interface of ``pipeline._FeatureSource``.

    ``Segmenter._assign`` labels it exactly as it labels a slab of an
    in-memory image; :meth:`place` writes the labels of the selected voxels.
    """

    def __init__(self, table: np.ndarray, inside: np.ndarray) -> None:
        self.table = table
        self.inside = inside
        self.spatial_shape = inside.shape

    def tables(self) -> Iterator[tuple[int, int, np.ndarray]]:
        yield 0, self.spatial_shape[0], self.table

    def place(self, out: np.ndarray, start: int, stop: int, values: np.ndarray) -> None:
        out[self.inside] = values


def _prediction_copy(segmenter: Segmenter) -> Segmenter:
    """The segmenter without its private session state (e.g. the fit's sample), to ship with the tasks.

    Labels depend only on the settings and the public fitted attributes,
    which are what :meth:`Segmenter.save` keeps too.
    """
    lean = Segmenter.__new__(type(segmenter))
    lean.__dict__.update({name: value for name, value in vars(segmenter).items() if not name.startswith("_")})
    return lean


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
    segmenter: Segmenter,
    scale: tuple[float, ...],
    overlap: tuple[int, ...],
    block_info: dict,
) -> np.ndarray:
    """Labels of one chunk from the chunk padded by ``overlap`` (channels on axis 0): 1..K, 0 outside the mask."""
    location = block_info[None]["array-location"]
    padding = _low_padding(overlap, block_info[0]["chunk-location"][1:])
    interior = tuple(slice(pad, pad + stop - start) for pad, (start, stop) in zip(padding, location))
    select = np.zeros(block.shape[1:], dtype=bool)
    select[interior] = True if mask is None else mask[interior]
    inside = select[interior]
    if not inside.any():
        return np.zeros(inside.shape, dtype=_label_dtype(segmenter.mixture_.n_components))
    recipe = segmenter.recipe_
    features = [tuple(entry) for entry in recipe["features"]]
    table = extract_features(block, channel_axis=0, scale=scale, features=features, mask=select, standardize=False).data
    if recipe["coordinates"]:
        voxels = np.array(np.nonzero(inside)) + np.array([start for start, _ in location])[:, None]
        table = np.hstack([table, _coordinate_columns(voxels, scale, recipe["coordinate_weight"])])
    source = _ChunkSource(table, inside)
    if _numba_is_thread_safe():
        return segmenter._assign(source, None)
    with _WORKQUEUE_LOCK:
        return segmenter._assign(source, None)


def predict_dask(
    segmenter: Segmenter,
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
    _, da = _import_dask()
    if not hasattr(segmenter, "mixture_"):
        raise RuntimeError("This Segmenter is not fitted yet; call fit(image) first or load a saved model.")
    data, channel_axis = _channels_first(image, channel_axis)
    if data.shape[0] != segmenter.n_channels_:
        raise ValueError(
            f"The model was fitted on images with {segmenter.n_channels_} channel(s), but this image has "
            f"{data.shape[0]} (channel_axis={channel_axis}); give the right channel_axis or "
            f"use a model fitted on {data.shape[0]}-channel images."
        )
    spatial_shape, spatial_chunks = tuple(data.shape[1:]), data.chunks[1:]
    if len(spatial_shape) != len(segmenter.scale_):
        raise ValueError(
            f"The model was fitted on {len(segmenter.scale_)}-D images, but this image is "
            f"{len(spatial_shape)}-D (shape {image.shape}); use a model fitted on {len(spatial_shape)}-D images."
        )
    scale = check_scale(segmenter.scale_ if scale is None else scale, len(spatial_shape))
    check_no_illumination_correction(segmenter.recipe_)
    halo = halo_width([tuple(entry) for entry in segmenter.recipe_["features"]], (), scale)
    data, chunks, depth = _with_halo_room(data, halo)
    dtype = _label_dtype(segmenter.mixture_.n_components)
    arrays, depths = [data], [(0, *depth)]
    mask = _dask_mask(mask, spatial_shape, chunks)
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
        segmenter=_prediction_copy(segmenter),
        scale=scale,
        overlap=depth,
    )
    return labels if chunks == spatial_chunks else labels.rechunk(spatial_chunks)


def segment_dask(
    image: Any,
    n_components: int = 3,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
    progress: ProgressCallback | None = None,
    instances: bool = False,
    **settings: Any,
) -> Any:
    """Segment a dask (or zarr) image: :func:`fit_dask`, then the lazy :func:`predict_dask`.

    The same labels as :func:`napari_sinkhorn_em.segmentation.segment`, as a
    lazy dask array with the image's spatial chunks. The fit runs now (it
    reads the chunks holding the subsample); the labels are computed when the
    result is.

    Parameters
    ----------
    image : dask.array.Array or zarr.Array
        2-D or 3-D image, optionally with a channel axis.
    n_components : int, default 3
        Number of classes K.
    channel_axis, scale, mask, progress
        See :func:`fit_dask`.
    instances : bool, default False
        Must be False: objects cross chunk borders, so splitting classes into
        objects needs the whole label image (``split_instances(labels.compute())``).
    **settings
        Other :class:`~napari_sinkhorn_em.segmentation.Segmenter` arguments
        (``method``, ``epsilon``, ``features``, ``sample_size``,
        ``random_state``, mixture options...).

    Returns
    -------
    dask.array.Array
        Labels 1..K (0 outside ``mask``), smallest unsigned integer type.
    """
    if instances:
        raise ValueError(
            "instances=True is not available for dask images: objects cross chunk borders, so they need "
            "the whole label image. Compute the labels first and call split_instances(labels.compute()) "
            "if they fit in memory."
        )
    segmenter = Segmenter(n_components, **settings)
    fit_dask(segmenter, image, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress)
    return predict_dask(segmenter, image, channel_axis=channel_axis, scale=scale, mask=mask)


# ---------------------------------------------------------------------------
# zarr stores
# ---------------------------------------------------------------------------


def read_zarr(path: str | Any, component: str | None = None) -> Any:
    """Open a zarr array as a dask array with the store's chunks (nothing is read yet).

    Parameters
    ----------
    path : str or path-like
        The store: a folder such as ``"stack.zarr"`` or a URL that zarr opens.
    component : str or None, default None
        Path of the array inside a zarr group, e.g. ``"0"`` for the full
        resolution of an OME-Zarr image.

    Returns
    -------
    dask.array.Array
    """
    _, da = _import_dask()
    zarr = _import_zarr()
    try:
        node = zarr.open(store=str(path), mode="r")
    except FileNotFoundError:
        raise FileNotFoundError(f"There is no zarr store at {path}.") from None
    if component is not None:
        if not isinstance(node, zarr.Group):
            raise ValueError(
                f"{path} is a single array, not a group, so it has no component {component!r}; leave out "
                f"component= (--component on the command line)."
            )
        arrays = sorted(node.array_keys())
        try:
            node = node[component]
        except KeyError:
            raise ValueError(
                f"{path} has no array {component!r}; it holds the arrays {arrays}. Choose one of them with "
                f"component= (--component on the command line)."
            ) from None
    if isinstance(node, zarr.Group):
        arrays = sorted(node.array_keys())
        raise ValueError(
            f"{path} is a zarr group holding the arrays {arrays}, not one array; choose one with "
            f"component= (e.g. component={arrays[0] if arrays else '0'!r} for the full resolution of OME-Zarr)."
        )
    return da.from_zarr(node)


@dataclass(frozen=True)
class ZarrWrite:
    """What :func:`write_zarr_labels` did.

    Attributes
    ----------
    path : pathlib.Path
        The label store.
    n_chunks : int
        Chunks of the label image.
    n_written : int
        Chunks written by this call; the others were written by an earlier,
        interrupted call (0 when the store was already complete).
    """

    path: Path
    n_chunks: int
    n_written: int


def _model_document(segmenter: Segmenter) -> dict[str, Any]:
    """The saved-model document of ``segmenter`` (what :meth:`Segmenter.save` writes), as a dict."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        segmenter.save(path)
        return json.loads(path.read_text(encoding="utf-8"))


def _is_zarr_store(path: Path) -> bool:
    return any((path / name).is_file() for name in _ZARR_METADATA_FILES)


def _store_attributes(path: Path) -> dict[str, Any] | None:
    """The attribute written by :func:`write_zarr_labels` of the store at ``path``, or None."""
    zarr = _import_zarr()
    if not _is_zarr_store(path):
        return None
    try:
        node = zarr.open(store=str(path), mode="r")
    except (OSError, ValueError):
        return None
    attributes = node.attrs.get(_STORE_KEY)
    return attributes if isinstance(attributes, dict) else None


def zarr_labels_complete(path: str | Any) -> bool:
    """True if ``path`` holds a label store that :func:`write_zarr_labels` finished writing."""
    attributes = _store_attributes(Path(path))
    return attributes is not None and attributes.get("complete") is True


def zarr_labels_settings(path: str | Any) -> dict[str, Any] | None:
    """The ``settings=`` that :func:`write_zarr_labels` stored in the label store at ``path``, or None."""
    attributes = _store_attributes(Path(path))
    settings = None if attributes is None else attributes.get("settings")
    return settings if isinstance(settings, dict) else None


def _regular_chunks(labels: Any) -> Any:
    """``labels`` with chunks zarr can store: equal along each axis, except a smaller last one."""
    regular = all(
        all(size == axis_chunks[0] for size in axis_chunks[:-1]) and axis_chunks[-1] <= axis_chunks[0]
        for axis_chunks in labels.chunks
    )
    return labels if regular else labels.rechunk(labels.chunksize)


def _spread(count: int, n_wanted: int) -> list[int]:
    """Up to ``n_wanted`` distinct positions among ``count``, evenly spread and including the first and last."""
    return sorted({round(position) for position in np.linspace(0, count - 1, min(count, n_wanted))})


def image_fingerprint(image: Any) -> dict[str, Any]:
    """What identifies an input image cheaply: shape, type, chunks and a hash of a few of its chunks.

    Up to 8 chunks, spread evenly over the image, are read and hashed
    (SHA-256), so two images of the same size differ in their fingerprint
    unless they agree in every sampled chunk.

    Parameters
    ----------
    image : dask.array.Array or zarr.Array
        The image (any number of axes).

    Returns
    -------
    dict
        ``shape``, ``dtype``, ``chunks`` (chunk size per axis), ``sampled``
        (the chunk indices read) and ``sha256`` (hex digest of their bytes),
        JSON-serialisable.
    """
    image = _as_dask(image)
    digest = hashlib.sha256()
    blocks = list(np.ndindex(*image.numblocks))
    sampled = [blocks[position] for position in _spread(len(blocks), _FINGERPRINT_CHUNKS)]
    for index in sampled:
        digest.update(repr(index).encode())
        digest.update(np.ascontiguousarray(image.blocks[index].compute()).tobytes())
    return {
        "shape": [int(size) for size in image.shape],
        "dtype": str(image.dtype),
        "chunks": [int(size) for size in image.chunksize],
        "sampled": [list(index) for index in sampled],
        "sha256": digest.hexdigest(),
    }


def _written_chunks_match(labels: Any, path: Path, names: Sequence[str]) -> bool:
    """True if a few of the chunks ``names`` ("i.j.k") stored at ``path`` equal those of ``labels``."""
    zarr = _import_zarr()
    stored = zarr.open_array(store=str(path), mode="r")
    starts = [np.cumsum((0, *axis_chunks)) for axis_chunks in labels.chunks]
    ordered = sorted(names)
    for position in _spread(len(ordered), _CHECKED_CHUNKS):
        index = tuple(int(part) for part in ordered[position].split("."))
        region = tuple(slice(int(axis[i]), int(axis[i + 1])) for axis, i in zip(starts, index))
        if not np.array_equal(np.asarray(labels.blocks[index].compute()), stored[region]):
            return False
    return True


def _write_chunk(block: np.ndarray, store: str, region: tuple[slice, ...], marker: str) -> None:
    """Write one chunk, then record it as done (a crash in between only means rewriting it)."""
    zarr = _import_zarr()
    zarr.open_array(store=store, mode="r+")[region] = block
    Path(marker).touch()


def write_zarr_labels(
    labels: Any,
    path: str | Any,
    *,
    segmenter: Segmenter | None = None,
    image: Any = None,
    settings: dict[str, Any] | None = None,
    overwrite: bool = False,
    resume: bool = True,
    progress: ProgressCallback | None = None,
) -> ZarrWrite:
    """Compute a lazy label image chunk by chunk into a zarr store; an interrupted write can resume.

    Each chunk is one task that labels the chunk and writes it (zarr writes
    every chunk file atomically), then records it in a ``.chunks-done`` folder
    inside the store. Calling again with the same labels and model after an
    interruption (a crash, a killed job) writes only the missing chunks. When
    every chunk is written the folder is removed and the store is marked
    complete; a complete store is left as it is.

    Parameters
    ----------
    labels : dask.array.Array
        The labels, e.g. from :func:`predict_dask`. Irregular chunks are
        rechunked to regular ones (zarr's chunks).
    path : str or path-like
        Folder of the store on a local or shared file system, e.g.
        ``"stack_labels.zarr"``.
    segmenter : Segmenter or None, default None
        The model that made the labels; its settings and fitted parameters
        (the document :meth:`Segmenter.save` writes) are stored in the store's
        attributes, and a resumed write must use the same model. Without it,
        a store that exists already (finished or not) is accepted only if a
        few of its written chunks, recomputed from ``labels``, are identical.
    image : dask.array.Array, zarr.Array or None, default None
        The image the labels were made from; its :func:`image_fingerprint`
        (shape, type, chunks, hash of sampled chunks) is stored, and a
        resumed write must come from the same image.
    settings : dict or None, default None
        Anything else that describes how the labels were made (the command
        line stores its options); stored, read back by
        :func:`zarr_labels_settings`, and a resumed write must have the same.
    overwrite : bool, default False
        Replace whatever zarr store is at ``path``.
    resume : bool, default True
        Continue an interrupted write of the same labels (same shape, chunks,
        type and model) at ``path``. With False such a store is refused
        unless ``overwrite``.
    progress : callable or None, default None
        Called as ``progress("write", fraction)`` as chunks are written
        (under dask's local schedulers).

    Returns
    -------
    ZarrWrite
        The store, its number of chunks and how many this call wrote.

    Raises
    ------
    FileExistsError
        If ``path`` holds something else (another image, other labels, a
        different model) and ``overwrite`` is False, or with ``overwrite``
        if it is not a zarr store (it is never deleted).
    """
    dask, _ = _import_dask()
    zarr = _import_zarr()
    if not is_dask_array(labels):
        raise TypeError(f"labels must be a dask array (e.g. from predict_dask), got {type(labels).__name__}.")
    if "://" in str(path):
        raise ValueError(f"write_zarr_labels writes to a folder on a local or shared file system, not to {path}.")
    labels = _regular_chunks(labels)
    path = Path(path)
    description = {
        "format": _STORE_FORMAT,
        "shape": list(labels.shape),
        "chunks": [int(size) for size in labels.chunksize],
        "dtype": str(labels.dtype),
        "model": None if segmenter is None else _model_document(segmenter),
        "image": None if image is None else image_fingerprint(image),
        "settings": settings,
    }
    # Compared with the stored copy, which went through JSON.
    description = json.loads(json.dumps(description))
    done_folder = path / _DONE_FOLDER
    n_chunks = math.prod(labels.numblocks)

    if path.exists() and overwrite:
        if not _is_zarr_store(path):
            raise FileExistsError(
                f"{path} exists and is not a zarr store; it is not deleted. Choose another output path."
            )
        shutil.rmtree(path)
    elif path.exists():
        stored = _store_attributes(path)
        differing = [] if stored is None else [key for key in description if stored.get(key) != description[key]]
        same = stored is not None and not differing
        complete = same and stored.get("complete") is True
        if same and segmenter is None:
            written = (
                [".".join(map(str, index)) for index in np.ndindex(*labels.numblocks)]
                if complete
                else [marker.name for marker in done_folder.iterdir()] if done_folder.is_dir() else []
            )
            if not _written_chunks_match(labels, path, written):
                same, complete, differing = False, False, ["labels"]
        if complete:
            return ZarrWrite(path, n_chunks, 0)
        if not (same and resume):
            if same:
                what = "an unfinished write of these labels (resume=False)"
            elif stored is not None:
                names = {"shape": "shape", "chunks": "chunks", "dtype": "label type", "model": "model",
                         "image": "input image", "labels": "label values", "settings": "settings"}
                what = (
                    "a different image, different labels or labels from a different model (the "
                    f"{', '.join(names.get(key, key) for key in differing)} differ)"
                )
            else:
                what = "data that was not written by write_zarr_labels"
            raise FileExistsError(
                f"{path} already exists and holds {what}. Choose another output path, or replace it with "
                f"overwrite=True (--overwrite on the command line)."
            )
    if not path.exists():
        array = zarr.open_array(
            store=str(path), mode="w-", shape=labels.shape, chunks=labels.chunksize, dtype=labels.dtype, fill_value=0
        )
        array.attrs[_STORE_KEY] = {**description, "complete": False}
    done_folder.mkdir(exist_ok=True)

    finished = {marker.name for marker in done_folder.iterdir()}
    starts = [np.cumsum((0, *axis_chunks)) for axis_chunks in labels.chunks]
    blocks = labels.to_delayed()
    tasks = []
    for index in np.ndindex(*labels.numblocks):
        name = ".".join(map(str, index))
        if name in finished:
            continue
        region = tuple(slice(int(axis[i]), int(axis[i + 1])) for axis, i in zip(starts, index))
        task = dask.delayed(_write_chunk, pure=False)(blocks[index], str(path), region, str(done_folder / name))
        tasks.append(task)
    _compute(tasks, progress, "write")
    zarr.open_array(store=str(path), mode="r+").attrs[_STORE_KEY] = {**description, "complete": True}
    shutil.rmtree(done_folder)
    return ZarrWrite(path, n_chunks, len(tasks))
