"""The neurons recipe: from a NeuroPAL stack to one label and one table row per neuron."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..contracts import recipe_features
from ..features import SPATIAL_AXIS_NAMES, channel_values, extract_features, otsu_foreground
from .._validation import check_choice
from ..segmentation import Segmenter, default_method
from ._checks import channels_first, check_number, check_scale_um
from .counting import DEFAULT_NUCLEUS_RADIUS_UM, MIN_VOXELS_PER_NEURON, check_n_neurons, suggest_n_neurons
from .peaks import find_neuron_peaks, peak_starting_means, suggest_n_neurons_from_peaks
from .instances import CleanedInstances, clean_instances
from .table import model_position_covariances, neuron_table

#: Most foreground voxels :func:`segment_neurons` fits on; a larger foreground is subsampled.
MAX_FIT_VOXELS = 500_000

#: Default cap on the iterations of the mixture's main fit in :func:`segment_neurons`.
DEFAULT_NEURON_MAX_ITER = 300
#: How :func:`segment_neurons` starts its mixture by default: ``"peaks"``, one Gaussian at each
#: bright spot of the pan-neuronal channel (:func:`find_neuron_peaks`), K = the number of spots and
#: EM from there; ``"kmeans"``, the recipe before issue 17: K from the foreground volume
#: (:func:`suggest_n_neurons`), k-means means and the Sinkhorn start. On the 200-neuron heads of
#: docs/evidence.md (section 6) the peaks matched 198.5 neurons (198-199 over 6 fits), k-means 175.2.
NEURON_INIT = "peaks"
#: The starts :func:`segment_neurons` offers (see :data:`NEURON_INIT`).
NEURON_INITS = ("peaks", "kmeans")

#: Percentiles over the neurons between which :meth:`NeuronSegmentation.colours_rgb` stretches each channel.
COLOUR_STRETCH_PERCENTILES = (2.0, 98.0)


@dataclass(frozen=True, eq=False)
class NeuronSegmentation:
    """The result of :func:`segment_neurons`: one label and one table row per neuron.

    Attributes
    ----------
    labels : numpy.ndarray
        The cleaned instance labels (:func:`clean_instances`), uint16 (uint32
        above 65,535 neurons), 0 = background; label k is mixture component
        k − 1 of ``segmenter``. Labels dropped by the clean-up leave gaps.
    table : dict of str to numpy.ndarray
        :func:`neuron_table` of ``labels``: centre, volume, mean colour and
        position covariance in µm, ``mean_confidence`` (the mean posterior
        probability of each voxel's fitted component) and the fitted
        Gaussians' position covariances (``model_czz_um2``, ...).
    segmenter : Segmenter
        The fitted :class:`~napari_sinkhorn_em.segmentation.Segmenter`: intensity
        of the colour channels plus the voxel positions in µm.
    foreground : numpy.ndarray
        The boolean mask the neurons were fitted in.
    n_neurons : int
        The number of components K fitted.
    suggested_n_neurons : int
        The number of neurons suggested (K when none was given): the number
        of :func:`find_neuron_peaks` with ``init="peaks"``, else (or when
        there is no peak) :func:`suggest_n_neurons` of ``foreground``.
    cleanup : CleanedInstances
        What :func:`clean_instances` changed.
    scale : tuple of float
        Voxel size in µm (z, y, x) used for positions (ones when none was given).
    colour_channels : tuple of int
        The image channels used as colours, in the order given.
    pan_neuronal_channel : int or None
        The pan-neuronal channel (not a feature; it made the default mask).
    colour_columns : tuple of str
        The table's ``mean_<channel>`` columns of ``colour_channels``, in order.
    nucleus_radius_um : float
        The nucleus radius the number of neurons and the position weight came from.
    suggested_by : {"volume", "peaks"}
        What suggested the number: the foreground volume or the peaks.
    init : {"peaks", "kmeans"}
        How the mixture was started (:data:`NEURON_INIT`).
    """

    labels: np.ndarray = field(repr=False)
    table: dict[str, np.ndarray] = field(repr=False)
    segmenter: Any
    foreground: np.ndarray = field(repr=False)
    n_neurons: int
    suggested_n_neurons: int
    cleanup: CleanedInstances = field(repr=False)
    scale: tuple[float, ...]
    colour_channels: tuple[int, ...] = ()
    pan_neuronal_channel: int | None = None
    colour_columns: tuple[str, ...] = ()
    nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM
    suggested_by: str = "volume"
    init: str = "kmeans"

    def centres_um(self) -> np.ndarray:
        """The neurons' centres in µm, shape (n, ndim), columns (z, y, x), rows as the table's.

        Divide by ``scale`` for voxel indices, e.g. the data of a napari
        Points layer shown with that ``scale``.
        """
        axes = SPATIAL_AXIS_NAMES[self.labels.ndim]
        return np.column_stack([np.asarray(self.table[f"{axis}_um"], dtype=np.float64) for axis in axes]).reshape(
            -1, len(axes)
        )

    def colours_rgb(self) -> np.ndarray:
        """Each neuron's mean colour as red, green, blue in [0, 1], e.g. a Points layer's ``face_color``.

        Red, green and blue are the first three of ``colour_channels`` in
        the order given (a missing third stays 0). Each is stretched from
        its 2nd to its 98th percentile over the neurons
        (:data:`COLOUR_STRETCH_PERCENTILES`), so the camera offset turns
        black and the brightest neurons saturate, and clipped to [0, 1].
        For NeuroPAL channels in :data:`~napari_sinkhorn_em.data.NEUROPAL_CHANNEL_NAMES`
        order (mTagBFP2, CyOFP1, mNeptune2.5, pan-neuronal), give
        ``colour_channels=(2, 1, 0)`` to get NeuroPAL's own colours:
        mNeptune2.5 red, CyOFP1 green, mTagBFP2 blue.

        Returns
        -------
        numpy.ndarray
            float64, shape (n_neurons, 3), rows as the table's.
        """
        n_rows = len(self.table["label"])
        rgb = np.zeros((n_rows, 3))
        low_percentile, high_percentile = COLOUR_STRETCH_PERCENTILES
        for position, column in enumerate(self.colour_columns[:3] if n_rows else ()):
            values = np.asarray(self.table[column], dtype=np.float64)
            low, high = np.percentile(values, [low_percentile, high_percentile])
            rgb[:, position] = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else 1.0
        return rgb

    def summary(self) -> str:
        """One sentence on what was found, for a biologist.

        E.g. ``"Found 196 neurons in 32,447 foreground voxels (200 fitted, as
        suggested by the bright spots at a nucleus radius of 1.4 µm; 4
        came out empty or too small), median volume 11.2 µm³, median
        confidence 0.98."`` (``"the foreground volume"`` when the number
        came from it).
        """
        n_found = len(self.table["label"])
        three_d = self.labels.ndim == 3
        in_voxels = all(value == 1.0 for value in self.scale)
        length = "voxels" if in_voxels else "µm"
        radius = f" at a nucleus radius of {self.nucleus_radius_um:g} {length}"
        by, verb = ("the bright spots", "suggest") if self.suggested_by == "peaks" else ("the foreground volume",
                                                                                          "suggests")
        if self.n_neurons == self.suggested_n_neurons:
            fitted = f"{self.n_neurons} fitted, as suggested by {by}{radius}"
        else:
            fitted = f"{self.n_neurons} fitted; {by} {verb} {self.suggested_n_neurons}{radius}"
        lost = self.n_neurons - n_found
        if lost:
            fitted += f"; {lost} came out empty or too small"
        details = ""
        if n_found:
            sizes = np.asarray(self.table["volume_um3" if three_d else "area_um2"], dtype=np.float64)
            unit = ("voxels" if three_d else "pixels") if in_voxels else ("µm³" if three_d else "µm²")
            details = f", median {'volume' if three_d else 'area'} {np.median(sizes):.3g} {unit}"
            if "mean_confidence" in self.table:
                details += f", median confidence {np.median(self.table['mean_confidence']):.2f}"
        n_foreground = np.count_nonzero(self.foreground)
        return f"Found {n_found} neurons in {n_foreground:,} foreground voxels ({fitted}){details}."


def _recipe_channels(image: Any, channel_axis: Any) -> tuple[np.ndarray, int]:
    """The image with its channels on a leading axis (one channel: a leading axis of length 1), and its spatial ndim."""
    image = np.asarray(image)
    channels = channels_first(image, channel_axis)
    ndim = channels.ndim - 1
    if ndim not in (2, 3):
        hint = " If one axis holds the channels, give it as channel_axis." if channel_axis is None else ""
        raise ValueError(
            f"Neurons are found in a 3-D (z, y, x) or 2-D (y, x) image with an optional channel axis; "
            f"this image of shape {image.shape} has {ndim} axes besides the channels.{hint}"
        )
    return channels, ndim


def _channel_index(value: Any, n_channels: int, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a channel index (a whole number); got {value!r}.")
    if not -n_channels <= value < n_channels:
        raise ValueError(
            f"{name}={value} does not exist: the image has {n_channels} channel(s), numbered 0 to {n_channels - 1}."
        )
    return int(value) % n_channels


def _neuron_channels(
    n_channels: int, colour_channels: Any, pan_neuronal_channel: Any
) -> tuple[tuple[int, ...], int | None]:
    """The colour channels and the pan-neuronal channel (None: none) of the recipe."""
    if pan_neuronal_channel is False:
        pan = None
    elif pan_neuronal_channel is None:
        pan = n_channels - 1 if n_channels >= 4 else None
    else:
        pan = _channel_index(pan_neuronal_channel, n_channels, "pan_neuronal_channel")
    if colour_channels is None:
        colours = tuple(channel for channel in range(n_channels) if channel != pan)
    else:
        given = np.atleast_1d(colour_channels).tolist()
        colours = tuple(_channel_index(channel, n_channels, "colour_channels") for channel in given)
        if len(set(colours)) != len(colours) or not colours:
            raise ValueError(f"colour_channels must name one or more distinct channels; got {colour_channels!r}.")
    if not colours:
        raise ValueError(
            f"The image has only the pan-neuronal channel ({pan}); with one channel give "
            f"pan_neuronal_channel=False to use it as the colour too."
        )
    return colours, pan


def _recipe_scale(scale: Any, ndim: int) -> tuple[float, ...]:
    """``scale`` as voxel sizes in µm; ones, with a warning, when none is given for a 3-D stack."""
    if scale is not None:
        scale = check_scale_um(scale, ndim, "image")
    if ndim == 3 and (scale is None or all(value == 1.0 for value in scale)):
        warnings.warn(
            "No voxel size was given (scale is "
            + ("None" if scale is None else "1 along every axis")
            + "), so neuron positions, sizes and the nucleus radius are taken in voxels, and z steps count "
            "as much as pixels; give the voxel size in µm as scale=(z, y, x), e.g. (0.75, 0.3, 0.3).",
            UserWarning,
            stacklevel=3,
        )
    return (1.0,) * ndim if scale is None else scale


def nuclei_foreground(image: Any, *, channel_axis: int | None = None, channel: int = 0) -> np.ndarray:
    """The voxels inside nuclei: brighter than halfway from the background to a typical nucleus.

    Otsu's threshold (:func:`~napari_sinkhorn_em.features.masks.otsu_foreground`)
    separates the nuclei from the background but, on a blurred recording,
    also takes the halo around every nucleus: on the synthetic NeuroPAL
    heads its foreground is about 1.6 times the nuclei's volume, so
    :func:`suggest_n_neurons` of it suggests 60 % too many neurons. Here the
    threshold is the half-maximum instead,

        background + (peak - background) / 2,

    with ``background`` the median of the voxels below Otsu's threshold and
    ``peak`` the median, over the local maxima above it (of the image
    smoothed by one voxel, in 3 x 3 x 3 windows, 3 x 3 in 2-D), of the voxels' values:
    the half-maximum contour of a blurred nucleus lies near its true edge.
    On those heads it holds 0.9-1 times the nuclei's volume (about 85 % of
    the nuclei's voxels, 90 % of it inside nuclei).

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None, default None
        Index of the channel axis; None for a single channel.
    channel : int, default 0
        The channel thresholded, e.g. the pan-neuronal channel (3 in
        :data:`~napari_sinkhorn_em.data.NEUROPAL_CHANNEL_NAMES` order).

    Returns
    -------
    numpy.ndarray of bool
        The image's spatial shape, True inside the nuclei.

    Raises
    ------
    ValueError
        For a uniform image, NaN or infinite values, or a channel that does
        not exist.
    """
    values = channel_values(image, channel_axis, channel)
    above_otsu = otsu_foreground(values)
    background = float(np.median(values[~above_otsu]))
    smooth = ndimage.gaussian_filter(values, 1.0)
    peaks = (smooth == ndimage.maximum_filter(smooth, size=3)) & above_otsu
    if not peaks.any():
        return above_otsu
    peak = float(np.median(values[peaks]))
    return values > background + 0.5 * (peak - background)


def _radius_and_weight(nucleus_radius_um: Any, coordinate_weight: Any) -> tuple[float, float]:
    """The nucleus radius and the positions' weight (``1 / radius`` when None is given), checked."""
    radius = check_number(nucleus_radius_um, "nucleus_radius_um", low=0.0, low_open=True)
    if coordinate_weight is None:
        return radius, 1.0 / radius
    return radius, check_number(coordinate_weight, "coordinate_weight", low=0.0, low_open=True)


def _colour_column_names(n_channels: int, colours: tuple[int, ...], channel_names: Any) -> tuple[str, ...]:
    """The neuron table's ``mean_<channel>`` columns of the colour channels, in their order."""
    names = [f"channel_{c}" for c in range(n_channels)] if channel_names is None else list(channel_names)
    return tuple(f"mean_{names[c]}" for c in colours)


def pan_neuronal_foreground(
    image: Any, *, channel_axis: int | None = None, pan_neuronal_channel: int | None = None
) -> np.ndarray:
    """Where :func:`segment_neurons` looks for neurons without a mask: the nuclei of the pan-neuronal channel.

    :func:`nuclei_foreground` of the pan-neuronal channel, or of the sum of
    the channels when there is none.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None, default None
        Axis of ``image`` holding the channels; None for one channel.
    pan_neuronal_channel : int or None, default None
        Index of the pan-neuronal channel; None sums the channels.

    Returns
    -------
    numpy.ndarray of bool
        The image's spatial shape, True inside the nuclei.

    Raises
    ------
    ValueError
        If the image does not hold numbers, ``channel_axis`` or
        ``pan_neuronal_channel`` does not exist, or :func:`nuclei_foreground`
        refuses the values.
    """
    return nuclei_foreground(
        pan_neuronal_image(image, channel_axis=channel_axis, pan_neuronal_channel=pan_neuronal_channel)
    )


def pan_neuronal_image(
    image: Any, *, channel_axis: int | None = None, pan_neuronal_channel: int | None = None
) -> np.ndarray:
    """The channel in which every neuron is a bright spot: the pan-neuronal one, or the sum of the channels.

    What :func:`pan_neuronal_foreground` thresholds and :func:`find_neuron_peaks` searches.

    Parameters
    ----------
    image : array_like
        2-D or 3-D image, optionally with a channel axis.
    channel_axis : int or None, default None
        Axis of ``image`` holding the channels; None for one channel.
    pan_neuronal_channel : int or None, default None
        Index of the pan-neuronal channel; None sums the channels (float64).

    Returns
    -------
    numpy.ndarray
        The image's spatial shape.

    Raises
    ------
    ValueError
        If the image does not hold numbers, or ``channel_axis`` or ``pan_neuronal_channel`` does not exist.
    """
    channels = channels_first(image, channel_axis)
    if pan_neuronal_channel is None:
        return channels.sum(axis=0, dtype=np.float64)
    return channels[_channel_index(pan_neuronal_channel, channels.shape[0], "pan_neuronal_channel")]


def _recipe_foreground(channels: np.ndarray, pan: int | None, mask: Any) -> np.ndarray:
    """The mask given, or the :func:`pan_neuronal_foreground` of the channels (channels first)."""
    spatial_shape = channels.shape[1:]
    if mask is None:
        return pan_neuronal_foreground(channels, channel_axis=0, pan_neuronal_channel=pan)
    mask = np.asarray(mask)
    if mask.shape != spatial_shape or mask.dtype.kind not in "biu":
        raise ValueError(
            f"mask must be a True/False image of the image's spatial shape {spatial_shape}; got shape "
            f"{mask.shape} and values of type {mask.dtype}."
        )
    return mask.astype(bool)


def neuron_method(method: str | None = None, init: str | None = None) -> str:
    """The way :func:`segment_neurons` fits its mixture for a ``method`` and ``init``.

    Parameters
    ----------
    method : str or None, default None
        The method asked for; None: EM after the ``"peaks"`` start (the
        Sinkhorn start's equal-size warm-up would move the means off the
        peaks), the Segmenter's default (:func:`~napari_sinkhorn_em.segmentation.default_method`)
        after ``"kmeans"``.
    init : {"peaks", "kmeans"} or None, default None
        The start; None: :data:`NEURON_INIT`.

    Returns
    -------
    str
        A key of :data:`~napari_sinkhorn_em.segmentation.METHODS`.

    Raises
    ------
    ValueError
        For an unknown ``init``.
    """
    init = check_choice(NEURON_INIT if init is None else init, "init", NEURON_INITS)
    if method is not None:
        return method
    return "em" if init == "peaks" else default_method()


@dataclass(frozen=True)
class _Start:
    """How many neurons to fit, what suggested it and where their Gaussians start (None: k-means)."""

    n_components: int
    suggested: int
    suggested_by: str
    means: np.ndarray | None


def _colour_input(colour_image: np.ndarray) -> tuple[np.ndarray, int | None]:
    """The colour channels (channels first) as the Segmenter takes them: one channel without its axis."""
    return (colour_image[0], None) if colour_image.shape[0] == 1 else (colour_image, 0)


def _neuron_start(channels, colours, pan, foreground, scale, radius, weight, init, n_neurons, random_state) -> _Start:
    """K (given or suggested) and, for ``init="peaks"``, the starting means at the peaks in feature space."""
    n_foreground = int(np.count_nonzero(foreground))
    if init != "peaks":
        suggested = suggest_n_neurons(foreground, scale, radius)
        return _Start(check_n_neurons(suggested if n_neurons is None else n_neurons, n_foreground), suggested,
                      "volume", None)
    peak_image = pan_neuronal_image(channels, channel_axis=0, pan_neuronal_channel=pan)
    peaks = find_neuron_peaks(peak_image, foreground, scale, radius)
    suggested, suggested_by = suggest_n_neurons_from_peaks(peak_image, foreground, scale, radius, peaks=peaks)
    n_components = check_n_neurons(suggested if n_neurons is None else n_neurons, n_foreground)
    colour_image, channel_axis = _colour_input(channels[list(colours)])
    # Standardised on every foreground voxel, as the fit's scaling is (up to its subsample above MAX_FIT_VOXELS).
    stack = extract_features(colour_image, channel_axis=channel_axis, scale=scale, features="intensity",
                             coordinates=True, coordinate_weight=weight, mask=foreground, standardize=True)
    means = peak_starting_means(stack, peaks, n_components, random_state)
    return _Start(n_components, suggested, suggested_by, means)


def _neuron_segmenter(start: _Start, coordinate_weight: float, foreground: np.ndarray, method, random_state,
                      max_iter) -> Segmenter:
    """The recipe's segmenter: colour intensity and position, from ``start``'s means or k-means, on at most
    MAX_FIT_VOXELS."""
    means = {} if start.means is None else {"means_init": start.means}
    return Segmenter(
        start.n_components,
        method=method,
        features="intensity",
        coordinates=True,
        coordinate_weight=coordinate_weight,
        sample_size=None if np.count_nonzero(foreground) <= MAX_FIT_VOXELS else MAX_FIT_VOXELS,
        random_state=random_state,
        max_iter=max_iter,
        init="kmeans",
        **means,
    )


def _fit_neurons(segmenter: Segmenter, colour_image: np.ndarray, scale, foreground, progress):
    """Fit ``segmenter`` to the colour channels (channels first) in the foreground; labels and confidence.

    The labels are uint16 (uint32 above 65,535 components).

    The confidence of a voxel is the posterior probability of the component
    it is given, from the mixture's :meth:`predict_with_confidence
    <napari_sinkhorn_em.mixture.GaussianMixture.predict_with_confidence>` on
    the same standardised features (0 outside the foreground).
    """
    colour_image, channel_axis = _colour_input(colour_image)
    segmenter.fit(colour_image, channel_axis=channel_axis, scale=scale, mask=foreground, progress=progress)
    labels = segmenter.predict(colour_image, channel_axis=channel_axis, scale=scale, mask=foreground, progress=progress)
    recipe = segmenter.recipe_
    stack = extract_features(
        colour_image,
        channel_axis=channel_axis,
        scale=scale,
        features=recipe_features(recipe),
        coordinates=recipe["coordinates"],
        coordinate_weight=recipe["coordinate_weight"],
        mask=foreground,
        standardize=segmenter.scaling_,
    )
    _, probability = segmenter.mixture_.predict_with_confidence(stack.data)
    confidence = np.zeros(foreground.shape, dtype=np.float32)
    confidence[foreground] = probability
    label_type = np.uint16 if segmenter.n_components <= np.iinfo(np.uint16).max else np.uint32
    return labels.astype(label_type), confidence


def _labels_and_table(segmenter, channels, colours, scale, foreground, progress, min_voxels, channel_names):
    """Fit ``segmenter`` to the colour channels, clean its labels and tabulate them: (cleanup, table)."""
    fitted, confidence = _fit_neurons(segmenter, channels[list(colours)], scale, foreground, progress)
    cleanup = clean_instances(fitted, min_voxels=min_voxels)
    table = neuron_table(cleanup.labels, channels, channel_axis=0, scale=scale, colour_channels=colours,
                         channel_names=channel_names, confidence=confidence,
                         covariances=model_position_covariances(segmenter))
    return cleanup, table


def segment_neurons(
    image: Any, *, channel_axis: int | None, scale: Sequence[float] | None, n_neurons: int | None = None,
    colour_channels: Sequence[int] | None = None, pan_neuronal_channel: int | bool | None = None, mask: Any = None,
    nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM, method: str | None = None, random_state: int | None = 0,
    max_iter: int = DEFAULT_NEURON_MAX_ITER, progress: Callable[[str, float], None] | None = None,
    coordinate_weight: float | None = None, channel_names: Sequence[str] | None = None,
    min_voxels: int = MIN_VOXELS_PER_NEURON, init: str | None = None,
) -> NeuronSegmentation:
    """Find the neurons of a NeuroPAL stack: one Gaussian per neuron over position and colour.

    The recipe of the :mod:`napari_sinkhorn_em.neurons` overview: foreground, K and start (:data:`NEURON_INIT`),
    features, fit (:func:`neuron_method`), clean labels (:func:`clean_instances`), table (:func:`neuron_table`).

    Parameters
    ----------
    image : array_like
        3-D (z, y, x) stack, or 2-D image, with an optional channel axis, e.g. a NeuroPAL recording
        (mTagBFP2, CyOFP1, mNeptune2.5, pan-neuronal).
    channel_axis : int or None
        Axis of ``image`` holding the channels; None for one channel.
    scale : sequence of float or None
        Voxel size in µm per spatial axis (z, y, x). None measures in voxels; on a 3-D stack, None or
        all ones gives a UserWarning: the radius and the table are then in voxels, z counting as y and x.
    n_neurons : int, optional
        K; None: the number of :func:`find_neuron_peaks` (``init="kmeans"`` or no peak: :func:`suggest_n_neurons`).
    colour_channels : sequence of int, optional
        The colour features, tabulated, in the order of :meth:`NeuronSegmentation.colours_rgb` (red, green, blue);
        None: every channel but the pan-neuronal one.
    pan_neuronal_channel : int, False or None, optional
        The channel marking every nucleus, for the default mask. None: the last of 4 or more channels
        (NeuroPAL's order), else none; False: there is none.
    mask : array_like of bool, optional
        The foreground to fit, of the image's spatial shape; None: :func:`nuclei_foreground` (pan-neuronal channel).
    nucleus_radius_um : float, default DEFAULT_NUCLEUS_RADIUS_UM
        Typical nucleus radius in µm (1.4 for head neurons).
    method : {"sinkhorn_start", "em", "sinkhorn"} or None, optional
        How the mixture is fitted (:data:`~napari_sinkhorn_em.segmentation.METHODS`); None: :func:`neuron_method`.
    random_state : int or None, default 0
        Seed of the start and the subsample; the same seed gives the same labels.
    max_iter : int, default DEFAULT_NEURON_MAX_ITER
        Most iterations of the mixture's main fit.
    progress : callable, optional
        ``progress(stage, fraction)``, stages of ``Segmenter.fit`` and ``"assign"``; raising in it stops the run.
    coordinate_weight : float, optional
        Weight of the positions in µm; None: ``1 / nucleus_radius_um``.
    channel_names : sequence of str, optional
        One name per channel for the table's columns (e.g. NEUROPAL_CHANNEL_NAMES); None: ``channel_0``, ...
    min_voxels : int, default MIN_VOXELS_PER_NEURON
        Smallest neuron kept by the clean-up, in voxels.
    init : {"peaks", "kmeans"} or None, optional
        The start (None: :data:`NEURON_INIT`): ``"peaks"``, the K strongest :func:`find_neuron_peaks`
        (:func:`peak_starting_means`); ``"kmeans"``, the recipe before issue 17 (k-means, K from the volume).

    Returns
    -------
    NeuronSegmentation
        Labels, table, the fitted segmenter, the foreground and the numbers used.

    Raises
    ------
    ValueError
        If the image is not 2-D or 3-D (plus channels), a channel or the mask does not fit it, the foreground is
        empty or too small for ``n_neurons`` (:func:`check_n_neurons`'s sentence), or a setting is out of range.
    """
    channels, ndim = _recipe_channels(image, channel_axis)
    colours, pan = _neuron_channels(channels.shape[0], colour_channels, pan_neuronal_channel)
    scale, (radius, weight) = _recipe_scale(scale, ndim), _radius_and_weight(nucleus_radius_um, coordinate_weight)
    init = check_choice(NEURON_INIT if init is None else init, "init", NEURON_INITS)
    foreground = _recipe_foreground(channels, pan, mask)
    start = _neuron_start(channels, colours, pan, foreground, scale, radius, weight, init, n_neurons, random_state)
    segmenter = _neuron_segmenter(start, weight, foreground, neuron_method(method, init), random_state, max_iter)
    cleanup, table = _labels_and_table(segmenter, channels, colours, scale, foreground, progress, min_voxels,
                                       channel_names)
    return NeuronSegmentation(
        labels=cleanup.labels, table=table, segmenter=segmenter, foreground=foreground,
        n_neurons=start.n_components, suggested_n_neurons=start.suggested, cleanup=cleanup, scale=scale,
        colour_channels=colours, pan_neuronal_channel=pan, nucleus_radius_um=radius,
        colour_columns=_colour_column_names(channels.shape[0], colours, channel_names),
        suggested_by=start.suggested_by, init=init,
    )
