"""The ``napari-sinkhorn-em`` command: segment TIFF files, compare EM with Sinkhorn-EM, find neurons, run a demo.

Exit status: 0 on success (inputs whose output already exists, made with the
same settings, are skipped and count as success), 1 when ``segment`` could not
process some inputs (the others are still written; an existing output made with
other settings counts here), 2 for invalid arguments or an unusable input,
model or output folder. Errors are printed as one sentence on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from . import data
from . import image_files as io
from . import lazy
from .features import PRESETS
from .features import AUTOMATIC_MASKS, WELL_MARGIN, automatic_mask
from .neurons import (
    CATEGORY_CODES,
    DEFAULT_NEURON_MAX_ITER,
    DEFAULT_NUCLEUS_RADIUS_UM,
    NeuronMatch,
    NeuronSegmentation,
    match_neurons,
    segment_neurons,
    write_neuron_table,
)
from .segmentation import (
    ASSIGNMENTS,
    METHOD_NAMES,
    METHODS,
    MethodComparison,
    Segmenter,
    compare_methods,
    default_method,
    split_instances,
)

PROGRAM = "napari-sinkhorn-em"
_IMAGE_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".ome.zarr", ".zarr")
_BAR_WIDTH = 24
# Without a terminal, progress is one plain line per stage and quarter of it.
_PLAIN_STEPS = 4
# A --channel-axis longer than this looks like an image axis, not channels (unless --force-channel-axis).
_MAX_CHANNELS = 16
# Options that shape a fit (argparse name: flag); a saved model (--model) brings its own.
_FIT_OPTIONS = {
    "n_components": "-k",
    "method": "--method",
    "epsilon": "--epsilon",
    "weights": "--class-sizes",
    "assignment": "--assign",
    "features": "--features",
    "sigmas": "--sigmas",
    "size_tolerance": "--size-tolerance",
    "sample_size": "--sample-size",
    "seed": "--seed",
}


class CommandError(Exception):
    """A problem with the arguments or inputs, reported as one sentence with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one sentence, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. Run '{self.prog} --help' for the options.\n")


def _whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, got {text!r}")
        return value

    return parse


def _n_classes(text: str) -> int:
    """An argparse type: the number of classes K, at least 2."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"expected the number of classes as a whole number of at least 2 (one class would label every "
            f"pixel 1, which is no segmentation), got {text!r}"
        )
    return value


def _class_sizes(text: str) -> str | tuple[float, ...]:
    """An argparse type: ``learned``, ``equal`` or positive numbers such as ``90,10`` (made fractions)."""
    named = {"learned": "em", "equal": "uniform"}
    if text in named:
        return named[text]
    try:
        sizes = [float(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or not all(0 < size < float("inf") for size in sizes):
        raise argparse.ArgumentTypeError(
            f"expected 'learned', 'equal' or one positive number per class such as 90,10; got {text!r}"
        )
    return tuple(size / sum(sizes) for size in sizes)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


class _ProgressBar:
    """Progress on a text stream, fed ``(stage, fraction)`` by the pipeline.

    On a terminal: one bar redrawn in place with ``\\r``. Otherwise (a log
    file, a pipe): a plain line when a stage starts and at each quarter of it.
    """

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name = name
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self.shown: tuple[str, int] | None = None

    def __call__(self, stage: str, fraction: float) -> None:
        filled = round(fraction * (_BAR_WIDTH if self.terminal else _PLAIN_STEPS))
        if self.shown == (stage, filled):
            return
        self.shown = (stage, filled)
        if self.terminal:
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            self.stream.write(f"\r{self.name}: [{bar}] {fraction:4.0%} {stage:<24}")
        else:
            self.stream.write(f"{self.name}: {stage} {filled / _PLAIN_STEPS:.0%}\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (once, and only if something was drawn on a terminal)."""
        if self.shown is not None and self.terminal:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = None


def _stem(path: Path) -> str:
    """File name without its TIFF / OME-TIFF / zarr extension."""
    name = path.name
    for suffix in _IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _is_zarr(path: Path) -> bool:
    return path.name.lower().endswith(".zarr")


def _add_fit_options(parser: argparse.ArgumentParser, *, with_method: bool) -> None:
    """Options that set up a fit; their default None means "not given" (see --model)."""
    parser.add_argument("-k", "--classes", dest="n_components", type=_n_classes, default=None,
                        help="number of classes K, at least 2 (default 3)")
    if with_method:
        parser.add_argument("--method", choices=tuple(METHODS), default=None,
                            help="how the classes are fitted: sinkhorn_start (Sinkhorn-EM places the classes, "
                                 "then EM fits them with class sizes learned from the image), em (classical "
                                 "EM) or sinkhorn (Sinkhorn-EM, class sizes held) (default sinkhorn with "
                                 "--class-sizes given as numbers, else sinkhorn_start)")
    parser.add_argument("--epsilon", type=_positive_float, default=None,
                        help="Sinkhorn-EM's entropic regularisation; smaller gives harder class "
                             "boundaries (default 1)")
    default_sizes = "learned, equal for --method sinkhorn" if with_method else "equal; EM always learns them"
    parser.add_argument("--class-sizes", dest="weights", type=_class_sizes, default=None, metavar="SIZES",
                        help="share of the pixels in each class: learned (from the image), equal, or one "
                             "number per class in label order, e.g. percentages 10,90 (label 1 = the 10%% "
                             f"class); a rough guess is enough, see --size-tolerance (default: {default_sizes})")
    parser.add_argument("--size-tolerance", type=_positive_float, default=None, metavar="FACTOR",
                        help="with --class-sizes given as numbers: how far they may be off, as a factor; "
                             "Sinkhorn-EM searches the smallest class's share from guess/FACTOR to "
                             "guess*FACTOR and keeps the share where its objects end; 1 holds the sizes "
                             "as given (default 3)")
    parser.add_argument("--assign", dest="assignment", choices=ASSIGNMENTS, default=None,
                        help="label each pixel with its most probable class (posterior), or as the "
                             "transport plan assigns it, which holds the class sizes (plan) "
                             "(default plan for sinkhorn with --class-sizes given as numbers, else posterior)")
    parser.add_argument("--features", choices=PRESETS, default=None,
                        help="per-pixel features: raw intensities; smoothed/edge/blob filters at several "
                             "scales (multiscale); or brightfield: intensity relative to the local background "
                             "(uneven illumination divided out, inside the mask), smoothed and as ridges at "
                             "the --sigmas, for dark worms in a bright-field well (default intensity)")
    parser.add_argument("--sigmas", type=_positive_float, nargs="+", default=None,
                        help="filter scales in micrometres (voxel-size units; pixels without a voxel size) "
                             "for --features multiscale or brightfield (default 1 2 4)")
    parser.add_argument("--sample-size", type=_whole_number(1), default=None,
                        help="pixels drawn at random to fit the model (default 200000)")
    parser.add_argument("--seed", type=_whole_number(0), default=None,
                        help="random seed; the same seed gives the same labels (default 0)")


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel-axis", type=int, default=None,
                        help="axis of the image that holds channels (default: from the file's metadata, "
                             f"else none); an axis longer than {_MAX_CHANNELS} is refused as an image axis "
                             "unless --force-channel-axis")
    parser.add_argument("--force-channel-axis", action="store_true",
                        help=f"accept a --channel-axis with more than {_MAX_CHANNELS} channels")
    parser.add_argument("--auto-mask", choices=AUTOMATIC_MASKS, default=None,
                        help="segment only inside a mask found from the image (its first channel): "
                             f"largest_bright_region (a bright-field well, {WELL_MARGIN} px in from its dark rim) "
                             "or otsu (pixels brighter than Otsu's threshold); 0 outside")
    parser.add_argument("--channel", type=_whole_number(0), action="append", default=None, metavar="N",
                        help="use only channel N (numbered from 0) of the channel axis; repeat for several, "
                             "e.g. --channel 0 --channel 2")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROGRAM,
        description="Segment microscopy images with Gaussian mixtures fitted by EM or Sinkhorn-EM.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    segment = commands.add_parser(
        "segment",
        help="segment TIFF / OME-TIFF images into classes",
        description="Segment each input and write <name>_labels.tif (OME-TIFF with the input's voxel "
                    "size), or <name>_labels.zarr for a zarr store, into the output folder. Inputs whose "
                    "output exists are skipped and unfinished zarr outputs are completed, so an "
                    "interrupted run can be resumed.",
    )
    segment.add_argument("inputs", nargs="+", type=Path, metavar="IN",
                         help="input TIFF / OME-TIFF files or zarr stores (.zarr, segmented chunk by chunk)")
    segment.add_argument("--component", default=None, metavar="NAME",
                         help="for zarr groups: the array to segment, e.g. 0 for the full resolution of OME-Zarr")
    segment.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    _add_fit_options(segment, with_method=True)
    _add_input_options(segment)
    models = segment.add_mutually_exclusive_group()
    models.add_argument("--model", type=Path, metavar="FILE", help="apply this saved model instead of fitting")
    models.add_argument("--save-model", type=Path, metavar="FILE",
                        help="fit on the first input, save the model here and apply it to all inputs")
    segment.add_argument("--instances", action="store_true",
                         help="split the object classes into connected objects, numbered one by one; the "
                              "other classes (the background) become 0")
    segment.add_argument("--object-classes", type=_whole_number(1), nargs="+", default=None, metavar="CLASS",
                         help="with --instances, the classes that hold objects, e.g. --object-classes 1 "
                              "(default: every class but the largest, taken as the background)")
    segment.add_argument("--min-size", type=_whole_number(0), default=10,
                         help="with --instances, remove objects smaller than this many pixels (default 10)")
    segment.set_defaults(run=_run_segment)

    compare = commands.add_parser(
        "compare",
        help="segment one image with EM and Sinkhorn-EM and compare",
        description="Segment one image with EM and with Sinkhorn-EM (same features, subsample and seed) "
                    "and write both label images, the mask of pixels where they disagree, and a figure.",
    )
    compare.add_argument("input", type=Path, metavar="IN", help="input TIFF / OME-TIFF file")
    compare.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    _add_fit_options(compare, with_method=False)
    _add_input_options(compare)
    compare.set_defaults(run=_run_compare)

    _add_neurons_command(commands)

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
    demo.set_defaults(run=_run_demo)
    return parser


def _segmenter_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Segmenter keyword arguments from the fit options (defaults for those not given)."""
    settings = {
        "n_components": 3 if args.n_components is None else args.n_components,
        "epsilon": 1.0 if args.epsilon is None else args.epsilon,
        "features": args.features or "intensity",
        "sample_size": 200_000 if args.sample_size is None else args.sample_size,
        "random_state": 0 if args.seed is None else args.seed,
    }
    for name in ("method", "weights", "assignment"):
        if getattr(args, name, None) is not None:
            settings[name] = getattr(args, name)
    sizes = settings.get("weights")
    if isinstance(sizes, tuple) and len(sizes) != settings["n_components"]:
        raise CommandError(
            f"--class-sizes gives {len(sizes)} sizes but there are {settings['n_components']} classes; "
            "give one size per class"
        )
    if args.sigmas is not None:
        settings["sigmas"] = tuple(args.sigmas)
    if getattr(args, "size_tolerance", None) is not None:
        if args.size_tolerance < 1:
            raise CommandError("--size-tolerance is a factor of 1 or more (1 holds the class sizes as given)")
        settings["size_tolerance"] = args.size_tolerance
    return settings


def _output_folder(path: Path) -> Path:
    """Create the output folder, check that files can be written in it, and clean our stale temporaries."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create the output folder {path} ({error.strerror or error})") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise CommandError(
            f"cannot write into the output folder {path} ({error.strerror or error}); make it writable "
            "or choose another --out"
        ) from None
    io.remove_stale_temporaries(path)
    return path


def _read(path: Path, channel_axis: int | None) -> tuple[io.ImageFile, int | None]:
    image = io.read_image(path)
    return image, image.channel_axis if channel_axis is None else channel_axis


def _choose_channels(image: Any, channel_axis: int | None, args: argparse.Namespace) -> tuple[Any, int | None]:
    """The image restricted to the channels of ``--channel``, after checking a given ``--channel-axis``.

    Raises ValueError (reported for the input) for a --channel-axis longer
    than a plausible number of channels, unless --force-channel-axis, and for
    --channel on an image without channels or beyond its channels.
    """
    shape = " × ".join(map(str, image.shape))
    if channel_axis is not None and -image.ndim <= channel_axis < image.ndim:
        length = image.shape[channel_axis]
        if args.channel_axis is not None and length > _MAX_CHANNELS and not args.force_channel_axis:
            raise ValueError(
                f"--channel-axis {args.channel_axis} is an axis of {length} values (image shape {shape}), which "
                f"looks like a row or column axis of the image rather than channels; give the axis that holds "
                f"the channels, leave --channel-axis out for a one-channel image, or add --force-channel-axis "
                f"if it really holds {length} channels"
            )
    if not args.channel:
        return image, channel_axis
    if channel_axis is None or not -image.ndim <= channel_axis < image.ndim:
        raise ValueError(
            f"--channel picks channels, but this image (shape {shape}) has no channel axis; give the axis "
            "with --channel-axis, or leave out --channel"
        )
    n_channels = image.shape[channel_axis]
    beyond = sorted({channel for channel in args.channel if channel >= n_channels})
    if beyond:
        raise ValueError(
            f"the image has {n_channels} channel(s), numbered 0 to {n_channels - 1}, so there is no channel "
            f"{', '.join(map(str, beyond))}"
        )
    index: list[Any] = [slice(None)] * image.ndim
    if len(args.channel) == 1:
        index[channel_axis] = args.channel[0]
        return image[tuple(index)], None
    index[channel_axis] = list(args.channel)
    return image[tuple(index)], channel_axis


def _object_classes(labels: Any, chosen: Sequence[int] | None) -> list[int]:
    """The classes that --instances splits: those chosen, or every class present but the largest."""
    if chosen is not None:
        return sorted(set(chosen))
    counts = np.bincount(np.asarray(labels).ravel())
    counts[0] = 0
    largest = int(np.argmax(counts))
    return [int(value) for value in np.flatnonzero(counts) if value != largest]


def _run_record(args: argparse.Namespace, segmenter_settings: dict[str, Any]) -> dict[str, Any]:
    """Everything about a run that shapes its labels, stored with each output to detect changed settings."""
    record = {
        "segmenter": segmenter_settings,
        "channel_axis": args.channel_axis,
        "channels": args.channel,
        "instances": args.instances,
        "auto_mask": args.auto_mask,
    }
    if args.model is not None:
        record["model_sha256"] = hashlib.sha256(args.model.read_bytes()).hexdigest()
    if args.instances:
        record.update(min_size=args.min_size, object_classes=args.object_classes)
    return json.loads(json.dumps(record, default=list))  # as it reads back from the file


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> str:
    """The settings that differ, e.g. ``n_components 3 there, 4 now``."""
    def flat(record: dict[str, Any]) -> dict[str, Any]:
        entries = {key: value for key, value in record.items() if key != "segmenter"}
        entries.update(record.get("segmenter") or {})
        return entries

    before, now = flat(stored), flat(wanted)
    changed = [key for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]
    return "; ".join(f"{key} {before.get(key)!r} there, {now.get(key)!r} now" for key in changed)


def _stored_record(output: Path, zarr_output: bool) -> dict[str, Any] | None:
    """The run record stored with an existing output, or None (none stored, or not readable)."""
    return lazy.zarr_labels_settings(output) if zarr_output else io.read_tiff_settings(output)


def _run_segment(args: argparse.Namespace, stderr: TextIO) -> int:
    if args.model is not None:
        given = [flag for name, flag in _FIT_OPTIONS.items() if getattr(args, name) is not None]
        if given:
            raise CommandError(
                f"--model applies a saved model with its own settings, so {', '.join(given)} cannot be "
                "used with it"
            )
        try:
            model = Segmenter.load(args.model)
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot use the model {args.model}: {error}") from None
        record = _run_record(args, model.get_params())
    else:
        model = None
        settings = _segmenter_settings(args)
        record = _run_record(args, Segmenter(**settings).get_params())
    n_classes = record["segmenter"]["n_components"]
    if args.object_classes is not None:
        if not args.instances:
            raise CommandError("--object-classes chooses the classes --instances splits; add --instances")
        beyond = sorted(value for value in set(args.object_classes) if value > n_classes)
        if beyond:
            raise CommandError(
                f"--object-classes names class {', '.join(map(str, beyond))}, but there are only {n_classes} "
                f"classes (1 to {n_classes})"
            )
    if args.save_model is not None and args.save_model.exists() and not args.overwrite:
        raise CommandError(
            f"the model file {args.save_model} already exists; apply it with --model, or add --overwrite"
        )
    if args.instances and any(_is_zarr(path) for path in args.inputs):
        raise CommandError("--instances is not available for zarr inputs (objects cross chunk borders)")
    outputs = [args.out / f"{_stem(path)}_labels{'.zarr' if _is_zarr(path) else '.tif'}" for path in args.inputs]
    resolved_inputs = {path.resolve() for path in args.inputs}
    seen: dict[Path, Path] = {}
    for path, output in zip(args.inputs, outputs):
        if output.resolve() in resolved_inputs:
            raise CommandError(f"the output {output} for {path} would replace an input file")
        if output.resolve() in seen:
            raise CommandError(
                f"{seen[output.resolve()]} and {path} would both be written to {output}; rename one of them"
            )
        seen[output.resolve()] = path
    _output_folder(args.out)

    failures = 0
    for path, output in zip(args.inputs, outputs):
        fits_model = args.save_model is not None and model is None
        # An existing output is kept (resumable runs); with --save-model its input is still fitted.
        # A zarr output counts once complete; an unfinished one is resumed chunk by chunk.
        finished = lazy.zarr_labels_complete(output) if _is_zarr(path) else output.exists()
        done_before = finished and not args.overwrite
        if done_before:
            stored = _stored_record(output, _is_zarr(path))
            if stored is not None and stored != record:
                failures += 1
                print(
                    f"{path}: error: {output} already exists but was made with other settings "
                    f"({_differences(stored, record)}); it is kept. Add --overwrite to replace it, or choose "
                    "another --out",
                    file=stderr,
                )
                continue
        skipped = f"{path}: skipped, {output} already exists (use --overwrite to replace it)"
        if done_before and not fits_model:
            print(skipped, file=stderr)
            continue
        bar = _ProgressBar(path.name, stderr)
        try:
            if _is_zarr(path):
                image, channel_axis, scale = lazy.read_zarr(path, args.component), args.channel_axis, None
            else:
                image_file, channel_axis = _read(path, args.channel_axis)
                image, scale = image_file.data, image_file.scale
            source = image
            image, channel_axis = _choose_channels(image, channel_axis, args)
            mask = None
            if args.auto_mask is not None:
                if lazy.is_dask_array(image):
                    raise ValueError("--auto-mask needs the image in memory; it is not available for zarr inputs")
                mask = automatic_mask(args.auto_mask, image, channel_axis=channel_axis)
            if model is not None:
                segmenter = model
                labels = model.predict(image, channel_axis=channel_axis, scale=scale, mask=mask, progress=bar)
            else:
                segmenter = Segmenter(**settings)
                labels = segmenter.fit_predict(image, channel_axis=channel_axis, scale=scale, mask=mask, progress=bar)
                if fits_model:
                    bar.close()
                    segmenter.save(args.save_model, overwrite=args.overwrite)
                    model = segmenter
                    print(f"{path}: model fitted and saved to {args.save_model}", file=stderr)
            if args.instances:
                labels = split_instances(labels, classes=_object_classes(labels, args.object_classes),
                                         min_size=args.min_size)
            bar.close()
            if done_before:
                print(skipped, file=stderr)
                continue
            if _is_zarr(path):
                written = lazy.write_zarr_labels(labels, output, segmenter=segmenter, image=source,
                                                 settings=record, overwrite=args.overwrite, progress=bar)
                bar.close()
                earlier = written.n_chunks - written.n_written
                resumed = f", {earlier} written by an earlier run" if earlier else ""
                print(f"{path}: wrote {output} ({written.n_chunks} chunks{resumed})", file=stderr)
                continue
            io.write_tiff(output, labels, scale=scale, settings=record, overwrite=args.overwrite)
        except FileExistsError as error:
            bar.close()
            failures += 1
            # The output did not exist when this input was started: another run wrote it meanwhile.
            print(f"{path}: error: {output} was written by another run or program while {path.name} was being "
                  "segmented; that file is kept and this result was not saved. Do not run two jobs into the "
                  f"same --out ({_sentence(error)})", file=stderr)
            continue
        except (OSError, ValueError, MemoryError, ImportError) as error:
            bar.close()
            failures += 1
            print(f"{path}: error: {_sentence(error)}", file=stderr)
            continue
        kind = "objects" if args.instances else "classes"
        print(f"{path}: wrote {output} ({int(labels.max())} {kind}; class sizes {segmenter.describe_class_sizes()})", file=stderr)
    if failures:
        print(f"{failures} of {len(args.inputs)} input(s) could not be segmented; see the errors above.",
              file=stderr)
        return 1
    return 0


def _sentence(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "not enough memory; try a smaller --sample-size or fewer features"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename})" if error.filename else error.strerror
    return str(error)


def _comparison_paths(folder: Path, stem: str, overwrite: bool) -> dict[str, Path]:
    """The four files of a comparison; unless ``overwrite``, none may exist yet."""
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
    io.write_tiff(paths["em"], result.em_labels, scale=scale, overwrite=True)
    io.write_tiff(paths["sinkhorn"], comparison.matched, scale=scale, overwrite=True)
    io.write_tiff(paths["disagreement"], comparison.disagreement, scale=scale, overwrite=True)
    io.write_comparison_figure(paths["figure"], image, result.em_labels, comparison,
                               channel_axis=channel_axis, overwrite=True)
    print(
        f"EM vs Sinkhorn-EM: adjusted Rand index {comparison.adjusted_rand_index:.4f}, "
        f"{100 * comparison.disagreement_fraction:.2f} % of pixels labelled differently.",
        file=stderr,
    )
    print(f"EM labels:                       {paths['em']}", file=stderr)
    print(f"Sinkhorn-EM labels (EM numbers): {paths['sinkhorn']}", file=stderr)
    print(f"Disagreement mask:               {paths['disagreement']}", file=stderr)
    print(f"Figure:                          {paths['figure']}", file=stderr)


def _run_compare(args: argparse.Namespace, stderr: TextIO) -> int:
    folder = _output_folder(args.out)
    paths = _comparison_paths(folder, _stem(args.input), args.overwrite)
    try:
        image, channel_axis = _read(args.input, args.channel_axis)
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read {args.input}: {_sentence(error)}") from None
    try:
        pixels, channel_axis = _choose_channels(image.data, channel_axis, args)
    except ValueError as error:
        raise CommandError(f"cannot use {args.input}: {error}") from None
    bar = _ProgressBar(args.input.name, stderr)
    settings = _segmenter_settings(args)
    try:
        result = compare_methods(pixels, settings.pop("n_components"), epsilon=settings.pop("epsilon"),
                                 channel_axis=channel_axis, scale=image.scale, progress=bar, **settings)
    except (ValueError, MemoryError) as error:
        raise CommandError(f"cannot segment {args.input}: {_sentence(error)}") from None
    finally:
        bar.close()
    _write_comparison(result, pixels, channel_axis, image.scale, paths, stderr)
    return 0


def _run_demo(args: argparse.Namespace, stderr: TextIO) -> int:
    """Segment the bundled worms sample with EM and with the recommended recipe; write and score both.

    Both fits use the same image, bright-field features (physical scales 6.25, 12.5 and 25 um) and
    automatic well mask (the largest bright region, 6 px in from its edge), with two classes. EM
    learns the class sizes; the recommended recipe is Sinkhorn-EM told that worms are about 10 %
    of the well (searched within the default factor of 3). Label 1 is the worms in both. Each is scored by
    the intersection over union (IoU) of its worm class with the sample's true worms, and by how
    many true worms it finds: a worm counts as found when the worm class around it (the pixels
    nearer to it than to any other worm) matches it with IoU >= 0.5.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy import ndimage

    from .features import largest_bright_region
    from .segmentation import DEFAULT_SIZE_TOLERANCE, segment

    worm_share, size_tolerance, margin = 0.10, DEFAULT_SIZE_TOLERANCE, WELL_MARGIN
    folder = _output_folder(args.out)
    paths = _comparison_paths(folder, "worms_2d", overwrite=True)
    sample = data.worms_2d()
    truth = sample.foreground
    print(f"Demo image: {sample.description}", file=stderr)
    well = largest_bright_region(sample.image, margin=margin)
    common = {"features": "brightfield", "sigmas": (6.25, 12.5, 25.0), "scale": sample.scale, "mask": well}
    runs = {
        "em": ("EM, class sizes learned", {"method": "em", "weights": "em"}),
        "sinkhorn": (
            f"Sinkhorn-EM, worms about {worm_share:.0%} of the well (within a factor {size_tolerance:g})",
            {"weights": (worm_share, 1.0 - worm_share)},
        ),
    }
    labels, worms = {}, {}
    for key, (title, options) in runs.items():
        bar = _ProgressBar(title, stderr)
        try:
            labels[key] = segment(sample.image, 2, progress=bar, **common, **options)
        finally:
            bar.close()
        worms[key] = labels[key] == 1

    def iou(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1))

    # Every pixel belongs to the zone of the true worm nearest to it.
    nearest = ndimage.distance_transform_edt(~truth, return_distances=False, return_indices=True)
    zones = sample.labels[tuple(nearest)]

    def worms_found(found: np.ndarray) -> np.ndarray:
        """Per true worm: does the worm class in the worm's zone match it with IoU >= 0.5?"""
        return np.array([iou(found & (zones == label), sample.labels == label) >= 0.5
                         for label in range(1, int(sample.labels.max()) + 1)], dtype=bool)

    scores = {key: iou(worms[key], truth) for key in runs}
    found = {key: worms_found(worms[key]) for key in runs}
    n_worms = int(sample.labels.max())

    image_path = folder / "worms_2d.tif"
    io.write_tiff(image_path, sample.image, scale=sample.scale, overwrite=True)
    for key, (title, options) in runs.items():
        settings = {"recipe": title, "n_components": 2, "features": "brightfield",
                    "sigmas": list(common["sigmas"]), "mask": f"largest bright region, {margin} px margin",
                    "worms": "label 1", **{name: list(value) if isinstance(value, tuple) else value
                                           for name, value in options.items()}}
        io.write_tiff(paths[key], labels[key], scale=sample.scale, settings=settings, overwrite=True)
    disagreement = well & (labels["em"] != labels["sinkhorn"])
    io.write_tiff(paths["disagreement"], disagreement, scale=sample.scale, overwrite=True)

    # The figure: the image; each recipe's worm class against the truth; the worms only the
    # recommended recipe finds.
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
    for axis, key in zip(axes[1:3], runs):
        axis.imshow(painted([(worms[key] & truth, green), (worms[key] & ~truth, magenta),
                             (truth & ~worms[key], yellow)]), interpolation="nearest")
        axis.set_title(f"{runs[key][0].replace(' (', chr(10) + '(')}\n"
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
    with io.atomic_write(paths["figure"], overwrite=True) as handle:
        figure.savefig(handle, format="png", dpi=100)

    print(f"Image:                           {image_path}", file=stderr)
    print(f"EM labels (1 = worms):           {paths['em']}", file=stderr)
    print(f"Sinkhorn-EM labels (1 = worms):  {paths['sinkhorn']}", file=stderr)
    print(f"Disagreement mask:               {paths['disagreement']}", file=stderr)
    print(f"Figure:                          {paths['figure']}", file=stderr)
    for key in runs:
        share = np.count_nonzero(worms[key]) / np.count_nonzero(well)
        print(f"{runs[key][0]}: worm IoU {scores[key]:.3f} against the true worms, {found[key].sum()} of "
              f"{n_worms} worms found, {share:.1%} of the well called worm.", file=stderr)
    print("(A worm counts as found when the worm class around it, in the pixels nearer to it than to any "
          "other worm, matches it with IoU >= 0.5.)", file=stderr)
    return 0


# ---------------------------------------------------------------------------
# neurons: one label and one table row per neuron of a NeuroPAL stack
# ---------------------------------------------------------------------------

# Colours of the neuron categories in the comparison figure, by CATEGORY_CODES code (0 = background).
_CATEGORY_COLOURS = {
    0: (0.0, 0.0, 0.0),
    CATEGORY_CODES["matched"]: (0.55, 0.55, 0.55),
    CATEGORY_CODES["split"]: (1.0, 0.6, 0.0),
    CATEGORY_CODES["merged"]: (0.9, 0.2, 0.9),
    CATEGORY_CODES["moved"]: (0.0, 0.8, 0.9),
    CATEGORY_CODES["unmatched"]: (1.0, 0.15, 0.15),
}
_COMPARED_METHODS = ("em", "sinkhorn")


def _pan_neuronal_channel(text: str) -> int | bool:
    """An argparse type: a channel number, or ``none`` (the image has no pan-neuronal channel)."""
    if text.lower() == "none":
        return False
    try:
        return _whole_number(0)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a channel number (0, 1, ...) or none, got {text!r}") from None


def _add_neurons_command(commands: Any) -> None:
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
    neurons.add_argument("--voxel-size", type=_positive_float, nargs=3, default=None, metavar=("Z", "Y", "X"),
                         help="voxel size in um (default: from the file's metadata)")
    neurons.add_argument("--channel-axis", type=int, default=None, metavar="N",
                         help="axis of the image that holds channels (default: from the file's metadata)")
    neurons.add_argument("--pan-neuronal-channel", type=_pan_neuronal_channel, default=None, metavar="C",
                         help="channel marking every nucleus, used to find the foreground, or none (default: "
                              "the last channel of 4 or more, as in NeuroPAL, else none)")
    neurons.add_argument("--colour-channels", type=_whole_number(0), nargs="+", default=None, metavar="C",
                         help="channels used as colours (default: every channel but the pan-neuronal one)")
    neurons.add_argument("--channel-names", nargs="+", default=None, metavar="NAME",
                         help="one name per channel for the table's columns, e.g. mTagBFP2 CyOFP1 mNeptune2.5 "
                              "pan-neuronal (default channel_0, channel_1, ...)")
    neurons.add_argument("--n-neurons", type=_whole_number(1), default=None, metavar="K",
                         help="number of neurons to fit (default: the foreground volume over one nucleus's)")
    neurons.add_argument("--nucleus-radius", type=_positive_float, default=DEFAULT_NUCLEUS_RADIUS_UM, metavar="R",
                         help=f"typical nucleus radius in um (default {DEFAULT_NUCLEUS_RADIUS_UM})")
    neurons.add_argument("--method", choices=tuple(METHODS), default=None,
                         help="how the Gaussians are fitted: sinkhorn_start, em or sinkhorn (default "
                              "sinkhorn_start)")
    neurons.add_argument("--max-iter", type=_whole_number(1), default=DEFAULT_NEURON_MAX_ITER, metavar="N",
                         help=f"most iterations of the fit (default {DEFAULT_NEURON_MAX_ITER})")
    neurons.add_argument("--compare", action="store_true",
                         help="also fit with EM and with Sinkhorn-EM and compare them neuron by neuron")
    neurons.add_argument("--seed", type=_whole_number(0), default=0, metavar="S",
                         help="random seed; the same seed gives the same labels (default 0)")
    neurons.add_argument("--overwrite", action="store_true", help="replace existing output files")
    neurons.set_defaults(run=_run_neurons)


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
        image = io.read_image(args.input)
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read {args.input}: {_sentence(error).rstrip('.')}") from None
    pixels, shape = image.data, " × ".join(map(str, image.data.shape))
    channel_axis = image.channel_axis if args.channel_axis is None else args.channel_axis
    if not (channel_axis is None or -pixels.ndim <= channel_axis < pixels.ndim):
        raise CommandError(
            f"--channel-axis {channel_axis} does not exist: {args.input} has {pixels.ndim} axes (shape {shape}), "
            f"numbered 0 to {pixels.ndim - 1}"
        )
    if channel_axis is not None and pixels.shape[channel_axis] > _MAX_CHANNELS:
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
    bar = _ProgressBar(f"{args.input.name} ({METHOD_NAMES[method or default_method()]})", stderr)
    try:
        return segment_neurons(
            pixels, channel_axis=channel_axis, scale=scale,
            n_neurons=args.n_neurons if n_neurons is None else n_neurons,
            colour_channels=args.colour_channels, pan_neuronal_channel=args.pan_neuronal_channel, mask=mask,
            nucleus_radius_um=args.nucleus_radius, method=method, random_state=args.seed, max_iter=args.max_iter,
            progress=bar, channel_names=args.channel_names,
        )
    except (ValueError, MemoryError) as error:
        raise CommandError(f"cannot find the neurons in {args.input}: {_sentence(error).rstrip('.')}") from None
    finally:
        bar.close()


def _neuron_settings(args: argparse.Namespace, result: NeuronSegmentation) -> dict[str, Any]:
    """What made a neurons label image, stored in its OME description."""
    return {
        "command": "neurons",
        "method": result.segmenter.method,
        "n_neurons": result.n_neurons,
        "suggested_n_neurons": result.suggested_n_neurons,
        "nucleus_radius_um": args.nucleus_radius,
        "colour_channels": list(result.colour_channels),
        "pan_neuronal_channel": result.pan_neuronal_channel,
        "voxel_size_um": list(result.scale),
        "max_iter": args.max_iter,
        "seed": args.seed,
    }


def _run_neurons(args: argparse.Namespace, stderr: TextIO) -> int:
    folder = _output_folder(args.out)
    paths = _neuron_paths(folder, _stem(args.input), args.compare, args.overwrite)
    pixels, channel_axis, scale = _read_stack(args)
    result = _find_neurons(pixels, channel_axis, scale, args, method=args.method, stderr=stderr)
    io.write_tiff(paths["labels"], result.labels, scale=scale, settings=_neuron_settings(args, result),
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
    _write_neuron_comparison_figure(paths["figure"], match, result.scale, names, overwrite=args.overwrite)
    print(f"{names[0]} (A) against {names[1]} (B): {match.summary()}", file=stderr)
    print(f"Comparison figure:           {paths['figure']}", file=stderr)
    print(f"Each neuron's category:      {paths['categories']}", file=stderr)


def _label_colours(n_labels: int) -> Any:
    """A colour map for label images: black background, then tab20 repeating."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    palette = np.asarray(matplotlib.colormaps["tab20"].colors)
    return ListedColormap(np.vstack([[0.0, 0.0, 0.0], palette[np.arange(max(n_labels, 1)) % len(palette)]]))


def _write_neuron_comparison_figure(path: Path, match: NeuronMatch, scale, names, *, overwrite: bool) -> None:
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
    with io.atomic_write(path, overwrite=overwrite) as handle:
        figure.savefig(handle, format="png", dpi=100)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``napari-sinkhorn-em`` command.

    Parameters
    ----------
    argv : sequence of str or None, default None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        Exit status: 0 success, 1 some inputs of ``segment`` failed, 2
        invalid arguments or unusable input.
    """
    args = _build_parser().parse_args(argv)
    stderr = sys.stderr
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, category, *rest, **kw: print(f"warning: {message}", file=stderr)
        try:
            return args.run(args, stderr)
        except CommandError as error:
            print(f"{PROGRAM} {args.command}: error: {error}.", file=stderr)
            return 2
