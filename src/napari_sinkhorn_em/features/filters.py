"""The feature filters by name: what each one needs and how it fills its columns of the table.

Every filter reads one channel at one scale (:class:`ChannelScale`): the Gaussian derivatives it
needs are computed once per channel and scale and shared by all the filters of that scale. Scales
and derivatives are in physical units (see :mod:`napari_sinkhorn_em.features.gaussian`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .gaussian import gaussian_smooth

__all__ = [
    "DOG_SIGMA_RATIO",
    "FEATURE_NAMES",
    "FILTERS",
    "STRUCTURE_TENSOR_WINDOW_RATIO",
    "ChannelScale",
    "FeatureFilter",
    "symmetric_eigenvalues",
]

#: The difference of Gaussians subtracts the smoothing at ``sigma * DOG_SIGMA_RATIO``.
DOG_SIGMA_RATIO = 1.6
#: The structure tensor is averaged with a Gaussian window of ``sigma * STRUCTURE_TENSOR_WINDOW_RATIO``.
STRUCTURE_TENSOR_WINDOW_RATIO = 0.5

_EIGENVALUE_SLAB_ROWS = 1 << 16


@dataclass(frozen=True)
class ChannelScale:
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
class FeatureFilter:
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
        up to the filter's reach (see :func:`~napari_sinkhorn_em.features.halo_width`).
    compute : callable
        ``(channel_scale, out)`` writes the feature into ``out``, a
        ``(n_points, n_columns)`` float32 view of the output table.
    uses_sigma : bool
        Whether the feature is computed at a scale.
    """

    n_columns: Callable[[int], int]
    derivative_orders: Callable[[int], list[tuple[int, ...]]]
    passes: Callable[[float], tuple[tuple[float, int], ...]]
    compute: Callable[[ChannelScale, np.ndarray], None]
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


def _compute_intensity(space: ChannelScale, out: np.ndarray) -> None:
    """Raw intensity."""
    out[:, 0] = space.select(space.channel)


def _compute_gaussian(space: ChannelScale, out: np.ndarray) -> None:
    """Gaussian-smoothed intensity G_sigma * I."""
    out[:, 0] = space.select(space.derivatives[(0,) * space.channel.ndim])


def _compute_log(space: ChannelScale, out: np.ndarray) -> None:
    """Scale-normalised Laplacian of Gaussian, sigma**2 * sum_a d²(G_sigma * I)/dx_a²."""
    orders = _diagonal_second_orders(space.channel.ndim)
    laplacian = np.array(space.select(space.derivatives[orders[0]]), dtype=np.float32)
    for order in orders[1:]:
        laplacian += space.select(space.derivatives[order])
    laplacian *= np.float32(space.sigma**2)
    out[:, 0] = laplacian


def _compute_gradient_magnitude(space: ChannelScale, out: np.ndarray) -> None:
    """Length of the gradient of G_sigma * I (intensity per physical length)."""
    first, *others = (space.select(space.derivatives[order]) for order in _first_orders(space.channel.ndim))
    squared_sum = np.square(first, dtype=np.float32)
    for component in others:
        squared_sum += np.square(component, dtype=np.float32)
    out[:, 0] = np.sqrt(squared_sum, out=squared_sum)


def _compute_hessian_eigenvalues(space: ChannelScale, out: np.ndarray) -> None:
    """Eigenvalues, ascending, of the matrix of second derivatives of G_sigma * I."""
    ndim = space.channel.ndim
    components = {
        (a, b): space.select(space.derivatives[_unit_order(ndim, a, b)]) for a in range(ndim) for b in range(a, ndim)
    }
    symmetric_eigenvalues(components, ndim, out)


def _compute_structure_tensor_eigenvalues(space: ChannelScale, out: np.ndarray) -> None:
    """Eigenvalues, ascending, of G_(sigma/2) * (grad grad^T), the gradient taken at sigma."""
    ndim = space.channel.ndim
    gradient = [space.derivatives[order] for order in _first_orders(ndim)]
    window = space.sigma * STRUCTURE_TENSOR_WINDOW_RATIO
    components = {}
    for a in range(ndim):
        for b in range(a, ndim):
            product = np.multiply(gradient[a], gradient[b], dtype=np.float32)
            components[(a, b)] = space.select(gaussian_smooth(product, window, space.scale))
            del product
    symmetric_eigenvalues(components, ndim, out)


def _compute_dog(space: ChannelScale, out: np.ndarray) -> None:
    """Difference of Gaussians G_sigma * I - G_(1.6 sigma) * I."""
    wide = gaussian_smooth(space.channel, space.sigma * DOG_SIGMA_RATIO, space.scale)
    narrow = space.select(space.derivatives[(0,) * space.channel.ndim])
    out[:, 0] = np.subtract(narrow, space.select(wide), dtype=np.float32)


def _eigenvalues_2x2(entry: dict[tuple[int, int], np.ndarray], out: np.ndarray) -> None:
    """``mean -/+ hypot((a - c) / 2, b)`` into the two columns of ``out``."""
    mean = 0.5 * (entry[0, 0] + entry[1, 1])
    radius = np.hypot(0.5 * (entry[0, 0] - entry[1, 1]), entry[0, 1])
    out[:, 0] = mean - radius
    out[:, 1] = mean + radius


def _eigenvalues_3x3(entry: dict[tuple[int, int], np.ndarray], out: np.ndarray) -> None:
    """The trigonometric solution of the characteristic cubic (Smith, 1961) into the three columns of ``out``."""
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
    out[:, 0] = smallest
    out[:, 1] = middle
    out[:, 2] = largest


def symmetric_eigenvalues(components: dict[tuple[int, int], np.ndarray], ndim: int, out: np.ndarray) -> None:
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
    solve = _eigenvalues_2x2 if ndim == 2 else _eigenvalues_3x3
    n_points = out.shape[0]
    for start in range(0, n_points, _EIGENVALUE_SLAB_ROWS):
        rows = slice(start, min(start + _EIGENVALUE_SLAB_ROWS, n_points))
        solve({key: values[rows].astype(np.float64) for key, values in components.items()}, out[rows])


#: The feature filters by name, in the order of :data:`FEATURE_NAMES`; the fields as in :class:`FeatureFilter`.
FILTERS: dict[str, FeatureFilter] = {
    "intensity": FeatureFilter(_one_column, _no_orders, lambda sigma: (), _compute_intensity, uses_sigma=False),
    "gaussian": FeatureFilter(_one_column, _smoothing_order, lambda sigma: ((sigma, 0),), _compute_gaussian),
    "log": FeatureFilter(_one_column, _diagonal_second_orders, lambda sigma: ((sigma, 2),), _compute_log),
    "gradient_magnitude": FeatureFilter(
        _one_column, _first_orders, lambda sigma: ((sigma, 1),), _compute_gradient_magnitude
    ),
    "hessian_eigenvalues": FeatureFilter(
        _ndim_columns, _second_orders, lambda sigma: ((sigma, 2),), _compute_hessian_eigenvalues
    ),
    "structure_tensor_eigenvalues": FeatureFilter(
        _ndim_columns,
        _first_orders,
        lambda sigma: ((sigma, 1), (STRUCTURE_TENSOR_WINDOW_RATIO * sigma, 0)),
        _compute_structure_tensor_eigenvalues,
    ),
    "dog": FeatureFilter(_one_column, _smoothing_order, lambda sigma: ((DOG_SIGMA_RATIO * sigma, 0),), _compute_dog),
}

#: Every feature name accepted in an explicit ``[(name, sigma), ...]`` list.
FEATURE_NAMES = tuple(FILTERS)

