"""Evidence A: EM vs Sinkhorn-EM on a well-specified 2-D mixture, from random data-point starts.

K = 10 components, d = 2, N = 3000 points, equal weights (labels drawn uniformly), unit
covariances, true means on a 2 x 5 grid with spacing 4, each jittered by U(-0.5, 0.5) per
coordinate. For every seed the data, the true means and the start are new; the start is K
distinct random data points and is the SAME for every recipe of that seed. Success: after
Hungarian matching of fitted to true means, every true mean is within 0.5 of its fitted mean.

Recipes (all with our GaussianMixture unless said otherwise; tol = 1e-4 on the per-point
objective, at most --max-iter iterations):

  means only, covariances known (unit), weights fixed 1/K:
    EM            own loop on ``em_responsibilities`` (the package has no means-only EM)
    Sinkhorn-EM   GaussianMixture(warmup="sinkhorn_means", precisions_init=I, max_iter=0,
                  warmup_iter=--max-iter): the warm-up alone
    Sinkhorn-EM (check)  own loop on ``sinkhorn_responsibilities``; must agree with the row above
  full covariances, from the nearest-mean assignment of the start:
    EM, weights fixed 1/K / EM, learned weights / Sinkhorn-EM, uniform masses
    scikit-learn GaussianMixture (learned weights) from the same means, weights and precisions
  two-stage (means first, <= 100 iterations, covariances held; then full EM, learned weights):
    Sinkhorn-EM means (unit covariance held) -> EM   warmup="sinkhorn_means", precisions_init=I
    Sinkhorn-EM means (pooled covariance held) -> EM warmup="sinkhorn_means" (package default:
                  one covariance pooled over the start's nearest-mean assignment)
    EM means (unit covariance) -> EM                 own means-only EM loop, then
                  GaussianMixture(method="em", weights="em", means_init=..., precisions_init=I)
    k-means -> EM  scikit-learn KMeans (Lloyd) from the same start, then
                  GaussianMixture(method="em", weights="em", means_init=centres) -- the classic
                  recipe (scikit-learn's own default initialisation), as a control

Rerun (about 4 minutes on 2 shared cores at --seeds 100, the second line 6-11 minutes; it is the
check with a tighter stopping rule):

    nice -n 10 python benchmarks/evidence_toy.py --seeds 100 --plot docs/figures/evidence_toy.png
    nice -n 10 python benchmarks/evidence_toy.py --seeds 100 --tol 1e-6
"""

import argparse
import os
import pathlib
import time
import warnings

# numba's OpenMP threads spin while they wait and fight OpenBLAS's threads for the cores; on a
# shared 2-core machine that made every fit here 10-50x slower. Only timings depend on this.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.special  # noqa: E402

from _evidence_common import machine, markdown_table, max_matched_distance, quiet_fit  # noqa: E402
from napari_sinkhorn_em import GaussianMixture, em_responsibilities, sinkhorn_responsibilities  # noqa: E402

N_COMPONENTS = 10
N_FEATURES = 2
N_POINTS = 3000
GRID_SHAPE = (2, 5)
SPACING = 4.0
JITTER = 0.5
SUCCESS_DISTANCE = 0.5
TOL = 1e-4
WARMUP_ITER = 100
LOG_NORMALISER = -0.5 * N_FEATURES * np.log(2 * np.pi)


def make_problem(seed):
    """Data, true means and a start (K distinct data points) for one seed."""
    data_rng, start_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    rows, cols = np.meshgrid(np.arange(GRID_SHAPE[0]), np.arange(GRID_SHAPE[1]), indexing="ij")
    grid = SPACING * np.column_stack([rows.ravel(), cols.ravel()]).astype(float)
    true_means = grid + data_rng.uniform(-JITTER, JITTER, size=grid.shape)
    labels = data_rng.integers(N_COMPONENTS, size=N_POINTS)
    X = true_means[labels] + data_rng.standard_normal((N_POINTS, N_FEATURES))
    start = X[start_rng.choice(N_POINTS, N_COMPONENTS, replace=False)]
    return X, true_means, start


def unit_log_prob(X, means):
    return LOG_NORMALISER - 0.5 * ((X[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)


def means_only(X, start, method, max_iter):
    """Means-only EM or Sinkhorn-EM with unit covariances and weights fixed 1/K (own loop).

    Same stopping rule as GaussianMixture: the per-point objective (log-likelihood for EM,
    transport objective for Sinkhorn-EM, both evaluated before the M-step) changes by
    less than TOL. Returns (means, iterations, converged).
    """
    weights = np.full(N_COMPONENTS, 1.0 / N_COMPONENTS)
    means = start.astype(float).copy()
    potentials = None
    previous = None
    for iteration in range(1, max_iter + 1):
        log_prob = unit_log_prob(X, means)
        if method == "em":
            resp = em_responsibilities(log_prob, weights)
            objective = -float(np.mean(scipy.special.logsumexp(log_prob + np.log(weights), axis=1)))
        else:
            resp, potentials, _ = sinkhorn_responsibilities(
                log_prob, weights, epsilon=1.0, tol=1e-6, potentials=potentials
            )
            lse = scipy.special.logsumexp(log_prob + potentials, axis=1)
            objective = float(resp.mean(axis=0) @ potentials - lse.mean() - np.log(N_POINTS))
        mass = resp.sum(axis=0)
        moved = mass > 1e-12
        means[moved] = (resp.T @ X)[moved] / mass[moved, None]
        if previous is not None and abs(objective - previous) < TOL:
            return means, iteration, True
        previous = objective
    return means, max_iter, False


def start_state(X, start):
    """Weights and precisions of the nearest-mean assignment of ``start`` (our own init rule)."""
    labels = np.argmin(((X[:, None, :] - start[None]) ** 2).sum(axis=2), axis=1)
    weights = np.maximum(np.bincount(labels, minlength=N_COMPONENTS), 1.0)
    precisions = np.empty((N_COMPONENTS, N_FEATURES, N_FEATURES))
    for k in range(N_COMPONENTS):
        members = X[labels == k]
        centred = members - start[k]
        covariance = centred.T @ centred / max(len(members), 1) + 1e-6 * np.eye(N_FEATURES)
        precisions[k] = np.linalg.inv(covariance)
    return weights / weights.sum(), precisions


def ours(X, start, seed, **kwargs):
    model = GaussianMixture(N_COMPONENTS, means_init=start, random_state=seed, tol=TOL, **kwargs)
    model.fit(X)
    return model


def run_seed(seed, max_iter):
    X, true_means, start = make_problem(seed)
    identity = np.repeat(np.eye(N_FEATURES)[None], N_COMPONENTS, axis=0)
    results = {}

    def record(name, fit):
        (means, n_iter), counts, seconds = quiet_fit(fit)
        distance = max_matched_distance(means, true_means)
        results[name] = dict(success=distance < SUCCESS_DISTANCE, n_iter=n_iter, distance=distance,
                             warnings=counts, seconds=seconds)

    def model_result(**kwargs):
        model = ours(X, start, seed, **kwargs)
        return model.means_, model.n_iter_

    record("em_means", lambda: means_only(X, start, "em", max_iter)[:2])
    record("sinkhorn_means", lambda: model_result(
        method="sinkhorn", warmup="sinkhorn_means", precisions_init=identity, max_iter=0,
        warmup_iter=max_iter))
    record("sinkhorn_means_check", lambda: means_only(X, start, "sinkhorn", max_iter)[:2])
    record("em_full_fixed", lambda: model_result(method="em", weights="uniform", max_iter=max_iter))
    record("em_full_learned", lambda: model_result(method="em", weights="em", max_iter=max_iter))
    record("sinkhorn_full", lambda: model_result(method="sinkhorn", weights="uniform", max_iter=max_iter))

    def sklearn_fit():
        from sklearn.mixture import GaussianMixture as Reference

        weights, precisions = start_state(X, start)
        model = Reference(N_COMPONENTS, covariance_type="full", tol=TOL, max_iter=max_iter,
                          weights_init=weights, means_init=start, precisions_init=precisions,
                          random_state=seed)
        model.fit(X)
        return model.means_, model.n_iter_

    record("sklearn_full", sklearn_fit)
    record("sinkhorn_means_then_em", lambda: model_result(
        method="em", weights="em", warmup="sinkhorn_means", precisions_init=identity,
        warmup_iter=WARMUP_ITER, max_iter=max_iter))
    record("sinkhorn_pooled_then_em", lambda: model_result(
        method="em", weights="em", warmup="sinkhorn_means", warmup_iter=WARMUP_ITER,
        max_iter=max_iter))

    def em_then_em():
        means, warm_iter, _ = means_only(X, start, "em", WARMUP_ITER)
        model = GaussianMixture(N_COMPONENTS, method="em", weights="em", means_init=means,
                                precisions_init=identity, random_state=seed, tol=TOL,
                                max_iter=max_iter).fit(X)
        return model.means_, warm_iter + model.n_iter_

    record("em_means_then_em", em_then_em)

    def kmeans_then_em():
        from sklearn.cluster import KMeans

        kmeans = KMeans(N_COMPONENTS, init=start, n_init=1, max_iter=WARMUP_ITER, tol=0.0).fit(X)
        model = GaussianMixture(N_COMPONENTS, method="em", weights="em", means_init=kmeans.cluster_centers_,
                                random_state=seed, tol=TOL, max_iter=max_iter).fit(X)
        return model.means_, kmeans.n_iter_ + model.n_iter_

    record("kmeans_then_em", kmeans_then_em)
    return results


RECIPES = [
    ("em_means", "means only, covariances known", "EM (own loop, `em_responsibilities`)"),
    ("sinkhorn_means", "means only, covariances known", "Sinkhorn-EM (package warm-up, `max_iter=0`)"),
    ("sinkhorn_means_check", "means only, covariances known",
     "Sinkhorn-EM (own loop, `sinkhorn_responsibilities`; check)"),
    ("em_full_fixed", "full covariances", "EM, weights fixed 1/K"),
    ("em_full_learned", "full covariances", "EM, learned weights"),
    ("sklearn_full", "full covariances", "scikit-learn GaussianMixture (learned weights)"),
    ("sinkhorn_full", "full covariances", "Sinkhorn-EM, uniform masses"),
    ("sinkhorn_means_then_em", "two-stage", "Sinkhorn-EM means (unit cov. held, <= 100 its) -> full EM"),
    ("sinkhorn_pooled_then_em", "two-stage",
     "Sinkhorn-EM means (pooled cov. held, <= 100 its) -> full EM (package default warm-up)"),
    ("em_means_then_em", "two-stage", "EM means (unit cov., <= 100 its) -> full EM"),
    ("kmeans_then_em", "two-stage", "k-means (Lloyd, scikit-learn, <= 100 its) -> full EM"),
]


def wilson(successes, n, z=1.96):
    """95% Wilson score interval of a success rate."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summarise(all_results):
    n = len(all_results)
    rows, summary = [], {}
    for key, group, label in RECIPES:
        runs = [r[key] for r in all_results]
        successes = sum(r["success"] for r in runs)
        low, high = wilson(successes, n)
        iterations = np.array([r["n_iter"] for r in runs])
        good = iterations[[r["success"] for r in runs]]
        warn = {}
        for r in runs:
            for name, count in r["warnings"].items():
                warn[name] = warn.get(name, 0) + 1
        summary[key] = dict(rate=successes / n, low=low, high=high)
        rows.append([
            group, label, f"{successes / n:.2f} [{low:.2f}, {high:.2f}]",
            f"{np.median(iterations):.0f}", f"{np.median(good):.0f}" if good.size else "–",
            f"{np.mean([r['seconds'] for r in runs]) * 1000:.0f}",
            ", ".join(f"{name} on {count}" for name, count in sorted(warn.items())) or "–",
        ])
    header = ["setting", "recipe", "success [95% CI]", "iterations (median, all)",
              "iterations (median, successes)", "ms per fit", "warnings (seeds)"]
    return markdown_table(header, rows), summary


def agreement(all_results):
    same = sum(r["sinkhorn_means"]["success"] == r["sinkhorn_means_check"]["success"] for r in all_results)
    return same, len(all_results)


def plot(summary, n_seeds, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [key for key, _, _ in RECIPES if key != "sinkhorn_means_check"]
    short = {
        "em_means": "EM, means only", "sinkhorn_means": "Sinkhorn-EM, means only",
        "em_full_fixed": "EM full, w fixed", "em_full_learned": "EM full, w learned",
        "sklearn_full": "scikit-learn full", "sinkhorn_full": "Sinkhorn-EM full",
        "sinkhorn_means_then_em": "Sinkhorn means (I) -> EM",
        "sinkhorn_pooled_then_em": "Sinkhorn means (pooled) -> EM",
        "em_means_then_em": "EM means (I) -> EM",
        "kmeans_then_em": "k-means -> EM",
    }
    colours = ["C1" if "sinkhorn" in key else "C7" if key == "sklearn_full" else "C0" for key in keys]
    rates = np.array([summary[k]["rate"] for k in keys])
    errors = np.array([[summary[k]["rate"] - summary[k]["low"], summary[k]["high"] - summary[k]["rate"]]
                       for k in keys]).T.clip(0.0)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    y = np.arange(len(keys))[::-1]
    ax.barh(y, rates, xerr=errors, color=colours, capsize=3)
    ax.set_yticks(y, [short[k] for k in keys])
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(f"fraction of {n_seeds} seeds recovering all 10 means within 0.5 (95% CI)")
    ax.set_title("2-D mixture, K = 10, N = 3000, random data-point starts\n(benchmarks/evidence_toy.py)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")


def main():
    global TOL
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100, help="number of seeds (0..seeds-1)")
    parser.add_argument("--max-iter", type=int, default=1000, help="iteration cap of one-stage fits")
    parser.add_argument("--tol", type=float, default=TOL,
                        help="stopping tolerance on the per-point objective, every recipe (default 1e-4)")
    parser.add_argument("--plot", type=pathlib.Path, default=None)
    args = parser.parse_args()
    TOL = args.tol
    print(machine())
    began = time.perf_counter()
    # Compile / load the numba kernels before anything is timed.
    warm_X, _, warm_start = make_problem(10**6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("em", "sinkhorn"):
            ours(warm_X, warm_start, 0, method=method, max_iter=2)
    all_results = [run_seed(seed, args.max_iter) for seed in range(args.seeds)]
    table, summary = summarise(all_results)
    print(f"\nK = {N_COMPONENTS}, d = {N_FEATURES}, N = {N_POINTS}, {args.seeds} seeds, "
          f"tol = {TOL}, max_iter = {args.max_iter}\n")
    print(table)
    same, n = agreement(all_results)
    print(f"\npackage warm-up and own Sinkhorn means-only loop agree on success for {same}/{n} seeds")
    print(f"wall time {time.perf_counter() - began:.0f} s")
    if args.plot:
        plot(summary, args.seeds, args.plot)


if __name__ == "__main__":
    main()
