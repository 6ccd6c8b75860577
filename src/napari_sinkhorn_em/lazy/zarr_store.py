"""zarr stores: reading an image, and writing a lazy label image chunk by chunk so that a write can resume.

:func:`write_zarr_labels` writes a label array (e.g. from
:func:`~napari_sinkhorn_em.lazy.predict_dask`) into a zarr store, one chunk
per task, records every finished chunk, and can resume an interrupted write;
the store's attributes describe the labels, the model and the input image
(:func:`image_fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts import ProgressCallback, SourceSegmenter
from .arrays import as_dask, compute_with_progress, import_dask, import_zarr, is_dask_array

__all__ = [
    "ZarrWrite",
    "image_fingerprint",
    "read_zarr",
    "write_zarr_labels",
    "zarr_labels_complete",
    "zarr_labels_settings",
]

# Attribute of a label store written here: its description, and whether every chunk is written.
_STORE_KEY = "napari_sinkhorn_em"
_STORE_FORMAT = "napari-sinkhorn-em labels"
# Chunks of the input hashed by image_fingerprint, and written chunks recomputed to check a resume without a model.
_FINGERPRINT_CHUNKS = 8
_CHECKED_CHUNKS = 3
# Folder inside a store being written: one empty file per finished chunk, named "i.j.k".
_DONE_FOLDER = ".chunks-done"
_ZARR_METADATA_FILES = ("zarr.json", ".zarray", ".zgroup")


def read_zarr(path: str | Any, component: str | None = None) -> Any:
    """Open a zarr array as a dask array with the store's chunks (nothing is read yet).

    Parameters
    ----------
    path : str or path-like
        The store: a folder such as ``"stack.zarr"`` or a URL that zarr opens.
    component : str or None, default None
        Path of the array inside a zarr group, e.g. ``"0"`` for the full
        resolution of an OME-Zarr image.

    Returns
    -------
    dask.array.Array
    """
    _, da = import_dask()
    zarr = import_zarr()
    try:
        node = zarr.open(store=str(path), mode="r")
    except FileNotFoundError:
        raise FileNotFoundError(f"There is no zarr store at {path}.") from None
    if component is not None:
        if not isinstance(node, zarr.Group):
            raise ValueError(
                f"{path} is a single array, not a group, so it has no component {component!r}; leave out "
                f"component= (--component on the command line)."
            )
        arrays = sorted(node.array_keys())
        try:
            node = node[component]
        except KeyError:
            raise ValueError(
                f"{path} has no array {component!r}; it holds the arrays {arrays}. Choose one of them with "
                f"component= (--component on the command line)."
            ) from None
    if isinstance(node, zarr.Group):
        arrays = sorted(node.array_keys())
        raise ValueError(
            f"{path} is a zarr group holding the arrays {arrays}, not one array; choose one with "
            f"component= (e.g. component={arrays[0] if arrays else '0'!r} for the full resolution of OME-Zarr)."
        )
    return da.from_zarr(node)


@dataclass(frozen=True)
class ZarrWrite:
    """What :func:`write_zarr_labels` did.

    Attributes
    ----------
    path : pathlib.Path
        The label store.
    n_chunks : int
        Chunks of the label image.
    n_written : int
        Chunks written by this call; the others were written by an earlier,
        interrupted call (0 when the store was already complete).
    """

    path: Path
    n_chunks: int
    n_written: int


def _is_zarr_store(path: Path) -> bool:
    return any((path / name).is_file() for name in _ZARR_METADATA_FILES)


def _store_attributes(path: Path) -> dict[str, Any] | None:
    """The attribute written by :func:`write_zarr_labels` of the store at ``path``, or None."""
    zarr = import_zarr()
    if not _is_zarr_store(path):
        return None
    try:
        node = zarr.open(store=str(path), mode="r")
    except (OSError, ValueError):
        return None
    attributes = node.attrs.get(_STORE_KEY)
    return attributes if isinstance(attributes, dict) else None


def zarr_labels_complete(path: str | Any) -> bool:
    """Whether ``path`` holds a label store that :func:`write_zarr_labels` finished writing.

    Parameters
    ----------
    path : str or path-like
        The zarr store.

    Returns
    -------
    bool
        False also where there is no store, or one of another program.
    """
    attributes = _store_attributes(Path(path))
    return attributes is not None and attributes.get("complete") is True


def zarr_labels_settings(path: str | Any) -> dict[str, Any] | None:
    """The ``settings=`` that :func:`write_zarr_labels` stored in the label store at ``path``.

    Parameters
    ----------
    path : str or path-like
        The zarr store.

    Returns
    -------
    dict or None
        The settings, or None where there is no label store or it holds none.
    """
    attributes = _store_attributes(Path(path))
    settings = None if attributes is None else attributes.get("settings")
    return settings if isinstance(settings, dict) else None


def _regular_chunks(labels: Any) -> Any:
    """``labels`` with chunks zarr can store: equal along each axis, except a smaller last one."""
    regular = all(
        all(size == axis_chunks[0] for size in axis_chunks[:-1]) and axis_chunks[-1] <= axis_chunks[0]
        for axis_chunks in labels.chunks
    )
    return labels if regular else labels.rechunk(labels.chunksize)


def _spread(count: int, n_wanted: int) -> list[int]:
    """Up to ``n_wanted`` distinct positions among ``count``, evenly spread and including the first and last."""
    return sorted({round(position) for position in np.linspace(0, count - 1, min(count, n_wanted))})


def image_fingerprint(image: Any) -> dict[str, Any]:
    """What identifies an input image cheaply: shape, type, chunks and a hash of a few of its chunks.

    Up to 8 chunks, spread evenly over the image, are read and hashed
    (SHA-256), so two images of the same size differ in their fingerprint
    unless they agree in every sampled chunk.

    Parameters
    ----------
    image : dask.array.Array or zarr.Array
        The image (any number of axes).

    Returns
    -------
    dict
        ``shape``, ``dtype``, ``chunks`` (chunk size per axis), ``sampled``
        (the chunk indices read) and ``sha256`` (hex digest of their bytes),
        JSON-serialisable.
    """
    image = as_dask(image)
    digest = hashlib.sha256()
    blocks = list(np.ndindex(*image.numblocks))
    sampled = [blocks[position] for position in _spread(len(blocks), _FINGERPRINT_CHUNKS)]
    for index in sampled:
        digest.update(repr(index).encode())
        digest.update(np.ascontiguousarray(image.blocks[index].compute()).tobytes())
    return {
        "shape": [int(size) for size in image.shape],
        "dtype": str(image.dtype),
        "chunks": [int(size) for size in image.chunksize],
        "sampled": [list(index) for index in sampled],
        "sha256": digest.hexdigest(),
    }


def _written_chunks_match(labels: Any, path: Path, names: Sequence[str]) -> bool:
    """True if a few of the chunks ``names`` ("i.j.k") stored at ``path`` equal those of ``labels``."""
    zarr = import_zarr()
    stored = zarr.open_array(store=str(path), mode="r")
    starts = [np.cumsum((0, *axis_chunks)) for axis_chunks in labels.chunks]
    ordered = sorted(names)
    for position in _spread(len(ordered), _CHECKED_CHUNKS):
        index = tuple(int(part) for part in ordered[position].split("."))
        region = tuple(slice(int(axis[i]), int(axis[i + 1])) for axis, i in zip(starts, index))
        if not np.array_equal(np.asarray(labels.blocks[index].compute()), stored[region]):
            return False
    return True


def _write_chunk(block: np.ndarray, store: str, region: tuple[slice, ...], marker: str) -> None:
    """Write one chunk, then record it as done (a crash in between only means rewriting it)."""
    zarr = import_zarr()
    zarr.open_array(store=store, mode="r+")[region] = block
    Path(marker).touch()


def write_zarr_labels(
    labels: Any,
    path: str | Any,
    *,
    segmenter: SourceSegmenter | None = None,
    image: Any = None,
    settings: dict[str, Any] | None = None,
    overwrite: bool = False,
    resume: bool = True,
    progress: ProgressCallback | None = None,
) -> ZarrWrite:
    """Compute a lazy label image chunk by chunk into a zarr store; an interrupted write can resume.

    Each chunk is one task that labels the chunk and writes it (zarr writes
    every chunk file atomically), then records it in a ``.chunks-done`` folder
    inside the store. Calling again with the same labels and model after an
    interruption (a crash, a killed job) writes only the missing chunks. When
    every chunk is written the folder is removed and the store is marked
    complete; a complete store is left as it is.

    Parameters
    ----------
    labels : dask.array.Array
        The labels, e.g. from :func:`predict_dask`. Irregular chunks are
        rechunked to regular ones (zarr's chunks).
    path : str or path-like
        Folder of the store on a local or shared file system, e.g.
        ``"stack_labels.zarr"``.
    segmenter : Segmenter or None, default None
        The model that made the labels; its settings and fitted parameters
        (its ``to_dict()``, the document :meth:`Segmenter.save` writes) are stored in the store's
        attributes, and a resumed write must use the same model. Without it,
        a store that exists already (finished or not) is accepted only if a
        few of its written chunks, recomputed from ``labels``, are identical.
    image : dask.array.Array, zarr.Array or None, default None
        The image the labels were made from; its :func:`image_fingerprint`
        (shape, type, chunks, hash of sampled chunks) is stored, and a
        resumed write must come from the same image.
    settings : dict or None, default None
        Anything else that describes how the labels were made (the command
        line stores its options); stored, read back by
        :func:`zarr_labels_settings`, and a resumed write must have the same.
    overwrite : bool, default False
        Replace whatever zarr store is at ``path``.
    resume : bool, default True
        Continue an interrupted write of the same labels (same shape, chunks,
        type and model) at ``path``. With False such a store is refused
        unless ``overwrite``.
    progress : callable or None, default None
        Called as ``progress("write", fraction)`` as chunks are written
        (under dask's local schedulers).

    Returns
    -------
    ZarrWrite
        The store, its number of chunks and how many this call wrote.

    Raises
    ------
    FileExistsError
        If ``path`` holds something else (another image, other labels, a
        different model) and ``overwrite`` is False, or with ``overwrite``
        if it is not a zarr store (it is never deleted).
    """
    import_dask()
    import_zarr()
    if not is_dask_array(labels):
        raise TypeError(f"labels must be a dask array (e.g. from predict_dask), got {type(labels).__name__}.")
    if "://" in str(path):
        raise ValueError(f"write_zarr_labels writes to a folder on a local or shared file system, not to {path}.")
    labels = _regular_chunks(labels)
    path = Path(path)
    description = _store_description(labels, segmenter, image, settings)
    n_chunks = math.prod(labels.numblocks)
    if path.exists() and overwrite:
        _remove_store(path)
    elif path.exists() and _existing_store_is_complete(path, labels, description, segmenter is None, resume):
        return ZarrWrite(path, n_chunks, 0)
    return ZarrWrite(path, n_chunks, _write_missing_chunks(labels, path, description, progress))


def _store_description(labels: Any, segmenter: Any, image: Any, settings: dict[str, Any] | None) -> dict[str, Any]:
    """What the store's attribute says of the labels, in its JSON form (compared with a stored copy)."""
    description = {
        "format": _STORE_FORMAT,
        "shape": list(labels.shape),
        "chunks": [int(size) for size in labels.chunksize],
        "dtype": str(labels.dtype),
        "model": None if segmenter is None else segmenter.to_dict(),
        "image": None if image is None else image_fingerprint(image),
        "settings": settings,
    }
    return json.loads(json.dumps(description))


def _remove_store(path: Path) -> None:
    """Delete the zarr store at ``path`` (refusing anything that is not one)."""
    if not _is_zarr_store(path):
        raise FileExistsError(f"{path} exists and is not a zarr store; it is not deleted. Choose another output path.")
    shutil.rmtree(path)


def _existing_store_is_complete(
    path: Path, labels: Any, description: dict[str, Any], check_values: bool, resume: bool
) -> bool:
    """Whether the store at ``path`` holds these labels complete; refuses it unless they may be resumed there.

    With ``check_values`` (no model to compare), a few written chunks are
    recomputed and compared too.
    """
    stored = _store_attributes(path)
    differing = [] if stored is None else [key for key in description if stored.get(key) != description[key]]
    same = stored is not None and not differing
    complete = same and stored.get("complete") is True
    done_folder = path / _DONE_FOLDER
    if same and check_values:
        written = (
            [".".join(map(str, index)) for index in np.ndindex(*labels.numblocks)]
            if complete
            else [marker.name for marker in done_folder.iterdir()] if done_folder.is_dir() else []
        )
        if not _written_chunks_match(labels, path, written):
            same, complete, differing = False, False, ["labels"]
    if complete:
        return True
    if not (same and resume):
        if same:
            what = "an unfinished write of these labels (resume=False)"
        elif stored is not None:
            names = {"shape": "shape", "chunks": "chunks", "dtype": "label type", "model": "model",
                     "image": "input image", "labels": "label values", "settings": "settings"}
            what = (
                "a different image, different labels or labels from a different model (the "
                f"{', '.join(names.get(key, key) for key in differing)} differ)"
            )
        else:
            what = "data that was not written by write_zarr_labels"
        raise FileExistsError(
            f"{path} already exists and holds {what}. Choose another output path, or replace it with "
            f"overwrite=True (--overwrite on the command line)."
        )
    return False


def _write_missing_chunks(labels: Any, path: Path, description: dict[str, Any], progress: ProgressCallback | None) -> int:
    """Write the chunks not yet recorded as done (creating the store if needed), then mark it complete."""
    dask, _ = import_dask()
    zarr = import_zarr()
    done_folder = path / _DONE_FOLDER
    if not path.exists():
        array = zarr.open_array(
            store=str(path), mode="w-", shape=labels.shape, chunks=labels.chunksize, dtype=labels.dtype, fill_value=0
        )
        array.attrs[_STORE_KEY] = {**description, "complete": False}
    done_folder.mkdir(exist_ok=True)

    finished = {marker.name for marker in done_folder.iterdir()}
    starts = [np.cumsum((0, *axis_chunks)) for axis_chunks in labels.chunks]
    blocks = labels.to_delayed()
    tasks = []
    for index in np.ndindex(*labels.numblocks):
        name = ".".join(map(str, index))
        if name in finished:
            continue
        region = tuple(slice(int(axis[i]), int(axis[i + 1])) for axis, i in zip(starts, index))
        task = dask.delayed(_write_chunk, pure=False)(blocks[index], str(path), region, str(done_folder / name))
        tasks.append(task)
    compute_with_progress(tasks, progress, "write")
    zarr.open_array(store=str(path), mode="r+").attrs[_STORE_KEY] = {**description, "complete": True}
    shutil.rmtree(done_folder)
    return len(tasks)
