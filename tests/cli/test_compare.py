"""``compare``: EM and Sinkhorn-EM on one image, both labelings, their disagreement and a figure."""

from __future__ import annotations

import numpy as np

from napari_sinkhorn_em import image_files
from napari_sinkhorn_em.cli import main


def _last_error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return lines[-1]


def test_compare_writes_both_labelings_the_disagreement_and_a_figure(tmp_path, inputs, cli_fast):
    out = tmp_path / "out"

    assert main(["compare", str(inputs[0]), "--out", str(out), "-k", "3", *cli_fast]) == 0

    assert sorted(path.name for path in out.iterdir()) == [
        "a_comparison.png", "a_disagreement.tif", "a_em_labels.tif", "a_sinkhorn_labels.tif",
    ]
    assert (out / "a_comparison.png").read_bytes()[:4] == b"\x89PNG"
    disagreement = image_files.read_image(out / "a_disagreement.tif").data
    em, sinkhorn = (image_files.read_image(out / f"a_{name}_labels.tif").data for name in ("em", "sinkhorn"))
    np.testing.assert_array_equal(disagreement, em != sinkhorn)


def test_compare_does_not_overwrite_without_the_flag(tmp_path, inputs, capsys, cli_fast):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_comparison.png").write_bytes(b"keep me")

    assert main(["compare", str(inputs[0]), "--out", str(out), *cli_fast]) == 2

    assert (out / "a_comparison.png").read_bytes() == b"keep me"
    assert "--overwrite" in _last_error_line(capsys)
