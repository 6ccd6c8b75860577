"""Fixtures of the widget's tests (test_widget*.py): a viewer, compiled kernels, the messages shown.

Nothing here imports napari or Qt at collection time, so that the tests of the
widget's work (test_work.py) run without them.
"""

import warnings

import pytest
from bands import three_bands

from napari_sinkhorn_em import ConvergenceWarning
from napari_sinkhorn_em.segmentation import Segmenter


@pytest.fixture(scope="session")
def compiled_kernels():
    """Compile the numba kernels once on tiny data, so that timeouts measure the widget, not the compiler."""
    image = three_bands((16, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for method in ("em", "sinkhorn"):
            segmenter = Segmenter(2, method=method, max_iter=2).fit(image)
            segmenter.predict_proba(image)
            segmenter.predict(image)


@pytest.fixture
def opengl_free_image_layers(qapp, monkeypatch):
    """Let napari create image layers on Qt's 'offscreen' platform, which has no OpenGL.

    Adding an image layer makes napari ask OpenGL for its extensions and
    texture sizes; these tests never draw, so fixed answers suffice. Where
    OpenGL works (e.g. under xvfb-run) nothing is patched.
    """
    from qtpy.QtGui import QOffscreenSurface, QOpenGLContext

    surface, context = QOffscreenSurface(), QOpenGLContext()
    surface.create()
    if context.create() and context.makeCurrent(surface):
        context.doneCurrent()
        return
    import napari._vispy.canvas
    import napari._vispy.layers.base
    import napari._vispy.layers.image
    import napari._vispy.layers.labels

    monkeypatch.setattr(napari._vispy.layers.image, "get_gl_extensions", lambda: "")
    vispy_modules = (napari._vispy.canvas, napari._vispy.layers.base, napari._vispy.layers.image, napari._vispy.layers.labels)
    for module in vispy_modules:
        monkeypatch.setattr(module, "get_max_texture_sizes", lambda: (4096, 512))


@pytest.fixture
def notifications(monkeypatch):
    """Messages the widget shows, as (level, text) pairs."""
    from napari_sinkhorn_em._napari import widget

    shown = []
    for level in ("error", "warning", "info"):
        monkeypatch.setattr(widget, f"show_{level}", lambda message, level=level: shown.append((level, message)))
    return shown


@pytest.fixture
def viewer(make_napari_viewer, compiled_kernels):
    """A new napari viewer, closed after the test; the numba kernels are compiled by then."""
    return make_napari_viewer()
