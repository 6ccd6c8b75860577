"""Sampled Gaussian kernels and the separable filter passes built from them, in physical units.

A filter of physical scale ``sigma`` uses ``sigma / scale[axis]`` pixels along each axis. Every pass is
a 1-D correlation (``scipy.ndimage.correlate1d``) with a kernel truncated at :data:`GAUSSIAN_TRUNCATE`
standard deviations, computed into float32.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = [
    "GAUSSIAN_TRUNCATE",
    "gaussian_derivatives",
    "gaussian_kernel",
    "gaussian_pass",
    "gaussian_smooth",
    "kernel_radius",
    "offset_moment_kernel",
]

#: Gaussian kernels are cut off at this many standard deviations.
GAUSSIAN_TRUNCATE = 4.0

_MIN_PIXEL_SIGMA = 0.1


def kernel_radius(pixel_sigma: float, order: int) -> int:
    """Half-width in pixels of a Gaussian (derivative) kernel; scipy's rule, at least ``order``.

    Parameters
    ----------
    pixel_sigma : float
        Standard deviation in pixels.
    order : int
        Derivative order (0 for the Gaussian itself).

    Returns
    -------
    int
        ``max(int(GAUSSIAN_TRUNCATE * pixel_sigma + 0.5), order)``.
    """
    return max(int(GAUSSIAN_TRUNCATE * pixel_sigma + 0.5), order)


def _sampled_gaussian(pixel_sigma: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets in pixels over the kernel's radius and the unnormalised Gaussian at them.

    Sigmas below ``_MIN_PIXEL_SIGMA`` are raised to it (the kernel is then already a pure
    difference / identity); the radius follows the sigma as given.
    """
    radius = kernel_radius(pixel_sigma, order)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    return offsets, np.exp(-0.5 * (offsets / max(pixel_sigma, _MIN_PIXEL_SIGMA)) ** 2)


@functools.lru_cache(maxsize=64)
def gaussian_kernel(pixel_sigma: float, order: int) -> np.ndarray:
    """1-D correlation weights of a sampled Gaussian or of its 1st/2nd derivative.

    The Gaussian is normalised to sum 1. Derivative kernels are corrected like vigra's (the library
    behind ilastik) so that they have no response to a constant (sum 0) and are exact on polynomials
    of their order: the first derivative of ``x`` is 1 and the second derivative of ``x**2 / 2`` is 1.
    For a pixel sigma far below one pixel they become the central differences ``[-1/2, 0, 1/2]`` and
    ``[1, -2, 1]``.

    Parameters
    ----------
    pixel_sigma : float
        Standard deviation in pixels.
    order : int
        Derivative order: 0, 1 or 2.

    Returns
    -------
    ndarray
        Read-only float64 weights, ``2 * kernel_radius(pixel_sigma, order) + 1`` of them.
    """
    sigma = max(pixel_sigma, _MIN_PIXEL_SIGMA)
    offsets, gaussian = _sampled_gaussian(pixel_sigma, order)
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


def offset_moment_kernel(pixel_sigma: float, power: int) -> np.ndarray:
    """1-D correlation weights ``d**power * g(d)`` of the sum-1 sampled Gaussian g, d in pixels.

    Parameters
    ----------
    pixel_sigma : float
        Standard deviation in pixels.
    power : int
        Power of the offset ``d`` (0 gives the Gaussian itself).

    Returns
    -------
    ndarray
        float64 weights over the radius of the plain Gaussian.
    """
    offsets, gaussian = _sampled_gaussian(pixel_sigma, 0)
    return offsets**power * gaussian / gaussian.sum()


def gaussian_pass(array: np.ndarray, pixel_sigma: float, axis: int, order: int = 0) -> np.ndarray:
    """One separable pass: Gaussian (derivative) along ``axis``, float32 output.

    Parameters
    ----------
    array : ndarray
        The array to filter.
    pixel_sigma : float
        Standard deviation in pixels along ``axis``.
    axis : int
        The axis filtered.
    order : int, default 0
        Derivative order, see :func:`gaussian_kernel`.

    Returns
    -------
    ndarray
        float32, the shape of ``array`` (borders reflected).
    """
    return ndimage.correlate1d(array, gaussian_kernel(pixel_sigma, order), axis=axis, output=np.float32, mode="reflect")


def gaussian_smooth(array: np.ndarray, sigma: float, scale: Sequence[float]) -> np.ndarray:
    """Gaussian smoothing of physical width ``sigma``, float32 output.

    Parameters
    ----------
    array : ndarray
        The spatial array to smooth.
    sigma : float
        Physical standard deviation.
    scale : sequence of float
        Physical voxel size per axis.

    Returns
    -------
    ndarray
        float32, the shape of ``array``.
    """
    for axis, step in enumerate(scale):
        array = gaussian_pass(array, sigma / step, axis)
    return array


def gaussian_derivatives(
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
        filtered = gaussian_pass(parent, sigma / scale[axis], axis, order)
        del parent
        if order:
            filtered *= np.float32(scale[axis] ** -order)
        prefix = (*prefix, order)
        if len(prefix) == channel.ndim:
            results[prefix] = filtered
        else:
            tasks.extend((filtered, prefix, child) for child in next_orders(prefix))
    return results
