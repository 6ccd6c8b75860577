"""Count the passes over the data that Sinkhorn-EM's E-steps take, iteration by iteration.

The cost of a Sinkhorn-EM iteration is set by how many passes over the (points x components)
table its E-step needs: the first pass computes the log-densities and evaluates the plan at
potentials predicted from the last E-steps; every further pass is a Newton step (or a sweep) on
the potentials. An EM iteration is one pass. Counts do not depend on the machine or its load.

Same problem and start as ``bench_mixture.py`` (identity precisions: a rough start), 40
iterations with tol 0, uniform and learned class sizes::

    python benchmarks/sinkhorn_passes.py                 # N = 200,000, d = 6, K = 20
    python benchmarks/sinkhorn_passes.py --points 1e6
    python benchmarks/sinkhorn_passes.py --iterations 100   # the late E-steps
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from bench_mixture import make_problem
from napari_sinkhorn_em import GaussianMixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=float, default=2e5)
    parser.add_argument("--features", type=int, default=6)
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    X, means, _, precisions = make_problem(int(args.points), args.features, args.components)
    print(f"N = {X.shape[0]:,}, d = {args.features}, K = {args.components}, {args.iterations} iterations, tol 0")
    print("| class sizes | passes in iterations 1-10 | in the last 8 | mean passes per iteration | iterations done in one pass |")
    print("|---|---|---|---|---|")
    for weights in ("uniform", "em"):
        model = GaussianMixture(
            args.components, method="sinkhorn", weights=weights, max_iter=args.iterations, tol=0.0,
            means_init=means, precisions_init=precisions,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
        passes = np.array(model.history_["sinkhorn_passes"])
        name = "uniform" if weights == "uniform" else "learned"
        print(f"| {name} | {', '.join(map(str, passes[:10]))} | {', '.join(map(str, passes[-8:]))} | {passes.mean():.2f} | "
              f"{np.count_nonzero(passes == 1)} of {passes.size} |")


if __name__ == "__main__":
    main()
