"""The settings' form: what its controls offer for the selected image, which apply, and what they say.

:class:`SettingsForm` keeps the controls consistent with each other and with
the selected layers (the channel axes and dimensions offered, the rows of
the neurons recipe, the method following the class sizes) and reads them
into the run's :class:`~.settings.Settings`, :class:`~.settings.NeuronSettings`
and :class:`~.inputs.ImageSource`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qtpy.QtCore import QSignalBlocker

from .. import lazy
from ..neurons import DEFAULT_NEURON_MAX_ITER, neuron_method
from ..segmentation import METHODS, SEGMENTER_DEFAULTS
from .controls import (
    CLASS_MAX_ITER,
    CLASS_RANGE,
    GIVEN_SIZES,
    NEURON_RANGE,
    Controls,
    epsilon_of_position,
    position_of_epsilon,
    set_row_visible,
)
from .inputs import ImageSource, channel_layout, channel_names, colour_order, highest_resolution, image_source
from .settings import (
    NEURONS_RECIPE,
    InputError,
    NeuronSettings,
    Settings,
    painted_class_sizes,
    parse_sigmas,
    typed_class_sizes,
)

__all__ = ["SettingsForm"]


class SettingsForm:
    """The controls of the settings, kept consistent with each other and with the selected layers.

    Parameters
    ----------
    controls : Controls
        The widget's controls.
    selected_layers : callable
        The image layers selected in the widget.
    """

    def __init__(self, controls: Controls, selected_layers: Callable[[], list[Any]]) -> None:
        self.controls = controls
        self.selected_layers = selected_layers
        self._neurons_mode = False
        self._selected_geometry: tuple | None = None

    # ----------------------------------------------------- what applies
    def neurons_chosen(self) -> bool:
        """Whether the features choice is the neurons recipe."""
        return self.controls.features.features_combo.currentData() == NEURONS_RECIPE

    def refresh_axis_choices(self) -> None:
        """Offer the channel axes and dimensions that fit the selected layers."""
        layers = self.selected_layers()
        combo = self.controls.inputs.channel_axis_combo
        axis = combo.currentData()
        with QSignalBlocker(combo):
            combo.clear()
            if len(layers) > 1:
                combo.addItem("one channel per selected layer", None)
            elif layers and layers[0].rgb:
                combo.addItem("RGB colour (last axis)", -1)
            else:
                combo.addItem("none (one channel)", None)
                if layers and layers[0].ndim >= 3:
                    for index, size in enumerate(highest_resolution(layers[0]).shape):
                        combo.addItem(f"axis {index} ({size} values)", index)
            combo.setCurrentIndex(max(combo.findData(axis), 0))
        combo.setEnabled(combo.count() > 1)
        self.refresh_dimension_choices()
        self.refresh_enabled_controls()

    def _non_channel_ndim(self) -> int:
        layers = self.selected_layers()
        if not layers:
            return 2
        axis = self.controls.inputs.channel_axis_combo.currentData()
        return layers[0].ndim - (1 if axis is not None and not layers[0].rgb else 0)

    def refresh_dimension_choices(self) -> None:
        """Enable 3-D for layers with 3 or more axes; a newly chosen image starts in 3-D if it can."""
        inputs = self.controls.inputs
        ndim = self._non_channel_ndim()
        geometry = (tuple(id(layer) for layer in self.selected_layers()), inputs.channel_axis_combo.currentData())
        if geometry != self._selected_geometry:
            self._selected_geometry = geometry
            inputs.dimensions_combo.setCurrentIndex(inputs.dimensions_combo.findData("3" if ndim >= 3 else "2"))
        inputs.dimensions_combo.setEnabled(ndim >= 3)
        self.refresh_time_choices()

    def refresh_time_choices(self) -> None:
        """Offer all time points for a movie; the neurons recipe finds the neurons of the time point shown."""
        inputs = self.controls.inputs
        movie = self._non_channel_ndim() > int(inputs.dimensions_combo.currentData())
        inputs.time_combo.setEnabled(movie and not self.neurons_chosen())

    def follow_class_sizes(self) -> None:
        """Given class sizes choose Sinkhorn-EM, which holds them, labelling by its transport plan."""
        fit = self.controls.fit
        if fit.weights_combo.currentData() in GIVEN_SIZES and fit.method_combo.currentData() in ("sinkhorn_start", "em"):
            with QSignalBlocker(fit.method_combo):
                fit.method_combo.setCurrentIndex(fit.method_combo.findData("sinkhorn"))
            fit.assignment_combo.setCurrentIndex(fit.assignment_combo.findData("plan"))
        self.refresh_enabled_controls()

    def follow_method(self) -> None:
        """Offer the chosen method's own class sizes, unless sizes were typed or painted."""
        fit = self.controls.fit
        if fit.weights_combo.currentData() not in GIVEN_SIZES:
            method = fit.method_combo.currentData()
            # The method's own class sizes; in a comparison the setting is Sinkhorn-EM's (EM learns its own).
            default = METHODS["sinkhorn" if method == "both" else method]["weights"]
            fit.weights_combo.setCurrentIndex(fit.weights_combo.findData(default))
        self.refresh_enabled_controls()

    def refresh_enabled_controls(self) -> None:
        """Enable the controls that apply to the chosen features, method and class sizes; show the recipe's rows."""
        fit, numbers = self.controls.fit, self.controls.numbers
        # The neurons recipe has its own features, class sizes and labelling: those controls do not apply.
        classes = not self.neurons_chosen()
        features = self.controls.features.features_combo.currentData()
        self.controls.features.sigmas_edit.setEnabled(features in ("multiscale", "brightfield"))
        fit.class_sizes_edit.setEnabled(classes and fit.weights_combo.currentData() == "typed")
        uses_epsilon = fit.method_combo.currentData() != "em" or fit.assignment_combo.currentData() == "plan"
        fit.epsilon_slider.setEnabled(classes and uses_epsilon)
        fit.epsilon_spin.setEnabled(classes and uses_epsilon)
        fit.painting_combo.setEnabled(classes and fit.weights_combo.currentData() == "painted")
        lazy_input = any(lazy.is_dask_array(highest_resolution(layer)) for layer in self.selected_layers())
        fit.confidence_check.setEnabled(classes and not lazy_input)
        for control in (
            fit.weights_combo, fit.assignment_combo, fit.covariance_combo, fit.sample_size_spin,
            self.controls.advanced.tol_spin, self.controls.inputs.auto_mask_combo,
        ):
            control.setEnabled(classes)
        # The recipe's own rows are shown only with it.
        # (the voxel-size warning only when there is one: see NeuronSuggestion.refresh)
        for row in (numbers.pan_neuronal_combo, numbers.nucleus_radius_spin, numbers.neuron_hint_label):
            set_row_visible(self.controls.form, row, not classes)
        numbers.use_suggested_button.setVisible(not classes)
        self.refresh_time_choices()

    def switch_recipe(self) -> bool:
        """K counts neurons with the neurons recipe, classes otherwise; True when the recipe was just chosen.

        The iteration limit and the method follow the recipe's defaults unless they were changed
        (the neurons recipe fits EM from its bright spots, :func:`~napari_sinkhorn_em.neurons.neuron_method`).
        """
        neurons = self.neurons_chosen()
        if neurons == self._neurons_mode:
            return False
        self._neurons_mode = neurons
        numbers, max_iter_spin = self.controls.numbers, self.controls.advanced.max_iter_spin
        numbers.k_label.setText("Neurons (K)" if neurons else "Classes (K)")
        with QSignalBlocker(numbers.n_components_spin):
            numbers.n_components_spin.setRange(*(NEURON_RANGE if neurons else CLASS_RANGE))
        limits = (CLASS_MAX_ITER, DEFAULT_NEURON_MAX_ITER)
        if max_iter_spin.value() == limits[not neurons]:
            max_iter_spin.setValue(limits[neurons])
        method_combo = self.controls.fit.method_combo
        methods = (SEGMENTER_DEFAULTS["method"], neuron_method(None))
        if method_combo.currentData() == methods[not neurons]:
            method_combo.setCurrentIndex(method_combo.findData(methods[neurons]))
        return neurons

    # ---------------------------------------------------------- ε
    def on_epsilon_slider(self, position: int) -> None:
        """The slider moved: the box follows."""
        self.controls.fit.epsilon_spin.setValue(epsilon_of_position(position))

    def on_epsilon_box(self, epsilon: float) -> None:
        """The box changed: the slider follows, without moving the box again."""
        slider = self.controls.fit.epsilon_slider
        with QSignalBlocker(slider):
            slider.setValue(position_of_epsilon(epsilon))

    # ---------------------------------------------------- reading
    def channel_layout(self) -> tuple[list[str], list[Any], list[Any]]:
        """Names and identities of the selected image's channels, and the layer of each (see :func:`channel_layout`)."""
        return channel_layout(self.selected_layers(), self.controls.inputs.channel_axis_combo.currentData())

    def image_source(self, world_point: Sequence[float], mask_layer: Any) -> ImageSource:
        """What the controls ask to segment, checked for consistency; the viewer is at ``world_point``."""
        inputs = self.controls.inputs
        return image_source(
            self.selected_layers(),
            channel_axis=inputs.channel_axis_combo.currentData(),
            n_spatial=int(inputs.dimensions_combo.currentData()),
            world_point=world_point,
            all_time_points=inputs.time_combo.currentData() == "all",
            mask_layer=mask_layer,
            automatic=None if self.neurons_chosen() else inputs.auto_mask_combo.currentData(),
        )

    def settings(self, painting: Any) -> Settings:
        """The fit settings from the controls; ``painting`` is the labels layer of the painted classes."""
        fit, advanced = self.controls.fit, self.controls.advanced
        sigmas = parse_sigmas(self.controls.features.sigmas_edit.text())
        sample_size = fit.sample_size_spin.value()
        n_components = self.controls.numbers.n_components_spin.value()
        weights = fit.weights_combo.currentData()
        if weights == "painted":
            weights = painted_class_sizes(painting, n_components)
        elif weights == "typed":
            weights = typed_class_sizes(fit.class_sizes_edit.text(), n_components)
        return Settings(
            n_components=n_components,
            method=fit.method_combo.currentData(),
            epsilon=fit.epsilon_spin.value(),
            features=self.controls.features.features_combo.currentData(),
            sigmas=sigmas,
            weights=weights,
            assignment=fit.assignment_combo.currentData(),
            covariance_type=fit.covariance_combo.currentData(),
            random_state=fit.seed_spin.value(),
            sample_size=sample_size if sample_size > 0 else None,
            max_iter=advanced.max_iter_spin.value(),
            tol=advanced.tol_spin.value(),
            # Disabled for lazy layers: the map would need the whole image in memory.
            confidence=fit.confidence_check.isChecked() and fit.confidence_check.isEnabled(),
        )

    def neuron_settings(self, k_follows_suggestion: bool) -> NeuronSettings:
        """The neurons recipe's settings from the controls; K is left to the recipe while it follows the suggestion."""
        numbers = self.controls.numbers
        names, _, layers = self.channel_layout()
        pan = numbers.pan_neuronal_combo.currentData()
        colours = [channel for channel in range(max(len(names), 1)) if channel != pan]
        if not colours:
            raise InputError("The pan-neuronal channel is the only channel; choose 'none' as the pan-neuronal channel.")
        return NeuronSettings(
            # While K follows the suggestion the recipe suggests it itself (the same number, or the one
            # of a foreground still being found for the hint).
            n_neurons=None if k_follows_suggestion else numbers.n_components_spin.value(),
            method=self.controls.fit.method_combo.currentData(),
            pan_neuronal_channel=pan,
            colour_channels=colour_order(colours, layers),
            channel_names=channel_names(names) if len(layers) > 1 else None,
            nucleus_radius_um=numbers.nucleus_radius_spin.value(),
            random_state=self.controls.fit.seed_spin.value(),
            max_iter=self.controls.advanced.max_iter_spin.value(),
        )
