"""Fits on a busy machine: numba's threads against one thread, with every core taken by other work.

Starts one busy process per core (a pure-Python loop at normal priority), then times the same fits
in fresh subprocesses, once with the package's own thread choice (numba's default thread count,
the passive OpenMP wait policy and one thread below ``_kernels.MIN_PARALLEL_WORK``) and once with
``NUMBA_NUM_THREADS=1``. Each fit is timed ``--repeats`` times (best and median printed); numba
kernels are compiled (or loaded from cache) before timing. Also runs the fits without the busy
processes, for reference.

    python benchmarks/bench_threads.py [--repeats 5]
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time

CASES = [  # (n_points, n_features, n_components, method)
    (2_000, 4, 5, "sinkhorn"),
    (2_000, 4, 5, "em"),
    (200_000, 3, 5, "em"),
    (200_000, 3, 5, "sinkhorn"),
]


def busy():
    while True:
        pass


def child(n_points, n_features, n_components, method, repeats):
    import warnings

    import numpy as np

    from napari_sinkhorn_em import GaussianMixture

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(n_components, n_features))
    X = centres[rng.integers(n_components, size=n_points)] + rng.normal(size=(n_points, n_features))
    times = []
    for repeat in range(repeats + 1):
        model = GaussianMixture(n_components, method=method, random_state=0, max_iter=50, tol=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
        if repeat:  # the first fit compiles or loads the kernels
            times.append(time.perf_counter() - start)
    print(json.dumps(sorted(times)))


def measure(case, threads, repeats):
    env = dict(os.environ)
    env.pop("NUMBA_NUM_THREADS", None)
    if threads == "one thread":
        env["NUMBA_NUM_THREADS"] = "1"
    output = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, case), "--repeats", str(repeats)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, d, k, method = args.child
        child(int(n), int(d), int(k), method, args.repeats)
        return
    n_cores = os.cpu_count()
    print(f"{n_cores} cores; load average before: {os.getloadavg()[0]:.2f}; 50 iterations per fit, "
          f"best / median of {args.repeats}\n")
    print("| N | d | K | method | machine | package threads (s) | one thread (s) | ratio (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for loaded in (False, True):
        workers = [multiprocessing.Process(target=busy, daemon=True) for _ in range(n_cores if loaded else 0)]
        for worker in workers:
            worker.start()
        try:
            for case in CASES:
                package = measure(case, "package", args.repeats)
                one = measure(case, "one thread", args.repeats)
                ratio = package[len(package) // 2] / one[len(one) // 2]
                print(f"| {case[0]:,} | {case[1]} | {case[2]} | {case[3]} | "
                      f"{'every core busy' if loaded else 'idle'} | {package[0]:.3f} / {package[len(package) // 2]:.3f} | "
                      f"{one[0]:.3f} / {one[len(one) // 2]:.3f} | {ratio:.2f} |", flush=True)
        finally:
            for worker in workers:
                worker.terminate()


if __name__ == "__main__":
    main()
