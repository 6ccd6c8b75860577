"""Worms in the BBBC010 wells from a rough guess of their share: every recipe on the same features.

Data: the four wells in ``../shared/data/bbbc010_celegans`` (channel 1, bright field; see its
SOURCE.md). Truth: the union of the per-worm masks (``<well>_instances.tif > 0``). The well is
``largest_bright_region(bright_field, margin=6)``; every recipe sees the same ``"brightfield"``
features inside it (illumination-corrected intensity, Gaussian and Hessian eigenvalues at 1, 2
and 4 px, background at 20 px) and the same random subsample. The worms are label 1: the class
given the first size, or, without sizes, the darkest class (smallest mean corrected intensity).

Recipes, for guessed worm shares 0.05, 0.10 and 0.15 (truth: 0.068-0.095 of the well):

* Sinkhorn-EM with the sizes held (``size_tolerance=1``), labels by the plan or the posterior;
* Sinkhorn-EM with a soft KL size prior of strength tau per point (``size_prior_strength``),
  posterior labels;
* Sinkhorn-EM with the share searched within a factor 3 of the guess (the default with sizes);

and, without a guess: EM (K = 2, learned sizes), the default method without sizes, and
scikit-learn's GaussianMixture with K = 2 and 3 (darkest class) on the same rows.

With ``--samples`` it runs the same recipes on the bundled synthetic worms sample instead
(``data.worms_2d`` with seeds 0-3, 6.25 um pixels, sigmas 6.25, 12.5 and 25 um).

Run from the repository root (a few minutes per well on two cores)::

    python benchmarks/evidence_worm_sizes.py
    python benchmarks/evidence_worm_sizes.py --samples
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import tifffile
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from _evidence_common import machine, markdown_table
from napari_sinkhorn_em import data
from napari_sinkhorn_em.features import extract_features
from napari_sinkhorn_em.features import WELL_MARGIN, largest_bright_region
from napari_sinkhorn_em.segmentation import Segmenter

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbbc010_celegans"
WELLS = ("A01", "C05", "A15", "D17")
GUESSES = (0.05, 0.10, 0.15)
STRENGTHS = (1.0, 10.0)
SAMPLE_SIZE = 50_000
SAMPLE_SEEDS = (0, 1, 2, 3)


def iou(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.count_nonzero(found & truth) / np.count_nonzero(found | truth))


def recipes(guess: float) -> dict[str, dict]:
    sizes = {"weights": (guess, 1.0 - guess)}
    table = {
        "Sinkhorn-EM, sizes held, plan labels": {**sizes, "size_tolerance": 1.0, "assignment": "plan"},
        "Sinkhorn-EM, sizes held, posterior labels": {**sizes, "size_tolerance": 1.0, "assignment": "posterior"},
    }
    for strength in STRENGTHS:
        table[f"Sinkhorn-EM, KL size prior tau = {strength:g}, posterior labels"] = {
            **sizes, "size_tolerance": 1.0, "size_prior_strength": strength, "assignment": "posterior",
        }
    table["Sinkhorn-EM, share searched within x3 (default with sizes), plan labels"] = {**sizes}
    return table


def bbbc010_wells():
    """(name, bright field, truth, scale, sigmas) of each shared well: no voxel size, pixel sigmas."""
    for well_name in WELLS:
        bright_field = tifffile.imread(DATA / f"{well_name}_image.tif")[1]
        truth = tifffile.imread(DATA / f"{well_name}_instances.tif") > 0
        yield well_name, bright_field, truth, None, (1.0, 2.0, 4.0)


def synthetic_wells():
    """The same for the bundled worms sample, in micrometres."""
    for seed in SAMPLE_SEEDS:
        sample = data.worms_2d(seed=seed)
        yield f"sample seed {seed}", sample.image, sample.foreground, sample.scale, tuple(6.25 * s for s in (1, 2, 4))


def sklearn_worms(stack, n_components: int, rows: np.ndarray, seed: int = 0) -> np.ndarray:
    model = SklearnGaussianMixture(n_components, covariance_type="full", max_iter=100, random_state=seed)
    model.fit(stack.data[rows])
    return model.predict(stack.data) == int(np.argmin(model.means_[:, 0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", action="store_true", help="the synthetic worms sample instead of BBBC010")
    wells = synthetic_wells() if parser.parse_args().samples else bbbc010_wells()
    warnings.simplefilter("ignore")
    print(machine(), flush=True)
    started = time.perf_counter()
    scores: dict[str, list[float]] = {}
    shares: dict[str, list[float]] = {}

    def record(name: str, value: float, share: float | None = None) -> None:
        scores.setdefault(name, []).append(value)
        if share is not None:
            shares.setdefault(name, []).append(share)

    names = []
    for well_name, bright_field, truth, scale, sigmas in wells:
        names.append(well_name)
        well = largest_bright_region(bright_field, margin=WELL_MARGIN)
        inside = truth & well
        settings = {"features": "brightfield", "sigmas": sigmas, "sample_size": SAMPLE_SIZE, "random_state": 0}
        for guess in GUESSES:
            for name, options in recipes(guess).items():
                segmenter = Segmenter(2, **settings, **options)
                labels = segmenter.fit_predict(bright_field, mask=well, scale=scale)
                worms = labels == 1
                record(f"{name} | {guess:.2f}", iou(worms, truth), float(worms[well].mean()))
        for name, options in {
            "EM, learned sizes": {"method": "em"},
            "default method without sizes (Sinkhorn start -> EM)": {},
        }.items():
            labels = Segmenter(2, **settings, **options).fit_predict(bright_field, mask=well, scale=scale)
            record(f"{name} | -", iou(labels == 1, truth), float((labels == 1)[well].mean()))
        stack = extract_features(bright_field, features="brightfield", sigmas=sigmas, scale=scale, mask=well)
        rows = np.random.default_rng(0).choice(stack.n_points, min(SAMPLE_SIZE, stack.n_points), replace=False)
        for n_components in (2, 3):
            found = stack.to_image(sklearn_worms(stack, n_components, rows), fill=False)
            record(f"scikit-learn GaussianMixture, K = {n_components} | -", iou(found, truth), float(found[well].mean()))
        print(f"{well_name}: true worm share {inside.sum() / well.sum():.3f} of the well, "
              f"{(time.perf_counter() - started) / 60:.1f} min so far", flush=True)

    rows = []
    for key, values in scores.items():
        name, guess = key.split(" | ")
        share = shares.get(key)
        rows.append([name, guess, f"{np.mean(values):.3f}", " / ".join(f"{v:.2f}" for v in values),
                     "" if share is None else f"{np.mean(share):.3f}"])
    print()
    print(markdown_table(
        ["recipe", "guessed worm share", "mean worm IoU", f"per well ({', '.join(names)})", "mean share labelled"],
        rows,
    ))
    print(f"\n{(time.perf_counter() - started) / 60:.1f} min in all")


if __name__ == "__main__":
    main()
