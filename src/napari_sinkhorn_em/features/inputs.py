"""The checks of an image and its mask before any filter runs, and the image's channels one by one."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_image_layout, check_mask_layout, check_selects_pixels

__all__ = ["checked_image", "checked_mask", "split_channels"]


def checked_image(image: Any, channel_axis: int | None) -> tuple[np.ndarray, int | None]:
    """The image as an array, with its channel axis normalised, or a ValueError that says how to fix it.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis; any numeric dtype.
    channel_axis : int or None
        Index of the channel axis; None for a single channel.

    Returns
    -------
    image : ndarray
        ``np.asarray(image)``.
    channel_axis : int or None
        The channel axis as a non-negative index.

    Raises
    ------
    ValueError
        For a wrong layout or dtype, NaN or infinite pixels, or floats beyond float32's range.
    """
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


def checked_mask(mask: Any, spatial_shape: tuple[int, ...]) -> np.ndarray:
    """The mask as a boolean array of ``spatial_shape``; a ValueError if it has another shape or selects nothing.

    Parameters
    ----------
    mask : array_like of bool
        The region, True where a pixel belongs to it.
    spatial_shape : tuple of int
        The image's shape without its channel axis.

    Returns
    -------
    ndarray of bool
        The mask.
    """
    mask = np.asarray(mask)
    check_mask_layout(mask.shape, mask.dtype, spatial_shape)
    mask = mask.astype(bool)
    check_selects_pixels(np.count_nonzero(mask))
    return mask


def split_channels(image: np.ndarray, channel_axis: int | None) -> list[np.ndarray]:
    """The image's channels, each of the spatial shape (views, not copies).

    Parameters
    ----------
    image : ndarray
        A checked image (:func:`checked_image`).
    channel_axis : int or None
        Its channel axis; None for a single channel.

    Returns
    -------
    list of ndarray
        ``[image]`` without a channel axis.
    """
    return [image] if channel_axis is None else list(np.moveaxis(image, channel_axis, 0))
