"""Make docs/figures/widget.png: the dock widget after comparing EM and Sinkhorn-EM on the NeuroPAL-like head.

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
    layers = viewer.open_sample("napari-sinkhorn-em", "neuropal_like")
    channels = [layer for layer in layers if isinstance(layer, Image)]

    widget = SegmentationWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Segment by clustering", area="right")
    widget.select_layers(*channels)
    widget.n_components_spin.setValue(4)
    widget.epsilon_spin.setValue(0.5)
    # The method first: choosing one resets the class sizes to that method's own.
    widget.method_combo.setCurrentIndex(widget.method_combo.findData("both"))
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("em"))
    widget.sample_size_spin.setValue(50_000)
    widget.run()
    wait_for_run(widget)

    # The colour channels, the outlines of the Sinkhorn-EM classes, and where EM disagrees (magenta).
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
