"""The Sinkhorn E-step alone: plain sweeps, Newton, Newton with continuation in epsilon, and POT.

What it measures
----------------
For one fixed (N, K) array of Gaussian log-densities and K target column masses, the time and
the number of passes over the array that each solver needs to bring the relative column-mass
error ``max_k |m_k / weights_k - 1|`` below ``1e-6`` from a cold start, for several epsilons.

Problems: N points in d = 3 drawn from K Gaussian components (K = 10, 40, 100) with masses in a
geometric progression spanning 1:20, means spread so that neighbouring components overlap
moderately (the share of points whose most likely component is not their own is printed), random
covariances. ``log_prob[i, k] = log N(x_i; mu_k, Sigma_k)`` is computed with scipy. Fixed seed.
Two kinds of target column masses, both spanning 1:20:

- ``matched``: the masses the points were drawn with (as late in a fit);
- ``permuted``: the same masses given to the components in a random order, so the plan has to move
  mass between components (as early in a fit, or with user-chosen class sizes).

Solvers (``napari_sinkhorn_em.mixture.estep.solve_sinkhorn`` unless said otherwise):

- ``sweeps``: plain Sinkhorn sweeps from ``potentials = epsilon * log(weights)``.
- ``newton``: damped Newton from ``potentials = epsilon * log(weights)`` passed explicitly. Passing
  potentials switches continuation off: ``solve_sinkhorn`` only runs the continuation stages
  (``CONTINUATION_EPSILONS`` larger than epsilon, each solved to ``CONTINUATION_TOL``) when
  ``potentials is None``; otherwise it starts its Newton steps at the potentials given.
- ``newton+cont``: damped Newton with ``potentials=None``. For epsilon < 1 it first solves each
  larger epsilon of ``CONTINUATION_EPSILONS`` in turn (the first from ``1.0 * log(weights)``), then
  epsilon itself from there; their passes are counted. For epsilon >= 1 no continuation epsilon is
  larger, so it is the same computation as ``newton``.
- ``POT``: ``ot.bregman.sinkhorn_log`` on the full cost ``-log_prob`` with ``reg = epsilon``, row
  masses 1/N and column masses ``weights`` (so its plan equals ours divided by N), from its own
  cold start (zero log-scalings). One POT iteration updates both scalings: two passes over the
  array (plus an error pass every tenth iteration); the passes column shows 2 x iterations. Its
  stopping rule is the L2 norm of the absolute column error; it is given ``tol * min(weights)``,
  which implies our relative rule. Its reached error is recomputed from its plan (row and column
  sums checked). Only for K <= 40 and epsilon >= 0.1 (it is too slow elsewhere).

Sweeps and POT are run in chunks (``SWEEP_CHUNK`` passes, ``POT_CHUNK`` iterations), each chunk
continuing exactly from the last one's potentials, and stop at a cap on passes (iterations) or
once a chunk ends past ``--seconds-per-cell``, so that cells that stall still finish. Restarting
``solve_sinkhorn`` re-evaluates the potentials it was given: that repeated pass is not counted in
the passes (it is in the seconds: about 2 %). Newton runs in one call with a cap on passes only.

The contract checked for ``newton+cont``: error <= 1e-6 from a cold start within <= 60 passes for
epsilon from 0.1 to 100 and <= 100 passes at epsilon = 0.01 (K <= 100, masses spanning 1:20).

numba kernels are compiled (or loaded from cache) on a tiny problem before timing. Run with

    OMP_WAIT_POLICY=passive python benchmarks/bench_estep.py [--points 20000] [--seconds-per-cell 5] [--quick]

The default N = 20,000 keeps the whole run near 4 minutes on 2 shared cores. Pass counts hardly
depend on N; seconds grow about linearly with it (``--points 200000`` for a larger problem, with a
larger ``--seconds-per-cell``). ``--quick`` runs a small problem (5,000 points, K = 10 and 40,
2 s per cell) to check the script.
"""

import argparse
import os
import time
import warnings

import numpy as np
import scipy.stats

from napari_sinkhorn_em.mixture import CONTINUATION_EPSILONS, SinkhornConvergenceWarning, solve_sinkhorn

TOLERANCE = 1e-6
N_FEATURES = 3
MASS_SPAN = 20.0
EPSILONS = (100.0, 10.0, 1.0, 0.1, 0.01)
COMPONENT_COUNTS = (10, 40, 100)
TARGETS = ("matched", "permuted")
SOLVERS = ("sweeps", "newton", "newton+cont", "POT")
SWEEP_PASS_CAP = 5000
NEWTON_PASS_CAP = 1000
POT_ITERATION_CAP = 5000
SWEEP_CHUNK = 50
POT_CHUNK = 20
POT_LARGEST_K = 40
POT_SMALLEST_EPSILON = 0.1
# Mean distance between neighbouring means, in units of the components' typical standard deviation.
MEAN_SPACING = 3.0


def contract_pass_limit(epsilon):
    return 100 if epsilon < 0.1 else 60


def pot_is_run(n_components, epsilon):
    return n_components <= POT_LARGEST_K and epsilon >= POT_SMALLEST_EPSILON


def make_problem(n_points, n_components, seed=0):
    """Log-densities of N points under the K components they were drawn from, and the masses."""
    rng = np.random.default_rng(seed)
    masses = MASS_SPAN ** (-np.arange(n_components) / (n_components - 1))
    masses /= masses.sum()
    box_side = MEAN_SPACING * n_components ** (1 / N_FEATURES)
    means = rng.uniform(0.0, box_side, size=(n_components, N_FEATURES))
    covariances = []
    for _ in range(n_components):
        rotation = scipy.stats.special_ortho_group.rvs(N_FEATURES, random_state=rng)
        scales = rng.uniform(0.6, 1.4, size=N_FEATURES)
        covariances.append(rotation @ np.diag(scales**2) @ rotation.T)
    labels = rng.choice(n_components, size=n_points, p=masses)
    points = np.empty((n_points, N_FEATURES))
    for k in range(n_components):
        chosen = labels == k
        points[chosen] = rng.multivariate_normal(means[k], covariances[k], size=chosen.sum())
    log_prob = np.empty((n_points, n_components))
    for k in range(n_components):
        log_prob[:, k] = scipy.stats.multivariate_normal(means[k], covariances[k]).logpdf(points)
    posterior_winner = np.argmax(log_prob + np.log(masses), axis=1)
    overlap = float(np.mean(posterior_winner != labels))
    permuted_masses = masses[rng.permutation(n_components)]
    return log_prob, {"matched": masses, "permuted": permuted_masses}, overlap


def run_newton(by_component, weights, epsilon, continuation):
    potentials = None if continuation else epsilon * np.log(weights)
    start = time.perf_counter()
    result = solve_sinkhorn(by_component, weights, epsilon, potentials=potentials, tol=TOLERANCE,
                            max_passes=NEWTON_PASS_CAP, solver="newton")
    seconds = time.perf_counter() - start
    return {"passes": result.n_passes, "seconds": seconds, "error": result.state.mass_error,
            "converged": result.converged}


def run_sweeps(by_component, weights, epsilon, seconds_per_cell):
    potentials = epsilon * np.log(weights)
    passes = 0
    start = time.perf_counter()
    while True:
        chunk = min(SWEEP_CHUNK, SWEEP_PASS_CAP - passes + (1 if passes else 0))
        result = solve_sinkhorn(by_component, weights, epsilon, potentials=potentials, tol=TOLERANCE,
                                max_passes=chunk, solver="sweeps")
        # A restart re-evaluates the potentials it was given: that pass was already counted.
        passes += result.n_passes - (1 if passes else 0)
        potentials = result.state.potentials
        seconds = time.perf_counter() - start
        if result.converged or passes >= SWEEP_PASS_CAP or seconds > seconds_per_cell:
            break
    return {"passes": passes, "seconds": seconds, "error": result.state.mass_error,
            "converged": result.converged}


def pot_plan_errors(log_prob, weights, epsilon, log_u, log_v):
    """Relative column-mass error and largest row-mass error (relative to 1/N) of POT's plan."""
    plan = np.exp(log_prob / epsilon + log_u[:, None] + log_v[None, :])
    n_points = log_prob.shape[0]
    column_error = float(np.max(np.abs(plan.sum(axis=0) / weights - 1.0)))
    row_error = float(np.max(np.abs(plan.sum(axis=1) * n_points - 1.0)))
    return column_error, row_error


def run_pot(log_prob, weights, epsilon, seconds_per_cell):
    import ot

    n_points = log_prob.shape[0]
    row_masses = np.full(n_points, 1.0 / n_points)
    cost = -log_prob
    stop_threshold = TOLERANCE * weights.min()
    warmstart = None
    iterations = 0
    start = time.perf_counter()
    while True:
        chunk = min(POT_CHUNK, POT_ITERATION_CAP - iterations)
        _, log = ot.bregman.sinkhorn_log(row_masses, weights, cost, epsilon, numItermax=chunk,
                                         stopThr=stop_threshold, log=True, warn=False,
                                         warmstart=warmstart)
        iterations += log["niter"] + 1
        warmstart = (log["log_u"], log["log_v"])
        stopped = log["err"][-1] < stop_threshold
        seconds = time.perf_counter() - start
        if stopped or iterations >= POT_ITERATION_CAP or seconds > seconds_per_cell:
            break
    column_error, row_error = pot_plan_errors(log_prob, weights, epsilon, *warmstart)
    return {"passes": 2 * iterations, "seconds": seconds, "error": column_error,
            "converged": column_error <= TOLERANCE, "row_error": row_error}


def warm_up():
    log_prob, masses, _ = make_problem(2000, 5, seed=1)
    for solver in ("newton", "sweeps"):
        solve_sinkhorn(np.ascontiguousarray(log_prob.T), masses["matched"], 1.0, tol=TOLERANCE,
                       max_passes=5, solver=solver)


def run_cell(solver, log_prob, weights, epsilon, seconds_per_cell):
    if solver == "POT":
        return run_pot(log_prob, weights, epsilon, seconds_per_cell)
    # The solver reads the log-densities component-major, (K, n).
    by_component = np.ascontiguousarray(log_prob.T)
    if solver == "sweeps":
        return run_sweeps(by_component, weights, epsilon, seconds_per_cell)
    return run_newton(by_component, weights, epsilon, continuation=solver == "newton+cont")


def format_row(n_components, targets, epsilon, solver, cell, reference):
    ratio = cell["seconds"] / reference["seconds"]
    ratio_text = f"{ratio:.2f}" if cell["converged"] else f"> {ratio:.2f}"
    return (f"| {n_components} | {targets} | {epsilon:g} | {solver} | {cell['passes']} | "
            f"{cell['seconds']:.2f} | {cell['error']:.1e} | {'yes' if cell['converged'] else 'no'} | "
            f"{ratio_text} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20_000, help="number of points N")
    parser.add_argument("--seconds-per-cell", type=float, default=5.0,
                        help="sweeps and POT stop after the chunk that passes this many seconds")
    parser.add_argument("--quick", action="store_true", help="small problem, K = 10 and 40 only")
    args = parser.parse_args()
    component_counts = COMPONENT_COUNTS
    if args.quick:
        args.points, args.seconds_per_cell = 5000, 2.0
        component_counts = (10, 40)
    print(f"{os.cpu_count()} cores, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
          f"N = {args.points:,}, d = {N_FEATURES}, tol = {TOLERANCE:g}, continuation epsilons "
          f"{CONTINUATION_EPSILONS}; caps: sweeps {SWEEP_PASS_CAP} passes, Newton "
          f"{NEWTON_PASS_CAP} passes, POT {POT_ITERATION_CAP} iterations, sweeps and POT "
          f"{args.seconds_per_cell:g} s per cell\n")
    warm_up()
    rows, contract_rows = [], []
    total_start = time.perf_counter()
    for n_components in component_counts:
        log_prob, target_masses, overlap = make_problem(args.points, n_components)
        print(f"K = {n_components}: {overlap:.1%} of the points are most likely under another "
              f"component than their own", flush=True)
        for targets in TARGETS:
            weights = target_masses[targets]
            for epsilon in EPSILONS:
                cells = {}
                for solver in SOLVERS:
                    if solver == "POT" and not pot_is_run(n_components, epsilon):
                        continue
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", SinkhornConvergenceWarning)
                        cells[solver] = run_cell(solver, log_prob, weights, epsilon, args.seconds_per_cell)
                    if solver == "POT" and cells[solver]["row_error"] > TOLERANCE:
                        row_error = cells[solver]["row_error"]
                        print(f"  note: POT's plan rows are off by {row_error:.1e} (relative)")
                reference = cells["newton+cont"]
                for solver, cell in cells.items():
                    rows.append(format_row(n_components, targets, epsilon, solver, cell, reference))
                    print("  " + rows[-1], flush=True)
                limit = contract_pass_limit(epsilon)
                meets = reference["converged"] and reference["passes"] <= limit
                contract_rows.append(
                    f"| {n_components} | {targets} | {epsilon:g} | {reference['passes']} | {limit} | "
                    f"{reference['error']:.1e} | {'yes' if meets else '**NO**'} |")
    print(f"\nTotal {time.perf_counter() - total_start:.0f} s\n")
    print("| K | targets | ε | solver | passes | seconds | rel. column-mass error | converged | "
          "time / newton+cont |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nContract for newton+cont (error <= 1e-6 within 60 passes for ε >= 0.1, 100 at ε = 0.01):\n")
    print("| K | targets | ε | passes | pass limit | error | meets contract |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(contract_rows))


if __name__ == "__main__":
    main()
