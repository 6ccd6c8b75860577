"""Run the hostile-but-realistic cases of issue 20 (files, CLI, zarr, numerics); count those that behave as promised.

Usage::

    python benchmarks/fuzz_reliability.py          # prints one line per case and a total

Each case builds its inputs in a temporary folder, runs the command line (in
process, through ``napari_sinkhorn_em.cli.main``) or the library, and checks
the promise of docs/what-happens-when.md: an error that names the problem, no
traceback-type exception, nothing a user had lost, valid labels or an honest
warning. Small images, so the whole run takes seconds once numba's kernels
are compiled (about a minute more the first time). ``-v`` prints the traceback
of a case that raised.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import tifffile

from napari_sinkhorn_em import _validation, image_files
from napari_sinkhorn_em import lazy
from napari_sinkhorn_em.cli import main
from napari_sinkhorn_em.mixture import GaussianMixture, estimator
from napari_sinkhorn_em.segmentation import Segmenter, segment

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


def _scene() -> np.ndarray:
    """Two halves and a bright square, 48 x 64 float32 (as in tests/segmentation/test_reliability_numerics.py)."""
    rng = np.random.default_rng(1)
    image = rng.normal(100, 10, (48, 64)).astype(np.float32)
    image[:, 32:] += 50
    image[10:20, 10:20] += 120
    return image


def _run(*arguments: object) -> tuple[int, str]:
    """Exit status and stderr of the command line, run in this process."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main([str(argument) for argument in arguments])
    return code, stderr.getvalue()


def _refused(call: Callable[[], object], pattern: str, error: type[BaseException] = ValueError,
             within: float = 10.0) -> bool:
    """Whether ``call()`` raises ``error`` with a message matching ``pattern`` within ``within`` seconds."""
    start = time.perf_counter()
    try:
        call()
    except error as raised:
        return re.search(pattern, str(raised), re.DOTALL) is not None and time.perf_counter() - start < within
    return False


def _warned(call: Callable[[], Any], pattern: str) -> tuple[Any, bool]:
    """What ``call()`` returns, and whether it warned with a message matching ``pattern``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, any(re.search(pattern, str(warning.message), re.DOTALL) for warning in caught)


def _valid_labels(labels: np.ndarray, shape: tuple[int, ...], n_components: int) -> bool:
    return (labels.shape == shape and np.issubdtype(labels.dtype, np.integer)
            and 1 <= labels.min() and labels.max() <= n_components)


def _adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """The adjusted Rand index of two labelings of the same pixels (Hubert and Arabie)."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) / 2).sum())

    together, rows, columns = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * columns / pairs(np.array([a.size]))
    return (together - expected) / ((rows + columns) / 2 - expected)


@contextlib.contextmanager
def _free_memory_at_most(n_bytes: int) -> Iterator[None]:
    """Report at most ``n_bytes`` free, so that a memory case is refused on a large machine too."""
    real = _validation.available_memory
    with mock.patch.object(_validation, "available_memory", lambda: min(real() or n_bytes, n_bytes)):
        yield


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


# --- D2, D12, D13: output files ----------------------------------------------------------------------------


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
    # root may write anywhere: simulate the missing permission
    with mock.patch.object(tempfile, "TemporaryFile", side_effect=PermissionError(13, "Permission denied")):
        code, err = _run("segment", good, "--out", folder / "out", *FAST)
    return code == 2 and "cannot write into the output folder" in err


@case("existing output folder that is a file exits 2")
def _folder_is_file(folder: Path) -> bool:
    (folder / "out").write_text("notes")
    code, _ = _run("segment", _image(folder / "good.tif"), "--out", folder / "out", *FAST)
    return code == 2 and (folder / "out").read_text() == "notes"


# --- D8, D9: model files -----------------------------------------------------------------------------------


def _saved_model(folder: Path, n_components: int = 2, **settings: Any) -> Path:
    model = Segmenter(n_components, sample_size=500, **settings).fit(np.random.default_rng(0).normal(size=(20, 20)))
    return model.save(folder / "model.json")


def _segment_with(folder: Path, model: Path) -> tuple[int, str]:
    return _run("segment", _image(folder / "good.tif"), "--out", folder / "out", "--model", model)


def _edit_json(path: Path, edit: Callable[[dict], object]) -> Path:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    return path


def _model_with(folder: Path, replace: Callable[[str], str]) -> bool:
    path = _saved_model(folder)
    path.write_text(replace(path.read_text()))
    code, err = _segment_with(folder, path)
    return code == 2 and "model" in err


def _damaged_model(folder: Path, edit: Callable[[dict], object], reason: str) -> bool:
    code, err = _segment_with(folder, _edit_json(_saved_model(folder, 3), edit))
    return code == 2 and "is damaged or not a model file" in err and reason in err


def _mixture_entry(key: str, value: Any) -> Callable[[dict], None]:
    return lambda document: document["mixture"].__setitem__(key, value)


def _negative_covariance(document: dict) -> None:
    document["mixture"]["covariances"][1] = np.negative(document["mixture"]["covariances"][1]).tolist()


for _name, _edit, _reason in [
    ("weights -0.5, 1, 0.5", _mixture_entry("weights", [-0.5, 1.0, 0.5]), "class weights must all be finite and > 0"),
    ("weights 5, 3, 2", _mixture_entry("weights", [5.0, 3.0, 2.0]), "class weights must sum to 1"),
    ("a zero weight", _mixture_entry("weights", [0.0, 0.5, 0.5]), "class weights must all be finite and > 0"),
    ("a covariance not positive definite", _negative_covariance, "covariances are not all positive definite"),
    ("covariance_type 'tied'", _mixture_entry("covariance_type", "tied"), "covariance_type must be one of"),
    ("format_version 0", lambda document: document.update(format_version=0), "format_version 0 is not a known one"),
]:
    case(f"D8 model with {_name} exits 2 as damaged")(
        lambda folder, edit=_edit, reason=_reason: _damaged_model(folder, edit, reason)
    )


case("D9 model with n_iter 1e999")(
    lambda folder: _model_with(folder, lambda text: text.replace('"n_iter": ', '"n_iter": 1e999, "was": '))
)
case("D9 model nested 100,000 deep")(
    lambda folder: _model_with(
        folder, lambda text: text.replace('"n_iter": ', '"n_iter": ' + "[" * 100_000 + "]" * 100_000 + ', "was": ')
    )
)
case("D9 parse_json refuses 1e999 and deep nesting")(
    lambda folder: all(_refused(lambda text=text: image_files.parse_json(text), "")
                       for text in ("[1e999]", "[" * 100_000 + "]" * 100_000))
)
case("truncated model file exits 2")(lambda folder: _model_with(folder, lambda text: text[: len(text) // 2]))


# --- D5, D6, D7: settings and memory -----------------------------------------------------------------------


def _merged_classes(epsilon: float, method: str) -> bool:
    image = _scene()
    labels, warned = _warned(
        lambda: Segmenter(3, epsilon=epsilon, method=method, random_state=0).fit(image).predict(image),
        f"At epsilon = {re.escape(f'{epsilon:g}')} .*same mean.*Use a smaller epsilon",
    )
    return warned and _valid_labels(labels, image.shape, 3)


for _epsilon in (100.0, 1e4, 1e8):
    for _method in ("sinkhorn_start", "sinkhorn"):
        case(f"D5 epsilon = {_epsilon:g} ({_method}) gives valid labels and says classes merged")(
            lambda folder, epsilon=_epsilon, method=_method: _merged_classes(epsilon, method)
        )


@case("D6 K = 5000 on a 512² image: MemoryError before allocating (16 GiB free)")
def _too_many_classes(folder: Path) -> bool:
    image = np.random.default_rng(0).normal(size=(512, 512)).astype(np.float32)
    with _free_memory_at_most(16 * 2**30):  # a larger machine would start the 44 GiB fit
        return _refused(lambda: Segmenter(5000, random_state=0).fit(image),
                        "Fitting 5000 components.*GiB.*not started.*fewer components", MemoryError)


@case("D6 predict_proba of 10^12 pixels: MemoryError before allocating")
def _huge_probabilities(folder: Path) -> bool:
    segmenter = Segmenter(3, random_state=0).fit(_scene())
    huge = np.broadcast_to(np.float32(100.0), (1_000_000, 1_000_000))  # 4 TB of pixels, none allocated
    return _refused(lambda: segmenter.predict_proba(huge),
                    "probabilities of 3 classes.*Use predict.*parts of the image", MemoryError)


@case("D6 K = 200 sinkhorn, sizes out of reach: refused (pass limit lowered as in the tests)")
def _sizes_out_of_reach(folder: Path) -> bool:
    image = _scene()[:32, 16:48]
    # The setup of tests/mixture/test_warnings.py: the 500-pass rule shown on a tiny problem.
    with mock.patch.object(estimator, "HOPELESS_SINKHORN_PASSES", 1):
        return _refused(lambda: Segmenter(200, method="sinkhorn", sinkhorn_max_iter=1, random_state=0).fit(image),
                        "could not give the 200 classes their sizes.*method='em'")


_TOO_SMALL = "A class size of .* is less than one of the .* pixels.*at least"

for _size in (1e-12, 1e-300):
    case(f"D7 class size {_size:g} refused before fitting")(
        lambda folder, size=_size: _refused(lambda: segment(_scene(), 2, weights=(size, 1 - size)), _TOO_SMALL)
    )


@case("D7 --class-sizes 1,1e-300,1 refused before fitting")
def _cli_tiny_size(folder: Path) -> bool:
    code, err = _run("segment", _image(folder / "good.tif"), "--out", folder / "out", "-k", "3",
                     "--class-sizes", "1,1e-300,1", *FAST)
    return code == 1 and re.search(_TOO_SMALL, err) is not None and not (folder / "out" / "good_labels.tif").exists()


# --- D10: filters far beyond the image ---------------------------------------------------------------------

_FAR_BEYOND = "sigma = .* voxel size of .* far beyond the image.*check the voxel size"

for _name, _options in [
    ("sigma 10,000 px", {"sigmas": (10_000.0,)}),
    ("voxel size 1e-7", {"sigmas": (1.0,), "scale": (1e-7, 1e-7)}),
    ("voxel size 1e-300", {"sigmas": (1.0,), "scale": (1e-300, 1e-300)}),
]:
    case(f"D10 {_name} refused before filtering")(
        lambda folder, options=_options: _refused(
            lambda: segment(_scene(), 2, features="multiscale", **options), _FAR_BEYOND, within=2.0
        )
    )


def _tiny_voxel_model(folder: Path, voxel: float) -> bool:
    model = _edit_json(_saved_model(folder, features="multiscale", sigmas=(1.0,)),
                       lambda document: document["image"].__setitem__("scale", [voxel, voxel]))
    start = time.perf_counter()
    code, err = _segment_with(folder, model)
    return code == 1 and re.search(_FAR_BEYOND, err) is not None and time.perf_counter() - start < 2.0


for _voxel in (1e-7, 1e-300):
    case(f"D10 a model with voxel size {_voxel:g} refused before filtering")(
        lambda folder, voxel=_voxel: _tiny_voxel_model(folder, voxel)
    )


# --- D11: voxel sizes --------------------------------------------------------------------------------------


def _physical_size(folder: Path, value: str) -> bool:
    path = folder / "cells.ome.tif"
    tifffile.imwrite(path, np.zeros((8, 8), dtype=np.uint8), ome=True, metadata={"axes": "YX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    tifffile.tiffcomment(path, xml.replace("<Pixels ", f'<Pixels PhysicalSizeX="{value}" ', 1).encode())
    _, warned = _warned(lambda: image_files.read_image(path),
                        f"not a positive length \\(PhysicalSizeX = {re.escape(value)} ")
    return warned


for _value in ("0", "-1", "NaN", "inf"):
    case(f"D11 OME PhysicalSizeX = {_value} warns naming the value")(
        lambda folder, value=_value: _physical_size(folder, value)
    )


# --- D15: outliers and tiny values -------------------------------------------------------------------------


def _with_pixel(value: float) -> np.ndarray:
    image = _scene()
    image[5, 5] = value
    return image


def _hot_pixel(value: float) -> bool:
    """One pixel at ``value``: left out of the fit with a warning; the other labels stay those of the clean image."""
    clean = segment(_scene(), 3)
    hot, warned = _warned(lambda: segment(_with_pixel(value), 3), "fitting sample lie far beyond.*hot or dead pixels")
    elsewhere = np.ones(clean.shape, dtype=bool)
    elsewhere[5, 5] = False
    return warned and _adjusted_rand_index(clean[elsewhere], hot[elsewhere]) >= 0.9


for _hot in (1e8, 1e30):
    case(f"D15 one pixel at {_hot:g} is left out with a warning and keeps the clean result (ARI >= 0.9)")(
        lambda folder, value=_hot: _hot_pixel(value)
    )
case("D15 GaussianMixture.fit refuses 1e30 among values of about 1, saying to clip")(
    lambda folder: _refused(lambda: GaussianMixture(3).fit(np.append(_scene().ravel() / 100.0, 1e30)[:, None]),
                            "as far as 1e\\+30.*hot or dead pixels.*clip")
)
case("D15 a float32 image of subnormals refused, saying to multiply it")(
    lambda folder: _refused(lambda: segment((_scene() / 300.0 * 1e-39).astype(np.float32), 3),
                            "smallest ordinary 32-bit float.*Multiply the image")
)


# --- D3, D4, D14: zarr -------------------------------------------------------------------------------------


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


# --- other cheap cases of the issue ------------------------------------------------------------------------


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
