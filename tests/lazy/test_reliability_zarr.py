"""Issue 20, zarr: a label store never mixes labels of two models or two input images (D3, D4), and a
missing --component is a sentence (D14)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from napari_sinkhorn_em import lazy
from napari_sinkhorn_em.segmentation import Segmenter

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.filterwarnings("ignore::napari_sinkhorn_em.mixture.ConvergenceWarning")
FAST = {"method": "em", "max_iter": 5, "sample_size": 1500}


@pytest.fixture(scope="module")
def labels_by_k(levels):
    image = levels()
    chunked = da.from_array(image, chunks=(6, 13, 12))
    return {k: lazy.predict_dask(Segmenter(k, **FAST).fit(image), chunked) for k in (3, 4)}


def _interrupted_write(labels, path, n_chunks=3, **options):
    """Write only the first ``n_chunks`` chunks, as a killed run leaves the store."""
    empty = np.empty((0, 0, 0), dtype=labels.dtype)
    started = []

    def stop(block, block_id=None):
        started.append(block_id)
        if len(started) > n_chunks:
            raise KeyboardInterrupt
        return block

    with dask.config.set(scheduler="synchronous"), pytest.raises(KeyboardInterrupt):
        lazy.write_zarr_labels(labels.map_blocks(stop, meta=empty), path, **options)


def test_a_finished_store_is_not_taken_for_labels_of_another_model(labels_by_k, tmp_path):
    path = tmp_path / "labels.zarr"
    assert lazy.write_zarr_labels(labels_by_k[3], path).n_written == 8

    with pytest.raises(FileExistsError, match=r"different model \(the label values differ\)"):
        lazy.write_zarr_labels(labels_by_k[4], path)
    assert lazy.write_zarr_labels(labels_by_k[3], path).n_written == 0  # the same labels: nothing to do


def test_a_partial_store_is_not_completed_with_labels_of_another_model(labels_by_k, tmp_path):
    path = tmp_path / "labels.zarr"
    _interrupted_write(labels_by_k[3], path)
    assert not lazy.zarr_labels_complete(path)

    with pytest.raises(FileExistsError, match="label values differ"):
        lazy.write_zarr_labels(labels_by_k[4], path)
    assert not lazy.zarr_labels_complete(path)

    result = lazy.write_zarr_labels(labels_by_k[3], path)  # the same model resumes
    assert result.n_written == 5
    np.testing.assert_array_equal(lazy.read_zarr(path).compute(), labels_by_k[3].compute())


def test_image_fingerprint_tells_images_of_the_same_shape_apart(levels):
    first = da.from_array(levels(seed=0), chunks=(6, 13, 12))
    second = da.from_array(levels(seed=1), chunks=(6, 13, 12))
    assert lazy.image_fingerprint(first) == lazy.image_fingerprint(da.from_array(levels(seed=0), chunks=(6, 13, 12)))
    assert lazy.image_fingerprint(first)["sha256"] != lazy.image_fingerprint(second)["sha256"]
    assert lazy.image_fingerprint(first)["chunks"] != lazy.image_fingerprint(first.rechunk((4, 13, 12)))["chunks"]
    assert lazy.image_fingerprint(first)["dtype"] != lazy.image_fingerprint(first.astype(np.float64))["dtype"]


def test_a_resume_from_another_image_with_the_same_model_is_refused(levels, tmp_path):
    model = Segmenter(3, **FAST).fit(levels(seed=0))
    first = da.from_array(levels(seed=0), chunks=(6, 13, 12))
    second = da.from_array(levels(seed=1), chunks=(6, 13, 12))
    path = tmp_path / "labels.zarr"
    labels = lazy.predict_dask(model, first)
    _interrupted_write(labels, path, segmenter=model, image=first)

    with pytest.raises(FileExistsError, match=r"\(the input image differ"):
        lazy.write_zarr_labels(lazy.predict_dask(model, second), path, segmenter=model, image=second)
    assert lazy.write_zarr_labels(labels, path, segmenter=model, image=first).n_written == 5


def _cli(*arguments):
    script = shutil.which("napari-sinkhorn-em", path=os.path.dirname(sys.executable))
    return subprocess.run([script, *map(str, arguments)], capture_output=True, text=True, timeout=300)


def test_the_command_line_refuses_to_resume_a_store_of_another_image_with_model(levels, tmp_path):
    model = Segmenter(3, **FAST).fit(levels(seed=0)).save(tmp_path / "model.json")
    source = tmp_path / "stack.zarr"
    zarr.create_array(store=str(source), shape=(12, 26, 24), chunks=(6, 13, 12), dtype="float32")[...] = levels(seed=0)
    out = tmp_path / "out"
    assert _cli("segment", source, "--out", out, "--model", model).returncode == 0
    # Make it look interrupted, then put another image of the same name, shape and type in place.
    stored = zarr.open_array(store=str(out / "stack_labels.zarr"), mode="r+")
    stored.attrs["napari_sinkhorn_em"] = {**stored.attrs["napari_sinkhorn_em"], "complete": False}
    (out / "stack_labels.zarr" / ".chunks-done").mkdir()
    (out / "stack_labels.zarr" / ".chunks-done" / "0.0.0").touch()
    zarr.open_array(store=str(source), mode="r+")[...] = levels(seed=1)

    result = _cli("segment", source, "--out", out, "--model", model)

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "input image differ" in result.stderr and "--overwrite" in result.stderr


def test_a_missing_component_names_the_arrays_of_the_group(tmp_path):
    group = zarr.open_group(store=str(tmp_path / "image.zarr"), mode="w")
    group.create_array("0", shape=(4, 4), dtype="uint8")
    with pytest.raises(ValueError, match=r"has no array 'nope'; it holds the arrays \['0'\]"):
        lazy.read_zarr(tmp_path / "image.zarr", component="nope")
    zarr.create_array(store=str(tmp_path / "single.zarr"), shape=(4, 4), dtype="uint8")
    with pytest.raises(ValueError, match="single array, not a group"):
        lazy.read_zarr(tmp_path / "single.zarr", component="0")


def test_the_command_line_reports_a_missing_component_in_one_sentence(tmp_path):
    group = zarr.open_group(store=str(tmp_path / "image.zarr"), mode="w")
    group.create_array("0", shape=(16, 16), dtype="uint8")

    result = _cli("segment", tmp_path / "image.zarr", "--component", "nope", "--out", tmp_path / "out")

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "has no array 'nope'; it holds the arrays ['0']" in result.stderr
