"""Evidence B: EM vs Sinkhorn-EM recipes segmenting the synthetic NeuroPAL-like head (40 nuclei).

Image: ``data.neuropal_like(seed=--image-seeds, size_spread=0.3)`` ("unequal" nuclei, radii
1.6 um +/- 30%) and ``size_spread=0.0`` ("equal"). Foreground: the pan-neuronal channel (3)
above its Otsu threshold (it also holds the blurred halo around the nuclei). Features, one row
per foreground voxel, from ``extract_features(image, channel_axis=0, scale=sample.scale,
features=[("intensity", None)], coordinates=True, coordinate_weight=1 / 1.6, mask=foreground)``
with the pan-neuronal column dropped: three colour channels standardised by median / IQR over the
foreground, and the position (z, y, x) in micrometres times 1/1.6, so that one nucleus radius
(1.6 um) counts as much as one colour IQR.

K = 40 components, full covariances, tol = 1e-4, at most --max-iter iterations. Starts: seeds
0..--starts-1, either k-means++ (``sklearn.cluster.kmeans_plusplus``, the same greedy k-means++
as the package's) or K distinct random foreground voxels; every recipe of one (seed, kind) gets
the SAME starting means (``means_init``), and starting covariances / weights from the
nearest-mean assignment of those means (the package's rule; scikit-learn gets them as
``weights_init`` / ``precisions_init``). Recipes:

  EM, weights fixed 1/K           GaussianMixture(method="em", weights="uniform")
  EM, learned weights             GaussianMixture(method="em", weights="em")
  scikit-learn                    sklearn GaussianMixture, learned weights, same start
  Sinkhorn-EM, uniform masses     GaussianMixture(method="sinkhorn", weights="uniform"), epsilon 1
  Sinkhorn means -> EM            GaussianMixture(method="em", weights="em", warmup="sinkhorn_means")
                                  (<= 100 warm-up iterations on the means, one pooled covariance
                                  held, masses 1/K; then full EM with learned weights)
  EM means -> EM                  the same schedule with EM in the warm-up: own means-only EM
                                  loop on ``em_responsibilities`` (pooled covariance held, weights
                                  1/K, <= 100 iterations), then GaussianMixture(method="em",
                                  weights="em", means_init=..., precisions_init=pooled)
  k-means -> EM                   control: scikit-learn KMeans (Lloyd, <= 100 iterations) from the
                                  same means, then GaussianMixture(method="em", weights="em")

Predicted instance = argmax component (``predict``) per foreground voxel. A ground-truth nucleus
is recovered when its Hungarian match on the IoU matrix has IoU >= 0.5 (IoU against the whole
nucleus, voxels outside the foreground included). ARI: adjusted Rand index between predicted
components and ground-truth labels (0 = halo) on the foreground voxels; also on the foreground
voxels inside nuclei only.

The default run (3 starts per kind) takes about 5 minutes on an idle 2-core machine and about 9
when the cores are shared; the Sinkhorn-EM fits dominate, the fits from the true means come last.
docs/evidence.md reports 5 starts (8 minutes idle, 15 under load):

    nice -n 10 python benchmarks/evidence_neuropal.py --starts 5 --plot docs/figures/evidence_neuropal.png

To split a run, fit one condition at a time (--conditions unequal / equal, each with
--json FILE) and print the tables and figure of both with --merge FILE FILE [--plot PNG].
Other images: --image-seeds 1 2 (the tables then pool starts and images). --oracle-only fits
only from the true nucleus means, the reference that says what the model itself can reach.
"""

import argparse
import json
import os
import pathlib
import time
import warnings

# numba's OpenMP threads spin while they wait and fight OpenBLAS's threads for the cores; on a
# shared 2-core machine that made fits 10-50x slower. Only timings depend on this.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.special  # noqa: E402

from _evidence_common import (  # noqa: E402
    iou_matrix, machine, markdown_table, objects_recovered, quiet_fit,
)
from napari_sinkhorn_em import GaussianMixture, em_responsibilities  # noqa: E402
from napari_sinkhorn_em.data import neuropal_like  # noqa: E402
from napari_sinkhorn_em.features import extract_features  # noqa: E402

N_COMPONENTS = 40
NUCLEUS_RADIUS_UM = 1.6
COORDINATE_WEIGHT = 1.0 / NUCLEUS_RADIUS_UM
PAN_NEURONAL = 3
TOL = 1e-4
REG_COVAR = 1e-6
WARMUP_ITER = 100
IOU_THRESHOLD = 0.5
CONDITIONS = (("unequal", 0.3), ("equal", 0.0))
INITS = ("kmeans++", "random")

RECIPES = [
    ("em_fixed", "EM, weights fixed 1/K"),
    ("em_learned", "EM, learned weights"),
    ("sklearn", "scikit-learn GaussianMixture (learned weights, same start)"),
    ("sinkhorn", "Sinkhorn-EM, all parameters, uniform masses"),
    ("sinkhorn_means_em", "Sinkhorn-EM on means (pooled cov. held) -> EM, learned weights"),
    ("em_means_em", "EM on means (pooled cov. held) -> EM, learned weights"),
    ("kmeans_em", "k-means (Lloyd, scikit-learn) -> EM, learned weights"),
]


def make_problem(image_seed, size_spread):
    """Feature table of the foreground voxels, their ground-truth labels and the nucleus sizes."""
    from skimage.filters import threshold_otsu

    sample = neuropal_like(seed=image_seed, size_spread=size_spread)
    pan = sample.image[PAN_NEURONAL]
    foreground = pan > threshold_otsu(pan)
    stack = extract_features(
        sample.image, channel_axis=0, scale=sample.scale, features=[("intensity", None)],
        coordinates=True, coordinate_weight=COORDINATE_WEIGHT, mask=foreground,
    )
    keep = [i for i, name in enumerate(stack.names) if not name.startswith(f"ch{PAN_NEURONAL}")]
    X = np.ascontiguousarray(stack.data[:, keep], dtype=np.float64)
    names = [stack.names[i] for i in keep]
    truth = sample.labels[foreground].astype(np.int64)
    n_truth = int(sample.labels.max())
    truth_sizes = np.bincount(sample.labels.ravel(), minlength=n_truth + 1)[1:]
    return X, names, truth, n_truth, truth_sizes


def starting_means(X, init, seed):
    if init == "random":
        rng = np.random.default_rng(seed)
        return X[rng.choice(X.shape[0], N_COMPONENTS, replace=False)].copy()
    from sklearn.cluster import kmeans_plusplus

    return kmeans_plusplus(X, N_COMPONENTS, random_state=seed)[0]


def nearest_mean_state(X, means):
    """Labels, weights, covariances and pooled covariance of the nearest-mean assignment."""
    squared = (means**2).sum(axis=1)[None, :] - 2.0 * X @ means.T
    labels = np.argmin(squared, axis=1)
    n_features = X.shape[1]
    counts = np.bincount(labels, minlength=N_COMPONENTS).astype(float)
    covariances = np.empty((N_COMPONENTS, n_features, n_features))
    scatter = np.zeros((n_features, n_features))
    for k in range(N_COMPONENTS):
        members = X[labels == k]
        # Around the class's own mean (the pooled within-class covariance) ...
        centred = members - members.mean(axis=0) if len(members) else members
        scatter += centred.T @ centred
        # ... and, per component, around the starting mean (as the package does).
        around_start = members - means[k]
        covariances[k] = around_start.T @ around_start / max(len(members), 1)
    covariances += REG_COVAR * np.eye(n_features)
    pooled = scatter / X.shape[0] + REG_COVAR * np.eye(n_features)
    weights = np.maximum(counts, 1.0) / np.maximum(counts, 1.0).sum()
    return weights, covariances, pooled


def em_means_only(X, means, covariance, max_iter):
    """Means-only EM with one covariance held and weights fixed 1/K (own loop, package's stop rule)."""
    weights = np.full(N_COMPONENTS, 1.0 / N_COMPONENTS)
    cholesky = scipy.linalg.cholesky(covariance, lower=True)
    whiten = scipy.linalg.solve_triangular(cholesky, np.eye(X.shape[1]), lower=True)
    Xw = X @ whiten.T
    constant = -np.log(np.diag(cholesky)).sum() - 0.5 * X.shape[1] * np.log(2 * np.pi)
    means = means.copy()
    previous = None
    for iteration in range(1, max_iter + 1):
        mw = means @ whiten.T
        squared = (Xw**2).sum(axis=1)[:, None] - 2.0 * Xw @ mw.T + (mw**2).sum(axis=1)[None, :]
        log_prob = constant - 0.5 * np.maximum(squared, 0.0)
        objective = float(np.mean(scipy.special.logsumexp(log_prob + np.log(weights), axis=1)))
        resp = em_responsibilities(log_prob, weights)
        mass = resp.sum(axis=0)
        moved = mass > 1e-12
        means[moved] = (resp.T @ X)[moved] / mass[moved, None]
        if previous is not None and abs(objective - previous) < TOL:
            return means, iteration
        previous = objective
    return means, max_iter


def fit_recipe(recipe, X, means, seed, max_iter):
    """Fit one recipe from ``means``; return (labels, iterations, converged, log-likelihood)."""
    common = dict(means_init=means, covariance_type="full", tol=TOL, reg_covar=REG_COVAR,
                  random_state=seed, max_iter=max_iter)
    if recipe == "sklearn":
        from sklearn.mixture import GaussianMixture as Reference

        weights, covariances, _ = nearest_mean_state(X, means)
        model = Reference(N_COMPONENTS, weights_init=weights, precisions_init=np.linalg.inv(covariances),
                          **common).fit(X)
        return model.predict(X), model.n_iter_, model.converged_, model.score(X)
    warm_iter = 0
    if recipe == "em_fixed":
        model = GaussianMixture(N_COMPONENTS, method="em", weights="uniform", **common)
    elif recipe == "em_learned":
        model = GaussianMixture(N_COMPONENTS, method="em", weights="em", **common)
    elif recipe == "sinkhorn":
        model = GaussianMixture(N_COMPONENTS, method="sinkhorn", weights="uniform", **common)
    elif recipe == "sinkhorn_means_em":
        model = GaussianMixture(N_COMPONENTS, method="em", weights="em", warmup="sinkhorn_means",
                                warmup_iter=WARMUP_ITER, **common)
    elif recipe == "em_means_em":
        _, _, pooled = nearest_mean_state(X, means)
        warmed, warm_iter = em_means_only(X, means, pooled, WARMUP_ITER)
        common["means_init"] = warmed
        model = GaussianMixture(N_COMPONENTS, method="em", weights="em",
                                precisions_init=np.repeat(np.linalg.inv(pooled)[None], N_COMPONENTS, axis=0),
                                **common)
    elif recipe == "kmeans_em":
        from sklearn.cluster import KMeans

        kmeans = KMeans(N_COMPONENTS, init=means, n_init=1, max_iter=WARMUP_ITER, tol=0.0).fit(X)
        warm_iter = kmeans.n_iter_
        common["means_init"] = kmeans.cluster_centers_
        model = GaussianMixture(N_COMPONENTS, method="em", weights="em", **common)
    else:
        raise ValueError(recipe)
    model.fit(X)
    main_iter = sum(phase == "main" for phase in model.history_["phase"])
    return model.predict(X), warm_iter + model.n_iter_, model.converged_ or main_iter < max_iter, model.score(X)


def evaluate(labels, truth, n_truth, truth_sizes):
    from sklearn.metrics import adjusted_rand_score

    iou = iou_matrix(labels, truth, N_COMPONENTS, n_truth, truth_sizes)
    inside = truth > 0
    return (objects_recovered(iou, IOU_THRESHOLD), float(adjusted_rand_score(truth, labels)),
            float(adjusted_rand_score(truth[inside], labels[inside])))


def mean_sd(values, digits=1):
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return "–"
    if values.size > 1 and values.std(ddof=1) > 0:
        return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"
    return f"{values.mean():.{digits}f}"


def tables(results, image_seeds):
    cells = [(condition, init) for condition, _ in CONDITIONS for init in INITS]
    header = ["recipe"] + [f"{condition}, {init}" for condition, init in cells]

    def cell_values(recipe, condition, init, key):
        return [r[key] for r in results if r["recipe"] == recipe and r["condition"] == condition
                and r["init"] == init and r["image_seed"] in image_seeds]

    out = {}
    for key, digits, title in (("recovered", 1, "nuclei recovered (IoU >= 0.5) out of 40"),
                               ("ari", 3, "ARI on the foreground voxels (halo = one more class)"),
                               ("ari_nuclei", 3, "ARI on the foreground voxels inside nuclei"),
                               ("iterations", 0, "iterations (warm-up + main)"),
                               ("loglik", 3, "final mean log-likelihood per voxel"),
                               ("seconds", 1, "seconds per fit")):
        rows = []
        for recipe, label in RECIPES:
            rows.append([label] + [mean_sd(cell_values(recipe, c, i, key), digits) for c, i in cells])
        out[title] = markdown_table(header, rows)
    # What n_init = (number of starts) would keep: the start with the highest final log-likelihood
    # (per image seed; GaussianMixture's n_init ranks Sinkhorn-EM fits by the transport objective).
    rows = []
    for recipe, label in RECIPES:
        row = [label]
        for condition, init in cells:
            picked = []
            for image_seed in sorted(image_seeds):
                runs = [r for r in results if r["recipe"] == recipe and r["condition"] == condition
                        and r["init"] == init and r["image_seed"] == image_seed]
                if runs:
                    picked.append(max(runs, key=lambda r: r["loglik"])["recovered"])
            row.append(mean_sd(picked, 1) if picked else "–")
        rows.append(row)
    out["nuclei recovered by the start with the highest log-likelihood (best of all starts)"] = \
        markdown_table(header, rows)
    unconverged = [r for r in results if not r["converged"]]
    return out, unconverged


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    short = {
        "em_fixed": "EM\nw fixed", "em_learned": "EM\nw learned", "sklearn": "scikit-\nlearn",
        "sinkhorn": "Sinkhorn-EM\nall params", "sinkhorn_means_em": "Sinkhorn\nmeans -> EM",
        "em_means_em": "EM\nmeans -> EM", "kmeans_em": "k-means\n-> EM",
    }
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.2), sharey=True)
    rng = np.random.default_rng(0)
    for ax, (condition, _) in zip(axes, CONDITIONS):
        for x, (recipe, _) in enumerate(RECIPES):
            for offset, init, marker, colour in ((-0.17, "kmeans++", "o", "C0"), (0.17, "random", "s", "C1")):
                values = np.array([r["recovered"] for r in results
                                   if r["recipe"] == recipe and r["condition"] == condition and r["init"] == init])
                if not values.size:
                    continue
                ax.scatter(x + offset + rng.uniform(-0.06, 0.06, values.size), values, s=16, marker=marker,
                           color=colour, alpha=0.7, label=init if x == 0 else None)
                ax.hlines(values.mean(), x + offset - 0.12, x + offset + 0.12, color="k", lw=1.5)
        ax.set_xticks(range(len(RECIPES)), [short[r] for r, _ in RECIPES], fontsize=8)
        ax.set_title(f"{condition} nucleus sizes", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("nuclei recovered (IoU >= 0.5) of 40")
    axes[0].legend(title="start", fontsize=8, loc="lower left")
    fig.suptitle("NeuroPAL-like head, K = 40, one point per start, bar = mean "
                 "(benchmarks/evidence_neuropal.py)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")


ORACLE_RECIPES = ("em_learned", "sinkhorn_means_em", "sinkhorn")


def oracle(image_seeds, conditions, max_iter):
    """Fits started from the true nucleus means (mean feature vector of each nucleus's voxels).

    Not a recipe -- nobody knows the truth -- but it says what the model can reach: whether
    a miss above is the optimiser's fault (EM from the truth does better) or the model's.
    """
    header = ["image seed", "condition"] + [label for key, label in RECIPES if key in ORACLE_RECIPES]
    rows = []
    for image_seed in image_seeds:
        for condition, spread in CONDITIONS:
            if condition not in conditions:
                continue
            X, _, truth, n_truth, truth_sizes = make_problem(image_seed, spread)
            means = np.array([X[truth == j].mean(axis=0) for j in range(1, n_truth + 1)])
            row = [str(image_seed), condition]
            for recipe in (key for key, _ in RECIPES if key in ORACLE_RECIPES):
                labels, _, _, loglik = quiet_fit(lambda: fit_recipe(recipe, X, means, 0, max_iter))[0]
                recovered, _, ari_nuclei = evaluate(labels, truth, n_truth, truth_sizes)
                row.append(f"{recovered} (ARI {ari_nuclei:.3f}, log-lik. {loglik:.3f})")
            rows.append(row)
    print("From the true nucleus means (reference, not a recipe): nuclei recovered "
          "(ARI inside nuclei, final mean log-likelihood)\n")
    print(markdown_table(header, rows))


def report(results, image_seeds, starts, max_iter):
    print(f"\nK = {N_COMPONENTS}, full covariances, tol = {TOL}, max_iter = {max_iter}, "
          f"coordinate_weight = {COORDINATE_WEIGHT:.4f}, starts {starts}, "
          f"image seeds {sorted(image_seeds)}; mean ± sd over starts (and image seeds)\n")
    out, unconverged = tables(results, set(image_seeds))
    for title, table in out.items():
        print(f"{title}:\n\n{table}\n")
    print(f"fits stopped at max_iter before tol: {len(unconverged)}"
          + "".join(f"\n  {r['condition']} {r['init']} seed {r['seed']} {r['recipe']}" for r in unconverged))
    warned = {}
    for r in results:
        for name in r["warnings"]:
            warned[(r["recipe"], name)] = warned.get((r["recipe"], name), 0) + 1
    for (recipe, name), count in sorted(warned.items()):
        print(f"  {name} raised in {count} fit(s) of {recipe}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3,
                        help="start seeds 0..starts-1 per init kind (docs/evidence.md: 5)")
    parser.add_argument("--conditions", nargs="+", default=[c for c, _ in CONDITIONS],
                        choices=[c for c, _ in CONDITIONS], help="nucleus-size conditions to fit (default both)")
    parser.add_argument("--image-seeds", type=int, nargs="+", default=[0], help="neuropal_like seeds")
    parser.add_argument("--max-iter", type=int, default=300, help="iteration cap of the main fit")
    parser.add_argument("--recipes", nargs="+", default=[key for key, _ in RECIPES],
                        choices=[key for key, _ in RECIPES])
    parser.add_argument("--plot", type=pathlib.Path, default=None)
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write every fit's numbers here")
    parser.add_argument("--merge", type=pathlib.Path, nargs="+", default=None,
                        help="fit nothing: print the tables (and --plot) of these --json files together")
    parser.add_argument("--oracle-only", action="store_true",
                        help="fit only from the true nucleus means (the reference table)")
    args = parser.parse_args()
    if args.oracle_only:
        oracle(args.image_seeds, args.conditions, args.max_iter)
        return
    if args.merge:
        results = [r for path in args.merge for r in json.loads(path.read_text())]
        starts = sorted({r["seed"] for r in results})
        max_iter = sorted({r["max_iter"] for r in results})
        report(results, {r["image_seed"] for r in results}, f"{starts[0]}..{starts[-1]}",
               max_iter[0] if len(max_iter) == 1 else max_iter)
        if args.plot:
            plot(results, args.plot)
        return
    print(machine())
    began = time.perf_counter()
    results = []
    for image_seed in args.image_seeds:
        for condition, spread in CONDITIONS:
            if condition not in args.conditions:
                continue
            X, names, truth, n_truth, truth_sizes = make_problem(image_seed, spread)
            print(f"image seed {image_seed}, {condition}: {X.shape[0]} foreground voxels, "
                  f"columns {names}, {np.count_nonzero(truth)} of them in nuclei", flush=True)
            if not results:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for method in ("em", "sinkhorn"):  # compile / load the numba kernels
                        GaussianMixture(N_COMPONENTS, method=method, max_iter=2, random_state=0).fit(X[:2000])
            for init in INITS:
                for seed in range(args.starts):
                    means = starting_means(X, init, seed)
                    for recipe in args.recipes:
                        (labels, n_iter, converged, loglik), counts, seconds = quiet_fit(
                            lambda: fit_recipe(recipe, X, means, seed, args.max_iter))
                        recovered, ari, ari_nuclei = evaluate(labels, truth, n_truth, truth_sizes)
                        results.append(dict(image_seed=image_seed, condition=condition, init=init, seed=seed,
                                            recipe=recipe, recovered=recovered, ari=ari, ari_nuclei=ari_nuclei, iterations=n_iter,
                                            max_iter=args.max_iter,
                                            converged=bool(converged), loglik=float(loglik),
                                            seconds=seconds, warnings=counts))
                        print(f"  {init:8s} seed {seed} {recipe:18s} recovered {recovered:2d} ARI {ari:.3f} "
                              f"its {n_iter:4d} loglik {loglik:.3f} {seconds:5.1f}s {counts or ''}", flush=True)
    report(results, args.image_seeds, f"0..{args.starts - 1}", args.max_iter)
    print()
    oracle(args.image_seeds, args.conditions, args.max_iter)
    print(f"wall time {time.perf_counter() - began:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
