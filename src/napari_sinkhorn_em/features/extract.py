"""Per-pixel (2-D) and per-voxel (3-D) feature vectors for mixture-model segmentation.

:func:`extract_features` turns an image (2-D or 3-D, any number of channels,
any numeric dtype) into a table with one row per pixel and one column per
feature: raw intensities, Gaussian-smoothed intensities, edge and blob
detectors at several scales, and optionally the physical position of each
pixel. The table is what the Gaussian mixture is fitted to.

Conventions
-----------
* Everything is computed in float32, one channel and one scale at a time,
  and written straight into the preallocated ``(n_points, n_features)``
  output.
* Scales (``sigma``) and positions are in *physical* units, the units of the
  ``scale`` (voxel size) argument, like a napari layer's ``scale``. A filter of
  scale ``sigma`` uses ``sigma / scale[axis]`` pixels along each axis, and
  derivatives are taken with respect to physical distance, so an anisotropic
  stack gives the same responses as the same specimen imaged isotropically.
* Gaussian filters are separable 1-D passes (``scipy.ndimage.correlate1d``,
  ``mode="reflect"``) with kernels truncated at :data:`GAUSSIAN_TRUNCATE`
  standard deviations. Derivative kernels are corrected like vigra's (the
  library behind ilastik): they sum to zero, so a uniform image has exactly
  zero derivatives, and they differentiate low-order polynomials exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_scale
from .filters import FILTERS, ChannelScale
from .gaussian import gaussian_derivatives
from .illumination import correct_illumination
from .inputs import checked_image, checked_mask, split_channels
from .recipes import (
    SPATIAL_AXIS_NAMES,
    FeatureSpec,
    background_sigma_for,
    check_filter_reach,
    coordinate_columns,
    expand_features,
    feature_column_names,
)
from .scaling import FeatureScaling, fit_robust_scaling

__all__ = ["FeatureStack", "extract_features"]


@dataclass(frozen=True, eq=False)
class FeatureStack:
    """Feature table of an image: one row per pixel/voxel, one column per feature.

    Attributes
    ----------
    data : ndarray
        ``(n_points, n_features)`` float32.
    names : tuple of str
        One name per column, e.g. ``"ch0:gaussian(s=2)"``,
        ``"ch1:hessian_eigenvalues[0](s=1)"``, ``"x"``.
    spatial_shape : tuple of int
        Shape of the image without its channel axis.
    mask : ndarray or None
        Boolean array of ``spatial_shape`` selecting the rows (in C order),
        or None when every pixel is a row (C order).
    scaling : FeatureScaling or None
        The standardisation applied to :attr:`data`, or None if none was.
    recipe : dict
        JSON-safe description from which :func:`extract_features` recomputes
        the same columns on another image: ``{"features": [[name, sigma],
        ...], "coordinates": bool, "coordinate_weight": float,
        "background_sigma": float or None}`` (pass
        ``features=recipe["features"]`` and the others as keywords).
    """

    data: np.ndarray
    names: tuple[str, ...]
    spatial_shape: tuple[int, ...]
    mask: np.ndarray | None
    scaling: FeatureScaling | None
    recipe: dict[str, Any]

    @property
    def n_points(self) -> int:
        """Number of rows (pixels or voxels)."""
        return self.data.shape[0]

    @property
    def n_features(self) -> int:
        """Number of columns."""
        return self.data.shape[1]

    def to_image(self, values: np.ndarray, fill: Any = 0) -> np.ndarray:
        """Place per-row values back into an image.

        Parameters
        ----------
        values : array_like
            ``(n_points,)`` or ``(n_points, k)``, one entry per row, e.g.
            cluster labels or probabilities.
        fill : scalar, default 0
            Value of pixels outside :attr:`mask`.

        Returns
        -------
        ndarray
            ``spatial_shape`` (or ``spatial_shape + (k,)``) array with the
            dtype of ``values`` promoted with ``fill``.
        """
        values = np.asarray(values)
        if values.ndim not in (1, 2) or values.shape[0] != self.n_points:
            raise ValueError(
                f"Expected one value per row ({self.n_points} rows), got an array of shape {values.shape}."
            )
        shape = self.spatial_shape + values.shape[1:]
        if self.mask is None:
            return values.reshape(shape).copy()
        image = np.full(shape, fill, dtype=np.result_type(values, fill))
        image[self.mask] = values
        return image


@dataclass(frozen=True)
class _Request:
    """The checked arguments of one :func:`extract_features` call."""

    spatial_shape: tuple[int, ...]
    physical_scale: tuple[float, ...]
    feature_list: list[tuple[str, float | None]]
    coordinates: bool
    coordinate_weight: float
    mask: np.ndarray | None
    background_sigma: float | None

    def recipe(self) -> dict[str, Any]:
        """The JSON-safe recipe of :attr:`FeatureStack.recipe`."""
        return {
            "features": [[name, sigma] for name, sigma in self.feature_list],
            "coordinates": bool(self.coordinates),
            "coordinate_weight": self.coordinate_weight,
            "background_sigma": self.background_sigma,
        }


@dataclass(frozen=True)
class _Columns:
    """Where each feature of each channel goes in the table; the coordinate columns come last."""

    names: tuple[str, ...]
    slices: list[list[slice]]  # per channel, per entry of the feature list
    n_filter_columns: int


def _warn_below_one_pixel(feature_list: list[tuple[str, float | None]], physical_scale: tuple[float, ...]) -> None:
    sigmas = [sigma for _, sigma in feature_list if sigma is not None]
    finest = min(physical_scale)
    if sigmas and min(sigmas) < 0.5 * finest:
        warnings.warn(
            f"The smallest filter scale, sigma={min(sigmas):g}, is below half a pixel ({finest:g} in the units "
            f"of the voxel size), so those filters see only noise. Sigmas are in the units of the voxel "
            f"size: give e.g. sigmas=({finest:g}, {2 * finest:g}, {4 * finest:g}) for 1, 2 and 4 pixels.",
            UserWarning,
            stacklevel=4,  # the caller of extract_features
        )


def _input_channels(
    image: Any,
    channel_axis: int | None,
    scale: Sequence[float] | None,
    mask: Any,
    features: FeatureSpec,
    sigmas: float | Sequence[float],
    background_sigma: float | None,
) -> tuple[list[np.ndarray], float | None]:
    """The checked image's channels, illumination-corrected if the features ask for it, and that correction's scale."""
    image, channel_axis = checked_image(image, channel_axis)
    background_sigma = background_sigma_for(features, sigmas, background_sigma)
    if background_sigma is not None:
        image = correct_illumination(image, background_sigma, channel_axis=channel_axis, scale=scale, mask=mask)
    return split_channels(image, channel_axis), background_sigma


def _checked_request(
    shape: tuple[int, ...],
    scale: Sequence[float] | None,
    features: FeatureSpec,
    sigmas: float | Sequence[float],
    coordinates: bool,
    coordinate_weight: float,
    standardize: bool | FeatureScaling,
    mask: Any,
    background_sigma: float | None,
) -> _Request:
    """Check the other arguments for channels of ``shape``, in a fixed order (the first problem is reported)."""
    spatial_shape = tuple(shape)
    physical_scale = check_scale(scale, len(spatial_shape))
    feature_list = expand_features(features, sigmas)
    check_filter_reach(feature_list, (), physical_scale, spatial_shape)
    _warn_below_one_pixel(feature_list, physical_scale)
    coordinate_weight = float(coordinate_weight)
    if not (math.isfinite(coordinate_weight) and coordinate_weight >= 0):
        raise ValueError(f"coordinate_weight must be a non-negative finite number, got {coordinate_weight!r}.")
    if not isinstance(standardize, (bool, np.bool_, FeatureScaling)):
        raise TypeError(f"standardize must be True, False or a FeatureScaling, got {type(standardize).__name__}.")
    if mask is not None:
        mask = checked_mask(mask, spatial_shape)
    return _Request(spatial_shape, physical_scale, feature_list, coordinates, coordinate_weight, mask, background_sigma)


def _column_layout(n_channels: int, request: _Request, standardize: bool | FeatureScaling) -> _Columns:
    """The table's columns: every feature of the first channel, then of the next, ..., then the coordinates."""
    ndim = len(request.spatial_shape)
    names: list[str] = []
    slices: list[list[slice]] = []
    for channel_index in range(n_channels):
        slices.append([])
        for name, sigma in request.feature_list:
            width = FILTERS[name].n_columns(ndim)
            slices[-1].append(slice(len(names), len(names) + width))
            names.extend(feature_column_names(channel_index, name, sigma, width))
    n_filter_columns = len(names)
    if request.coordinates:
        names.extend(SPATIAL_AXIS_NAMES[ndim])
    if isinstance(standardize, FeatureScaling) and standardize.names != tuple(names):
        raise ValueError(
            "The stored feature scaling was fitted on different features "
            f"({len(standardize.names)} columns, e.g. {list(standardize.names[:3])}) than requested here "
            f"({len(names)} columns, e.g. {list(names[:3])}); use the recipe and the number "
            "of channels of the fitted model."
        )
    return _Columns(tuple(names), slices, n_filter_columns)


def _row_selector(mask: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
    """Maps a spatial-shape array to its values at the table's rows: every pixel, or the mask's, in C order."""
    if mask is None:
        return lambda array: array.reshape(-1)
    return lambda array: array[mask]


def _fill_channel(
    data: np.ndarray, channel_index: int, channel: np.ndarray, request: _Request, slices: list[slice], select: Callable
) -> None:
    """Write the features of one channel, one sigma at a time, into their columns of ``data``."""
    ndim = channel.ndim
    # Grouped by sigma so that the Gaussian derivatives of the channel at one scale are computed
    # once and shared by all the features that need them.
    groups: dict[float | None, list[int]] = {}
    for position, (_, sigma) in enumerate(request.feature_list):
        groups.setdefault(sigma, []).append(position)
    for sigma, positions in groups.items():
        names = [request.feature_list[position][0] for position in positions]
        orders = {order for name in names for order in FILTERS[name].derivative_orders(ndim)}
        # Overflow (huge intensities squared in float32) is reported below, as one clear error.
        with np.errstate(over="ignore", invalid="ignore"):
            derivatives = {} if sigma is None else gaussian_derivatives(channel, sigma, request.physical_scale, orders)
            space = ChannelScale(channel, sigma, request.physical_scale, derivatives, select)
            for name, position in zip(names, positions):
                columns = data[:, slices[position]]
                FILTERS[name].compute(space, columns)
                if not np.isfinite(columns).all():
                    raise ValueError(
                        f"The feature {name!r} (sigma={sigma}) of channel {channel_index} overflows "
                        f"32-bit floats: the intensities (up to {float(np.abs(channel).max()):.3g}) are "
                        f"too large for it. Rescale the image first, e.g. image = image / np.abs(image).max()."
                    )
        del space, derivatives


def _fill_coordinates(data: np.ndarray, start: int, request: _Request, select: Callable) -> None:
    """Write the physical position of every row's pixel, one axis at a time, into ``data[:, start:]``."""
    ndim = len(request.spatial_shape)
    for axis, (n, step) in enumerate(zip(request.spatial_shape, request.physical_scale)):
        positions = np.arange(n, dtype=np.float32).reshape([n if other == axis else 1 for other in range(ndim)])
        index = select(np.broadcast_to(positions, request.spatial_shape))
        data[:, start + axis : start + axis + 1] = coordinate_columns([index], [step], request.coordinate_weight)


def _feature_table(channels: list[np.ndarray], request: _Request, columns: _Columns) -> np.ndarray:
    """The unstandardised float32 table: the filters of every channel, then the coordinates."""
    select = _row_selector(request.mask)
    n_points = math.prod(request.spatial_shape) if request.mask is None else int(np.count_nonzero(request.mask))
    data = np.empty((n_points, len(columns.names)), dtype=np.float32)
    for channel_index, raw_channel in enumerate(channels):
        channel = np.ascontiguousarray(raw_channel, dtype=np.float32)
        _fill_channel(data, channel_index, channel, request, columns.slices[channel_index], select)
        del channel
    if request.coordinates:
        _fill_coordinates(data, columns.n_filter_columns, request, select)
    return data


def _standardized(
    data: np.ndarray, columns: _Columns, standardize: bool | FeatureScaling
) -> tuple[np.ndarray, FeatureScaling | None]:
    """The table standardised in place by the stored scaling, a freshly fitted one (not the coordinates), or none."""
    if isinstance(standardize, FeatureScaling):
        scaling: FeatureScaling | None = standardize
    elif standardize:
        robust = np.arange(len(columns.names)) < columns.n_filter_columns
        scaling = fit_robust_scaling(data, columns.names, robust)
    else:
        return data, None
    return scaling.apply(data, copy=False), scaling


def extract_features(
    image: Any,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    features: FeatureSpec = "intensity",
    sigmas: float | Sequence[float] = (1.0, 2.0, 4.0),
    coordinates: bool = False,
    coordinate_weight: float = 1.0,
    mask: Any = None,
    standardize: bool | FeatureScaling = True,
    background_sigma: float | None = None,
) -> FeatureStack:
    """Compute a per-pixel (2-D) or per-voxel (3-D) feature table.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with one extra channel axis. Any numeric dtype (bool, integers,
        float16/32/64, either byte order); computed in float32. NaN and infinite values are rejected.
    channel_axis : int or None, default None
        Index of the channel axis in ``image``; None for a single channel.
    scale : sequence of float or None, default None
        Physical voxel size per spatial axis (like a napari layer's scale); None means 1 for every
        axis. Sigmas, derivatives and coordinates are in these units.
    features : str or sequence of (str, float or None), default "intensity"
        ``"intensity"``, ``"multiscale"``, a single feature name, or an explicit list of ``(name,
        sigma)`` pairs; see :func:`expand_features` and the module documentation.
        ``stack.recipe["features"]`` is accepted and reproduces the same columns.
    sigmas : float or sequence of float, default (1.0, 2.0, 4.0)
        Physical scales for presets (ignored for an explicit list).
    coordinates : bool, default False
        Append the physical position ``index * scale * coordinate_weight`` of each pixel per spatial
        axis (columns ``"z"``, ``"y"``, ``"x"``). These columns are never standardised, so distances
        between them stay physical and ``coordinate_weight`` sets the trade-off.
    coordinate_weight : float, default 1.0
        Non-negative factor applied to the coordinate columns.
    mask : array_like of bool or None, default None
        Spatial-shape mask; only pixels where it is True become rows (C order). Filters still see the
        whole image, so features near the mask border use the true neighbourhood.
    standardize : bool or FeatureScaling, default True
        True: subtract each feature column's median and divide by its interquartile range (1 where
        that is 0, round-off or not finite), fitted on the rows (a seeded subsample of at most
        :data:`MAX_STATISTICS_ROWS`). False: raw values. A :class:`FeatureScaling`: apply that stored
        transform (its names must match the columns).
    background_sigma : float or None, default None
        Compute the features on the illumination-corrected image (:func:`correct_illumination` with
        this scale, inside ``mask``). None gives the preset's own (:func:`background_sigma_for`): 5
        times the largest sigma for ``"brightfield"``, no correction otherwise.

    Returns
    -------
    FeatureStack
        The table plus names, spatial shape, mask, scaling and recipe.

    Raises
    ------
    ValueError
        With a description of the problem and its fix, for: an image that is not 2-D/3-D after
        removing the channel axis, a non-numeric or empty image, NaN/infinite pixels, intensities so
        large that a feature overflows float32, ``channel_axis`` not an integer or out of range, a
        ``scale`` of the wrong length or with non-positive values, a mask of the wrong shape or
        selecting nothing, unknown feature names, non-positive or non-finite sigmas, a negative or
        non-finite ``coordinate_weight``, or a scaling whose names do not match the columns.

    Notes
    -----
    Memory: the output table (``n_points * n_features * 4`` bytes) plus, for one channel at one sigma
    at a time, the float32 Gaussian derivatives that the requested features need (up to ten
    spatial-size arrays in 3-D) and a few spatial-size temporaries.
    """
    channels, background_sigma = _input_channels(image, channel_axis, scale, mask, features, sigmas, background_sigma)
    request = _checked_request(
        channels[0].shape, scale, features, sigmas, coordinates, coordinate_weight, standardize, mask, background_sigma
    )
    columns = _column_layout(len(channels), request, standardize)
    data, scaling = _standardized(_feature_table(channels, request, columns), columns, standardize)
    return FeatureStack(data, columns.names, request.spatial_shape, request.mask, scaling, request.recipe())
