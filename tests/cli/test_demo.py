"""The ``napari-sinkhorn-em demo`` command, run as a user runs it: in its own process."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

from napari_sinkhorn_em import data, image_files
from napari_sinkhorn_em.cli import main

# The demo takes about 40 s on one core (half of it compiling the kernels on a first run).
DEMO_TIMEOUT_S = 90
RUN_DEMO = "import sys; from napari_sinkhorn_em.cli import main; sys.exit(main())"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_demo_finds_the_worms_with_sinkhorn_em_where_em_does_not(tmp_path):
    out = tmp_path / "demo output"

    result = subprocess.run([sys.executable, "-c", RUN_DEMO, "demo", "--out", str(out)],
                            capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    names = sorted(path.name for path in out.iterdir())
    assert names == ["worms_2d.tif", "worms_2d_comparison.png", "worms_2d_disagreement.tif",
                     "worms_2d_em_labels.tif", "worms_2d_sinkhorn_labels.tif"]
    printed = {method: (float(iou), int(found)) for method, iou, found in re.findall(
        r"^(EM|Sinkhorn-EM)\b.*: worm IoU ([0-9.]+) against the true worms, (\d+) of 5 worms found",
        result.stderr, flags=re.MULTILINE)}
    assert set(printed) == {"EM", "Sinkhorn-EM"}, result.stderr[-2000:]
    (em_iou, em_found), (sinkhorn_iou, sinkhorn_found) = printed["EM"], printed["Sinkhorn-EM"]
    # The win the demo is there to show (measured: EM 0.25 and no worm found, Sinkhorn-EM 0.81 and all 5).
    assert sinkhorn_iou > 0.65 and em_iou < 0.35 and sinkhorn_iou > em_iou + 0.3
    assert sinkhorn_found >= 4 > em_found

    truth = data.worms_2d().foreground
    stored = {}
    for key in ("em", "sinkhorn"):
        labels = image_files.read_image(out / f"worms_2d_{key}_labels.tif")
        assert labels.scale == (6.25, 6.25)
        stored[key] = np.asarray(labels.data)
        assert set(np.unique(stored[key])) == {0, 1, 2}
    # The printed IoUs are those of label 1 (the worms) in the files written.
    assert abs(_iou(stored["em"] == 1, truth) - em_iou) <= 5e-4
    assert abs(_iou(stored["sinkhorn"] == 1, truth) - sinkhorn_iou) <= 5e-4
    disagreement = np.asarray(image_files.read_image(out / "worms_2d_disagreement.tif").data)
    np.testing.assert_array_equal(disagreement.astype(bool), (stored["em"] != stored["sinkhorn"]))
    np.testing.assert_array_equal(np.asarray(image_files.read_image(out / "worms_2d.tif").data), data.worms_2d().image)
    assert (out / "worms_2d_comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_writes_labels_and_figure(tmp_path, capsys):
    out = tmp_path / "demo"

    assert main(["demo", "--out", str(out)]) == 0

    names = sorted(path.name for path in out.iterdir())
    assert names == ["worms_2d.tif", "worms_2d_comparison.png", "worms_2d_disagreement.tif",
                     "worms_2d_em_labels.tif", "worms_2d_sinkhorn_labels.tif"]
    assert str(out / "worms_2d_comparison.png") in capsys.readouterr().err
    assert image_files.read_image(out / "worms_2d_em_labels.tif").scale == (6.25, 6.25)
