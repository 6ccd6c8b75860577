"""Chunked segmentation of dask arrays and zarr stores (needs the ``dask`` extra)."""

from .chunked import (
    ZarrWrite,
    fit_dask,
    fit_dask_steps,
    image_fingerprint,
    is_dask_array,
    predict_dask,
    read_zarr,
    segment_dask,
    write_zarr_labels,
    zarr_labels_complete,
    zarr_labels_settings,
)

__all__ = [
    "ZarrWrite",
    "fit_dask",
    "fit_dask_steps",
    "image_fingerprint",
    "is_dask_array",
    "predict_dask",
    "read_zarr",
    "segment_dask",
    "write_zarr_labels",
    "zarr_labels_complete",
    "zarr_labels_settings",
]
