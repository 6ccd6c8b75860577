"""napari dock widget: segment image layers with EM or Sinkhorn-EM.

The widget gathers, on the GUI thread, *what* to segment (an
:class:`~.inputs.ImageSource`: the selected layers, how their channels are
laid out, which time points) and *how* (:class:`~.settings.Settings`, or
:class:`~.settings.NeuronSettings` for the neurons recipe). The work runs in a
napari ``thread_worker`` generator (:mod:`.work`) that yields its progress
after every EM iteration, so the fit can be followed and is cancelled at its
next yield (:mod:`.running`). Result layers are created, or updated in place,
only once a run has fully finished (:mod:`.layers`): one layer per distinct
setting (or the previous one replaced, when asked), the newest on top, each
marked in its metadata under :data:`RESULT_METADATA_KEY` so that it is never
offered as an input.

The pieces: :mod:`.controls` lays out the controls, :mod:`.form` keeps them
consistent and reads them, :mod:`.layer_choices` offers the viewer's layers,
:mod:`.suggestion` runs the neurons recipe's own rows (the pan-neuronal
channel, the suggested number of neurons); this module only wires them
together. The *neurons* recipe (features "Neurons (NeuroPAL)") runs
:func:`~napari_sinkhorn_em.neurons.segment_neurons` instead of a
:class:`~napari_sinkhorn_em.segmentation.Segmenter` fit: one Gaussian per
neuron over position and colour, and a labels layer plus a points layer of
the neurons' centres, both carrying the per-neuron table as their features.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QWidget

from ..segmentation import METHOD_NAMES, Segmenter
from .controls import build_controls
from .form import SettingsForm
from .layer_choices import LayerChoices
from .layers import ResultLayers, show_model_labels, show_neurons, show_segmentation
from .running import Runner
from .inputs import ImageSource
from .results import RESULT_METADATA_KEY, Failure, ModelResult, SegmentationResult
from .settings import NEURONS_RECIPE, InputError, Settings
from .suggestion import NeuronSuggestion
from .work import ProgressRelay, model_steps, neuron_steps, segmentation_steps

__all__ = ["NEURONS_RECIPE", "RESULT_METADATA_KEY", "SegmentationWidget"]

#: Pause after the last change of K or ε before a live re-run starts.
LIVE_DELAY_MS = 400


def _check_enough_pixels(source: ImageSource, settings: Settings) -> None:
    """Raise :class:`InputError` when there are fewer pixels to segment than classes."""
    n_pixels = math.prod(source.output_shape[-source.n_spatial :])
    mask = source.mask_at(source.current_frame)
    if mask is not None:
        n_pixels = int(np.count_nonzero(mask))
    if n_pixels < settings.n_components:
        where = "inside the mask" if mask is not None else "in the image"
        raise InputError(
            f"There are only {n_pixels} pixels {where} to split into {settings.n_components} classes; "
            f"choose fewer classes (K) or a larger image or mask."
        )


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
        self._last_result: Any = None
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DELAY_MS)
        self._controls = build_controls(self)
        # Every control is an attribute of the widget too, e.g. ``widget.method_combo``.
        for name, control in self._controls.by_name().items():
            setattr(self, name, control)
        self._choices = LayerChoices(napari_viewer, self.image_list, self.mask_combo, self.painting_combo)
        self._form = SettingsForm(self._controls, self._choices.selected_layers)
        self._suggestion = NeuronSuggestion(
            self, self._controls.numbers, self._controls.form, self._form.neurons_chosen, self._image_source,
            self._form.channel_layout,
        )
        self._results = ResultLayers(napari_viewer, self.replace_check.isChecked)
        self._runner = Runner(self, self._controls.run, self._show_result)
        self._add_callbacks()
        self._runner.show_running(False)
        self._form.refresh_enabled_controls()
        self._refresh_layer_choices()

    def _add_callbacks(self) -> None:
        """Connect the controls and the viewer's layer list to what they change."""
        self._live_timer.timeout.connect(self.run)
        self.image_list.itemSelectionChanged.connect(self._refresh_axis_choices)
        self.channel_axis_combo.currentIndexChanged.connect(self._form.refresh_dimension_choices)
        self.mask_combo.currentIndexChanged.connect(self._suggestion.refresh)
        self.dimensions_combo.currentIndexChanged.connect(self._form.refresh_time_choices)
        self.dimensions_combo.currentIndexChanged.connect(self._suggestion.refresh)
        self.features_combo.currentIndexChanged.connect(self._on_features_changed)
        self.n_components_spin.valueChanged.connect(self._suggestion.on_k_changed)
        self.n_components_spin.valueChanged.connect(self._schedule_live_run)
        self.pan_neuronal_combo.activated.connect(self._suggestion.on_pan_neuronal_chosen)
        self.nucleus_radius_spin.valueChanged.connect(self._suggestion.refresh)
        self.use_suggested_button.clicked.connect(self.use_suggested_n_neurons)
        self.epsilon_slider.valueChanged.connect(self._form.on_epsilon_slider)
        self.epsilon_spin.valueChanged.connect(self._on_epsilon_box)
        self.method_combo.currentIndexChanged.connect(self._form.follow_method)
        self.weights_combo.currentIndexChanged.connect(self._form.follow_class_sizes)
        self.painting_combo.activated.connect(self._choices.on_painting_chosen)
        self.assignment_combo.currentIndexChanged.connect(self._form.refresh_enabled_controls)
        self.live_check.toggled.connect(self._on_live_toggled)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self._ask_save_model)
        self.apply_button.clicked.connect(self._ask_apply_model)
        layers = self.viewer.layers
        layers.events.inserted.connect(self._on_layer_inserted)
        layers.events.removed.connect(self._on_layer_removed)
        layers.events.moved.connect(self._refresh_layer_choices)
        for layer in layers:
            layer.events.name.connect(self._refresh_layer_choices)

    @property
    def worker(self) -> Any:
        """The background run in progress (a napari ``GeneratorWorker``), or None."""
        return self._runner.worker

    @property
    def fitted_segmenters(self) -> dict[str, Segmenter]:
        """The segmenters fitted by the last run, by method (``"em"``, ``"sinkhorn"``); empty before one."""
        return {} if self._last_result is None else dict(self._last_result.segmenters)

    @property
    def suggested_n_neurons(self) -> int | None:
        """The number of neurons suggested for the selected stack (neurons recipe), or None."""
        return self._suggestion.suggested

    def use_suggested_n_neurons(self) -> None:
        """Set K to the suggested number of neurons and let it follow the suggestion from now on."""
        self._suggestion.use_suggested()

    def selected_layers(self) -> list[Any]:
        """The image layers selected in the widget, in the viewer's order."""
        return self._choices.selected_layers()

    def select_layers(self, *layers: Any) -> None:
        """Select ``layers`` as the image to segment (several = one channel each)."""
        self._choices.select_layers(*layers)

    # -------------------------------------------------- controls following each other
    def _on_epsilon_box(self, epsilon: float) -> None:
        self._form.on_epsilon_box(epsilon)
        self._schedule_live_run()

    def _on_live_toggled(self, live: bool) -> None:
        if live:
            self.replace_check.setChecked(True)

    def _refresh_axis_choices(self) -> None:
        self._form.refresh_axis_choices()
        self._suggestion.refresh()

    def _on_features_changed(self) -> None:
        """Entering the neurons recipe: K counts neurons and follows the suggestion; the stack is selected."""
        if self._form.switch_recipe():
            self._suggestion.k_follows_suggestion = True
            self._choices.select_channel_stack()
        self._form.refresh_enabled_controls()
        self._suggestion.refresh()

    # ------------------------------------------------------------ the viewer's layers
    def _on_layer_inserted(self, event: Any) -> None:
        event.value.events.name.connect(self._refresh_layer_choices)
        self._choices.add(event.value)
        self._refresh_layer_choices()

    def _on_layer_removed(self, event: Any) -> None:
        layer = event.value
        self._runner.drop_queued_run_of(layer)
        if self.worker is not None and self._runner.source.uses(layer):
            show_warning(
                f"The layer '{layer.name}' was removed while it was being segmented; the segmentation was stopped."
            )
            self.worker.quit()
        if self._last_result is not None and self._last_result.source.uses(layer):
            self._last_result = None
        self._results.forget(layer)
        self._refresh_layer_choices()

    def _refresh_layer_choices(self) -> None:
        self._choices.refresh()
        self._refresh_axis_choices()

    def _image_source(self) -> ImageSource:
        """What the controls ask to segment, checked for consistency."""
        return self._form.image_source(self.viewer.dims.point, self._choices.mask_layer())

    # --------------------------------------------------------------------- running
    def _schedule_live_run(self) -> None:
        if self.live_check.isChecked():
            self._live_timer.start()

    def run(self) -> None:
        """Segment the selected image with the current settings in the background.

        A run still in progress is stopped first. Problems with the selection
        are reported as notifications.
        """
        self._live_timer.stop()
        if self._form.neurons_chosen():
            self._run_neurons()
            return
        try:
            source = self._image_source()
            settings = self._form.settings(self._choices.painting_layer())
            _check_enough_pixels(source, settings)
        except InputError as error:
            show_error(str(error))
            return
        previous = self._last_result
        if previous is not None and not previous.can_continue(source, settings):
            previous = None
        self._runner.start(segmentation_steps, (source, settings, previous), source)

    def _run_neurons(self) -> None:
        """Find the neurons of the selected stack (the time point shown) in the background."""
        try:
            source = self._image_source()
            if source.lazy:
                raise InputError(
                    "The neurons recipe needs the stack in memory, and this layer is read lazily from disk; "
                    "load it (e.g. open the file without the zarr reader) or choose another recipe."
                )
            settings = self._form.neuron_settings(self._suggestion.k_follows_suggestion)
        except InputError as error:
            show_error(str(error))
            return
        source = replace(source, frames=(source.current_frame,))
        self._runner.start(neuron_steps, (source, settings, ProgressRelay()), source)

    def cancel(self) -> None:
        """Stop the run in progress (at its next iteration); nothing is added or changed."""
        self._live_timer.stop()
        self._runner.cancel()

    def _show_result(self, result: Any) -> None:
        """Show what a finished run returned: its layers and sentences, or why there are none."""
        if isinstance(result, Failure):
            show_error(result.message)
            return
        if not all(layer in self.viewer.layers for layer in result.source.layers):
            show_warning(f"The layer '{result.source.name}' was removed; its segmentation was discarded.")
            return
        if isinstance(result, ModelResult):
            show_model_labels(self._results, result)
            return
        if isinstance(result, SegmentationResult):
            comparison, class_sizes = show_segmentation(self._results, result)
        else:
            comparison, self._runner.finished_note = show_neurons(self._results, result)
            class_sizes = ""
        self.comparison_label.setText(comparison)
        self.class_sizes_label.setText(class_sizes)
        self._last_result = result

    # ---------------------------------------------------------------------- models
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
        self._runner.start(model_steps, (source, segmenter, Path(path).name), source)

    def _ask_save_model(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save segmentation model", "model.json", "Models (*.json)")
        if path:
            self.save_model(path)

    def _ask_apply_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Apply saved segmentation model", "", "Models (*.json)")
        if path:
            self.apply_model(path)
