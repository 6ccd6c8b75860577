"""Running the work of :mod:`.work` in napari's worker thread, one run at a time, and following it.

:class:`Runner` starts a generator function in a ``thread_worker``, shows
its progress (the bar, a sentence and the seconds elapsed, every second),
stops it at its next yield when asked, queues a run asked for while another
one is stopping, and hands the result of a run that was not stopped to the
widget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from napari.qt.threading import thread_worker
from qtpy.QtCore import QObject, QTimer
from qtpy.QtWidgets import QWidget

from .controls import PROGRESS_STEPS, RunControls
from .inputs import ImageSource
from .work import ProgressRelay, RunProgress

__all__ = ["Runner"]


class Runner(QObject):
    """One background run at a time, with its progress bar and status line.

    A child of the dock widget, so that a worker still reporting after the
    widget was destroyed reaches nothing.

    Parameters
    ----------
    widget : QWidget
        The dock widget: a run stops when it is destroyed.
    controls : RunControls
        The progress bar, status line and Cancel button.
    on_result : callable
        Called on the GUI thread with what a run returned, unless it was stopped.

    Attributes
    ----------
    worker : GeneratorWorker or None
        The run in progress, if any.
    source : ImageSource or None
        What it segments.
    finished_note : str
        Shown after "Finished in … s." once the run has finished.
    """

    def __init__(self, widget: QWidget, controls: RunControls, on_result: Callable[[Any], None]) -> None:
        super().__init__(widget)
        self.widget, self.controls, self.on_result = widget, controls, on_result
        self.worker = None
        self.source: ImageSource | None = None
        self.finished_note = ""
        self._queued: tuple | None = None
        self._started_at = 0.0
        self._message = ""
        self._clock = QTimer(widget)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._show_status)

    def start(self, steps: Any, arguments: tuple, source: ImageSource) -> None:
        """Run the generator function ``steps(*arguments)`` in a worker thread.

        Only one worker runs at a time (the fits use all cores): a running
        one is asked to stop and this run starts when it has.
        """
        if self.worker is not None:
            self._queued = (steps, arguments, source)
            self.worker.quit()
            return
        worker = thread_worker(steps, start_thread=False)(*arguments)
        for argument in arguments:
            if isinstance(argument, ProgressRelay):
                argument.worker = worker
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.finished.connect(self._on_finished)
        # The dock widget is destroyed with the viewer: stop the fit then too.
        self.widget.destroyed.connect(worker.quit)
        self.worker = worker
        self.source = source
        self._started_at = time.monotonic()
        self._message = "Computing features…"
        self.finished_note = ""
        self.controls.progress_bar.setValue(0)
        self.show_running(True)
        worker.start()

    def cancel(self) -> None:
        """Stop the run in progress (at its next iteration) and forget any queued one."""
        self._queued = None
        if self.worker is not None:
            self._message = "Cancelling…"
            self._show_status()
            self.worker.quit()

    def drop_queued_run_of(self, layer: Any) -> None:
        """Forget the queued run if it segments ``layer`` (which was removed)."""
        if self._queued is not None and self._queued[2].uses(layer):
            self._queued = None

    def _on_progress(self, progress: RunProgress) -> None:
        self.controls.progress_bar.setValue(round(progress.fraction * PROGRESS_STEPS))
        self._message = progress.message
        self._show_status()

    def _show_status(self) -> None:
        elapsed = time.monotonic() - self._started_at
        self.controls.status_label.setText(f"{self._message} ({elapsed:.0f} s)")

    def _on_returned(self, result: Any) -> None:
        # A run asked to stop may have finished just before it saw the request: drop its result.
        if not self.worker.abort_requested:
            self.on_result(result)

    def _on_finished(self) -> None:
        worker = self.worker
        self.widget.destroyed.disconnect(worker.quit)
        elapsed = time.monotonic() - self._started_at
        if worker.abort_requested:
            self.controls.status_label.setText(f"Stopped after {elapsed:.0f} s.")
        else:
            self.controls.status_label.setText(f"Finished in {elapsed:.1f} s. {self.finished_note}".strip())
        self.worker = None
        self.source = None
        self.show_running(False)
        if self._queued is not None:
            queued, self._queued = self._queued, None
            self.start(*queued)

    def show_running(self, running: bool) -> None:
        """Enable Cancel and show the progress bar while a run is in progress; the clock ticks meanwhile."""
        self.controls.cancel_button.setEnabled(running)
        self.controls.progress_bar.setVisible(running)
        if running:
            self._clock.start()
        else:
            self._clock.stop()
