"""Lazy segmentation of dask and zarr images (napari_sinkhorn_em.lazy).

The reference is the in-memory pipeline: the same settings and seed must give
bit-identical fits and labels, whatever the chunks.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_sinkhorn_em import lazy
from napari_sinkhorn_em.segmentation import Segmenter, segment, segment_dask

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

pytestmark = pytest.mark.filterwarnings("ignore::napari_sinkhorn_em.mixture.ConvergenceWarning")

# Small fits: classical EM, few iterations, a subsample smaller than the images.
FAST = {"method": "em", "max_iter": 5, "sample_size": 1500}
FILTERS = {"features": "multiscale", "sigmas": (1.0,)}


@pytest.fixture(scope="module")
def image3d(levels):
    return levels((12, 26, 24))


@pytest.fixture(scope="module")
def fitted3d(image3d):
    """In-memory and dask fits of the 3-D image with filters whose halo is wider than some chunks."""
    settings = {**FAST, **FILTERS}
    chunked = da.from_array(image3d, chunks=(3, 10, 9))
    return Segmenter(3, **settings).fit(image3d), lazy.fit_dask(Segmenter(3, **settings), chunked), chunked


def _assert_same_fit(dask_fit, reference):
    assert dask_fit.feature_names_ == reference.feature_names_
    assert dask_fit.n_samples_fit_ == reference.n_samples_fit_
    np.testing.assert_array_equal(dask_fit.fit_sample_, reference.fit_sample_)
    np.testing.assert_array_equal(dask_fit.scaling_.centre, reference.scaling_.centre)
    np.testing.assert_array_equal(dask_fit.scaling_.spread, reference.scaling_.spread)
    for name in ("means_", "covariances_", "weights_"):
        np.testing.assert_array_equal(getattr(dask_fit.mixture_, name), getattr(reference.mixture_, name))


# ---------------------------------------------------------------------------
# Bit-identity with the in-memory path
# ---------------------------------------------------------------------------


def test_fit_dask_equals_the_in_memory_fit_3d(fitted3d):
    reference, dask_fit, _ = fitted3d
    _assert_same_fit(dask_fit, reference)


def test_predict_dask_gives_the_in_memory_labels_with_the_image_chunks_3d(fitted3d, image3d):
    reference, dask_fit, chunked = fitted3d
    labels = lazy.predict_dask(dask_fit, chunked)
    assert labels.chunks == chunked.chunks
    expected = reference.predict(image3d)
    assert labels.dtype == expected.dtype
    np.testing.assert_array_equal(labels.compute(), expected)


def test_segment_dask_equals_segment_with_its_defaults_2d(levels):
    image = levels((50, 45), seed=1)
    chunked = da.from_array(image, chunks=(16, 20))
    settings = {"sample_size": 1500, "max_iter": 5, **FILTERS}
    labels = segment_dask(chunked, 3, **settings)
    assert labels.chunks == chunked.chunks
    np.testing.assert_array_equal(labels.compute(), segment(image, 3, **settings))


def test_filters_reaching_past_the_image_and_a_fit_on_every_voxel_2d(levels):
    image = levels((20, 70), seed=4)
    chunked = da.from_array(image, chunks=(10, 30))  # the halo (26) is longer than the first axis
    settings = {**FAST, "sample_size": None, "features": "multiscale", "sigmas": (4.0,)}
    reference = Segmenter(3, **settings).fit(image)
    dask_fit = lazy.fit_dask(Segmenter(3, **settings), chunked)
    _assert_same_fit(dask_fit, reference)
    labels = lazy.predict_dask(dask_fit, chunked)
    assert labels.chunks == chunked.chunks
    np.testing.assert_array_equal(labels.compute(), reference.predict(image))


def test_channel_axis_is_gathered_and_dropped(levels):
    image = np.stack([levels((40, 36), seed=2), levels((40, 36), seed=3)[:, ::-1]], axis=-1)
    chunked = da.from_array(image, chunks=(15, 12, 1))
    reference = Segmenter(3, **FAST, **FILTERS).fit(image, channel_axis=-1)
    dask_fit = lazy.fit_dask(Segmenter(3, **FAST, **FILTERS), chunked, channel_axis=-1)
    _assert_same_fit(dask_fit, reference)
    labels = lazy.predict_dask(dask_fit, chunked, channel_axis=-1)
    assert labels.chunks == chunked.chunks[:2]
    np.testing.assert_array_equal(labels.compute(), reference.predict(image, channel_axis=-1))


def test_mask_selects_the_fitted_voxels_and_the_rest_is_zero(image3d):
    mask = np.zeros(image3d.shape, dtype=bool)
    mask[2:11, 3:22, 1:20] = True
    mask[5:7] = False  # whole chunks and planes without a voxel
    chunked = da.from_array(image3d, chunks=(4, 9, 8))
    reference = Segmenter(3, **FAST).fit(image3d, mask=mask)
    dask_fit = lazy.fit_dask(Segmenter(3, **FAST), chunked, mask=da.from_array(mask, chunks=(4, 13, 12)))
    _assert_same_fit(dask_fit, reference)
    labels = lazy.predict_dask(dask_fit, chunked, mask=mask).compute()
    np.testing.assert_array_equal(labels, reference.predict(image3d, mask=mask))
    assert not labels[~mask].any() and labels[mask].all()


def test_coordinate_features_are_positions_in_the_whole_image(image3d):
    settings = {**FAST, "coordinates": True, "coordinate_weight": 0.1}
    chunked = da.from_array(image3d, chunks=(5, 13, 7))
    scale = (2.0, 0.5, 0.5)
    reference = Segmenter(3, **settings).fit(image3d, scale=scale)
    dask_fit = lazy.fit_dask(Segmenter(3, **settings), chunked, scale=scale)
    _assert_same_fit(dask_fit, reference)
    np.testing.assert_array_equal(lazy.predict_dask(dask_fit, chunked).compute(), reference.predict(image3d))


def test_labels_from_the_transport_plan_are_identical_too(fitted3d, image3d):
    reference, _, chunked = fitted3d
    plan = copy.copy(reference)
    plan.assignment = "plan"
    expected = plan.predict(image3d)
    assert not np.array_equal(expected, reference.predict(image3d))
    np.testing.assert_array_equal(lazy.predict_dask(plan, chunked).compute(), expected)


def test_a_saved_and_loaded_model_labels_dask_images_like_numpy_ones(fitted3d, image3d, tmp_path):
    reference, _, chunked = fitted3d
    model = Segmenter.load(reference.save(tmp_path / "model.json"))
    np.testing.assert_array_equal(lazy.predict_dask(model, chunked).compute(), reference.predict(image3d))


def test_zarr_arrays_are_read_with_their_chunks(fitted3d, image3d, tmp_path):
    zarr = pytest.importorskip("zarr")
    reference, dask_fit, _ = fitted3d
    stored = zarr.open_array(store=str(tmp_path / "image.zarr"), mode="w", shape=image3d.shape,
                             chunks=(6, 13, 12), dtype=image3d.dtype)
    stored[...] = image3d
    image = lazy.read_zarr(tmp_path / "image.zarr")
    assert image.chunks == ((6, 6), (13, 13), (12, 12))
    np.testing.assert_array_equal(lazy.predict_dask(dask_fit, stored).compute(), reference.predict(image3d))


# ---------------------------------------------------------------------------
# Laziness and progress
# ---------------------------------------------------------------------------


def test_predict_dask_computes_nothing_until_asked(fitted3d, image3d):
    _, dask_fit, _ = fitted3d
    reads = []

    def counted(block):
        reads.append(block.shape)
        return block

    source = da.from_array(image3d, chunks=(6, 13, 12)).map_blocks(counted, meta=image3d[:0, :0, :0])
    labels = lazy.predict_dask(dask_fit, source)
    assert reads == []
    labels.compute()
    assert len(reads) == 8


def test_fit_progress_reports_features_then_fit(image3d):
    reports = []
    lazy.fit_dask(Segmenter(3, **FAST), da.from_array(image3d, chunks=6),
                  progress=lambda stage, fraction: reports.append((stage, fraction)))
    features = [fraction for stage, fraction in reports if stage == "features"]
    assert features[0] == 0.0 and features[-1] == 1.0 and features == sorted(features)
    assert reports[-1] == ("fit", 1.0)


# ---------------------------------------------------------------------------
# Writing zarr label stores
# ---------------------------------------------------------------------------


def _labels_and_model(fitted3d):
    _, dask_fit, chunked = fitted3d
    return lazy.predict_dask(dask_fit, chunked.rechunk((6, 13, 12))), dask_fit


def test_write_zarr_labels_stores_the_labels_and_the_model(fitted3d, image3d, tmp_path):
    zarr = pytest.importorskip("zarr")
    labels, model = _labels_and_model(fitted3d)
    reports = []
    result = lazy.write_zarr_labels(labels, tmp_path / "labels.zarr", segmenter=model,
                                    progress=lambda stage, fraction: reports.append((stage, fraction)))
    assert (result.n_chunks, result.n_written) == (8, 8)
    assert reports[-1] == ("write", 1.0)
    stored = zarr.open_array(store=str(tmp_path / "labels.zarr"), mode="r")
    assert stored.chunks == (6, 13, 12)
    np.testing.assert_array_equal(stored[...], fitted3d[0].predict(image3d))
    description = stored.attrs["napari_sinkhorn_em"]
    assert description["complete"] is True
    assert description["model"]["mixture"]["means"] == json.loads(json.dumps(model.mixture_.means_.tolist()))
    assert lazy.zarr_labels_complete(tmp_path / "labels.zarr")
    assert not (tmp_path / "labels.zarr" / ".chunks-done").exists()


def test_an_interrupted_write_resumes_with_the_missing_chunks_only(fitted3d, image3d, tmp_path):
    pytest.importorskip("zarr")
    labels, model = _labels_and_model(fitted3d)
    path = tmp_path / "labels.zarr"
    empty = np.empty((0, 0, 0), dtype=labels.dtype)
    computed = []

    started = []

    def interrupted(block, block_id=None):
        # The fifth chunk to be computed is interrupted, whatever order the scheduler chose.
        started.append(block_id)
        if len(started) == 5:
            raise KeyboardInterrupt
        return block

    def counted(block, block_id=None):
        computed.append(block_id)
        return block

    with dask.config.set(scheduler="synchronous"), pytest.raises(KeyboardInterrupt):
        lazy.write_zarr_labels(labels.map_blocks(interrupted, meta=empty), path, segmenter=model)
    assert not lazy.zarr_labels_complete(path)
    done = {marker.name for marker in (path / ".chunks-done").iterdir()}
    assert 0 < len(done) < 8
    with pytest.raises(FileExistsError, match=r"unfinished write of these labels \(resume=False\)"):
        lazy.write_zarr_labels(labels, path, segmenter=model, resume=False)

    result = lazy.write_zarr_labels(labels.map_blocks(counted, meta=empty), path, segmenter=model)
    assert result.n_written == len(computed) == 8 - len(done)
    assert not {".".join(map(str, block_id)) for block_id in computed} & done
    np.testing.assert_array_equal(lazy.read_zarr(path).compute(), fitted3d[0].predict(image3d))
    assert lazy.write_zarr_labels(labels, path, segmenter=model).n_written == 0


def test_write_zarr_labels_refuses_to_replace_other_data_unless_told(fitted3d, tmp_path):
    pytest.importorskip("zarr")
    labels, model = _labels_and_model(fitted3d)
    path = tmp_path / "labels.zarr"
    lazy.write_zarr_labels(labels[:6], path, segmenter=model)
    with pytest.raises(FileExistsError, match="different image, different labels or labels from a different model"):
        lazy.write_zarr_labels(labels, path, segmenter=model)
    other_model = Segmenter(2, **FAST).fit(np.asarray(fitted3d[2]))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        lazy.write_zarr_labels(labels[:6], path, segmenter=other_model)
    assert lazy.write_zarr_labels(labels, path, segmenter=model, overwrite=True).n_written == 8
    assert lazy.read_zarr(path).shape == labels.shape

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a zarr store; it is not deleted"):
        lazy.write_zarr_labels(labels, folder, overwrite=True)
    assert (folder / "keep.txt").read_text() == "precious"


def test_read_zarr_names_the_arrays_of_a_group(tmp_path):
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(store=str(tmp_path / "image.zarr"), mode="w")
    group.create_array("0", shape=(4, 4), dtype="uint8")
    with pytest.raises(ValueError, match=r"arrays \['0'\].*component="):
        lazy.read_zarr(tmp_path / "image.zarr")
    assert lazy.read_zarr(tmp_path / "image.zarr", component="0").shape == (4, 4)


# ---------------------------------------------------------------------------
# Errors, optional dependencies, schedulers
# ---------------------------------------------------------------------------


def test_errors_name_the_problem(fitted3d):
    _, dask_fit, chunked = fitted3d
    with pytest.raises(ValueError, match="instances=True is not available for dask images"):
        segment_dask(chunked, 3, instances=True)
    with pytest.raises(ValueError, match="fitted on images with 1 channel"):
        lazy.predict_dask(dask_fit, da.stack([chunked, chunked], axis=0), channel_axis=0)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        lazy.predict_dask(Segmenter(3), chunked)
    with pytest.raises(ValueError, match="mask selects no pixels"):
        lazy.fit_dask(Segmenter(3), chunked, mask=np.zeros(chunked.shape, dtype=bool))


def test_missing_dask_is_explained_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r'pip install "napari-sinkhorn-em\[dask\]"'):
        lazy.predict_dask(Segmenter(3), np.zeros((4, 4)))


def test_label_graphs_pickle_for_remote_workers(fitted3d):
    _, dask_fit, chunked = fitted3d
    labels = lazy.predict_dask(dask_fit, chunked, mask=chunked > 0)
    assert pickle.loads(pickle.dumps(dict(labels.__dask_graph__())))


def test_labels_under_a_distributed_local_cluster_are_identical(fitted3d, image3d):
    distributed = pytest.importorskip("distributed")
    reference, _, chunked = fitted3d
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        labels = segment_dask(chunked, 3, **FAST, **FILTERS).compute()
    np.testing.assert_array_equal(labels, reference.predict(image3d))


def test_numba_workqueue_layer_is_not_entered_by_two_dask_threads_at_once():
    # Without a thread-safe layer (OpenMP, TBB), numba aborts the process on concurrent parallel calls.
    script = textwrap.dedent("""
        import dask, dask.array as da, numpy as np
        from napari_sinkhorn_em import lazy
        from napari_sinkhorn_em.segmentation import Segmenter
        image = np.random.default_rng(0).normal(size=(64, 600)).astype(np.float32)
        model = Segmenter(3, method="em", max_iter=3).fit(image)
        with dask.config.set(scheduler="threads", num_workers=4):
            lazy.predict_dask(model, da.from_array(np.tile(image, (16, 1)), chunks=(64, 600))).compute()
        print("done")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "NUMBA_THREADING_LAYER": "workqueue"})
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-2000:]


# ---------------------------------------------------------------------------
# Dispatch from the pipeline and the command line
# ---------------------------------------------------------------------------


def test_segment_and_segmenter_return_lazy_labels_for_dask_images(image3d):
    chunked = da.from_array(image3d, chunks=(6, 13, 12))
    labels = segment(chunked, 3, **FAST)
    assert isinstance(labels, da.Array) and labels.chunks == chunked.chunks
    np.testing.assert_array_equal(labels.compute(), segment(image3d, 3, **FAST))
    fitted = Segmenter(3, **FAST).fit(chunked)
    np.testing.assert_array_equal(fitted.predict(chunked).compute(), Segmenter(3, **FAST).fit(image3d).predict(image3d))


def test_command_line_segments_a_zarr_store_and_skips_it_once_complete(image3d, tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    from napari_sinkhorn_em.cli import main

    source = tmp_path / "stack.zarr"
    zarr.create_array(store=str(source), shape=image3d.shape, chunks=(6, 13, 12), dtype=image3d.dtype)[...] = image3d
    out = tmp_path / "out"
    options = ["--method", "em", "--sample-size", "1500"]

    assert main(["segment", str(source), "--out", str(out), *options]) == 0

    written = lazy.read_zarr(out / "stack_labels.zarr")
    assert written.chunks == ((6, 6), (13, 13), (12, 12))
    expected = Segmenter(3, method="em", sample_size=1500).fit_predict(image3d)
    np.testing.assert_array_equal(written.compute(), expected)
    assert main(["segment", str(source), "--out", str(out), *options]) == 0
    assert "skipped" in capsys.readouterr().err
    assert main(["segment", str(source), "--out", str(out), "--instances", *options]) == 2
