"""The command line's figures: EM against Sinkhorn-EM (``compare``) and neuron by neuron (``neurons --compare``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import image_files
from ..neurons import CATEGORY_CODES, NeuronMatch

__all__ = ["write_comparison_figure", "write_neuron_comparison_figure"]

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
    """Save a PNG: max projections along z of both label images and of both sides' categories, the counts in the title.

    Parameters
    ----------
    path : pathlib.Path
        Destination PNG.
    match : NeuronMatch
        :func:`~napari_sinkhorn_em.neurons.match_neurons` of two 3-D label images.
    scale : sequence of float
        Voxel size in µm (z, y, x): the axes are drawn in µm.
    names : tuple of str
        Names of the two segmentations (A, B).
    overwrite : bool
        Replace an existing file.
    """
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


def _display_plane(array: np.ndarray) -> np.ndarray:
    """The middle z-plane of a 3-D array (2-D arrays unchanged)."""
    return array[array.shape[0] // 2] if array.ndim == 3 else array


def write_comparison_figure(
    path: str | os.PathLike,
    image: np.ndarray,
    labels: np.ndarray,
    comparison: Any,
    *,
    channel_axis: int | None = None,
    titles: tuple[str, str] = ("EM", "Sinkhorn-EM"),
    overwrite: bool = False,
) -> Path:
    """Save a PNG: image, two labelings side by side, and where they disagree.

    Parameters
    ----------
    path : str or path-like
        Destination PNG.
    image : numpy.ndarray
        The segmented image (2-D or 3-D, optionally with a channel axis); its
        first channel is shown, contrast-stretched between the 1st and 99th
        percentiles. 3-D images show their middle z-plane.
    labels : numpy.ndarray
        The reference labeling (e.g. EM's).
    comparison : LabelComparison
        Result of :func:`napari_sinkhorn_em.segmentation.compare_labels` of
        ``labels`` against the second labeling; its ``matched`` labels and
        ``disagreement`` mask are drawn and its adjusted Rand index and
        disagreement fraction go into the title.
    channel_axis : int or None, default None
        Channel axis of ``image``.
    titles : tuple of str, default ("EM", "Sinkhorn-EM")
        Names of the two labelings.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    image = np.asarray(image)
    if channel_axis is not None:
        image = np.take(image, 0, axis=channel_axis)
    plane = _display_plane(image).astype(np.float64)
    low, high = np.percentile(plane, [1, 99])
    first, second = _display_plane(np.asarray(labels)), _display_plane(comparison.matched)
    n_labels = int(max(first.max(), second.max()))
    label_colours = _label_colours(n_labels)

    # A figure on its own Agg canvas: no pyplot, so no global backend is touched.
    figure = Figure(figsize=(16, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 4)
    axes[0].imshow(plane, cmap="gray", vmin=low, vmax=max(high, low + 1e-12), interpolation="nearest")
    axes[1].imshow(first, cmap=label_colours, vmin=0, vmax=n_labels, interpolation="nearest")
    axes[2].imshow(second, cmap=label_colours, vmin=0, vmax=n_labels, interpolation="nearest")
    axes[3].imshow(_display_plane(comparison.disagreement), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    plane_note = f" (z-plane {image.shape[0] // 2})" if image.ndim == 3 else ""
    for axis, title in zip(
        axes,
        ("image" + plane_note, titles[0], f"{titles[1]} (numbered as {titles[0]})", "disagreement (white)"),
    ):
        axis.set_title(title)
        axis.set_axis_off()
    figure.suptitle(
        f"{titles[0]} vs {titles[1]}: adjusted Rand index {comparison.adjusted_rand_index:.4f}, "
        f"{100 * comparison.disagreement_fraction:.2f} % of pixels labelled differently"
    )
    with image_files.atomic_write(path, overwrite=overwrite) as handle:
        figure.savefig(handle, format="png", dpi=100)
    return Path(path)
