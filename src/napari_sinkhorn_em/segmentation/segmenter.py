"""Segmentation pipeline: per-voxel features, a Gaussian mixture, a label image.

:class:`Segmenter` fits a :class:`~napari_sinkhorn_em.mixture.GaussianMixture`
(EM or Sinkhorn-EM) to the features of a random subsample of the voxels and
then labels every voxel, working through the image in slabs along its first
spatial axis so that memory stays bounded for any image size. A fitted
segmenter can be saved as a readable JSON file and applied to other images.
:func:`segment` is the one-call version, :func:`compare_labels` matches two
labelings with the Hungarian algorithm and scores their agreement, and
:func:`compare_methods` runs EM and Sinkhorn-EM on the same features.

Label numbers are deterministic: after every fit the mixture's components
are sorted by the mean of the first feature (:func:`_order_components`), so
label 1 is the darkest class in the first channel, and the same settings give
bit-identical labels.
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from .._validation import (
    check_choice,
    check_epsilon,
    check_fits_in_memory,
    check_image_layout,
    check_mask_layout,
    check_positive_int,
    check_random_state,
    check_scale,
    check_weights,
)
from ..segmentation.class_sizes import SizeSearch, size_search_steps, user_order
from ..mixture import SinkhornConvergenceWarning
# fit_robust_scaling: the same median / IQR rule as extract_features, fitted on the subsample.
from ..features import (
    FeatureScaling,
    fit_robust_scaling,
    background_sigma_for,
    check_filter_reach,
    correct_illumination,
    expand_features,
    extract_features,
    halo_width,
)
from ..image_files import atomic_write, parse_json
from ..mixture import COVARIANCE_TYPES
from ..mixture import MIXTURE_METHOD_NAMES
from ..mixture import GaussianMixture, parameter_shape

__all__ = [
    "ASSIGNMENTS",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_MIN_SIZE",
    "DEFAULT_SIZE_TOLERANCE",
    "ProgressCallback",
    "default_assignment",
    "default_method",
    "gives_class_sizes",
    "FORMAT_VERSION",
    "METHODS",
    "METHOD_NAMES",
    "LabelComparison",
    "MethodComparison",
    "Progress",
    "Segmenter",
    "compare_labels",
    "class_sizes_from_labels",
    "compare_methods",
    "segment",
    "split_instances",
]

#: Version of the saved-model file layout; files with a larger number need a newer package.
FORMAT_VERSION = 1
#: Default bound, in bytes, on the feature tables and filter workspace held at one time.
DEFAULT_MEMORY_LIMIT = 1 << 30
#: Default smallest object (in pixels or voxels) kept by :func:`split_instances`.
DEFAULT_MIN_SIZE = 10

_MODEL_FORMAT = "napari-sinkhorn-em segmentation model"
_COORDINATE_NAMES = {2: ("y", "x"), 3: ("z", "y", "x")}
# Float32 arrays of image size that the filters of one channel at one sigma may hold at once
# (up to ten Gaussian derivatives in 3-D plus temporaries), and the intensity-only minimum.
_FILTER_WORKSPACE_ARRAYS = 14
_INTENSITY_WORKSPACE_ARRAYS = 2
_BYTES_PER_VALUE = 4

ProgressCallback = Callable[[str, float], None]

#: The ways of fitting offered for images, each as GaussianMixture settings. "sinkhorn_start" (the
#: default, chosen by the measurements in docs/evidence.md) moves the means by Sinkhorn-EM with
#: covariances and equal class sizes held, then fits everything by EM with class sizes learned:
#: it recovered the most nuclei on the NeuroPAL-like sample and every mean of the toy mixture.
#: "sinkhorn" is the papers' Sinkhorn-EM, whose class sizes stay fixed (equal unless given).
#: The class sizes (``weights``) may be overridden; ``method`` and ``warmup`` may not.
METHODS = {
    "sinkhorn_start": {"method": "em", "warmup": "sinkhorn_means", "weights": "em"},
    "em": {"method": "em", "warmup": None, "weights": "em"},
    "sinkhorn": {"method": "sinkhorn", "warmup": None, "weights": "uniform"},
}
#: How each method is named in messages, progress reports and layer names.
METHOD_NAMES = {"sinkhorn_start": "Sinkhorn start → EM", **MIXTURE_METHOD_NAMES}
#: How every voxel gets its label: the class of highest posterior probability (class sizes follow
#: the image), or the class the transport plan gives it (class sizes held at the fitted ones).
ASSIGNMENTS = ("posterior", "plan")
#: How far given class sizes may be off by default, as a factor: the smallest class's share is
#: searched from a third to three times the guess (see :mod:`napari_sinkhorn_em.segmentation`).
DEFAULT_SIZE_TOLERANCE = 3.0


def gives_class_sizes(weights: Any) -> bool:
    """Whether a ``weights`` setting gives class sizes as fractions (not "em", "uniform" or None)."""
    return weights is not None and not isinstance(weights, str)


def default_method(weights: Any = None) -> str:
    """The method used when none is chosen: Sinkhorn-EM when class sizes are given, else the Sinkhorn start.

    With given sizes, Sinkhorn-EM holds them (EM would drift away from them: on
    the BBBC010 wells the worm class grows from 10 % to 25-30 % of the well,
    docs/evidence.md); without, the Sinkhorn start recovered the most objects.
    """
    return "sinkhorn" if gives_class_sizes(weights) else "sinkhorn_start"


def default_assignment(method: str, weights: Any = None) -> str:
    """The labelling used when none is chosen: the transport plan for Sinkhorn-EM with given sizes.

    The plan gives each class its share of the pixels; the posterior would let
    the class sizes follow the image instead.
    """
    return "plan" if method == "sinkhorn" and gives_class_sizes(weights) else "posterior"


@dataclass(frozen=True)
class Progress:
    """One progress report of :meth:`Segmenter.fit_steps`.

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


def _fit_progress(mixture: GaussianMixture, step: Any) -> Progress:
    """A progress report for one iteration of ``mixture.fit_steps``."""
    name = "Sinkhorn-EM warm-up" if step.phase == "warmup" else MIXTURE_METHOD_NAMES[mixture.method]
    start = f", start {step.start + 1} of {step.n_starts}" if step.n_starts > 1 else ""
    message = (
        f"{name} iteration {step.iteration} of {step.max_iter}{start}, "
        f"log-likelihood {step.log_likelihood:.4g}"
    )
    within = step.iteration / max(step.max_iter, 1)
    if mixture.warmup is not None and not mixture.warm_start:
        # The warm-up fills the first half of each start, the main fit the second.
        within = 0.5 * within + (0.5 if step.phase == "main" else 0.0)
    fraction = (step.start + within) / step.n_starts
    return Progress("fit", min(fraction, 1.0), message)


def _report(progress: ProgressCallback | None, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, float(fraction))


# ---------------------------------------------------------------------------
# Feature rows, slab by slab
# ---------------------------------------------------------------------------


class _FeatureSource:
    """Unstandardised feature rows of one image, produced in slabs along the first spatial axis.

    Each slab is computed from the image padded by the filters' reach
    (:func:`~napari_sinkhorn_em.features.halo_width`) along that axis, so its
    rows are bit-identical to those of the whole image computed at once.
    Slabs are as thick as ``memory_limit`` allows. With ``keep=True`` and a
    table that fits in ``memory_limit``, the rows are computed once and
    replayed on later passes (fit, then assign). With a ``background_sigma``
    the illumination is corrected on the whole image first (one float32 copy
    of it), since its background reaches far beyond a slab.
    """

    def __init__(
        self,
        image: Any,
        *,
        channel_axis: int | None,
        scale: Sequence[float] | None,
        mask: Any,
        features: list[tuple[str, float | None]],
        coordinates: bool,
        coordinate_weight: float,
        memory_limit: int,
        background_sigma: float | None = None,
        keep: bool = False,
    ) -> None:
        image = np.asarray(image)
        channel_axis = check_image_layout(image.shape, image.dtype, channel_axis)
        if background_sigma is not None:
            image = correct_illumination(image, background_sigma, channel_axis=channel_axis, scale=scale, mask=mask)
        self.background_sigma = background_sigma
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
        self.features = features
        self.coordinates = coordinates
        self.coordinate_weight = coordinate_weight
        self.n_points = math.prod(self.spatial_shape) if mask is None else int(np.count_nonzero(mask))
        if self.n_points == 0:
            raise ValueError("The mask selects no pixels; it must be True on at least one pixel.")
        self.names: tuple[str, ...] | None = None
        self.n_feature_columns = 0

        check_filter_reach(features, (), self.scale, self.spatial_shape)
        self.halo = halo_width(features, (), self.scale)[0]
        uses_filters = any(sigma is not None for _, sigma in features)
        # Upper bound on the columns: every feature as wide as the number of axes.
        n_columns = self.n_channels * len(features) * ndim + (ndim if coordinates else 0)
        workspace = _FILTER_WORKSPACE_ARRAYS if uses_filters else _INTENSITY_WORKSPACE_ARRAYS
        # The table, its standardised copy, and the filter workspace of one channel.
        bytes_per_voxel = _BYTES_PER_VALUE * (2 * n_columns + workspace)
        slice_voxels = math.prod(self.spatial_shape[1:])
        length = self.spatial_shape[0]
        thickness = max(1, int(memory_limit // (bytes_per_voxel * slice_voxels)) - 2 * self.halo)
        self.bounds = [(start, min(start + thickness, length)) for start in range(0, length, thickness)]
        self._kept: list[tuple[int, int, np.ndarray]] | None = None
        self._keep = keep and self.n_points * _BYTES_PER_VALUE * n_columns <= memory_limit

    def _slab(self, array: np.ndarray, start: int, stop: int, axis: int) -> np.ndarray:
        index = [slice(None)] * array.ndim
        index[axis] = slice(start, stop)
        return array[tuple(index)]

    def _compute(self, start: int, stop: int) -> np.ndarray | None:
        """Rows of the slab ``[start, stop)`` (None when the mask leaves none)."""
        low, high = max(0, start - self.halo), min(self.spatial_shape[0], stop + self.halo)
        block = self._slab(self.image, low, high, self.first_axis)
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
            ndim = len(self.spatial_shape)
            self.n_feature_columns = len(stack.names)
            self.names = stack.names + (_COORDINATE_NAMES[ndim] if self.coordinates else ())
        if self.coordinates:
            table = np.hstack([table, self._coordinate_columns(start, stop)])
        return table

    def _coordinate_columns(self, start: int, stop: int) -> np.ndarray:
        """Physical position ``index * scale * coordinate_weight`` of each row, one column per axis."""
        shape = (stop - start,) + self.spatial_shape[1:]
        slab_mask = None if self.mask is None else self.mask[start:stop]
        columns = []
        for axis, size in enumerate(self.spatial_shape):
            first = start if axis == 0 else 0
            positions = np.arange(first, first + shape[axis], dtype=np.float32)
            positions *= np.float32(self.scale[axis] * self.coordinate_weight)
            view = [1] * len(shape)
            view[axis] = shape[axis]
            grid = np.broadcast_to(positions.reshape(view), shape)
            columns.append(grid.reshape(-1) if slab_mask is None else grid[slab_mask])
        return np.column_stack(columns)

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


# ---------------------------------------------------------------------------
# Segmenter
# ---------------------------------------------------------------------------


def _order_components(mixture: GaussianMixture, class_sizes: Any = None) -> None:
    """Sort the fitted components into label order, in place.

    This is the one place that fixes label numbers. With given class sizes,
    label k is the class given the k-th size. Otherwise label 1 is the component
    with the smallest mean first feature (the darkest class of channel 0), then
    by the other features.
    """
    order = np.lexsort(mixture.means_.T[::-1])
    if class_sizes is not None:
        # Classes given equal sizes keep the order of their means.
        mean_rank = np.argsort(order)
        order = user_order(mixture.weights_, np.asarray(class_sizes, dtype=np.float64), tie_break=mean_rank)
    mixture.reorder_components(order)


def _label_dtype(largest: int) -> np.dtype:
    """The smallest unsigned integer type holding 0..largest."""
    return np.min_scalar_type(int(largest))


class Segmenter:
    """Segment images by clustering per-voxel features with a Gaussian mixture.

    Parameters
    ----------
    n_components : int, default 3
        Number of classes K; labels are 1..K.
    method : {"sinkhorn_start", "em", "sinkhorn"} or None, default None
        How the mixture is fitted (see :data:`METHODS`); None chooses
        :func:`default_method`: ``"sinkhorn"`` when class sizes are given as
        fractions (``weights=``), ``"sinkhorn_start"`` otherwise. ``"sinkhorn_start"``:
        Sinkhorn-EM first moves the class means with equal class sizes and one
        shared covariance held, then EM fits everything with class sizes
        learned from the image; the measurements in docs/evidence.md made it
        the default. ``"em"``: classical EM (as scikit-learn).
        ``"sinkhorn"``: Sinkhorn-EM, whose E-step is an entropic optimal
        transport that holds every class at a fixed share of the voxels
        (equal shares unless ``weights`` gives others).
    epsilon : float, default 1.0
        Entropic regularisation of Sinkhorn-EM: of its warm-up with
        ``"sinkhorn_start"``, of every step with ``"sinkhorn"``, and of the
        transport plan with ``assignment="plan"``.
    assignment : {"posterior", "plan"} or None, default None
        None chooses :func:`default_assignment`: ``"plan"`` for Sinkhorn-EM
        with given class sizes, ``"posterior"`` otherwise.
        How :meth:`predict` labels a voxel: with the class of highest
        posterior probability at the fitted parameters (class sizes follow
        the image), or with the class the transport plan gives it, which
        holds the classes at the fitted sizes ``mixture_.weights_``
        (:meth:`GaussianMixture.predict_plan`, with the plan solved on the
        fitted subsample).
    features : str or list of (str, float or None), default "intensity"
        ``"intensity"``, ``"multiscale"``, a feature name or an explicit
        ``[(name, sigma), ...]`` list; see
        :func:`napari_sinkhorn_em.features.extract_features`.
    sigmas : float or sequence of float, default (1.0, 2.0, 4.0)
        Physical scales (units of ``scale``) of the filters of presets.
    background_sigma : float or None, default None
        Compute the features on the illumination-corrected image, with the
        background estimated at this scale inside the mask
        (:func:`~napari_sinkhorn_em.features.correct_illumination`). None:
        5 times the largest sigma for ``features="brightfield"``, no
        correction otherwise.
    size_tolerance : float, default 3.0
        With class sizes given as fractions and ``method="sinkhorn"``: how far
        the sizes may be off, as a factor. The share of the smallest class is
        searched from ``guess / size_tolerance`` to ``guess * size_tolerance``
        and the share where the cost of growing it rises fastest is kept
        (:mod:`napari_sinkhorn_em.segmentation`); 1 holds the sizes as given.
        It costs one Sinkhorn-EM fit per share tried (27 for a factor of 3).
    coordinates : bool, default False
        Add each voxel's physical position (z, y, x) times
        ``coordinate_weight`` as features (not standardised).
    coordinate_weight : float, default 1.0
        Weight of the position features.
    sample_size : int or None, default 200_000
        The mixture is fitted on this many voxels drawn at random (seeded by
        ``random_state``); None or a number above the voxel count uses all.
    random_state : int or None, default 0
        Seed of the subsample and of the mixture's initialisation. The same
        seed, settings and image give bit-identical labels.
    memory_limit : int, default 1 GiB
        Bytes the feature tables and filter workspace may hold at once; the
        image is processed in slabs along its first spatial axis to stay
        below it. Results do not depend on it.
    **mixture_options
        Passed to :class:`~napari_sinkhorn_em.mixture.GaussianMixture`
        (e.g. ``covariance_type="diag"``, ``max_iter=200``, or ``weights``:
        ``"em"`` to learn the class sizes, ``"uniform"`` for equal ones, or
        fractions such as :func:`class_sizes_from_labels` of a rough painting).
        ``method`` chooses the mixture's ``method`` and ``warmup``.

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture, components sorted by the mean of the first
        feature (component k is label k + 1).
    scaling_ : FeatureScaling
        Standardisation of the features (median / interquartile range,
        fitted on the subsample).
    recipe_ : dict
        Feature recipe: ``{"features": [[name, sigma], ...], "coordinates":
        bool, "coordinate_weight": float}``.
    feature_names_ : tuple of str
        One name per feature column.
    n_channels_ : int
        Number of channels of the training image.
    scale_ : tuple of float
        Voxel size of the training image.
    n_samples_fit_ : int
        Number of voxels the mixture was fitted on.
    plan_potentials_ : numpy.ndarray
        Dual potentials of the transport plan on the fitted voxels at the
        fitted parameters (:meth:`GaussianMixture.transport_potentials`),
        used by ``assignment="plan"``.
    class_sizes_ : numpy.ndarray
        The share of the voxels each class (label 1..K) holds in the fitted
        model: the mixture's weights in label order. With given sizes and a
        ``size_tolerance`` above 1, the searched one is the share chosen.
    size_search_ : SizeSearch or None
        What the class-size search tried and chose (None without a search;
        not saved with the model).

    Notes
    -----
    With class sizes given (``weights=(0.1, 0.9)``), label k is the class
    given the k-th size: label 1 is the class of 10 %. Otherwise labels are
    ordered by the mean of the first feature (label 1 is the darkest class).
    """

    def __init__(
        self,
        n_components: int = 3,
        *,
        method: str | None = None,
        epsilon: float = 1.0,
        assignment: str | None = None,
        features: Any = "intensity",
        sigmas: float | Sequence[float] = (1.0, 2.0, 4.0),
        background_sigma: float | None = None,
        size_tolerance: float = DEFAULT_SIZE_TOLERANCE,
        coordinates: bool = False,
        coordinate_weight: float = 1.0,
        sample_size: int | None = 200_000,
        random_state: int | None = 0,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        **mixture_options: Any,
    ) -> None:
        weights = mixture_options.get("weights")
        self.n_components = n_components
        self.method = default_method(weights) if method is None else method
        self.epsilon = epsilon
        self.assignment = default_assignment(self.method, weights) if assignment is None else assignment
        self.features = features
        self.sigmas = sigmas
        self.background_sigma = background_sigma
        self.size_tolerance = size_tolerance
        self.coordinates = coordinates
        self.coordinate_weight = coordinate_weight
        self.sample_size = sample_size
        self.random_state = random_state
        self.memory_limit = memory_limit
        self.mixture_options = mixture_options

    def __repr__(self) -> str:
        return (
            f"Segmenter(n_components={self.n_components!r}, method={self.method!r}, "
            f"epsilon={self.epsilon!r}, assignment={self.assignment!r}, features={self.features!r})"
        )

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, ``mixture_options`` as a nested dict."""
        return {
            "n_components": self.n_components,
            "method": self.method,
            "epsilon": self.epsilon,
            "assignment": self.assignment,
            "features": self.features,
            "sigmas": self.sigmas,
            "background_sigma": self.background_sigma,
            "size_tolerance": self.size_tolerance,
            "coordinates": self.coordinates,
            "coordinate_weight": self.coordinate_weight,
            "sample_size": self.sample_size,
            "random_state": self.random_state,
            "memory_limit": self.memory_limit,
            "mixture_options": dict(self.mixture_options),
        }

    # ------------------------------------------------------------- fitting
    def _mixture_settings(self) -> dict[str, Any]:
        """GaussianMixture keyword arguments of the settings (validated, apart from the mixture's own)."""
        check_choice(self.method, "method", tuple(METHODS))
        check_choice(self.assignment, "assignment", ASSIGNMENTS)
        chosen_by_method = {"method", "warmup"} & set(self.mixture_options)
        if chosen_by_method:
            raise ValueError(
                f"Choose how the mixture is fitted with method= (one of {', '.join(METHODS)}), "
                f"not with {' or '.join(sorted(chosen_by_method))}=."
            )
        return {"epsilon": self.epsilon, **METHODS[self.method], **self.mixture_options}

    def _new_mixture(self, random_state: Any) -> GaussianMixture:
        return GaussianMixture(self.n_components, random_state=random_state, **self._mixture_settings())

    def _settings_recipe(self) -> dict[str, Any]:
        """The feature recipe that the settings ask for (validated)."""
        return {
            "features": [list(entry) for entry in expand_features(self.features, self.sigmas)],
            "coordinates": bool(self.coordinates),
            "coordinate_weight": float(self.coordinate_weight),
            "background_sigma": background_sigma_for(self.features, self.sigmas, self.background_sigma),
        }

    def _class_sizes(self) -> np.ndarray | None:
        """The class sizes given as fractions (in label order, validated), or None."""
        weights = self.mixture_options.get("weights")
        if not gives_class_sizes(weights):
            return None
        return check_weights(weights, check_positive_int(self.n_components, "n_components"), name="The class sizes")

    def _source(self, image, channel_axis, scale, mask, recipe, *, keep: bool) -> _FeatureSource:
        return _FeatureSource(
            image,
            channel_axis=channel_axis,
            scale=scale,
            mask=mask,
            features=[tuple(entry) for entry in recipe["features"]],
            coordinates=recipe["coordinates"],
            coordinate_weight=recipe["coordinate_weight"],
            background_sigma=recipe.get("background_sigma"),
            memory_limit=check_positive_int(self.memory_limit, "memory_limit"),
            keep=keep,
        )

    def fit(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> Segmenter:
        """Fit the mixture to a random subsample of the image's voxels.

        Parameters
        ----------
        image : array_like or dask.array.Array
            2-D or 3-D image, optionally with a channel axis. A dask array
            (e.g. a zarr store) is fitted without loading it:
            :func:`napari_sinkhorn_em.lazy.fit_dask`, with the same result.
        channel_axis : int or None, default None
            Axis of ``image`` holding channels; None for one channel.
        scale : sequence of float or None, default None
            Voxel size per spatial axis (physical units of ``sigmas``); None
            means 1 for every axis.
        mask : array_like of bool or None, default None
            Only voxels where the mask is True are used.
        progress : callable or None, default None
            Called as ``progress(stage, fraction)`` with stages
            ``"features"`` and ``"fit"``.

        Returns
        -------
        Segmenter
            ``self``, fitted.
        """
        from ..lazy import chunked as lazy

        if lazy.is_dask_array(image):
            return lazy.fit_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress)
        self._fit_source(self._source(image, channel_axis, scale, mask, self._settings_recipe(), keep=False), progress)
        return self

    def fit_steps(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
    ) -> Iterator[Progress]:
        """Fit like :meth:`fit`, yielding a :class:`Progress` report after every stage and iteration.

        The Segmenter is fitted once the generator is exhausted. Closing the
        generator early (``generator.close()``, which napari's worker does when
        a run is cancelled) abandons the fit and leaves a previous fit intact.
        Parameters are as for :meth:`fit`.
        """
        from ..lazy import chunked as lazy

        if lazy.is_dask_array(image):
            yield from lazy.fit_dask_steps(self, image, channel_axis=channel_axis, scale=scale, mask=mask)
            return
        source = self._source(image, channel_axis, scale, mask, self._settings_recipe(), keep=False)
        yield from self._fit_source_steps(source)

    def refit_steps(self, *, epsilon: float) -> Iterator[Progress]:
        """Refit at a new ε on the same pixels, as cheaply as the method allows.

        Features, subsample and standardisation are reused. With
        ``method="sinkhorn"`` the mixture continues from its fitted means,
        covariances and Sinkhorn potentials (a warm start), which is much faster
        than a new fit: it is what makes a live ε slider responsive. With
        ``"sinkhorn_start"`` the warm-up depends on ε, so the mixture is fitted
        anew from the same start, exactly as a new fit at this ε would be. EM's
        fit does not depend on ε; only the transport plan of
        ``assignment="plan"`` is solved again. Yields :class:`Progress` like
        :meth:`fit_steps`; closing the generator early leaves the current fit
        intact.
        """
        if not hasattr(self, "_fit_sample"):
            raise RuntimeError("refit_steps needs a Segmenter fitted in this session; call fit(image) first.")
        epsilon = check_epsilon(epsilon)
        if self.method == "sinkhorn_start":
            mixture = self._new_mixture(copy.deepcopy(self._mixture_rng))
        else:
            mixture = copy.deepcopy(self.mixture_)
            mixture.warm_start = True
        mixture.epsilon = epsilon
        if self.method != "em":
            for step in mixture.fit_steps(self._fit_sample):
                yield _fit_progress(mixture, step)
            _order_components(mixture, self._class_sizes())
        self.plan_potentials_ = self._solve_plan(mixture, self._fit_sample)
        self.mixture_ = mixture
        self.epsilon = epsilon
        yield Progress("fit", 1.0, f"{METHOD_NAMES[self.method]} refit at ε = {epsilon:g} finished")

    def _solve_plan(self, mixture: GaussianMixture, X: np.ndarray) -> np.ndarray:
        """The transport plan's potentials on the fitted pixels; its convergence matters only to plan labels."""
        with warnings.catch_warnings():
            if self.assignment != "plan":
                warnings.simplefilter("ignore", SinkhornConvergenceWarning)
            return mixture.transport_potentials(X)

    def _fit_source(self, source: _FeatureSource, progress: ProgressCallback | None) -> None:
        for report in self._fit_source_steps(source):
            _report(progress, report.stage, report.fraction)

    def _fit_source_steps(self, source: _FeatureSource) -> Iterator[Progress]:
        n_components = check_positive_int(self.n_components, "n_components")
        self._mixture_settings()
        if self.sample_size is not None:
            check_positive_int(self.sample_size, "sample_size")
        rng = check_random_state(self.random_state)
        if source.n_points < n_components:
            raise ValueError(
                f"The image has {source.n_points} pixel(s) to cluster, fewer than the "
                f"{n_components} classes asked for; use fewer classes or a larger image or mask."
            )
        sample = None
        if self.sample_size is not None and self.sample_size < source.n_points:
            sample = np.sort(rng.choice(source.n_points, size=self.sample_size, replace=False))
        pieces, offset = [], 0
        yield Progress("features", 0.0, "Computing features")
        for _, stop, table in source.tables():
            if sample is None:
                pieces.append(table)
            else:
                low, high = np.searchsorted(sample, [offset, offset + table.shape[0]])
                pieces.append(table[sample[low:high] - offset])
            offset += table.shape[0]
            yield Progress("features", stop / source.spatial_shape[0], "Computing features")
        rows = np.concatenate(pieces)
        robust = np.arange(len(source.names)) < source.n_feature_columns
        scaling = fit_robust_scaling(rows, source.names, robust)
        X = scaling.apply(rows, copy=False)

        mixture_rng = copy.deepcopy(rng)
        yield Progress("fit", 0.0, f"Fitting {METHOD_NAMES[self.method]} on {X.shape[0]:,} pixels")
        class_sizes = self._class_sizes()
        if class_sizes is not None and class_sizes.min() * X.shape[0] < 1:
            raise ValueError(
                f"A class size of {class_sizes.min():.3g} is less than one of the {X.shape[0]:,} pixels the "
                f"model is fitted on, so that class would be empty. Give every class at least "
                f"{1 / X.shape[0]:.2g} of the pixels, or fewer classes."
            )
        self.size_search_ = None
        if self.method == "sinkhorn" and class_sizes is not None and float(self.size_tolerance) != 1.0:
            mixture, self.size_search_ = yield from self._search_sizes(X, class_sizes, rng)
        else:
            mixture = self._new_mixture(rng)
            for step in mixture.fit_steps(X):
                yield _fit_progress(mixture, step)
        _order_components(mixture, class_sizes)

        self.mixture_ = mixture
        self.plan_potentials_ = self._solve_plan(mixture, X)
        self.scaling_ = scaling
        self.recipe_ = {
            "features": [list(entry) for entry in source.features],
            "coordinates": source.coordinates,
            "coordinate_weight": source.coordinate_weight,
            "background_sigma": source.background_sigma,
        }
        self.feature_names_ = source.names
        self.n_channels_ = source.n_channels
        self.scale_ = source.scale
        self.n_samples_fit_ = int(X.shape[0])
        # Kept (not saved) so that refit_steps can continue on the same pixels, or start again.
        self._fit_sample = X
        self._mixture_rng = mixture_rng
        yield Progress("fit", 1.0, f"{METHOD_NAMES[self.method]} fit finished")

    def _search_sizes(self, X: np.ndarray, class_sizes: np.ndarray, rng: Any):
        """Sinkhorn-EM fits with the smallest class's share searched near its guess; returns (mixture, search)."""
        settings = self._mixture_settings()

        def new_mixture(sizes: np.ndarray) -> GaussianMixture:
            # The same start for every share, so that the fits differ by their share alone.
            return GaussianMixture(
                self.n_components, random_state=copy.deepcopy(rng), **{**settings, "weights": sizes}
            )

        steps = size_search_steps(X, class_sizes, self.size_tolerance, new_mixture)
        while True:
            try:
                step = next(steps)
            except StopIteration as finished:
                return finished.value
            fit = step.fit_step
            within = fit.iteration / max(fit.max_iter, 1)
            yield Progress(
                "fit",
                min((step.share_index + within) / step.n_shares, 1.0),
                f"Class sizes: trying a share of {step.share:.1%} ({step.share_index + 1} of {step.n_shares}), "
                f"Sinkhorn-EM iteration {fit.iteration}",
            )

    @property
    def class_sizes_(self) -> np.ndarray:
        """The share of the voxels each class (label 1..K) holds in the fitted model."""
        if not hasattr(self, "mixture_"):
            raise AttributeError("class_sizes_ exists once the Segmenter is fitted.")
        return self.mixture_.weights_.copy()

    def describe_class_sizes(self) -> str:
        """The fitted class sizes as a sentence for people, and the share a size search chose.

        Returns
        -------
        str
            E.g. ``"1: 9.17%, 2: 90.8% (class 1: 9.17% chosen from 3.33–30% around
            the 10% given)"``; without a search only the sizes by label.
        """
        text = ", ".join(f"{label}: {100 * size:.3g}%" for label, size in enumerate(self.class_sizes_, 1))
        search = self.size_search_
        if search is None:
            return text
        return (
            f"{text} (class {search.searched_class + 1}: {100 * search.chosen:.3g}% chosen from "
            f"{100 * search.shares[0]:.3g}–{100 * search.shares[-1]:.3g}% around the {100 * search.guess:.3g}% given)"
        )

    # ------------------------------------------------------------ prediction
    def _prediction_source(self, image, channel_axis, scale, mask) -> _FeatureSource:
        if not hasattr(self, "mixture_"):
            raise RuntimeError("This Segmenter is not fitted yet; call fit(image) first or load a saved model.")
        scale = self.scale_ if scale is None else scale
        source = self._source(image, channel_axis, scale, mask, self.recipe_, keep=False)
        if source.n_channels != self.n_channels_:
            raise ValueError(
                f"The model was fitted on images with {self.n_channels_} channel(s), but this image has "
                f"{source.n_channels} (channel_axis={source.channel_axis}); give the right channel_axis or "
                f"use a model fitted on {source.n_channels}-channel images."
            )
        if len(source.spatial_shape) != len(self.scale_):
            raise ValueError(
                f"The model was fitted on {len(self.scale_)}-D images, but this image is "
                f"{len(source.spatial_shape)}-D (shape {source.image.shape}); use a model fitted on "
                f"{len(source.spatial_shape)}-D images."
            )
        return source

    def _assign(self, source: _FeatureSource, progress: ProgressCallback | None, *, proba: bool = False) -> np.ndarray:
        """Label (or score) every voxel of ``source``, slab by slab."""
        n_components = self.mixture_.n_components
        if proba:
            n_voxels = math.prod(source.spatial_shape)
            check_fits_in_memory(
                n_voxels * n_components * np.dtype(np.float32).itemsize,
                f"The probabilities of {n_components} classes for {n_voxels:,} voxels",
                "Use predict for the labels instead, or call predict_proba on parts of the image "
                "(e.g. a few planes, image[i:j]) one at a time.",
            )
            out = np.zeros(source.spatial_shape + (n_components,), dtype=np.float32)
        else:
            out = np.zeros(source.spatial_shape, dtype=_label_dtype(n_components))
        _report(progress, "assign", 0.0)
        for start, stop, table in source.tables():
            X = self.scaling_.apply(table)
            if proba:
                values = self.mixture_.predict_proba(X).astype(np.float32)
            elif self.assignment == "plan":
                values = self.mixture_.predict_plan(X, self._plan_potentials())[0] + 1
            else:
                values = self.mixture_.predict(X) + 1
            source.place(out, start, stop, values)
            _report(progress, "assign", stop / source.spatial_shape[0])
        return out

    def _plan_potentials(self) -> np.ndarray:
        if not hasattr(self, "plan_potentials_"):
            raise ValueError(
                "This model was saved without its transport plan, so it cannot label with "
                "assignment='plan'; use assignment='posterior', or fit the model again."
            )
        return self.plan_potentials_

    def predict(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Label every voxel of an image with the fitted classes.

        Parameters
        ----------
        image : array_like or dask.array.Array
            2-D or 3-D image with the same number of channels and spatial
            axes as the training image. A dask array gets lazy labels with
            its chunks (:func:`napari_sinkhorn_em.lazy.predict_dask`).
        channel_axis : int or None, default None
            Axis of ``image`` holding channels; None for one channel.
        scale : sequence of float or None, default None
            Voxel size; None uses the training image's (``scale_``).
        mask : array_like of bool or None, default None
            Voxels outside the mask get label 0.
        progress : callable or None, default None
            Called as ``progress("assign", fraction)``.

        Returns
        -------
        numpy.ndarray
            Labels 1..K of the image's spatial shape (0 outside ``mask``),
            in the smallest unsigned integer type that holds K, chosen as
            ``assignment`` says.
        """
        from ..lazy import chunked as lazy

        if lazy.is_dask_array(image):
            return lazy.predict_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask)
        return self._assign(self._prediction_source(image, channel_axis, scale, mask), progress)

    def predict_proba(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Posterior probability of each class for every voxel.

        Parameters are as for :meth:`predict`.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``spatial_shape + (K,)``; entry ``k - 1``
            is the probability of label ``k`` (0 everywhere outside ``mask``).
        """
        return self._assign(self._prediction_source(image, channel_axis, scale, mask), progress, proba=True)

    def fit_predict(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Fit on the image and label it: the same labels as ``fit(image).predict(image)``.

        The features are computed once when they fit in ``memory_limit``.
        Parameters and return value are as for :meth:`fit` and
        :meth:`predict`.
        """
        from ..lazy import chunked as lazy

        if lazy.is_dask_array(image):
            lazy.fit_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress)
            return lazy.predict_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask)
        source = self._source(image, channel_axis, scale, mask, self._settings_recipe(), keep=True)
        self._fit_source(source, progress)
        return self._assign(source, progress)

    # -------------------------------------------------------------- model files
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save the fitted model as a readable JSON file (written atomically).

        The file holds the format version, the package version, the settings,
        the feature recipe and names, the number of channels and voxel size of
        the training image, the feature standardisation and the mixture
        parameters (means, covariances, precisions, weights, Sinkhorn dual
        potentials). Floats are written with full precision, so a loaded
        model gives identical labels.

        Parameters
        ----------
        path : str or path-like
            Destination, e.g. ``"worms.model.json"``.
        overwrite : bool, default False
            Replace an existing file.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        ValueError
            If a setting (e.g. a ``random_state`` generator) cannot be
            stored in JSON.
        """
        from .._version import __version__

        if not hasattr(self, "mixture_"):
            raise RuntimeError("This Segmenter is not fitted yet; fit it before saving.")
        mixture = self.mixture_
        document = {
            "format": _MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "settings": self.get_params(),
            "recipe": self.recipe_,
            "feature_names": list(self.feature_names_),
            "image": {"n_channels": self.n_channels_, "scale": list(self.scale_)},
            "scaling": self.scaling_.to_dict(),
            "mixture": {
                "covariance_type": mixture.covariance_type,
                "means": mixture.means_,
                "covariances": mixture.covariances_,
                "precisions": mixture.precisions_,
                "precisions_cholesky": mixture.precisions_cholesky_,
                "weights": mixture.weights_,
                "potentials": mixture.potentials_,
                "plan_potentials": self.plan_potentials_,
                "converged": bool(mixture.converged_),
                "n_iter": int(mixture.n_iter_),
                "n_samples_fit": self.n_samples_fit_,
            },
        }
        try:
            text = json.dumps(document, indent=1, default=_json_default, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"The model cannot be saved as JSON: {error}") from None
        with atomic_write(path, overwrite=overwrite) as handle:
            handle.write(text.encode("utf-8"))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Segmenter:
        """Load a model saved with :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The JSON model file.

        Returns
        -------
        Segmenter
            A fitted segmenter that labels images exactly as the saved one.

        Raises
        ------
        ValueError
            If the file was written by a newer version of napari-sinkhorn-em
            (upgrade it), or is damaged or not a model file.
        FileNotFoundError
            If the file does not exist.
        """
        path = Path(path)
        text = path.read_bytes()
        try:
            document = parse_json(text)
            if not isinstance(document, dict) or document.get("format") != _MODEL_FORMAT:
                raise ValueError("it is not a napari-sinkhorn-em model file")
            version = document["format_version"]
            if not isinstance(version, int) or isinstance(version, bool):
                raise ValueError(f"its format_version {version!r} is not a whole number")
            if version < 1:
                raise ValueError(f"its format_version {version} is not a known one (1 to {FORMAT_VERSION})")
        except (ValueError, KeyError) as error:
            raise ValueError(f"The model file {path} is damaged or not a model file: {_reason(error)}.") from None
        if version > FORMAT_VERSION:
            raise ValueError(
                f"The model file {path} was written by a newer napari-sinkhorn-em "
                f"({document.get('package_version', 'unknown version')}, model format {version}; this "
                f"version reads formats up to {FORMAT_VERSION}). Upgrade napari-sinkhorn-em "
                f"(pip install --upgrade napari-sinkhorn-em) to use it."
            )
        try:
            return cls._from_document(document)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise ValueError(f"The model file {path} is damaged or not a model file: {_reason(error)}.") from None

    @classmethod
    def _from_document(cls, document: dict[str, Any]) -> Segmenter:
        settings = dict(document["settings"])
        mixture_options = settings.pop("mixture_options")
        segmenter = cls(**settings, **mixture_options)
        names = tuple(document["feature_names"])
        stored = document["mixture"]
        n_components = check_positive_int(segmenter.n_components, "n_components")
        n_features = len(names)
        check_choice(stored["covariance_type"], "its covariance_type", COVARIANCE_TYPES)
        matrix_shape = parameter_shape(stored["covariance_type"], n_components, n_features)
        expected = {
            "means": (n_components, n_features),
            "covariances": matrix_shape,
            "precisions": matrix_shape,
            "precisions_cholesky": matrix_shape,
            "weights": (n_components,),
        }
        for key in ("potentials", "plan_potentials"):
            if stored.get(key) is not None:
                expected[key] = (n_components,)
        arrays = {}
        for key, shape in expected.items():
            array = np.asarray(stored[key], dtype=np.float64)
            if array.shape != shape or not np.isfinite(array).all():
                raise ValueError(f"mixture entry {key!r} should be {shape} finite numbers, found shape {array.shape}")
            arrays[key] = array
        check_weights(arrays["weights"], n_components, name="its class weights")
        for key in ("covariances", "precisions"):
            if not _positive_definite(arrays[key], stored["covariance_type"]):
                raise ValueError(f"the mixture's {key} are not all positive definite (valid covariances)")
        scaling = FeatureScaling.from_dict(document["scaling"])
        if scaling.names != names:
            raise ValueError("the feature standardisation does not match the feature names")
        recipe = document["recipe"]
        features = [(str(name), sigma) for name, sigma in recipe["features"]]
        if expand_features(features) != features:
            raise ValueError("the feature recipe is not valid")
        scale = tuple(float(step) for step in document["image"]["scale"])
        if len(scale) not in (2, 3):
            raise ValueError(f"the voxel size {scale} is not 2-D or 3-D")

        mixture = segmenter._new_mixture(segmenter.random_state)
        mixture.covariance_type = stored["covariance_type"]
        mixture.set_fitted_parameters(
            means=arrays["means"],
            covariances=arrays["covariances"],
            weights=arrays["weights"],
            precisions_cholesky=arrays["precisions_cholesky"],
            precisions=arrays["precisions"],
            potentials=arrays.get("potentials"),
            converged=stored["converged"],
            n_iter=stored["n_iter"],
        )
        segmenter.mixture_ = mixture
        segmenter.size_search_ = None
        segmenter.scaling_ = scaling
        background_sigma = recipe.get("background_sigma")
        segmenter.recipe_ = {
            "features": [list(entry) for entry in features],
            "coordinates": bool(recipe["coordinates"]),
            "coordinate_weight": float(recipe["coordinate_weight"]),
            "background_sigma": None if background_sigma is None else float(background_sigma),
        }
        segmenter.feature_names_ = names
        segmenter.n_channels_ = check_positive_int(document["image"]["n_channels"], "n_channels")
        segmenter.scale_ = scale
        segmenter.n_samples_fit_ = int(stored["n_samples_fit"])
        if "plan_potentials" in arrays:
            segmenter.plan_potentials_ = arrays["plan_potentials"]
        return segmenter


def _positive_definite(matrices: np.ndarray, covariance_type: str) -> bool:
    """Whether every component's covariance (or precision) of a stored mixture is positive definite."""
    if covariance_type != "full":
        return bool((matrices > 0).all())
    try:
        np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        return False
    return bool(np.allclose(matrices, np.swapaxes(matrices, 1, 2)))


def _json_default(value: Any) -> Any:
    """JSON form of numpy arrays and scalars; anything else cannot be saved."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"the setting value {value!r} of type {type(value).__name__} has no JSON form")


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"the entry {error.args[0]!r} is missing"
    return str(error).rstrip(".")


# ---------------------------------------------------------------------------
# One-call segmentation and instances
# ---------------------------------------------------------------------------


def class_sizes_from_labels(labels: Any, n_components: int) -> np.ndarray:
    """Class sizes of a rough painting, as fractions for the ``weights`` setting.

    Paint a few regions of each class with labels 1..K in proportion to how
    much of the image the class covers (0 = not painted); the fraction of the
    painted pixels that carries each label becomes that class's size. Only
    the sizes are used: the fitted classes are numbered as usual (by the mean
    of the first feature), and each size goes to the class that starts with
    a share of the pixels of the same rank.

    Parameters
    ----------
    labels : array_like of int
        The painting (e.g. a napari Labels layer's data).
    n_components : int
        Number of classes K; every label 1..K must be painted.

    Returns
    -------
    numpy.ndarray
        K fractions summing to 1; entry ``k - 1`` belongs to label k.
    """
    n_components = check_positive_int(n_components, "n_components")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise ValueError(f"The painted classes must be whole-number labels; got values of type {labels.dtype}.")
    painted = labels[labels != 0]
    if painted.size and (painted.min() < 0 or painted.max() > n_components):
        raise ValueError(
            f"The painting uses label {int(painted.max()) if painted.max() > n_components else int(painted.min())}, "
            f"but there are {n_components} classes; paint with labels 1 to {n_components} only."
        )
    counts = np.bincount(painted.astype(np.int64, copy=False), minlength=n_components + 1)[1:]
    missing = [str(label) for label in np.flatnonzero(counts == 0) + 1]
    if missing:
        raise ValueError(
            f"Class {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not painted; paint some "
            f"pixels of every class 1 to {n_components}, in proportion to the area each covers."
        )
    return counts / counts.sum()


def split_instances(
    labels: Any, *, classes: Any = None, min_size: int = DEFAULT_MIN_SIZE, connectivity: int = 1
) -> np.ndarray:
    """Split the object classes of a label image into their connected objects.

    Parameters
    ----------
    labels : array_like of int
        Class labels (0 = not segmented, 1..K classes), 2-D or 3-D.
    classes : int or sequence of int, optional
        The classes that hold objects (e.g. the worms' class). The others, such as
        the background, become 0. None splits every class.
    min_size : int, default 10
        Objects with fewer pixels (voxels) than this are removed (set to 0).
    connectivity : int, default 1
        Which neighbours touch: 1 = sharing a face (4-neighbours in 2-D,
        6 in 3-D), up to ``ndim`` = also diagonal neighbours (8 / 26).

    Returns
    -------
    numpy.ndarray
        One label per object, numbered from 1 class by class (all objects of
        class 1 first) in scan order; 0 outside the object classes and for removed
        objects. Smallest unsigned integer type that holds the count.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu" or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must hold non-negative whole numbers, got dtype {labels.dtype}.")
    min_size = check_positive_int(min_size, "min_size", minimum=0)
    present = np.unique(labels[labels > 0])
    if classes is not None:
        wanted = np.atleast_1d(np.asarray(classes))
        if wanted.ndim != 1 or wanted.dtype.kind not in "iu" or (wanted.size and wanted.min() < 1):
            raise ValueError(
                f"classes must be class numbers (whole numbers from 1), e.g. classes=[1]; got {classes!r}."
            )
        present = present[np.isin(present, wanted)]
    structure = ndimage.generate_binary_structure(labels.ndim, connectivity)
    objects = np.zeros(labels.shape, dtype=np.uint32)
    n_objects = 0
    for value in present:
        components, n_components = ndimage.label(labels == value, structure)
        sizes = np.bincount(components.ravel(), minlength=n_components + 1)
        keep = sizes >= min_size
        keep[0] = False
        new_numbers = np.zeros(n_components + 1, dtype=np.uint32)
        new_numbers[keep] = n_objects + 1 + np.arange(np.count_nonzero(keep), dtype=np.uint32)
        inside = components > 0
        objects[inside] = new_numbers[components[inside]]
        n_objects += int(np.count_nonzero(keep))
    return objects.astype(_label_dtype(n_objects))


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
    from ..lazy import chunked as lazy

    if lazy.is_dask_array(image):
        return lazy.segment_dask(
            image, n_components, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress,
            instances=instances, method=method, epsilon=epsilon, assignment=assignment, features=features,
            sigmas=sigmas, background_sigma=background_sigma, size_tolerance=size_tolerance, coordinates=coordinates, coordinate_weight=coordinate_weight, sample_size=sample_size,
            random_state=random_state, memory_limit=memory_limit, **mixture_options,
        )
    labels = Segmenter(
        n_components,
        method=method,
        epsilon=epsilon,
        assignment=assignment,
        features=features,
        sigmas=sigmas,
        background_sigma=background_sigma,
        size_tolerance=size_tolerance,
        coordinates=coordinates,
        coordinate_weight=coordinate_weight,
        sample_size=sample_size,
        random_state=random_state,
        memory_limit=memory_limit,
        **mixture_options,
    ).fit_predict(image, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress)
    return split_instances(labels, min_size=min_size) if instances else labels


# ---------------------------------------------------------------------------
# Comparing labelings
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelComparison:
    """Agreement of a labeling ``b`` with a reference labeling ``a``.

    Attributes
    ----------
    matched : numpy.ndarray
        ``b`` renumbered so that each of its labels carries the number of the
        ``a`` label it overlaps most (Hungarian matching); labels of ``b``
        left without a partner get new numbers above ``a``'s largest.
    adjusted_rand_index : float
        Adjusted Rand index of the two labelings (1 = identical up to
        renumbering, about 0 = chance agreement).
    disagreement_fraction : float
        Fraction of pixels where ``matched`` differs from ``a``.
    disagreement : numpy.ndarray
        Boolean image, True where ``matched`` differs from ``a``.
    mapping : dict
        ``{label of b: label in matched}``.
    """

    matched: np.ndarray
    adjusted_rand_index: float
    disagreement_fraction: float
    disagreement: np.ndarray
    mapping: dict[Any, Any]


def _adjusted_rand_index(table: np.ndarray) -> float:
    """Adjusted Rand index from a contingency table, via the pair confusion counts.

    Counts are converted to Python integers so that the products cannot
    overflow for images of any size.
    """
    n = int(table.sum())
    sum_squares = int((table.astype(np.int64) ** 2).sum())
    row_sizes, column_sizes = table.sum(axis=1), table.sum(axis=0)
    together_in_b_only = int((table * column_sizes[None, :]).sum()) - sum_squares
    together_in_a_only = int((table * row_sizes[:, None]).sum()) - sum_squares
    together_in_both = sum_squares - n
    apart_in_both = n * n - together_in_b_only - together_in_a_only - sum_squares
    if together_in_a_only == 0 and together_in_b_only == 0:
        return 1.0
    numerator = 2 * (together_in_both * apart_in_both - together_in_a_only * together_in_b_only)
    denominator = (together_in_both + together_in_a_only) * (together_in_a_only + apart_in_both) + (
        together_in_both + together_in_b_only
    ) * (together_in_b_only + apart_in_both)
    return numerator / denominator


def compare_labels(a: Any, b: Any) -> LabelComparison:
    """Match the labels of ``b`` to those of ``a`` and measure their agreement.

    The overlap of every pair of labels (the contingency table) is computed,
    and the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
    pairs ``b``'s labels with ``a``'s so that the total overlap is largest.

    Parameters
    ----------
    a, b : array_like
        Two labelings of the same image (any integer or boolean labels, same
        shape), e.g. EM's and Sinkhorn-EM's.

    Returns
    -------
    LabelComparison
        ``b`` renumbered like ``a``, the adjusted Rand index, the fraction and
        mask of pixels labelled differently, and the mapping used.

    Raises
    ------
    ValueError
        If the shapes differ or the images are empty.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"The two label images must have the same shape; got {a.shape} and {b.shape}.")
    if a.size == 0:
        raise ValueError("The label images are empty.")
    values_a, index_a = np.unique(a.ravel(), return_inverse=True)
    values_b, index_b = np.unique(b.ravel(), return_inverse=True)
    table = np.bincount(
        index_a * len(values_b) + index_b, minlength=len(values_a) * len(values_b)
    ).reshape(len(values_a), len(values_b))
    rows, columns = linear_sum_assignment(table, maximize=True)
    unmatched = np.setdiff1d(np.arange(len(values_b)), columns)
    dtype, first_new = a.dtype, 0
    if len(unmatched):
        first_new = int(values_a.max()) + 1
        dtype = np.result_type(a.dtype, np.min_scalar_type(first_new + len(unmatched) - 1))
    new_values = np.empty(len(values_b), dtype=dtype)
    new_values[columns] = values_a[rows]
    new_values[unmatched] = first_new + np.arange(len(unmatched))
    matched = new_values[index_b].reshape(a.shape)
    disagreement = matched != a
    return LabelComparison(
        matched=matched,
        adjusted_rand_index=_adjusted_rand_index(table),
        disagreement_fraction=float(np.count_nonzero(disagreement) / a.size),
        disagreement=disagreement,
        mapping={value.item(): new.item() for value, new in zip(values_b, new_values)},
    )


@dataclass(frozen=True)
class MethodComparison:
    """EM and Sinkhorn-EM fitted to the same features of one image.

    Attributes
    ----------
    em, sinkhorn : Segmenter
        The two fitted segmenters (same settings apart from ``method``).
    em_labels, sinkhorn_labels : numpy.ndarray
        Their label images, each numbered by :func:`segment`'s rule.
    comparison : LabelComparison
        ``sinkhorn_labels`` matched to ``em_labels``.
    """

    em: Segmenter
    sinkhorn: Segmenter
    em_labels: np.ndarray
    sinkhorn_labels: np.ndarray
    comparison: LabelComparison


def compare_methods(
    image: Any,
    n_components: int = 3,
    *,
    epsilon: float = 1.0,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> MethodComparison:
    """Segment one image with EM and with Sinkhorn-EM and compare the results.

    Both fits use the same features (computed once when they fit in memory),
    the same subsample and the same seed. EM learns the class sizes from the
    image; Sinkhorn-EM holds them (equal, unless ``weights`` gives them).

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    n_components : int, default 3
        Number of classes K.
    epsilon : float, default 1.0
        Sinkhorn-EM's entropic regularisation.
    channel_axis, scale, mask : optional
        See :meth:`Segmenter.fit`.
    progress : callable or None, default None
        Called as ``progress(stage, fraction)`` with stages such as
        ``"fit (EM)"`` and ``"assign (Sinkhorn-EM)"``.
    **settings
        Other :class:`Segmenter` arguments (``features``, ``sample_size``,
        ``random_state``, mixture options...).

    Returns
    -------
    MethodComparison
    """
    em_settings = {name: value for name, value in settings.items() if name != "weights"}
    segmenters = {
        "em": Segmenter(n_components, method="em", epsilon=epsilon, **em_settings),
        "sinkhorn": Segmenter(n_components, method="sinkhorn", epsilon=epsilon, **settings),
    }
    em = segmenters["em"]
    source = em._source(image, channel_axis, scale, mask, em._settings_recipe(), keep=True)
    labels = {}
    for method, segmenter in segmenters.items():
        name = METHOD_NAMES[method]
        stage_progress = None if progress is None else (lambda stage, fraction, name=name: progress(f"{stage} ({name})", fraction))
        segmenter._fit_source(source, stage_progress)
        labels[method] = segmenter._assign(source, stage_progress)
    return MethodComparison(
        em=segmenters["em"],
        sinkhorn=segmenters["sinkhorn"],
        em_labels=labels["em"],
        sinkhorn_labels=labels["sinkhorn"],
        comparison=compare_labels(labels["em"], labels["sinkhorn"]),
    )
