"""Tests of reading images with their voxel size and of the atomic writer (napari_sinkhorn_em.image_files)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files


def _leftovers(folder):
    """Files in ``folder`` that a writer may have left behind (temporary files are hidden)."""
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_read_ome_tiff_gives_channel_axis_and_voxel_size(tmp_path):
    data = np.arange(3 * 2 * 4 * 5, dtype=np.uint16).reshape(3, 2, 4, 5)
    path = tmp_path / "stack.ome.tif"
    metadata = {"axes": "ZCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25, "PhysicalSizeZ": 2.0}
    tifffile.imwrite(path, data, ome=True, metadata=metadata)

    image = image_files.read_image(path)

    np.testing.assert_array_equal(image.data, data)
    assert image.axes == "ZCYX"
    assert image.channel_axis == 1
    assert image.scale == (2.0, 0.25, 0.5)


def test_read_ome_tiff_converts_units_to_micrometres(tmp_path):
    path = tmp_path / "nm.ome.tif"
    metadata = {"axes": "YX", "PhysicalSizeX": 100.0, "PhysicalSizeXUnit": "nm",
                "PhysicalSizeY": 0.002, "PhysicalSizeYUnit": "mm"}
    tifffile.imwrite(path, np.zeros((4, 5), np.uint8), ome=True, metadata=metadata)

    assert image_files.read_image(path).scale == pytest.approx((2.0, 0.1))


def test_read_imagej_hyperstack_gives_spacing_and_resolution(tmp_path):
    data = np.zeros((3, 2, 4, 5), dtype=np.uint16)
    path = tmp_path / "imagej.tif"
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.5, 1 / 0.25),
                     metadata={"axes": "ZCYX", "spacing": 1.5, "unit": "micron"})

    image = image_files.read_image(path)

    assert image.channel_axis == 1
    assert image.scale == pytest.approx((1.5, 0.25, 0.5))


def test_plain_tiff_has_no_voxel_size(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((6, 7), np.uint8))

    image = image_files.read_image(path)

    assert image.scale is None
    assert image.channel_axis is None


def test_damaged_tiff_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"this is not a TIFF file")

    with pytest.raises(ValueError, match="broken.tif could not be read as a TIFF"):
        image_files.read_image(path)


def test_write_tiff_round_trip_keeps_values_and_voxel_size(tmp_path):
    labels = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    path = image_files.write_tiff(tmp_path / "labels.tif", labels, scale=(2.0, 0.5, 0.25))

    image = image_files.read_image(path)

    np.testing.assert_array_equal(image.data, labels)
    assert image.data.dtype == np.uint16
    assert image.scale == (2.0, 0.5, 0.25)


def test_atomic_write_refuses_to_overwrite_by_default(tmp_path):
    path = tmp_path / "result.bin"
    path.write_bytes(b"original")

    with pytest.raises(FileExistsError, match="already exists"):
        with image_files.atomic_write(path) as handle:
            handle.write(b"new")

    assert path.read_bytes() == b"original"
    assert _leftovers(tmp_path) == []


def test_atomic_write_replaces_with_overwrite(tmp_path):
    path = tmp_path / "result.bin"
    path.write_bytes(b"original")

    with image_files.atomic_write(path, overwrite=True) as handle:
        handle.write(b"new")

    assert path.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_failed_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "result.bin"

    with pytest.raises(RuntimeError, match="disk full"):
        with image_files.atomic_write(path) as handle:
            handle.write(b"half of the data")
            raise RuntimeError("disk full")

    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path):
    path = tmp_path / "labels.tif"
    image_files.write_tiff(path, np.ones((4, 4), np.uint8))

    with pytest.raises(ValueError):
        image_files.write_tiff(path, np.ones((2, 2, 2, 2), np.uint8), overwrite=True)
    with pytest.raises(TypeError):
        with image_files.atomic_write(path, overwrite=True) as handle:
            handle.write("text, not bytes")

    np.testing.assert_array_equal(image_files.read_image(path).data, np.ones((4, 4), np.uint8))
    assert _leftovers(tmp_path) == []
