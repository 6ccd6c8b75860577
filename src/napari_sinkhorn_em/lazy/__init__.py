"""Segment images larger than memory with dask, and write the labels to zarr chunk by chunk.

The image is a dask array (a zarr store opens as one with :func:`read_zarr`),
and nothing here needs more than a few chunks in memory at once:

* :func:`fit_dask` fits a :class:`~napari_sinkhorn_em.segmentation.Segmenter` on
  a random subsample of the voxels. It runs the Segmenter's own fit
  (``Segmenter.fit_source``) on a feature source whose table is lazy: the
  subsample is drawn exactly as for an in-memory image, and only the chunks
  holding drawn voxels are read, each padded by the filters' reach,
  :func:`~napari_sinkhorn_em.features.halo_width`.
* :func:`predict_dask` labels every voxel with ``dask.array.map_overlap``:
  a lazy label array with the image's spatial chunks, computed chunk by chunk
  when asked for, each chunk labelled by the Segmenter's own assignment step
  (``Segmenter.assign``).
* :func:`write_zarr_labels` writes such an array into a zarr store, one chunk
  per task, and can resume an interrupted write.

Labels are bit-identical to the in-memory path (same settings and seed): a
chunk padded by the halo gives the same features in its interior as the whole
image (the filters reflect only at the true image border, which is where a
padded chunk ends too), and the fit sees the same rows in the same order.
This package reaches the Segmenter only through its public methods
(:class:`~napari_sinkhorn_em.contracts.SourceSegmenter`);
:func:`~napari_sinkhorn_em.segmentation.segment_dask`, which makes one, is in
:mod:`napari_sinkhorn_em.segmentation`.

dask and zarr are optional (``pip install "napari-sinkhorn-em[dask]"``) and
imported only when one of these functions runs. Every task is a module-level
function of picklable arguments, so the same graphs run on the local threads,
a ``dask.distributed.LocalCluster`` or any cluster a ``Client`` connects to.
"""

from .arrays import is_dask_array
from .fit import fit_dask, fit_dask_steps
from .predict import predict_dask
from .sources import source_column_names
from .zarr_store import (
    ZarrWrite,
    image_fingerprint,
    read_zarr,
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
    "source_column_names",
    "write_zarr_labels",
    "zarr_labels_complete",
    "zarr_labels_settings",
]
