"""Make docs/figures/widget.png: the dock widget after comparing EM and Sinkhorn-EM on the worms sample.

Needs a display; on a headless machine run it as::

    xvfb-run -a python docs/make_screenshot.py
"""

from pathlib import Path

import napari
from napari.layers import Image
from qtpy.QtCore import QEventLoop
from qtpy.QtWidgets import QApplication

from napari_sinkhorn_em._widget import RESULT_METADATA_KEY, SegmentationWidget
from napari_sinkhorn_em.pipeline import METHOD_NAMES

FIGURE = Path(__file__).parent / "figures" / "widget.png"


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


def main() -> None:
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


if __name__ == "__main__":
    main()
