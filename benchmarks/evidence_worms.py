"""The three segmentation methods on the synthetic worms well: best worm-class IoU per seed.

The bundled ``worms_2d`` sample (a BBBC010-like bright-field well, worms on about 8 % of the
pixels) is segmented by ``segment`` with each method, for K = 3 and 4 and for intensity and
multiscale features, over several sample seeds; the score of a run is the IoU of the class that
best matches the true worm foreground (an oracle choice of class, the same for every method).

Run from the repository root::

    OMP_WAIT_POLICY=passive python benchmarks/evidence_worms.py

It prints a markdown table: mean, sd and range over seeds for every method and setting.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from napari_sinkhorn_em import data, segment

SEEDS = (0, 1, 2, 3, 4)
METHODS = ("sinkhorn_start", "em", "sinkhorn")
SETTINGS = (
    ("intensity", 3, {}),
    ("intensity", 4, {}),
    ("multiscale, sigma 12.5 um", 3, {"features": "multiscale", "sigmas": (12.5,)}),
    ("multiscale, sigma 12.5 um", 4, {"features": "multiscale", "sigmas": (12.5,)}),
)


def best_worm_iou(labels: np.ndarray, truth: np.ndarray) -> float:
    """IoU of the class that overlaps the worms best."""
    return max(
        np.count_nonzero((labels == label) & truth) / np.count_nonzero((labels == label) | truth)
        for label in np.unique(labels)
    )


def main() -> None:
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    print("| features | K | method | worm IoU, mean ± sd (min-max) over sample seeds |")
    print("|---|---|---|---|")
    for features_name, n_components, features in SETTINGS:
        for method in METHODS:
            scores = []
            for seed in SEEDS:
                sample = data.worms_2d(seed=seed)
                labels = segment(sample.image, n_components, method=method, scale=sample.scale, **features)
                scores.append(best_worm_iou(labels, sample.foreground))
            scores = np.array(scores)
            print(f"| {features_name} | {n_components} | {method} | {scores.mean():.3f} ± {scores.std():.3f} "
                  f"({scores.min():.3f}-{scores.max():.3f}) |", flush=True)
    print(f"\n{len(SEEDS)} sample seeds; {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
