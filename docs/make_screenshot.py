"""Make the screenshots of the dock widget in docs/figures.

- ``widget.png``: after comparing EM and Sinkhorn-EM on the worms sample;
- ``widget_neurons.png``: the neurons recipe on the NeuroPAL head sample (a few minutes).

Needs a display; on a headless machine run it as::

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshot.py [worms] [neurons]

(both without arguments).
"""

import sys
from pathlib import Path

import napari
from napari.layers import Image, Labels, Points
from qtpy.QtCore import QEventLoop
from qtpy.QtWidgets import QApplication

from napari_sinkhorn_em._napari.widget import NEURONS_RECIPE, RESULT_METADATA_KEY, SegmentationWidget
from napari_sinkhorn_em.segmentation import METHOD_NAMES

FIGURE = Path(__file__).parent / "figures" / "widget.png"
NEURONS_FIGURE = Path(__file__).parent / "figures" / "widget_neurons.png"
#: Where the neurons screenshot looks (z, y, x in µm) and how many screen pixels a µm takes:
#: the ganglia around the nerve ring, in the middle slice.
HEAD_VIEW_CENTRE_UM = (18.75, 21.6, 58.0)
HEAD_VIEW_ZOOM = 8.5


def wait_for_suggestion(widget: SegmentationWidget) -> None:
    """Process Qt events until the widget has found the suggested number of neurons (in a thread)."""
    while widget.suggested_n_neurons is None and "suggested" in widget.neuron_hint_label.text():
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 100)


def wait_for_run(widget: SegmentationWidget) -> None:
    """Process Qt events until the widget's background run has finished and its results are shown."""
    if widget.worker is not None:
        loop = QEventLoop()
        widget.worker.finished.connect(loop.quit)
        loop.exec()
    QApplication.processEvents()


def shows(layer, result: str, method: str | None = None) -> bool:
    """Whether ``layer`` is a result of the widget whose description starts with ``result`` (of ``method``)."""
    described = layer.metadata.get(RESULT_METADATA_KEY, {})
    return described.get("result", "").startswith(result) and method in (None, described.get("method"))


def worms() -> None:
    """docs/figures/widget.png: EM and Sinkhorn-EM compared on the worms sample."""
    viewer = napari.Viewer(title="napari-sinkhorn-em")
    viewer.window.resize(1500, 950)
    layers = viewer.open_sample("napari-sinkhorn-em", "worms_2d")
    image = next(layer for layer in layers if isinstance(layer, Image))

    widget = SegmentationWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Segment by clustering", area="right")
    widget.select_layers(image)
    widget.n_components_spin.setValue(2)
    widget.auto_mask_combo.setCurrentIndex(widget.auto_mask_combo.findData("largest_bright_region"))
    widget.features_combo.setCurrentIndex(widget.features_combo.findData("brightfield"))
    widget.sigmas_edit.setText("6.25, 12.5, 25")  # 1, 2 and 4 pixels of 6.25 µm
    # The sizes first (they choose Sinkhorn-EM), then the comparison: EM learns its own sizes.
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("typed"))
    widget.class_sizes_edit.setText("10, 90")
    widget.method_combo.setCurrentIndex(widget.method_combo.findData("both"))
    widget.sample_size_spin.setValue(50_000)
    widget.run()
    wait_for_run(widget)

    # The image, the outlines of Sinkhorn-EM's worms, and where EM disagrees (magenta): the bands
    # around the worms and the rim that EM calls worm.
    sinkhorn = next(layer for layer in viewer.layers if shows(layer, "labels", METHOD_NAMES["sinkhorn"]))
    for layer in viewer.layers:
        layer.visible = isinstance(layer, Image) or layer is sinkhorn or shows(layer, "pixels where")
    sinkhorn.contour = 1
    viewer.layers.selection.active = sinkhorn
    QApplication.processEvents()

    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=str(FIGURE), canvas_only=False)
    viewer.close()
    print(f"wrote {FIGURE}")


def neurons() -> None:
    """docs/figures/widget_neurons.png: the neurons recipe on the NeuroPAL head sample."""
    viewer = napari.Viewer(title="napari-sinkhorn-em")
    viewer.window.resize(1500, 950)
    viewer.open_sample("napari-sinkhorn-em", "neuropal_head")

    widget = SegmentationWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Segment by clustering", area="right")
    # The recipe selects the four channel layers, takes the pan-neuronal one and suggests K; K is left
    # at the suggestion.
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(NEURONS_RECIPE))
    wait_for_suggestion(widget)
    print(widget.neuron_hint_label.text())
    widget.run()
    wait_for_run(widget)
    print(widget.status_label.text())

    # The colour channels, the neurons' outlines and their centres, in the slice through the ganglia.
    for layer in viewer.layers:
        described = layer.metadata.get(RESULT_METADATA_KEY)
        if isinstance(layer, Labels) and described is not None:
            layer.contour = 1
            viewer.layers.selection.active = layer
        elif isinstance(layer, Points):
            layer.visible = described is not None
        elif isinstance(layer, Labels):
            layer.visible = False
    QApplication.processEvents()
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera  # napari 0.9 moved it
    camera.center = HEAD_VIEW_CENTRE_UM
    camera.zoom = HEAD_VIEW_ZOOM
    QApplication.processEvents()

    NEURONS_FIGURE.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=str(NEURONS_FIGURE), canvas_only=False)
    viewer.close()
    print(f"wrote {NEURONS_FIGURE}")


def main(which: list[str]) -> None:
    for name in which or ["worms", "neurons"]:
        {"worms": worms, "neurons": neurons}[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
