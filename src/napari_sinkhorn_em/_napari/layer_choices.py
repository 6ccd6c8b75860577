"""The viewer's layers offered in the widget: the images to segment, the mask and the painted classes.

:class:`LayerChoices` fills the image list and the two labels menus from the
viewer's layers, keeping the choices as layers come, go, move or are renamed:
an image opened is selected with the other channels of its file or sample,
and a labels layer added becomes the painted classes unless those were
chosen by hand. The widget's own results are never offered as images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari.layers import Image, Labels
from qtpy.QtCore import QSignalBlocker, QTimer
from qtpy.QtWidgets import QComboBox, QListWidget

from .inputs import highest_resolution, opened_together
from .results import is_result_layer

__all__ = ["LayerChoices"]


class LayerChoices:
    """The image list and the mask and painted-classes menus, following the viewer's layers.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    image_list : QListWidget
        The image layers to segment.
    mask_combo, painting_combo : QComboBox
        The labels layers offered as the mask and as the painted classes.
    """

    def __init__(self, viewer: Any, image_list: QListWidget, mask_combo: QComboBox, painting_combo: QComboBox) -> None:
        self.viewer = viewer
        self.image_list = image_list
        self.mask_combo = mask_combo
        self.painting_combo = painting_combo
        # The image and labels layers listed, in the order shown.
        self._listed_images: list[Image] = []
        self._listed_labels: list[Labels] = []
        # Image layers added in the current turn of the event loop that belong together (one file or sample).
        self._opened_together: list[Image] = []
        self._to_preselect: list[Image] | None = self._newest_image_and_its_channels()
        self._new_painting: Labels | None = None
        self._painting_chosen_by_hand = False
        # Fires once the layers added together (e.g. the channels of one file) are all in.
        self._opening_timer = QTimer(image_list)
        self._opening_timer.setSingleShot(True)
        self._opening_timer.setInterval(0)
        self._opening_timer.timeout.connect(self._end_opening)

    def add(self, layer: Any) -> None:
        """A layer was added: an image is selected (with its channels), a labels layer becomes the painting."""
        if isinstance(layer, Image) and not is_result_layer(layer):
            self._preselect(layer)
        elif isinstance(layer, Labels) and not is_result_layer(layer) and not self._painting_chosen_by_hand:
            self._new_painting = layer

    def _preselect(self, layer: Image) -> None:
        """Select a newly added image, with the layers added in the same go that belong with it.

        napari adds the channels of one file or sample one layer after the
        other before it returns to its event loop; the layers added so that
        are channels of one image (see :func:`~.inputs.opened_together`) are
        selected together.
        """
        if self._opened_together and opened_together(self._opened_together[-1], layer):
            self._opened_together.append(layer)
        else:
            self._opened_together = [layer]
        self._opening_timer.start()
        self._to_preselect = list(self._opened_together)

    def _newest_image_and_its_channels(self) -> list[Image]:
        """The topmost image layer, with the other channels of its file or sample (for a widget opened late)."""
        images = [layer for layer in self.viewer.layers if isinstance(layer, Image) and not is_result_layer(layer)]
        if not images:
            return []
        newest = images[-1]
        # Layers from no file or sample cannot be told apart from unrelated ones: the newest alone then.
        if newest.source.path is None and newest.source.sample is None:
            return [newest]
        return [layer for layer in images if layer is newest or opened_together(layer, newest)]

    def _end_opening(self) -> None:
        self._opened_together = []

    def on_painting_chosen(self) -> None:
        """The user chose the painted classes: from now on a new labels layer does not replace the choice."""
        self._painting_chosen_by_hand = self.painting_combo.currentData() is not None

    def refresh(self) -> None:
        """Fill the image list and the labels menus from the viewer's layers, keeping the choices.

        Choices follow the layers themselves, so renaming a layer keeps it chosen. A newly added
        image is selected, and a newly added labels layer becomes the painted classes unless the
        user chose those by hand.
        """
        if self._to_preselect is not None:
            selected, self._to_preselect = self._to_preselect, None
        else:
            selected = self.selected_layers()
        images = [layer for layer in self.viewer.layers if isinstance(layer, Image) and not is_result_layer(layer)]
        self._listed_images = images
        with QSignalBlocker(self.image_list):
            self.image_list.clear()
            self.image_list.addItems([layer.name for layer in images])
            for row, layer in enumerate(images):
                self.image_list.item(row).setSelected(any(layer is chosen for chosen in selected))
            if not self.image_list.selectedItems() and images:
                self.image_list.item(0).setSelected(True)

        chosen = {self.mask_combo: self.mask_layer(), self.painting_combo: self.painting_layer()}
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

    def _chosen_labels(self, combo: QComboBox) -> Labels | None:
        row = combo.currentIndex()
        return self._listed_labels[row - 1] if 0 < row <= len(self._listed_labels) else None

    def mask_layer(self) -> Labels | None:
        """The labels layer chosen as the mask, or None."""
        return self._chosen_labels(self.mask_combo)

    def painting_layer(self) -> Labels | None:
        """The labels layer chosen as the painted classes, or None."""
        return self._chosen_labels(self.painting_combo)

    def selected_layers(self) -> list[Image]:
        """The image layers selected, in the viewer's order."""
        rows = sorted(self.image_list.row(item) for item in self.image_list.selectedItems())
        return [self._listed_images[row] for row in rows]

    def select_channel_stack(self) -> None:
        """Select every image layer of the chosen layer's stack: same shape and voxel size (its channels)."""
        selected = self.selected_layers()
        if not self._listed_images:
            return
        first = selected[0] if selected else self._listed_images[-1]
        if first.rgb:
            return
        shape, scale = highest_resolution(first).shape, np.asarray(first.scale)
        stack = [
            layer
            for layer in self._listed_images
            if not layer.rgb
            and highest_resolution(layer).shape == shape
            and np.shape(layer.scale) == scale.shape
            and np.allclose(layer.scale, scale)
        ]
        self.select_layers(*stack)

    def select_layers(self, *layers: Image) -> None:
        """Select ``layers`` as the image to segment (several = one channel each)."""
        for row, listed in enumerate(self._listed_images):
            self.image_list.item(row).setSelected(any(listed is layer for layer in layers))
