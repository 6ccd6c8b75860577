"""Reading images with their voxel size, and writing every output file atomically.

* :func:`read_image` reads a TIFF, ImageJ hyperstack or OME-TIFF with tifffile
  and returns the pixels, the axis letters, the channel axis and the voxel
  size in micrometres (from OME ``PhysicalSize*`` or ImageJ
  ``spacing``/resolution metadata).
* :func:`atomic_write` is the one way this package writes a file: the bytes go
  to a temporary file in the destination folder, which then replaces the
  destination with :func:`os.replace`. A crash or an error part-way leaves the
  old file (or no file), never half a file.
  Without ``overwrite`` the finished file is published with an exclusive
  link, so of two runs writing the same new file one wins and the other gets
  :class:`FileExistsError`; temporaries left by a killed run are removed by
  the next write (:func:`remove_stale_temporaries`).
* :func:`write_tiff` uses it for label images (OME-TIFF with the voxel size
  and, optionally, the settings that made them, read back by
  :func:`read_tiff_settings`).
* :func:`parse_json` reads JSON documents such as model files, refusing
  numbers beyond float range and absurd nesting with a ValueError.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
import uuid
import warnings
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import tifffile

try:  # POSIX: a temporary being written is locked, so a later run can tell it from a dead run's
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "ImageFile",
    "atomic_write",
    "parse_json",
    "read_image",
    "read_tiff_settings",
    "remove_stale_temporaries",
    "write_tiff",
]

# Length units met in OME and ImageJ metadata, in micrometres.
_MICROMETRES_PER_UNIT = {
    "pm": 1e-6,
    "Å": 1e-4,
    "nm": 1e-3,
    "µm": 1.0,
    "μm": 1.0,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "\\u00b5m": 1.0,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}
_CHANNEL_LETTERS = "CS"
# Temporary files of atomic_write: ".<name>.<12 hex digits>.tmp".
_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")
# Without file locks (Windows), a temporary this old (seconds) is taken as left by a dead run.
_STALE_AGE = 24 * 3600
# Key of the settings stored in the OME Description of a TIFF written with write_tiff(settings=...).
_SETTINGS_KEY = "napari-sinkhorn-em settings"
# Deepest nesting parse_json accepts (a model file nests 4 levels).
_MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class ImageFile:
    """An image read from disk.

    Attributes
    ----------
    data : numpy.ndarray
        The pixels, with size-1 axes removed.
    axes : str
        One tifffile axis letter per axis of ``data`` (e.g. ``"ZCYX"``);
        ``C`` and ``S`` hold channels, ``Z``, ``Y``, ``X`` (or letters tifffile
        could not name, such as ``Q``) are spatial.
    channel_axis : int or None
        Index of the channel axis in ``data``, or None for one channel.
    scale : tuple of float or None
        Voxel size in micrometres per spatial axis (in the order of the
        spatial axes of ``data``), or None when the file records none.
    path : pathlib.Path
        Where the image was read from.
    """

    data: np.ndarray
    axes: str
    channel_axis: int | None
    scale: tuple[float, ...] | None
    path: Path


def _micrometres(value: Any, unit: str | None) -> float | None:
    """A length in micrometres, or None if it is missing, not positive or in an unknown unit."""
    factor = _MICROMETRES_PER_UNIT.get("µm" if unit is None else unit.strip())
    try:
        length = float(value)
    except (TypeError, ValueError):
        return None
    if factor is None or not (math.isfinite(length) and length > 0):
        return None
    return length * factor


def _ome_sizes(tif: tifffile.TiffFile) -> tuple[dict[str, float], list[str]]:
    """Physical sizes per axis letter from the first OME ``Pixels`` element, and the unusable ones.

    The second item describes each ``PhysicalSize*`` that is given but not a
    positive finite length in a known unit, e.g. ``"PhysicalSizeX = 0 µm"``.
    """
    root = ElementTree.fromstring(tif.ome_metadata)
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Pixels":
            sizes, unusable = {}, []
            for letter in "XYZ":
                value, unit = element.get(f"PhysicalSize{letter}"), element.get(f"PhysicalSize{letter}Unit")
                if value is None:
                    continue
                size = _micrometres(value, unit)
                if size is None:
                    unusable.append(f"PhysicalSize{letter} = {value} {unit or 'µm'}")
                else:
                    sizes[letter] = size
            return sizes, unusable
    return {}, []


def _imagej_sizes(tif: tifffile.TiffFile) -> dict[str, float]:
    """Pixel size from the resolution tags and z spacing from an ImageJ description."""
    unit = tif.imagej_metadata.get("unit")
    if unit is None:
        return {}
    sizes = {}
    tags = tif.pages[0].tags
    for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
        if tag in tags:
            numerator, denominator = tags[tag].value
            if numerator > 0:
                sizes[letter] = _micrometres(denominator / numerator, unit)
    if "spacing" in tif.imagej_metadata:
        sizes["Z"] = _micrometres(tif.imagej_metadata["spacing"], unit)
    return {letter: size for letter, size in sizes.items() if size is not None}


def _existing_file(path: Path) -> Path:
    """``path``, refused when it does not exist, is a folder or is empty."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; check the folder and the file name.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file; give the path of a TIFF file in it.")
    if path.stat().st_size == 0:
        raise ValueError(
            f"{path} is empty (0 bytes), perhaps an interrupted copy or download; copy or save it again."
        )
    return path


def _read_tiff(path: Path) -> tuple[np.ndarray, str, dict[str, float], list[str]]:
    """The first series' pixels and axis letters, the voxel sizes (µm by axis letter) and the unusable OME sizes."""
    unusable: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            data = series.asarray()
            if tif.is_ome:
                sizes, unusable = _ome_sizes(tif)
            elif tif.is_imagej:
                sizes = _imagej_sizes(tif)
            else:
                sizes = {}
    except (FileNotFoundError, MemoryError):
        raise
    except Exception as error:  # a damaged file fails anywhere in the decoder: zlib.error, struct.error...
        raise ValueError(
            f"{path} could not be read as a TIFF image ({error}). Only TIFF, ImageJ TIFF and "
            f"OME-TIFF files are read; a damaged file must be copied again, another format "
            f"converted (e.g. in Fiji: File > Save As > Tiff)."
        ) from None
    return data, axes, sizes, unusable


def _warn_unusable_sizes(path: Path, unusable: list[str], scale: tuple[float, ...] | None) -> None:
    """Warn (for the caller of :func:`read_image`) that OME sizes were not positive lengths, and what is used."""
    used = (
        f"the voxel size used is {scale} µm (1 µm along the axes without a usable size)"
        if scale is not None
        else "no voxel size is used: filter scales count in pixels and the labels are written without one"
    )
    warnings.warn(
        f"{path.name}: the voxel size in the file's OME metadata is not a positive length "
        f"({', '.join(unusable)}); {used}. Set the right voxel size in the file (e.g. in Fiji: "
        f"Image > Properties) if it matters.",
        UserWarning,
        stacklevel=3,
    )


def read_image(path: str | os.PathLike) -> ImageFile:
    """Read a TIFF, ImageJ TIFF or OME-TIFF with its channel axis and voxel size.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    ImageFile
        Pixels (first image series, size-1 axes removed), axis letters,
        channel axis (the ``C`` or ``S`` axis, if any) and the voxel size in
        micrometres per spatial axis (None if the file records none). A
        spatial axis that tifffile cannot name (``Q``, ``I``) takes the z
        spacing.

    Raises
    ------
    ValueError
        If the path is a folder or an empty file, the file cannot be read as a
        TIFF, holds a time series, or has both a channel and a colour-sample
        axis.
    FileNotFoundError
        If the file does not exist.
    """
    path = _existing_file(Path(path))
    data, axes, sizes, unusable = _read_tiff(path)
    if "T" in axes:
        raise ValueError(
            f"{path} holds a time series (axes {axes}); save one time point per file and segment those."
        )
    channel_axes = [index for index, letter in enumerate(axes) if letter in _CHANNEL_LETTERS]
    if len(channel_axes) > 1:
        raise ValueError(
            f"{path} has both channels and colour samples (axes {axes}); save it with one channel axis."
        )
    spatial = [letter for letter in axes if letter not in _CHANNEL_LETTERS]
    scale = None
    if sizes:
        scale = tuple(sizes.get(letter if letter in "XY" else "Z", 1.0) for letter in spatial)
    if unusable:
        _warn_unusable_sizes(path, unusable, scale)
    return ImageFile(
        data=data,
        axes=axes,
        channel_axis=channel_axes[0] if channel_axes else None,
        scale=scale,
        path=path,
    )


def _lock(handle: IO[bytes]) -> bool:
    """Take an exclusive lock on an open file without waiting; True if taken (always, without fcntl)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _is_stale(temporary: Path) -> bool:
    """True if no running process writes ``temporary`` (its lock is free; old, without file locks)."""
    if fcntl is None:
        return time.time() - temporary.stat().st_mtime > _STALE_AGE
    with open(temporary, "rb") as handle:
        return _lock(handle)


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write` left in ``folder`` when its process was killed.

    Only files named as :func:`atomic_write` names them (``.NAME.<12 hex
    digits>.tmp``) are considered, and only those no running process is
    writing (on POSIX a temporary is locked while it is written; elsewhere
    one older than a day counts as left behind).

    Parameters
    ----------
    folder : str or path-like
        The folder to clean; a missing folder has nothing to clean.
    name : str or None, default None
        Only the temporaries of this destination file name (e.g.
        ``"cells_labels.tif"``); None: those of every name.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.iterdir():
        match = _TEMPORARY_NAME.match(candidate.name)
        if match is None or (name is not None and match["name"] != name) or not candidate.is_file():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to delete
            if _is_stale(candidate):
                candidate.unlink()
                removed.append(candidate)
    return removed


def _open_temporary(path: Path) -> tuple[Path, IO[bytes]]:
    """A new, locked hidden temporary file next to ``path``."""
    while True:
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        # Exclusive creation ("x"), not tempfile.mkstemp, so the file gets the usual permissions (umask).
        handle = open(temporary, "xb")
        _lock(handle)
        # A cleaner that ran between the creation and the lock may have removed it: start again.
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(temporary)):
                return temporary, handle
        handle.close()


def _publish(temporary: Path, path: Path, overwrite: bool) -> None:
    """Move the finished temporary to ``path``; without ``overwrite``, only if ``path`` still does not exist."""
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # atomic and exclusive: fails if another process created path meanwhile
    except FileExistsError:
        raise FileExistsError(
            f"{path} was created by another program or run while this one was writing it; that file is "
            f"kept and this result was not saved. Do not run two jobs into the same output folder, or "
            f"allow overwriting."
        ) from None
    except OSError:  # a file system without hard links: the check just before is the best there is
        if path.exists():
            raise FileExistsError(f"{path} already exists; choose another name or allow overwriting.") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[IO[bytes]]:
    """Open a binary file that appears at ``path`` only once it is completely written.

    The data go to a hidden temporary file ``.NAME.<hex>.tmp`` in the same
    folder, which is flushed to disk and then moved to ``path``: with
    :func:`os.replace` when overwriting (atomic on POSIX and Windows), else
    with an exclusive hard link, so that a file another process created at
    ``path`` in the meantime is never replaced. If the ``with`` block raises,
    the temporary file is deleted and ``path`` is left as it was. Temporaries
    of ``path`` left by a killed process are deleted first
    (:func:`remove_stale_temporaries`).

    Parameters
    ----------
    path : str or path-like
        Destination file; its folder must exist.
    overwrite : bool, default False
        Replace an existing file. Without it an existing ``path`` raises
        :class:`FileExistsError` before anything is written.

    Yields
    ------
    file object
        A binary file opened for writing (seekable, so tifffile and
        matplotlib can write into it).

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False, checked before writing
        and again when the file is put in place (another run may have written
        it meanwhile; its file is kept).
    FileNotFoundError
        If the folder of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name in it, e.g. {path / 'labels.tif'}.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"The folder {path.parent} does not exist; create it first or choose another folder.")
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists; choose another name or allow overwriting.")
    remove_stale_temporaries(path.parent, path.name)
    temporary, handle = _open_temporary(path)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            if fcntl is not None:  # put in place while still locked, so no cleaner takes it for a dead run's
                _publish(temporary, path, overwrite)
        if fcntl is None:  # Windows cannot move an open file
            _publish(temporary, path, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def parse_json(text: str | bytes, *, max_depth: int = _MAX_JSON_DEPTH) -> Any:
    """Parse a JSON document from an untrusted file (e.g. a model file), with one kind of error.

    Parameters
    ----------
    text : str or bytes
        The document (bytes are decoded as UTF-8).
    max_depth : int, default 64
        Deepest nesting of arrays and objects accepted.

    Returns
    -------
    object
        The parsed document; every number is an int or a finite float.

    Raises
    ------
    ValueError
        If the text is not JSON, holds ``NaN``/``Infinity`` or a number
        beyond float range (such as ``1e999``), or nests deeper than
        ``max_depth``. The message says which, without a traceback's worth of
        detail.
    """

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"the number {number[:40]} is beyond the range of floating-point numbers")
        return value

    def refuse(constant: str) -> None:
        raise ValueError(f"it holds {constant}, which is not a number JSON allows")

    try:
        document = json.loads(text, parse_float=finite, parse_constant=refuse)
    except RecursionError:
        document = None
        depth = max_depth + 1
    else:
        depth = _json_depth(document)
    if depth > max_depth:
        raise ValueError(f"its arrays or objects are nested more than {max_depth} levels deep")
    return document


def _json_depth(document: Any) -> int:
    """Deepest nesting of lists and dicts in a parsed JSON document (without recursion)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def write_tiff(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    scale: Sequence[float] | None = None,
    settings: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a 2-D or 3-D single-channel image (e.g. labels) as an OME-TIFF, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination, e.g. ``"cells_labels.tif"``.
    array : numpy.ndarray
        Numeric or boolean image with axes YX or ZYX. Booleans are stored as
        0/1 uint8, float16 as float32, and 64-bit integers (which OME-TIFF
        cannot hold) as 32-bit integers when their values fit.
    scale : sequence of float or None, default None
        Voxel size in micrometres per axis, stored as OME ``PhysicalSize*``
        (read back by :func:`read_image`, Fiji/Bio-Formats and napari
        readers that understand OME-TIFF); None stores no voxel size.
    settings : dict or None, default None
        The settings that made the image (JSON-serialisable), stored in the
        OME ``Description`` and read back by :func:`read_tiff_settings`.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        For an array that is not 2-D or 3-D, not numeric, or of 64-bit
        integers beyond the 32-bit range, for a ``scale`` that is not one
        positive voxel size per axis, and for ``settings`` JSON cannot hold.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False (the file is untouched).
    """
    array = _tiff_array(np.asarray(array))
    if array.ndim not in (2, 3):
        raise ValueError(f"Only 2-D and 3-D single-channel images are written here, got shape {array.shape}.")
    axes = "ZYX"[-array.ndim :]
    metadata: dict[str, Any] = {"axes": axes}
    if scale is not None:
        if len(scale) != array.ndim:
            raise ValueError(f"scale needs one voxel size per axis ({array.ndim}), got {tuple(scale)}.")
        if not all(isinstance(size, (int, float, np.number)) and math.isfinite(size) and size > 0 for size in scale):
            raise ValueError(f"Every voxel size in scale must be a positive number (micrometres); got {tuple(scale)}.")
        for letter, size in zip(axes, scale):
            metadata[f"PhysicalSize{letter}"] = float(size)
            metadata[f"PhysicalSize{letter}Unit"] = "µm"
    if settings is not None:
        try:
            metadata["Description"] = json.dumps({_SETTINGS_KEY: settings}, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"The settings cannot be stored in the TIFF as JSON: {error}") from None
    with atomic_write(path, overwrite=overwrite) as handle:
        tifffile.imwrite(handle, array, ome=True, photometric="minisblack", metadata=metadata, compression="zlib")
    return Path(path)


def read_tiff_settings(path: str | os.PathLike) -> dict[str, Any] | None:
    """The settings :func:`write_tiff` stored in a TIFF (``settings=``), or None.

    Parameters
    ----------
    path : str or path-like
        A TIFF file.

    Returns
    -------
    dict or None
        The settings; None if the file holds none (written without
        ``settings=``, by another program, or unreadable).
    """
    try:
        with tifffile.TiffFile(path) as tif:
            xml = tif.ome_metadata if tif.is_ome else None
        if xml is None:
            return None
        for element in ElementTree.fromstring(xml).iter():
            if element.tag.rsplit("}", 1)[-1] == "Description" and element.text:
                stored = parse_json(element.text)
                if isinstance(stored, dict) and isinstance(stored.get(_SETTINGS_KEY), dict):
                    return stored[_SETTINGS_KEY]
    except (OSError, ValueError, tifffile.TiffFileError, ElementTree.ParseError):
        return None
    return None


def _tiff_array(array: np.ndarray) -> np.ndarray:
    """``array`` in a dtype OME-TIFF holds: bool as uint8, float16 as float32, 64-bit integers as 32-bit."""
    if array.dtype == bool:
        return array.view(np.uint8)
    if array.dtype.kind not in "iufc":
        raise ValueError(f"Only numeric images can be written as TIFF; got dtype {array.dtype}.")
    if array.dtype.kind == "f" and array.dtype.itemsize == 2:
        return array.astype(np.float32)
    if array.dtype.kind in "iu" and array.dtype.itemsize == 8:
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        for narrower in (np.int32, np.uint32):
            info = np.iinfo(narrower)
            if info.min <= low and high <= info.max:
                return array.astype(narrower)
        raise ValueError(
            f"The values of this {array.dtype} image ({low} to {high}) do not fit in 32 bits, the "
            f"largest integers OME-TIFF holds; relabel or rescale them first."
        )
    return array
