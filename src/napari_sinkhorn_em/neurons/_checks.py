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
    """``labels`` as a 2-D or 3-D array of non-negative integers (bool becomes uint8)."""
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
    """``scale`` as ``ndim`` positive voxel sizes in µm (required) of the ``ndim``-D ``what``."""
    return check_scale(scale, ndim, in_um_for=what, axis_names=SPATIAL_AXIS_NAMES.get(ndim, ()))


def check_count(value: Any, name: str, *, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``; a clear error otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}; got {value!r}.")
    return int(value)


def check_number(value: Any, name: str, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float between ``low`` and ``high``; a clear error otherwise."""
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
    """Refuse an ``array`` (named ``name``) that does not cover the labels' voxels."""
    if array.shape != labels.shape:
        raise ValueError(
            f"{name} must cover the same voxels as the labels: its shape {array.shape} differs from the "
            f"labels' {labels.shape}."
        )
