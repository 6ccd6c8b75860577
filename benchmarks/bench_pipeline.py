"""End-to-end time and peak memory of ``segment`` on a 100 x 512 x 512 single-channel stack.

The stack (uint16, 26 million voxels) holds about 600 bright nuclei-like
spheres with brighter nucleoli on a dim background, with Poisson noise; it is
built one z-plane at a time so that building it needs little memory beyond the
stack itself. ``segment`` then runs with its defaults (intensity features,
K = 3, the default method (Sinkhorn start → EM), fit on 200,000 random voxels, every voxel
labelled).

Before timing, ``segment`` runs once on a tiny image so that numba's compiled
kernels are loaded (compilation or cache loading is not counted).

Memory is the process's peak resident set size (``resource.getrusage``
``ru_maxrss``), reported in total and as the increase over the peak before
``segment`` started (which already holds the stack); tracemalloc would miss
numba's allocations. Stage shares come from the ``progress`` callback:
features = until the fit starts, fit = the mixture fit, assign = labelling
every voxel (features of each slab, standardisation, classification).

Run from the repository root::

    python benchmarks/bench_pipeline.py
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings

import numpy as np

from napari_sinkhorn_em.segmentation import METHOD_NAMES, Segmenter, segment

SHAPE = (100, 512, 512)
TARGET_SECONDS = 60.0
TARGET_BYTES = 4 * 1024**3


def synthetic_stack(shape: tuple[int, int, int] = SHAPE, n_nuclei: int = 600, seed: int = 0) -> np.ndarray:
    """uint16 stack of noisy spheres with bright cores, built plane by plane."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform((0, 0, 0), shape, size=(n_nuclei, 3))
    radii = rng.uniform(6.0, 12.0, n_nuclei)
    stack = np.empty(shape, dtype=np.uint16)
    yy, xx = np.indices(shape[1:], dtype=np.float32)
    for z in range(shape[0]):
        expected = np.full(shape[1:], 100.0, dtype=np.float32)
        for (cz, cy, cx), radius in zip(centres, radii):
            if abs(z - cz) >= radius:
                continue
            disk_radius = np.sqrt(radius**2 - (z - cz) ** 2)
            box = (slice(max(0, int(cy - disk_radius)), int(cy + disk_radius) + 1),
                   slice(max(0, int(cx - disk_radius)), int(cx + disk_radius) + 1))
            squared = (yy[box] - cy) ** 2 + (xx[box] - cx) ** 2
            expected[box][squared <= disk_radius**2] = 400.0
            expected[box][squared <= (0.4 * disk_radius) ** 2] = 900.0
        stack[z] = rng.poisson(expected)
    return stack


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="intensity", help="feature preset (default: intensity)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    segment(np.random.default_rng(0).normal(size=(32, 32)).astype(np.float32), 3, features=args.features)
    stack = synthetic_stack()
    baseline = _peak_rss_bytes()

    marks: dict[str, float] = {}

    def progress(stage: str, fraction: float) -> None:
        marks.setdefault(f"{stage} start", time.perf_counter())
        marks[f"{stage} end"] = time.perf_counter()

    start = time.perf_counter()
    labels = segment(stack, 3, features=args.features, progress=progress)
    total = time.perf_counter() - start
    peak = _peak_rss_bytes()

    stages = {
        "features": marks["fit start"] - start,
        "fit": marks["fit end"] - marks["fit start"],
        "assign": marks["assign end"] - marks["fit end"],
    }
    print(f"segment(): {SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} uint16, features={args.features!r}, K=3, "
          f"default method ({METHOD_NAMES[Segmenter().method]}), {os.cpu_count()} CPU cores")
    print(f"class sizes: {np.bincount(labels.ravel())[1:].tolist()}")
    print()
    print("| stage | seconds | share |")
    print("|---|---|---|")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds:.1f} | {seconds / total:.0%} |")
    print(f"| total | {total:.1f} | 100% |")
    print()
    print(f"peak memory (ru_maxrss): {peak / 1024**3:.2f} GiB in total, "
          f"{(peak - baseline) / 1024**3:.2f} GiB above the {baseline / 1024**3:.2f} GiB held before segment()")
    print(f"targets: under {TARGET_SECONDS:.0f} s ({'met' if total < TARGET_SECONDS else 'MISSED'}), "
          f"under {TARGET_BYTES / 1024**3:.0f} GiB ({'met' if peak < TARGET_BYTES else 'MISSED'})")


if __name__ == "__main__":
    main()
