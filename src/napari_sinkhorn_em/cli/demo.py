"""``demo``: find the worms of the bundled bright-field sample with EM and with Sinkhorn-EM, and score both."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from scipy import ndimage

from .. import data, image_files
from ..features import WELL_MARGIN, largest_bright_region
from ..segmentation import DEFAULT_SIZE_TOLERANCE, segment
from .compare import comparison_paths
from .files import output_folder
from .progress import ProgressBar

#: Share of the well that the recommended recipe is told the worms take.
_WORM_SHARE = 0.10
#: Physical scales (um) of the bright-field features: 1, 2 and 4 pixels of the sample.
_SIGMAS = (6.25, 12.5, 25.0)
#: The two recipes by output key: a title, and the options in which they differ.
_RECIPES = {
    "em": ("EM, class sizes learned", {"method": "em", "weights": "em"}),
    "sinkhorn": (
        f"Sinkhorn-EM, worms about {_WORM_SHARE:.0%} of the well (within a factor {DEFAULT_SIZE_TOLERANCE:g})",
        {"weights": (_WORM_SHARE, 1.0 - _WORM_SHARE)},
    ),
}


def add_demo_command(commands: Any) -> None:
    """The ``demo`` command and its option.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The parser's subcommands (``add_subparsers()``).
    """
    demo = commands.add_parser(
        "demo",
        help="find the worms in a bundled bright-field sample with EM and with Sinkhorn-EM",
        description="Segment a synthetic bright-field image of worms in a well (napari_sinkhorn_em.data."
                    "worms_2d, modelled on the BBBC010 wells) into worms and the rest, inside the automatic "
                    "well mask, with bright-field features: with EM learning the class sizes, and with the "
                    "recommended Sinkhorn-EM told that worms are about 10 % of the well (searched within a "
                    "factor 2). Writes the image, both label images (1 = worms), where they disagree and a "
                    "figure, and prints how well each finds the sample's true worms (IoU). Files from an "
                    "earlier demo in the same folder are replaced.",
    )
    demo.add_argument("--out", type=Path, default=Path("demo_output"), metavar="DIR",
                      help="output folder (default demo_output)")
    demo.set_defaults(run=run_demo)


def _fit_recipes(sample: data.SampleImage, well: np.ndarray, stderr: TextIO) -> dict[str, np.ndarray]:
    """Each recipe's two-class labels of the sample inside the well, with bright-field features."""
    common = {"features": "brightfield", "sigmas": _SIGMAS, "scale": sample.scale, "mask": well}
    labels = {}
    for key, (title, options) in _RECIPES.items():
        bar = ProgressBar(title, stderr)
        try:
            labels[key] = segment(sample.image, 2, progress=bar, **common, **options)
        finally:
            bar.close()
    return labels


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1))


def _worm_zones(sample: data.SampleImage) -> np.ndarray:
    """Each pixel's nearest true worm: the worms' zones."""
    nearest = ndimage.distance_transform_edt(~sample.foreground, return_distances=False, return_indices=True)
    return sample.labels[tuple(nearest)]


def _worms_found(worms: np.ndarray, zones: np.ndarray, true_labels: np.ndarray) -> np.ndarray:
    """Per true worm: does the worm class in the worm's zone match it with IoU >= 0.5?"""
    return np.array([_iou(worms & (zones == label), true_labels == label) >= 0.5
                     for label in range(1, int(true_labels.max()) + 1)], dtype=bool)


def _write_demo_images(folder: Path, paths: dict[str, Path], sample, well, labels) -> Path:
    """Write the sample, each recipe's labels (with its settings) and their disagreement; the sample's path."""
    image_path = folder / "worms_2d.tif"
    image_files.write_tiff(image_path, sample.image, scale=sample.scale, overwrite=True)
    for key, (title, options) in _RECIPES.items():
        settings = {"recipe": title, "n_components": 2, "features": "brightfield",
                    "sigmas": list(_SIGMAS), "mask": f"largest bright region, {WELL_MARGIN} px margin",
                    "worms": "label 1", **{name: list(value) if isinstance(value, tuple) else value
                                           for name, value in options.items()}}
        image_files.write_tiff(paths[key], labels[key], scale=sample.scale, settings=settings, overwrite=True)
    disagreement = well & (labels["em"] != labels["sinkhorn"])
    image_files.write_tiff(paths["disagreement"], disagreement, scale=sample.scale, overwrite=True)
    return image_path


def _write_demo_figure(path: Path, sample, well, worms, scores, found) -> None:
    """The image; each recipe's worm class against the truth; the worms only the recommended recipe finds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    truth, n_worms = sample.foreground, int(sample.labels.max())
    plane = sample.image.astype(np.float64)
    low, high = np.percentile(plane, [1, 99])
    grey = np.clip((plane - low) / max(high - low, 1e-12), 0.0, 1.0)[..., None] * np.ones(3)

    def painted(layers: list[tuple[np.ndarray, tuple[float, float, float]]]) -> np.ndarray:
        picture = 0.6 * grey
        for where, colour in layers:
            picture[where] = colour
        return picture

    green, magenta, yellow = (0.1, 0.85, 0.2), (0.9, 0.2, 0.9), (1.0, 0.85, 0.0)
    figure = Figure(figsize=(18, 5.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 4)
    axes[0].imshow(grey, interpolation="nearest")
    axes[0].contour(well, levels=[0.5], colors=["cyan"], linewidths=0.8)
    axes[0].set_title("bright-field image\ncyan: the automatic well mask")
    for axis, key in zip(axes[1:3], _RECIPES):
        axis.imshow(painted([(worms[key] & truth, green), (worms[key] & ~truth, magenta),
                             (truth & ~worms[key], yellow)]), interpolation="nearest")
        axis.set_title(f"{_RECIPES[key][0].replace(' (', chr(10) + '(')}\n"
                       f"worm IoU {scores[key]:.2f}, {found[key].sum()} of {n_worms} worms found")
    only_recommended = found["sinkhorn"] & ~found["em"]
    gained = np.isin(sample.labels, 1 + np.flatnonzero(only_recommended))
    axes[3].imshow(painted([(truth, (0.45, 0.45, 0.45)), (gained, green)]), interpolation="nearest")
    axes[3].set_title(f"found by Sinkhorn-EM and missed by EM:\n{only_recommended.sum()} of {n_worms} worms "
                      "(green)")
    for axis in axes:
        axis.set_axis_off()
    figure.suptitle(f"Worm IoU against the true worms: EM {scores['em']:.2f}, Sinkhorn-EM "
                    f"{scores['sinkhorn']:.2f}. Worm class (label 1): green = true worm, magenta = not a worm, "
                    "yellow = worm missed")
    with image_files.atomic_write(path, overwrite=True) as handle:
        figure.savefig(handle, format="png", dpi=100)


def run_demo(args: argparse.Namespace, stderr: TextIO) -> int:
    """Segment the bundled worms sample with EM and with the recommended recipe; write and score both.

    Both fits use the same image, bright-field features (physical scales 6.25, 12.5 and 25 um) and
    automatic well mask (the largest bright region, 6 px in from its edge), with two classes. EM
    learns the class sizes; the recommended recipe is Sinkhorn-EM told that worms are about 10 %
    of the well (searched within the default factor of 3). Label 1 is the worms in both. Each is scored by
    the intersection over union (IoU) of its worm class with the sample's true worms, and by how
    many true worms it finds: a worm counts as found when the worm class around it (the pixels
    nearer to it than to any other worm) matches it with IoU >= 0.5.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.
    stderr : text file
        Where the progress and the outputs' paths are printed.

    Returns
    -------
    int
        The exit status: 0 on success.
    """
    folder = output_folder(args.out)
    paths = comparison_paths(folder, "worms_2d", overwrite=True)
    sample = data.worms_2d()
    print(f"Demo image: {sample.description}", file=stderr)
    well = largest_bright_region(sample.image, margin=WELL_MARGIN)
    labels = _fit_recipes(sample, well, stderr)
    worms = {key: labels[key] == 1 for key in _RECIPES}
    scores = {key: _iou(worms[key], sample.foreground) for key in _RECIPES}
    zones = _worm_zones(sample)
    found = {key: _worms_found(worms[key], zones, sample.labels) for key in _RECIPES}
    image_path = _write_demo_images(folder, paths, sample, well, labels)
    _write_demo_figure(paths["figure"], sample, well, worms, scores, found)
    print(f"Image:                           {image_path}", file=stderr)
    print(f"EM labels (1 = worms):           {paths['em']}", file=stderr)
    print(f"Sinkhorn-EM labels (1 = worms):  {paths['sinkhorn']}", file=stderr)
    print(f"Disagreement mask:               {paths['disagreement']}", file=stderr)
    print(f"Figure:                          {paths['figure']}", file=stderr)
    n_worms = int(sample.labels.max())
    for key, (title, _) in _RECIPES.items():
        share = np.count_nonzero(worms[key]) / np.count_nonzero(well)
        print(f"{title}: worm IoU {scores[key]:.3f} against the true worms, {found[key].sum()} of "
              f"{n_worms} worms found, {share:.1%} of the well called worm.", file=stderr)
    print("(A worm counts as found when the worm class around it, in the pixels nearer to it than to any "
          "other worm, matches it with IoU >= 0.5.)", file=stderr)
    return 0
