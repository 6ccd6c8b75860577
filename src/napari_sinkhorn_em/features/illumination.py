"""Illumination correction: the large-scale background of each channel divided out, on a log scale.

The background at each pixel is the intercept of a Gaussian-weighted local linear fit of the
intensities inside a region (the well), fitted again without the pixels that stood out the first
time (the objects). Bright-field features are computed on the corrected image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from .._validation import check_scale
from .gaussian import offset_moment_kernel
from .inputs import checked_image, checked_mask, split_channels
from .recipes import check_filter_reach, check_sigma

__all__ = ["ILLUMINATION_FIT_ROUNDS", "ILLUMINATION_OUTLIER_MADS", "correct_illumination"]

#: The illumination is fitted this many times, each time leaving out the pixels that stood out
#: in the previous one (the objects), so that dark worms do not darken their own background.
ILLUMINATION_FIT_ROUNDS = 2
#: A pixel stands out when it differs from the median by more than this many robust standard deviations.
ILLUMINATION_OUTLIER_MADS = 3.0


def _local_moment(array: np.ndarray, pixel_sigmas: Sequence[float], powers: Sequence[int]) -> np.ndarray:
    """Gaussian-weighted sum of ``array`` times the offset moments ``prod_a d_a**powers[a]`` around each pixel."""
    for axis, (pixel_sigma, power) in enumerate(zip(pixel_sigmas, powers)):
        array = ndimage.correlate1d(
            array, offset_moment_kernel(pixel_sigma, power), axis=axis, output=np.float32, mode="constant"
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


def _log_offset(channel: np.ndarray, region: np.ndarray) -> np.float32:
    """``c`` of ``log(I + c)``: a thousandth of the median inside the region; refuses negative intensities."""
    inside = channel[region]
    if inside.min() < 0:
        raise ValueError(
            "Illumination correction (the bright-field features) needs non-negative intensities inside "
            f"the mask, but they go down to {float(inside.min()):.3g}. Give the raw camera image, or add "
            "an offset so that every value is 0 or more."
        )
    return np.float32(1e-3 * max(float(np.median(inside)), float(inside.max()) * 1e-3, 1e-30))


def _corrected_channel(
    channel: np.ndarray, region: np.ndarray, sigma: float, physical_scale: Sequence[float]
) -> np.ndarray:
    """``log((I + c) / (B + c))`` of one float32 channel, 0 outside ``region``."""
    offset = _log_offset(channel, region)
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
    return flat.astype(np.float32, copy=False)


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
    image, channel_axis = checked_image(image, channel_axis)
    sigma = check_sigma(sigma, "background_sigma")
    channels = split_channels(image, channel_axis)
    spatial_shape = tuple(channels[0].shape)
    physical_scale = check_scale(scale, len(spatial_shape))
    check_filter_reach("intensity", (), physical_scale, spatial_shape, background_sigma=sigma)
    region = np.ones(spatial_shape, dtype=bool) if mask is None else checked_mask(mask, spatial_shape)
    corrected = [
        _corrected_channel(np.asarray(channel, dtype=np.float32), region, sigma, physical_scale) for channel in channels
    ]
    if channel_axis is None:
        return corrected[0]
    return np.moveaxis(np.stack(corrected), 0, channel_axis)
