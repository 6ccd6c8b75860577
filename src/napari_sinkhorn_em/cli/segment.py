"""``segment``: label each input's pixels with a fitted (or saved) model, resumably."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .. import image_files, lazy
from ..features import automatic_mask
from ..segmentation import DEFAULT_MIN_SIZE, Segmenter, split_instances
from .arguments import FIT_OPTIONS, add_fit_options, add_input_options, segmenter_settings, whole_number
from .errors import CommandError, sentence
from .files import choose_channels, is_zarr, output_folder, read_input, stem
from .progress import ProgressBar


def add_segment_command(commands: Any) -> None:
    """The ``segment`` command and its options.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The parser's subcommands (``add_subparsers()``).
    """
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
    add_fit_options(segment, with_method=True)
    add_input_options(segment)
    models = segment.add_mutually_exclusive_group()
    models.add_argument("--model", type=Path, metavar="FILE", help="apply this saved model instead of fitting")
    models.add_argument("--save-model", type=Path, metavar="FILE",
                        help="fit on the first input, save the model here and apply it to all inputs")
    segment.add_argument("--instances", action="store_true",
                         help="split the object classes into connected objects, numbered one by one; the "
                              "other classes (the background) become 0")
    segment.add_argument("--object-classes", type=whole_number(1), nargs="+", default=None, metavar="CLASS",
                         help="with --instances, the classes that hold objects, e.g. --object-classes 1 "
                              "(default: every class but the largest, taken as the background)")
    segment.add_argument("--min-size", type=whole_number(0), default=DEFAULT_MIN_SIZE,
                         help="with --instances, remove objects smaller than this many pixels "
                              f"(default {DEFAULT_MIN_SIZE})")
    segment.set_defaults(run=run_segment)


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
    return lazy.zarr_labels_settings(output) if zarr_output else image_files.read_tiff_settings(output)


def _model_and_record(args: argparse.Namespace) -> tuple[Segmenter | None, dict[str, Any] | None, dict[str, Any]]:
    """The saved model (--model) or the settings of the fit, and the run record of either."""
    if args.model is None:
        settings = segmenter_settings(args)
        return None, settings, _run_record(args, Segmenter(**settings).get_params())
    given = [flag for name, flag in FIT_OPTIONS.items() if getattr(args, name) is not None]
    if given:
        raise CommandError(
            f"--model applies a saved model with its own settings, so {', '.join(given)} cannot be "
            "used with it"
        )
    try:
        model = Segmenter.load(args.model)
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot use the model {args.model}: {error}") from None
    return model, None, _run_record(args, model.get_params())


def _check_segment_options(args: argparse.Namespace, n_classes: int) -> None:
    """Refuse options that do not go together, before anything is read or written."""
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
    if args.instances and any(is_zarr(path) for path in args.inputs):
        raise CommandError("--instances is not available for zarr inputs (objects cross chunk borders)")


def _output_paths(args: argparse.Namespace) -> list[Path]:
    """Each input's output; none may replace an input or be shared by two inputs."""
    outputs = [args.out / f"{stem(path)}_labels{'.zarr' if is_zarr(path) else '.tif'}" for path in args.inputs]
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
    return outputs


def _read_segment_input(path: Path, args: argparse.Namespace) -> tuple[Any, Any, int | None, Any, Any]:
    """The input as read (``source``), its chosen channels, their channel axis, voxel size and --auto-mask."""
    if is_zarr(path):
        image, channel_axis, scale = lazy.read_zarr(path, args.component), args.channel_axis, None
    else:
        image_file, channel_axis = read_input(path, args.channel_axis)
        image, scale = image_file.data, image_file.scale
    source = image
    image, channel_axis = choose_channels(image, channel_axis, args)
    mask = None
    if args.auto_mask is not None:
        if lazy.is_dask_array(image):
            raise ValueError("--auto-mask needs the image in memory; it is not available for zarr inputs")
        mask = automatic_mask(args.auto_mask, image, channel_axis=channel_axis)
    return source, image, channel_axis, scale, mask


def _write_labels(path, output, labels, segmenter, source, scale, record, args, bar: ProgressBar) -> str:
    """Write the labels (a zarr store chunk by chunk, else an OME-TIFF); the line that says so."""
    if is_zarr(path):
        written = lazy.write_zarr_labels(labels, output, segmenter=segmenter, image=source,
                                         settings=record, overwrite=args.overwrite, progress=bar)
        bar.close()
        earlier = written.n_chunks - written.n_written
        resumed = f", {earlier} written by an earlier run" if earlier else ""
        return f"{path}: wrote {output} ({written.n_chunks} chunks{resumed})"
    image_files.write_tiff(output, labels, scale=scale, settings=record, overwrite=args.overwrite)
    kind = "objects" if args.instances else "classes"
    return f"{path}: wrote {output} ({int(labels.max())} {kind}; class sizes {segmenter.describe_class_sizes()})"


def run_segment(args: argparse.Namespace, stderr: TextIO) -> int:
    """Segment every input into the output folder; the exit status is 1 when some could not be segmented, else 0.

    Parameters
    ----------
    args : argparse.Namespace
    stderr : text file
        Where the progress and the outputs' paths are printed.

    Returns
    -------
    exit_status : int
    """
    model, settings, record = _model_and_record(args)
    _check_segment_options(args, record["segmenter"]["n_components"])
    outputs = _output_paths(args)
    output_folder(args.out)
    failures = 0
    for path, output in zip(args.inputs, outputs):
        fits_model = args.save_model is not None and model is None
        # An existing output is kept (resumable runs); with --save-model its input is still fitted.
        # A zarr output counts once complete; an unfinished one is resumed chunk by chunk.
        finished = lazy.zarr_labels_complete(output) if is_zarr(path) else output.exists()
        done_before = finished and not args.overwrite
        if done_before:
            stored = _stored_record(output, is_zarr(path))
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
        bar = ProgressBar(path.name, stderr)
        try:
            source, image, channel_axis, scale, mask = _read_segment_input(path, args)
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
            wrote = _write_labels(path, output, labels, segmenter, source, scale, record, args, bar)
        except FileExistsError as error:
            bar.close()
            failures += 1
            # The output did not exist when this input was started: another run wrote it meanwhile.
            print(f"{path}: error: {output} was written by another run or program while {path.name} was being "
                  "segmented; that file is kept and this result was not saved. Do not run two jobs into the "
                  f"same --out ({sentence(error)})", file=stderr)
            continue
        except (OSError, ValueError, MemoryError, ImportError) as error:
            bar.close()
            failures += 1
            print(f"{path}: error: {sentence(error)}", file=stderr)
            continue
        print(wrote, file=stderr)
    if failures:
        print(f"{failures} of {len(args.inputs)} input(s) could not be segmented; see the errors above.",
              file=stderr)
        return 1
    return 0
