"""Fitting a Segmenter on a dask (or zarr) image, reading only the chunks its subsample needs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..contracts import Progress, ProgressCallback, SourceSegmenter
from .sources import DaskFeatureSource

__all__ = ["fit_dask", "fit_dask_steps"]


def fit_dask(
    segmenter: SourceSegmenter,
    image: Any,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
    progress: ProgressCallback | None = None,
) -> SourceSegmenter:
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
    return segmenter.fit_source(_source_to_fit(segmenter, image, channel_axis, scale, mask, progress), progress)


def fit_dask_steps(
    segmenter: SourceSegmenter,
    image: Any,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
) -> Iterator[Progress]:
    """Fit like :func:`fit_dask`, yielding a :class:`~napari_sinkhorn_em.contracts.Progress` report per step.

    This is :meth:`Segmenter.fit_steps` for dask images (which it calls for
    them): the segmenter is fitted once the generator is exhausted, and closing
    it early leaves a previous fit intact. Parameters are as for
    :func:`fit_dask`.
    """
    yield from segmenter.fit_source_steps(_source_to_fit(segmenter, image, channel_axis, scale, mask, None))


def _source_to_fit(segmenter, image, channel_axis, scale, mask, progress) -> DaskFeatureSource:
    return DaskFeatureSource(
        image,
        channel_axis=channel_axis,
        scale=scale,
        mask=mask,
        recipe=segmenter.feature_recipe(),
        progress=progress,
    )
