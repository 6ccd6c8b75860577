"""Time per iteration and peak memory: our EM and Sinkhorn-EM against scikit-learn's GaussianMixture.

All fit the same data from the same initial means, weights and precisions (full covariances).
Two times per iteration:

- early: (time of 1 + M iterations - time of 1 iteration) / M, iterations 2..M+1 of a fit from
  the rough start (identity precisions), where Sinkhorn-EM's E-steps must move the most mass;
- fit: the time of a --fit-iterations fit (tol 0, so every fit runs that many iterations) minus
  the time of 1 iteration, divided by --fit-iterations - 1: the average over a whole fit, where
  late E-steps cost one pass. scikit-learn's iterations all cost the same, so its early time is
  used for both.

Sinkhorn-EM runs with uniform masses (``weights="uniform"``) and with learned masses
(``weights="em"``). Each measurement runs in its own process; peak extra memory is that
process's peak resident size (ru_maxrss) minus its size after the data were made. numba kernels
are compiled (or loaded from cache) on a tiny problem before timing.

    python benchmarks/bench_mixture.py [--iterations 5] [--fit-iterations 40]
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
METHODS = ("ours-em", "ours-sinkhorn-uniform", "ours-sinkhorn-learned", "sklearn")


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

        model = GaussianMixture(n_components, method="em" if method == "ours-em" else "sinkhorn",
                                weights="uniform" if method == "ours-sinkhorn-uniform" else "em",
                                covariance_type="full", max_iter=n_iter, tol=0,
                                means_init=means, precisions_init=precisions)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return time.perf_counter() - start


def child(method, n_points, n_features, n_components, iterations, fit_iterations):
    if method != "sklearn":
        tiny = make_problem(500, n_features, n_components)
        fit_seconds(method, *tiny, n_iter=2)
    X, means, weights, precisions = make_problem(n_points, n_features, n_components)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    one = fit_seconds(method, X, means, weights, precisions, 1)
    many = fit_seconds(method, X, means, weights, precisions, 1 + iterations)
    early = (many - one) / iterations
    fit = early
    if method != "sklearn":
        whole = fit_seconds(method, X, means, weights, precisions, fit_iterations)
        fit = (whole - one) / (fit_iterations - 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"early": early, "fit": fit, "extra_mb": (peak - baseline) / 1024}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--fit-iterations", type=int, default=40)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, *sizes = args.child
        child(method, *map(int, sizes), args.iterations, args.fit_iterations)
        return
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}; early = iterations "
          f"2..{args.iterations + 1}, fit = average over a {args.fit_iterations}-iteration fit\n")
    print("| N | d | K | method | s / iteration early | s / iteration fit | peak extra MB "
          "| × faster than scikit-learn (fit) | vs our EM (early) | vs our EM (fit) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n_points, n_features, n_components in CASES:
        results = {}
        for method in METHODS:
            output = subprocess.run(
                [sys.executable, __file__, "--iterations", str(args.iterations), "--fit-iterations",
                 str(args.fit_iterations), "--child", method, str(n_points), str(n_features),
                 str(n_components)],
                check=True, capture_output=True, text=True,
            ).stdout
            results[method] = json.loads(output.strip().splitlines()[-1])
        em = results["ours-em"]
        for method in METHODS:
            r = results[method]
            print(f"| {n_points:,} | {n_features} | {n_components} | {method} | {r['early']:.3f} "
                  f"| {r['fit']:.3f} | {r['extra_mb']:.0f} | {results['sklearn']['fit'] / r['fit']:.1f} "
                  f"| {r['early'] / em['early']:.2f} | {r['fit'] / em['fit']:.2f} |", flush=True)
    print("\nN x K float64 = 8 N K bytes: "
          + ", ".join(f"{8 * n * k / 2**20:.0f} MB at N={n:,}, K={k}" for n, _, k in CASES))


if __name__ == "__main__":
    main()
