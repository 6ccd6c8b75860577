"""Reading and writing image files (image_files): unreadable files and unstorable arrays are clear errors."""

import os

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files


def _listing(folder):
    return sorted(os.listdir(folder))


def _make(tmp_path, kind):
    path = tmp_path / f"{kind}.tif"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("cell_id,area\n1,20\n")
    elif kind == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    elif kind == "truncated":
        tifffile.imwrite(path, np.random.default_rng(0).random((64, 64)))
        path.write_bytes(path.read_bytes()[:5000])
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize(
    "kind, error, message",
    [
        ("missing", FileNotFoundError, "missing.tif does not exist; check the folder and the file name"),
        ("folder", ValueError, "folder.tif is a folder, not an image file"),
        ("empty", ValueError, "empty.tif is empty \\(0 bytes\\).*copy or save it again"),
        ("text", ValueError, "text.tif could not be read as a TIFF image.*File > Save As > Tiff"),
        ("png", ValueError, "png.tif could not be read as a TIFF image.*not a TIFF file"),
        ("truncated", ValueError, "truncated.tif could not be read as a TIFF image.*copied again"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path, kind, error, message):
    path = _make(tmp_path, kind)
    with pytest.raises(error, match=message):
        image_files.read_image(path)


@pytest.mark.parametrize(
    "array, stored_dtype",
    [
        (np.arange(12, dtype=np.int64).reshape(3, 4), np.int32),
        (np.arange(12, dtype=np.uint64).reshape(3, 4) + 2**31, np.uint32),
        (np.arange(12, dtype=np.float16).reshape(3, 4) / 4, np.float32),
        (np.eye(3, dtype=bool), np.uint8),
        (np.arange(24, dtype=">u2").reshape(2, 3, 4), np.uint16),
        (np.arange(36, dtype=np.int32).reshape(6, 6)[::2, ::3], np.int32),
    ],
    ids=["int64", "uint64", "float16", "bool", "big-endian 3-D", "strided"],
)
def test_write_tiff_round_trips_every_numeric_array(tmp_path, array, stored_dtype):
    image = image_files.read_image(image_files.write_tiff(tmp_path / "out.tif", array))
    assert image.data.dtype == stored_dtype
    np.testing.assert_array_equal(image.data, array)


@pytest.mark.parametrize(
    "array, kwargs, message",
    [
        (np.array([[0, 2**40]], dtype=np.int64), {}, "do not fit in 32 bits"),
        (np.zeros((2, 2), dtype=object), {}, "Only numeric images"),
        (np.zeros(4), {}, "2-D and 3-D"),
        (np.zeros((2, 2)), {"scale": (1.0,)}, "one voxel size per axis"),
        (np.zeros((2, 2)), {"scale": (1.0, -0.5)}, "positive number"),
        (np.zeros((2, 2)), {"scale": (1.0, float("nan"))}, "positive number"),
    ],
)
def test_write_tiff_refuses_what_it_cannot_store_and_writes_nothing(tmp_path, array, kwargs, message):
    with pytest.raises(ValueError, match=message):
        image_files.write_tiff(tmp_path / "out.tif", array, **kwargs)
    assert _listing(tmp_path) == []


def test_write_tiff_never_overwrites_without_permission(tmp_path):
    path = image_files.write_tiff(tmp_path / "labels.tif", np.ones((4, 4), np.uint8))
    before, stat = path.read_bytes(), path.stat()
    with pytest.raises(FileExistsError, match="labels.tif already exists.*allow overwriting"):
        image_files.write_tiff(path, np.zeros((4, 4), np.uint8))
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert _listing(tmp_path) == ["labels.tif"]
    image_files.write_tiff(path, np.zeros((4, 4), np.uint8), overwrite=True)
    np.testing.assert_array_equal(image_files.read_image(path).data, 0)


def test_write_tiff_to_a_folder_or_into_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name in it"):
        image_files.write_tiff(tmp_path, np.ones((2, 2)), overwrite=True)
    with pytest.raises(FileNotFoundError, match="The folder .*missing does not exist; create it first"):
        image_files.write_tiff(tmp_path / "missing" / "labels.tif", np.ones((2, 2)))
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, MemoryError, OSError])
@pytest.mark.parametrize("existing", [False, True])
def test_an_interrupted_write_leaves_the_folder_as_it_was(tmp_path, monkeypatch, interruption, existing):
    path = tmp_path / "labels.tif"
    if existing:
        image_files.write_tiff(path, np.full((4, 4), 7, np.uint8))
    before = {name: (tmp_path / name).read_bytes() for name in _listing(tmp_path)}

    def half_written(handle, *args, **kwargs):
        handle.write(b"II*\x00" + bytes(100))  # the start of a TIFF, then the crash
        raise interruption("interrupted")

    monkeypatch.setattr(tifffile, "imwrite", half_written)
    with pytest.raises(interruption):
        image_files.write_tiff(path, np.ones((4, 4), np.uint8), overwrite=True)
    assert {name: (tmp_path / name).read_bytes() for name in _listing(tmp_path)} == before

    # The same directly inside atomic_write, with and without overwrite permission.
    with pytest.raises(interruption):
        with image_files.atomic_write(tmp_path / "other.bin") as handle:
            handle.write(b"partial")
            raise interruption("interrupted")
    assert {name: (tmp_path / name).read_bytes() for name in _listing(tmp_path)} == before
