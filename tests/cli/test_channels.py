"""Choosing channels (--channel) and refusing implausible channel axes. Run as a user runs it: the console
script in a subprocess."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files
from napari_sinkhorn_em.segmentation import Segmenter


@pytest.fixture
def two_channels(tmp_path, three_bands):
    """An OME-TIFF with channels C: channel 0 is noise, channel 1 holds three bands."""
    noise = np.random.default_rng(5).integers(0, 50, (40, 60)).astype(np.uint16)
    image = np.stack([noise, three_bands])
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, image, ome=True, metadata={"axes": "CYX"})
    return path, image


def test_channel_picks_one_channel(tmp_path, two_channels, console_script, cli_fast):
    path, image = two_channels
    out = tmp_path / "out"

    result = console_script("segment", path, "--channel", "1", "--out", out, *cli_fast)

    assert result.returncode == 0, result.stderr
    expected = Segmenter(3, sample_size=2000).fit_predict(image[1])
    np.testing.assert_array_equal(image_files.read_image(out / "cells_labels.tif").data, expected)


def test_channel_is_repeatable_and_keeps_the_channel_axis(tmp_path, two_channels, console_script, cli_fast):
    path, image = two_channels
    out = tmp_path / "out"

    result = console_script("segment", path, "--channel", "1", "--channel", "0", "--out", out, *cli_fast)

    assert result.returncode == 0, result.stderr
    expected = Segmenter(3, sample_size=2000).fit_predict(image[[1, 0]], channel_axis=0)
    np.testing.assert_array_equal(image_files.read_image(out / "cells_labels.tif").data, expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--channel", "2"], "has 2 channel(s), numbered 0 to 1, so there is no channel 2"),
        (["--channel", "0", "--channel-axis", "-1", "--force-channel-axis"], None),
    ],
    ids=["beyond", "forced"],
)
def test_channel_errors_name_the_channels(tmp_path, two_channels, arguments, message, console_script, cli_fast):
    path, _ = two_channels
    result = console_script("segment", path, *arguments, "--out", tmp_path / "out", *cli_fast)
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_channel_on_an_image_without_channels_says_so(tmp_path, console_script, gray_tiff, cli_fast):
    result = console_script("segment", tmp_path / "gray.tif", "--channel", "0", "--out", tmp_path / "out", *cli_fast)
    assert result.returncode == 1 and "has no channel axis; give the axis with --channel-axis" in result.stderr


def test_a_long_channel_axis_on_a_2d_image_is_an_error_unless_forced(tmp_path, console_script, gray_tiff, cli_fast):
    out = tmp_path / "out"

    refused = console_script("segment", tmp_path / "gray.tif", "--channel-axis", "-1", "--out", out, *cli_fast)

    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "--channel-axis -1 is an axis of 60 values (image shape 40 × 60)" in refused.stderr
    assert "--force-channel-axis" in refused.stderr and not (out / "gray_labels.tif").exists()

    # Forced: an axis of 20 values taken as 20 channels of a 2-D image.
    spectral = np.random.default_rng(0).integers(0, 255, (24, 30, 20)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "spectral.tif", spectral)
    forced = console_script("segment", tmp_path / "spectral.tif", "--channel-axis", "-1", "--force-channel-axis",
                            "-k", "2", "--out", out, *cli_fast)
    assert forced.returncode == 0, forced.stderr
    assert image_files.read_image(out / "spectral_labels.tif").data.shape == (24, 30)


def test_compare_checks_the_channel_axis_too(tmp_path, console_script, gray_tiff, cli_fast):
    result = console_script("compare", tmp_path / "gray.tif", "--channel-axis", "1", "--out", tmp_path / "out",
                            *cli_fast)
    assert result.returncode == 2 and "is an axis of 60 values" in result.stderr
