"""napari writers: save labels and image layers as OME-TIFF with their voxel size.

napari's own TIFF writer stores the pixels only, so a layer saved with
**File > Save Selected Layers…** loses its scale. The writers here, contributed
in the npe2 manifest for the file names ``*.ome.tif`` and ``*.ome.tiff``,
write the layer with :func:`napari_sinkhorn_em.image_files.write_tiff` instead: an
OME-TIFF whose ``PhysicalSize*`` holds the layer's scale in micrometres, read
back by :func:`napari_sinkhorn_em.image_files.read_image`, Fiji / Bio-Formats and
napari readers of OME-TIFF. napari itself is not imported here; the writers
receive the layer's data and its attributes (``meta``) from napari.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..image_files import write_tiff

__all__ = ["write_image", "write_labels"]

# Units napari gives layers without a physical size: their scale is then taken to be in micrometres,
# as everywhere in this package.
_UNITLESS = {"", "pixel", "px", "dimensionless"}


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """napari writer: save a 2-D or 3-D labels layer as an OME-TIFF with its voxel size.

    Parameters
    ----------
    path : str
        Destination, ending in ``.ome.tif`` or ``.ome.tiff``; an existing
        file is replaced (napari's save dialog has asked already).
    data : array_like or list of array_like
        The layer's data (the highest resolution of a multiscale layer is written).
    meta : dict
        The layer's attributes as napari gives them: ``name``, ``scale``,
        ``units`` (pixel, or lengths such as nm or µm), ``multiscale``.

    Returns
    -------
    list of str
        The path written.

    Raises
    ------
    ValueError
        For a layer that is not 2-D or 3-D, or whose units are not lengths
        (e.g. a time axis), with a sentence saying so.
    """
    return _write_layer(path, data, meta)


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """napari writer: save a 2-D or 3-D single-channel image layer as an OME-TIFF with its voxel size.

    Parameters and return value are as for :func:`write_labels`; RGB layers
    are refused (save them with napari's own TIFF writer, as ``.tif``).
    """
    if meta.get("rgb"):
        raise ValueError(
            f"The RGB layer '{meta.get('name', '')}' cannot be saved as a single-channel OME-TIFF; save it as "
            f".tif (napari's own writer) instead."
        )
    return _write_layer(path, data, meta)


def _write_layer(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write one layer's (highest-resolution) data with its scale in micrometres."""
    name = meta.get("name", "")
    array = np.asarray(data[0] if meta.get("multiscale") else data)
    try:
        scale = _scale_in_micrometres(meta.get("scale"), meta.get("units"))
        write_tiff(path, array, scale=scale, overwrite=True)
    except ValueError as error:
        raise ValueError(f"The layer '{name}' cannot be saved as OME-TIFF: {error}") from None
    return [str(path)]


def _scale_in_micrometres(scale: Any, units: Any) -> tuple[float, ...] | None:
    """The layer's scale converted to micrometres (unitless scales are taken to be micrometres already)."""
    if scale is None:
        return None
    units = tuple(units) if units is not None else (None,) * len(scale)
    return tuple(float(size) * _micrometres_per(unit) for size, unit in zip(scale, units))


def _micrometres_per(unit: Any) -> float:
    """How many micrometres one ``unit`` (a pint unit or its name) is; 1 for pixel units."""
    if unit is None or str(unit) in _UNITLESS:
        return 1.0
    import pint

    try:
        quantity = pint.get_application_registry().Quantity(1, str(unit)) if isinstance(unit, str) else 1 * unit
        factor = float(quantity.to("micrometer").magnitude)
    except (pint.errors.DimensionalityError, pint.errors.UndefinedUnitError):
        raise ValueError(
            f"its axes must be lengths (such as nm or µm) to be stored as a voxel size, but one is in '{unit}'"
        ) from None
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"the unit '{unit}' is not a usable length")
    return factor
