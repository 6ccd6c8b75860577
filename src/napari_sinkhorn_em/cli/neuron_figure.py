"""The figure of ``neurons --compare``: both label images and both sides' neuron categories, seen from above."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import image_files
from ..neurons import CATEGORY_CODES, NeuronMatch

# Colours of the neuron categories in the comparison figure, by CATEGORY_CODES code (0 = background).
_CATEGORY_COLOURS = {
    0: (0.0, 0.0, 0.0),
    CATEGORY_CODES["matched"]: (0.55, 0.55, 0.55),
    CATEGORY_CODES["split"]: (1.0, 0.6, 0.0),
    CATEGORY_CODES["merged"]: (0.9, 0.2, 0.9),
    CATEGORY_CODES["moved"]: (0.0, 0.8, 0.9),
    CATEGORY_CODES["unmatched"]: (1.0, 0.15, 0.15),
}


def _label_colours(n_labels: int) -> Any:
    """A colour map for label images: black background, then tab20 repeating."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    palette = np.asarray(matplotlib.colormaps["tab20"].colors)
    return ListedColormap(np.vstack([[0.0, 0.0, 0.0], palette[np.arange(max(n_labels, 1)) % len(palette)]]))


def write_neuron_comparison_figure(path: Path, match: NeuronMatch, scale, names, *, overwrite: bool) -> None:
    """Max projections along z of both label images and of both sides' categories, the counts in the title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    _, size_y, size_x = match.labels_a.shape
    extent = (0.0, size_x * scale[2], size_y * scale[1], 0.0)
    panel_height = float(np.clip(11.0 * extent[2] / max(extent[1], 1e-12), 1.5, 8.0))
    figure = Figure(figsize=(12.0, 4 * panel_height + 2.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(4, 1)
    n_labels = int(max(match.labels_a.max(), match.labels_b.max()))
    categories = ListedColormap([_CATEGORY_COLOURS[code] for code in sorted(_CATEGORY_COLOURS)])
    counts = match.counts
    for axis, labels, name in zip(axes[:2], (match.labels_a, match.labels_b), names):
        axis.imshow(labels.max(axis=0), cmap=_label_colours(n_labels), vmin=0, vmax=n_labels, extent=extent,
                    interpolation="nearest")
        axis.set_title(f"{name}: {len(np.unique(labels)) - 1} neurons (max projection along z)")
    for axis, side, name in zip(axes[2:], ("a", "b"), names):
        axis.imshow(match.disagreement_image(side).max(axis=0), cmap=categories, vmin=0,
                    vmax=max(_CATEGORY_COLOURS), extent=extent, interpolation="nearest")
        axis.set_title(f"{name}'s neurons by category (disagreements drawn over matches)")
    for axis in axes:
        axis.set_xlabel("x (µm)")
        axis.set_ylabel("y (µm)")
    legend = [Patch(color=_CATEGORY_COLOURS[CATEGORY_CODES[name]], label=name) for name in
              ("matched", "split", "merged", "moved")]
    legend.append(Patch(color=_CATEGORY_COLOURS[CATEGORY_CODES["unmatched"]], label="found by one method only"))
    axes[3].legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=5, frameon=False)
    figure.suptitle(
        f"{names[0]} {len(match.neurons_a)} neurons, {names[1]} {len(match.neurons_b)}: {counts['matched']} matched, "
        f"{counts['split']} split, {counts['merged']} merged, {counts['moved']} moved, {counts['missing']} only in "
        f"{names[0]}, {counts['extra']} only in {names[1]}"
    )
    with image_files.atomic_write(path, overwrite=overwrite) as handle:
        figure.savefig(handle, format="png", dpi=100)
