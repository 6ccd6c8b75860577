"""``neurons``: one label and one table row per neuron of a NeuroPAL stack, EM against Sinkhorn-EM on request."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .. import image_files
from ..neurons import (
    DEFAULT_NEURON_MAX_ITER,
    DEFAULT_NUCLEUS_RADIUS_UM,
    NEURON_INIT,
    NEURON_INITS,
    NeuronSegmentation,
    match_neurons,
    neuron_method,
    segment_neurons,
    write_neuron_table,
)
from ..segmentation import METHOD_NAMES, METHODS
from .arguments import pan_neuronal_channel, positive_float, whole_number
from .errors import CommandError, sentence
from .files import MAX_CHANNELS, output_folder, stem
from .figures import write_neuron_comparison_figure
from .progress import ProgressBar

_COMPARED_METHODS = ("em", "sinkhorn")


def add_neurons_command(commands: Any) -> None:
    """The ``neurons`` command and its options.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The parser's subcommands (``add_subparsers()``).
    """
    neurons = commands.add_parser(
        "neurons",
        help="find the neurons of a NeuroPAL stack: one label and one table row per neuron",
        description="Find the neurons of a 3-D multichannel stack (e.g. NeuroPAL: mTagBFP2, CyOFP1, mNeptune2.5, "
                    "pan-neuronal) by fitting one Gaussian per neuron to the position (um) and colour of the "
                    "voxels inside the nuclei (half-maximum threshold of the pan-neuronal channel). Writes "
                    "<name>_neurons.ome.tif (the labels, with the voxel size) and <name>_neurons.csv (one row per "
                    "neuron: centre, volume, mean colour and shape in um), and prints a summary. With --compare "
                    "it also fits EM and Sinkhorn-EM and writes <name>_comparison.png and <name>_comparison.csv "
                    "(each neuron matched, split, merged, moved or found by one only).",
    )
    neurons.add_argument("input", type=Path, metavar="IN", help="input TIFF / OME-TIFF stack with channels")
    neurons.add_argument("--output-dir", "--out", dest="out", type=Path, required=True, metavar="DIR",
                         help="output folder")
    neurons.add_argument("--voxel-size", type=positive_float, nargs=3, default=None, metavar=("Z", "Y", "X"),
                         help="voxel size in um (default: from the file's metadata)")
    neurons.add_argument("--channel-axis", type=int, default=None, metavar="N",
                         help="axis of the image that holds channels (default: from the file's metadata)")
    neurons.add_argument("--pan-neuronal-channel", type=pan_neuronal_channel, default=None, metavar="C",
                         help="channel marking every nucleus, used to find the foreground, or none (default: "
                              "the last channel of 4 or more, as in NeuroPAL, else none)")
    neurons.add_argument("--colour-channels", type=whole_number(0), nargs="+", default=None, metavar="C",
                         help="channels used as colours (default: every channel but the pan-neuronal one)")
    neurons.add_argument("--channel-names", nargs="+", default=None, metavar="NAME",
                         help="one name per channel for the table's columns, e.g. mTagBFP2 CyOFP1 mNeptune2.5 "
                              "pan-neuronal (default channel_0, channel_1, ...)")
    neurons.add_argument("--n-neurons", type=whole_number(1), default=None, metavar="K",
                         help="number of neurons to fit (default: the number of bright spots of the pan-neuronal "
                              "channel; with --init kmeans the foreground volume over one nucleus's)")
    neurons.add_argument("--nucleus-radius", type=positive_float, default=DEFAULT_NUCLEUS_RADIUS_UM, metavar="R",
                         help=f"typical nucleus radius in um (default {DEFAULT_NUCLEUS_RADIUS_UM})")
    neurons.add_argument("--method", choices=tuple(METHODS), default=None,
                         help="how the Gaussians are fitted: sinkhorn_start, em or sinkhorn (default em, "
                              "sinkhorn_start with --init kmeans)")
    neurons.add_argument("--init", choices=NEURON_INITS, default=NEURON_INIT,
                         help="where the Gaussians start: peaks (one at each bright spot of the pan-neuronal "
                              f"channel) or kmeans (the recipe before issue 17) (default {NEURON_INIT})")
    neurons.add_argument("--max-iter", type=whole_number(1), default=DEFAULT_NEURON_MAX_ITER, metavar="N",
                         help=f"most iterations of the fit (default {DEFAULT_NEURON_MAX_ITER})")
    neurons.add_argument("--compare", action="store_true",
                         help="also fit with EM and with Sinkhorn-EM and compare them neuron by neuron")
    neurons.add_argument("--seed", type=whole_number(0), default=0, metavar="S",
                         help="random seed; the same seed gives the same labels (default 0)")
    neurons.add_argument("--overwrite", action="store_true", help="replace existing output files")
    neurons.set_defaults(run=run_neurons)


def _neuron_paths(folder: Path, stem: str, compare: bool, overwrite: bool) -> dict[str, Path]:
    """The files of a neurons run; unless ``overwrite``, none may exist yet."""
    paths = {"labels": folder / f"{stem}_neurons.ome.tif", "table": folder / f"{stem}_neurons.csv"}
    if compare:
        paths.update(figure=folder / f"{stem}_comparison.png", categories=folder / f"{stem}_comparison.csv")
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing and not overwrite:
        raise CommandError(f"{', '.join(existing)} already exist(s); add --overwrite to replace")
    return paths


def _read_stack(args: argparse.Namespace) -> tuple[np.ndarray, int | None, tuple[float, ...] | None]:
    """The stack, its channel axis and voxel size, or a CommandError saying why it cannot be used."""
    try:
        image = image_files.read_image(args.input)
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read {args.input}: {sentence(error).rstrip('.')}") from None
    pixels, shape = image.data, " × ".join(map(str, image.data.shape))
    channel_axis = image.channel_axis if args.channel_axis is None else args.channel_axis
    if not (channel_axis is None or -pixels.ndim <= channel_axis < pixels.ndim):
        raise CommandError(
            f"--channel-axis {channel_axis} does not exist: {args.input} has {pixels.ndim} axes (shape {shape}), "
            f"numbered 0 to {pixels.ndim - 1}"
        )
    if channel_axis is not None and pixels.shape[channel_axis] > MAX_CHANNELS:
        raise CommandError(
            f"axis {channel_axis} of {args.input} holds {pixels.shape[channel_axis]} values (shape {shape}), which "
            f"looks like an image axis rather than channels; give the axis holding the channels with --channel-axis"
        )
    spatial = pixels.ndim - (channel_axis is not None)
    if spatial == 2:
        raise CommandError(
            f"{args.input} is a 2-D image (shape {shape}); neurons needs a 3-D stack (z, y, x), with its "
            "channels, to tell touching nuclei apart"
        )
    if spatial != 3:
        hint = " and no channel axis in its metadata; give the axis holding the channels with --channel-axis" \
            if channel_axis is None else "; neurons needs a 3-D stack (z, y, x) with one channel axis"
        raise CommandError(f"{args.input} has {spatial} axes besides the channels (shape {shape}){hint}")
    scale = tuple(args.voxel_size) if args.voxel_size is not None else image.scale
    if scale is not None and len(scale) != 3:
        raise CommandError(
            f"the voxel size in {args.input}'s metadata, {scale}, does not give one size per axis of the stack; "
            "give it with --voxel-size Z Y X"
        )
    return pixels, channel_axis, scale


def _find_neurons(
    pixels, channel_axis, scale, args, *, method, mask=None, n_neurons=None, stderr
) -> NeuronSegmentation:
    """segment_neurons with the command's options; its errors as CommandError."""
    bar = ProgressBar(f"{args.input.name} ({METHOD_NAMES[neuron_method(method, args.init)]})", stderr)
    try:
        return segment_neurons(
            pixels, channel_axis=channel_axis, scale=scale,
            n_neurons=args.n_neurons if n_neurons is None else n_neurons,
            colour_channels=args.colour_channels, pan_neuronal_channel=args.pan_neuronal_channel, mask=mask,
            nucleus_radius_um=args.nucleus_radius, method=method, random_state=args.seed, max_iter=args.max_iter,
            progress=bar, channel_names=args.channel_names, init=args.init,
        )
    except (ValueError, MemoryError) as error:
        raise CommandError(f"cannot find the neurons in {args.input}: {sentence(error).rstrip('.')}") from None
    finally:
        bar.close()


def _neuron_settings(args: argparse.Namespace, result: NeuronSegmentation) -> dict[str, Any]:
    """What made a neurons label image, stored in its OME description."""
    return {
        "command": "neurons",
        "method": result.segmenter.method,
        "init": result.init,
        "n_neurons": result.n_neurons,
        "suggested_n_neurons": result.suggested_n_neurons,
        "nucleus_radius_um": args.nucleus_radius,
        "colour_channels": list(result.colour_channels),
        "pan_neuronal_channel": result.pan_neuronal_channel,
        "voxel_size_um": list(result.scale),
        "max_iter": args.max_iter,
        "seed": args.seed,
    }


def run_neurons(args: argparse.Namespace, stderr: TextIO) -> int:
    """Find the neurons; write their labels and table (and the comparison with --compare).

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
    paths = _neuron_paths(folder, stem(args.input), args.compare, args.overwrite)
    pixels, channel_axis, scale = _read_stack(args)
    result = _find_neurons(pixels, channel_axis, scale, args, method=args.method, stderr=stderr)
    image_files.write_tiff(paths["labels"], result.labels, scale=scale, settings=_neuron_settings(args, result),
                  overwrite=args.overwrite)
    write_neuron_table(result.table, paths["table"], overwrite=args.overwrite)
    print(result.summary(), file=stderr)
    print(f"Labels (label k = neuron k): {paths['labels']}", file=stderr)
    print(f"Table (one row per neuron):  {paths['table']}", file=stderr)
    if args.compare:
        _compare_neuron_methods(pixels, channel_axis, scale, args, result, paths, stderr)
    return 0


def _compare_neuron_methods(pixels, channel_axis, scale, args, result: NeuronSegmentation, paths, stderr) -> None:
    """Fit EM and Sinkhorn-EM on the same foreground and K; write the figure and the category table."""
    fits = {}
    for method in _COMPARED_METHODS:
        if result.segmenter.method == method:
            fits[method] = result
        else:
            fits[method] = _find_neurons(pixels, channel_axis, scale, args, method=method, mask=result.foreground,
                                         n_neurons=result.n_neurons, stderr=stderr)
    names = tuple(METHOD_NAMES[method] for method in _COMPARED_METHODS)
    match = match_neurons(fits["em"].labels, fits["sinkhorn"].labels, scale=result.scale)
    write_neuron_table(match.category_table(names), paths["categories"], overwrite=args.overwrite)
    write_neuron_comparison_figure(paths["figure"], match, result.scale, names, overwrite=args.overwrite)
    print(f"{names[0]} (A) against {names[1]} (B): {match.summary()}", file=stderr)
    print(f"Comparison figure:           {paths['figure']}", file=stderr)
    print(f"Each neuron's category:      {paths['categories']}", file=stderr)
