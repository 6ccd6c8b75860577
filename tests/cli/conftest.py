"""Inputs and runners shared by the command-line tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile


def _write_input(path, seed, *, scale=(0.5, 0.25)):
    """A 2-D OME-TIFF with three noisy vertical bands of equal size and the given pixel size."""
    rng = np.random.default_rng(seed)
    bands = np.repeat(np.array([100.0, 160.0, 220.0]), [21, 21, 22])[None, :].repeat(48, axis=0)
    image = np.round(bands + rng.normal(0.0, 15.0, bands.shape)).astype(np.uint16)
    metadata = {"axes": "YX", "PhysicalSizeY": scale[0], "PhysicalSizeX": scale[1]}
    tifffile.imwrite(path, image, ome=True, metadata=metadata)
    return path


@pytest.fixture
def inputs(tmp_path):
    """Two three-band OME-TIFFs in tmp_path/in: a.ome.tif (0.5 x 0.25 µm pixels) and b.tif (2 x 3 µm)."""
    folder = tmp_path / "in"
    folder.mkdir()
    return [_write_input(folder / "a.ome.tif", 0), _write_input(folder / "b.tif", 1, scale=(2.0, 3.0))]


@pytest.fixture
def console_script():
    """A function ``(*arguments) -> CompletedProcess``: the installed command run as a user runs it."""
    script = shutil.which("napari-sinkhorn-em", path=os.path.dirname(sys.executable))

    def run(*arguments):
        return subprocess.run([script, *map(str, arguments)], capture_output=True, text=True, timeout=300)

    return run


@pytest.fixture
def three_bands():
    """A (40, 60) uint16 image of three noisy vertical bands (100, 160, 220)."""
    rng = np.random.default_rng(0)
    levels = np.repeat(np.array([100.0, 160.0, 220.0]), 20)
    return np.round(levels[None, :] + rng.normal(0.0, 10.0, (40, 60))).astype(np.uint16)


@pytest.fixture
def gray_tiff(tmp_path, three_bands):
    """:func:`three_bands` as a plain TIFF, tmp_path/gray.tif."""
    tifffile.imwrite(tmp_path / "gray.tif", three_bands)
    return tmp_path / "gray.tif"


@pytest.fixture
def good_image():
    """A function ``(path, seed=0) -> path``: writes a (32, 32) two-level TIFF there."""

    def write(path, seed=0):
        rng = np.random.default_rng(seed)
        image = np.round(rng.normal(100.0, 10.0, (32, 32)) + 60.0 * (np.arange(32) >= 16)).astype(np.uint16)
        tifffile.imwrite(path, image)
        return path

    return write
