"""Segment a zarr stack of about 1e8 voxels lazily with dask: throughput and peak memory.

The stack (uint16, ``--size`` voxels, default 1e8, shape ``(n, 1024, 1024)``
with ``n = size / 1024**2``) holds nuclei-like spheres with brighter cores on
a dim background, with Poisson noise. It is generated chunk by chunk straight
into a zarr store in a temporary folder, so it is never in memory as a whole.

The dask run is the whole chain a user runs on a big stack:
:func:`~napari_sinkhorn_em.lazy.read_zarr`, :func:`~napari_sinkhorn_em.lazy.fit_dask`
(reads the chunks holding the 200,000 sampled voxels),
:func:`~napari_sinkhorn_em.lazy.predict_dask` and
:func:`~napari_sinkhorn_em.lazy.write_zarr_labels` (labels written chunk by
chunk into a second zarr store). Then, in the same process, a sub-volume
(the first ``--sub-size`` voxels' worth of planes, default 1e7) is fitted and
labelled both in memory (``Segmenter.fit`` / ``predict`` on the loaded numpy
array) and with dask (``fit_dask`` / ``predict_dask(...).compute()``), and the
two label images are compared.

Memory is the resident set size sampled every 20 ms by a thread (psutil),
reported as the peak during each stage; ``ru_maxrss`` (the process's peak
since it started) is printed at the end. Before timing, ``segment`` runs once
on a tiny image so that numba's compiled kernels are loaded.

Run from the repository root::

    python benchmarks/bench_dask.py                     # 1e8 voxels
    python benchmarks/bench_dask.py --size 2e7 --features multiscale --sigmas 1 2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import psutil

from napari_sinkhorn_em.lazy import fit_dask, predict_dask, read_zarr, write_zarr_labels
from napari_sinkhorn_em.segmentation import Segmenter, segment

PLANE = (1024, 1024)
SPACING = 24  # nuclei sit on a jittered lattice of this many voxels
TARGET_BYTES = 3 * 1024**3


def _stack_block(block_info: dict | None = None, seed: int = 0) -> np.ndarray:
    """One chunk of the synthetic stack, from its position only (so any chunk can be made alone)."""
    location = block_info[None]["array-location"]
    grids = np.meshgrid(*(np.arange(start, stop, dtype=np.float32) for start, stop in location), indexing="ij")
    cells = [np.floor(grid / SPACING) for grid in grids]
    # A repeatable pseudo-random number per lattice cell moves its nucleus and sets its size.
    code = np.sin(cells[0] * 12.9898 + cells[1] * 78.233 + cells[2] * 37.719) * 43758.5453
    jitter = code - np.floor(code)
    squared = sum((grid - (cell + 0.5) * SPACING - (jitter - 0.5) * 4.0) ** 2 for grid, cell in zip(grids, cells))
    radius = 5.0 + 4.0 * jitter
    expected = np.full(squared.shape, 100.0, dtype=np.float32)
    expected[squared <= radius**2] = 400.0
    expected[squared <= (0.4 * radius) ** 2] = 900.0
    rng = np.random.default_rng([seed, *(start for start, _ in location)])
    return rng.poisson(expected).astype(np.uint16)


def write_stack(path: Path, n_planes: int, chunks: tuple[int, int, int]) -> None:
    """Generate the stack chunk by chunk into a zarr store at ``path``."""
    stack = da.map_blocks(
        _stack_block, chunks=da.core.normalize_chunks(chunks, (n_planes, *PLANE)), dtype=np.uint16,
        meta=np.empty((0, 0, 0), dtype=np.uint16),
    )
    stack.to_zarr(str(path))


class PeakMemory:
    """Largest resident set size of this process while the ``with`` block runs (sampled)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _timed(function):
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - start
    return result, seconds, memory.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1e8, help="voxels in the stack (default 1e8)")
    parser.add_argument("--sub-size", type=float, default=1e7,
                        help="voxels of the sub-volume segmented both in memory and with dask (default 1e7)")
    parser.add_argument("--chunks", type=int, nargs=3, default=(32, 256, 256), help="zarr chunks (default 32 256 256)")
    parser.add_argument("--features", default="intensity", help="feature preset (default intensity)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=(1.0, 2.0, 4.0), help="filter scales")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="dask threads (default: all cores)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    settings = {"features": args.features, "sigmas": tuple(args.sigmas)}
    chunks = tuple(args.chunks)
    n_planes = max(1, round(args.size / (PLANE[0] * PLANE[1])))
    sub_planes = max(1, min(n_planes, round(args.sub_size / (PLANE[0] * PLANE[1]))))
    shape = (n_planes, *PLANE)
    n_voxels = int(np.prod(shape))

    segment(np.random.default_rng(0).normal(size=(32, 32)).astype(np.float32), 3, **settings)
    folder = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    try:
        with dask.config.set(scheduler="threads", num_workers=args.workers):
            _, build_seconds, _ = _timed(lambda: write_stack(folder / "stack.zarr", n_planes, chunks))
            image = read_zarr(folder / "stack.zarr")
            segmenter = Segmenter(3, **settings)
            _, fit_seconds, fit_peak = _timed(lambda: fit_dask(segmenter, image))
            labels = predict_dask(segmenter, image)
            written, write_seconds, write_peak = _timed(
                lambda: write_zarr_labels(labels, folder / "labels.zarr", segmenter=segmenter)
            )
            stored = read_zarr(folder / "labels.zarr")
            sizes = sum(
                np.bincount(stored[plane : plane + chunks[0]].compute().ravel(), minlength=4)
                for plane in range(0, n_planes, chunks[0])
            )[1:]

            sub_image = image[:sub_planes]
            sub_voxels = int(np.prod(sub_image.shape))
            sub_numpy = sub_image.compute()
            memory_model, memory_fit_seconds, memory_fit_peak = _timed(
                lambda: Segmenter(3, **settings).fit(sub_numpy)
            )
            memory_labels, memory_label_seconds, memory_label_peak = _timed(lambda: memory_model.predict(sub_numpy))
            del sub_numpy
            dask_model, dask_fit_seconds, dask_fit_peak = _timed(lambda: fit_dask(Segmenter(3, **settings), sub_image))
            dask_labels, dask_label_seconds, dask_label_peak = _timed(
                lambda: predict_dask(dask_model, sub_image).compute()
            )
    finally:
        shutil.rmtree(folder)

    total = fit_seconds + write_seconds
    gib = 1024**3
    recipe = f"features={args.features!r}" + (f", sigmas={settings['sigmas']}" if args.features != "intensity" else "")
    print(f"zarr stack {shape[0]} x {shape[1]} x {shape[2]} uint16 ({n_voxels / 1e6:.0f} M voxels), chunks {chunks}, "
          f"{recipe}, "
          f"K=3, default method, {args.workers} dask threads on {os.cpu_count()} CPU cores "
          f"(stack generated in {build_seconds:.0f} s)")
    print(f"class sizes: {sizes.tolist()}; {written.n_written} of {written.n_chunks} label chunks written")
    print()
    print("| run | voxels | seconds | voxels/s | peak RSS |")
    print("|---|---|---|---|---|")
    print(f"| dask: fit_dask (features of the subsample + fit) | {n_voxels:.2e} | {fit_seconds:.1f} | "
          f"| {fit_peak / gib:.2f} GiB |")
    print(f"| dask: predict_dask + write_zarr_labels | {n_voxels:.2e} | {write_seconds:.1f} | "
          f"{n_voxels / write_seconds:.3g} | {write_peak / gib:.2f} GiB |")
    print(f"| **dask end to end, zarr to zarr** | {n_voxels:.2e} | {total:.1f} | {n_voxels / total:.3g} | "
          f"{max(fit_peak, write_peak) / gib:.2f} GiB |")
    sub_runs = {
        "in memory: Segmenter.fit(numpy)": (memory_fit_seconds, memory_fit_peak, False),
        "dask: fit_dask": (dask_fit_seconds, dask_fit_peak, False),
        "in memory: Segmenter.predict(numpy)": (memory_label_seconds, memory_label_peak, True),
        "dask: predict_dask(...).compute()": (dask_label_seconds, dask_label_peak, True),
    }
    for name, (seconds, run_peak, labels_all) in sub_runs.items():
        rate = f"{sub_voxels / seconds:.3g}" if labels_all else ""
        print(f"| sub-volume, {name} | {sub_voxels:.2e} | {seconds:.1f} | {rate} | {run_peak / gib:.2f} GiB |")
    print()
    identical = np.array_equal(memory_labels, dask_labels)
    print(f"sub-volume: labels identical (dask vs in memory): {identical}; dask / in-memory throughput: "
          f"labelling {memory_label_seconds / dask_label_seconds:.2f}, fit + labelling "
          f"{(memory_fit_seconds + memory_label_seconds) / (dask_fit_seconds + dask_label_seconds):.2f}")
    peak = max(fit_peak, write_peak)
    print(f"end-to-end peak RSS {peak / gib:.2f} GiB: target under {TARGET_BYTES / gib:.0f} GiB "
          f"({'met' if peak < TARGET_BYTES else 'MISSED'}); "
          f"ru_maxrss of the whole process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB")


if __name__ == "__main__":
    main()
