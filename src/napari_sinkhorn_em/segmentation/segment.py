"""One call from an image to labels: segment and segment_dask."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..contracts import ProgressCallback
from ..lazy import fit_dask, is_dask_array, predict_dask
from .labels import DEFAULT_MIN_SIZE, split_instances
from .methods import DEFAULT_SIZE_TOLERANCE
from .segmenter import Segmenter
from .sources import DEFAULT_MEMORY_LIMIT

__all__ = ["segment", "segment_dask"]


def segment(
    image: Any,
    n_components: int = 3,
    *,
    method: str | None = None,
    epsilon: float = 1.0,
    assignment: str | None = None,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    features: Any = "intensity",
    sigmas: float | Sequence[float] = (1.0, 2.0, 4.0),
    background_sigma: float | None = None,
    size_tolerance: float = DEFAULT_SIZE_TOLERANCE,
    coordinates: bool = False,
    coordinate_weight: float = 1.0,
    mask: Any = None,
    sample_size: int | None = 200_000,
    random_state: int | None = 0,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    progress: ProgressCallback | None = None,
    instances: bool = False,
    min_size: int = DEFAULT_MIN_SIZE,
    **mixture_options: Any,
) -> np.ndarray:
    """Segment an image into K classes (or objects) with EM or Sinkhorn-EM.

    Fits a Gaussian mixture to the features of a random subsample of the
    voxels, then labels every voxel: ``Segmenter(...).fit_predict(image)``.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    n_components : int, default 3
        Number of classes K.
    method, epsilon, assignment, features, sigmas, background_sigma, size_tolerance, coordinates, coordinate_weight, sample_size, random_state, memory_limit
        See :class:`Segmenter`. By default Sinkhorn-EM moves the class means,
        then EM fits everything with the class sizes learned from the image;
        with class sizes given (``weights=(0.1, 0.9)``), Sinkhorn-EM holds them
        (searching the smallest within ``size_tolerance``) and labels by its
        transport plan, and label k is the class given the k-th size.
    channel_axis, scale, mask, progress
        See :meth:`Segmenter.fit`.
    instances : bool, default False
        Split each class into connected objects (:func:`split_instances`).
    min_size : int, default 10
        With ``instances``, remove objects smaller than this many voxels.
    **mixture_options
        Passed to :class:`~napari_sinkhorn_em.mixture.GaussianMixture`.

    Returns
    -------
    numpy.ndarray
        Label image with the image's spatial shape and the smallest unsigned
        integer type that fits: classes 1..K ordered by the mean of the first
        feature (1 = darkest) or, with class sizes given, in their order,
        0 outside ``mask``; with ``instances``, one
        number per object and 0 also where small objects were removed.
    """
    settings = dict(
        method=method, epsilon=epsilon, assignment=assignment, features=features, sigmas=sigmas,
        background_sigma=background_sigma, size_tolerance=size_tolerance, coordinates=coordinates,
        coordinate_weight=coordinate_weight, sample_size=sample_size, random_state=random_state,
        memory_limit=memory_limit, **mixture_options,
    )
    if is_dask_array(image):
        return segment_dask(
            image, n_components, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress,
            instances=instances, **settings,
        )
    labels = Segmenter(n_components, **settings).fit_predict(
        image, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress
    )
    return split_instances(labels, min_size=min_size) if instances else labels


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
    """Segment a dask (or zarr) image: :func:`~napari_sinkhorn_em.lazy.fit_dask`, then the lazy :func:`~napari_sinkhorn_em.lazy.predict_dask`.

    The same labels as :func:`segment`, as a
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
        See :func:`~napari_sinkhorn_em.lazy.fit_dask`.
    instances : bool, default False
        Must be False: objects cross chunk borders, so splitting classes into
        objects needs the whole label image (``split_instances(labels.compute())``).
    **settings
        Other :class:`Segmenter` arguments
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
