"""The contracts between the stages of a segmentation: progress reports, the feature-source protocols, the feature recipe.

Progress is reported as ``progress(stage, fraction)`` (:data:`ProgressCallback`)
or as :class:`Progress` reports from the ``*_steps`` generators.

A *feature source* hands the unstandardised feature rows of an image to a
:class:`~napari_sinkhorn_em.segmentation.Segmenter`, one table per block of
voxels (an in-memory image, :class:`~napari_sinkhorn_em.segmentation.FeatureSource`)
or lazily (a dask image, :mod:`napari_sinkhorn_em.lazy`); a :class:`RowBlock`
says where each table lies and which rows it holds. The Segmenter fits on a
:class:`FitSource` (``Segmenter.fit_source``) and labels a :class:`LabelSource`
(``Segmenter.assign``); the chunked path reaches the Segmenter only through
the methods of :class:`SourceSegmenter`, so it needs no import of it.

A *feature recipe* is the dict ``{"features": [[name, sigma], ...],
"coordinates": bool, "coordinate_weight": float, "background_sigma": float or
None}`` that a Segmenter keeps as ``recipe_`` and saves with its model, in
this (JSON) form everywhere; :func:`recipe_features` gives its features as the
``(name, sigma)`` tuples that :func:`~napari_sinkhorn_em.features.extract_features` takes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "FeatureRows",
    "FitSource",
    "LabelSource",
    "Progress",
    "ProgressCallback",
    "RowBlock",
    "SourceSegmenter",
    "recipe_features",
    "report_progress",
]


#: Called as ``progress(stage, fraction)``, e.g. ``("features", 0.5)``; ``fraction`` runs from 0 to 1.
ProgressCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class Progress:
    """One progress report of :meth:`~napari_sinkhorn_em.segmentation.Segmenter.fit_steps`.

    Attributes
    ----------
    stage : str
        ``"features"`` or ``"fit"``.
    fraction : float
        How far the stage is, from 0 to 1.
    message : str
        A short sentence for a progress bar, e.g.
        ``"Sinkhorn-EM iteration 12 of 100, log-likelihood -3.21"``.
    """

    stage: str
    fraction: float
    message: str


def report_progress(progress: ProgressCallback | None, stage: str, fraction: float) -> None:
    """Call ``progress(stage, fraction)`` (fraction as a float) unless ``progress`` is None.

    Parameters
    ----------
    progress : callable or None
        The callback, or None for no reports.
    stage : str
        What is running, e.g. ``"assign"``.
    fraction : float
        How far it is, from 0 to 1.
    """
    if progress is not None:
        progress(stage, float(fraction))


def recipe_features(recipe: dict[str, Any]) -> list[tuple[str, float | None]]:
    """The features of a feature recipe as ``(name, sigma)`` tuples.

    Parameters
    ----------
    recipe : dict
        A feature recipe (``Segmenter.recipe_`` or ``Segmenter.feature_recipe()``).

    Returns
    -------
    list of (str, float or None)
    """
    return [tuple(entry) for entry in recipe["features"]]


@dataclass(frozen=True)
class RowBlock:
    """Where one table of a feature source lies in its image, and which of the source's rows it holds.

    The source's rows are its (masked) voxels in C order, numbered from 0; a table holds the rows
    of the voxels of :attr:`box`, in C order.

    Attributes
    ----------
    box : tuple of slice
        The block's voxels, one slice per spatial axis.
    row_numbers : range or ndarray of int64
        The numbers of the table's rows among all the source's rows, increasing: a range when they
        follow one another (a block of whole planes, or the whole image).
    """

    box: tuple[slice, ...]
    row_numbers: range | np.ndarray


class FeatureRows(Protocol):
    """Unstandardised feature rows of an image, one table per block of voxels."""

    #: Spatial shape of the image, and its rows: the (masked) voxels.
    spatial_shape: tuple[int, ...]
    n_points: int

    def tables(self) -> Iterator[tuple[RowBlock, Any]]:
        """Yield ``(block, rows)`` per block of voxels, rows in C order within the block."""


class LabelSource(FeatureRows, Protocol):
    """Feature rows that a Segmenter labels (``Segmenter.assign``), block by block."""

    def place(self, out: np.ndarray, block: RowBlock, values: np.ndarray) -> None:
        """Write the per-row ``values`` of ``block`` into the spatial image ``out``."""


class FitSource(FeatureRows, Protocol):
    """Feature rows that a Segmenter fits on (``Segmenter.fit_source``), with what describes them.

    ``tables()`` may yield lazy tables (indexed with sorted row numbers, as
    the fit's subsample does), and ``names`` and ``n_feature_columns`` may
    be known only once rows are computed.
    """

    #: The feature recipe of the rows.
    recipe: dict[str, Any]
    #: Channels of the image and its voxel size per spatial axis.
    n_channels: int
    scale: tuple[float, ...]
    #: One name per column, and how many leading columns are filter features (not positions).
    names: tuple[str, ...] | None
    n_feature_columns: int

    def sample_tables(self, rows: np.ndarray | None) -> Iterator[tuple[RowBlock, Any]]:
        """Yield ``(block, rows)`` like ``tables()``, for tables that hold at least the rows ``rows``
        (sorted row numbers; None for all): a source may leave out blocks and rows not asked for."""


class SourceSegmenter(Protocol):
    """What the chunked path (:mod:`napari_sinkhorn_em.lazy`) uses of a Segmenter."""

    #: Once fitted: the feature recipe and voxel size of the training image.
    recipe_: dict[str, Any]
    scale_: tuple[float, ...]

    def feature_recipe(self) -> dict[str, Any]:
        """The feature recipe that the settings ask for."""

    def fit_source(self, source: FitSource, progress: ProgressCallback | None = None) -> Any:
        """Fit on the rows of ``source``."""

    def fit_source_steps(self, source: FitSource) -> Iterator[Progress]:
        """Fit on the rows of ``source``, yielding progress reports."""

    def check_fitted(self) -> None:
        """Raise unless fitted."""

    def check_image(self, n_channels: int, spatial_ndim: int, *, channel_axis: int | None, shape: Any) -> None:
        """Raise unless an image of this layout can be labelled."""

    @property
    def label_dtype(self) -> np.dtype:
        """The type of the labels."""

    def assign(self, source: LabelSource, progress: ProgressCallback | None = None) -> np.ndarray:
        """The labels of the rows of ``source``."""

    def fitted_copy(self) -> Any:
        """A copy holding the settings and fitted parameters only."""

    def to_dict(self) -> dict[str, Any]:
        """The saved-model document."""
