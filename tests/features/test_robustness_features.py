"""Robustness of extract_features and of reading / writing images (features.py, io.py).

The rule: every bad input is an error that names the problem and the fix; a degenerate but
valid image gives finite features (and a finite, positive standardisation), never NaN.
"""

import os
import warnings

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import image_files as io
from napari_sinkhorn_em.features.extract import extract_features

SMALL = dict(features="multiscale", sigmas=(1.0, 2.0))


def image_2d(seed=0, shape=(12, 13)):
    return np.random.default_rng(seed).integers(0, 200, size=shape).astype(np.float64)


def assert_valid_stack(stack, n_points):
    assert stack.data.dtype == np.float32 and stack.data.shape[0] == n_points
    assert np.isfinite(stack.data).all()
    if stack.scaling is not None:
        assert np.isfinite(stack.scaling.center).all()
        assert np.isfinite(stack.scaling.scale).all() and (stack.scaling.scale > 0).all()


def no_warnings(function, *args, **kwargs):
    """Call with every warning (e.g. numpy's division by zero) turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


# ---------------------------------------------------------------- NaN and inf


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f8"])
@pytest.mark.parametrize(
    "where, kwargs",
    [
        ((0, 0), {}),
        ((2, 5, 6), {"channel_axis": 0}),  # in the last channel only
        ((3, 4), {"mask": np.arange(12 * 13).reshape(12, 13) > 100}),  # under the mask
    ],
    ids=["pixel", "one channel", "masked out"],
)
def test_nan_and_inf_pixels_are_refused_with_how_to_replace_them(bad, dtype, where, kwargs):
    image = image_2d() if "channel_axis" not in kwargs else np.stack([image_2d(s) for s in range(3)])
    image = image.astype(dtype)
    image[where] = bad
    with pytest.raises(ValueError) as error:
        extract_features(image, **kwargs)
    message = str(error.value)
    assert "NaN or infinite pixel values" in message
    assert "np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)" in message and "mask=" in message


@pytest.mark.parametrize(
    "image",
    [np.array([[3e38, -3e38], [1.0, 1.0]], dtype=np.float32), np.full((6, 6), 1e30) * np.eye(6)],
    ids=["float32 extremes", "1e30 spikes"],
)
def test_intensities_that_overflow_a_filter_are_a_clear_error(image):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning before the error
        with pytest.raises(ValueError, match="overflows 32-bit floats.*Rescale the image"):
            extract_features(image, features="multiscale", sigmas=(1.0,))
    # Intensity alone holds them.
    assert_valid_stack(extract_features(image, standardize=False), image.size)


def test_float64_beyond_float32_is_refused():
    with pytest.raises(ValueError, match="too large for 32-bit floats.*rescale"):
        extract_features(np.array([[1e39, 0.0], [0.0, 0.0]]))


# ---------------------------------------------------------------- degenerate images


@pytest.mark.parametrize("value", [0.0, -3.5, 60000.0])
@pytest.mark.parametrize("shape", [(9, 10), (4, 9, 10)])
@pytest.mark.parametrize("mask", [False, True])
def test_constant_images_give_finite_features_and_an_identity_scale(value, shape, mask):
    image = np.full(shape, value)
    select = np.zeros(shape, bool) if mask else None
    if mask:
        select[..., 2:5] = True
    stack = no_warnings(extract_features, image, coordinates=True, mask=select, **SMALL)
    assert_valid_stack(stack, int(select.sum()) if mask else image.size)
    # Every filter column is constant: centred to 0, never divided by a zero spread.
    np.testing.assert_array_equal(stack.scaling.scale, 1.0)
    assert np.abs(stack.data[:, : -len(shape)]).max() < 1e-3 * max(1.0, abs(value))


def test_a_constant_channel_beside_a_textured_one_is_finite():
    image = np.stack([image_2d(), np.zeros((12, 13))], axis=-1)
    stack = no_warnings(extract_features, image, channel_axis=-1, **SMALL)
    assert_valid_stack(stack, 12 * 13)
    constant = [i for i, name in enumerate(stack.names) if name.startswith("ch1:")]
    np.testing.assert_array_equal(stack.scaling.scale[constant], 1.0)
    np.testing.assert_array_equal(stack.data[:, constant], 0.0)


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 1, 1), (1, 17), (17, 1), (1, 1, 9), (1, 8, 9), (2, 1, 9)],
)
def test_tiny_and_flat_images_give_finite_features(shape):
    image = np.random.default_rng(1).random(shape) * 100
    stack = no_warnings(extract_features, image, coordinates=True, features="multiscale", sigmas=(0.5, 3.0))
    n_features = 2 * (4 + 2 * len(shape)) + len(shape)
    assert stack.data.shape == (image.size, n_features)
    assert_valid_stack(stack, image.size)


@pytest.mark.parametrize("scale", [None, (5.0, 0.5, 0.5)])
@pytest.mark.parametrize("n_slices", [1, 3])
def test_a_stack_flat_along_z_does_not_blow_up_round_off(scale, n_slices):
    # Along a flat axis some Hessian and structure-tensor eigenvalues are exactly 0 in exact
    # arithmetic and ~1e-16 in floating point; standardising by that round-off used to turn
    # them into values of 1e15. They must stay on the scale of the real features.
    plane = np.random.default_rng(2).random((16, 17)) * 100
    image = np.repeat(plane[None], n_slices, axis=0)
    stack = extract_features(image, scale=scale, **SMALL)
    assert_valid_stack(stack, image.size)
    assert np.abs(stack.data).max() < 1e3
    raw = extract_features(image, scale=scale, standardize=False, **SMALL)
    eigenvalue = stack.names.index("ch0:structure_tensor_eigenvalues[0](s=1)")
    assert np.abs(raw.data[:, eigenvalue]).max() < 1e-6 * np.abs(raw.data).max()
    assert stack.scaling.scale[eigenvalue] == 1.0


# ---------------------------------------------------------------- shapes and axes


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((8,), {}, "1 spatial axes.*reshape\\(1, -1\\)"),
        ((2, 3, 4, 5), {}, "4 spatial axes.*channel_axis"),
        ((2,) * 6, {}, "6 spatial axes.*pass its index as channel_axis"),
        ((2,) * 6, {"channel_axis": 0}, "5 spatial axes.*one time point at a time"),
        ((3, 8), {"channel_axis": 0}, "1 spatial axes"),
        ((3, 4, 5), {"channel_axis": 3}, "channel_axis=3 is out of range.*-3 to 2"),
        ((3, 4, 5), {"channel_axis": -4}, "out of range"),
        ((3, 4, 5), {"channel_axis": 1.0}, "channel_axis must be an axis index"),
        ((3, 4, 5), {"channel_axis": "0"}, "channel_axis must be an axis index"),
        ((3, 4, 5), {"channel_axis": True}, "channel_axis must be an axis index"),
        ((0, 5), {}, "no pixels"),
    ],
)
def test_wrong_dimensions_and_channel_axes_are_refused(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_features(np.zeros(shape), **kwargs)


# ---------------------------------------------------------------- array flavours


def flavours(values, tmp_path):
    """The same pixel values (integers 0..199) as every accepted kind of array."""
    for dtype in (np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float64, ">f8", ">u2", "<f4"):
        yield np.dtype(dtype).str, values.astype(dtype)
    wide = np.zeros(values.shape[:-1] + (2 * values.shape[-1],))
    wide[..., ::2] = values
    yield "every other column", wide[..., ::2]
    yield "reversed strides", values[::-1, ::-1].copy()[::-1, ::-1]
    yield "Fortran order", np.asfortranarray(values)
    memmap = np.memmap(tmp_path / "image.dat", dtype=np.uint16, mode="w+", shape=values.shape)
    memmap[:] = values
    memmap.flush()
    yield "memmap", np.memmap(tmp_path / "image.dat", dtype=np.uint16, mode="r", shape=values.shape)
    yield "nested list", values.tolist()


@pytest.mark.parametrize("kwargs", [dict(), dict(channel_axis=0)], ids=["2-D", "channels"])
def test_every_array_flavour_gives_the_features_of_its_values(kwargs, tmp_path):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 200, size=(2, 10, 11) if kwargs else (10, 11)).astype(np.float32)
    settings_ = dict(coordinates=True, **SMALL, **kwargs)
    reference = extract_features(values, **settings_)
    for name, image in flavours(values, tmp_path):
        stack = extract_features(image, **settings_)
        np.testing.assert_array_equal(stack.data, reference.data, err_msg=name)
        np.testing.assert_array_equal(stack.scaling.scale, reference.scaling.scale, err_msg=name)
    # Booleans are their 0/1 values.
    bits = values > 100
    np.testing.assert_array_equal(
        extract_features(bits, **settings_).data, extract_features(bits.astype(np.float32), **settings_).data
    )


def test_a_dask_array_gives_the_features_of_its_values():
    dask_array = pytest.importorskip("dask.array")
    values = image_2d(4, shape=(3, 20, 21))
    lazy = dask_array.from_array(values, chunks=(1, 7, 8))
    settings_ = dict(coordinates=True, mask=values[0] > 50, channel_axis=0, **SMALL)
    np.testing.assert_array_equal(
        extract_features(lazy, **settings_).data, extract_features(values, **settings_).data
    )


def test_the_input_image_is_not_modified():
    image = image_2d()
    before = image.copy()
    extract_features(image, **SMALL)
    np.testing.assert_array_equal(image, before)


# ---------------------------------------------------------------- reading


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
        io.read_image(path)


# ---------------------------------------------------------------- writing


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
    image = io.read_image(io.write_tiff(tmp_path / "out.tif", array))
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
        io.write_tiff(tmp_path / "out.tif", array, **kwargs)
    assert _listing(tmp_path) == []


def test_write_tiff_never_overwrites_without_permission(tmp_path):
    path = io.write_tiff(tmp_path / "labels.tif", np.ones((4, 4), np.uint8))
    before, stat = path.read_bytes(), path.stat()
    with pytest.raises(FileExistsError, match="labels.tif already exists.*allow overwriting"):
        io.write_tiff(path, np.zeros((4, 4), np.uint8))
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert _listing(tmp_path) == ["labels.tif"]
    io.write_tiff(path, np.zeros((4, 4), np.uint8), overwrite=True)
    np.testing.assert_array_equal(io.read_image(path).data, 0)


def test_write_tiff_to_a_folder_or_into_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name in it"):
        io.write_tiff(tmp_path, np.ones((2, 2)), overwrite=True)
    with pytest.raises(FileNotFoundError, match="The folder .*missing does not exist; create it first"):
        io.write_tiff(tmp_path / "missing" / "labels.tif", np.ones((2, 2)))
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, MemoryError, OSError])
@pytest.mark.parametrize("existing", [False, True])
def test_an_interrupted_write_leaves_the_folder_as_it_was(tmp_path, monkeypatch, interruption, existing):
    path = tmp_path / "labels.tif"
    if existing:
        io.write_tiff(path, np.full((4, 4), 7, np.uint8))
    before = {name: (tmp_path / name).read_bytes() for name in _listing(tmp_path)}

    def half_written(handle, *args, **kwargs):
        handle.write(b"II*\x00" + bytes(100))  # the start of a TIFF, then the crash
        raise interruption("interrupted")

    monkeypatch.setattr(tifffile, "imwrite", half_written)
    with pytest.raises(interruption):
        io.write_tiff(path, np.ones((4, 4), np.uint8), overwrite=True)
    assert {name: (tmp_path / name).read_bytes() for name in _listing(tmp_path)} == before

    # The same directly inside atomic_write, with and without overwrite permission.
    with pytest.raises(interruption):
        with io.atomic_write(tmp_path / "other.bin") as handle:
            handle.write(b"partial")
            raise interruption("interrupted")
    assert {name: (tmp_path / name).read_bytes() for name in _listing(tmp_path)} == before
