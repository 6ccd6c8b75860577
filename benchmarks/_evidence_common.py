"""Helpers shared by ``evidence_toy.py`` and ``evidence_neuropal.py`` (not a benchmark itself).

Matching of fitted to true objects (Hungarian algorithm), a quiet fit that counts the
warnings it raised, Markdown tables and a one-line description of the machine.
"""

import os
import platform
import time
import warnings

import numpy as np
import scipy.optimize


def max_matched_distance(fitted_means, true_means):
    """Largest distance between a true mean and its fitted mean after Hungarian matching."""
    distances = np.linalg.norm(fitted_means[:, None, :] - true_means[None, :, :], axis=2)
    rows, cols = scipy.optimize.linear_sum_assignment(distances)
    return float(distances[rows, cols].max())


def iou_matrix(predicted, truth, n_predicted, n_truth, truth_sizes):
    """IoU of every true object (rows, labels 1..n_truth) with every predicted one (0..n_predicted-1).

    ``predicted`` and ``truth`` hold one label per foreground voxel (truth 0 = not a nucleus);
    ``truth_sizes[j - 1]`` is the full size of true object j, voxels outside the foreground
    included, so a nucleus that the foreground mask cuts is penalised.
    """
    joint = np.bincount(
        truth.astype(np.int64) * n_predicted + predicted, minlength=(n_truth + 1) * n_predicted
    ).reshape(n_truth + 1, n_predicted)
    intersection = joint[1:]
    predicted_sizes = joint.sum(axis=0)
    union = truth_sizes[:, None] + predicted_sizes[None, :] - intersection
    return intersection / np.maximum(union, 1)


def objects_recovered(iou, threshold=0.5):
    """Number of true objects whose Hungarian match (maximising total IoU) has IoU >= threshold."""
    rows, cols = scipy.optimize.linear_sum_assignment(-iou)
    return int(np.count_nonzero(iou[rows, cols] >= threshold))


def quiet_fit(fit):
    """Call ``fit()`` with warnings recorded; return (result, {warning class name: count}, seconds)."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit()
    counts = {}
    for item in caught:
        name = item.category.__name__
        counts[name] = counts.get(name, 0) + 1
    return result, counts, time.perf_counter() - start


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine():
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load:.1f} at the start, Python {platform.python_version()}"
    )
