"""Whole fits with many components (K = 200, d = 6, N = 50,000), clustered like a head of nuclei.

Data: the 200 true centres (µm) and colours of ``data.neuropal_head(seed=0)``; 250 points per
neuron, positions drawn from a Gaussian of 1 µm standard deviation around its centre (divided by
the nucleus radius 1.4 µm, as the neurons recipe weighs position) and colours from its colour plus
Gaussian noise of 0.05, so d = 3 + 3. All fits start from the same k-means++ means
(scikit-learn's ``kmeans_plusplus``, seed 0), full covariances, tol 1e-4 on the per-point
objective, at most --max-iter iterations, one start. Each fit runs in its own process after the
numba kernels were compiled (or loaded from cache) on a tiny problem.

    python benchmarks/bench_many_components.py [--max-iter 100]
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

N_PER_NEURON = 250
METHODS = ("sklearn", "ours-em", "ours-default")


def make_points():
    from napari_sinkhorn_em.data import neuropal_head

    head = neuropal_head(seed=0)
    rng = np.random.default_rng(0)
    n_neurons = head.centres_um.shape[0]
    owner = np.repeat(np.arange(n_neurons), N_PER_NEURON)
    positions = head.centres_um[owner] + rng.normal(scale=1.0, size=(owner.size, 3))
    colours = head.colours[owner] + rng.normal(scale=0.05, size=(owner.size, 3))
    return np.hstack([positions / 1.4, colours]), n_neurons


def fit(method, X, means, max_iter):
    n_components = means.shape[0]
    if method == "sklearn":
        from sklearn.mixture import GaussianMixture as Reference

        model = Reference(n_components, covariance_type="full", max_iter=max_iter, tol=1e-4,
                          means_init=means, reg_covar=1e-6)
    else:
        from napari_sinkhorn_em import GaussianMixture

        options = dict(method="em", weights="em") if method == "ours-em" else dict(
            method="em", weights="em", warmup="sinkhorn_means")
        model = GaussianMixture(n_components, covariance_type="full", max_iter=max_iter, tol=1e-4,
                                means_init=means, reg_covar=1e-6, **options)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return time.perf_counter() - start, int(model.n_iter_)


def child(method, max_iter):
    from sklearn.cluster import kmeans_plusplus

    X, n_neurons = make_points()
    means, _ = kmeans_plusplus(X, n_neurons, random_state=0)
    if method != "sklearn":
        fit(method, X[:2000], means[:5], 2)
    seconds, n_iter = fit(method, X, means, max_iter)
    print(json.dumps({"seconds": seconds, "n_iter": n_iter, "n_points": X.shape[0]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.max_iter)
        return
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}\n")
    results = {}
    for method in METHODS:
        output = subprocess.run([sys.executable, __file__, "--child", method, "--max-iter", str(args.max_iter)],
                                check=True, capture_output=True, text=True).stdout
        results[method] = json.loads(output.strip().splitlines()[-1])
    print("| method | N | iterations | seconds | s / iteration | time / scikit-learn |")
    print("|---|---|---|---|---|---|")
    for method in METHODS:
        r = results[method]
        print(f"| {method} | {r['n_points']:,} | {r['n_iter']} | {r['seconds']:.1f} | "
              f"{r['seconds'] / r['n_iter']:.3f} | {r['seconds'] / results['sklearn']['seconds']:.2f} |")


if __name__ == "__main__":
    main()
