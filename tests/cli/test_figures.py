"""The command line's figures (napari_sinkhorn_em.cli.figures)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

from napari_sinkhorn_em.cli.figures import write_comparison_figure


def _leftovers(folder):
    """Files in ``folder`` that a writer may have left behind (temporary files are hidden)."""
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_comparison_figure_is_a_png(tmp_path):
    image = np.random.default_rng(0).random((2, 5, 16, 16))
    labels = np.ones((5, 16, 16), np.uint8)
    comparison = SimpleNamespace(
        matched=labels.copy(), disagreement=np.zeros_like(labels, bool),
        adjusted_rand_index=1.0, disagreement_fraction=0.0,
    )

    path = write_comparison_figure(tmp_path / "figure.png", image, labels, comparison, channel_axis=0)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _leftovers(tmp_path) == []
