"""Automatic region masks, so that a user need not paint the region to segment.

Both helpers threshold one channel by Otsu's method (scikit-image) and return a
boolean mask of the image's spatial shape, ready for ``mask=`` of
:func:`~napari_sinkhorn_em.segmentation.segment`.

* :func:`otsu_foreground`: every pixel brighter than the threshold, e.g. the
  nuclei of a fluorescence stack or the pan-neuronal channel of a NeuroPAL head.
* :func:`largest_bright_region`: the largest connected bright region with its
  holes filled, optionally shrunk by a margin: the illuminated well of a
  bright-field plate, dark worms inside it included.

:func:`channel_values` is the channel they threshold, as checked float64 values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from .._validation import check_image_layout, check_positive_int

__all__ = [
    "AUTOMATIC_MASKS",
    "WELL_MARGIN",
    "automatic_mask",
    "channel_values",
    "largest_bright_region",
    "otsu_foreground",
]

#: Pixels left out along the edge of an automatic well mask (the widget's, the command line's and
#: the demo's): the dark meniscus rim of a BBBC010 well, a few pixels wide.
WELL_MARGIN = 6
#: The automatic masks by name, as offered by the widget and the command line.
AUTOMATIC_MASKS = ("largest_bright_region", "otsu")


def channel_values(image: Any, channel_axis: int | None, channel: int) -> np.ndarray:
    """One channel of an image as float64 values, checked.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None
        Index of the channel axis; None for a single channel (then ``channel`` is not used).
    channel : int
        The channel taken when there is a channel axis.

    Returns
    -------
    numpy.ndarray
        float64, the image's spatial shape.

    Raises
    ------
    ValueError
        For a wrong layout, a channel that does not exist, or NaN or infinite values.
    """
    image = np.asarray(image)
    channel_axis = check_image_layout(image.shape, image.dtype, channel_axis)
    if channel_axis is not None:
        n_channels = image.shape[channel_axis]
        if not 0 <= channel < n_channels:
            raise ValueError(
                f"channel={channel} does not exist: the image has {n_channels} channels (0 to {n_channels - 1})."
            )
        image = np.take(image, channel, axis=channel_axis)
    values = image.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("The image contains NaN or infinite values; replace them before computing a mask.")
    return values


def _otsu_above(values: np.ndarray) -> np.ndarray:
    if values.min() == values.max():
        raise ValueError(
            "The image is uniform (every pixel has the same value), so no threshold separates a bright "
            "region from a dark one; paint the region by hand or give mask=None."
        )
    return values > threshold_otsu(values)


def otsu_foreground(image: Any, *, channel_axis: int | None = None, channel: int = 0) -> np.ndarray:
    """Pixels brighter than Otsu's threshold of one channel.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None, default None
        Index of the channel axis; None for a single channel.
    channel : int, default 0
        The channel thresholded when there is a channel axis.

    Returns
    -------
    numpy.ndarray of bool
        The image's spatial shape, True above the threshold.

    Raises
    ------
    ValueError
        For a uniform image, NaN or infinite values, or a channel that does not exist.
    """
    return _otsu_above(channel_values(image, channel_axis, channel))


def largest_bright_region(
    image: Any, *, channel_axis: int | None = None, channel: int = 0, margin: int = 0, log: bool = True
) -> np.ndarray:
    """The largest connected bright region of one channel, holes filled, shrunk by ``margin`` pixels.

    This is the illuminated well of a bright-field image: Otsu's threshold of the
    log intensity (``log=True``) separates the well from the dark outside, the
    largest connected region above it is kept, and the holes in it (dark worms)
    are filled. A margin of a few pixels leaves out the dark rim at the well's edge.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None, default None
        Index of the channel axis; None for a single channel.
    channel : int, default 0
        The channel used when there is a channel axis.
    margin : int, default 0
        Pixels removed all along the region's border (a binary erosion).
    log : bool, default True
        Threshold the logarithm of the intensities (for images whose bright
        region is unevenly lit); False thresholds the intensities. Values of 0
        or below are first shifted to a thousandth of the image's range.

    Returns
    -------
    numpy.ndarray of bool
        The image's spatial shape, True inside the region.

    Raises
    ------
    ValueError
        For a uniform image, NaN or infinite values, a channel that does not
        exist, a negative margin, or a margin that leaves nothing.
    """
    margin = check_positive_int(margin, "margin", minimum=0)
    values = channel_values(image, channel_axis, channel)
    if log:
        # Zero or negative values (an offset camera, a background-subtracted image) are shifted to
        # just above 0: a thousandth of the image's range.
        lowest = values.min()
        if lowest <= 0:
            values = values - lowest + 1e-3 * max(values.max() - lowest, np.finfo(np.float64).tiny)
        values = np.log(values)
    regions, n_regions = ndimage.label(_otsu_above(values))
    sizes = np.bincount(regions.ravel(), minlength=n_regions + 1)
    sizes[0] = 0
    region = ndimage.binary_fill_holes(regions == int(np.argmax(sizes)))
    if margin:
        region = ndimage.binary_erosion(region, iterations=margin)
        if not region.any():
            raise ValueError(
                f"A margin of {margin} pixels removes the whole bright region; use a smaller margin."
            )
    return region


def automatic_mask(kind: str, image: Any, *, channel_axis: int | None = None, channel: int = 0) -> np.ndarray:
    """An automatic mask by name: ``"largest_bright_region"`` (a well, :data:`WELL_MARGIN` in) or ``"otsu"``.

    Parameters
    ----------
    kind : {"largest_bright_region", "otsu"}
        Which mask: :func:`largest_bright_region` with ``margin=WELL_MARGIN``, or
        :func:`otsu_foreground`.
    image, channel_axis, channel
        As for those functions.

    Returns
    -------
    numpy.ndarray of bool
        The image's spatial shape.
    """
    if kind == "largest_bright_region":
        return largest_bright_region(image, channel_axis=channel_axis, channel=channel, margin=WELL_MARGIN)
    if kind == "otsu":
        return otsu_foreground(image, channel_axis=channel_axis, channel=channel)
    raise ValueError(f"Unknown automatic mask {kind!r}; choose one of {', '.join(AUTOMATIC_MASKS)}.")
