"""napari dock widget: segment image layers with EM or Sinkhorn-EM.

The widget gathers, on the GUI thread, *what* to segment (an
:class:`_ImageSource`: the selected layers, how their channels are laid out,
which time points) and *how* (:class:`_Settings`). The work runs in a napari
``thread_worker`` generator (:func:`_segmentation_steps`,
:func:`_model_steps`) that yields a :class:`_RunProgress` after every EM
iteration, so the fit can be followed and is cancelled at its next yield.
Result layers are created, or updated in place, only once a run has fully
finished: one layer per distinct setting (or the previous one replaced, when
asked), the newest on top, each marked in its metadata under
:data:`RESULT_METADATA_KEY` so that it is never offered as an input. This is
the only module of the package that imports Qt or napari.

The *neurons* recipe (features "Neurons (NeuroPAL)") runs
:func:`~napari_sinkhorn_em.neurons.segment_neurons` instead of a
:class:`~napari_sinkhorn_em.segmentation.Segmenter` fit (:func:`_neuron_steps`):
one Gaussian per neuron over position and colour, the channels of one stack
preselected, the number of neurons suggested from the pan-neuronal channel's
foreground, and a labels layer plus a points layer of the neurons' centres,
both carrying the per-neuron table as their features. Its library call
reports progress through a callback, which a :class:`_ProgressRelay` passes
to the widget and through which a cancelled run is stopped.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QSignalBlocker, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from .. import lazy
from ..segmentation import CERTAINTY_CAP, label_certainty
from ..features import WELL_MARGIN, automatic_mask
from ..neurons import (
    CATEGORY_CODES,
    DEFAULT_NEURON_MAX_ITER,
    DEFAULT_NUCLEUS_RADIUS_UM,
    NeuronMatch,
    NeuronSegmentation,
    match_neurons,
    napari_features,
    nuclei_foreground,
    segment_neurons,
    suggest_n_neurons,
)
from ..segmentation import METHOD_NAMES, METHODS, LabelComparison, Progress, Segmenter, class_sizes_from_labels, compare_labels

__all__ = ["RESULT_METADATA_KEY", "SegmentationWidget"]

#: Pause after the last change of K or ε before a live re-run starts.
LIVE_DELAY_MS = 400
#: Pause after the last change of the selected stack before its neurons' foreground is searched for.
FOREGROUND_DELAY_MS = 200
#: Range of the ε slider, in powers of ten (0.01 to 100).
EPSILON_DECADES = (-2, 2)
_SLIDER_STEPS_PER_DECADE = 100
_PROGRESS_STEPS = 1000
# Share of the progress bar used by the fits; the rest is labelling every pixel.
_FIT_SHARE = 0.9
# Where each stage reported by Segmenter.fit_steps falls inside one fit.
_STAGE_SPANS = {"features": (0.0, 0.1), "fit": (0.1, 1.0)}

_METHOD_CHOICES = (
    ("Sinkhorn start → EM (recommended)", "sinkhorn_start"),
    ("EM", "em"),
    ("Sinkhorn-EM (class sizes held)", "sinkhorn"),
    ("compare EM and Sinkhorn-EM", "both"),
)
_FEATURE_CHOICES = (
    ("intensity", "intensity"),
    ("multiscale (edges, blobs, ridges)", "multiscale"),
    ("bright field (illumination corrected)", "brightfield"),
    ("Neurons (NeuroPAL): one label per neuron", "neurons"),
)
#: The features choice that runs the neurons recipe (segment_neurons) instead of a class fit.
NEURONS_RECIPE = "neurons"
#: Range of K: classes for the class fits, neurons for the neurons recipe.
_CLASS_RANGE = (2, 64)
_NEURON_RANGE = (1, 100_000)
#: The iteration limit shown by default (a class fit) and for the neurons recipe.
_CLASS_MAX_ITER = 100
#: Where each stage reported by segment_neurons falls inside one of its runs.
_NEURON_STAGE_SPANS = {"features": (0.0, 0.05), "fit": (0.05, 0.85), "assign": (0.85, 0.95)}
_NEURON_STAGE_TEXT = {
    "features": "reading the voxels",
    "fit": "fitting one Gaussian per neuron",
    "assign": "labelling the voxels",
}
#: Shortest time between two progress reports a library call passes to the widget.
_RELAY_INTERVAL_S = 0.1
#: The pan-neuronal channel before one was chosen by hand (None is the choice "none").
_NOT_CHOSEN = object()
#: A channel whose layer name says it marks every neuron, e.g. "NeuroPAL head pan-neuronal".
_PAN_NEURONAL_NAME = re.compile(r"pan[\s_-]*neuron", re.IGNORECASE)
#: Colours of the neuron-by-neuron comparison (CATEGORY_CODES); matched neurons are left transparent.
_NEURON_CATEGORY_COLOURS = {
    None: "transparent",
    0: "transparent",
    CATEGORY_CODES["matched"]: "transparent",
    CATEGORY_CODES["split"]: "orange",
    CATEGORY_CODES["merged"]: "magenta",
    CATEGORY_CODES["moved"]: "yellow",
    CATEGORY_CODES["unmatched"]: "red",
}
#: What each colour of that layer means, shown when hovering over it.
_NEURON_CATEGORY_FEATURES = {
    "index": np.array([CATEGORY_CODES[name] for name in ("matched", "split", "merged", "moved", "unmatched")]),
    "EM's neuron, in Sinkhorn-EM's result": np.array(
        ["matched", "split in two or more", "merged with another", "moved (matched by its centre)", "missing"]
    ),
}
_WEIGHT_CHOICES = (
    ("learnt from the image", "em"),
    ("equal", "uniform"),
    ("typed as percentages", "typed"),
    ("from a painted labels layer", "painted"),
)
#: Class-size settings that give sizes (fractions); with them Sinkhorn-EM holds the sizes.
_GIVEN_SIZES = ("typed", "painted")
_AUTO_MASK_CHOICES = (
    ("none", None),
    ("largest bright region (a well)", "largest_bright_region"),
    ("brighter than Otsu's threshold", "otsu"),
)
_ASSIGNMENT_CHOICES = (("most probable class", "posterior"), ("class sizes held (transport plan)", "plan"))
_COVARIANCE_CHOICES = (
    ("any shape (full)", "full"),
    ("axis-aligned (diagonal)", "diag"),
    ("round (spherical)", "spherical"),
)
_TIME_CHOICES = (("current time point", "current"), ("all time points", "all"))
#: Method names short enough for the layer list; the full names are in each layer's metadata.
_SHORT_METHOD_NAMES = {"sinkhorn_start": "S→EM", "em": "EM", "sinkhorn": "Sinkhorn"}
#: Key of ``layer.metadata`` under which the widget describes the layers it made (what, from which
#: image, with which settings); layers carrying it are results, never offered as images to segment.
RESULT_METADATA_KEY = "napari_sinkhorn_em"


class _InputError(ValueError):
    """A selection or setting the user has to change; the message says how."""


@dataclass(frozen=True)
class _RunProgress:
    """What the worker reports after each step: overall fraction done and a sentence."""

    fraction: float
    message: str


@dataclass(frozen=True)
class _Failure:
    """Result of a run that stopped for a reason the user can act on."""

    message: str


@dataclass(frozen=True)
class _Settings:
    """The fit settings chosen in the widget."""

    n_components: int
    method: str
    epsilon: float
    features: str
    sigmas: tuple[float, ...]
    weights: str | tuple[float, ...]
    assignment: str
    covariance_type: str
    random_state: int
    sample_size: int | None
    max_iter: int
    tol: float
    confidence: bool  # add the certainty map

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods to fit, EM first so that Sinkhorn-EM is matched to it."""
        return ("em", "sinkhorn") if self.method == "both" else (self.method,)

    def segmenter(self, method: str) -> Segmenter:
        """An unfitted :class:`Segmenter` with these settings and ``method``.

        In a comparison the class-size setting is Sinkhorn-EM's, and EM learns the sizes.
        """
        return Segmenter(
            self.n_components,
            method=method,
            epsilon=self.epsilon,
            assignment=self.assignment,
            features=self.features,
            sigmas=self.sigmas,
            sample_size=self.sample_size,
            random_state=self.random_state,
            weights=self.weights_of(method),
            covariance_type=self.covariance_type,
            max_iter=self.max_iter,
            tol=self.tol,
        )

    def weights_of(self, method: str) -> str | tuple[float, ...]:
        """The class-size setting ``method`` is fitted with: in a comparison EM learns its own."""
        return "em" if self.method == "both" and method == "em" else self.weights

    def uses_epsilon(self, method: str) -> bool:
        """Whether ε changes the labels of ``method`` (EM's only through the transport plan)."""
        return method != "em" or self.assignment == "plan"

    def result_key(self, method: str) -> _Settings:
        """These settings without those that leave ``method``'s labels unchanged (ε for EM, the map)."""
        return replace(self, confidence=False, epsilon=self.epsilon if self.uses_epsilon(method) else None)

    def describe(self, method: str) -> dict[str, Any]:
        """The settings that gave ``method``'s labels, for the result layer's metadata."""
        details = {**asdict(self), "method": METHOD_NAMES[method], "weights": self.weights_of(method)}
        del details["confidence"]
        if not self.uses_epsilon(method):
            del details["epsilon"]
        return details

    def same_fit_apart_from_epsilon(self, other: _Settings) -> bool:
        """True when ``other`` fits the same model except for ε (the certainty map aside)."""
        return replace(self, epsilon=other.epsilon, confidence=other.confidence) == other


@dataclass(eq=False)
class _ImageSource:
    """What to segment: the data of the selected layers and where results go.

    Attributes
    ----------
    name : str
        Name used for the result layers.
    layers : tuple of napari.layers.Image
        The selected image layers (several = one channel each).
    mask : numpy.ndarray of bool or None
        Where to segment: a copy of the mask layer's non-zero pixels, taken
        when the run was asked for, of the image's (non-channel) shape or of
        one time point's shape.
    arrays : tuple of array_like
        The data of each selected layer (highest resolution of a pyramid).
    channel_axis : int or None
        Axis of ``arrays[0]`` holding channels, when one layer holds them.
    n_spatial : int
        2 or 3: the last ``n_spatial`` non-channel axes are segmented
        together; any axes before them (time) are looped over.
    current_frame : tuple of int
        Index along those leading axes of the time point shown in the viewer.
    frames : tuple of tuple of int
        The time points to label.
    spatial_scale : tuple of float
        Pixel (voxel) size along the segmented axes.
    placement : dict
        ``scale``, ``translate`` and ``affine`` of the result layers: those of
        the first layer without its channel axis.
    """

    name: str
    layers: tuple[Layer, ...]
    mask: np.ndarray | None
    arrays: tuple[Any, ...]
    channel_axis: int | None
    n_spatial: int
    current_frame: tuple[int, ...]
    frames: tuple[tuple[int, ...], ...]
    spatial_scale: tuple[float, ...]
    placement: dict[str, Any] = field(repr=False)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the label images: the layer's shape without the channel axis."""
        shape = list(self.arrays[0].shape)
        if self.channel_axis is not None:
            del shape[self.channel_axis]
        return tuple(shape)

    @property
    def key(self) -> tuple:
        """Identifies the input: same layers, data, mask and time points give the same key."""
        return (
            tuple(id(layer) for layer in self.layers),
            tuple(id(array) for array in self.arrays),
            None if self.mask is None else (self.mask.shape, zlib.crc32(self.mask)),
            self.channel_axis,
            self.n_spatial,
            self.current_frame,
            self.frames,
        )

    @property
    def lazy(self) -> bool:
        """Whether the data are dask arrays (e.g. a zarr stack): then nothing is loaded whole."""
        return any(lazy.is_dask_array(array) for array in self.arrays)

    def uses(self, layer: Layer) -> bool:
        """Whether ``layer`` is one of the image layers segmented."""
        return any(layer is source for source in self.layers)

    def image(self, frame: tuple[int, ...]) -> tuple[Any, int | None]:
        """The image of one time point, channels last, and its channel axis (None for one channel).

        A numpy array, or a dask array when the layers are lazy (numpy's
        stack and moveaxis hand dask arrays to dask).
        """
        load = (lambda array: array) if self.lazy else np.asarray
        if len(self.arrays) > 1:
            return np.stack([load(array[frame]) for array in self.arrays], axis=-1), self.n_spatial
        if self.channel_axis is None:
            return load(self.arrays[0][frame]), None
        return load(np.moveaxis(self.arrays[0], self.channel_axis, -1)[frame]), self.n_spatial

    def mask_at(self, frame: tuple[int, ...]) -> np.ndarray | None:
        """The mask of one time point (True = segment), or None without a mask."""
        if self.mask is None or self.mask.ndim < len(self.output_shape):
            return self.mask
        return self.mask[frame]

    def fit_inputs(self, frame: tuple[int, ...]) -> dict[str, Any]:
        """Keyword arguments of ``Segmenter.fit_steps`` / ``predict`` for one time point."""
        image, channel_axis = self.image(frame)
        return {"image": image, "channel_axis": channel_axis, "scale": self.spatial_scale, "mask": self.mask_at(frame)}


@dataclass(frozen=True)
class _SegmentationResult:
    """Everything a finished run produced."""

    source: _ImageSource
    settings: _Settings
    segmenters: dict[str, Segmenter]
    labels: dict[str, np.ndarray]
    comparison: LabelComparison | None
    certainty: np.ndarray | None

    def can_continue(self, source: _ImageSource, settings: _Settings) -> bool:
        """Whether a run on ``source`` with ``settings`` may reuse these fits (only ε changed)."""
        return source.key == self.source.key and settings.same_fit_apart_from_epsilon(self.settings)


@dataclass(frozen=True)
class _ModelResult:
    """Labels of an image from a saved model."""

    source: _ImageSource
    model_name: str
    labels: np.ndarray


@dataclass(frozen=True)
class _NeuronSettings:
    """The settings of the neurons recipe chosen in the widget (see :func:`segment_neurons`).

    ``pan_neuronal_channel`` and ``colour_channels`` are channel indices of
    the image (one per selected layer, in the widget's order); None = no
    pan-neuronal channel. The first three colour channels are shown as red,
    green and blue.
    """

    n_neurons: int | None  # None: the number suggested
    method: str
    pan_neuronal_channel: int | None
    colour_channels: tuple[int, ...]
    channel_names: tuple[str, ...] | None
    nucleus_radius_um: float
    random_state: int
    max_iter: int

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods to fit, EM first (it is A of the neuron-by-neuron comparison)."""
        return ("em", "sinkhorn") if self.method == "both" else (self.method,)

    def result_key(self, method: str) -> _NeuronSettings:
        """These settings for ``method`` alone: what identifies its result layers."""
        return replace(self, method=method)

    def describe(self, method: str) -> dict[str, Any]:
        """The settings that gave ``method``'s neurons, for the result layers' metadata."""
        return {**asdict(self), "recipe": "neurons (NeuroPAL)", "method": METHOD_NAMES[method]}


@dataclass(frozen=True)
class _NeuronResult:
    """What a run of the neurons recipe produced: one segmentation per method and their comparison."""

    source: _ImageSource
    settings: _NeuronSettings
    segmentations: dict[str, NeuronSegmentation]
    match: NeuronMatch | None

    @property
    def segmenters(self) -> dict[str, Segmenter]:
        """The fitted segmenters by method (what *Save model…* saves)."""
        return {method: found.segmenter for method, found in self.segmentations.items()}

    def can_continue(self, source: _ImageSource, settings: Any) -> bool:
        """A neurons result is never continued: every run fits anew."""
        return False


class _Stopped(Exception):
    """Raised in a library call's progress callback to stop it once its run is cancelled."""


@dataclass(eq=False)
class _ProgressRelay:
    """Passes the ``progress(stage, fraction)`` reports of a library call to the widget, and stops it.

    A library call such as :func:`segment_neurons` runs in one piece in the
    worker thread and reports only through its callback. The widget sets
    ``worker`` when the run starts; each report is then shown as the
    worker's own yields are, and raises :class:`_Stopped` once the run was
    asked to stop, which ends the call at its next report (next iteration).
    """

    worker: Any = None
    _last_shown: float = -math.inf

    def report(self, progress: _RunProgress) -> None:
        worker = self.worker
        if worker is None:
            return
        if worker.abort_requested:
            raise _Stopped
        # At most a few reports a second reach the widget, however often the call reports.
        now = time.monotonic()
        if now - self._last_shown >= _RELAY_INTERVAL_S:
            self._last_shown = now
            worker.yielded.emit(progress)


# ---------------------------------------------------------------------------
# Work done in the worker thread
# ---------------------------------------------------------------------------


def _overall_progress(progress: Progress, done: int, total: int) -> _RunProgress:
    """Overall progress from a stage report of fit number ``done`` (0-based) of ``total``."""
    low, high = _STAGE_SPANS[progress.stage]
    within = low + (high - low) * min(max(progress.fraction, 0.0), 1.0)
    return _RunProgress(_FIT_SHARE * (done + within) / total, progress.message)


def _label_frames(
    segmenter: Segmenter, source: _ImageSource, what: str, done: int, total: int
) -> Iterator[_RunProgress]:
    """Label every time point of ``source``; yields before each, returns the label image.

    For lazy (dask) layers the label image is lazy too: napari computes the
    chunks it displays, so only the region looked at is ever labelled.
    """
    labels = None
    by_frame = {}
    for number, frame in enumerate(source.frames):
        where = "the image" if len(source.frames) == 1 else f"time point {number + 1} of {len(source.frames)}"
        yield _RunProgress(_FIT_SHARE + (1 - _FIT_SHARE) * (done + number) / total, f"Labelling {where} ({what})")
        frame_labels = segmenter.predict(**source.fit_inputs(frame))
        if source.lazy:
            by_frame[frame] = frame_labels
            continue
        if labels is None:
            labels = np.zeros(source.output_shape, dtype=frame_labels.dtype)
        labels[frame] = frame_labels
    return _stack_lazy_frames(by_frame, source.output_shape) if source.lazy else labels


def _stack_lazy_frames(by_frame: dict[tuple[int, ...], Any], output_shape: tuple[int, ...]) -> Any:
    """One lazy label image from lazy frames (0 at the time points not labelled), keeping their chunks."""
    import dask.array

    first = next(iter(by_frame.values()))
    leading_shape = output_shape[: len(output_shape) - first.ndim]
    if not leading_shape:
        return first
    blank = dask.array.zeros_like(first)
    frames = [by_frame.get(frame, blank) for frame in np.ndindex(leading_shape)]
    return dask.array.stack(frames).reshape(output_shape)


def _start_fit(
    settings: _Settings, method: str, source: _ImageSource, previous: _SegmentationResult | None
) -> tuple[Segmenter, Iterator[Progress]]:
    """A segmenter for ``method`` and the generator that fits it: anew, or from ``previous`` at the new ε."""
    if previous is None:
        segmenter = settings.segmenter(method)
        return segmenter, segmenter.fit_steps(**source.fit_inputs(source.current_frame))
    # Refit a copy, so that the previous result keeps its own fit if this run is abandoned.
    segmenter = copy.copy(previous.segmenters[method])
    return segmenter, segmenter.refit_steps(epsilon=settings.epsilon)


def _certainty(segmenter: Segmenter, source: _ImageSource) -> np.ndarray:
    """:func:`label_certainty` of every pixel (0 outside the mask and the labelled time points)."""
    certainty = np.zeros(source.output_shape, dtype=np.float32)
    for frame in source.frames:
        certainty[frame] = label_certainty(segmenter.predict_proba(**source.fit_inputs(frame)))
    return certainty


def _segmentation_steps(
    source: _ImageSource, settings: _Settings, previous: _SegmentationResult | None
) -> Iterator[_RunProgress]:
    """Fit the chosen method(s) on the current time point and label the chosen time points.

    With ``previous`` (a result on the same input whose settings differ only
    in ε), EM's fit and labels are reused as they are (ε does not affect EM)
    and Sinkhorn-EM continues from its previous fit.

    Yields
    ------
    _RunProgress
        After every stage and every EM iteration.

    Returns
    -------
    _SegmentationResult or _Failure
        A failure when the pipeline rejects the input (its message says why).
    """
    # ValueError carries the pipeline's explanations of bad input, MemoryError
    # means the image is too large; both are the user's to act on. RuntimeError
    # must be caught here too: the worker would otherwise take it for its own
    # deletion and stop without signalling that it finished.
    try:
        # EM's fit does not depend on ε; its labels do only through the transport plan.
        keeps_em = previous is not None and settings.assignment == "posterior"
        reused = {"em"} & set(settings.methods) if keeps_em else set()
        segmenters = {method: previous.segmenters[method] for method in reused}
        labels = {method: previous.labels[method] for method in reused}
        to_fit = [method for method in settings.methods if method not in reused]
        for done, method in enumerate(to_fit):
            segmenter, steps = _start_fit(settings, method, source, previous)
            with contextlib.closing(steps):
                for progress in steps:
                    yield _overall_progress(progress, done, len(to_fit))
            segmenters[method] = segmenter
        for done, method in enumerate(to_fit):
            labels[method] = yield from _label_frames(
                segmenters[method], source, METHOD_NAMES[method], done, len(to_fit)
            )
        comparison = None
        if settings.method == "both":
            yield _RunProgress(1.0, "Comparing EM and Sinkhorn-EM")
            comparison = compare_labels(labels["em"], labels["sinkhorn"])
            labels["sinkhorn"] = comparison.matched
        certainty = None
        if settings.confidence:
            yield _RunProgress(1.0, "Computing the certainty map")
            certainty = _certainty(segmenters[settings.methods[-1]], source)
    except (ValueError, MemoryError, RuntimeError) as error:
        return _Failure(f"Segmenting '{source.name}' failed: {error}")
    return _SegmentationResult(source, settings, segmenters, labels, comparison, certainty)


def _model_steps(source: _ImageSource, segmenter: Segmenter, model_name: str) -> Iterator[_RunProgress]:
    """Label the chosen time points of ``source`` with a saved model.

    Returns
    -------
    _ModelResult or _Failure
    """
    try:
        labels = yield from _label_frames(segmenter, source, f"model {model_name}", 0, 1)
    except (ValueError, MemoryError, RuntimeError) as error:
        return _Failure(f"The model {model_name} could not be applied to '{source.name}': {error}")
    return _ModelResult(source, model_name, labels)


def _channels_first(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    return image[np.newaxis] if channel_axis is None else np.moveaxis(image, channel_axis, 0)


def _neuron_foreground(
    image: np.ndarray, channel_axis: int | None, pan_neuronal_channel: int | None, mask: np.ndarray | None
) -> np.ndarray:
    """Where the neurons recipe looks for neurons: the nuclei of the pan-neuronal channel.

    :func:`nuclei_foreground` of the pan-neuronal channel (of the channels'
    sum without one), as :func:`segment_neurons` finds it; with a mask only
    the voxels inside it are kept.
    """
    channels = _channels_first(image, channel_axis)
    if pan_neuronal_channel is None:
        reference = channels.sum(axis=0, dtype=np.float64)
    else:
        reference = channels[pan_neuronal_channel]
    foreground = nuclei_foreground(reference)
    return foreground if mask is None else foreground & mask


def _foreground_of(source: _ImageSource, pan_neuronal_channel: int | None) -> np.ndarray | str:
    """The recipe's foreground of the time point shown (run in a thread), or the sentence why there is none."""
    try:
        image, channel_axis = source.image(source.current_frame)
        return _neuron_foreground(image, channel_axis, pan_neuronal_channel, source.mask_at(source.current_frame))
    except (ValueError, MemoryError) as error:
        return f"No number of neurons can be suggested: {error}"


def _neuron_progress(method: str, stage: str, fraction: float, done: int, total: int) -> _RunProgress:
    """Overall progress from a ``progress(stage, fraction)`` report of run number ``done`` of ``total``."""
    low, high = _NEURON_STAGE_SPANS.get(stage, (0.95, 0.95))
    fraction = min(max(fraction, 0.0), 1.0)
    within = low + (high - low) * fraction
    what = _NEURON_STAGE_TEXT.get(stage, stage)
    return _RunProgress((done + within) / total, f"Neurons, {METHOD_NAMES[method]}: {what} ({100 * fraction:.0f}%)")


def _neuron_steps(source: _ImageSource, settings: _NeuronSettings, relay: _ProgressRelay) -> Iterator[_RunProgress]:
    """Find the neurons of the current time point with each chosen method, and compare them.

    Yields
    ------
    _RunProgress
        Between the stages; the reports of :func:`segment_neurons` come
        through ``relay``, which also stops it when the run is cancelled.

    Returns
    -------
    _NeuronResult, _Failure or None
        None when the run was cancelled.
    """
    frame = source.current_frame
    yield _RunProgress(0.0, "Neurons: finding the foreground")
    try:
        image, channel_axis = source.image(frame)
        mask = source.mask_at(frame)
        # With a mask layer: its bright voxels only (segment_neurons takes a mask as the foreground itself).
        pan = settings.pan_neuronal_channel
        foreground = None if mask is None else _neuron_foreground(image, channel_axis, pan, mask)
        segmentations = {}
        total = len(settings.methods)
        for done, method in enumerate(settings.methods):

            def report(stage: str, fraction: float, method: str = method, done: int = done) -> None:
                relay.report(_neuron_progress(method, stage, fraction, done, total))

            segmentations[method] = segment_neurons(
                image,
                channel_axis=channel_axis,
                scale=source.spatial_scale,
                n_neurons=settings.n_neurons,
                colour_channels=settings.colour_channels,
                pan_neuronal_channel=False if pan is None else pan,
                mask=foreground,
                nucleus_radius_um=settings.nucleus_radius_um,
                method=method,
                random_state=settings.random_state,
                max_iter=settings.max_iter,
                channel_names=settings.channel_names,
                progress=report,
            )
            found = len(segmentations[method].table["label"])
            yield _RunProgress((done + 1) / total, f"Neurons, {METHOD_NAMES[method]}: found {found}")
        match = None
        if settings.method == "both":
            yield _RunProgress(1.0, "Comparing EM's and Sinkhorn-EM's neurons one by one")
            match = match_neurons(
                segmentations["em"].labels, segmentations["sinkhorn"].labels, scale=source.spatial_scale
            )
    except _Stopped:
        return None
    # As in _segmentation_steps: the library's explanations, a stack too large, a deleted worker.
    except (ValueError, MemoryError, RuntimeError) as error:
        return _Failure(f"Finding the neurons of '{source.name}' failed: {error}")
    return _NeuronResult(source, settings, segmentations, match)


# ---------------------------------------------------------------------------
# Helpers of the widget
# ---------------------------------------------------------------------------


def _common_name(names: list[str]) -> str:
    """A name for several channel layers: their common prefix, or all names joined."""
    prefix = os.path.commonprefix(names).strip(" _-")
    return prefix if len(names) == 1 or prefix else " + ".join(names)


def _epsilon_label(epsilon: float) -> str:
    return f"{epsilon:.3g}"


def _result_name(source_name: str, method: str, settings: _Settings) -> str:
    """E.g. ``worm Sinkhorn K=5 ε=0.5``; ε is left out where it does not change the labels."""
    name = f"{source_name} {_SHORT_METHOD_NAMES[method]} K={settings.n_components}"
    return f"{name} ε={_epsilon_label(settings.epsilon)}" if settings.uses_epsilon(method) else name


def _result_metadata(source: _ImageSource, result: str, **details: Any) -> dict[str, Any]:
    """The metadata of a result layer: what it shows, of which image, and ``details`` (e.g. the settings)."""
    described = {"result": result, "image": source.name, "image_layers": [layer.name for layer in source.layers]}
    return {RESULT_METADATA_KEY: {**described, **details}}


def _is_result_layer(layer: Layer) -> bool:
    """Whether ``layer`` was made by the widget (labels, disagreement or certainty map)."""
    return RESULT_METADATA_KEY in layer.metadata


def _opened_together(first: Image, other: Image) -> bool:
    """Whether two image layers added in one go are channels of one image.

    They are when they come from the same file or sample (or both from
    neither) and hold the same kind of array (numpy or dask), shape and
    data type; RGB layers stand alone.
    """
    first_data, other_data = _highest_resolution(first), _highest_resolution(other)
    return (
        not first.rgb
        and not other.rgb
        and (first.source.path, first.source.sample) == (other.source.path, other.source.sample)
        and type(first_data) is type(other_data)
        and (first_data.shape, first_data.dtype) == (other_data.shape, other_data.dtype)
    )


def _class_sizes_text(segmenters: dict[str, Segmenter]) -> str:
    """E.g. ``Class sizes (share of the pixels) — EM: 1: 62%, 2: 30%, 3: 8%``.

    After a class-size search it also says which share was chosen from the guess.
    """
    parts = [f"{METHOD_NAMES[method]}: {segmenter.describe_class_sizes()}" for method, segmenter in segmenters.items()]
    return "Class sizes (share of the pixels) — " + "; ".join(parts)


def _without_axis(values: np.ndarray, axis: int | None) -> np.ndarray:
    return np.asarray(values) if axis is None else np.delete(values, axis)


def _affine_without_axis(matrix: np.ndarray, axis: int | None) -> np.ndarray:
    return matrix if axis is None else np.delete(np.delete(matrix, axis, axis=0), axis, axis=1)


def _highest_resolution(layer: Image) -> Any:
    return layer.data[0] if layer.multiscale else layer.data


def _choice_combo(choices: tuple[tuple[str, str], ...]) -> QComboBox:
    """A combo box showing the first of each pair and holding the second as its data."""
    combo = QComboBox()
    for label, value in choices:
        combo.addItem(label, value)
    return combo


def _with_tooltip(widget: QWidget, text: str) -> QWidget:
    widget.setToolTip(text)
    return widget


def _set_row_visible(form: QFormLayout, field: QWidget, visible: bool) -> None:
    """Show or hide the row of ``form`` holding ``field``, its label included."""
    if hasattr(form, "setRowVisible"):  # Qt 6.4 and later
        form.setRowVisible(field, visible)
        return
    label = form.labelForField(field)
    for widget in (label, field):
        if widget is not None:
            widget.setVisible(visible)


def _channel_names(names: list[str]) -> tuple[str, ...]:
    """Layer names without the words they share, e.g. ``mTagBFP2`` for ``NeuroPAL head mTagBFP2``.

    The common prefix is cut at its last space, underscore or dash; where
    that leaves names empty or repeated, the full names are kept.
    """
    prefix = os.path.commonprefix(names)
    prefix = prefix[: max(prefix.rfind(separator) for separator in " _-") + 1]
    short = [name[len(prefix) :].strip(" _-") for name in names]
    return tuple(short) if all(short) and len(set(short)) == len(short) else tuple(names)


def _dominant_colour(layer: Image) -> int | None:
    """0, 1 or 2 when the brightest colour of the layer's colour map is mainly red, green or blue; else None."""
    try:
        red_green_blue = np.asarray(layer.colormap.colors, dtype=float)[-1, :3]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    ordered = np.sort(red_green_blue)
    return int(np.argmax(red_green_blue)) if ordered[-1] > 0 and ordered[-2] < 0.5 * ordered[-1] else None


def _colour_order(channels: list[int], layers: list[Image]) -> tuple[int, ...]:
    """The colour channels in red, green, blue order when their layers are shown in red, green and blue.

    E.g. the NeuroPAL layers mTagBFP2 (blue), CyOFP1 (green), mNeptune2.5
    (red): ``(2, 1, 0)``, so that a neuron's colour looks as it does in the
    viewer. Otherwise (grey layers, one layer holding the channels) the
    channels keep their order.
    """
    first, rest = list(channels[:3]), tuple(channels[3:])
    if len(first) < 3 or len(layers) <= max(first):
        return tuple(channels)
    dominant = [_dominant_colour(layers[channel]) for channel in first]
    if sorted(colour for colour in dominant if colour is not None) != [0, 1, 2]:
        return tuple(channels)
    return tuple(channel for _, channel in sorted(zip(dominant, first))) + rest


def _in_frame(source: _ImageSource, data: np.ndarray) -> np.ndarray:
    """``data`` of the current time point, in an array of the whole layer's shape (0 at other time points)."""
    if data.shape == source.output_shape:
        return data
    whole = np.zeros(source.output_shape, dtype=data.dtype)
    whole[source.current_frame] = data
    return whole


def _neuron_match_text(match: NeuronMatch) -> str:
    """The neuron-by-neuron comparison of EM (A) and Sinkhorn-EM (B) in a sentence."""
    counts = match.counts
    return (
        f"Of EM's {len(match.neurons_a)} neurons, Sinkhorn-EM finds {counts['matched']} as well "
        f"(overlap IoU ≥ {match.min_iou:g}), splits {counts['split']}, merges {counts['merged']} with another, "
        f"finds {counts['moved']} shifted (centre within {match.centre_distance_um:g} µm) and misses "
        f"{counts['missing']}; {counts['extra']} of its {len(match.neurons_b)} neurons are not in EM's. "
        "The comparison layer colours EM's neurons: orange split, magenta merged, yellow shifted, red missing."
    )


# ---------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------


class SegmentationWidget(QWidget):
    """Dock widget that segments image layers with EM or Sinkhorn-EM.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose layers are segmented.

    Attributes
    ----------
    viewer : napari.viewer.Viewer
        The viewer given.
    worker : GeneratorWorker or None
        The background run in progress, if any.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self._worker_source: _ImageSource | None = None
        self._queued_run: tuple | None = None
        self._last_result: _SegmentationResult | None = None
        # Result layers by (source layers, what and settings), and the latest one in each (source layers, slot).
        self._result_layers: dict[tuple, Layer] = {}
        self._latest_result_layers: dict[tuple, Layer] = {}
        # The image and labels layers listed in the widget, in the order shown.
        self._listed_images: list[Image] = []
        self._listed_labels: list[Labels] = []
        # Image layers added in the current turn of the event loop that belong together (one file or sample).
        self._opened_together: list[Image] = []
        self._to_preselect: list[Image] | None = None
        self._new_painting: Labels | None = None
        self._painting_chosen_by_hand = False
        self._started_at = 0.0
        self._progress_message = ""
        self._selected_geometry: tuple | None = None
        # The neurons recipe: whether it is chosen, K following the suggested number of neurons until
        # the user sets K, the last suggestion (and what it was computed from), the pan-neuronal
        # channel chosen by hand (a layer, or a channel index of one layer) and the status after a run.
        self._neurons_mode = False
        self._k_follows_suggestion = False
        self._setting_k = False
        self._suggested: int | None = None
        # The foreground the suggestion is computed from, found in a thread: (what it is of, mask or sentence).
        self._foreground: tuple[tuple, np.ndarray | str] | None = None
        self._foreground_worker = None
        self._foreground_worker_key: tuple | None = None
        self._pan_chosen: Any = _NOT_CHOSEN
        self._pan_keys: list[Any] = []
        self._finished_note = ""

        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DELAY_MS)
        self._live_timer.timeout.connect(self.run)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._show_status)
        # Fires once the layers added together (e.g. the channels of one file) are all in.
        self._opening_timer = QTimer(self)
        self._opening_timer.setSingleShot(True)
        self._opening_timer.setInterval(0)
        self._opening_timer.timeout.connect(self._end_opening)
        # Starts the search for the neurons recipe's foreground once a burst of changes is over (e.g. the
        # layers of a sample coming in, or all layers going when the viewer closes).
        self._foreground_timer = QTimer(self)
        self._foreground_timer.setSingleShot(True)
        self._foreground_timer.setInterval(FOREGROUND_DELAY_MS)
        self._foreground_timer.timeout.connect(self._find_foreground)
        self._build_controls()

        layers = self.viewer.layers
        layers.events.inserted.connect(self._on_layer_inserted)
        layers.events.removed.connect(self._on_layer_removed)
        layers.events.moved.connect(self._refresh_layer_choices)
        for layer in layers:
            layer.events.name.connect(self._refresh_layer_choices)
        self._to_preselect = self._newest_image_and_its_channels()
        self._refresh_layer_choices()

    # ------------------------------------------------------------- controls
    def _build_controls(self) -> None:
        self.image_list = _with_tooltip(
            QListWidget(),
            "The image to segment. Select several layers (Ctrl/Cmd-click) to use them together as the "
            "colour channels of one image; they must have the same size. An image you open is selected, "
            "all its channels together. The widget's own results are not listed.",
        )
        self.image_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.image_list.setMaximumHeight(90)
        self.image_list.itemSelectionChanged.connect(self._refresh_axis_choices)
        self.channel_axis_combo = _with_tooltip(
            QComboBox(),
            "If this one layer holds several colour channels, choose the axis they lie along so that they "
            "are used together. 'none' treats the layer as a single channel; RGB layers use their colours.",
        )
        self.channel_axis_combo.currentIndexChanged.connect(self._refresh_dimension_choices)
        self.mask_combo = _with_tooltip(
            QComboBox(),
            "Optional: a labels layer outlining the region to segment (e.g. the worm). Pixels where it is 0 "
            "are left out and get label 0. With the neurons recipe, neurons are looked for only where it is "
            "not 0.",
        )
        self.mask_combo.currentIndexChanged.connect(self._refresh_neuron_controls)
        self.auto_mask_combo = _with_tooltip(
            _choice_combo(_AUTO_MASK_CHOICES),
            "Optional: find the region to segment from the image itself (its first channel). Largest bright "
            f"region: the illuminated well of a bright-field plate with everything in it, leaving out "
            f"{WELL_MARGIN} pixels along its dark rim. Brighter than Otsu's threshold: e.g. the nuclei "
            "of a fluorescence image. With a mask layer too, only pixels inside both are segmented.",
        )
        self.dimensions_combo = _with_tooltip(
            _choice_combo((("2-D (Y, X)", "2"), ("3-D (Z, Y, X)", "3"))),
            "Segment each 2-D plane on its own, or the whole 3-D stack at once (the default for layers with "
            "three or more axes). For a 2-D movie choose 2-D: the first axis is then time.",
        )
        self.dimensions_combo.currentIndexChanged.connect(self._refresh_time_choices)
        self.dimensions_combo.currentIndexChanged.connect(self._refresh_neuron_controls)
        self.time_combo = _with_tooltip(
            _choice_combo(_TIME_CHOICES),
            "For movies: segment only the time point shown in the viewer, or every time point. With all time "
            "points the classes are learnt on the time point shown and applied to all of them, so a label "
            "number means the same thing in every frame.",
        )

        self.features_combo = _with_tooltip(
            _choice_combo(_FEATURE_CHOICES),
            "What each pixel is described by. Intensity: its brightness in each channel only; fast, and "
            "enough when the structures differ in brightness or colour. Multiscale: brightness, edges, blobs "
            "and ridges at several sizes; slower, but separates structures of similar brightness and "
            "smooths out noise. Bright field: brightness relative to the local background (so uneven "
            "illumination does not matter), smoothed and as ridges and blobs at the feature sizes; for "
            "dark objects such as worms in a bright-field well, used with a mask of the well. Neurons "
            "(NeuroPAL): one label per neuron of a multicolour stack, each neuron one Gaussian over its "
            "voxels' positions (µm) and colours; selects all channel layers of the stack, suggests the "
            "number of neurons and adds the neurons with a table of their centres, volumes and colours, "
            "and a point at each neuron's centre.",
        )
        self.features_combo.currentIndexChanged.connect(self._on_features_changed)
        self.sigmas_edit = _with_tooltip(
            QLineEdit("1, 2, 4"),
            "Sizes (in the layer's units, e.g. µm) of the structures the multiscale or bright-field features "
            "look at, separated by commas: about the radius of the nuclei, cells or worms to tell apart.",
        )
        self.class_sizes_edit = _with_tooltip(
            QLineEdit(""),
            "The share of the pixels (inside the mask) you expect in each class, in percent, in label order "
            "and adding up to 100: e.g. 10, 90 when worms cover about a tenth of the well (label 1 = the "
            "worms). A rough guess is enough: Sinkhorn-EM searches the smallest class's share from a third "
            "to three times your guess and keeps the share where that class's objects end.",
        )
        self.class_sizes_edit.setPlaceholderText("e.g. 10, 90")
        self.n_components_spin = _with_tooltip(
            QSpinBox(),
            "How many classes to split the pixels into, e.g. 2 for background / worm, 3 for background / "
            "body / nuclei. Labels go from 1 to K, numbered from darkest to brightest in the first channel.",
        )
        self.n_components_spin.setRange(*_CLASS_RANGE)
        self.n_components_spin.setValue(3)
        self.n_components_spin.valueChanged.connect(self._on_k_changed)
        self.n_components_spin.valueChanged.connect(self._schedule_live_run)

        self.pan_neuronal_combo = _with_tooltip(
            QComboBox(),
            "Neurons recipe: the channel in which every neuron's nucleus is bright (NeuroPAL's pan-neuronal "
            "marker). Neurons are looked for in the nuclei it shows: where it is brighter than halfway from the "
            "background to a typical nucleus. It is not used to tell neurons apart; the other channels (their "
            "colours) and the positions are. 'none' thresholds the sum of all channels and uses every channel "
            "as a colour.",
        )
        self.pan_neuronal_combo.activated.connect(self._on_pan_neuronal_chosen)
        self.nucleus_radius_spin = _with_tooltip(
            QDoubleSpinBox(),
            "Neurons recipe: the typical radius of a neuron's nucleus, in µm (about 1.4 µm in the C. elegans "
            "head). The suggested number of neurons is the foreground volume divided by the volume of one such "
            "nucleus, and one radius of distance counts as much as one step of colour when voxels are grouped "
            "into neurons.",
        )
        self.nucleus_radius_spin.setRange(0.05, 100.0)
        self.nucleus_radius_spin.setDecimals(2)
        self.nucleus_radius_spin.setSingleStep(0.1)
        self.nucleus_radius_spin.setSuffix(" µm")
        self.nucleus_radius_spin.setValue(DEFAULT_NUCLEUS_RADIUS_UM)
        self.nucleus_radius_spin.valueChanged.connect(self._refresh_neuron_controls)
        self.neuron_hint_label = _with_tooltip(
            QLabel(""),
            "Neurons recipe: how many neurons to fit, suggested from the stack: the volume of the nuclei in the "
            "pan-neuronal channel (inside the mask, if one is chosen) divided by the volume of one nucleus of "
            "the radius given. It is a guess (nuclei differ in size); K follows it until you change K yourself, "
            "and a run while it does fits the suggested number.",
        )
        self.neuron_hint_label.setWordWrap(True)
        self.use_suggested_button = _with_tooltip(
            QPushButton("use suggested"),
            "Set the number of neurons (K) to the suggested number, and let it follow the suggestion again.",
        )
        self.use_suggested_button.clicked.connect(self.use_suggested_n_neurons)
        self.scale_warning_label = _with_tooltip(
            QLabel(""),
            "The neurons recipe measures positions, sizes and the nucleus radius in µm, from the layers' scale "
            "(the voxel size). A layer opened without one has a scale of 1 along every axis.",
        )
        self.scale_warning_label.setWordWrap(True)
        self.scale_warning_label.setStyleSheet("color: orange")

        epsilon_tooltip = (
            "How sharp Sinkhorn-EM's class boundaries are. Small values give crisp, all-or-nothing decisions "
            "that follow the class sizes strictly; large values let uncertain pixels be shared between classes "
            "(near 1 it behaves like classical EM with fixed class sizes). EM ignores it unless pixels are "
            "labelled with the class sizes held."
        )
        self.epsilon_slider = _with_tooltip(QSlider(Qt.Orientation.Horizontal), epsilon_tooltip)
        low, high = EPSILON_DECADES
        self.epsilon_slider.setRange(0, (high - low) * _SLIDER_STEPS_PER_DECADE)
        self.epsilon_spin = _with_tooltip(QDoubleSpinBox(), epsilon_tooltip)
        self.epsilon_spin.setRange(10.0**low, 10.0**high)
        self.epsilon_spin.setDecimals(3)
        self.epsilon_spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.epsilon_spin.setValue(1.0)
        self.epsilon_slider.setValue(-low * _SLIDER_STEPS_PER_DECADE)
        self.epsilon_slider.valueChanged.connect(self._on_epsilon_slider)
        self.epsilon_spin.valueChanged.connect(self._on_epsilon_box)

        self.method_combo = _with_tooltip(
            _choice_combo(_METHOD_CHOICES),
            "How the classes are found. Sinkhorn start → EM: Sinkhorn-EM first places the classes while "
            "holding their sizes, which avoids the poor solutions EM can get stuck in, then EM refines "
            "everything and learns the class sizes from the image; it did best on images of many similar "
            "objects such as nuclei. EM: the classical fit; try it too when a few classes differ a lot in "
            "size, e.g. a few worms on a large background. Sinkhorn-EM: keeps every class at its given "
            "share of the pixels throughout. Compare: runs EM and Sinkhorn-EM and shows where they disagree.",
        )
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.weights_combo = _with_tooltip(
            _choice_combo(_WEIGHT_CHOICES),
            "Share of the pixels in each class. Learnt: estimated from the image; right when, e.g., "
            "background fills most of it. Equal: every class covers about the same area. Painted: paint a "
            "rough sketch with labels 1 to K on a labels layer, each class in proportion to the area it "
            "covers, and choose that layer below. Typed: write the expected percentages below. With typed "
            "or painted sizes, Sinkhorn-EM is chosen: it holds them, searching the smallest class's share "
            "near your guess, and label k is the class given the k-th size. With Sinkhorn start → EM they "
            "hold while the classes are placed. In a comparison, EM learns its own.",
        )
        self.weights_combo.currentIndexChanged.connect(self._on_weights_changed)
        self.painting_combo = _with_tooltip(
            QComboBox(),
            "The labels layer with the painted classes (labels 1 to K; 0 = not painted) whose areas give "
            "the class sizes. Until you choose one here, the labels layer added last is used.",
        )
        self.painting_combo.activated.connect(self._on_painting_chosen)
        self.assignment_combo = _with_tooltip(
            _choice_combo(_ASSIGNMENT_CHOICES),
            "How each pixel gets its label once the classes are fitted. Most probable class: the class that "
            "explains the pixel best; class sizes may differ from those fitted. Class sizes held: as "
            "Sinkhorn-EM's transport plan assigns pixels, which keeps every class at its fitted share of the "
            "pixels (ε sets how sharp the boundaries are).",
        )
        self.assignment_combo.currentIndexChanged.connect(self._refresh_enabled_controls)
        self.covariance_combo = _with_tooltip(
            _choice_combo(_COVARIANCE_CHOICES),
            "How flexible each class's spread of feature values is. Any shape: classes may follow correlated "
            "channels (most flexible, slowest). Axis-aligned: each feature varies on its own. Round: the same "
            "spread in every feature (most robust when classes are small).",
        )
        self.seed_spin = _with_tooltip(
            QSpinBox(),
            "Starting point of the random choices (which pixels are sampled, where the classes start). The "
            "same seed and settings always give the same labels; try another seed to check a result is stable.",
        )
        self.seed_spin.setRange(0, 2**31 - 1)
        self.sample_size_spin = _with_tooltip(
            QSpinBox(),
            "How many randomly chosen pixels the classes are learnt from; every pixel is labelled afterwards. "
            "More is slower but catches rare structures better. 'all pixels' learns from every pixel.",
        )
        self.sample_size_spin.setRange(0, 100_000_000)
        self.sample_size_spin.setSingleStep(50_000)
        self.sample_size_spin.setSpecialValueText("all pixels")
        self.sample_size_spin.setValue(200_000)
        self.confidence_check = _with_tooltip(
            QCheckBox("add a certainty map"),
            "Also add an image showing how sure the fit is of each pixel's label: how many times more probable "
            "its class is than the next best, in powers of ten. 0 = a toss-up between two classes, 1 = ten "
            f"times, 2 = a hundred times, up to {CERTAINTY_CAP:g} or more. Takes one more pass over the image; not "
            "offered for lazy (dask or zarr) layers, which are never loaded whole.",
        )

        self.max_iter_spin = _with_tooltip(
            QSpinBox(),
            "Largest number of refinement rounds of the fit. Raise it if a warning says the fit did not converge.",
        )
        self.max_iter_spin.setRange(1, 1_000_000)
        self.max_iter_spin.setValue(_CLASS_MAX_ITER)
        self.tol_spin = _with_tooltip(
            QDoubleSpinBox(),
            "The fit stops once a round changes it by less than this. Smaller values refine longer; "
            "0 always runs the largest number of rounds.",
        )
        self.tol_spin.setDecimals(6)
        self.tol_spin.setRange(0.0, 1.0)
        self.tol_spin.setSingleStep(1e-4)
        self.tol_spin.setValue(1e-4)

        self.replace_check = _with_tooltip(
            QCheckBox("replace the previous result"),
            "Put a run's labels into the layers of the previous run on this image instead of adding new ones. "
            "Unticked, each distinct setting (e.g. K = 2 and K = 3) keeps its own layers to compare; running "
            "again with the same settings updates their layers. The newest result is always on top.",
        )
        self.live_check = _with_tooltip(
            QCheckBox("live: re-run when K or ε change"),
            "Re-run automatically a moment after you change the number of classes or ε, stopping a run still in "
            "progress. Changing only ε continues from the previous result, which is quick. Ticking it also "
            "ticks 'replace the previous result', so that trying values does not pile up layers.",
        )
        self.live_check.toggled.connect(self._on_live_toggled)
        self.run_button = _with_tooltip(
            QPushButton("Run"),
            "Segment the selected image with these settings. The labels appear on top of the layer list when "
            "the fit has finished.",
        )
        self.run_button.clicked.connect(self.run)
        self.cancel_button = _with_tooltip(QPushButton("Cancel"), "Stop the running fit; no layer is added or changed.")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = _with_tooltip(QProgressBar(), "Progress of the current run.")
        self.progress_bar.setRange(0, _PROGRESS_STEPS)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.comparison_label = _with_tooltip(
            QLabel(""),
            "Agreement of EM and Sinkhorn-EM after matching their label numbers. The adjusted Rand index is 1 "
            "for identical segmentations and about 0 for unrelated ones.",
        )
        self.comparison_label.setWordWrap(True)
        self.class_sizes_label = _with_tooltip(
            QLabel(""),
            "The share of the pixels each class was fitted with, by label number.",
        )
        self.class_sizes_label.setWordWrap(True)
        self.save_button = _with_tooltip(
            QPushButton("Save model…"),
            "Save the classes learnt by the last run (Sinkhorn-EM's when both methods ran) to a file, to "
            "segment other images the same way.",
        )
        self.save_button.clicked.connect(self._ask_save_model)
        self.apply_button = _with_tooltip(
            QPushButton("Apply saved model…"),
            "Label the selected image with classes saved earlier, without fitting again: e.g. to segment every "
            "image of an experiment consistently.",
        )
        self.apply_button.clicked.connect(self._ask_apply_model)

        form = QFormLayout()
        form.addRow("Image layer(s)", self.image_list)
        form.addRow("Channel axis", self.channel_axis_combo)
        form.addRow("Mask", self.mask_combo)
        form.addRow("Automatic mask", self.auto_mask_combo)
        form.addRow("Dimensions", self.dimensions_combo)
        form.addRow("Time points", self.time_combo)
        form.addRow("Features", self.features_combo)
        form.addRow("Feature sizes", self.sigmas_edit)
        self._form = form
        form.addRow("Pan-neuronal", self.pan_neuronal_combo)
        form.addRow("Nucleus radius", self.nucleus_radius_spin)
        k_row = QHBoxLayout()
        k_row.addWidget(self.n_components_spin, stretch=1)
        k_row.addWidget(self.use_suggested_button)
        self.k_label = QLabel("Classes (K)")
        form.addRow(self.k_label, k_row)
        form.addRow("", self.neuron_hint_label)
        form.addRow("", self.scale_warning_label)
        epsilon_row = QHBoxLayout()
        epsilon_row.addWidget(self.epsilon_slider, stretch=1)
        epsilon_row.addWidget(self.epsilon_spin)
        form.addRow("ε (sharpness)", epsilon_row)
        form.addRow("Method", self.method_combo)
        form.addRow("Class sizes", self.weights_combo)
        form.addRow("Sizes in %", self.class_sizes_edit)
        form.addRow("Painted classes", self.painting_combo)
        form.addRow("Label pixels by", self.assignment_combo)
        form.addRow("Class shape", self.covariance_combo)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Sample size", self.sample_size_spin)
        form.addRow("", self.confidence_check)

        advanced_form = QFormLayout()
        advanced_form.addRow("Max. iterations", self.max_iter_spin)
        advanced_form.addRow("Tolerance", self.tol_spin)
        advanced_widget = QWidget()
        advanced_widget.setLayout(advanced_form)
        self.advanced_section = QCollapsible("Advanced")
        self.advanced_section.addWidget(advanced_widget)

        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        model_buttons = QHBoxLayout()
        model_buttons.addWidget(self.save_button)
        model_buttons.addWidget(self.apply_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced_section)
        layout.addWidget(self.replace_check)
        layout.addWidget(self.live_check)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.comparison_label)
        layout.addWidget(self.class_sizes_label)
        layout.addLayout(model_buttons)
        layout.addStretch(1)
        self._show_running(False)
        self._refresh_enabled_controls()

    @property
    def fitted_segmenters(self) -> dict[str, Segmenter]:
        """The segmenters fitted by the last run, by method (``"em"``, ``"sinkhorn"``); empty before one."""
        return {} if self._last_result is None else dict(self._last_result.segmenters)

    # ---------------------------------------------------------- ε controls
    def _on_epsilon_slider(self, position: int) -> None:
        epsilon = 10.0 ** (EPSILON_DECADES[0] + position / _SLIDER_STEPS_PER_DECADE)
        self.epsilon_spin.setValue(float(f"{epsilon:.3g}"))

    def _on_epsilon_box(self, epsilon: float) -> None:
        position = round((math.log10(epsilon) - EPSILON_DECADES[0]) * _SLIDER_STEPS_PER_DECADE)
        with QSignalBlocker(self.epsilon_slider):
            self.epsilon_slider.setValue(position)
        self._schedule_live_run()

    # --------------------------------------------------------- layer lists
    def _on_layer_inserted(self, event: Any) -> None:
        layer = event.value
        layer.events.name.connect(self._refresh_layer_choices)
        if isinstance(layer, Image) and not _is_result_layer(layer):
            self._preselect(layer)
        elif isinstance(layer, Labels) and not _is_result_layer(layer) and not self._painting_chosen_by_hand:
            self._new_painting = layer
        self._refresh_layer_choices()

    def _preselect(self, layer: Image) -> None:
        """Select a newly added image, with the layers added in the same go that belong with it.

        napari adds the channels of one file or sample one layer after the
        other before it returns to its event loop; the layers added so that
        are channels of one image (see :func:`_opened_together`) are
        selected together.
        """
        if self._opened_together and _opened_together(self._opened_together[-1], layer):
            self._opened_together.append(layer)
        else:
            self._opened_together = [layer]
        self._opening_timer.start()
        self._to_preselect = list(self._opened_together)

    def _newest_image_and_its_channels(self) -> list[Image]:
        """The topmost image layer, with the other channels of its file or sample (for a widget opened late)."""
        images = [layer for layer in self.viewer.layers if isinstance(layer, Image) and not _is_result_layer(layer)]
        if not images:
            return []
        newest = images[-1]
        # Layers from no file or sample cannot be told apart from unrelated ones: the newest alone then.
        if newest.source.path is None and newest.source.sample is None:
            return [newest]
        return [layer for layer in images if layer is newest or _opened_together(layer, newest)]

    def _end_opening(self) -> None:
        self._opened_together = []

    def _on_painting_chosen(self) -> None:
        """The user chose the painted classes: from now on a new labels layer does not replace the choice."""
        self._painting_chosen_by_hand = self.painting_combo.currentData() is not None

    def _on_layer_removed(self, event: Any) -> None:
        layer = event.value
        if self._queued_run is not None and self._queued_run[2].uses(layer):
            self._queued_run = None
        if self.worker is not None and self._worker_source.uses(layer):
            show_warning(
                f"The layer '{layer.name}' was removed while it was being segmented; the segmentation was stopped."
            )
            self.worker.quit()
        if self._last_result is not None and self._last_result.source.uses(layer):
            self._last_result = None

        def kept(entries: dict[tuple, Layer]) -> dict[tuple, Layer]:
            return {
                key: result
                for key, result in entries.items()
                if result is not layer and all(source is not layer for source in key[0])
            }

        self._result_layers = kept(self._result_layers)
        self._latest_result_layers = kept(self._latest_result_layers)
        self._refresh_layer_choices()

    def _refresh_layer_choices(self) -> None:
        """Fill the image list and the labels menus from the viewer's layers, keeping the choices.

        Choices follow the layers themselves, so renaming a layer keeps it chosen. A newly added
        image is selected (see :meth:`_preselect`), and a newly added labels layer becomes the
        painted classes unless the user chose those by hand.
        """
        if self._to_preselect is not None:
            selected, self._to_preselect = self._to_preselect, None
        else:
            selected = self.selected_layers()
        images = [layer for layer in self.viewer.layers if isinstance(layer, Image) and not _is_result_layer(layer)]
        self._listed_images = images
        with QSignalBlocker(self.image_list):
            self.image_list.clear()
            self.image_list.addItems([layer.name for layer in images])
            for row, layer in enumerate(images):
                self.image_list.item(row).setSelected(any(layer is chosen for chosen in selected))
            if not self.image_list.selectedItems() and images:
                self.image_list.item(0).setSelected(True)

        chosen = {self.mask_combo: self._chosen_labels(self.mask_combo)}
        chosen[self.painting_combo] = self._chosen_labels(self.painting_combo)
        if self._new_painting is not None:
            chosen[self.painting_combo], self._new_painting = self._new_painting, None
        labels = [layer for layer in self.viewer.layers if isinstance(layer, Labels)]
        self._listed_labels = labels
        for combo, first in ((self.mask_combo, "none"), (self.painting_combo, "choose a labels layer")):
            with QSignalBlocker(combo):
                combo.clear()
                combo.addItem(first, None)
                for layer in labels:
                    combo.addItem(layer.name, layer.name)
                row = next((row for row, layer in enumerate(labels, 1) if layer is chosen[combo]), 0)
                combo.setCurrentIndex(row)
        self._refresh_axis_choices()

    def _chosen_labels(self, combo: QComboBox) -> Labels | None:
        """The labels layer chosen in ``combo`` (the mask or painted-classes menu), or None."""
        row = combo.currentIndex()
        return self._listed_labels[row - 1] if 0 < row <= len(self._listed_labels) else None

    def selected_layers(self) -> list[Image]:
        """The image layers selected in the widget, in the viewer's order."""
        rows = sorted(self.image_list.row(item) for item in self.image_list.selectedItems())
        return [self._listed_images[row] for row in rows]

    def select_layers(self, *layers: Image) -> None:
        """Select ``layers`` as the image to segment (several = one channel each)."""
        for row, listed in enumerate(self._listed_images):
            self.image_list.item(row).setSelected(any(listed is layer for layer in layers))

    def _refresh_axis_choices(self) -> None:
        """Offer the channel axes and dimensions that fit the selected layers."""
        layers = self.selected_layers()
        axis = self.channel_axis_combo.currentData()
        with QSignalBlocker(self.channel_axis_combo):
            self.channel_axis_combo.clear()
            if len(layers) > 1:
                self.channel_axis_combo.addItem("one channel per selected layer", None)
            elif layers and layers[0].rgb:
                self.channel_axis_combo.addItem("RGB colour (last axis)", -1)
            else:
                self.channel_axis_combo.addItem("none (one channel)", None)
                if layers and layers[0].ndim >= 3:
                    for index, size in enumerate(_highest_resolution(layers[0]).shape):
                        self.channel_axis_combo.addItem(f"axis {index} ({size} values)", index)
            self.channel_axis_combo.setCurrentIndex(max(self.channel_axis_combo.findData(axis), 0))
        self.channel_axis_combo.setEnabled(self.channel_axis_combo.count() > 1)
        self._refresh_dimension_choices()
        self._refresh_enabled_controls()
        self._refresh_neuron_controls()

    def _non_channel_ndim(self) -> int:
        layers = self.selected_layers()
        if not layers:
            return 2
        axis = self.channel_axis_combo.currentData()
        return layers[0].ndim - (1 if axis is not None and not layers[0].rgb else 0)

    def _refresh_dimension_choices(self) -> None:
        """Enable 3-D for layers with 3 or more axes; a newly chosen image starts in 3-D if it can."""
        ndim = self._non_channel_ndim()
        geometry = (tuple(id(layer) for layer in self.selected_layers()), self.channel_axis_combo.currentData())
        if geometry != self._selected_geometry:
            self._selected_geometry = geometry
            self.dimensions_combo.setCurrentIndex(self.dimensions_combo.findData("3" if ndim >= 3 else "2"))
        self.dimensions_combo.setEnabled(ndim >= 3)
        self._refresh_time_choices()

    def _refresh_time_choices(self) -> None:
        # The neurons recipe finds the neurons of the time point shown.
        movie = self._non_channel_ndim() > int(self.dimensions_combo.currentData())
        self.time_combo.setEnabled(movie and not self._neurons_chosen())

    def _on_live_toggled(self, live: bool) -> None:
        if live:
            self.replace_check.setChecked(True)

    def _on_weights_changed(self) -> None:
        """Given class sizes choose Sinkhorn-EM, which holds them, labelling by its transport plan."""
        if self.weights_combo.currentData() in _GIVEN_SIZES and self.method_combo.currentData() in ("sinkhorn_start", "em"):
            with QSignalBlocker(self.method_combo):
                self.method_combo.setCurrentIndex(self.method_combo.findData("sinkhorn"))
            self.assignment_combo.setCurrentIndex(self.assignment_combo.findData("plan"))
        self._refresh_enabled_controls()

    def _on_method_changed(self) -> None:
        """Offer the chosen method's own class sizes, unless sizes were typed or painted."""
        if self.weights_combo.currentData() not in _GIVEN_SIZES:
            method = self.method_combo.currentData()
            # The method's own class sizes; in a comparison the setting is Sinkhorn-EM's (EM learns its own).
            default = METHODS["sinkhorn" if method == "both" else method]["weights"]
            self.weights_combo.setCurrentIndex(self.weights_combo.findData(default))
        self._refresh_enabled_controls()

    def _refresh_enabled_controls(self) -> None:
        # The neurons recipe has its own features, class sizes and labelling: those controls do not apply.
        classes = not self._neurons_chosen()
        self.sigmas_edit.setEnabled(self.features_combo.currentData() in ("multiscale", "brightfield"))
        self.class_sizes_edit.setEnabled(classes and self.weights_combo.currentData() == "typed")
        uses_epsilon = self.method_combo.currentData() != "em" or self.assignment_combo.currentData() == "plan"
        self.epsilon_slider.setEnabled(classes and uses_epsilon)
        self.epsilon_spin.setEnabled(classes and uses_epsilon)
        self.painting_combo.setEnabled(classes and self.weights_combo.currentData() == "painted")
        lazy_input = any(lazy.is_dask_array(_highest_resolution(layer)) for layer in self.selected_layers())
        self.confidence_check.setEnabled(classes and not lazy_input)
        for control in (
            self.weights_combo, self.assignment_combo, self.covariance_combo, self.sample_size_spin,
            self.tol_spin, self.auto_mask_combo,
        ):
            control.setEnabled(classes)
        # The recipe's own rows are shown only with it.
        # (the voxel-size warning only when there is one: _refresh_neuron_controls)
        for row in (self.pan_neuronal_combo, self.nucleus_radius_spin, self.neuron_hint_label):
            _set_row_visible(self._form, row, not classes)
        self.use_suggested_button.setVisible(not classes)
        self._refresh_time_choices()

    # ------------------------------------------------------- neurons recipe
    def _neurons_chosen(self) -> bool:
        """Whether the features choice is the neurons recipe."""
        return self.features_combo.currentData() == NEURONS_RECIPE

    def _on_features_changed(self) -> None:
        """Entering the neurons recipe: K counts neurons and follows the suggestion; the stack is selected."""
        neurons = self._neurons_chosen()
        if neurons != self._neurons_mode:
            self._neurons_mode = neurons
            self.k_label.setText("Neurons (K)" if neurons else "Classes (K)")
            with QSignalBlocker(self.n_components_spin):
                self.n_components_spin.setRange(*(_NEURON_RANGE if neurons else _CLASS_RANGE))
            # The iteration limit follows the recipe's default unless it was changed.
            limits = (_CLASS_MAX_ITER, DEFAULT_NEURON_MAX_ITER)
            if self.max_iter_spin.value() == limits[not neurons]:
                self.max_iter_spin.setValue(limits[neurons])
            if neurons:
                self._k_follows_suggestion = True
                self._select_channel_stack()
        self._refresh_enabled_controls()
        self._refresh_neuron_controls()

    def _select_channel_stack(self) -> None:
        """Select every image layer of the chosen layer's stack: same shape and voxel size (its channels)."""
        selected = self.selected_layers()
        if not self._listed_images:
            return
        first = selected[0] if selected else self._listed_images[-1]
        if first.rgb:
            return
        shape, scale = _highest_resolution(first).shape, np.asarray(first.scale)
        stack = [
            layer
            for layer in self._listed_images
            if not layer.rgb
            and _highest_resolution(layer).shape == shape
            and np.shape(layer.scale) == scale.shape
            and np.allclose(layer.scale, scale)
        ]
        self.select_layers(*stack)

    def _on_k_changed(self) -> None:
        if not self._setting_k:
            self._k_follows_suggestion = False

    def _set_k(self, value: int) -> None:
        self._setting_k = True
        try:
            self.n_components_spin.setValue(value)
        finally:
            self._setting_k = False

    def use_suggested_n_neurons(self) -> None:
        """Set K to the suggested number of neurons and let it follow the suggestion from now on."""
        self._k_follows_suggestion = True
        if self.suggested_n_neurons is not None:
            self._set_k(self.suggested_n_neurons)

    @property
    def suggested_n_neurons(self) -> int | None:
        """The number of neurons suggested for the selected stack (neurons recipe), or None."""
        return self._suggested

    def _on_pan_neuronal_chosen(self) -> None:
        row = self.pan_neuronal_combo.currentIndex()
        self._pan_chosen = self._pan_keys[row] if 0 <= row < len(self._pan_keys) else _NOT_CHOSEN
        self._refresh_neuron_controls()

    def _channel_layout(self) -> tuple[list[str], list[Any], list[Image]]:
        """Names and identities of the selected image's channels, and the layer of each (one per layer)."""
        layers = self.selected_layers()
        if len(layers) > 1:
            return [layer.name for layer in layers], list(layers), list(layers)
        if not layers:
            return [], [], []
        layer = layers[0]
        if layer.rgb:
            names = ["red", "green", "blue", "alpha"][: _highest_resolution(layer).shape[-1]]
        elif self.channel_axis_combo.currentData() is not None:
            n_channels = _highest_resolution(layer).shape[self.channel_axis_combo.currentData()]
            names = [f"channel {index}" for index in range(n_channels)]
        else:
            return [layer.name], [layer], [layer]
        return names, [(id(layer), index) for index in range(len(names))], []

    def _refresh_pan_choices(self) -> None:
        """Offer the channels as the pan-neuronal one: the one chosen before, else one named so, else the last."""
        names, keys, _ = self._channel_layout()
        if len(names) > 1:
            keys, labels = [*keys, None], [*names, "none (threshold all channels)"]
        else:
            keys, labels = [None], ["none (one channel)"]
        # A layer is recognised by identity, a channel of one layer by (layer id, index).
        before = self._pan_chosen
        same = [key is before or (isinstance(key, tuple) and key == before) for key in keys]
        chosen = same.index(True) if any(same) else None
        if chosen is None:
            named = [row for row, name in enumerate(names) if _PAN_NEURONAL_NAME.search(name)]
            chosen = named[0] if named else len(keys) - 2 if len(keys) > 1 else 0
        self._pan_keys = keys
        with QSignalBlocker(self.pan_neuronal_combo):
            self.pan_neuronal_combo.clear()
            for row, label in enumerate(labels):
                self.pan_neuronal_combo.addItem(label, None if keys[row] is None else row)
            self.pan_neuronal_combo.setCurrentIndex(chosen)

    def _refresh_neuron_controls(self) -> None:
        """The pan-neuronal choices, the suggested number of neurons and the voxel-size warning."""
        source = None
        if self._neurons_chosen():
            self._refresh_pan_choices()
            with contextlib.suppress(_InputError):
                source = self._image_source()
        no_scale = source is not None and bool(np.allclose(source.spatial_scale, 1.0))
        self.scale_warning_label.setText(
            "The layers have no voxel size (a scale of 1 along every axis), so positions, volumes and the "
            "nucleus radius are measured in voxels, and a step in z counts as much as one in y or x. Open the "
            "stack with its voxel size, or set it, e.g. in the console: layer.scale = (0.75, 0.3, 0.3) in µm."
            if no_scale
            else ""
        )
        _set_row_visible(self._form, self.scale_warning_label, no_scale)
        if source is None:
            self._suggested = None
            self.neuron_hint_label.setText("")
            return
        self._refresh_suggestion(source, no_scale)

    def _refresh_suggestion(self, source: _ImageSource, no_scale: bool) -> None:
        """Show the suggested K; its foreground is found in a thread once per stack, pan-neuronal channel and mask."""
        self._suggested = None
        if source.lazy:
            self.neuron_hint_label.setText("No number of neurons is suggested for a layer read lazily from disk.")
            return
        key = (source.key, self.pan_neuronal_combo.currentData())
        if self._foreground is None or self._foreground[0] != key:
            self.neuron_hint_label.setText("suggested: computing…")
            self._foreground_timer.start()
            return
        foreground = self._foreground[1]
        if isinstance(foreground, str):
            self.neuron_hint_label.setText(foreground)
            return
        radius = self.nucleus_radius_spin.value()
        try:
            self._suggested = suggest_n_neurons(foreground, source.spatial_scale, radius)
        except ValueError as error:
            self.neuron_hint_label.setText(f"No number of neurons can be suggested: {error}")
            return
        ndim = foreground.ndim
        unit = ("voxels" if no_scale else "µm³") if ndim == 3 else ("pixels" if no_scale else "µm²")
        volume = np.count_nonzero(foreground) * math.prod(source.spatial_scale)
        nucleus = 4.0 / 3.0 * math.pi * radius**3 if ndim == 3 else math.pi * radius**2
        what = "volume" if ndim == 3 else "area"
        self.neuron_hint_label.setText(
            f"suggested: {self._suggested} (foreground {what} {volume:,.0f} {unit} / nucleus {what} "
            f"{nucleus:.3g} {unit})"
        )
        if self._k_follows_suggestion:
            self._set_k(min(self._suggested, self.n_components_spin.maximum()))

    def _find_foreground(self) -> None:
        """Find the recipe's foreground in a thread (a second or so for a head); the hint follows when found.

        One search runs at a time: when the selection changed during one, the
        next starts once it has finished.
        """
        if self._foreground_worker is not None or not self._neurons_chosen():
            return
        try:
            source = self._image_source()
        except _InputError:
            return
        key = (source.key, self.pan_neuronal_combo.currentData())
        if source.lazy or (self._foreground is not None and self._foreground[0] == key):
            return
        worker = thread_worker(_foreground_of, start_thread=False)(source, key[1])
        worker.returned.connect(self._on_foreground_found)
        worker.finished.connect(self._on_foreground_finished)
        self.destroyed.connect(worker.quit)
        self._foreground_worker, self._foreground_worker_key = worker, key
        worker.start()

    def _on_foreground_found(self, foreground: np.ndarray | str) -> None:
        self._foreground = (self._foreground_worker_key, foreground)

    def _on_foreground_finished(self) -> None:
        self.destroyed.disconnect(self._foreground_worker.quit)
        self._foreground_worker = None
        # Shows the suggestion, or finds the foreground again if the selection changed meanwhile.
        self._refresh_neuron_controls()

    # ---------------------------------------------------- reading the controls
    def _settings(self) -> _Settings:
        """The fit settings from the controls."""
        try:
            sigmas = tuple(float(text) for text in self.sigmas_edit.text().replace(";", ",").split(",") if text.strip())
        except ValueError:
            sigmas = ()
        if not sigmas or not all(math.isfinite(sigma) and sigma > 0 for sigma in sigmas):
            raise _InputError(
                f"Write the feature sizes as positive numbers separated by commas, e.g. 1, 2, 4 "
                f"(got '{self.sigmas_edit.text()}')."
            )
        sample_size = self.sample_size_spin.value()
        n_components = self.n_components_spin.value()
        weights = self.weights_combo.currentData()
        if weights == "painted":
            weights = self._painted_class_sizes(n_components)
        elif weights == "typed":
            weights = self._typed_class_sizes(n_components)
        return _Settings(
            n_components=n_components,
            method=self.method_combo.currentData(),
            epsilon=self.epsilon_spin.value(),
            features=self.features_combo.currentData(),
            sigmas=sigmas,
            weights=weights,
            assignment=self.assignment_combo.currentData(),
            covariance_type=self.covariance_combo.currentData(),
            random_state=self.seed_spin.value(),
            sample_size=sample_size if sample_size > 0 else None,
            max_iter=self.max_iter_spin.value(),
            tol=self.tol_spin.value(),
            # Disabled for lazy layers: the map would need the whole image in memory.
            confidence=self.confidence_check.isChecked() and self.confidence_check.isEnabled(),
        )

    def _typed_class_sizes(self, n_components: int) -> tuple[float, ...]:
        """Class sizes typed as percentages, e.g. '10, 90'."""
        text = self.class_sizes_edit.text()
        try:
            percentages = [float(part.strip().rstrip("%")) for part in text.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            percentages = []
        if len(percentages) != n_components or not all(math.isfinite(p) and p > 0 for p in percentages):
            raise _InputError(
                f"Write one positive percentage per class, in label order, separated by commas: {n_components} "
                f"numbers such as {', '.join(['10'] + [f'{90 / (n_components - 1):g}'] * (n_components - 1))} "
                f"(got '{text}')."
            )
        if abs(sum(percentages) - 100.0) > 1.0:
            raise _InputError(
                f"The class sizes must add up to 100 %, but {', '.join(f'{p:g}' for p in percentages)} add up to "
                f"{sum(percentages):g} %."
            )
        return tuple(p / sum(percentages) for p in percentages)

    def _painted_class_sizes(self, n_components: int) -> tuple[float, ...]:
        """Class sizes from the painted labels layer chosen in the widget."""
        painting = self._chosen_labels(self.painting_combo)
        if painting is None:
            raise _InputError(
                "Choose the labels layer with the painted classes, or another class-size setting. To paint "
                "one: Layers > New Labels Layer, then paint each class with its label 1 to K."
            )
        try:
            return tuple(class_sizes_from_labels(painting.data, n_components))
        except ValueError as error:
            raise _InputError(
                f"The painted classes in '{painting.name}' cannot give the class sizes: {error}"
            ) from None

    def _image_source(self) -> _ImageSource:
        """What the controls ask to segment, checked for consistency."""
        layers = self.selected_layers()
        if not layers:
            raise _InputError(
                "Choose an image layer to segment in the widget's list (open one with File > Open, or try "
                "File > Open Sample > Sinkhorn-EM segmentation)."
            )
        arrays = tuple(_highest_resolution(layer) for layer in layers)
        if len(layers) > 1:
            if any(layer.rgb for layer in layers):
                raise _InputError("RGB layers cannot be combined with other layers; select the RGB layer on its own.")
            if len({array.shape for array in arrays}) > 1:
                sizes = ", ".join(f"'{layer.name}' {array.shape}" for layer, array in zip(layers, arrays))
                raise _InputError(
                    f"Layers used together as channels must have the same size, but they differ: {sizes}."
                )
        first = layers[0]
        channel_axis = -1 if first.rgb else self.channel_axis_combo.currentData()
        if len(layers) > 1:
            channel_axis = None
        if channel_axis is not None:
            channel_axis %= arrays[0].ndim
        # Layer axes without the channel axis; an RGB layer's colour axis is not one of its layer axes.
        layer_channel_axis = None if first.rgb else channel_axis
        n_spatial = int(self.dimensions_combo.currentData())
        shape = list(arrays[0].shape)
        if channel_axis is not None:
            del shape[channel_axis]
        if len(shape) < n_spatial:
            raise _InputError(
                f"The layer '{first.name}' has {len(shape)} axes besides its channels; it cannot be "
                f"segmented in {n_spatial}-D."
            )
        leading_shape = tuple(shape[: len(shape) - n_spatial])
        position = list(first.world_to_data(self.viewer.dims.point))
        if layer_channel_axis is not None:
            del position[layer_channel_axis]
        current_frame = tuple(
            int(min(max(round(coordinate), 0), size - 1)) for coordinate, size in zip(position, leading_shape)
        )
        if self.time_combo.currentData() == "all" and leading_shape:
            frames = tuple(np.ndindex(leading_shape))
        else:
            frames = (current_frame,)

        mask = None
        mask_layer = self._chosen_labels(self.mask_combo)
        if mask_layer is not None:
            spatial_shape = tuple(shape[len(leading_shape) :])
            if mask_layer.data.shape not in (tuple(shape), spatial_shape):
                raise _InputError(
                    f"The mask '{mask_layer.name}' has shape {mask_layer.data.shape}, but the image has "
                    f"{tuple(shape)}; choose a mask drawn on this image."
                )
            # A copy: painting on the mask during a run must not change that run.
            mask = np.asarray(mask_layer.data) > 0
        automatic = None if self._neurons_chosen() else self.auto_mask_combo.currentData()
        if automatic is not None:
            found = self._automatic_mask(automatic, arrays[0], channel_axis, leading_shape, frames)
            mask = found if mask is None else (mask & found)

        scale = _without_axis(first.scale, layer_channel_axis)
        placement = {
            "scale": scale,
            "translate": _without_axis(first.translate, layer_channel_axis),
            "affine": _affine_without_axis(first.affine.affine_matrix, layer_channel_axis),
        }
        return _ImageSource(
            name=_common_name([layer.name for layer in layers]),
            layers=tuple(layers),
            mask=mask,
            arrays=arrays,
            channel_axis=channel_axis,
            n_spatial=n_spatial,
            current_frame=current_frame,
            frames=frames,
            spatial_scale=tuple(float(step) for step in scale[-n_spatial:]),
            placement=placement,
        )

    @staticmethod
    def _automatic_mask(kind, array, channel_axis, leading_shape, frames) -> np.ndarray:
        """The automatic mask of every frame to segment (False elsewhere), from the first channel."""
        if lazy.is_dask_array(array):
            raise _InputError(
                "An automatic mask needs the image in memory, and this layer is read lazily from disk; "
                "paint a mask layer instead, or choose no automatic mask."
            )
        image = np.asarray(array)
        if channel_axis is not None:
            image = np.take(image, 0, axis=channel_axis)
        mask = np.zeros(image.shape, dtype=bool)
        for frame in frames:
            plane = image[frame] if leading_shape else image
            try:
                found = automatic_mask(kind, plane)
            except ValueError as error:
                raise _InputError(f"The automatic mask cannot be found: {error}") from None
            if leading_shape:
                mask[frame] = found
            else:
                mask = found
        return mask

    # ------------------------------------------------------------ running
    def _schedule_live_run(self) -> None:
        if self.live_check.isChecked():
            self._live_timer.start()

    def run(self) -> None:
        """Segment the selected image with the current settings in the background.

        A run still in progress is stopped first. Problems with the selection
        are reported as notifications.
        """
        self._live_timer.stop()
        if self._neurons_chosen():
            self._run_neurons()
            return
        try:
            source = self._image_source()
            settings = self._settings()
            n_pixels = math.prod(source.output_shape[-source.n_spatial :])
            mask = source.mask_at(source.current_frame)
            if mask is not None:
                n_pixels = int(np.count_nonzero(mask))
            if n_pixels < settings.n_components:
                where = "inside the mask" if mask is not None else "in the image"
                raise _InputError(
                    f"There are only {n_pixels} pixels {where} to split into {settings.n_components} classes; "
                    f"choose fewer classes (K) or a larger image or mask."
                )
        except _InputError as error:
            show_error(str(error))
            return
        previous = self._last_result
        if previous is not None and not previous.can_continue(source, settings):
            previous = None
        self._start(_segmentation_steps, (source, settings, previous), source)

    def _run_neurons(self) -> None:
        """Find the neurons of the selected stack (the time point shown) in the background."""
        try:
            source = self._image_source()
            if source.lazy:
                raise _InputError(
                    "The neurons recipe needs the stack in memory, and this layer is read lazily from disk; "
                    "load it (e.g. open the file without the zarr reader) or choose another recipe."
                )
            settings = self._neuron_settings()
        except _InputError as error:
            show_error(str(error))
            return
        source = replace(source, frames=(source.current_frame,))
        self._start(_neuron_steps, (source, settings, _ProgressRelay()), source)

    def _neuron_settings(self) -> _NeuronSettings:
        """The neurons recipe's settings from the controls."""
        names, _, layers = self._channel_layout()
        pan = self.pan_neuronal_combo.currentData()
        colours = [channel for channel in range(max(len(names), 1)) if channel != pan]
        if not colours:
            raise _InputError(
                "The pan-neuronal channel is the only channel; choose 'none' as the pan-neuronal channel."
            )
        channel_names = _channel_names(names) if len(layers) > 1 else None
        return _NeuronSettings(
            # While K follows the suggestion the recipe suggests it itself (the same number, or the one
            # of a foreground still being found for the hint).
            n_neurons=None if self._k_follows_suggestion else self.n_components_spin.value(),
            method=self.method_combo.currentData(),
            pan_neuronal_channel=pan,
            colour_channels=_colour_order(colours, layers),
            channel_names=channel_names,
            nucleus_radius_um=self.nucleus_radius_spin.value(),
            random_state=self.seed_spin.value(),
            max_iter=self.max_iter_spin.value(),
        )

    def cancel(self) -> None:
        """Stop the run in progress (at its next iteration); nothing is added or changed."""
        self._live_timer.stop()
        self._queued_run = None
        if self.worker is not None:
            self._progress_message = "Cancelling…"
            self._show_status()
            self.worker.quit()

    def _start(self, steps: Any, arguments: tuple, source: _ImageSource) -> None:
        """Run the generator function ``steps(*arguments)`` in a worker thread.

        Only one worker runs at a time (the fits use all cores): a running
        one is asked to stop and this run starts when it has.
        """
        if self.worker is not None:
            self._queued_run = (steps, arguments, source)
            self.worker.quit()
            return
        worker = thread_worker(steps, start_thread=False)(*arguments)
        for argument in arguments:
            if isinstance(argument, _ProgressRelay):
                argument.worker = worker
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.finished.connect(self._on_finished)
        # The dock widget is destroyed with the viewer: stop the fit then too.
        self.destroyed.connect(worker.quit)
        self.worker = worker
        self._worker_source = source
        self._started_at = time.monotonic()
        self._progress_message = "Computing features…"
        self._finished_note = ""
        self.progress_bar.setValue(0)
        self._show_running(True)
        worker.start()

    def _on_progress(self, progress: _RunProgress) -> None:
        self.progress_bar.setValue(round(progress.fraction * _PROGRESS_STEPS))
        self._progress_message = progress.message
        self._show_status()

    def _show_status(self) -> None:
        elapsed = time.monotonic() - self._started_at
        self.status_label.setText(f"{self._progress_message} ({elapsed:.0f} s)")

    def _on_returned(self, result: Any) -> None:
        # A run asked to stop may have finished just before it saw the request: drop its result.
        if self.worker.abort_requested:
            return
        if isinstance(result, _Failure):
            show_error(result.message)
        elif not all(layer in self.viewer.layers for layer in result.source.layers):
            show_warning(f"The layer '{result.source.name}' was removed; its segmentation was discarded.")
        elif isinstance(result, _SegmentationResult):
            self._show_segmentation(result)
        elif isinstance(result, _NeuronResult):
            self._show_neurons(result)
        else:
            self._show_model_labels(result)

    def _on_finished(self) -> None:
        worker = self.worker
        self.destroyed.disconnect(worker.quit)
        elapsed = time.monotonic() - self._started_at
        if worker.abort_requested:
            self.status_label.setText(f"Stopped after {elapsed:.0f} s.")
        else:
            self.status_label.setText(f"Finished in {elapsed:.1f} s. {self._finished_note}".strip())
        self.worker = None
        self._worker_source = None
        self._show_running(False)
        if self._queued_run is not None:
            queued, self._queued_run = self._queued_run, None
            self._start(*queued)

    def _show_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.progress_bar.setVisible(running)
        if running:
            self._clock.start()
        else:
            self._clock.stop()

    # ------------------------------------------------------------- results
    def _show_result_layer(
        self,
        source: _ImageSource,
        slot: Any,
        key: Any,
        data: np.ndarray,
        name: str,
        metadata: dict[str, Any],
        kind: str = "labels",
        **style: Any,
    ) -> Layer:
        """Show ``data``, the result ``key`` (what and with which settings) of ``source``, on top.

        ``kind`` is the layer type (``"labels"``, ``"image"`` or ``"points"``);
        ``slot`` is its place among a run's results (e.g. the first labels).
        The layer of the same result from an earlier run is updated in place;
        so is the previous result of ``source`` in ``slot`` when "replace the
        previous result" is ticked. Otherwise a new layer is added.
        """
        layers = self.viewer.layers
        layer = self._result_layers.get((source.layers, key))
        if (layer is None or layer not in layers) and self.replace_check.isChecked():
            layer = self._latest_result_layers.get((source.layers, slot))
        if layer is None or layer not in layers:
            add = {"image": self.viewer.add_image, "labels": self.viewer.add_labels, "points": self.viewer.add_points}
            layer = add[kind](data, name=name, metadata=metadata, **source.placement, **style)
        else:
            if kind == "labels" and "features" not in style and len(layer.features.columns):
                style = {**style, "features": {}}
            layer.data = data
            layer.name = name
            layer.metadata = metadata
            for attribute, value in {**source.placement, **style}.items():
                setattr(layer, attribute, value)
            layers.move(layers.index(layer), len(layers))
        self._result_layers = {entry: kept for entry, kept in self._result_layers.items() if kept is not layer}
        self._result_layers[(source.layers, key)] = layer
        self._latest_result_layers[(source.layers, slot)] = layer
        return layer

    def _show_segmentation(self, result: _SegmentationResult) -> None:
        source, settings = result.source, result.settings
        for slot, method in enumerate(settings.methods):
            self._show_result_layer(
                source,
                ("labels", slot),
                (method, settings.result_key(method)),
                result.labels[method],
                _result_name(source.name, method, settings),
                _result_metadata(source, "labels", **settings.describe(method)),
            )
        comparison = result.comparison
        if comparison is not None:
            self._show_result_layer(
                source,
                "disagreement",
                ("disagreement", settings.result_key("sinkhorn")),
                comparison.disagreement.astype(np.uint8),
                f"{source.name} EM≠Sinkhorn K={settings.n_components} ε={_epsilon_label(settings.epsilon)}",
                _result_metadata(
                    source,
                    "pixels where EM and Sinkhorn-EM disagree (1)",
                    agreement=1 - comparison.disagreement_fraction,
                    adjusted_rand_index=comparison.adjusted_rand_index,
                    **settings.describe("sinkhorn"),
                ),
                colormap={None: "transparent", 0: "transparent", 1: "magenta"},
            )
            self.comparison_label.setText(
                f"EM and Sinkhorn-EM agree on {100 * (1 - comparison.disagreement_fraction):.1f}% of the pixels\n"
                f"(adjusted Rand index {comparison.adjusted_rand_index:.3f}); the disagreement layer shows where."
            )
        else:
            self.comparison_label.setText("")
        self.class_sizes_label.setText(_class_sizes_text(result.segmenters))
        if result.certainty is not None:
            method = settings.methods[-1]
            self._show_result_layer(
                source,
                "certainty",
                ("certainty", settings.result_key(method)),
                result.certainty,
                f"{_result_name(source.name, method, settings)} certainty",
                _result_metadata(
                    source,
                    "certainty: log10 of how many times more probable each pixel's class is than the next best",
                    **settings.describe(method),
                ),
                kind="image",
                colormap="magma",
                contrast_limits=(0.0, CERTAINTY_CAP),
            )
        self._last_result = result

    def _show_neurons(self, result: _NeuronResult) -> None:
        """The neurons of each method as labels and centres (with the neuron table), and their comparison."""
        source, settings = result.source, result.settings
        notes = []
        for slot, method in enumerate(settings.methods):
            found = result.segmentations[method]
            name = f"{source.name} neurons {_SHORT_METHOD_NAMES[method]} K={found.n_neurons}"
            described = {
                **settings.describe(method),
                "n_neurons_fitted": found.n_neurons,
                "n_neurons_found": len(found.table["label"]),
                "suggested_n_neurons": found.suggested_n_neurons,
                "summary": found.summary(),
            }
            key = settings.result_key(method)
            self._show_result_layer(
                source,
                ("labels", slot),
                ("neurons", key),
                _in_frame(source, found.labels),
                name,
                _result_metadata(source, "neurons (label k = fitted component k - 1)", **described),
                features=napari_features(found.table),
            )
            # Centres as voxel indices with the image's scale, translate and affine, so that they overlay it.
            centres = found.centres_um() / np.asarray(found.scale)
            frame = np.asarray(source.current_frame, dtype=float)
            leading = np.broadcast_to(frame, (len(centres), len(frame)))
            colours = np.column_stack([found.colours_rgb(), np.ones(len(centres))])
            self._show_result_layer(
                source,
                ("centres", slot),
                ("centres", key),
                np.column_stack([leading, centres]),
                f"{name} centres",
                _result_metadata(
                    source, "neuron centres (one point per neuron, coloured by its mean colour)", **described
                ),
                kind="points",
                features=found.table,
                face_color=colours,
                size=settings.nucleus_radius_um / min(found.scale),
            )
            one = len(settings.methods) == 1
            notes.append(found.summary() if one else f"{METHOD_NAMES[method]}: {found.summary()}")
        match = result.match
        if match is not None:
            self._show_result_layer(
                source,
                "disagreement",
                ("neuron disagreement", settings.result_key("sinkhorn")),
                _in_frame(source, match.disagreement_image("a")),
                f"{source.name} neurons EM≠Sinkhorn K={result.segmentations['em'].n_neurons}",
                _result_metadata(
                    source,
                    "EM's neurons coloured by how Sinkhorn-EM found them (matched transparent, split orange, "
                    "merged magenta, shifted yellow, missing red)",
                    counts=match.counts,
                    summary=_neuron_match_text(match),
                    **settings.describe("sinkhorn"),
                ),
                colormap=_NEURON_CATEGORY_COLOURS,
                features=_NEURON_CATEGORY_FEATURES,
            )
            self.comparison_label.setText(_neuron_match_text(match))
        else:
            self.comparison_label.setText("")
        self.class_sizes_label.setText("")
        self._finished_note = " ".join(notes)
        self._last_result = result

    def _show_model_labels(self, result: _ModelResult) -> None:
        self._show_result_layer(
            result.source,
            "model",
            ("model", result.model_name),
            result.labels,
            f"{result.source.name} model {result.model_name}",
            _result_metadata(result.source, "labels from a saved model", model_file=result.model_name),
        )

    # -------------------------------------------------------------- models
    def save_model(self, path: str | os.PathLike) -> Path | None:
        """Save the model of the last run to ``path`` (Sinkhorn-EM's when both methods ran).

        Returns
        -------
        pathlib.Path or None
            The file written, or None if there was nothing to save or writing failed
            (a notification says why).
        """
        if self._last_result is None:
            show_warning("There is no model to save yet: run a segmentation first.")
            return None
        segmenters = self._last_result.segmenters
        method = self._last_result.settings.methods[-1]
        try:
            written = segmenters[method].save(path, overwrite=True)
        except (OSError, ValueError) as error:
            show_error(f"The model could not be saved to {path}: {error}")
            return None
        show_info(f"Saved the {METHOD_NAMES[method]} model to {written}.")
        return written

    def apply_model(self, path: str | os.PathLike) -> None:
        """Label the selected image with the model saved in ``path``, in the background."""
        try:
            source = self._image_source()
            segmenter = Segmenter.load(path)
        except ValueError as error:
            show_error(str(error))
            return
        except OSError as error:
            show_error(f"The model file {path} could not be opened: {error.strerror or error}.")
            return
        self._start(_model_steps, (source, segmenter, Path(path).name), source)

    def _ask_save_model(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save segmentation model", "model.json", "Models (*.json)")
        if path:
            self.save_model(path)

    def _ask_apply_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Apply saved segmentation model", "", "Models (*.json)")
        if path:
            self.apply_model(path)
