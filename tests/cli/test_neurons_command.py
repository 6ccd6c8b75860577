"""Tests of ``napari-sinkhorn-em neurons`` (napari_sinkhorn_em.cli) on a small synthetic NeuroPAL head."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import tifffile

from napari_sinkhorn_em import data, image_files
from napari_sinkhorn_em.cli import main

SMALL_HEAD = {"n_neurons": 30, "voxel_size": (1.0, 0.6, 0.6)}


@pytest.fixture(scope="module")
def head():
    return data.neuropal_head(**SMALL_HEAD)


@pytest.fixture(scope="module")
def stack(head, tmp_path_factory):
    """The head as a CZYX OME-TIFF with its voxel size."""
    path = tmp_path_factory.mktemp("in") / "head.ome.tif"
    z, y, x = head.scale
    tifffile.imwrite(path, head.image, ome=True,
                     metadata={"axes": "CZYX", "PhysicalSizeZ": z, "PhysicalSizeY": y, "PhysicalSizeX": x})
    return path


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _error(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return lines[-1]


def test_writes_labels_with_the_voxel_size_and_a_table_and_prints_a_summary(tmp_path, stack, head, capsys):
    out = tmp_path / "out"

    assert main(["neurons", str(stack), "--output-dir", str(out)]) == 0

    labels = image_files.read_image(out / "head_neurons.ome.tif")
    assert labels.scale == pytest.approx(head.scale)
    assert labels.data.shape == head.labels.shape
    rows = _rows(out / "head_neurons.csv")
    assert sorted(int(row["label"]) for row in rows) == sorted(set(np.unique(labels.data)) - {0})
    assert {"z_um", "y_um", "x_um", "volume_um3", "mean_channel_0", "mean_confidence", "model_czz_um2"} <= set(rows[0])
    assert 0.7 * 30 <= len(rows) <= 1.3 * 30
    assert sorted(path.name for path in out.iterdir()) == ["head_neurons.csv", "head_neurons.ome.tif"]
    err = capsys.readouterr().err
    assert f"Found {len(rows)} neurons" in err
    assert image_files.read_tiff_settings(out / "head_neurons.ome.tif")["command"] == "neurons"


def test_compare_writes_the_figure_and_each_neurons_category(tmp_path, stack, capsys):
    out = tmp_path / "out"

    assert main(["neurons", str(stack), "--out", str(out), "--method", "em", "--compare",
                 "--channel-names", "mTagBFP2", "CyOFP1", "mNeptune2.5", "pan-neuronal"]) == 0

    figure = out / "head_comparison.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = _rows(out / "head_comparison.csv")
    assert {row["segmentation"] for row in rows} == {"EM", "Sinkhorn-EM"}
    assert {row["category"] for row in rows} <= {"matched", "split", "merged", "moved", "missing", "extra"}
    assert "mean_mNeptune2.5" in _rows(out / "head_neurons.csv")[0]
    err = capsys.readouterr().err
    assert "EM (A) against Sinkhorn-EM (B): Of " in err


def test_existing_outputs_are_kept_without_overwrite(tmp_path, stack, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "head_neurons.csv").write_text("from an earlier run")

    assert main(["neurons", str(stack), "--out", str(out)]) == 2

    assert "already exist" in _error(capsys)
    assert (out / "head_neurons.csv").read_text() == "from an earlier run"


def test_missing_voxel_size_is_a_warning(tmp_path, head, capsys):
    path = tmp_path / "no_size.tif"
    tifffile.imwrite(path, head.image, ome=True, metadata={"axes": "CZYX"})

    assert main(["neurons", str(path), "--out", str(tmp_path / "out"), "--n-neurons", "5", "--max-iter", "3"]) == 0

    assert "warning: No voxel size was given" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("image", "options", "message"),
    [
        ("2d", [], "is a 2-D image .* neurons needs a 3-D stack"),
        ("4d_plain", [], "has 4 axes besides the channels .* give the axis holding the channels with --channel-axis"),
        ("head", ["--channel-axis", "5"], "--channel-axis 5 does not exist: .* has 4 axes"),
        ("head", ["--n-neurons", "100000"], "100000 neurons cannot be fitted to .* foreground voxels"),
        ("head", ["--pan-neuronal-channel", "9"], "pan_neuronal_channel=9 does not exist"),
        ("broken", [], "cannot read .*broken.tif: .* could not be read as a TIFF image"),
        ("absent", [], "cannot read .*absent.tif: .* does not exist"),
    ],
)
def test_unusable_input_exits_2_with_one_sentence(tmp_path, stack, image, options, message, capsys):
    paths = {"head": stack, "broken": tmp_path / "broken.tif", "absent": tmp_path / "absent.tif",
             "2d": tmp_path / "plane.tif", "4d_plain": tmp_path / "plain.tif"}
    paths["broken"].write_bytes(b"not a tiff")
    tifffile.imwrite(paths["2d"], np.zeros((3, 20, 30), dtype=np.uint16), ome=True, metadata={"axes": "CYX"})
    tifffile.imwrite(paths["4d_plain"], np.zeros((4, 5, 20, 30), dtype=np.uint16))

    assert main(["neurons", str(paths[image]), "--out", str(tmp_path / "out"), *options]) == 2

    line = _error(capsys)
    assert line.startswith("napari-sinkhorn-em neurons: error: ")
    assert line.endswith(".") and not line.endswith("..")
    assert re.search(message, line), line
