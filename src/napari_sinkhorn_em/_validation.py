"""Checks shared by every public entry point; each error names the problem and the fix."""

import numbers
import operator
import os

import numpy as np

WEIGHT_SUM_TOL = 1e-6


def check_points(X, *, name="X", min_rows=1):
    """Return ``X`` as a C-contiguous (n, d) float32/float64 array with finite values."""
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_points, n_features); got {array.ndim} "
            f"dimension(s) with shape {array.shape}. Reshape it, e.g. X.reshape(-1, 1) for one feature."
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers; got dtype {array.dtype}.")
    if array.dtype != np.float32:
        # No copy of float64 input: the fit only reads X (a large table is not duplicated).
        array = array.astype(np.float64, copy=False)
    array = np.ascontiguousarray(array)
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {array.shape}); give at least one column.")
    if array.shape[0] < min_rows:
        raise ValueError(
            f"{name} has {array.shape[0]} point(s) but at least {min_rows} are needed "
            f"(one per component); use fewer components or more data."
        )
    if not np.isfinite(array).all():
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s); replace or mask them "
            f"(for example with numpy.nan_to_num) before fitting."
        )
    return array


def check_positive_int(value, name, *, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_positive_float(value, name, *, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r}.")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}.")
    return value


def check_epsilon(epsilon):
    """ε must be finite and positive: it is the temperature of the entropic transport."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not (
        np.isfinite(epsilon) and epsilon > 0
    ):
        raise ValueError(
            f"epsilon must be a finite number > 0 (1.0 is a good start; smaller gives "
            f"harder, size-constrained assignments); got {epsilon!r}."
        )
    return float(epsilon)


def check_weights(weights, n_components, *, name="weights"):
    """Return fixed mixing weights as a float64 array of length ``n_components``."""
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 1 or array.shape[0] != n_components:
        raise ValueError(
            f"{name} must be a list of {n_components} fractions (one per component); "
            f"got shape {array.shape}."
        )
    if not np.isfinite(array).all() or (array <= 0).any():
        raise ValueError(f"{name} must all be finite and > 0; got {array.tolist()}.")
    if abs(array.sum() - 1.0) > WEIGHT_SUM_TOL:
        raise ValueError(
            f"{name} must sum to 1 (they are fractions of the points); they sum to "
            f"{array.sum():.6g}. Divide them by their sum."
        )
    return array / array.sum()


def check_choice(value, name, choices):
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}.")
    return value


def check_random_state(random_state):
    """Turn None, an int or a Generator into a ``numpy.random.Generator``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    raise ValueError(f"random_state must be None, an integer or a numpy Generator; got {random_state!r}.")


def check_image_layout(shape, dtype, channel_axis):
    """Check an image's type, channel axis and number of spatial axes; return the channel axis in 0..ndim-1.

    Only ``shape`` and ``dtype`` are looked at, so the same check serves numpy and dask images.
    """
    ndim = len(shape)
    if np.dtype(dtype).kind not in "biuf":
        raise ValueError(
            f"The image must hold numbers (bool, integer or float), but its dtype is {dtype}; "
            f"convert it, e.g. image.astype(np.float32)."
        )
    if channel_axis is not None:
        try:
            if isinstance(channel_axis, (bool, np.bool_)):
                raise TypeError
            channel_axis = operator.index(channel_axis)
        except TypeError:
            raise ValueError(
                f"channel_axis must be an axis index (an integer such as 0 or -1) or None, "
                f"got {channel_axis!r}."
            ) from None
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {ndim} axes "
                f"(shape {tuple(shape)}); use an index from {-ndim} to {ndim - 1}, "
                f"or None for a single-channel image."
            )
        channel_axis %= ndim
    spatial_ndim = ndim - (channel_axis is not None)
    if spatial_ndim not in (2, 3):
        hint = (
            " If one axis holds channels, pass its index as channel_axis."
            if channel_axis is None and spatial_ndim > 3
            else " A 1-D profile can be given as a one-row image, e.g. image.reshape(1, -1)."
            if spatial_ndim == 1
            else ""
        )
        raise ValueError(
            f"Expected a 2-D or 3-D image after removing the channel axis, but the image of shape "
            f"{tuple(shape)} has {spatial_ndim} spatial axes.{hint} For time series, work on one time "
            f"point at a time."
        )
    if 0 in shape:
        raise ValueError(f"The image of shape {tuple(shape)} contains no pixels.")
    return channel_axis


def check_scale(scale, ndim, *, in_um_for=None, axis_names=()):
    """Return ``scale`` as ``ndim`` positive voxel sizes.

    Parameters
    ----------
    scale : sequence of float or None
        One voxel size per spatial axis; None means all 1 (sizes in voxels)
        unless ``in_um_for`` is given.
    ndim : int
        The number of spatial axes.
    in_um_for : str, optional
        What the voxel sizes in µm are required for (e.g. ``"labels"``): then
        None is refused, and the errors name the unit, ``axis_names`` and it.
    axis_names : tuple of str, default ()
        The axes' names (``("z", "y", "x")``), for the errors of ``in_um_for``.

    Returns
    -------
    tuple of float
        The ``ndim`` voxel sizes.
    """
    if scale is None and in_um_for is None:
        return (1.0,) * ndim
    axes = ", ".join(axis_names)
    try:
        values = np.asarray(scale, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        if in_um_for is None:
            raise
        raise ValueError(f"scale must be {ndim} voxel sizes in µm ({axes}); got {scale!r}.") from None
    if in_um_for is None and values.size != ndim:
        raise ValueError(
            f"scale must give one voxel size per spatial axis ({ndim} values for this {ndim}-D image, "
            f"e.g. (z_step, pixel_size, pixel_size)); got {tuple(np.ravel(scale))}."
        )
    if scale is None or values.size != ndim:
        raise ValueError(
            f"scale must give one voxel size in µm per axis of the {ndim}-D {in_um_for} ({ndim} values: {axes}, "
            f"e.g. {(0.75, 0.3, 0.3)[-ndim:]}); got {scale!r}."
        )
    if not np.all(np.isfinite(values) & (values > 0)):
        if in_um_for is None:
            raise ValueError(f"Every voxel size in scale must be a positive finite number; got {tuple(values)}.")
        raise ValueError(f"Every voxel size in scale must be a positive number of µm; got {tuple(values.tolist())}.")
    return tuple(float(value) for value in values)


def check_mask_layout(shape, dtype, spatial_shape):
    """Check that a mask of ``shape`` and ``dtype`` is a True/False image of ``spatial_shape``."""
    if tuple(shape) != tuple(spatial_shape) or np.dtype(dtype).kind not in "biu":
        raise ValueError(
            f"The mask must be a True/False image of the image's spatial shape {tuple(spatial_shape)}; "
            f"got shape {tuple(shape)} and dtype {dtype}."
        )


def check_selects_pixels(n_points):
    """Refuse a mask that selects no pixels.

    Parameters
    ----------
    n_points : int
        How many pixels the mask selects (True pixels).

    Raises
    ------
    ValueError
        When ``n_points`` is 0.
    """
    if n_points == 0:
        raise ValueError("The mask selects no pixels; it must be True on at least one pixel.")


def available_memory():
    """Bytes of memory free for a new array now, or None where the system does not say.

    Returns
    -------
    int or None
        The physical memory the operating system reports as available.
    """
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_fits_in_memory(n_bytes, what, advice):
    """Refuse, before allocating, work that needs more memory than is available.

    Parameters
    ----------
    n_bytes : float
        Estimated bytes the work holds at once.
    what : str
        What needs the memory, completing "... needs about N GiB" (e.g. "Fitting 5000 classes").
    advice : str
        The sentence saying what to do instead.

    Raises
    ------
    MemoryError
        When ``n_bytes`` exceeds the available memory.
    """
    free = available_memory()
    if free is not None and n_bytes > free:
        raise MemoryError(
            f"{what} needs about {n_bytes / 2**30:.3g} GiB of memory, but only {free / 2**30:.3g} GiB "
            f"is available, so it was not started. {advice}"
        )
