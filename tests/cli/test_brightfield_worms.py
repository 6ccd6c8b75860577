"""The worms recipe from the command line: bright-field features, an automatic well mask and class
sizes given as rough percentages. Run as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import data
from napari_sinkhorn_em.features import WELL_MARGIN, largest_bright_region


@pytest.fixture(scope="module")
def well(tmp_path_factory):
    """The worms sample as a plain TIFF without a voxel size: filter scales are then in pixels."""
    path = tmp_path_factory.mktemp("wells") / "well.tif"
    sample = data.worms_2d()
    tifffile.imwrite(path, sample.image)
    return path, sample


def test_brightfield_features_an_automatic_well_mask_and_rough_percentages_find_the_worms(
    well, tmp_path, console_script
):
    path, sample = well
    result = console_script("segment", path, "--out", tmp_path, "-k", "2", "--features", "brightfield",
                            "--auto-mask", "largest_bright_region", "--class-sizes", "15,85", "--sample-size", "20000")
    assert result.returncode == 0, result.stderr
    labels = tifffile.imread(tmp_path / "well_labels.tif")
    well_mask = largest_bright_region(sample.image, margin=WELL_MARGIN)
    np.testing.assert_array_equal(labels > 0, well_mask)
    worms = labels == 1
    assert np.count_nonzero(worms & sample.foreground) / np.count_nonzero(worms | sample.foreground) > 0.7
    # The report says which class got which size and that the share was searched near the guess.
    printed = re.search(r"class sizes 1: ([0-9.]+)%, 2: ([0-9.]+)%", result.stderr)
    assert printed is not None and float(printed[1]) + float(printed[2]) == pytest.approx(100, abs=0.2)
    assert float(printed[1]) == pytest.approx(100 * np.mean(worms[well_mask]), abs=1.0)
    assert "around the 15% given" in result.stderr


def test_size_tolerance_1_holds_the_typed_share(well, tmp_path, console_script):
    path, sample = well
    result = console_script("segment", path, "--out", tmp_path, "-k", "2", "--features", "brightfield",
                            "--auto-mask", "largest_bright_region", "--class-sizes", "15,85", "--size-tolerance", "1",
                            "--sample-size", "5000")
    assert result.returncode == 0, result.stderr
    labels = tifffile.imread(tmp_path / "well_labels.tif")
    assert abs(np.mean(labels[labels > 0] == 1) - 0.15) < 0.01
    assert "around the" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--size-tolerance", "0.5", "--class-sizes", "10,90"], "--size-tolerance is a factor of 1 or more"),
        (["--class-sizes", "10,80,10"], "gives 3 sizes but there are 2 classes"),
        (["--class-sizes=-10,110"], "one positive number per class"),
        (["--auto-mask", "wells"], "invalid choice: 'wells'"),
    ],
)
def test_bad_worm_options_are_one_sentence(well, tmp_path, arguments, message, console_script):
    path, _ = well
    result = console_script("segment", path, "--out", tmp_path, "-k", "2", *arguments)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr
