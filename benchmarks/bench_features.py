"""Benchmark napari_sinkhorn_em.features against skimage.feature.multiscale_basic_features.

Run from the repository root::

    python benchmarks/bench_features.py                       # 60 x 256 x 256, 2 channels
    python benchmarks/bench_features.py --shape 30 128 128 --repeats 1   # quicker

Every method runs in its own fresh Python subprocess on the same seeded
synthetic uint16 stack (spots and noise, channels last), so the memory numbers
do not interfere. Time is wall-clock around the single call. Memory is the
increase of the process's peak resident set size (VmHWM, everything the
process touched, including NumPy/SciPy/C buffers, threads and the returned
feature table) over its resident size just before the call; on Linux the peak
is reset right before the call (``/proc/self/clear_refs``), elsewhere the
lifetime peak (``ru_maxrss``) is used. Each method runs ``--repeats`` times
(interleaved) and the fastest run is reported. The ratio columns are
ours / skimage.

Methods:

* ``skimage``: ``multiscale_basic_features(image, channel_axis=-1,
  sigma_min=1, sigma_max=4, num_sigma=3)`` (intensity, edges, texture at
  sigmas 1, 2, 4; all cores via its thread pool).
* ``ours-comparable``: the same quantities with our filters, Gaussian,
  gradient magnitude and Hessian eigenvalues at sigmas 1, 2, 4, without
  standardisation (``standardize=False``), single-threaded.
* ``ours-comparable-std``: the same with the default robust standardisation.
* ``ours-multiscale``: the full ``"multiscale"`` preset (also LoG,
  structure-tensor eigenvalues, difference of Gaussians: twice the columns),
  standardised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIGMAS = (1.0, 2.0, 4.0)
METHODS = ("skimage", "ours-comparable", "ours-comparable-std", "ours-multiscale")


def synthetic_stack(shape: tuple[int, ...], n_channels: int, seed: int = 0) -> np.ndarray:
    """Seeded uint16 stack, channels last: Gaussian spots of two sizes on a background, with noise."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    channels = []
    for channel in range(n_channels):
        spikes = np.zeros(shape, dtype=np.float32)
        n_spots = int(np.prod(shape) // 2000)
        spikes[tuple(rng.integers(0, n, n_spots) for n in shape)] = 1.0
        spots = ndimage.gaussian_filter(spikes, 1.5 + 1.5 * channel, output=np.float32)
        spots *= 4000.0 / max(float(spots.max()), 1e-12)
        spots += 300.0 + rng.normal(0.0, 30.0, size=shape).astype(np.float32)
        channels.append(np.clip(spots, 0, 65535).astype(np.uint16))
        del spikes, spots
    return np.stack(channels, axis=-1)


def _resident_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def run_method(method: str, shape: tuple[int, ...], n_channels: int) -> dict:
    """Time one method in this process and measure its peak memory increase."""
    from skimage.feature import multiscale_basic_features

    from napari_sinkhorn_em.features import extract_features

    image = synthetic_stack(shape, n_channels)
    comparable = [
        (name, sigma) for sigma in SIGMAS for name in ("gaussian", "gradient_magnitude", "hessian_eigenvalues")
    ]
    calls = {
        "skimage": lambda: multiscale_basic_features(
            image, channel_axis=-1, sigma_min=SIGMAS[0], sigma_max=SIGMAS[-1], num_sigma=len(SIGMAS)
        ),
        "ours-comparable": lambda: (
            extract_features(image, channel_axis=-1, features=comparable, standardize=False).data
        ),
        "ours-comparable-std": lambda: extract_features(image, channel_axis=-1, features=comparable).data,
        "ours-multiscale": lambda: extract_features(image, channel_axis=-1, features="multiscale", sigmas=SIGMAS).data,
    }
    linux_peak = sys.platform.startswith("linux") and _reset_peak()
    baseline_kib = _resident_kib("VmRSS") if sys.platform.startswith("linux") else 0
    start = time.perf_counter()
    table = calls[method]()
    seconds = time.perf_counter() - start
    peak_kib = _resident_kib("VmHWM") if linux_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_features = table.shape[-1]
    return {
        "method": method,
        "seconds": seconds,
        "peak_mib": (peak_kib - baseline_kib) / 1024,
        "n_features": n_features,
        "output_mib": table.nbytes / 2**20,
        "dtype": str(table.dtype),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[60, 256, 256], help="spatial shape (2-D or 3-D)")
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--repeats", type=int, default=2, help="fresh runs per method; the fastest is reported")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(args.shape)

    if args.worker:
        print(json.dumps(run_method(args.worker, shape, args.channels)))
        return

    source = str(Path(__file__).resolve().parents[1] / "src")
    python_path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    environment = dict(os.environ, PYTHONPATH=python_path)
    results: dict[str, dict] = {}
    for repeat in range(args.repeats):  # interleaved, so a busy spell on a shared machine hits every method
        for method in args.methods:
            command = [sys.executable, __file__, "--worker", method, "--shape", *map(str, shape)]
            command += ["--channels", str(args.channels)]
            completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
            result = json.loads(completed.stdout.strip().splitlines()[-1])
            print(
                f"  run {repeat + 1}: {method} {result['seconds']:.1f} s, {result['peak_mib']:.0f} MiB", file=sys.stderr
            )
            if method not in results or result["seconds"] < results[method]["seconds"]:
                results[method] = result

    import scipy
    import skimage

    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"image {shape} x {args.channels} channels (uint16), sigmas {SIGMAS}; {platform.machine()}, "
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB; numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-image {skimage.__version__}"
    )
    reference = results.get("skimage")
    header = (
        f"| {'method':<20} | {'columns':>7} | {'time (s)':>8} | {'peak (MiB)':>10} | {'output (MiB)':>12} "
        f"| {'time ratio':>10} | {'memory ratio':>12} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for method, result in results.items():
        time_ratio = memory_ratio = "-"
        if reference and method != "skimage":
            time_ratio = f"{result['seconds'] / reference['seconds']:.2f}"
            memory_ratio = f"{result['peak_mib'] / reference['peak_mib']:.2f}"
        print(
            f"| {method:<20} | {result['n_features']:>7} | {result['seconds']:>8.1f} | {result['peak_mib']:>10.0f} | "
            f"{result['output_mib']:>12.0f} | {time_ratio:>10} | {memory_ratio:>12} |"
        )


if __name__ == "__main__":
    main()
