"""``compare``: segment one image with EM and with Sinkhorn-EM and write where they disagree."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .. import image_files
from ..segmentation import MethodComparison, compare_methods
from .arguments import add_fit_options, add_input_options, segmenter_settings
from .errors import CommandError, sentence
from .figures import write_comparison_figure
from .files import choose_channels, output_folder, read_input, stem
from .progress import ProgressBar


def add_compare_command(commands: Any) -> None:
    """The ``compare`` command and its options.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The parser's subcommands (``add_subparsers()``).
    """
    compare = commands.add_parser(
        "compare",
        help="segment one image with EM and Sinkhorn-EM and compare",
        description="Segment one image with EM and with Sinkhorn-EM (same features, subsample and seed) "
                    "and write both label images, the mask of pixels where they disagree, and a figure.",
    )
    compare.add_argument("input", type=Path, metavar="IN", help="input TIFF / OME-TIFF file")
    compare.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_fit_options(compare, with_method=False)
    add_input_options(compare)
    compare.set_defaults(run=run_compare)


def comparison_paths(folder: Path, stem: str, overwrite: bool) -> dict[str, Path]:
    """The four files of a comparison; unless ``overwrite``, none may exist yet.

    Parameters
    ----------
    folder : pathlib.Path
        The output folder.
    stem : str
        The input's name without its extension.
    overwrite : bool
        Whether existing files may be replaced.

    Returns
    -------
    dict of str to pathlib.Path
        ``em``, ``sinkhorn``, ``disagreement`` (TIFFs) and ``figure`` (PNG).

    Raises
    ------
    CommandError
        If one exists and ``overwrite`` is False.
    """
    paths = {
        "em": folder / f"{stem}_em_labels.tif",
        "sinkhorn": folder / f"{stem}_sinkhorn_labels.tif",
        "disagreement": folder / f"{stem}_disagreement.tif",
        "figure": folder / f"{stem}_comparison.png",
    }
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing and not overwrite:
        raise CommandError(f"{', '.join(existing)} already exist(s); add --overwrite to replace")
    return paths


def _write_comparison(
    result: MethodComparison,
    image: Any,
    channel_axis: int | None,
    scale: Sequence[float] | None,
    paths: dict[str, Path],
    stderr: TextIO,
) -> None:
    """Write both label images, the disagreement mask and the figure; print where they went."""
    comparison = result.comparison
    image_files.write_tiff(paths["em"], result.em_labels, scale=scale, overwrite=True)
    image_files.write_tiff(paths["sinkhorn"], comparison.matched, scale=scale, overwrite=True)
    image_files.write_tiff(paths["disagreement"], comparison.disagreement, scale=scale, overwrite=True)
    write_comparison_figure(paths["figure"], image, result.em_labels, comparison, channel_axis=channel_axis,
                            overwrite=True)
    print(
        f"EM vs Sinkhorn-EM: adjusted Rand index {comparison.adjusted_rand_index:.4f}, "
        f"{100 * comparison.disagreement_fraction:.2f} % of pixels labelled differently.",
        file=stderr,
    )
    print(f"EM labels:                       {paths['em']}", file=stderr)
    print(f"Sinkhorn-EM labels (EM numbers): {paths['sinkhorn']}", file=stderr)
    print(f"Disagreement mask:               {paths['disagreement']}", file=stderr)
    print(f"Figure:                          {paths['figure']}", file=stderr)


def run_compare(args: argparse.Namespace, stderr: TextIO) -> int:
    """Segment the input with both methods; write both label images, their disagreement and a figure.

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
    paths = comparison_paths(folder, stem(args.input), args.overwrite)
    try:
        image, channel_axis = read_input(args.input, args.channel_axis)
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read {args.input}: {sentence(error)}") from None
    try:
        pixels, channel_axis = choose_channels(image.data, channel_axis, args)
    except ValueError as error:
        raise CommandError(f"cannot use {args.input}: {error}") from None
    bar = ProgressBar(args.input.name, stderr)
    settings = segmenter_settings(args)
    try:
        result = compare_methods(pixels, settings.pop("n_components"), epsilon=settings.pop("epsilon"),
                                 channel_axis=channel_axis, scale=image.scale, progress=bar, **settings)
    except (ValueError, MemoryError) as error:
        raise CommandError(f"cannot segment {args.input}: {sentence(error)}") from None
    finally:
        bar.close()
    _write_comparison(result, pixels, channel_axis, image.scale, paths, stderr)
    return 0
