"""Compare the layout of the synthetic NeuroPAL head with the NeuroPAL atlas of real heads.

``data.neuropal_head`` places its neurons procedurally (ellipsoidal ganglia of literature-level
size and place); no atlas data go into it. This script checks that its statistics come out like
those of real heads: the neuron count, the extent of the neurons along the body and across it,
the nearest-neighbour centre distances and the fraction of neurons whose nearest neighbour is
close enough to touch (centre distance at most --touching um, about two nucleus radii and one
voxel). For the synthetic head it also counts the neurons whose label shares a voxel face with
another label.

The atlas is the NeuroPAL head model of Yemini et al. 2021 (Cell 184:272), file
``Data/Models/atlas_xx_rgbw.mat`` of https://github.com/Yemini-Lab/NeuroPAL_ID, licensed
CC BY-NC-SA 4.0: it is not part of this package and must not be copied into it. Fetch it
yourself and give its path:

    python benchmarks/check_head_statistics.py /path/to/atlas_xx_rgbw.mat [--seeds 0 1 2]

``atlas.head.model.mu[:, :3]`` holds the mean position of each of its 195 head neurons in
micrometres (columns: dorsal-ventral, anterior-posterior, left-right). These are averages over
aligned animals, so they lie closer together than nuclei in one animal can (some atlas
neighbours are 1 um apart) and the atlas distances are a lower bound.

Without an atlas path only the synthetic heads are measured. Takes about 6 s per seed.
"""

import argparse
import time

import numpy as np
from scipy.spatial import cKDTree

from napari_sinkhorn_em import data


def layout_statistics(centres_um: np.ndarray, touching_um: float) -> dict:
    """Count, extents (long axis first) and nearest-neighbour statistics of neuron centres (n, 3)."""
    extent = np.sort(np.ptp(centres_um, axis=0))[::-1]
    distance, _ = cKDTree(centres_um).query(centres_um, k=2)
    nearest = distance[:, 1]
    return {
        "count": len(centres_um),
        "extent_um": extent,
        "nearest_percentiles_um": np.percentile(nearest, [5, 25, 50, 75, 95]),
        "nearest_touching": float(np.mean(nearest <= touching_um)),
    }


def face_sharing_fraction(labels: np.ndarray) -> float:
    """Fraction of labels that share a voxel face with another label."""
    touching = np.zeros(int(labels.max()) + 1, dtype=bool)
    for axis in range(labels.ndim):
        moved = np.moveaxis(labels, axis, 0)
        before, after = moved[:-1], moved[1:]
        differ = (before > 0) & (after > 0) & (before != after)
        touching[before[differ]] = True
        touching[after[differ]] = True
    return float(touching[1:].mean())


def atlas_centres(path: str) -> np.ndarray:
    """Mean head-neuron positions (n, 3), um, of a NeuroPAL atlas .mat file."""
    from scipy.io import loadmat

    atlas = loadmat(path, squeeze_me=True, struct_as_record=False)["atlas"]
    return np.asarray(atlas.head.model.mu, dtype=float)[:, :3]


def print_row(name: str, statistics: dict, extra: str = "") -> None:
    extent = " x ".join(f"{e:5.1f}" for e in statistics["extent_um"])
    nearest = " ".join(f"{d:4.2f}" for d in statistics["nearest_percentiles_um"])
    print(
        f"{name:<16} {statistics['count']:5d}  {extent}   {nearest}   "
        f"{statistics['nearest_touching']:6.0%}{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("atlas", nargs="?", help="path to atlas_xx_rgbw.mat (NeuroPAL_ID, CC BY-NC-SA 4.0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the synthetic heads")
    parser.add_argument("--touching", type=float, default=3.0, help="touching centre distance, um")
    args = parser.parse_args()

    print(
        f"{'':<16} {'count':>5}  {'extent, um (long axis first)':<23}   "
        f"{'NN distance, um: p5 p25 p50 p75 p95':<24}   NN <= {args.touching} um"
    )
    for seed in args.seeds:
        start = time.perf_counter()
        head = data.neuropal_head(seed=seed)
        seconds = time.perf_counter() - start
        extra = f"   faces shared: {face_sharing_fraction(head.labels):.0%}, generated in {seconds:.1f} s"
        print_row(f"synthetic, seed {seed}", layout_statistics(head.centres_um, args.touching), extra)
    if args.atlas:
        print_row("NeuroPAL atlas", layout_statistics(atlas_centres(args.atlas), args.touching))


if __name__ == "__main__":
    main()
