"""Evidence: the neurons recipe on synthetic 200-neuron NeuroPAL heads, method by method.

Image: ``data.neuropal_head(seed=s)`` for each --image-seeds s (200 neurons at ganglion
positions, many touching; voxel size 0.75 x 0.3 x 0.3 µm). Every method sees the same
foreground (``neurons.nuclei_foreground`` of the pan-neuronal channel) and the same features
(the three colour channels standardised by median / IQR, position in µm divided by the nucleus
radius 1.4 µm). K is the recipe's own: the number of peaks (``neurons.find_neuron_peaks``) for
the peaks start, the foreground volume's suggestion (``neurons.suggest_n_neurons``) for k-means:

  default            neurons.segment_neurons(): init "peaks" (means at the peaks), then EM
  peaks, S→EM        segment_neurons(method="sinkhorn_start"): the peaks, then the Sinkhorn start
  peaks, Sinkhorn-EM segment_neurons(method="sinkhorn"): the peaks, equal class sizes
  k-means, S→EM      segment_neurons(init="kmeans"): the recipe before issue 17 (k-means
                     means, K from the volume, the Sinkhorn start then EM)
  k-means, EM        segment_neurons(init="kmeans", method="em")
  scikit-learn       sklearn.mixture.GaussianMixture(K of the default, full covariances, k-means
                     init, n_init=1, tol 1e-3 (its default), max_iter 300) on the default run's
                     feature table; labels = its predict, then the same neurons.clean_instances
  scikit-learn, peaks the same, started from the default's means (means_init, the peaks)
  oracle             each foreground voxel given to its nearest true centre (the ceiling of any
                     assignment of this foreground), then the same clean-up

for each --fit-seeds r (random_state / scikit-learn's random_state). Scores against the true
labels: neurons matched at IoU >= 0.5 (``neurons.match_neurons(truth, result).n_matched``) and
the fraction of true centres with a found centre within 3 µm (one-to-one,
``fraction_centres_found(3.0)``). Time: the whole call (foreground, fit, labels, clean-up,
table) for ours, the fit plus predict for scikit-learn, on this machine with its load printed.

    python benchmarks/evidence_heads.py [--image-seeds 0] [--fit-seeds 0 1 2]
"""

import argparse
import os
import time
import warnings

import numpy as np

from napari_sinkhorn_em import data
from napari_sinkhorn_em import neurons
from napari_sinkhorn_em.features import extract_features

METHODS = (
    ("default", {}),
    ("peaks, S→EM", {"method": "sinkhorn_start"}),
    ("peaks, Sinkhorn-EM", {"method": "sinkhorn"}),
    ("k-means, S→EM", {"init": "kmeans"}),
    ("k-means, EM", {"init": "kmeans", "method": "em"}),
)
REFERENCES = ("scikit-learn", "scikit-learn, peaks")
THRESHOLD_UM = 3.0


def score(head, labels):
    match = neurons.match_neurons(head.labels, labels, scale=head.scale)
    return match.n_matched, match.fraction_centres_found(THRESHOLD_UM)


def clean(labels, foreground):
    image = np.zeros(foreground.shape, dtype=np.uint16)
    image[foreground] = labels + 1
    return neurons.clean_instances(image).labels


def feature_table(result, head):
    segmenter = result.segmenter
    recipe = segmenter.recipe_
    return extract_features(
        head.image[list(result.colour_channels)], channel_axis=0, scale=head.scale,
        features=[tuple(entry) for entry in recipe["features"]], coordinates=recipe["coordinates"],
        coordinate_weight=recipe["coordinate_weight"], mask=result.foreground,
        standardize=segmenter.scaling_,
    ).data


def oracle(head, foreground):
    positions = np.argwhere(foreground) * np.asarray(head.scale)
    distances = ((positions[:, None, :] - head.centres_um[None]) ** 2).sum(axis=2)
    return clean(np.argmin(distances, axis=1), foreground)


def run_image(image_seed, fit_seeds):
    from sklearn.mixture import GaussianMixture as Reference

    head = data.neuropal_head(seed=image_seed)
    rows = []
    table = None
    for fit_seed in fit_seeds:
        first = len(rows)
        for name, options in METHODS:
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = neurons.segment_neurons(head.image, channel_axis=0, scale=head.scale,
                                                     random_state=fit_seed, **options)
            except ValueError as error:  # e.g. Sinkhorn-EM refusing class sizes out of reach
                if name == "default":
                    raise
                print(f"{name}, head {image_seed}, seed {fit_seed} refused: {error}", flush=True)
                rows.append((image_seed, fit_seed, name, None, None, time.perf_counter() - start, None))
                continue
            seconds = time.perf_counter() - start
            rows.append((image_seed, fit_seed, name, *score(head, result.labels), seconds, result.n_neurons))
            if name == "default":
                default = result
        X = feature_table(default, head)
        peaks = default.segmenter.mixture_options["means_init"]
        for name, start_options in zip(REFERENCES, ({}, {"means_init": peaks})):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = Reference(default.n_neurons, covariance_type="full", max_iter=300,
                                      random_state=fit_seed, **start_options).fit(X)
                labels = reference.predict(X)
            seconds = time.perf_counter() - start
            rows.append((image_seed, fit_seed, name, *score(head, clean(labels, default.foreground)),
                         seconds, default.n_neurons))
        if table is None:
            table = oracle(head, default.foreground)
            rows.append((image_seed, "-", "oracle", *score(head, table), float("nan"), head.centres_um.shape[0]))
        print(*rows[first:], sep="\n", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--fit-seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for image_seed in args.image_seeds:
        rows += run_image(image_seed, args.fit_seeds)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}\n")
    print("| image | fit seed | method | K | matched at IoU ≥ 0.5 | centres within 3 µm | seconds |")
    print("|---|---|---|---|---|---|---|")
    for image_seed, fit_seed, name, matched, found, seconds, k in rows:
        if matched is None:
            print(f"| {image_seed} | {fit_seed} | {name} | – | refused | – | {seconds:.1f} |")
            continue
        print(f"| {image_seed} | {fit_seed} | {name} | {k} | {matched} | {found:.1%} | {seconds:.1f} |")
    print("\n| method | matched (mean, min–max) | centres within 3 µm (mean) | seconds (mean) |")
    print("|---|---|---|---|")
    for name in [m for m, _ in METHODS] + list(REFERENCES) + ["oracle"]:
        refused = sum(r[3] is None for r in rows if r[2] == name)
        mine = [r for r in rows if r[2] == name and r[3] is not None]
        if not mine:
            print(f"| {name} | refused {refused} times | – | – |")
            continue
        if refused:
            name = f"{name} ({refused} refused)"
        matched = np.array([r[3] for r in mine])
        print(f"| {name} | {matched.mean():.1f} ({matched.min()}–{matched.max()}) | "
              f"{np.mean([r[4] for r in mine]):.1%} | {np.nanmean([r[5] for r in mine]) if name != 'oracle' else float('nan'):.1f} |")


if __name__ == "__main__":
    main()
