"""Progress: plain lines in a log file, one redrawn bar on a terminal."""

from __future__ import annotations

import io

from napari_sinkhorn_em.cli.progress import ProgressBar


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path, console_script, gray_tiff, cli_fast):

    result = console_script("segment", tmp_path / "gray.tif", "--out", tmp_path / "out", *cli_fast)

    assert result.returncode == 0 and "\r" not in result.stderr
    assert "gray.tif: fit 100%" in result.stderr.splitlines()


def test_progress_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ProgressBar("a.tif", stream)
    bar("fit", 0.5)
    bar("fit", 1.0)
    bar.close()
    assert stream.getvalue().count("\r") == 2 and stream.getvalue().endswith("\n")
