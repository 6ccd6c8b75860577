"""The work of a run, done in the widget's worker thread: plain generators, without Qt or a viewer.

:func:`segmentation_steps` (a class fit), :func:`model_steps` (a saved
model) and :func:`neuron_steps` (the neurons recipe) yield a
:class:`RunProgress` after every stage and EM iteration, so that the fit can
be followed and is cancelled at its next yield, and return the result (or a
:class:`~.results.Failure` the user can act on). The neurons recipe's library
call reports progress through a callback only: a :class:`ProgressRelay`
passes its reports on to the worker and stops the call once the run is
cancelled.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..neurons import match_neurons, pan_neuronal_foreground, segment_neurons
from ..segmentation import METHOD_NAMES, Progress, Segmenter, compare_labels, label_certainty
from .inputs import ImageSource
from .results import Failure, ModelResult, NeuronResult, SegmentationResult
from .settings import NeuronSettings, Settings

__all__ = [
    "ProgressRelay",
    "RunProgress",
    "model_steps",
    "neuron_foreground",
    "neuron_steps",
    "segmentation_steps",
]

# Share of the progress bar used by the fits; the rest is labelling every pixel.
_FIT_SHARE = 0.9
# Where each stage reported by Segmenter.fit_steps falls inside one fit.
_STAGE_SPANS = {"features": (0.0, 0.1), "fit": (0.1, 1.0)}
#: Where each stage reported by segment_neurons falls inside one of its runs.
_NEURON_STAGE_SPANS = {"features": (0.0, 0.05), "fit": (0.05, 0.85), "assign": (0.85, 0.95)}
_NEURON_STAGE_TEXT = {
    "features": "reading the voxels",
    "fit": "fitting one Gaussian per neuron",
    "assign": "labelling the voxels",
}
#: Shortest time between two progress reports a library call passes to the widget.
_RELAY_INTERVAL_S = 0.1


@dataclass(frozen=True)
class RunProgress:
    """What the worker reports after each step: overall fraction done and a sentence."""

    fraction: float
    message: str


class _Stopped(Exception):
    """Raised in a library call's progress callback to stop it once its run is cancelled."""


@dataclass(eq=False)
class ProgressRelay:
    """Passes the ``progress(stage, fraction)`` reports of a library call to the widget, and stops it.

    A library call such as :func:`segment_neurons` runs in one piece in the
    worker thread and reports only through its callback. The widget sets
    ``worker`` when the run starts (anything with ``abort_requested`` and a
    ``yielded`` signal); each report is then shown as the worker's own yields
    are, and raises an exception once the run was asked to stop, which ends
    the call at its next report (next iteration).
    """

    worker: Any = None
    _last_shown: float = -math.inf

    def report(self, progress: RunProgress) -> None:
        """Pass ``progress`` on to the worker (a few times a second at most), or stop a cancelled run."""
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
# Class fits and saved models
# ---------------------------------------------------------------------------


def _overall_progress(progress: Progress, done: int, total: int) -> RunProgress:
    """Overall progress from a stage report of fit number ``done`` (0-based) of ``total``."""
    low, high = _STAGE_SPANS[progress.stage]
    within = low + (high - low) * min(max(progress.fraction, 0.0), 1.0)
    return RunProgress(_FIT_SHARE * (done + within) / total, progress.message)


def _label_frames(segmenter: Segmenter, source: ImageSource, what: str, done: int, total: int) -> Iterator[RunProgress]:
    """Label every time point of ``source``; yields before each, returns the label image.

    For lazy (dask) layers the label image is lazy too: napari computes the
    chunks it displays, so only the region looked at is ever labelled.
    """
    labels = None
    by_frame = {}
    for number, frame in enumerate(source.frames):
        where = "the image" if len(source.frames) == 1 else f"time point {number + 1} of {len(source.frames)}"
        yield RunProgress(_FIT_SHARE + (1 - _FIT_SHARE) * (done + number) / total, f"Labelling {where} ({what})")
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
    settings: Settings, method: str, source: ImageSource, previous: SegmentationResult | None
) -> tuple[Segmenter, Iterator[Progress]]:
    """A segmenter for ``method`` and the generator that fits it: anew, or from ``previous`` at the new ε."""
    if previous is None:
        segmenter = settings.segmenter(method)
        return segmenter, segmenter.fit_steps(**source.fit_inputs(source.current_frame))
    # Refit a copy, so that the previous result keeps its own fit if this run is abandoned.
    segmenter = copy.copy(previous.segmenters[method])
    return segmenter, segmenter.refit_steps(epsilon=settings.epsilon)


def _certainty(segmenter: Segmenter, source: ImageSource) -> np.ndarray:
    """:func:`label_certainty` of every pixel (0 outside the mask and the labelled time points)."""
    certainty = np.zeros(source.output_shape, dtype=np.float32)
    for frame in source.frames:
        certainty[frame] = label_certainty(segmenter.predict_proba(**source.fit_inputs(frame)))
    return certainty


def segmentation_steps(
    source: ImageSource, settings: Settings, previous: SegmentationResult | None
) -> Iterator[RunProgress]:
    """Fit the chosen method(s) on the current time point and label the chosen time points.

    With ``previous`` (a result on the same input whose settings differ only
    in ε), EM's fit and labels are reused as they are (ε does not affect EM)
    and Sinkhorn-EM continues from its previous fit.

    Parameters
    ----------
    source : ImageSource
        What to segment.
    settings : Settings
        How to fit.
    previous : SegmentationResult or None
        The last result, reused when :meth:`SegmentationResult.can_continue` allows.

    Yields
    ------
    RunProgress
        After every stage and every EM iteration.

    Returns
    -------
    SegmentationResult or Failure
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
            yield RunProgress(1.0, "Comparing EM and Sinkhorn-EM")
            comparison = compare_labels(labels["em"], labels["sinkhorn"])
            labels["sinkhorn"] = comparison.matched
        certainty = None
        if settings.confidence:
            yield RunProgress(1.0, "Computing the certainty map")
            certainty = _certainty(segmenters[settings.methods[-1]], source)
    except (ValueError, MemoryError, RuntimeError) as error:
        return Failure(f"Segmenting '{source.name}' failed: {error}")
    return SegmentationResult(source, settings, segmenters, labels, comparison, certainty)


def model_steps(source: ImageSource, segmenter: Segmenter, model_name: str) -> Iterator[RunProgress]:
    """Label the chosen time points of ``source`` with a saved model.

    Parameters
    ----------
    source : ImageSource
        What to label.
    segmenter : Segmenter
        The fitted segmenter read from the model file.
    model_name : str
        The model file's name, for the layer name and the messages.

    Yields
    ------
    RunProgress
        Before each time point is labelled.

    Returns
    -------
    ModelResult or Failure
    """
    try:
        labels = yield from _label_frames(segmenter, source, f"model {model_name}", 0, 1)
    except (ValueError, MemoryError, RuntimeError) as error:
        return Failure(f"The model {model_name} could not be applied to '{source.name}': {error}")
    return ModelResult(source, model_name, labels)


# ---------------------------------------------------------------------------
# The neurons recipe
# ---------------------------------------------------------------------------


def neuron_foreground(
    image: np.ndarray, channel_axis: int | None, pan_neuronal_channel: int | None, mask: np.ndarray | None
) -> np.ndarray:
    """Where the neurons recipe looks for neurons: the nuclei of the pan-neuronal channel.

    :func:`~napari_sinkhorn_em.neurons.pan_neuronal_foreground`, as
    :func:`segment_neurons` finds it without a mask; with a mask only the
    voxels inside it are kept.

    Parameters
    ----------
    image : numpy.ndarray
        The stack, with its channels along ``channel_axis`` (None: one channel).
    channel_axis : int or None
        The channel axis; None for one channel.
    pan_neuronal_channel : int or None
        Index of the pan-neuronal channel; None sums all channels.
    mask : numpy.ndarray of bool or None
        Where to look; None looks everywhere.

    Returns
    -------
    numpy.ndarray of bool
    """
    foreground = pan_neuronal_foreground(image, channel_axis=channel_axis, pan_neuronal_channel=pan_neuronal_channel)
    return foreground if mask is None else foreground & mask


def _neuron_progress(method: str, stage: str, fraction: float, done: int, total: int) -> RunProgress:
    """Overall progress from a ``progress(stage, fraction)`` report of run number ``done`` of ``total``."""
    low, high = _NEURON_STAGE_SPANS.get(stage, (0.95, 0.95))
    fraction = min(max(fraction, 0.0), 1.0)
    within = low + (high - low) * fraction
    what = _NEURON_STAGE_TEXT.get(stage, stage)
    return RunProgress((done + within) / total, f"Neurons, {METHOD_NAMES[method]}: {what} ({100 * fraction:.0f}%)")


def _find_neurons(
    image: np.ndarray,
    channel_axis: int | None,
    source: ImageSource,
    settings: NeuronSettings,
    foreground: np.ndarray | None,
    report: Any,
) -> Iterator[RunProgress]:
    """:func:`segment_neurons` with each chosen method, in order; yields after each, returns them by method."""
    pan = settings.pan_neuronal_channel
    segmentations = {}
    total = len(settings.methods)
    for done, method in enumerate(settings.methods):
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
            progress=lambda stage, fraction, method=method, done=done: report(
                _neuron_progress(method, stage, fraction, done, total)
            ),
        )
        found = len(segmentations[method].table["label"])
        yield RunProgress((done + 1) / total, f"Neurons, {METHOD_NAMES[method]}: found {found}")
    return segmentations


def neuron_steps(source: ImageSource, settings: NeuronSettings, relay: ProgressRelay) -> Iterator[RunProgress]:
    """Find the neurons of the current time point with each chosen method, and compare them.

    Parameters
    ----------
    source : ImageSource
        The stack.
    settings : NeuronSettings
        The recipe's settings.
    relay : ProgressRelay
        Passes :func:`segment_neurons`'s progress on to the worker, and stops it when cancelled.

    Yields
    ------
    RunProgress
        Between the stages; the reports of :func:`segment_neurons` come
        through ``relay``, which also stops it when the run is cancelled.

    Returns
    -------
    NeuronResult, Failure or None
        None when the run was cancelled.
    """
    frame = source.current_frame
    yield RunProgress(0.0, "Neurons: finding the foreground")
    try:
        image, channel_axis = source.image(frame)
        mask = source.mask_at(frame)
        # With a mask layer: its bright voxels only (segment_neurons takes a mask as the foreground itself).
        pan = settings.pan_neuronal_channel
        foreground = None if mask is None else neuron_foreground(image, channel_axis, pan, mask)
        segmentations = yield from _find_neurons(image, channel_axis, source, settings, foreground, relay.report)
        match = None
        if settings.method == "both":
            yield RunProgress(1.0, "Comparing EM's and Sinkhorn-EM's neurons one by one")
            match = match_neurons(
                segmentations["em"].labels, segmentations["sinkhorn"].labels, scale=source.spatial_scale
            )
    except _Stopped:
        return None
    # As in segmentation_steps: the library's explanations, a stack too large, a deleted worker.
    except (ValueError, MemoryError, RuntimeError) as error:
        return Failure(f"Finding the neurons of '{source.name}' failed: {error}")
    return NeuronResult(source, settings, segmentations, match)
