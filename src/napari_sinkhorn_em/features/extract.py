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

import functools
import math
import numbers
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from .._validation import check_image_layout, check_mask_layout, check_scale

__all__ = [
    "SPATIAL_AXIS_NAMES",
    "coordinate_columns",
    "fit_robust_scaling",
    "DOG_SIGMA_RATIO",
    "FEATURE_NAMES",
    "GAUSSIAN_TRUNCATE",
    "MAX_STATISTICS_ROWS",
    "MULTISCALE_FEATURES",
    "BRIGHTFIELD_BACKGROUND_RATIO",
    "BRIGHTFIELD_FEATURES",
    "PRESETS",
    "STRUCTURE_TENSOR_WINDOW_RATIO",
    "FeatureScaling",
    "FeatureStack",
    "background_sigma_for",
    "check_filter_reach",
    "correct_illumination",
    "expand_features",
    "extract_features",
    "halo_width",
]

#: Gaussian kernels are cut off at this many standard deviations.
GAUSSIAN_TRUNCATE = 4.0
#: The difference of Gaussians subtracts the smoothing at ``sigma * DOG_SIGMA_RATIO``.
DOG_SIGMA_RATIO = 1.6
#: The structure tensor is averaged with a Gaussian window of ``sigma * STRUCTURE_TENSOR_WINDOW_RATIO``.
STRUCTURE_TENSOR_WINDOW_RATIO = 0.5
#: A filter may reach at most this many times the image's extent along an axis (or FILTER_REACH_MIN_PIXELS)...
FILTER_REACH_RATIO = 4.0
#: ...so that a sigma far beyond the image, or a voxel size in the wrong unit, is refused instead of
#: running for hours inside scipy with kernels of millions of taps.
FILTER_REACH_MIN_PIXELS = 64
#: At most this many rows (a seeded random subsample) are used to fit the standardisation.
MAX_STATISTICS_ROWS = 1_000_000
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
#: The illumination is fitted this many times, each time leaving out the pixels that stood out
#: in the previous one (the objects), so that dark worms do not darken their own background.
ILLUMINATION_FIT_ROUNDS = 2
#: A pixel stands out when it differs from the median by more than this many robust standard deviations.
ILLUMINATION_OUTLIER_MADS = 3.0

_STATISTICS_SEED = 0
# An interquartile range below this fraction of the largest magnitude of its feature (all
# columns of one feature of one channel at one sigma, e.g. the three eigenvalues) is round-off,
# not spread: e.g. the structure-tensor eigenvalue across a single-slice 3-D stack, exactly 0 in
# exact arithmetic, computes to ~1e-16 of the others. Dividing by it would blow round-off up to
# the size of the real features, so such a column is not rescaled. Real spreads stay far above
# it: the squared contrast of a 16-bit image is at most ~1e-10.
_MIN_RELATIVE_SPREAD = 1e-12
_MIN_PIXEL_SIGMA = 0.1
_EIGENVALUE_SLAB_ROWS = 1 << 16
_STATISTICS_COLUMN_BLOCK = 8
_SCALING_ROW_BLOCK = 1 << 16

FeatureSpec = str | Sequence[Sequence[Any]]

#: Names of the spatial axes (and of the coordinate feature columns) of 2-D and 3-D images.
SPATIAL_AXIS_NAMES = {2: ("y", "x"), 3: ("z", "y", "x")}


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
        [np.asarray(axis).astype(np.float32) * np.float32(step * coordinate_weight) for axis, step in zip(indices, scale)]
    )


# ---------------------------------------------------------------------------
# Feature registry
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ChannelScale:
    """One channel of the image seen at one scale, handed to the feature filters.

    Attributes
    ----------
    channel : ndarray
        The channel, float32, C-contiguous, spatial shape.
    sigma : float or None
        Physical scale of the filters (None for features without a scale).
    scale : tuple of float
        Physical voxel size per spatial axis.
    derivatives : dict
        ``{order: array}`` Gaussian derivatives at ``sigma`` in physical units,
        keyed by the derivative order per axis, e.g. ``(0, 2, 0)`` is d²/dy².
    select : callable
        Maps a spatial-shape array to its 1-D values at the output rows.
    """

    channel: np.ndarray
    sigma: float | None
    scale: tuple[float, ...]
    derivatives: dict[tuple[int, ...], np.ndarray]
    select: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _FeatureFilter:
    """A named feature: what it needs and how it fills its output columns.

    Attributes
    ----------
    n_columns : callable
        ``ndim -> number of output columns``.
    derivative_orders : callable
        ``ndim -> list of derivative orders`` (per-axis tuples) of the Gaussian
        at ``sigma`` that :attr:`compute` reads from ``derivatives``.
    passes : callable
        ``sigma -> ((physical sigma, derivative order), ...)`` of the
        Gaussian passes applied one after the other; their kernel radii add
        up to the filter's reach (see :func:`halo_width`).
    compute : callable
        ``(channel_scale, out)`` writes the feature into ``out``, a
        ``(n_points, n_columns)`` float32 view of the output table.
    uses_sigma : bool
        Whether the feature is computed at a scale.
    """

    n_columns: Callable[[int], int]
    derivative_orders: Callable[[int], list[tuple[int, ...]]]
    passes: Callable[[float], tuple[tuple[float, int], ...]]
    compute: Callable[[_ChannelScale, np.ndarray], None]
    uses_sigma: bool = True


def _unit_order(ndim: int, *axes: int) -> tuple[int, ...]:
    """Derivative order tuple with one derivative along each of ``axes``."""
    order = [0] * ndim
    for axis in axes:
        order[axis] += 1
    return tuple(order)


def _first_orders(ndim: int) -> list[tuple[int, ...]]:
    return [_unit_order(ndim, axis) for axis in range(ndim)]


def _second_orders(ndim: int) -> list[tuple[int, ...]]:
    return [_unit_order(ndim, a, b) for a in range(ndim) for b in range(a, ndim)]


def _diagonal_second_orders(ndim: int) -> list[tuple[int, ...]]:
    return [_unit_order(ndim, axis, axis) for axis in range(ndim)]


def _smoothing_order(ndim: int) -> list[tuple[int, ...]]:
    return [(0,) * ndim]


def _no_orders(ndim: int) -> list[tuple[int, ...]]:
    return []


def _one_column(ndim: int) -> int:
    return 1


def _ndim_columns(ndim: int) -> int:
    return ndim


def _kernel_radius(pixel_sigma: float, order: int) -> int:
    """Half-width in pixels of a Gaussian (derivative) kernel; scipy's rule, at least ``order``."""
    return max(int(GAUSSIAN_TRUNCATE * pixel_sigma + 0.5), order)


@functools.lru_cache(maxsize=64)
def _gaussian_kernel(pixel_sigma: float, order: int) -> np.ndarray:
    """1-D correlation weights of a sampled Gaussian or of its 1st/2nd derivative.

    The Gaussian is normalised to sum 1. Derivative kernels are corrected so
    that they have no response to a constant (sum 0) and are exact on
    polynomials of their order: the first derivative of ``x`` is 1 and the
    second derivative of ``x**2 / 2`` is 1. For a pixel sigma far below one
    pixel they become the central differences ``[-1/2, 0, 1/2]`` and
    ``[1, -2, 1]``. Sigmas below ``_MIN_PIXEL_SIGMA`` are raised to it (the
    kernel is then already a pure difference / identity).
    """
    sigma = max(pixel_sigma, _MIN_PIXEL_SIGMA)
    radius = _kernel_radius(pixel_sigma, order)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    gaussian = np.exp(-0.5 * (offsets / sigma) ** 2)
    gaussian /= gaussian.sum()
    if order == 0:
        weights = gaussian
    elif order == 1:
        weights = offsets * gaussian
        weights /= np.dot(weights, offsets)
    else:
        # The continuous second derivative is ((x/sigma)^2 - 1) g / sigma^2;
        # replacing 1 by the sampled second moment makes the weights sum to
        # zero without cancellation, even for tiny sigmas.
        squared = (offsets / sigma) ** 2
        weights = (squared - np.dot(squared, gaussian)) * gaussian
        weights /= np.dot(weights, 0.5 * offsets**2)
    weights.flags.writeable = False
    return weights


def _gaussian_pass(array: np.ndarray, pixel_sigma: float, axis: int, order: int = 0) -> np.ndarray:
    """One separable pass: Gaussian (derivative) along ``axis``, float32 output."""
    return ndimage.correlate1d(
        array, _gaussian_kernel(pixel_sigma, order), axis=axis, output=np.float32, mode="reflect"
    )


def _gaussian_smooth(array: np.ndarray, sigma: float, scale: Sequence[float]) -> np.ndarray:
    """Gaussian smoothing of physical width ``sigma``, float32 output."""
    for axis, step in enumerate(scale):
        array = _gaussian_pass(array, sigma / step, axis)
    return array


def _compute_intensity(space: _ChannelScale, out: np.ndarray) -> None:
    """Raw intensity."""
    out[:, 0] = space.select(space.channel)


def _compute_gaussian(space: _ChannelScale, out: np.ndarray) -> None:
    """Gaussian-smoothed intensity G_sigma * I."""
    out[:, 0] = space.select(space.derivatives[(0,) * space.channel.ndim])


def _compute_log(space: _ChannelScale, out: np.ndarray) -> None:
    """Scale-normalised Laplacian of Gaussian, sigma**2 * sum_a d²(G_sigma * I)/dx_a²."""
    orders = _diagonal_second_orders(space.channel.ndim)
    laplacian = np.array(space.select(space.derivatives[orders[0]]), dtype=np.float32)
    for order in orders[1:]:
        laplacian += space.select(space.derivatives[order])
    laplacian *= np.float32(space.sigma**2)
    out[:, 0] = laplacian


def _compute_gradient_magnitude(space: _ChannelScale, out: np.ndarray) -> None:
    """Length of the gradient of G_sigma * I (intensity per physical length)."""
    first, *others = (space.select(space.derivatives[order]) for order in _first_orders(space.channel.ndim))
    squared_sum = np.square(first, dtype=np.float32)
    for component in others:
        squared_sum += np.square(component, dtype=np.float32)
    out[:, 0] = np.sqrt(squared_sum, out=squared_sum)


def _compute_hessian_eigenvalues(space: _ChannelScale, out: np.ndarray) -> None:
    """Eigenvalues, ascending, of the matrix of second derivatives of G_sigma * I."""
    ndim = space.channel.ndim
    components = {
        (a, b): space.select(space.derivatives[_unit_order(ndim, a, b)]) for a in range(ndim) for b in range(a, ndim)
    }
    _symmetric_eigenvalues(components, ndim, out)


def _compute_structure_tensor_eigenvalues(space: _ChannelScale, out: np.ndarray) -> None:
    """Eigenvalues, ascending, of G_(sigma/2) * (grad grad^T), the gradient taken at sigma."""
    ndim = space.channel.ndim
    gradient = [space.derivatives[order] for order in _first_orders(ndim)]
    window = space.sigma * STRUCTURE_TENSOR_WINDOW_RATIO
    components = {}
    for a in range(ndim):
        for b in range(a, ndim):
            product = np.multiply(gradient[a], gradient[b], dtype=np.float32)
            components[(a, b)] = space.select(_gaussian_smooth(product, window, space.scale))
            del product
    _symmetric_eigenvalues(components, ndim, out)


def _compute_dog(space: _ChannelScale, out: np.ndarray) -> None:
    """Difference of Gaussians G_sigma * I - G_(1.6 sigma) * I."""
    wide = _gaussian_smooth(space.channel, space.sigma * DOG_SIGMA_RATIO, space.scale)
    narrow = space.select(space.derivatives[(0,) * space.channel.ndim])
    out[:, 0] = np.subtract(narrow, space.select(wide), dtype=np.float32)


_REGISTRY: dict[str, _FeatureFilter] = {
    "intensity": _FeatureFilter(
        n_columns=_one_column,
        derivative_orders=_no_orders,
        passes=lambda sigma: (),
        compute=_compute_intensity,
        uses_sigma=False,
    ),
    "gaussian": _FeatureFilter(
        n_columns=_one_column,
        derivative_orders=_smoothing_order,
        passes=lambda sigma: ((sigma, 0),),
        compute=_compute_gaussian,
    ),
    "log": _FeatureFilter(
        n_columns=_one_column,
        derivative_orders=_diagonal_second_orders,
        passes=lambda sigma: ((sigma, 2),),
        compute=_compute_log,
    ),
    "gradient_magnitude": _FeatureFilter(
        n_columns=_one_column,
        derivative_orders=_first_orders,
        passes=lambda sigma: ((sigma, 1),),
        compute=_compute_gradient_magnitude,
    ),
    "hessian_eigenvalues": _FeatureFilter(
        n_columns=_ndim_columns,
        derivative_orders=_second_orders,
        passes=lambda sigma: ((sigma, 2),),
        compute=_compute_hessian_eigenvalues,
    ),
    "structure_tensor_eigenvalues": _FeatureFilter(
        n_columns=_ndim_columns,
        derivative_orders=_first_orders,
        passes=lambda sigma: ((sigma, 1), (STRUCTURE_TENSOR_WINDOW_RATIO * sigma, 0)),
        compute=_compute_structure_tensor_eigenvalues,
    ),
    "dog": _FeatureFilter(
        n_columns=_one_column,
        derivative_orders=_smoothing_order,
        passes=lambda sigma: ((DOG_SIGMA_RATIO * sigma, 0),),
        compute=_compute_dog,
    ),
}

#: Every feature name accepted in an explicit ``[(name, sigma), ...]`` list.
FEATURE_NAMES = tuple(_REGISTRY)


# ---------------------------------------------------------------------------
# Numerical helpers
# ---------------------------------------------------------------------------


def _gaussian_derivatives(
    channel: np.ndarray,
    sigma: float,
    scale: Sequence[float],
    orders: set[tuple[int, ...]],
) -> dict[tuple[int, ...], np.ndarray]:
    """Gaussian derivatives of ``channel`` in physical units, sharing separable passes.

    The Gaussian is separable, so each derivative is a chain of 1-D passes,
    one per axis. Derivatives whose orders agree on the first axes share those
    passes (a depth-first walk over the per-axis orders), e.g. all ten
    derivatives up to second order in 3-D take 19 passes instead of 30.

    Parameters
    ----------
    channel : ndarray
        float32 spatial array.
    sigma : float
        Physical standard deviation of the Gaussian.
    scale : sequence of float
        Physical voxel size per axis.
    orders : set of tuple of int
        Derivative orders per axis to compute.

    Returns
    -------
    dict
        ``{order: float32 array}``; a derivative of order ``k`` along an axis
        is divided by ``scale[axis] ** k`` (derivative per physical length).
        The zero order tuple is the smoothed image.
    """

    def next_orders(prefix: tuple[int, ...]) -> list[int]:
        axis = len(prefix)
        return sorted({wanted[axis] for wanted in orders if wanted[:axis] == prefix})

    results: dict[tuple[int, ...], np.ndarray] = {}
    # Depth-first over explicit tasks (parent array, its orders so far, next
    # order): a parent is released as soon as its last child is computed.
    tasks = [(channel, (), order) for order in next_orders(())] if orders else []
    while tasks:
        parent, prefix, order = tasks.pop()
        axis = len(prefix)
        filtered = _gaussian_pass(parent, sigma / scale[axis], axis, order)
        del parent
        if order:
            filtered *= np.float32(scale[axis] ** -order)
        prefix = (*prefix, order)
        if len(prefix) == channel.ndim:
            results[prefix] = filtered
        else:
            tasks.extend((filtered, prefix, child) for child in next_orders(prefix))
    return results


def _symmetric_eigenvalues(components: dict[tuple[int, int], np.ndarray], ndim: int, out: np.ndarray) -> None:
    """Eigenvalues, ascending, of symmetric 2x2 or 3x3 matrices given per point.

    Closed form, evaluated in float64 on slabs of rows so the temporaries stay
    small: for 2x2, ``mean -/+ hypot((a - c) / 2, b)``; for 3x3, the
    trigonometric solution of the characteristic cubic (Smith, 1961).

    Parameters
    ----------
    components : dict
        ``{(a, b): 1-D array}`` for ``a <= b``, the upper triangle.
    ndim : int
        Matrix size, 2 or 3.
    out : ndarray
        ``(n_points, ndim)`` view receiving the eigenvalues, smallest first.
    """
    n_points = out.shape[0]
    for start in range(0, n_points, _EIGENVALUE_SLAB_ROWS):
        rows = slice(start, min(start + _EIGENVALUE_SLAB_ROWS, n_points))
        entry = {key: values[rows].astype(np.float64) for key, values in components.items()}
        if ndim == 2:
            mean = 0.5 * (entry[0, 0] + entry[1, 1])
            radius = np.hypot(0.5 * (entry[0, 0] - entry[1, 1]), entry[0, 1])
            out[rows, 0] = mean - radius
            out[rows, 1] = mean + radius
            continue
        trace_third = (entry[0, 0] + entry[1, 1] + entry[2, 2]) / 3.0
        d00 = entry[0, 0] - trace_third
        d11 = entry[1, 1] - trace_third
        d22 = entry[2, 2] - trace_third
        e01, e02, e12 = entry[0, 1], entry[0, 2], entry[1, 2]
        spread = np.sqrt((d00**2 + d11**2 + d22**2 + 2.0 * (e01**2 + e02**2 + e12**2)) / 6.0)
        inverse = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 0)
        d00, d11, d22, e01, e02, e12 = (x * inverse for x in (d00, d11, d22, e01, e02, e12))
        half_det = 0.5 * (d00 * (d11 * d22 - e12 * e12) - e01 * (e01 * d22 - e12 * e02) + e02 * (e01 * e12 - d11 * e02))
        angle = np.arccos(np.clip(half_det, -1.0, 1.0)) / 3.0
        largest = trace_third + 2.0 * spread * np.cos(angle)
        smallest = trace_third + 2.0 * spread * np.cos(angle + 2.0 * np.pi / 3.0)
        middle = np.clip(3.0 * trace_third - largest - smallest, smallest, largest)
        out[rows, 0] = smallest
        out[rows, 1] = middle
        out[rows, 2] = largest


# ---------------------------------------------------------------------------
# Standardisation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FeatureScaling:
    """A per-column affine standardisation ``(x - center) / scale``.

    Fitted by :func:`extract_features` (``standardize=True``) and stored with
    a model so that new images are transformed exactly like the training
    image (pass it back as ``standardize=``).

    Attributes
    ----------
    names : tuple of str
        Column names the transform applies to, in order.
    center : ndarray
        float64, one value per column (the median for robust columns, 0 for
        coordinate columns).
    scale : ndarray
        float64, positive and finite, one value per column (the
        interquartile range, or 1 where that is 0, round-off or not finite, and 1 for
        coordinate columns).
    """

    names: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.names)
        center = np.array(self.center, dtype=np.float64).reshape(-1)
        scale = np.array(self.scale, dtype=np.float64).reshape(-1)
        if not len(names) == center.size == scale.size:
            raise ValueError(
                f"A feature scaling needs one center and one scale per feature name; got "
                f"{len(names)} names, {center.size} centers and {scale.size} scales."
            )
        if not np.all(np.isfinite(center)):
            raise ValueError("Every center of a feature scaling must be a finite number.")
        if not np.all(np.isfinite(scale) & (scale > 0)):
            raise ValueError("Every scale of a feature scaling must be a positive finite number.")
        center.flags.writeable = False
        scale.flags.writeable = False
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "scale", scale)

    def apply(self, data: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """Standardise a feature table.

        Parameters
        ----------
        data : ndarray
            ``(n_points, n_features)`` table whose columns are :attr:`names`.
        copy : bool, default True
            If False and ``data`` is a writeable float32 array, transform it
            in place (saves memory on large tables).

        Returns
        -------
        ndarray
            float32 ``(data - center) / scale``, computed in blocks of rows.
        """
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != len(self.names):
            raise ValueError(
                f"This scaling was fitted on {len(self.names)} features, but the table has shape "
                f"{data.shape}; compute the features with the same recipe as the fitted model."
            )
        if copy or data.dtype != np.float32 or not data.flags.writeable:
            data = np.array(data, dtype=np.float32)
        center = self.center.astype(np.float32)
        scale = self.scale.astype(np.float32)
        for start in range(0, data.shape[0], _SCALING_ROW_BLOCK):
            block = data[start : start + _SCALING_ROW_BLOCK]
            block -= center
            block /= scale
        return data

    def to_dict(self) -> dict[str, list]:
        """JSON-safe form: ``{"names": [...], "center": [...], "scale": [...]}``."""
        return {
            "names": list(self.names),
            "center": [float(value) for value in self.center],
            "scale": [float(value) for value in self.scale],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureScaling:
        """Rebuild a scaling from :meth:`to_dict` output."""
        missing = {"names", "center", "scale"} - set(state)
        if missing:
            raise ValueError(f"A stored feature scaling is missing the entries {sorted(missing)}.")
        return cls(names=tuple(state["names"]), center=state["center"], scale=state["scale"])


def fit_robust_scaling(data: np.ndarray, names: tuple[str, ...], robust: np.ndarray) -> FeatureScaling:
    """Median / interquartile-range scaling of the columns flagged in ``robust``.

    Statistics come from all rows, or from a seeded random subsample of
    :data:`MAX_STATISTICS_ROWS` rows for larger tables. Unflagged columns get
    the identity transform (center 0, scale 1). A column whose interquartile
    range is 0, not finite, or mere round-off (below ``_MIN_RELATIVE_SPREAD``
    times the largest magnitude of its feature: the columns whose names
    differ only in the ``[k]`` index) is centred but not rescaled (scale 1).
    """
    n_points, n_features = data.shape
    rows = None
    if n_points > MAX_STATISTICS_ROWS:
        generator = np.random.default_rng(_STATISTICS_SEED)
        rows = np.sort(generator.choice(n_points, size=MAX_STATISTICS_ROWS, replace=False))
    center = np.zeros(n_features)
    spread = np.ones(n_features)
    magnitude = np.zeros(n_features)
    for start in range(0, n_features, _STATISTICS_COLUMN_BLOCK):
        stop = min(start + _STATISTICS_COLUMN_BLOCK, n_features)
        columns = [j for j in range(start, stop) if robust[j]]
        if not columns:
            continue
        block = data[:, start:stop] if rows is None else data[rows, start:stop]
        sample = block[:, [j - start for j in columns]]
        lower, median, upper = np.quantile(sample, [0.25, 0.5, 0.75], axis=0).astype(np.float64)
        center[columns] = median
        spread[columns] = upper - lower
        magnitude[columns] = np.abs(sample).max(axis=0)
    feature_of = [re.sub(r"\[\d+\]", "", name) for name in names]
    feature_magnitude: dict[str, float] = {}
    for feature, value in zip(feature_of, magnitude):
        feature_magnitude[feature] = max(feature_magnitude.get(feature, 0.0), value)
    reference = np.array([feature_magnitude[feature] for feature in feature_of])
    tiny = np.finfo(np.float32).tiny
    subnormal = np.flatnonzero(robust & (spread > 0) & (spread <= tiny))
    if subnormal.size:
        column = int(subnormal[0])
        raise ValueError(
            f"The feature {names[column]} varies only by about {spread[column]:.2g}, below the smallest "
            f"ordinary 32-bit float ({tiny:.2g}), where numbers keep only a few digits: the image cannot be "
            f"segmented at this magnitude. Multiply the image by a large factor first (e.g. "
            f"image.astype('float64') * 1e30)."
        )
    usable = (
        robust
        & np.isfinite(spread)
        & (spread > np.finfo(np.float32).tiny)
        & (spread > _MIN_RELATIVE_SPREAD * reference)
    )
    return FeatureScaling(names=names, center=center, scale=np.where(usable, spread, 1.0))


# ---------------------------------------------------------------------------
# Feature stack
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------


def _valid_sigma(sigma: Any, where: str) -> float:
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
        if features == "intensity":
            return [("intensity", None)]
        if features not in PRESETS and features not in _REGISTRY:
            raise _unknown_name_error(features)
        if isinstance(sigmas, numbers.Real):
            sigmas = (sigmas,)
        sigma_values = [_valid_sigma(sigma, "sigmas") for sigma in sigmas]
        if not sigma_values:
            raise ValueError(f"features={features!r} needs at least one sigma; pass e.g. sigmas=(1.0, 2.0, 4.0).")
        if features == "brightfield":
            return [("intensity", None)] + [
                (name, sigma) for sigma in sigma_values for name in BRIGHTFIELD_FEATURES
            ]
        names = MULTISCALE_FEATURES if features == "multiscale" else (features,)
        return [(name, sigma) for sigma in sigma_values for name in names]

    expanded: list[tuple[str, float | None]] = []
    for entry in features:
        if isinstance(entry, str) or not isinstance(entry, Sequence) or len(entry) != 2:
            raise ValueError(
                f"Each entry of an explicit feature list must be a (name, sigma) pair such as "
                f"('gaussian', 2.0) or ('intensity', None); got {entry!r}."
            )
        name, sigma = entry
        if not isinstance(name, str) or name not in _REGISTRY:
            raise _unknown_name_error(name)
        if _REGISTRY[name].uses_sigma:
            expanded.append((name, _valid_sigma(sigma, f"feature {name!r}")))
        elif sigma is not None:
            raise ValueError(f"Feature {name!r} has no scale; write ({name!r}, None), got sigma={sigma!r}.")
        else:
            expanded.append((name, None))
    if not expanded:
        raise ValueError("The feature list is empty; ask for at least one feature, e.g. [('intensity', None)].")
    return expanded


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
        return _valid_sigma(background_sigma, "background_sigma")
    if isinstance(features, str) and features == "brightfield":
        return BRIGHTFIELD_BACKGROUND_RATIO * max(sigma for _, sigma in expand_features(features, sigmas) if sigma)
    return None


def _moment_kernel(pixel_sigma: float, power: int) -> np.ndarray:
    """1-D correlation weights ``d**power * g(d)`` of the sum-1 sampled Gaussian g, d in pixels."""
    radius = _kernel_radius(pixel_sigma, 0)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    gaussian = np.exp(-0.5 * (offsets / max(pixel_sigma, _MIN_PIXEL_SIGMA)) ** 2)
    return offsets**power * gaussian / gaussian.sum()


def _local_moment(array: np.ndarray, pixel_sigmas: Sequence[float], powers: Sequence[int]) -> np.ndarray:
    """Gaussian-weighted sum of ``array`` times the offset moments ``prod_a d_a**powers[a]`` around each pixel."""
    for axis, (pixel_sigma, power) in enumerate(zip(pixel_sigmas, powers)):
        array = ndimage.correlate1d(
            array, _moment_kernel(pixel_sigma, power), axis=axis, output=np.float32, mode="constant"
        )
    return array


def _local_linear_background(
    channel: np.ndarray, region: np.ndarray, sigma: float, physical_scale: Sequence[float]
) -> np.ndarray:
    """The intercept of a Gaussian-weighted linear fit of ``channel`` over ``region`` around each pixel.

    A weighted local mean (normalised convolution) is biased near the region's
    edge where the illumination falls off: its window reaches only inwards, to
    brighter pixels. A local linear fit has no such first-order bias (the
    boundary correction of local-linear regression).
    """
    ndim = channel.ndim
    pixel_sigmas = [sigma / step for step in physical_scale]
    weight = region.astype(np.float32)
    weighted = np.where(region, channel, 0.0).astype(np.float32)
    unit = [0] * ndim

    def moment(array: np.ndarray, *axes: int) -> np.ndarray:
        powers = list(unit)
        for axis in axes:
            powers[axis] += 1
        return _local_moment(array, pixel_sigmas, powers)

    # Normal equations of the fit I(p + d) ~ a + b.d, one (ndim+1)-square system per pixel.
    size = ndim + 1
    gram = np.empty(channel.shape + (size, size), dtype=np.float64)
    target = np.empty(channel.shape + (size,), dtype=np.float64)
    gram[..., 0, 0] = moment(weight)
    target[..., 0] = moment(weighted)
    for a in range(ndim):
        gram[..., 0, a + 1] = gram[..., a + 1, 0] = moment(weight, a)
        target[..., a + 1] = moment(weighted, a)
        for b in range(a, ndim):
            gram[..., a + 1, b + 1] = gram[..., b + 1, a + 1] = moment(weight, a, b)
    # A small ridge on the slopes keeps thin or one-sided regions solvable (they fall back to the mean).
    for a in range(ndim):
        gram[..., a + 1, a + 1] += 1e-3 * pixel_sigmas[a] ** 2 * gram[..., 0, 0] + 1e-12
    background = np.zeros(channel.shape, dtype=np.float32)
    inside = gram[..., 0, 0] > 1e-6
    background[inside] = np.linalg.solve(gram[inside], target[inside][..., None])[:, 0, 0]
    return background


def correct_illumination(
    image: Any,
    sigma: float,
    *,
    channel_axis: int | None = None,
    scale: Sequence[float] | None = None,
    mask: Any = None,
) -> np.ndarray:
    """Divide out uneven illumination: ``log((I + c) / (B + c))`` per channel.

    ``B`` is the large-scale background: at each pixel, the intercept of a
    linear fit of the intensities inside ``mask``, weighted by a Gaussian of
    physical width ``sigma`` (so neither the dark outside of a well nor its
    falling illumination darkens the background near its edge), fitted again
    without the pixels that stood out the first time (the objects, see
    :data:`ILLUMINATION_FIT_ROUNDS`). ``c`` is one
    thousandth of the channel's median inside the mask (it keeps the log finite
    at zero-valued pixels). The result is 0 where an object is as bright as its
    surroundings, negative where it is darker (worms in bright field) and
    positive where it is brighter, whatever the lamp did; it is 0 outside the mask.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image with non-negative values, optionally with a channel axis.
    sigma : float
        Scale of the background in the units of ``scale``; well above the
        objects (a few times their width).
    channel_axis : int or None, default None
        Index of the channel axis; None for a single channel.
    scale : sequence of float or None, default None
        Physical voxel size per spatial axis; None means 1.
    mask : array_like of bool or None, default None
        The region whose background is estimated (e.g. the well,
        :func:`napari_sinkhorn_em.features.masks.largest_bright_region`); None uses
        every pixel.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``image``.

    Raises
    ------
    ValueError
        For negative intensities, or the errors of :func:`extract_features`.

    Notes
    -----
    Memory: about 100 bytes per pixel in 2-D (140 in 3-D) while the local fits
    are solved.
    """
    image, channel_axis = _spatial_channels(image, channel_axis)
    sigma = _valid_sigma(sigma, "background_sigma")
    channels = [image] if channel_axis is None else list(np.moveaxis(image, channel_axis, 0))
    spatial_shape = tuple(channels[0].shape)
    physical_scale = check_scale(scale, len(spatial_shape))
    check_filter_reach("intensity", (), physical_scale, spatial_shape, background_sigma=sigma)
    region = np.ones(spatial_shape, dtype=bool) if mask is None else _valid_mask(mask, spatial_shape)
    corrected = []
    for channel in channels:
        channel = np.asarray(channel, dtype=np.float32)
        inside = channel[region]
        if inside.min() < 0:
            raise ValueError(
                "Illumination correction (the bright-field features) needs non-negative intensities inside "
                f"the mask, but they go down to {float(inside.min()):.3g}. Give the raw camera image, or add "
                "an offset so that every value is 0 or more."
            )
        offset = np.float32(1e-3 * max(float(np.median(inside)), float(inside.max()) * 1e-3, 1e-30))
        logged = np.log(np.maximum(channel, 0.0) + offset)
        background_region = region
        for _ in range(ILLUMINATION_FIT_ROUNDS):
            background = _local_linear_background(channel, background_region, sigma, physical_scale)
            flat = logged - np.log(np.maximum(background, 0.0) + offset)
            # The objects themselves (worms) pull the fit towards them; the next round leaves out the
            # pixels that stand out from the background by more than ILLUMINATION_OUTLIER_MADS spreads.
            deviation = np.abs(flat[region] - np.median(flat[region]))
            limit = max(ILLUMINATION_OUTLIER_MADS * 1.4826 * float(np.median(deviation)), 1e-6)
            background_region = region & (np.abs(flat - np.median(flat[region])) <= limit)
        flat[~region] = 0.0
        corrected.append(flat.astype(np.float32, copy=False))
    if channel_axis is None:
        return corrected[0]
    return np.moveaxis(np.stack(corrected), 0, channel_axis)


def _spatial_channels(image: Any, channel_axis: int | None) -> tuple[np.ndarray, int | None]:
    """Validate the image and return it together with the normalised channel axis."""
    image = np.asarray(image)
    channel_axis = check_image_layout(image.shape, image.dtype, channel_axis)
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise ValueError(
                "The image contains NaN or infinite pixel values, which the filters would spread into "
                "their neighbourhood. Replace them first, e.g. image = np.nan_to_num(image, nan=0.0, "
                "posinf=0.0, neginf=0.0), or fill them with a background value and exclude them with mask=."
            )
        if image.dtype.itemsize > 4 and np.abs(image).max() > np.finfo(np.float32).max:
            raise ValueError("The image has values too large for 32-bit floats (above 3.4e38); rescale it first.")
    return image, channel_axis


def _valid_mask(mask: Any, spatial_shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask)
    check_mask_layout(mask.shape, mask.dtype, spatial_shape)
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("The mask selects no pixels; it must be True on at least one pixel.")
    return mask


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


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
        (f"The {name} filter at sigma = {sigma:g}", [pass_sigma for pass_sigma, _ in _REGISTRY[name].passes(sigma)])
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


def _warn_below_one_pixel(feature_list: list[tuple[str, float | None]], physical_scale: tuple[float, ...]) -> None:
    sigmas = [sigma for _, sigma in feature_list if sigma is not None]
    finest = min(physical_scale)
    if sigmas and min(sigmas) < 0.5 * finest:
        warnings.warn(
            f"The smallest filter scale, sigma={min(sigmas):g}, is below half a pixel ({finest:g} in the units "
            f"of the voxel size), so those filters see only noise. Sigmas are in the units of the voxel "
            f"size: give e.g. sigmas=({finest:g}, {2 * finest:g}, {4 * finest:g}) for 1, 2 and 4 pixels.",
            UserWarning,
            stacklevel=3,
        )


def _column_names(channel: int, name: str, sigma: float | None, n_columns: int) -> list[str]:
    suffix = "" if sigma is None else f"(s={sigma:.10g})"
    if n_columns == 1:
        return [f"ch{channel}:{name}{suffix}"]
    return [f"ch{channel}:{name}[{k}]{suffix}" for k in range(n_columns)]


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
        2-D or 3-D image, optionally with one extra channel axis. Any numeric
        dtype (bool, integers, float16/32/64, either byte order); computed in
        float32. NaN and infinite values are rejected.
    channel_axis : int or None, default None
        Index of the channel axis in ``image``; None for a single channel.
    scale : sequence of float or None, default None
        Physical voxel size per spatial axis (like a napari layer's scale);
        None means 1 for every axis. Sigmas, derivatives and coordinates are
        in these units.
    features : str or sequence of (str, float or None), default "intensity"
        ``"intensity"``, ``"multiscale"``, a single feature name, or an
        explicit list of ``(name, sigma)`` pairs; see :func:`expand_features`
        and the module documentation. ``stack.recipe["features"]`` is
        accepted and reproduces the same columns.
    sigmas : float or sequence of float, default (1.0, 2.0, 4.0)
        Physical scales for presets (ignored for an explicit list).
    coordinates : bool, default False
        Append the physical position ``index * scale * coordinate_weight`` of
        each pixel per spatial axis (columns ``"z"``, ``"y"``, ``"x"``).
        These columns are never standardised, so distances between them stay
        physical and ``coordinate_weight`` sets the trade-off.
    coordinate_weight : float, default 1.0
        Non-negative factor applied to the coordinate columns.
    mask : array_like of bool or None, default None
        Spatial-shape mask; only pixels where it is True become rows (C order).
        Filters still see the whole image, so features near the mask border
        use the true neighbourhood.
    standardize : bool or FeatureScaling, default True
        True: subtract each feature column's median and divide by its
        interquartile range (1 where that is 0, round-off or not finite), fitted on the
        rows (a seeded subsample of at most :data:`MAX_STATISTICS_ROWS`).
        False: raw values. A :class:`FeatureScaling`: apply that stored
        transform (its names must match the columns).
    background_sigma : float or None, default None
        Compute the features on the illumination-corrected image
        (:func:`correct_illumination` with this scale, inside ``mask``). None
        gives the preset's own (:func:`background_sigma_for`): 5 times the
        largest sigma for ``"brightfield"``, no correction otherwise.

    Returns
    -------
    FeatureStack
        The table plus names, spatial shape, mask, scaling and recipe.

    Raises
    ------
    ValueError
        With a description of the problem and its fix, for: an image that is
        not 2-D/3-D after removing the channel axis, a non-numeric or empty
        image, NaN/infinite pixels, intensities so large that a feature
        overflows float32, ``channel_axis`` not an integer or out of range, a ``scale``
        of the wrong length or with non-positive values, a mask of the wrong
        shape or selecting nothing, unknown feature names, non-positive or
        non-finite sigmas, a negative or non-finite ``coordinate_weight``, or
        a scaling whose names do not match the columns.

    Notes
    -----
    Memory: the output table (``n_points * n_features * 4`` bytes) plus, for
    one channel at one sigma at a time, the float32 Gaussian derivatives that
    the requested features need (up to ten spatial-size arrays in 3-D) and a
    few spatial-size temporaries.
    """
    image, channel_axis = _spatial_channels(image, channel_axis)
    background_sigma = background_sigma_for(features, sigmas, background_sigma)
    if background_sigma is not None:
        image = correct_illumination(image, background_sigma, channel_axis=channel_axis, scale=scale, mask=mask)
    channels = [image] if channel_axis is None else list(np.moveaxis(image, channel_axis, 0))
    spatial_shape = tuple(channels[0].shape)
    ndim = len(spatial_shape)
    physical_scale = check_scale(scale, ndim)
    feature_list = expand_features(features, sigmas)
    check_filter_reach(feature_list, (), physical_scale, spatial_shape)
    _warn_below_one_pixel(feature_list, physical_scale)
    coordinate_weight = float(coordinate_weight)
    if not (math.isfinite(coordinate_weight) and coordinate_weight >= 0):
        raise ValueError(f"coordinate_weight must be a non-negative finite number, got {coordinate_weight!r}.")
    if not isinstance(standardize, (bool, np.bool_, FeatureScaling)):
        raise TypeError(f"standardize must be True, False or a FeatureScaling, got {type(standardize).__name__}.")
    if mask is not None:
        mask = _valid_mask(mask, spatial_shape)

    names: list[str] = []
    column_slices: list[list[slice]] = []
    for channel_index in range(len(channels)):
        slices = []
        for name, sigma in feature_list:
            width = _REGISTRY[name].n_columns(ndim)
            slices.append(slice(len(names), len(names) + width))
            names.extend(_column_names(channel_index, name, sigma, width))
        column_slices.append(slices)
    n_feature_columns = len(names)
    if coordinates:
        names.extend(SPATIAL_AXIS_NAMES[ndim])
    names_tuple = tuple(names)
    if isinstance(standardize, FeatureScaling) and standardize.names != names_tuple:
        raise ValueError(
            "The stored feature scaling was fitted on different features "
            f"({len(standardize.names)} columns, e.g. {list(standardize.names[:3])}) than requested here "
            f"({len(names_tuple)} columns, e.g. {list(names_tuple[:3])}); use the recipe and the number "
            "of channels of the fitted model."
        )

    if mask is None:
        n_points = math.prod(spatial_shape)

        def select(array: np.ndarray) -> np.ndarray:
            return array.reshape(-1)

    else:
        n_points = int(np.count_nonzero(mask))

        def select(array: np.ndarray) -> np.ndarray:
            return array[mask]

    data = np.empty((n_points, len(names_tuple)), dtype=np.float32)

    # Work is grouped by sigma so that the Gaussian derivatives of one channel
    # at one scale are computed once and shared by all features needing them.
    groups: dict[float | None, list[int]] = {}
    for position, (_, sigma) in enumerate(feature_list):
        groups.setdefault(sigma, []).append(position)
    for channel_index, raw_channel in enumerate(channels):
        channel = np.ascontiguousarray(raw_channel, dtype=np.float32)
        for sigma, positions in groups.items():
            orders = {
                order
                for position in positions
                for order in _REGISTRY[feature_list[position][0]].derivative_orders(ndim)
            }
            # Overflow (huge intensities squared in float32) is reported below, as one clear error.
            with np.errstate(over="ignore", invalid="ignore"):
                derivatives = {} if sigma is None else _gaussian_derivatives(channel, sigma, physical_scale, orders)
                space = _ChannelScale(channel, sigma, physical_scale, derivatives, select)
                for position in positions:
                    name = feature_list[position][0]
                    columns = data[:, column_slices[channel_index][position]]
                    _REGISTRY[name].compute(space, columns)
                    if not np.isfinite(columns).all():
                        raise ValueError(
                            f"The feature {name!r} (sigma={sigma}) of channel {channel_index} overflows "
                            f"32-bit floats: the intensities (up to {float(np.abs(channel).max()):.3g}) are "
                            f"too large for it. Rescale the image first, e.g. image = image / np.abs(image).max()."
                        )
            del space, derivatives
        del channel

    if coordinates:
        for axis in range(ndim):
            positions_1d = np.arange(spatial_shape[axis], dtype=np.float32)
            positions_1d *= np.float32(physical_scale[axis] * coordinate_weight)
            broadcast_shape = [1] * ndim
            broadcast_shape[axis] = spatial_shape[axis]
            grid = np.broadcast_to(positions_1d.reshape(broadcast_shape), spatial_shape)
            data[:, n_feature_columns + axis] = select(grid)

    if isinstance(standardize, FeatureScaling):
        scaling: FeatureScaling | None = standardize
    elif standardize:
        robust = np.arange(len(names_tuple)) < n_feature_columns
        scaling = fit_robust_scaling(data, names_tuple, robust)
    else:
        scaling = None
    if scaling is not None:
        data = scaling.apply(data, copy=False)

    recipe = {
        "features": [[name, sigma] for name, sigma in feature_list],
        "coordinates": bool(coordinates),
        "coordinate_weight": coordinate_weight,
        "background_sigma": background_sigma,
    }
    return FeatureStack(
        data=data,
        names=names_tuple,
        spatial_shape=spatial_shape,
        mask=mask,
        scaling=scaling,
        recipe=recipe,
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
            sum(_kernel_radius(pass_sigma / step, order) for pass_sigma, order in _REGISTRY[name].passes(sigma))
            for name, sigma in feature_list
        )
        for step in physical_scale
    )
