"""Checks shared by the neurons entry points; each error names the problem and the fix."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .._validation import check_scale
from ..features import SPATIAL_AXIS_NAMES

_INT64_MAX = np.iinfo(np.int64).max


def check_labels(labels: Any, name: str = "labels") -> np.ndarray:
    """``labels`` as a 2-D or 3-D array of non-negative integers (bool becomes uint8).

    Parameters
    ----------
    labels : array_like
        A label image (0 = background).
    name : str, default "labels"
        Its name in the error messages.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        If it is not such an image.
    """
    array = np.asarray(labels)
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be an integer label image (0 = background, one whole number per neuron); "
            f"got values of type {array.dtype}. If they are whole numbers, convert them first, "
            f"e.g. {name}.astype(np.uint16)."
        )
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be a 2-D (y, x) or 3-D (z, y, x) label image; got {array.ndim} axes "
            f"(shape {array.shape}). Give one time point and no channel axis."
        )
    if array.size == 0:
        raise ValueError(f"{name} of shape {array.shape} contains no voxels.")
    if array.dtype.kind == "i" and array.min() < 0:
        raise ValueError(f"{name} must not be negative (0 is background); found the label {int(array.min())}.")
    if array.dtype == np.uint64 and int(array.max()) > _INT64_MAX:
        raise ValueError(f"{name} holds a label above 2**63 - 1 ({int(array.max())}); renumber the labels.")
    return array


def check_scale_um(scale: Any, ndim: int, what: str = "labels") -> tuple[float, ...]:
    """``scale`` as ``ndim`` positive voxel sizes in µm (required) of the ``ndim``-D ``what``.

    Parameters
    ----------
    scale : sequence of float
        The voxel size per axis (z, y, x).
    ndim : int
        The number of spatial axes.
    what : str, default "labels"
        What it is the voxel size of, for the error messages.

    Returns
    -------
    tuple of float

    Raises
    ------
    ValueError
        If it does not give one positive size per axis.
    """
    return check_scale(scale, ndim, in_um_for=what, axis_names=SPATIAL_AXIS_NAMES.get(ndim, ()))


def channels_first(image: Any, channel_axis: Any) -> np.ndarray:
    """The image, checked, with its channels on a leading axis (one channel: a leading axis of length 1).

    Parameters
    ----------
    image : array_like
        The image, of numbers.
    channel_axis : int or None
        Axis of ``image`` holding the channels; None for one channel.

    Returns
    -------
    numpy.ndarray
        Shape (n_channels, *spatial shape): a view of ``image``.

    Raises
    ------
    ValueError
        If the image does not hold numbers or ``channel_axis`` is not one of its axes.
    """
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ValueError(f"The image must hold numbers; got values of type {image.dtype}.")
    if channel_axis is None:
        return image[np.newaxis]
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, numbers.Integral):
        raise ValueError(f"channel_axis must be an axis index (such as 0) or None; got {channel_axis!r}.")
    if not -image.ndim <= channel_axis < image.ndim:
        raise ValueError(
            f"channel_axis={channel_axis} does not exist: the image has {image.ndim} axes "
            f"(shape {image.shape}), numbered 0 to {image.ndim - 1}."
        )
    return np.moveaxis(image, int(channel_axis), 0)


def check_count(value: Any, name: str, *, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``; a clear error otherwise.

    Parameters
    ----------
    value : int
        The number given.
    name : str
        Its name in the error message.
    minimum : int
        The smallest value accepted.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``value`` is not a whole number of at least ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}; got {value!r}.")
    return int(value)


def check_number(value: Any, name: str, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float between ``low`` and ``high``; a clear error otherwise.

    Parameters
    ----------
    value : float
        The number given.
    name : str
        Its name in the error message.
    low : float
        The lower bound.
    high : float, default inf
        The upper bound (included).
    low_open : bool, default False
        Whether ``low`` itself is refused.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``value`` is not a number within the bounds.
    """
    number = math.nan
    if not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real):
        number = float(value)
    above_low = number > low if low_open else number >= low
    if not (above_low and number <= high):
        bound = f"{'above' if low_open else 'at least'} {low:g}"
        if high != math.inf:
            bound += f" and at most {high:g}"
        raise ValueError(f"{name} must be a number {bound}; got {value!r}.")
    return number


def check_same_shape(array: np.ndarray, labels: np.ndarray, name: str) -> None:
    """Refuse an ``array`` (named ``name``) that does not cover the labels' voxels.

    Parameters
    ----------
    array : numpy.ndarray
        The array checked.
    labels : numpy.ndarray
        The label image it must match.
    name : str
        Its name in the error message.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    if array.shape != labels.shape:
        raise ValueError(
            f"{name} must cover the same voxels as the labels: its shape {array.shape} differs from the "
            f"labels' {labels.shape}."
        )
