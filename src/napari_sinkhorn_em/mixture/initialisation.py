"""Where a fit starts: k-means++ seeds, Lloyd's iterations or random points, and the state they give."""

import numpy as np

from .parameters import FitState, compact_covariances, fixed_weights, learns_weights
from .prediction import PREDICT_BLOCK_ROWS

INITS = ("kmeans++", "kmeans", "random")
# Lloyd iterations of init="kmeans" after its k-means++ seeds, at most.
KMEANS_INIT_ITER = 100
# Points used to choose k-means++ seeds: plenty to spread K seeds, cheap for any N.
KMEANSPP_MAX_POINTS = 100_000


def starting_means(X, n_components, init, rng):
    """Starting means by ``init`` (one of :data:`INITS`), shape (n_components, n_features)."""
    if init == "random":
        return random_distinct_points(X, n_components, rng)
    means = kmeans_plusplus(X, n_components, rng)
    if init == "kmeans":
        means = lloyd(X, means, rng)
    return means


def starting_state(X, centre, means, rng, *, covariance_type, weights, reg_covar, precisions_init, rank_sizes):
    """The :class:`FitState` of a start at ``means``, from assigning each point to its nearest mean.

    With ``rank_sizes`` (the means were drawn, so their numbering is arbitrary) fixed
    fractions go to the starting clusters by size rank; otherwise ``weights[k]``
    belongs to ``means[k]``.
    """
    n_components = means.shape[0]
    labels = nearest_mean(X, means)
    mass, first, second = moments_from_labels(X, centre, labels, n_components)
    state = FitState(
        centre=centre, means=means - centre, covariances=None, weights=None,
        potentials=None, covariance_type=covariance_type,
    )
    state.update_from_moments(mass, first, second, reg_covar, X, rng)
    state.means = means - centre
    if learns_weights(weights):
        state.weights = np.maximum(mass, 1.0) / np.maximum(mass, 1.0).sum()
    elif rank_sizes:
        # Each fixed fraction goes to the cluster of the same size rank: otherwise a 4 % class could
        # start on 90 % of the points.
        state.weights = np.empty(n_components)
        state.weights[np.argsort(mass, kind="stable")] = np.sort(fixed_weights(weights, n_components))
    else:
        state.weights = fixed_weights(weights, n_components)
    if precisions_init is not None:
        state.set_precisions(np.asarray(precisions_init, dtype=np.float64))
    return state


def pooled_covariances(X, centre, state, reg_covar):
    """Every component's covariance as the within-class one pooled over the nearest-mean assignment."""
    n_components = state.means.shape[0]
    labels = nearest_mean(X, state.means + centre)
    mass, first, second = moments_from_labels(X, centre, labels, n_components)
    occupied = mass > 0
    between = np.einsum("ki,kj->ij", first[occupied], first[occupied] / mass[occupied, None])
    pooled = (second.sum(axis=0) - between) / X.shape[0] + reg_covar * np.eye(X.shape[1])
    return compact_covariances(np.repeat(pooled[None], n_components, axis=0), state.covariance_type)


def n_distinct_rows(points):
    """Number of distinct rows of a float array (-0.0 and 0.0 count as one)."""
    return len(np.unique(np.asarray(points, dtype=np.float64) + 0.0, axis=0))


def _subsample(X, rng):
    """At most ``KMEANSPP_MAX_POINTS`` random rows of ``X``, in their order."""
    if X.shape[0] > KMEANSPP_MAX_POINTS:
        return X[np.sort(rng.choice(X.shape[0], KMEANSPP_MAX_POINTS, replace=False))]
    return X


def random_distinct_points(X, n_components, rng):
    """``n_components`` random points of ``X``, distinct in value wherever ``X`` has that many.

    Points at distinct indices may still be equal (integer images repeat values); equal
    starting means would give components that stay identical, so they are replaced by
    random distinct points, looked for among at most ``KMEANSPP_MAX_POINTS`` points.
    """
    means = X[rng.choice(X.shape[0], n_components, replace=False)].astype(np.float64)
    if n_distinct_rows(means) == n_components:
        return means
    sample = _subsample(X, rng)
    _, first = np.unique(sample.astype(np.float64) + 0.0, axis=0, return_index=True)
    distinct = sample[np.sort(first)].astype(np.float64)
    chosen = rng.choice(distinct.shape[0], min(n_components, distinct.shape[0]), replace=False)
    # Where X has fewer distinct points than components, the rest repeat chosen ones.
    extra = rng.choice(chosen, n_components - chosen.size, replace=True)
    return distinct[np.concatenate([chosen, extra])]


def nearest_mean(X, means):
    """Index of the nearest mean (Euclidean) for every row, in blocks."""
    labels = np.empty(X.shape[0], dtype=np.intp)
    squared_norms = (means**2).sum(axis=1)
    for start in range(0, X.shape[0], PREDICT_BLOCK_ROWS):
        block = X[start:start + PREDICT_BLOCK_ROWS].astype(np.float64)
        labels[start:start + block.shape[0]] = np.argmin(squared_norms - 2.0 * block @ means.T, axis=1)
    return labels


def moments_from_labels(X, centre, labels, n_components):
    """Count, sum and sum of outer products of the centred points of each label."""
    n_features = X.shape[1]
    mass = np.bincount(labels, minlength=n_components).astype(np.float64)
    first = np.zeros((n_components, n_features))
    second = np.zeros((n_components, n_features, n_features))
    for k in range(n_components):
        members = X[labels == k].astype(np.float64) - centre
        first[k] = members.sum(axis=0)
        second[k] = members.T @ members
    return mass, first, second


def lloyd(X, means, rng):
    """k-means from ``means``: Lloyd's iterations (at most ``KMEANS_INIT_ITER``, until no point
    changes cluster) on at most ``KMEANSPP_MAX_POINTS`` points; a cluster that empties keeps its mean."""
    X = _subsample(X, rng).astype(np.float64)
    n_components = means.shape[0]
    labels = None
    for _ in range(KMEANS_INIT_ITER):
        new_labels = nearest_mean(X, means)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=n_components)
        sums = np.zeros_like(means)
        np.add.at(sums, labels, X)
        occupied = counts > 0
        means = means.copy()
        means[occupied] = sums[occupied] / counts[occupied, None]
    return means


def kmeans_plusplus(X, n_components, rng):
    """k-means++ seeding (greedy, 2 + log K candidates per seed) on at most 100,000 points."""
    X = _subsample(X, rng).astype(np.float64)
    n_candidates = 2 + int(np.log(n_components))
    centres = np.empty((n_components, X.shape[1]))
    centres[0] = X[rng.integers(X.shape[0])]
    closest = ((X - centres[0]) ** 2).sum(axis=1)
    for c in range(1, n_components):
        total = closest.sum()
        if total <= 0:
            centres[c] = X[rng.integers(X.shape[0])]
            continue
        candidates = np.searchsorted(np.cumsum(closest), rng.random(n_candidates) * total)
        candidates = np.minimum(candidates, X.shape[0] - 1)
        distances = ((X[None, :, :] - X[candidates][:, None, :]) ** 2).sum(axis=2)
        distances = np.minimum(closest[None, :], distances)
        best = int(np.argmin(distances.sum(axis=1)))
        centres[c] = X[candidates[best]]
        closest = distances[best]
    return centres
