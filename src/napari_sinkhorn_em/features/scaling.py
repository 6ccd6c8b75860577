"""Standardisation of a feature table: a robust per-column affine transform, fitted once and stored.

:func:`fit_robust_scaling` fits the median / interquartile-range transform; :class:`FeatureScaling`
holds it, applies it, and round-trips through JSON so that a saved model transforms new images
exactly like its training image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MAX_STATISTICS_ROWS", "FeatureScaling", "fit_robust_scaling"]

#: At most this many rows (a seeded random subsample) are used to fit the standardisation.
MAX_STATISTICS_ROWS = 1_000_000

_STATISTICS_SEED = 0
# An interquartile range below this fraction of the largest magnitude of its feature (all
# columns of one feature of one channel at one sigma, e.g. the three eigenvalues) is round-off,
# not spread: e.g. the structure-tensor eigenvalue across a single-slice 3-D stack, exactly 0 in
# exact arithmetic, computes to ~1e-16 of the others. Dividing by it would blow round-off up to
# the size of the real features, so such a column is not rescaled. Real spreads stay far above
# it: the squared contrast of a 16-bit image is at most ~1e-10.
_MIN_RELATIVE_SPREAD = 1e-12
_STATISTICS_COLUMN_BLOCK = 8
_SCALING_ROW_BLOCK = 1 << 16
# Model files written before the fields were named centre / spread (spread: not the voxel size).
_EARLIER_KEYS = {"center": "centre", "scale": "spread"}


@dataclass(frozen=True, eq=False)
class FeatureScaling:
    """A per-column affine standardisation ``(x - centre) / spread``.

    Fitted by :func:`extract_features` (``standardize=True``) and stored with
    a model so that new images are transformed exactly like the training
    image (pass it back as ``standardize=``).

    Attributes
    ----------
    names : tuple of str
        Column names the transform applies to, in order.
    centre : ndarray
        float64, one value per column (the median for robust columns, 0 for
        coordinate columns).
    spread : ndarray
        float64, positive and finite, one value per column (the
        interquartile range, or 1 where that is 0, round-off or not finite, and 1 for
        coordinate columns).
    """

    names: tuple[str, ...]
    centre: np.ndarray
    spread: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.names)
        centre = np.array(self.centre, dtype=np.float64).reshape(-1)
        spread = np.array(self.spread, dtype=np.float64).reshape(-1)
        if not len(names) == centre.size == spread.size:
            raise ValueError(
                f"A feature scaling needs one centre and one spread per feature name; got "
                f"{len(names)} names, {centre.size} centres and {spread.size} spreads."
            )
        if not np.all(np.isfinite(centre)):
            raise ValueError("Every centre of a feature scaling must be a finite number.")
        if not np.all(np.isfinite(spread) & (spread > 0)):
            raise ValueError("Every spread of a feature scaling must be a positive finite number.")
        centre.flags.writeable = False
        spread.flags.writeable = False
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "centre", centre)
        object.__setattr__(self, "spread", spread)

    def apply(self, data: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """Standardise a feature table.

        Parameters
        ----------
        data : ndarray
            ``(n_points, n_features)`` table whose columns are :attr:`names`.
        copy : bool, default True
            If False and ``data`` is a writeable float32 array, transform it
            in place (saves memory on large tables).

        Returns
        -------
        ndarray
            float32 ``(data - centre) / spread``, computed in blocks of rows.
        """
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != len(self.names):
            raise ValueError(
                f"This scaling was fitted on {len(self.names)} features, but the table has shape "
                f"{data.shape}; compute the features with the same recipe as the fitted model."
            )
        if copy or data.dtype != np.float32 or not data.flags.writeable:
            data = np.array(data, dtype=np.float32)
        centre = self.centre.astype(np.float32)
        spread = self.spread.astype(np.float32)
        for start in range(0, data.shape[0], _SCALING_ROW_BLOCK):
            block = data[start : start + _SCALING_ROW_BLOCK]
            block -= centre
            block /= spread
        return data

    def to_dict(self) -> dict[str, list]:
        """JSON-safe form of the scaling, as stored in model files.

        Returns
        -------
        dict
            ``{"names": [...], "centre": [...], "spread": [...]}``, plain lists.
        """
        return {
            "names": list(self.names),
            "centre": [float(value) for value in self.centre],
            "spread": [float(value) for value in self.spread],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureScaling:
        """Rebuild a scaling from :meth:`to_dict` output (or the ``center`` / ``scale`` keys of earlier files).

        Parameters
        ----------
        state : dict
            The stored form.

        Returns
        -------
        FeatureScaling

        Raises
        ------
        ValueError
            If an entry is missing, or the values are inconsistent.
        """
        state = {_EARLIER_KEYS.get(key, key): value for key, value in state.items()}
        missing = {"names", "centre", "spread"} - set(state)
        if missing:
            raise ValueError(f"A stored feature scaling is missing the entries {sorted(missing)}.")
        return cls(names=tuple(state["names"]), centre=state["centre"], spread=state["spread"])


def _column_statistics(data: np.ndarray, robust: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, interquartile range and largest magnitude of the flagged columns (0, 1, 0 elsewhere)."""
    n_points, n_features = data.shape
    rows = None
    if n_points > MAX_STATISTICS_ROWS:
        generator = np.random.default_rng(_STATISTICS_SEED)
        rows = np.sort(generator.choice(n_points, size=MAX_STATISTICS_ROWS, replace=False))
    center = np.zeros(n_features)
    spread = np.ones(n_features)
    magnitude = np.zeros(n_features)
    for start in range(0, n_features, _STATISTICS_COLUMN_BLOCK):
        stop = min(start + _STATISTICS_COLUMN_BLOCK, n_features)
        columns = [j for j in range(start, stop) if robust[j]]
        if not columns:
            continue
        block = data[:, start:stop] if rows is None else data[rows, start:stop]
        sample = block[:, [j - start for j in columns]]
        lower, median, upper = np.quantile(sample, [0.25, 0.5, 0.75], axis=0).astype(np.float64)
        center[columns] = median
        spread[columns] = upper - lower
        magnitude[columns] = np.abs(sample).max(axis=0)
    return center, spread, magnitude


def _feature_magnitudes(names: tuple[str, ...], magnitude: np.ndarray) -> np.ndarray:
    """Per column, the largest magnitude over the columns of its feature (names equal but for ``[k]``)."""
    feature_of = [re.sub(r"\[\d+\]", "", name) for name in names]
    feature_magnitude: dict[str, float] = {}
    for feature, value in zip(feature_of, magnitude):
        feature_magnitude[feature] = max(feature_magnitude.get(feature, 0.0), value)
    return np.array([feature_magnitude[feature] for feature in feature_of])


def fit_robust_scaling(data: np.ndarray, names: tuple[str, ...], robust: np.ndarray) -> FeatureScaling:
    """Median / interquartile-range scaling of the columns flagged in ``robust``.

    Statistics come from all rows, or from a seeded random subsample of
    :data:`MAX_STATISTICS_ROWS` rows for larger tables. Unflagged columns get
    the identity transform (center 0, scale 1). A column whose interquartile
    range is 0, not finite, or mere round-off (below ``_MIN_RELATIVE_SPREAD``
    times the largest magnitude of its feature: the columns whose names
    differ only in the ``[k]`` index) is centred but not rescaled (scale 1).

    Parameters
    ----------
    data : ndarray
        ``(n_points, n_features)`` feature table.
    names : tuple of str
        One name per column.
    robust : ndarray of bool
        One flag per column: fit it (True) or leave it as it is (False, e.g. coordinates).

    Returns
    -------
    FeatureScaling
        The fitted transform.

    Raises
    ------
    ValueError
        For a column that varies only below the smallest normal 32-bit float.
    """
    center, spread, magnitude = _column_statistics(data, robust)
    reference = _feature_magnitudes(names, magnitude)
    tiny = np.finfo(np.float32).tiny
    subnormal = np.flatnonzero(robust & (spread > 0) & (spread <= tiny))
    if subnormal.size:
        column = int(subnormal[0])
        raise ValueError(
            f"The feature {names[column]} varies only by about {spread[column]:.2g}, below the smallest "
            f"ordinary 32-bit float ({tiny:.2g}), where numbers keep only a few digits: the image cannot be "
            f"segmented at this magnitude. Multiply the image by a large factor first (e.g. "
            f"image.astype('float64') * 1e30)."
        )
    usable = robust & np.isfinite(spread) & (spread > tiny) & (spread > _MIN_RELATIVE_SPREAD * reference)
    return FeatureScaling(names=names, centre=center, spread=np.where(usable, spread, 1.0))
