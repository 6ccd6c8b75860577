"""Input and output files of the commands: names, the output folder, reading an image and choosing its channels."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from .. import image_files
from .errors import CommandError

_IMAGE_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".ome.zarr", ".zarr")
#: A --channel-axis longer than this looks like an image axis, not channels (unless --force-channel-axis).
MAX_CHANNELS = 16


def stem(path: Path) -> str:
    """File name without its TIFF / OME-TIFF / zarr extension.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    str
    """
    name = path.name
    for suffix in _IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def is_zarr(path: Path) -> bool:
    """Whether ``path`` names a zarr store.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    bool
    """
    return path.name.lower().endswith(".zarr")


def output_folder(path: Path) -> Path:
    """Create the output folder, check that files can be written in it, and clean our stale temporaries.

    Parameters
    ----------
    path : pathlib.Path
        The folder (``--out``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    CommandError
        If files cannot be written in it.
    """
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
    image_files.remove_stale_temporaries(path)
    return path


def read_input(path: Path, channel_axis: int | None) -> tuple[image_files.ImageFile, int | None]:
    """The image file and its channel axis: ``channel_axis`` if given, else the file's own.

    Parameters
    ----------
    path : pathlib.Path
        A TIFF or OME-TIFF file.
    channel_axis : int or None
        ``--channel-axis``; None takes the file's.

    Returns
    -------
    image : ImageFile
    channel_axis : int or None
    """
    image = image_files.read_image(path)
    return image, image.channel_axis if channel_axis is None else channel_axis


def choose_channels(image: Any, channel_axis: int | None, args: argparse.Namespace) -> tuple[Any, int | None]:
    """The image restricted to the channels of ``--channel``, after checking a given ``--channel-axis``.

    Parameters
    ----------
    image : array_like
        The pixels read.
    channel_axis : int or None
        Their channel axis.
    args : argparse.Namespace
        The parsed command line (``--channel-axis``, ``--force-channel-axis``, ``--channel``).

    Returns
    -------
    image : array_like
        The chosen channels (without a channel axis when one is chosen).
    channel_axis : int or None
        Their channel axis.

    Raises
    ------
    ValueError
        Reported for the input: a --channel-axis longer than a plausible
        number of channels, unless --force-channel-axis, and --channel on an
        image without channels or beyond its channels.
    """
    shape = " × ".join(map(str, image.shape))
    if channel_axis is not None and -image.ndim <= channel_axis < image.ndim:
        length = image.shape[channel_axis]
        if args.channel_axis is not None and length > MAX_CHANNELS and not args.force_channel_axis:
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
