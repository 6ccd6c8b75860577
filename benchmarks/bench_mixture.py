"""Time per iteration and peak memory: our EM and Sinkhorn-EM against scikit-learn's GaussianMixture.

All three fit the same data from the same initial means, weights and precisions (full
covariances). Time per iteration = (time of 1 + M iterations - time of 1 iteration) / M, so
initialisation is not counted. Each measurement runs in its own process; peak extra memory is
that process's peak resident size (ru_maxrss) minus its size after the data were made.
numba kernels are compiled (or loaded from cache) on a tiny problem before timing.

    python benchmarks/bench_mixture.py [--iterations 5]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

CASES = [(1_000_000, 6, 20), (200_000, 3, 5)]
METHODS = ("ours-em", "ours-sinkhorn", "sklearn")


def make_problem(n_points, n_features, n_components):
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(n_components, n_features))
    X = centres[rng.integers(n_components, size=n_points)] + rng.normal(size=(n_points, n_features))
    means = X[rng.choice(n_points, n_components, replace=False)]
    precisions = np.repeat(np.eye(n_features)[None], n_components, axis=0)
    weights = np.full(n_components, 1.0 / n_components)
    return X, means, weights, precisions


def fit_seconds(method, X, means, weights, precisions, n_iter):
    n_components = means.shape[0]
    if method == "sklearn":
        from sklearn.mixture import GaussianMixture as Reference

        model = Reference(n_components, covariance_type="full", max_iter=n_iter, tol=0,
                          weights_init=weights, means_init=means, precisions_init=precisions)
    else:
        from napari_sinkhorn_em import GaussianMixture

        model = GaussianMixture(n_components, method=method.removeprefix("ours-"), weights="em",
                                covariance_type="full", max_iter=n_iter, tol=0,
                                means_init=means, precisions_init=precisions)
        if method == "ours-sinkhorn":
            model.weights = "uniform"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return time.perf_counter() - start


def child(method, n_points, n_features, n_components, iterations):
    if method != "sklearn":
        tiny = make_problem(500, n_features, n_components)
        fit_seconds(method, *tiny, n_iter=2)
    X, means, weights, precisions = make_problem(n_points, n_features, n_components)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    one = fit_seconds(method, X, means, weights, precisions, 1)
    many = fit_seconds(method, X, means, weights, precisions, 1 + iterations)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"per_iteration": (many - one) / iterations, "extra_mb": (peak - baseline) / 1024}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, *sizes = args.child
        child(method, *map(int, sizes), args.iterations)
        return
    print(f"{os.cpu_count()} cores; {args.iterations} timed iterations after one untimed\n")
    print("| N | d | K | method | s / iteration | peak extra MB | x faster than sklearn | vs our EM |")
    print("|---|---|---|---|---|---|---|---|")
    for n_points, n_features, n_components in CASES:
        results = {}
        for method in METHODS:
            output = subprocess.run(
                [sys.executable, __file__, "--iterations", str(args.iterations), "--child", method,
                 str(n_points), str(n_features), str(n_components)],
                check=True, capture_output=True, text=True,
            ).stdout
            results[method] = json.loads(output.strip().splitlines()[-1])
        for method in METHODS:
            r = results[method]
            speedup = results["sklearn"]["per_iteration"] / r["per_iteration"]
            versus_em = r["per_iteration"] / results["ours-em"]["per_iteration"]
            print(f"| {n_points:,} | {n_features} | {n_components} | {method} | {r['per_iteration']:.3f} "
                  f"| {r['extra_mb']:.0f} | {speedup:.1f} | {versus_em:.2f} |")
    print("\nN x K float64 = 8 N K bytes: "
          + ", ".join(f"{8 * n * k / 2**20:.0f} MB at N={n:,}, K={k}" for n, _, k in CASES))


if __name__ == "__main__":
    main()
