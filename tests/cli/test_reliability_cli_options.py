"""Issue 18, command line: choosing channels, implausible channel axes, K = 1, changed settings and
progress in log files. Run as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import io as text_io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files as io
from napari_sinkhorn_em.cli.progress import ProgressBar
from napari_sinkhorn_em.segmentation.segmenter import Segmenter

FAST = ["--sample-size", "2000"]


def _cli(*arguments):
    script = shutil.which("napari-sinkhorn-em", path=os.path.dirname(sys.executable))
    return subprocess.run([script, *map(str, arguments)], capture_output=True, text=True, timeout=300)


def _bands(seed=0, shape=(40, 60)):
    rng = np.random.default_rng(seed)
    levels = np.repeat(np.array([100.0, 160.0, 220.0]), -(-shape[1] // 3))[: shape[1]]
    return np.round(levels[None, :] + rng.normal(0.0, 10.0, shape)).astype(np.uint16)


@pytest.fixture
def two_channels(tmp_path):
    """An OME-TIFF with channels C: channel 0 is noise, channel 1 holds three bands."""
    noise = np.random.default_rng(5).integers(0, 50, (40, 60)).astype(np.uint16)
    image = np.stack([noise, _bands()])
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, image, ome=True, metadata={"axes": "CYX"})
    return path, image


def test_channel_picks_one_channel(tmp_path, two_channels):
    path, image = two_channels
    out = tmp_path / "out"

    result = _cli("segment", path, "--channel", "1", "--out", out, *FAST)

    assert result.returncode == 0, result.stderr
    expected = Segmenter(3, sample_size=2000).fit_predict(image[1])
    np.testing.assert_array_equal(io.read_image(out / "cells_labels.tif").data, expected)


def test_channel_is_repeatable_and_keeps_the_channel_axis(tmp_path, two_channels):
    path, image = two_channels
    out = tmp_path / "out"

    result = _cli("segment", path, "--channel", "1", "--channel", "0", "--out", out, *FAST)

    assert result.returncode == 0, result.stderr
    expected = Segmenter(3, sample_size=2000).fit_predict(image[[1, 0]], channel_axis=0)
    np.testing.assert_array_equal(io.read_image(out / "cells_labels.tif").data, expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--channel", "2"], "has 2 channel(s), numbered 0 to 1, so there is no channel 2"),
        (["--channel", "0", "--channel-axis", "-1", "--force-channel-axis"], None),
    ],
    ids=["beyond", "forced"],
)
def test_channel_errors_name_the_channels(tmp_path, two_channels, arguments, message):
    path, _ = two_channels
    result = _cli("segment", path, *arguments, "--out", tmp_path / "out", *FAST)
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_channel_on_an_image_without_channels_says_so(tmp_path):
    tifffile.imwrite(tmp_path / "gray.tif", _bands())
    result = _cli("segment", tmp_path / "gray.tif", "--channel", "0", "--out", tmp_path / "out", *FAST)
    assert result.returncode == 1 and "has no channel axis; give the axis with --channel-axis" in result.stderr


def test_a_long_channel_axis_on_a_2d_image_is_an_error_unless_forced(tmp_path):
    tifffile.imwrite(tmp_path / "gray.tif", _bands())
    out = tmp_path / "out"

    refused = _cli("segment", tmp_path / "gray.tif", "--channel-axis", "-1", "--out", out, *FAST)

    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "--channel-axis -1 is an axis of 60 values (image shape 40 × 60)" in refused.stderr
    assert "--force-channel-axis" in refused.stderr and not (out / "gray_labels.tif").exists()

    # Forced: an axis of 20 values taken as 20 channels of a 2-D image.
    spectral = np.random.default_rng(0).integers(0, 255, (24, 30, 20)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "spectral.tif", spectral)
    forced = _cli("segment", tmp_path / "spectral.tif", "--channel-axis", "-1", "--force-channel-axis", "-k", "2",
                  "--out", out, *FAST)
    assert forced.returncode == 0, forced.stderr
    assert io.read_image(out / "spectral_labels.tif").data.shape == (24, 30)


def test_compare_checks_the_channel_axis_too(tmp_path):
    tifffile.imwrite(tmp_path / "gray.tif", _bands())
    result = _cli("compare", tmp_path / "gray.tif", "--channel-axis", "1", "--out", tmp_path / "out", *FAST)
    assert result.returncode == 2 and "is an axis of 60 values" in result.stderr


def test_one_class_is_refused_with_a_sentence(tmp_path):
    tifffile.imwrite(tmp_path / "gray.tif", _bands())
    result = _cli("segment", tmp_path / "gray.tif", "-k", "1", "--out", tmp_path / "out")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "at least 2 (one class would label every pixel 1" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--object-classes", "1"], "add --instances"),
        (["--instances", "--object-classes", "4"], "names class 4, but there are only 3 classes"),
    ],
)
def test_object_classes_are_checked_before_any_work(tmp_path, arguments, message):
    tifffile.imwrite(tmp_path / "gray.tif", _bands())
    result = _cli("segment", tmp_path / "gray.tif", *arguments, "--out", tmp_path / "out")
    assert result.returncode == 2 and message in result.stderr


def test_an_existing_output_made_with_other_settings_is_not_skipped_silently(tmp_path):
    tifffile.imwrite(tmp_path / "gray.tif", _bands())
    out = tmp_path / "out"
    assert _cli("segment", tmp_path / "gray.tif", "-k", "2", "--out", out, *FAST).returncode == 0
    first = (out / "gray_labels.tif").read_bytes()

    same = _cli("segment", tmp_path / "gray.tif", "-k", "2", "--out", out, *FAST)
    assert same.returncode == 0 and "skipped" in same.stderr

    changed = _cli("segment", tmp_path / "gray.tif", "-k", "3", "--out", out, *FAST)
    assert changed.returncode == 1
    assert "already exists but was made with other settings (n_components 2 there, 3 now)" in changed.stderr
    assert (out / "gray_labels.tif").read_bytes() == first  # kept

    replaced = _cli("segment", tmp_path / "gray.tif", "-k", "3", "--out", out, "--overwrite", *FAST)
    assert replaced.returncode == 0 and io.read_image(out / "gray_labels.tif").data.max() == 3


def test_a_finished_zarr_output_made_with_other_settings_is_not_skipped_silently(tmp_path):
    zarr = pytest.importorskip("zarr")
    source = tmp_path / "stack.zarr"
    zarr.create_array(store=str(source), shape=(40, 60), chunks=(20, 30), dtype="uint16")[...] = _bands()
    out = tmp_path / "out"
    assert _cli("segment", source, "-k", "2", "--out", out, *FAST).returncode == 0

    changed = _cli("segment", source, "-k", "3", "--out", out, *FAST)

    assert changed.returncode == 1 and "n_components 2 there, 3 now" in changed.stderr


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    tifffile.imwrite(tmp_path / "gray.tif", _bands())

    result = _cli("segment", tmp_path / "gray.tif", "--out", tmp_path / "out", *FAST)

    assert result.returncode == 0 and "\r" not in result.stderr
    assert "gray.tif: fit 100%" in result.stderr.splitlines()


def test_progress_redraws_one_line_on_a_terminal():
    class Terminal(text_io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ProgressBar("a.tif", stream)
    bar("fit", 0.5)
    bar("fit", 1.0)
    bar.close()
    assert stream.getvalue().count("\r") == 2 and stream.getvalue().endswith("\n")
