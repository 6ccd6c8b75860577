"""The neurons recipe's own rows: the pan-neuronal channel, the suggested number of neurons, the voxel size.

:class:`NeuronSuggestion` offers the selected stack's channels as the
pan-neuronal one, finds the recipe's foreground and the pan-neuronal image in
a thread (once per stack, pan-neuronal channel and mask) to suggest how many
neurons to fit as the recipe does (one per bright spot,
:func:`~napari_sinkhorn_em.neurons.suggest_n_neurons_from_peaks`, searched
again when the nucleus radius changes: under a second for a head), lets K
follow that suggestion until the user sets K, and warns about layers without
a voxel size.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from napari.qt.threading import thread_worker
from qtpy.QtCore import QObject, QSignalBlocker, QTimer
from qtpy.QtWidgets import QFormLayout, QWidget

from ..neurons import pan_neuronal_image, suggest_n_neurons_from_peaks
from .controls import NumberControls, set_row_visible
from .inputs import ImageSource
from .settings import InputError
from .work import neuron_foreground

__all__ = ["FOREGROUND_DELAY_MS", "NeuronSuggestion", "suggestion_inputs"]

#: Pause after the last change of the selected stack before its neurons' foreground is searched for.
FOREGROUND_DELAY_MS = 200
#: The pan-neuronal channel before one was chosen by hand (None is the choice "none").
_NOT_CHOSEN = object()
#: A channel whose layer name says it marks every neuron, e.g. "NeuroPAL head pan-neuronal".
_PAN_NEURONAL_NAME = re.compile(r"pan[\s_-]*neuron", re.IGNORECASE)


class NeuronSuggestion(QObject):
    """The pan-neuronal choices, the suggested number of neurons (K following it) and the voxel-size warning.

    A child of the dock widget, so that a search finishing after the widget
    was destroyed reaches nothing.

    Parameters
    ----------
    widget : QWidget
        The dock widget: the foreground search stops when it is destroyed.
    numbers : NumberControls
        The rows of K and of the recipe.
    form : QFormLayout
        The form holding those rows.
    neurons_chosen : callable
        Whether the neurons recipe is chosen.
    image_source : callable
        The :class:`~.inputs.ImageSource` the controls ask for (raises :class:`~.settings.InputError`).
    channel_layout : callable
        Names and identities of the selected image's channels, and their layers.
    """

    def __init__(
        self,
        widget: QWidget,
        numbers: NumberControls,
        form: QFormLayout,
        neurons_chosen: Callable[[], bool],
        image_source: Callable[[], ImageSource],
        channel_layout: Callable[[], tuple[list[str], list[Any], list[Any]]],
    ) -> None:
        super().__init__(widget)
        self.widget, self.numbers, self.form = widget, numbers, form
        self.neurons_chosen, self.image_source, self.channel_layout = neurons_chosen, image_source, channel_layout
        self.k_follows_suggestion = False
        self._setting_k = False
        self._suggested: int | None = None
        # What the suggestion is computed from, found in a thread: (what it is of, (mask, pan-neuronal image) or
        # sentence); and the last suggestion made from it: ((radius, scale), (number, what suggested it)).
        self._foreground: tuple[tuple, tuple[np.ndarray, np.ndarray] | str] | None = None
        self._last: tuple[tuple, tuple[int, str]] | None = None
        self._worker = None
        self._worker_key: tuple | None = None
        # The pan-neuronal channel chosen by hand (a layer, or a channel index of one layer).
        self._pan_chosen: Any = _NOT_CHOSEN
        self._pan_keys: list[Any] = []
        # Starts the search for the foreground once a burst of changes is over (e.g. the layers of a
        # sample coming in, or all layers going when the viewer closes).
        self._timer = QTimer(widget)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FOREGROUND_DELAY_MS)
        self._timer.timeout.connect(self._find_foreground)

    @property
    def suggested(self) -> int | None:
        """The number of neurons suggested for the selected stack, or None."""
        return self._suggested

    # ------------------------------------------------------------------ K
    def on_k_changed(self) -> None:
        """K set by the user: it no longer follows the suggestion."""
        if not self._setting_k:
            self.k_follows_suggestion = False

    def _set_k(self, value: int) -> None:
        self._setting_k = True
        try:
            self.numbers.n_components_spin.setValue(value)
        finally:
            self._setting_k = False

    def use_suggested(self) -> None:
        """Set K to the suggested number of neurons and let it follow the suggestion from now on."""
        self.k_follows_suggestion = True
        if self._suggested is not None:
            self._set_k(self._suggested)

    # --------------------------------------------------------- pan-neuronal
    def on_pan_neuronal_chosen(self) -> None:
        """The user chose the pan-neuronal channel: it stays chosen while it is offered."""
        row = self.numbers.pan_neuronal_combo.currentIndex()
        self._pan_chosen = self._pan_keys[row] if 0 <= row < len(self._pan_keys) else _NOT_CHOSEN
        self.refresh()

    def _refresh_pan_choices(self) -> None:
        """Offer the channels as the pan-neuronal one: the one chosen before, else one named so, else the last."""
        names, keys, _ = self.channel_layout()
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
        combo = self.numbers.pan_neuronal_combo
        with QSignalBlocker(combo):
            combo.clear()
            for row, label in enumerate(labels):
                combo.addItem(label, None if keys[row] is None else row)
            combo.setCurrentIndex(chosen)

    # ----------------------------------------------------------- the hint
    def refresh(self) -> None:
        """The pan-neuronal choices, the suggested number of neurons and the voxel-size warning."""
        source = None
        if self.neurons_chosen():
            self._refresh_pan_choices()
            with contextlib.suppress(InputError):
                source = self.image_source()
        no_scale = source is not None and bool(np.allclose(source.spatial_scale, 1.0))
        self.numbers.scale_warning_label.setText(
            "The layers have no voxel size (a scale of 1 along every axis), so positions, volumes and the "
            "nucleus radius are measured in voxels, and a step in z counts as much as one in y or x. Open the "
            "stack with its voxel size, or set it, e.g. in the console: layer.scale = (0.75, 0.3, 0.3) in µm."
            if no_scale
            else ""
        )
        set_row_visible(self.form, self.numbers.scale_warning_label, no_scale)
        if source is None:
            self._suggested = None
            self.numbers.neuron_hint_label.setText("")
            return
        self._refresh_suggestion(source, no_scale)

    def _refresh_suggestion(self, source: ImageSource, no_scale: bool) -> None:
        """Show the suggested K; its foreground is found in a thread once per stack, pan-neuronal channel and mask."""
        self._suggested = None
        hint = self.numbers.neuron_hint_label
        if source.lazy:
            hint.setText("No number of neurons is suggested for a layer read lazily from disk.")
            return
        key = (source.key, self.numbers.pan_neuronal_combo.currentData())
        if self._foreground is None or self._foreground[0] != key:
            hint.setText("suggested: computing…")
            self._timer.start()
            return
        found = self._foreground[1]
        if isinstance(found, str):
            hint.setText(found)
            return
        foreground, peak_image = found
        radius = self.numbers.nucleus_radius_spin.value()
        try:
            self._suggested, by = self._suggestion(foreground, peak_image, tuple(source.spatial_scale), radius)
        except ValueError as error:
            hint.setText(f"No number of neurons can be suggested: {error}")
            return
        unit = "voxels" if no_scale else "µm"
        reason = f"bright spots of the pan-neuronal channel, at least {radius:g} {unit} apart" if by == "peaks" else (
            _foreground_text(foreground, source, radius, no_scale))
        hint.setText(f"suggested: {self._suggested} ({reason})")
        if self.k_follows_suggestion:
            self._set_k(min(self._suggested, self.numbers.n_components_spin.maximum()))

    def _suggestion(self, foreground, peak_image, scale, radius) -> tuple[int, str]:
        """:func:`suggest_n_neurons_from_peaks`, kept for the last radius and scale of this foreground."""
        key = (scale, radius)
        if self._last is None or self._last[0] != key:
            self._last = (key, suggest_n_neurons_from_peaks(peak_image, foreground, scale, radius))
        return self._last[1]

    def _find_foreground(self) -> None:
        """Find the recipe's foreground in a thread (a second or so for a head); the hint follows when found.

        One search runs at a time: when the selection changed during one, the
        next starts once it has finished.
        """
        if self._worker is not None or not self.neurons_chosen():
            return
        try:
            source = self.image_source()
        except InputError:
            return
        key = (source.key, self.numbers.pan_neuronal_combo.currentData())
        if source.lazy or (self._foreground is not None and self._foreground[0] == key):
            return
        worker = thread_worker(suggestion_inputs, start_thread=False)(source, key[1])
        worker.returned.connect(self._on_foreground_found)
        worker.finished.connect(self._on_foreground_finished)
        self.widget.destroyed.connect(worker.quit)
        self._worker, self._worker_key = worker, key
        worker.start()

    def _on_foreground_found(self, found: tuple[np.ndarray, np.ndarray] | str) -> None:
        self._foreground, self._last = (self._worker_key, found), None

    def _on_foreground_finished(self) -> None:
        self.widget.destroyed.disconnect(self._worker.quit)
        self._worker = None
        # Shows the suggestion, or finds the foreground again if the selection changed meanwhile.
        self.refresh()


def suggestion_inputs(source: ImageSource, pan_neuronal_channel: int | None) -> tuple[np.ndarray, np.ndarray] | str:
    """The recipe's foreground and pan-neuronal image of the time point shown (run in a thread), or why not.

    Parameters
    ----------
    source : ImageSource
        The selected stack.
    pan_neuronal_channel : int or None
        Index of the pan-neuronal channel; None sums the channels.

    Returns
    -------
    tuple of numpy.ndarray, or str
        :func:`~.work.neuron_foreground` and :func:`~napari_sinkhorn_em.neurons.pan_neuronal_image`
        of the time point shown (its image read once), or the sentence why they could not be found.
    """
    try:
        frame = source.current_frame
        image, channel_axis = source.image(frame)
        foreground = neuron_foreground(image, channel_axis, pan_neuronal_channel, source.mask_at(frame))
        return foreground, pan_neuronal_image(image, channel_axis=channel_axis, pan_neuronal_channel=pan_neuronal_channel)
    except (ValueError, MemoryError) as error:
        return f"No number of neurons can be suggested: {error}"


def _foreground_text(foreground: np.ndarray, source: ImageSource, radius: float, no_scale: bool) -> str:
    """E.g. ``foreground volume 12,345 µm³ / nucleus volume 11.5 µm³``."""
    ndim = foreground.ndim
    unit = ("voxels" if no_scale else "µm³") if ndim == 3 else ("pixels" if no_scale else "µm²")
    volume = np.count_nonzero(foreground) * math.prod(source.spatial_scale)
    nucleus = 4.0 / 3.0 * math.pi * radius**3 if ndim == 3 else math.pi * radius**2
    what = "volume" if ndim == 3 else "area"
    return f"foreground {what} {volume:,.0f} {unit} / nucleus {what} {nucleus:.3g} {unit}"
