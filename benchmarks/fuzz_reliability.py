"""Run hostile-but-realistic file, command-line and zarr cases (issue 20) and count those that behave as promised.

Usage::

    python benchmarks/fuzz_reliability.py          # prints one line per case and a total

Each case builds its inputs in a temporary folder, runs the command line (in
process, through ``napari_sinkhorn_em.cli.main``) or the library, and checks
the promise of docs/what-happens-when.md: an error that names the problem, no
traceback-type exception, nothing a user had lost. Small images, so the whole
run takes well under a minute once numba's kernels are compiled.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

from napari_sinkhorn_em import image_files
from napari_sinkhorn_em import lazy
from napari_sinkhorn_em.cli import main
from napari_sinkhorn_em.segmentation import Segmenter

FAST = ["--sample-size", "2000"]
CASES: list[tuple[str, Callable[[Path], bool]]] = []


def case(name: str) -> Callable[[Callable[[Path], bool]], Callable[[Path], bool]]:
    def register(function: Callable[[Path], bool]) -> Callable[[Path], bool]:
        CASES.append((name, function))
        return function

    return register


def _image(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    image = np.round(rng.normal(100.0, 10.0, (32, 32)) + 60.0 * (np.arange(32) >= 16)).astype(np.uint16)
    tifffile.imwrite(path, image, compression="zlib")
    return path


def _run(*arguments: object) -> tuple[int, str]:
    """Exit status and stderr of the command line, run in this process."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main([str(argument) for argument in arguments])
    return code, stderr.getvalue()


# --- D1: damaged TIFFs -------------------------------------------------------------------------------------


def _damaged(folder: Path, damage: Callable[[bytes], bytes]) -> bool:
    good = _image(folder / "good.tif")
    bad = folder / "bad.tif"
    bad.write_bytes(damage(good.read_bytes()))
    code, err = _run("segment", bad, good, "--out", folder / "out", *FAST)
    return code == 1 and f"{bad}: error:" in err and (folder / "out" / "good_labels.tif").exists()


case("D1 truncated zlib TIFF in a batch")(lambda folder: _damaged(folder, lambda data: data[: len(data) // 2]))
case("D1 corrupted zlib TIFF in a batch")(
    lambda folder: _damaged(folder, lambda data: data[:300] + bytes(100) + data[400:])
)
case("D1 6-byte TIFF in a batch")(lambda folder: _damaged(folder, lambda data: data[:6]))


@case("D1 truncated TIFF in compare")
def _compare_damaged(folder: Path) -> bool:
    bad = folder / "bad.tif"
    bad.write_bytes(_image(folder / "good.tif").read_bytes()[:200])
    code, err = _run("compare", bad, "--out", folder / "out", *FAST)
    return code == 2 and "could not be read as a TIFF image" in err


# --- D2, D12, D13: output files -----------------------------------------------------------------------------


@case("D2 a file created while writing is kept")
def _concurrent(folder: Path) -> bool:
    target = folder / "labels.tif"
    try:
        with image_files.atomic_write(target) as handle:
            handle.write(b"mine")
            target.write_bytes(b"theirs")
    except FileExistsError:
        return target.read_bytes() == b"theirs"
    return False


@case("D12 a stale temporary is removed by the next run")
def _stale(folder: Path) -> bool:
    good = _image(folder / "good.tif")
    out = folder / "out"
    out.mkdir()
    stale = out / ".good_labels.tif.0123456789ab.tmp"
    stale.write_bytes(b"half")
    code, _ = _run("segment", good, "--out", out, *FAST)
    return code == 0 and not stale.exists() and (out / "good_labels.tif").exists()


@case("D13 an output folder that cannot be written exits 2 before any work")
def _read_only(folder: Path) -> bool:
    good = _image(folder / "good.tif")
    original = tempfile.TemporaryFile

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    tempfile.TemporaryFile = refuse  # root may write anywhere: simulate the missing permission
    try:
        code, err = _run("segment", good, "--out", folder / "out", *FAST)
    finally:
        tempfile.TemporaryFile = original
    return code == 2 and "cannot write into the output folder" in err


@case("existing output folder that is a file exits 2")
def _folder_is_file(folder: Path) -> bool:
    (folder / "out").write_text("notes")
    code, _ = _run("segment", _image(folder / "good.tif"), "--out", folder / "out", *FAST)
    return code == 2 and (folder / "out").read_text() == "notes"


# --- D9: model files ----------------------------------------------------------------------------------------


def _model_with(folder: Path, replace: Callable[[str], str]) -> bool:
    model = Segmenter(2, sample_size=500).fit(np.random.default_rng(0).normal(size=(20, 20)))
    path = model.save(folder / "model.json")
    path.write_text(replace(path.read_text()))
    code, err = _run("segment", _image(folder / "good.tif"), "--out", folder / "out", "--model", path)
    return code == 2 and "model" in err


case("D9 model with n_iter 1e999")(
    lambda folder: _model_with(folder, lambda text: text.replace('"n_iter": ', '"n_iter": 1e999, "was": '))
)
case("D9 model nested 100,000 deep")(
    lambda folder: _model_with(
        folder, lambda text: text.replace('"n_iter": ', '"n_iter": ' + "[" * 100_000 + "]" * 100_000 + ', "was": ')
    )
)
case("D9 parse_json refuses 1e999 and deep nesting")(
    lambda folder: all(_raises_value_error(image_files.parse_json, text) for text in ("[1e999]", "[" * 100_000 + "]" * 100_000))
)
case("truncated model file exits 2")(lambda folder: _model_with(folder, lambda text: text[: len(text) // 2]))


def _raises_value_error(function: Callable[[str], object], argument: str) -> bool:
    try:
        function(argument)
    except ValueError:
        return True
    return False


# --- D11: voxel sizes ---------------------------------------------------------------------------------------


def _physical_size(folder: Path, value: str) -> bool:
    path = folder / "cells.ome.tif"
    tifffile.imwrite(path, np.zeros((8, 8), dtype=np.uint8), ome=True, metadata={"axes": "YX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    tifffile.tiffcomment(path, xml.replace("<Pixels ", f'<Pixels PhysicalSizeX="{value}" ', 1).encode())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image_files.read_image(path)
    return any("not a positive length" in str(warning.message) for warning in caught)


for _value in ("0", "-1", "NaN", "inf"):
    case(f"D11 OME PhysicalSizeX = {_value} warns")(lambda folder, value=_value: _physical_size(folder, value))


# --- D3, D4, D14: zarr --------------------------------------------------------------------------------------


def _levels(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.repeat(np.arange(3.0) * 4, 8)[None, None, :] + rng.normal(0, 1, (12, 26, 24))).astype(np.float32)


@case("D3 a finished store refuses labels of another K without segmenter=")
def _other_k(folder: Path) -> bool:
    import dask.array as da

    image = da.from_array(_levels(0), chunks=(6, 13, 12))
    for k in (3, 4):
        labels = lazy.predict_dask(Segmenter(k, method="em", max_iter=5, sample_size=1500).fit(_levels(0)), image)
        try:
            lazy.write_zarr_labels(labels, folder / "labels.zarr")
        except FileExistsError:
            return k == 4
    return False


@case("D4 a resume from another image of the same shape is refused")
def _other_image(folder: Path) -> bool:
    import dask.array as da

    model = Segmenter(3, method="em", max_iter=5, sample_size=1500).fit(_levels(0))
    first, second = (da.from_array(_levels(seed), chunks=(6, 13, 12)) for seed in (0, 1))
    path = folder / "labels.zarr"
    lazy.write_zarr_labels(lazy.predict_dask(model, first), path, segmenter=model, image=first)
    import zarr

    stored = zarr.open_array(store=str(path), mode="r+")
    stored.attrs["napari_sinkhorn_em"] = {**stored.attrs["napari_sinkhorn_em"], "complete": False}
    try:
        lazy.write_zarr_labels(lazy.predict_dask(model, second), path, segmenter=model, image=second)
    except FileExistsError as error:
        return "input image" in str(error)
    return False


@case("D14 --component nope on a zarr group")
def _component(folder: Path) -> bool:
    import zarr

    group = zarr.open_group(store=str(folder / "image.zarr"), mode="w")
    group.create_array("0", shape=(16, 16), dtype="uint8")
    code, err = _run("segment", folder / "image.zarr", "--component", "nope", "--out", folder / "out")
    return code == 1 and "has no array 'nope'" in err


# --- other cheap cases of the issue ---------------------------------------------------------------------------


@case("missing, empty and text inputs are reported by name")
def _bad_inputs(folder: Path) -> bool:
    (folder / "empty.tif").write_bytes(b"")
    (folder / "text.tif").write_text("not an image")
    good = _image(folder / "good.tif")
    code, err = _run("segment", folder / "missing.tif", folder / "empty.tif", folder / "text.tif", good,
                     "--out", folder / "out", *FAST)
    return code == 1 and err.count(": error:") == 3 and (folder / "out" / "good_labels.tif").exists()


@case("the same settings give bit-identical labels")
def _identical(folder: Path) -> bool:
    good = _image(folder / "good.tif")
    for out in ("a", "b"):
        _run("segment", good, "--out", folder / out, *FAST)
    first, second = (image_files.read_image(folder / out / "good_labels.tif").data for out in ("a", "b"))
    return np.array_equal(first, second)  # the files differ only in the OME UUID


def run() -> int:
    """Run every case; print one line each and the total. Returns the number that failed."""
    passed = 0
    for name, function in CASES:
        with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ok = bool(function(Path(folder)))
                detail = ""
            except Exception as error:  # a crash is exactly what a case must not do
                ok = False
                detail = f"  ({type(error).__name__}: {str(error)[:120]})"
                if "-v" in sys.argv:
                    traceback.print_exc()
        passed += ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}{detail}")
    print(f"{passed} of {len(CASES)} cases behaved as promised.")
    return len(CASES) - passed


if __name__ == "__main__":
    sys.exit(1 if run() else 0)
