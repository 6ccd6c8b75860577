"""The feature rows of an in-memory image, block by block."""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .._validation import check_image_layout, check_mask_layout, check_positive_int, check_scale, check_selects_pixels
from ..contracts import RowBlock, recipe_features
from ..features import check_filter_reach, coordinate_columns, correct_illumination, extract_features, halo_width
from ..lazy import source_column_names

__all__ = ["DEFAULT_MEMORY_LIMIT", "FEATURE_THREADS", "FeatureSource", "block_shape", "settings_source"]

#: Default bound, in bytes, on the feature tables and filter workspace held at one time.
DEFAULT_MEMORY_LIMIT = 1 << 30
#: Blocks computed at once by an in-memory image of several blocks (scipy's filters release the
#: GIL); the memory limit is shared by them and by the block the caller holds.
FEATURE_THREADS = max(1, min(4, os.cpu_count() or 1))

# Float32 arrays of block size that the filters of one channel at one sigma may hold at once
# (up to ten Gaussian derivatives in 3-D plus temporaries), and the intensity-only minimum.
_FILTER_WORKSPACE_ARRAYS = 14
_INTENSITY_WORKSPACE_ARRAYS = 2
_BYTES_PER_VALUE = 4
# Blocks within the memory limit replace whole planes over it while they compute at most this
# many times as many padded voxels.
OVER_LIMIT_WORK_RATIO = 1.5


def _block_sides(n: int) -> list[int]:
    """The distinct side lengths ``ceil(n / k)`` that cut an axis of ``n`` voxels into k equal-ish pieces."""
    return sorted({-(-n // k) for k in range(1, n + 1)})


@functools.lru_cache(maxsize=4096)
def _axis_work(n: int, side: int, reach: int) -> int:
    """Voxels along an axis of ``n`` that its blocks of ``side`` compute, each padded by ``reach`` where the axis goes on."""
    starts = np.arange(0, n, side)
    return int(np.sum(np.minimum(n, starts + side + reach) - np.maximum(0, starts - reach)))


def block_shape(
    features: list[tuple[str, float | None]],
    spatial_shape: tuple[int, ...],
    n_columns: int,
    halo: Sequence[int],
    memory_limit: int,
) -> tuple[int, ...]:
    """The shape of the blocks an in-memory image is computed in: the least work that ``memory_limit`` allows.

    Each block is computed from the image padded by ``halo`` voxels on every side where the image
    goes on; the filter workspace covers the padded block, the table (and its standardised copy)
    the block itself. The baseline is whole planes along the first axis, as thick as the limit
    allows but at least one plane with its halo (which may exceed the limit, and which makes a thin
    stack one slab). Blocks cut within the planes too (never along the last axis) are chosen
    instead when one such shape fits in ``memory_limit`` and computes fewer padded voxels in all
    than the baseline (a thick stack of large planes, where one-plane slabs compute each plane
    with its whole halo), or when the baseline itself does not fit and they compute at most
    ``OVER_LIMIT_WORK_RATIO`` times its padded voxels (a thin stack of large planes).
    """
    uses_filters = any(sigma is not None for _, sigma in features)
    workspace = _BYTES_PER_VALUE * (_FILTER_WORKSPACE_ARRAYS if uses_filters else _INTENSITY_WORKSPACE_ARRAYS)
    table = _BYTES_PER_VALUE * 2 * n_columns
    line = spatial_shape[-1]
    cut = spatial_shape[:-1]

    def work(sides: tuple[int, ...]) -> int:
        return math.prod(_axis_work(n, side, reach) for n, side, reach in zip(cut, sides, halo))

    def fits(sides: tuple[int, ...]) -> bool:
        padded = math.prod(min(n, side + 2 * reach) for n, side, reach in zip(cut, sides, halo))
        return line * (padded * workspace + math.prod(sides) * table) <= memory_limit

    plane = math.prod(spatial_shape[1:])
    planes_held = max(memory_limit // ((workspace + table) * plane), min(cut[0], 1 + 2 * halo[0]))
    thickness = cut[0] if planes_held >= cut[0] else max(1, planes_held - 2 * halo[0])
    baseline = (thickness, *cut[1:])

    def n_blocks(sides: tuple[int, ...]) -> int:
        return math.prod(-(-n // side) for n, side in zip(cut, sides))

    def cost(sides: tuple[int, ...]) -> tuple[int, int]:
        return work(sides), n_blocks(sides)  # the least work, then the fewest blocks

    within = [sides for sides in itertools.product(*(_block_sides(n) for n in cut)) if fits(sides)]
    if fits(baseline):
        return (*min([baseline, *within], key=cost), line)
    # A baseline over the limit gives way to blocks within it unless they cost much more work.
    best = min(within, default=baseline, key=cost)
    return (*(best if work(best) <= OVER_LIMIT_WORK_RATIO * work(baseline) else baseline), line)


def _boxes(spatial_shape: tuple[int, ...], shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """The blocks of ``shape`` that tile ``spatial_shape``, in C order of their corners."""
    starts = [range(0, n, side) for n, side in zip(spatial_shape, shape)]
    return [
        tuple(slice(start, min(start + side, n)) for start, side, n in zip(corner, shape, spatial_shape))
        for corner in itertools.product(*starts)
    ]


class FeatureSource:
    """Unstandardised feature rows of one image, produced block by block.

    The in-memory :class:`~napari_sinkhorn_em.contracts.FitSource` that
    :class:`~napari_sinkhorn_em.segmentation.Segmenter` fits on and labels.
    Blocks span the last axis and are cut along the others (:func:`block_shape`); each is
    computed from the image padded by the filters' reach
    (:func:`~napari_sinkhorn_em.features.halo_width`), so its rows are bit-identical to
    those of the whole image computed at once.
    With a ``background_sigma`` in the recipe the illumination is corrected on
    the whole image first (one float32 copy of it), since its background
    reaches far beyond a block.

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
        Bytes the tables and filter workspace of the blocks held at one time may take;
        blocks are as large as it allows. An image of several blocks computes
        ``FEATURE_THREADS`` of them at once, each within its share of the limit.
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
        self.n_channels = 1 if channel_axis is None else image.shape[channel_axis]
        self.mask = mask
        self.recipe = recipe
        self.features = recipe_features(recipe)
        self.n_points = math.prod(self.spatial_shape) if mask is None else int(np.count_nonzero(mask))
        check_selects_pixels(self.n_points)
        self.names: tuple[str, ...] | None = None
        self.n_feature_columns = 0

        check_filter_reach(self.features, (), self.scale, self.spatial_shape)
        self.halo = halo_width(self.features, (), self.scale)
        # Upper bound on the columns: every feature as wide as the number of axes.
        n_columns = self.n_channels * len(self.features) * ndim + (ndim if recipe["coordinates"] else 0)
        self.block_shape = block_shape(self.features, self.spatial_shape, n_columns, self.halo, memory_limit)
        self.boxes = _boxes(self.spatial_shape, self.block_shape)
        self.n_threads = 1
        if len(self.boxes) > 1 and FEATURE_THREADS > 1:
            # Several blocks at once, each with its share of the limit (and one more share for the
            # block the caller holds meanwhile).
            self.n_threads = FEATURE_THREADS
            self.block_shape = block_shape(
                self.features, self.spatial_shape, n_columns, self.halo, memory_limit // (self.n_threads + 1)
            )
            self.boxes = _boxes(self.spatial_shape, self.block_shape)
        # The number of the first row of every line along the last axis.
        line_rows = (np.full(self.spatial_shape[:-1], self.spatial_shape[-1]) if mask is None else mask.sum(axis=-1)).ravel()
        self.line_starts = (np.cumsum(line_rows, dtype=np.int64) - line_rows).reshape(self.spatial_shape[:-1])
        self._kept: list[tuple[RowBlock, np.ndarray]] | None = None
        self._keep = keep and self.n_points * _BYTES_PER_VALUE * n_columns <= memory_limit

    def _image_part(self, box: tuple[slice, ...]) -> np.ndarray:
        """The image (every channel) at the spatial slices ``box``."""
        index = list(box)
        if self.channel_axis is not None:
            index.insert(self.channel_axis, slice(None))
        return self.image[tuple(index)]

    def _block(self, box: tuple[slice, ...], inside: np.ndarray) -> RowBlock:
        """The :class:`RowBlock` of ``box``, whose selected voxels are ``inside`` (the mask there, or all)."""
        lines = self.line_starts[box[:-1]]
        whole_planes = all(part == slice(0, n) for part, n in zip(box[1:], self.spatial_shape[1:]))
        n_rows = int(np.count_nonzero(inside))
        if whole_planes:
            first = int(lines.flat[0]) if lines.size else 0
            return RowBlock(box, range(first, first + n_rows))
        rank_in_line = np.cumsum(inside, axis=-1, dtype=np.int64) - 1
        return RowBlock(box, (lines[..., None] + rank_in_line)[inside])

    def _compute(self, box: tuple[slice, ...], wanted: np.ndarray | None = None) -> tuple[RowBlock, np.ndarray] | None:
        """The block of ``box`` and its rows (None when the mask leaves none), only the rows
        ``wanted`` (sorted row numbers) among them unless that is None."""
        inside = np.ones(tuple(part.stop - part.start for part in box), dtype=bool)
        if self.mask is not None:
            inside = self.mask[box]
            if not inside.any():
                return None
        if wanted is not None:
            numbers = np.asarray(self._block(box, inside).row_numbers)
            held = np.isin(numbers, wanted, assume_unique=True)
            if not held.any():
                return None
            inside = inside.copy()
            inside[inside] = held
        padded = tuple(
            slice(max(0, part.start - reach), min(n, part.stop + reach))
            for part, reach, n in zip(box, self.halo, self.spatial_shape)
        )
        # The filters run on the padded block; only the block's own voxels give rows.
        block_mask = None
        if self.mask is not None or wanted is not None or padded != box:
            block_mask = np.zeros(tuple(part.stop - part.start for part in padded), dtype=bool)
            block_mask[tuple(slice(part.start - pad.start, part.stop - pad.start) for part, pad in zip(box, padded))] = inside
        stack = extract_features(
            self._image_part(padded),
            channel_axis=self.channel_axis,
            scale=self.scale,
            features=self.features,
            mask=block_mask,
            standardize=False,
        )
        table = stack.data
        if self.names is None:
            self.n_feature_columns = len(stack.names)
            self.names = source_column_names(stack.names, self.recipe, len(self.spatial_shape))
        if self.recipe["coordinates"]:
            indices = np.array(np.nonzero(inside))
            indices += np.array([part.start for part in box])[:, None]
            table = np.hstack([table, coordinate_columns(indices, self.scale, self.recipe["coordinate_weight"])])
        block = self._block(box, inside) if wanted is None else RowBlock(box, numbers[held])
        return block, table

    def tables(self) -> Iterator[tuple[RowBlock, np.ndarray]]:
        """Yield ``(block, rows)`` per block of voxels, rows in C order within it (masked voxels only)."""
        if self._kept is not None:
            yield from self._kept
            return
        kept = []
        for computed in self._computed_in_order():
            if computed is None:
                continue
            if self._keep:
                kept.append(computed)
            yield computed
        if self._keep:
            self._kept = kept

    def sample_tables(self, rows: np.ndarray | None) -> Iterator[tuple[RowBlock, np.ndarray]]:
        """Yield ``(block, rows)`` like :meth:`tables`, with only the rows ``rows`` (sorted row
        numbers; None for all) computed, unless the whole table is kept for later passes.

        Filters still run on every block that holds a row asked for, but the per-voxel work
        (eigenvalues, the table) is done for those rows only.
        """
        if rows is None or self._keep or self._kept is not None:
            yield from self.tables()
            return
        yield from (computed for computed in self._computed_in_order(rows) if computed is not None)

    def _computed_in_order(self, wanted: np.ndarray | None = None) -> Iterator[tuple[RowBlock, np.ndarray] | None]:
        """:meth:`_compute` of every box in order, ``n_threads`` boxes at a time."""
        compute = functools.partial(self._compute, wanted=wanted)
        if self.n_threads == 1:
            yield from map(compute, self.boxes)
            return
        executor = ThreadPoolExecutor(self.n_threads, thread_name_prefix="napari-sinkhorn-em-features")
        pending: deque = deque()
        boxes = iter(self.boxes)
        try:
            for box in itertools.islice(boxes, self.n_threads):
                pending.append(executor.submit(compute, box))
            while pending:
                computed = pending.popleft().result()
                box = next(boxes, None)
                if box is not None:
                    pending.append(executor.submit(compute, box))
                yield computed
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def place(self, out: np.ndarray, block: RowBlock, values: np.ndarray) -> None:
        """Write per-row ``values`` of ``block`` into the spatial image ``out``."""
        part = out[block.box]
        if self.mask is None:
            part[...] = values.reshape(part.shape)
        else:
            part[self.mask[block.box]] = values


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
        The settings; their ``memory_limit`` bounds the blocks.
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
