"""Write the synthetic sample images of napari-sinkhorn-em into this folder.

Usage (from the repository root)::

    python sample_images/make_samples.py

Every file is regenerated from the default arguments of the generators in
``napari_sinkhorn_em.data`` and written as a zlib-compressed OME-TIFF (with a
``.tif`` suffix) whose metadata record the axes and the physical pixel size in
micrometres, and an OME UUID derived from the file name and its pixels (so an
unchanged image is rewritten byte for byte). Each file is first written under
a temporary name and then moved into place, so an interrupted run never leaves
a truncated file behind.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np
import tifffile

from napari_sinkhorn_em.data import neuropal_like, worms_2d

SAMPLE_DIR = Path(__file__).resolve().parent


def write_ome_tiff(
    path: Path,
    array: np.ndarray,
    *,
    axes: str,
    scale: tuple[float, ...],
    channel_names: tuple[str, ...] = (),
) -> None:
    """Write ``array`` atomically as a zlib-compressed OME-TIFF.

    Parameters
    ----------
    path : pathlib.Path
        Destination file.
    array : numpy.ndarray
        Image data; its dimensions are named by ``axes``.
    axes : str
        Axis letters of ``array``, e.g. ``"CZYX"``, ``"ZYX"`` or ``"YX"``.
    scale : tuple of float
        Pixel size in micrometres along each spatial axis (the axes of
        ``axes`` other than ``C``), in the same order.
    channel_names : tuple of str, optional
        One name per channel when ``axes`` contains ``C``.
    """
    spatial_axes = axes.replace("C", "")
    if len(spatial_axes) != len(scale):
        raise ValueError(f"scale {scale} does not match the spatial axes {spatial_axes!r}")
    metadata: dict = {"axes": axes}
    for axis, size in zip(spatial_axes, scale):
        metadata[f"PhysicalSize{axis}"] = size
        metadata[f"PhysicalSize{axis}Unit"] = "µm"
    if channel_names:
        metadata["Channel"] = {"Name": list(channel_names)}
    # The OME UUID follows from the file name and the pixels, so that unchanged images are
    # rewritten byte for byte (tifffile would draw a new random one every time).
    digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
    metadata["UUID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"napari-sinkhorn-em/{path.name}/{digest}"))
    pixel_y, pixel_x = scale[-2:]
    temporary = path.with_name(path.name + ".partial")
    tifffile.imwrite(
        temporary,
        array,
        ome=True,
        photometric="minisblack",
        compression="zlib",
        resolution=(1.0 / pixel_x, 1.0 / pixel_y),
        resolutionunit="MICROMETER",
        metadata=metadata,
    )
    os.replace(temporary, path)


def main(output_dir: Path = SAMPLE_DIR) -> list[Path]:
    """Generate all sample images and write them into ``output_dir``.

    Parameters
    ----------
    output_dir : pathlib.Path, optional
        Destination folder (default: the folder of this script).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    neuropal = neuropal_like()
    worms = worms_2d()
    outputs = [
        ("neuropal_like.tif", neuropal.image, "CZYX", neuropal.scale, neuropal.channel_names),
        ("neuropal_like_labels.tif", neuropal.labels, "ZYX", neuropal.scale, ()),
        ("worms_2d.tif", worms.image, "YX", worms.scale, ()),
        ("worms_2d_foreground.tif", worms.foreground.astype(np.uint8), "YX", worms.scale, ()),
    ]
    written = []
    for name, array, axes, scale, channel_names in outputs:
        path = Path(output_dir) / name
        write_ome_tiff(path, array, axes=axes, scale=scale, channel_names=channel_names)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in main():
        print(f"wrote {written_path} ({written_path.stat().st_size / 1e6:.2f} MB)")
