"""Progress of a command on its text stream (a terminal or a log)."""

from __future__ import annotations

from typing import TextIO

_BAR_WIDTH = 24
# Without a terminal, progress is one plain line per stage and quarter of it.
_PLAIN_STEPS = 4


class ProgressBar:
    """Progress on a text stream, fed ``(stage, fraction)`` by the pipeline.

    On a terminal: one bar redrawn in place with ``\\r``. Otherwise (a log
    file, a pipe): a plain line when a stage starts and at each quarter of it.
    """

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name = name
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self.shown: tuple[str, int] | None = None

    def __call__(self, stage: str, fraction: float) -> None:
        filled = round(fraction * (_BAR_WIDTH if self.terminal else _PLAIN_STEPS))
        if self.shown == (stage, filled):
            return
        self.shown = (stage, filled)
        if self.terminal:
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            self.stream.write(f"\r{self.name}: [{bar}] {fraction:4.0%} {stage:<24}")
        else:
            self.stream.write(f"{self.name}: {stage} {filled / _PLAIN_STEPS:.0%}\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (once, and only if something was drawn on a terminal)."""
        if self.shown is not None and self.terminal:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = None
