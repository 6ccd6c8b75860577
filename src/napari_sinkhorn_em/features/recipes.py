"""Feature specifications: presets, their expansion to ``(name, sigma)`` lists, column names and reach.

A specification (``features=`` and ``sigmas=`` of :func:`~napari_sinkhorn_em.features.extract_features`)
is a preset name, a single filter name, or an explicit list of ``(name, sigma)`` pairs. From it follow
the names of the table's columns, the scale of the illumination correction, and how far the filters
reach (:func:`check_filter_reach`, :func:`halo_width`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_scale
from .filters import FEATURE_NAMES, FILTERS
from .gaussian import GAUSSIAN_TRUNCATE, kernel_radius

__all__ = [
    "BRIGHTFIELD_BACKGROUND_RATIO",
    "BRIGHTFIELD_FEATURES",
    "MULTISCALE_FEATURES",
    "PRESETS",
    "SPATIAL_AXIS_NAMES",
    "FeatureSpec",
    "background_sigma_for",
    "check_filter_reach",
    "check_sigma",
    "coordinate_columns",
    "expand_features",
    "feature_column_names",
    "halo_width",
]

#: Feature names computed for every sigma by the ``"multiscale"`` preset, in column order.
MULTISCALE_FEATURES = (
    "gaussian",
    "log",
    "gradient_magnitude",
    "hessian_eigenvalues",
    "structure_tensor_eigenvalues",
    "dog",
)
#: Feature names computed for every sigma by the ``"brightfield"`` preset, after the
#: illumination-corrected intensity itself, in column order.
BRIGHTFIELD_FEATURES = ("gaussian", "hessian_eigenvalues")
#: The ``"brightfield"`` preset estimates the illumination at this many times its largest sigma:
#: well above the objects, whose size the sigmas describe (worms are 10-15 px wide on BBBC010,
#: where the sigmas 1, 2 and 4 px give 20 px).
BRIGHTFIELD_BACKGROUND_RATIO = 5.0
#: Names accepted as ``features="..."`` that expand to a documented list of features.
PRESETS = ("intensity", "multiscale", "brightfield")
#: A filter may reach at most this many times the image's extent along an axis (or FILTER_REACH_MIN_PIXELS)...
FILTER_REACH_RATIO = 4.0
#: ...so that a sigma far beyond the image, or a voxel size in the wrong unit, is refused instead of
#: running for hours inside scipy with kernels of millions of taps.
FILTER_REACH_MIN_PIXELS = 64
#: Names of the spatial axes (and of the coordinate feature columns) of 2-D and 3-D images.
SPATIAL_AXIS_NAMES = {2: ("y", "x"), 3: ("z", "y", "x")}

#: A feature specification: a preset or filter name, or an explicit ``[(name, sigma), ...]`` list.
FeatureSpec = str | Sequence[Sequence[Any]]


def check_sigma(sigma: Any, where: str) -> float:
    """A filter scale as a positive finite float, or a ValueError that names ``where`` it was given.

    Parameters
    ----------
    sigma : Any
        The scale as given (a length in the units of the voxel size).
    where : str
        The argument or feature it was given for, e.g. ``"sigmas"``.

    Returns
    -------
    float
        ``float(sigma)``.
    """
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, numbers.Real):
        raise ValueError(f"{where}: sigma must be a positive number (a length in the units of `scale`), got {sigma!r}.")
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(
            f"{where}: sigma must be a positive finite number (a length in the units of `scale`), got {sigma!r}."
        )
    return sigma


def _unknown_name_error(name: Any) -> ValueError:
    return ValueError(
        f"Unknown feature {name!r}. Valid feature names are {', '.join(FEATURE_NAMES)}; "
        f"valid presets are {', '.join(PRESETS)}."
    )


def _expand_name(features: str, sigmas: float | Sequence[float]) -> list[tuple[str, float | None]]:
    """A preset or a single filter name at every sigma, sigma-major."""
    if features == "intensity":
        return [("intensity", None)]
    if features not in PRESETS and features not in FILTERS:
        raise _unknown_name_error(features)
    if isinstance(sigmas, numbers.Real):
        sigmas = (sigmas,)
    sigma_values = [check_sigma(sigma, "sigmas") for sigma in sigmas]
    if not sigma_values:
        raise ValueError(f"features={features!r} needs at least one sigma; pass e.g. sigmas=(1.0, 2.0, 4.0).")
    if features == "brightfield":
        return [("intensity", None)] + [(name, sigma) for sigma in sigma_values for name in BRIGHTFIELD_FEATURES]
    names = MULTISCALE_FEATURES if features == "multiscale" else (features,)
    return [(name, sigma) for sigma in sigma_values for name in names]


def _checked_list(features: Sequence[Sequence[Any]]) -> list[tuple[str, float | None]]:
    """An explicit ``[(name, sigma), ...]`` list, each entry checked."""
    expanded: list[tuple[str, float | None]] = []
    for entry in features:
        if isinstance(entry, str) or not isinstance(entry, Sequence) or len(entry) != 2:
            raise ValueError(
                f"Each entry of an explicit feature list must be a (name, sigma) pair such as "
                f"('gaussian', 2.0) or ('intensity', None); got {entry!r}."
            )
        name, sigma = entry
        if not isinstance(name, str) or name not in FILTERS:
            raise _unknown_name_error(name)
        if FILTERS[name].uses_sigma:
            expanded.append((name, check_sigma(sigma, f"feature {name!r}")))
        elif sigma is not None:
            raise ValueError(f"Feature {name!r} has no scale; write ({name!r}, None), got sigma={sigma!r}.")
        else:
            expanded.append((name, None))
    if not expanded:
        raise ValueError("The feature list is empty; ask for at least one feature, e.g. [('intensity', None)].")
    return expanded


def expand_features(
    features: FeatureSpec = "intensity", sigmas: float | Sequence[float] = (1.0, 2.0, 4.0)
) -> list[tuple[str, float | None]]:
    """Expand a feature specification into an explicit ``[(name, sigma), ...]`` list.

    Parameters
    ----------
    features : str or sequence of (str, float or None)
        ``"intensity"`` (one raw-intensity column per channel),
        ``"multiscale"`` (every name in :data:`MULTISCALE_FEATURES` at every
        sigma, sigma-major), ``"brightfield"`` (the intensity, then every name
        in :data:`BRIGHTFIELD_FEATURES` at every sigma; computed on the
        illumination-corrected image, see :func:`background_sigma_for`), a single feature name (that feature at every
        sigma), or an explicit list of ``(name, sigma)`` pairs with names from
        :data:`FEATURE_NAMES` (``sigma`` is None for ``"intensity"``).
    sigmas : float or sequence of float
        Physical scales used by presets and single names; ignored for an
        explicit list.

    Returns
    -------
    list of (str, float or None)
        The expanded list, in column order (per channel).

    Raises
    ------
    ValueError
        Unknown names, missing/extra sigmas, or non-positive/non-finite sigmas.
    """
    if isinstance(features, str):
        return _expand_name(features, sigmas)
    return _checked_list(features)


def background_sigma_for(
    features: FeatureSpec, sigmas: float | Sequence[float], background_sigma: float | None = None
) -> float | None:
    """The scale of the illumination correction that a feature specification asks for.

    Parameters
    ----------
    features : str or sequence of (str, float or None)
        As for :func:`expand_features`.
    sigmas : float or sequence of float
        As for :func:`expand_features`.
    background_sigma : float or None, default None
        A scale given by the user (units of ``scale``), returned as it is. None
        gives the preset's own: :data:`BRIGHTFIELD_BACKGROUND_RATIO` times the
        largest sigma for ``"brightfield"``, no correction for anything else.

    Returns
    -------
    float or None
        The Gaussian scale of the background that :func:`correct_illumination`
        divides out, or None for no correction.
    """
    if background_sigma is not None:
        return check_sigma(background_sigma, "background_sigma")
    if isinstance(features, str) and features == "brightfield":
        return BRIGHTFIELD_BACKGROUND_RATIO * max(sigma for _, sigma in expand_features(features, sigmas) if sigma)
    return None


def check_filter_reach(
    features: FeatureSpec,
    sigmas: float | Sequence[float],
    scale: Sequence[float] | None,
    spatial_shape: Sequence[int],
    *,
    background_sigma: float | None = None,
) -> None:
    """Refuse filters that reach far beyond the image, before any is computed.

    A Gaussian pass of physical width ``s`` reads ``GAUSSIAN_TRUNCATE * s / step``
    pixels to each side; summed over a filter's passes this must stay within
    ``max(FILTER_REACH_RATIO * extent, FILTER_REACH_MIN_PIXELS)`` pixels along
    every axis. Beyond that the filter smooths the image to a constant, and its
    kernel (millions of taps for a voxel size given in the wrong unit) takes
    minutes or hours and gigabytes.

    Parameters
    ----------
    features, sigmas
        As for :func:`extract_features`.
    scale : sequence of float or None
        Physical voxel size per spatial axis; None means 1.
    spatial_shape : sequence of int
        The image's size in pixels per spatial axis.
    background_sigma : float or None, default None
        The scale of the illumination correction (:func:`correct_illumination`), if any.

    Raises
    ------
    ValueError
        Naming the filter, its sigma, the voxel size and what to do.
    """
    physical_scale = check_scale(scale, len(spatial_shape))
    filters = [
        (f"The {name} filter at sigma = {sigma:g}", [pass_sigma for pass_sigma, _ in FILTERS[name].passes(sigma)])
        for name, sigma in expand_features(features, sigmas)
        if sigma is not None
    ]
    if background_sigma is not None:
        filters.append((f"The illumination background at sigma = {background_sigma:g}", [background_sigma]))
    for axis, (step, extent) in enumerate(zip(physical_scale, spatial_shape)):
        limit = max(FILTER_REACH_RATIO * extent, FILTER_REACH_MIN_PIXELS)
        for what, pass_sigmas in filters:
            reach = sum(GAUSSIAN_TRUNCATE * pass_sigma / step for pass_sigma in pass_sigmas)
            if not reach <= limit:
                raise ValueError(
                    f"{what} with a voxel size of {step:g} along spatial axis {axis} reaches {reach:.3g} "
                    f"pixels, far beyond the image's {extent} pixels along that axis: it would smooth the "
                    f"image to a constant and could run for hours. Sigmas are in the units of the voxel size "
                    f"(e.g. micrometres): give a sigma of a few pixels ({step:g} per pixel), or check the "
                    f"voxel size (scale) of the image or model."
                )


def halo_width(features: FeatureSpec, sigmas: float | Sequence[float], scale: Sequence[float]) -> tuple[int, ...]:
    """Pixels of context per axis that the filters read around each output pixel.

    A block of the image padded by this many pixels on each side (where the
    image continues) gives exactly the same features in its interior as the
    whole image, which allows chunked computation.

    Parameters
    ----------
    features : str or sequence of (str, float or None)
        As for :func:`extract_features`.
    sigmas : float or sequence of float
        As for :func:`extract_features`.
    scale : sequence of float
        Physical voxel size per spatial axis; its length sets the number of
        axes.

    Returns
    -------
    tuple of int
        Per axis, the largest total kernel radius over the features: for a
        Gaussian pass of physical width ``s`` the radius is
        ``int(GAUSSIAN_TRUNCATE * s / scale[axis] + 0.5)`` pixels (scipy's
        rule), at least the derivative order (the derivative margin of
        near-zero sigmas), summed over passes applied one after another (the
        structure tensor's gradient and averaging windows). 0 for intensity.
    """
    feature_list = expand_features(features, sigmas)
    physical_scale = check_scale(scale, len(scale))
    return tuple(
        max(
            sum(kernel_radius(pass_sigma / step, order) for pass_sigma, order in FILTERS[name].passes(sigma))
            for name, sigma in feature_list
        )
        for step in physical_scale
    )


def feature_column_names(channel: int, name: str, sigma: float | None, n_columns: int) -> list[str]:
    """The names of one feature's columns, e.g. ``"ch0:gaussian(s=2)"``, ``"ch1:hessian_eigenvalues[0](s=1)"``.

    Parameters
    ----------
    channel : int
        The channel's index.
    name : str
        The feature's name.
    sigma : float or None
        Its scale (None for a feature without one).
    n_columns : int
        How many columns it fills; several are numbered ``[0]``, ``[1]``, ...

    Returns
    -------
    list of str
        One name per column.
    """
    suffix = "" if sigma is None else f"(s={sigma:.10g})"
    if n_columns == 1:
        return [f"ch{channel}:{name}{suffix}"]
    return [f"ch{channel}:{name}[{k}]{suffix}" for k in range(n_columns)]


def coordinate_columns(indices: np.ndarray, scale: Sequence[float], coordinate_weight: float) -> np.ndarray:
    """Position features of voxels: ``index * scale * coordinate_weight``, one float32 column per axis.

    Parameters
    ----------
    indices : ndarray of shape (ndim, n)
        Voxel indices, one row per spatial axis (as from ``np.nonzero``).
    scale : sequence of float
        The voxel size per axis.
    coordinate_weight : float
        Multiplies every position (the coordinate features' weight against the intensity features).

    Returns
    -------
    ndarray of shape (n, ndim), float32
        The same float32 products on every path (in memory, chunked), so results are bit-identical.
    """
    return np.column_stack(
        [
            np.asarray(axis).astype(np.float32) * np.float32(step * coordinate_weight)
            for axis, step in zip(indices, scale)
        ]
    )
