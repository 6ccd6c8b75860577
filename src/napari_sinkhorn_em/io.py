"""Reading images with their voxel size, and writing every output file atomically.

* :func:`read_image` reads a TIFF, ImageJ hyperstack or OME-TIFF with tifffile
  and returns the pixels, the axis letters, the channel axis and the voxel
  size in micrometres (from OME ``PhysicalSize*`` or ImageJ
  ``spacing``/resolution metadata).
* :func:`atomic_write` is the one way this package writes a file: the bytes go
  to a temporary file in the destination folder, which then replaces the
  destination with :func:`os.replace`. A crash or an error part-way leaves the
  old file (or no file), never half a file.
* :func:`write_tiff` and :func:`write_comparison_figure` use it for label
  images (OME-TIFF with the voxel size) and the EM / Sinkhorn-EM figure.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import tifffile

__all__ = ["ImageFile", "atomic_write", "read_image", "write_comparison_figure", "write_tiff"]

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


def _ome_sizes(tif: tifffile.TiffFile) -> dict[str, float]:
    """Physical sizes per axis letter from the first OME ``Pixels`` element."""
    root = ElementTree.fromstring(tif.ome_metadata)
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Pixels":
            sizes = {
                letter: _micrometres(
                    element.get(f"PhysicalSize{letter}"), element.get(f"PhysicalSize{letter}Unit")
                )
                for letter in "XYZ"
                if element.get(f"PhysicalSize{letter}") is not None
            }
            return {letter: size for letter, size in sizes.items() if size is not None}
    return {}


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
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; check the folder and the file name.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file; give the path of a TIFF file in it.")
    if path.stat().st_size == 0:
        raise ValueError(
            f"{path} is empty (0 bytes), perhaps an interrupted copy or download; copy or save it again."
        )
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            data = series.asarray()
            if tif.is_ome:
                sizes = _ome_sizes(tif)
            elif tif.is_imagej:
                sizes = _imagej_sizes(tif)
            else:
                sizes = {}
    except FileNotFoundError:
        raise
    except (tifffile.TiffFileError, ElementTree.ParseError, ValueError, OSError, IndexError) as error:
        raise ValueError(
            f"{path} could not be read as a TIFF image ({error}). Only TIFF, ImageJ TIFF and "
            f"OME-TIFF files are read; a damaged file must be copied again, another format "
            f"converted (e.g. in Fiji: File > Save As > Tiff)."
        ) from None
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
    return ImageFile(
        data=data,
        axes=axes,
        channel_axis=channel_axes[0] if channel_axes else None,
        scale=scale,
        path=path,
    )


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[IO[bytes]]:
    """Open a binary file that appears at ``path`` only once it is completely written.

    The data go to a hidden temporary file in the same folder, which is
    flushed to disk and then moved over ``path`` with :func:`os.replace`
    (atomic on POSIX and Windows). If the ``with`` block raises, the
    temporary file is deleted and ``path`` is left as it was.

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
        If ``path`` exists and ``overwrite`` is False.
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
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # Exclusive creation ("x"), not tempfile.mkstemp, so the file gets the usual permissions (umask).
    handle = open(temporary, "xb")
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_tiff(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    scale: Sequence[float] | None = None,
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
        integers beyond the 32-bit range, and for a ``scale`` that is not one
        positive voxel size per axis.
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
    with atomic_write(path, overwrite=overwrite) as handle:
        tifffile.imwrite(handle, array, ome=True, photometric="minisblack", metadata=metadata, compression="zlib")
    return Path(path)


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
        Result of :func:`napari_sinkhorn_em.pipeline.compare_labels` of
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
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    image = np.asarray(image)
    if channel_axis is not None:
        image = np.take(image, 0, axis=channel_axis)
    plane = _display_plane(image).astype(np.float64)
    low, high = np.percentile(plane, [1, 99])
    first, second = _display_plane(np.asarray(labels)), _display_plane(comparison.matched)
    n_colours = int(max(first.max(), second.max())) + 1
    palette = np.asarray(matplotlib.colormaps["tab20"].colors)
    label_colours = ListedColormap(
        np.vstack([[0.0, 0.0, 0.0], palette[np.arange(max(n_colours - 1, 1)) % len(palette)]])[:n_colours]
    )

    # A figure on its own Agg canvas: no pyplot, so no global backend is touched.
    figure = Figure(figsize=(16, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 4)
    axes[0].imshow(plane, cmap="gray", vmin=low, vmax=max(high, low + 1e-12), interpolation="nearest")
    axes[1].imshow(first, cmap=label_colours, vmin=0, vmax=n_colours - 1, interpolation="nearest")
    axes[2].imshow(second, cmap=label_colours, vmin=0, vmax=n_colours - 1, interpolation="nearest")
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
    with atomic_write(path, overwrite=overwrite) as handle:
        figure.savefig(handle, format="png", dpi=100)
    return Path(path)
