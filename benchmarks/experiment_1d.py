"""The 1-D experiment of Mena et al. (2020): EM vs Sinkhorn-EM on a symmetric two-Gaussian mixture.

x ~ a N(theta*, 1) + (1 - a) N(-theta*, 1), theta* = 1, N = 1000. Weights (a, 1 - a) and unit
variances are known; only theta is estimated (means (theta, -theta)), starting at theta0 = -2.
Both methods use the same E-step inputs; EM uses the posterior, Sinkhorn-EM the transport plan
with column masses (a, 1 - a) at epsilon = 1. For each a the script prints whether each method
reaches the true theta (|theta - 1| < 0.1 after at most 500 iterations) and in how many
iterations (|change| < 1e-6), averaged over several data seeds, and the smallest a from which
each method succeeds on every seed.

    python benchmarks/experiment_1d.py [--seeds 10] [--plot docs/figures/experiment_1d.png]
"""

import argparse
import pathlib

import numpy as np

from napari_sinkhorn_em import em_responsibilities, sinkhorn_responsibilities

THETA_TRUE = 1.0
THETA_START = -2.0
N_POINTS = 1000
MAX_ITER = 500
STEP_TOL = 1e-6
SUCCESS_TOL = 0.1


def sample(alpha, seed):
    rng = np.random.default_rng(seed)
    first = rng.random(N_POINTS) < alpha
    return np.where(first, THETA_TRUE, -THETA_TRUE) + rng.standard_normal(N_POINTS)


def fit_theta(x, alpha, method):
    """Estimate theta from THETA_START; return (theta, iterations)."""
    weights = np.array([alpha, 1.0 - alpha])
    theta = THETA_START
    potentials = None
    for iteration in range(1, MAX_ITER + 1):
        log_prob = -0.5 * (x[:, None] - np.array([theta, -theta])) ** 2
        if method == "em":
            resp = em_responsibilities(log_prob, weights)
        else:
            resp, potentials, _ = sinkhorn_responsibilities(
                log_prob, weights, epsilon=1.0, tol=1e-10, potentials=potentials
            )
        # M-step for means (theta, -theta) with unit variances.
        new_theta = float(np.mean((resp[:, 0] - resp[:, 1]) * x))
        if abs(new_theta - theta) < STEP_TOL:
            return new_theta, iteration
        theta = new_theta
    return theta, MAX_ITER


def run(alphas, seeds):
    rows = []
    for alpha in alphas:
        row = {"alpha": alpha}
        for method in ("em", "sinkhorn"):
            results = [fit_theta(sample(alpha, seed), alpha, method) for seed in seeds]
            success = [abs(theta - THETA_TRUE) < SUCCESS_TOL for theta, _ in results]
            iterations = [n for (_, n), ok in zip(results, success) if ok]
            row[method] = (float(np.mean(success)), float(np.median(iterations)) if iterations else np.nan)
        rows.append(row)
    return rows


def threshold(rows, method):
    """Smallest alpha from which the method succeeds on every seed at every larger alpha."""
    smallest = None
    for row in reversed(rows):
        if row[method][0] < 1.0:
            break
        smallest = row["alpha"]
    return smallest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--plot", type=pathlib.Path, default=None)
    args = parser.parse_args()
    alphas = np.round(np.arange(0.50, 0.995, 0.01), 2)
    rows = run(alphas, range(args.seeds))
    print(f"N = {N_POINTS}, theta* = {THETA_TRUE}, start {THETA_START}, {args.seeds} seeds per alpha\n")
    print("| alpha* | EM success | EM iterations (median) | Sinkhorn-EM success | Sinkhorn-EM iterations (median) |")
    print("|---|---|---|---|---|")
    for row in rows:
        em, sk = row["em"], row["sinkhorn"]
        print(f"| {row['alpha']:.2f} | {em[0]:.2f} | {em[1]:.0f} | {sk[0]:.2f} | {sk[1]:.0f} |")
    print(f"\nalpha* threshold (success on every seed from here up): "
          f"EM {threshold(rows, 'em')}, Sinkhorn-EM {threshold(rows, 'sinkhorn')}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
        for method, label in (("em", "EM"), ("sinkhorn", "Sinkhorn-EM")):
            top.plot(alphas, [r[method][0] for r in rows], marker=".", label=label)
            bottom.plot(alphas, [r[method][1] for r in rows], marker=".", label=label)
        top.set_ylabel("fraction of seeds\nreaching theta*")
        bottom.set_ylabel("iterations (median)")
        bottom.set_xlabel("alpha* (weight of the component at +theta*)")
        bottom.set_yscale("log")
        top.legend()
        fig.suptitle("1-D mixture, start at theta0 = -2 (benchmarks/experiment_1d.py)")
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
