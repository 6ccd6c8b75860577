"""Two segmentations of one stack compared neuron by neuron: matched, split, merged, moved, missing, extra."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..features import SPATIAL_AXIS_NAMES
from ._checks import check_labels, check_number, check_scale_um
from ._voxels import Voxels, group_voxels


#: Share of a neuron another segmentation's neuron must take to count as a part of a split or merge.
PART_FRACTION = 0.25

#: Codes of :meth:`NeuronMatch.disagreement_image` (0 is background).
CATEGORY_CODES = {"matched": 1, "split": 2, "merged": 3, "moved": 4, "unmatched": 5}


def match_centres(
    centres_a: Any, centres_b: Any, *, max_distance_um: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair two sets of centres one to one, as many as possible within a distance.

    The Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
    first makes as many pairs closer than ``max_distance_um`` as it can, and
    among those pairings the one of smallest total distance.

    Parameters
    ----------
    centres_a, centres_b : array_like
        Positions in µm, shapes (n_a, d) and (n_b, d) (e.g. the ``z_um``,
        ``y_um``, ``x_um`` columns of two neuron tables, or annotated
        neuron positions).
    max_distance_um : float
        Largest distance of a pair, in µm (inclusive).

    Returns
    -------
    index_a, index_b : numpy.ndarray
        Row numbers of the paired centres in ``centres_a`` and ``centres_b``.
    distance_um : numpy.ndarray
        The distance of each pair.

    Raises
    ------
    ValueError
        If the centres are not 2-D arrays of the same width, or the distance
        is negative.
    """
    a = np.asarray(centres_a, dtype=np.float64)
    b = np.asarray(centres_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"The centres must be two tables of positions with the same number of axes, shaped (n, d); "
            f"got shapes {a.shape} and {b.shape}."
        )
    limit = check_number(max_distance_um, "max_distance_um", low=0.0)
    empty = np.zeros(0, dtype=np.intp)
    if not (len(a) and len(b)):
        return empty, empty, np.zeros(0)
    distance = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))
    within = distance <= limit
    # A pair beyond the limit costs more than all pairs within it together.
    too_far = (limit + 1.0) * (min(len(a), len(b)) + 1)
    rows, columns = linear_sum_assignment(np.where(within, distance, too_far))
    keep = within[rows, columns]
    return rows[keep], columns[keep], distance[rows[keep], columns[keep]]


@dataclass(frozen=True, eq=False)
class NeuronMatch:
    """Two segmentations of one stack compared neuron by neuron (:func:`match_neurons`).

    Every neuron of A falls in one category, tried in this order: *split*
    (two or more neurons of B each hold at least ``part_fraction`` of its
    voxels), *merged* (it holds at least ``part_fraction`` of a neuron of B
    that two or more neurons of A share that way), *matched* (paired with a
    neuron of B by the Hungarian algorithm on IoU, at IoU ≥ ``min_iou``),
    *moved* (paired by centre distance, within ``centre_distance_um``, with
    a neuron of B left over) or *missing*. Neurons of B likewise: *merged*
    (the neuron that holds two of A), *split* (a part of a split neuron of
    A), *matched*, *moved* or *extra*.

    Scores and views: ``n_matched`` and ``counts`` (properties),
    ``labels_by_category(side)``, ``disagreement_image(side)`` (a label
    image of the categories for napari), ``fraction_centres_found(within_um)``
    and ``summary()``.

    Attributes
    ----------
    labels_a, labels_b : numpy.ndarray
        The two label images.
    neurons_a, neurons_b : numpy.ndarray
        The labels present in each, sorted.
    centres_a_um, centres_b_um : numpy.ndarray
        Their centres in µm (mean voxel index times ``scale``), one row per
        entry of ``neurons_a`` / ``neurons_b``.
    category_a, category_b : numpy.ndarray
        Each neuron's category as a :data:`CATEGORY_CODES` code (5 =
        missing for A, extra for B).
    matched_pairs : numpy.ndarray
        (n_matched, 2) labels (a, b) of the matched pairs.
    matched_iou : numpy.ndarray
        Their IoU.
    split : dict of int to tuple of int
        Each split neuron of A and the neurons of B it is split into.
    merged : dict of int to tuple of int
        Each merging neuron of B and the neurons of A it holds.
    moved_pairs : numpy.ndarray
        (n_moved, 2) labels (a, b) of the pairs matched by centre distance.
    moved_distance_um : numpy.ndarray
        Their centre distance.
    min_iou, centre_distance_um, part_fraction : float
        The settings used.
    """

    labels_a: np.ndarray = field(repr=False)
    labels_b: np.ndarray = field(repr=False)
    neurons_a: np.ndarray
    neurons_b: np.ndarray
    centres_a_um: np.ndarray = field(repr=False)
    centres_b_um: np.ndarray = field(repr=False)
    category_a: np.ndarray = field(repr=False)
    category_b: np.ndarray = field(repr=False)
    matched_pairs: np.ndarray
    matched_iou: np.ndarray
    split: dict[int, tuple[int, ...]]
    merged: dict[int, tuple[int, ...]]
    moved_pairs: np.ndarray
    moved_distance_um: np.ndarray
    min_iou: float
    centre_distance_um: float
    part_fraction: float

    @property
    def n_matched(self) -> int:
        """Neurons of A matched one to one (IoU ≥ ``min_iou``): a score, higher is better."""
        return int(len(self.matched_pairs))

    @property
    def counts(self) -> dict[str, int]:
        """Neurons of A per category (``matched``, ``split``, ``merged``, ``moved``, ``missing``) and of B ``extra``.

        The A counts add up to ``len(neurons_a)``.
        """
        codes = CATEGORY_CODES
        counts = {name: int(np.count_nonzero(self.category_a == codes[name])) for name in list(codes)[:4]}
        counts["missing"] = int(np.count_nonzero(self.category_a == codes["unmatched"]))
        counts["extra"] = int(np.count_nonzero(self.category_b == codes["unmatched"]))
        return counts

    def labels_by_category(self, side: str = "a") -> dict[str, np.ndarray]:
        """The labels of A (``side="a"``) or B (``"b"``) in each category.

        Returns
        -------
        dict of str to numpy.ndarray
            Keys ``matched``, ``split``, ``merged``, ``moved`` and
            ``missing`` (A) or ``extra`` (B).
        """
        neurons, categories = self._side(side)
        last = "missing" if side == "a" else "extra"
        return {
            (last if name == "unmatched" else name): neurons[categories == code]
            for name, code in CATEGORY_CODES.items()
        }

    def disagreement_image(self, side: str = "a") -> np.ndarray:
        """The voxels of A's (or B's) neurons coloured by category, for display.

        Returns
        -------
        numpy.ndarray of uint8
            The labels' shape: 0 background, 1 matched, 2 split, 3 merged,
            4 moved, 5 unmatched (missing in A, extra in B), as
            :data:`CATEGORY_CODES`.
        """
        neurons, categories = self._side(side)
        labels = self.labels_a if side == "a" else self.labels_b
        image = np.zeros(labels.shape, dtype=np.uint8)
        foreground = labels > 0
        image[foreground] = categories[np.searchsorted(neurons, labels[foreground])]
        return image

    def fraction_centres_found(self, within_um: float | None = None) -> float:
        """Share of A's neurons whose centre has a centre of B within ``within_um`` µm.

        Centres are paired one to one (:func:`match_centres`), whatever the
        categories; None uses ``centre_distance_um``. NaN when A has no neurons.
        """
        within = self.centre_distance_um if within_um is None else within_um
        if not len(self.neurons_a):
            return math.nan
        found, _, _ = match_centres(self.centres_a_um, self.centres_b_um, max_distance_um=within)
        return len(found) / len(self.neurons_a)

    def summary(self) -> str:
        """One sentence with the counts."""
        counts = self.counts
        return (
            f"Of {len(self.neurons_a)} neurons in A, {counts['matched']} matched, {counts['split']} split, "
            f"{counts['merged']} merged, {counts['moved']} moved and {counts['missing']} missing; "
            f"{counts['extra']} of B's {len(self.neurons_b)} neurons have no counterpart."
        )

    def category_table(self, names: tuple[str, str] = ("A", "B")) -> dict[str, np.ndarray]:
        """One row per neuron of A, then of B: its category and its counterparts.

        Parameters
        ----------
        names : tuple of str, default ("A", "B")
            What to call the two segmentations in the ``segmentation``
            column, e.g. ``("EM", "Sinkhorn-EM")``.

        Returns
        -------
        dict of str to numpy.ndarray
            Columns for :func:`write_neuron_table`: ``segmentation``;
            ``label``; ``category`` (``matched``, ``split``, ``merged``,
            ``moved``, and ``missing`` for A or ``extra`` for B);
            ``counterparts``: the other segmentation's labels it is matched,
            moved, split or merged with, separated by spaces; ``iou`` of a
            matched pair (NaN otherwise); ``distance_um`` between the
            centres of a moved pair (NaN otherwise); and the centre
            ``z_um``, ``y_um``, ``x_um`` (``y_um``, ``x_um`` in 2-D).
        """
        partners: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})
        iou: tuple[dict[int, float], dict[int, float]] = ({}, {})
        distance: tuple[dict[int, float], dict[int, float]] = ({}, {})
        for pairs, values, store in ((self.matched_pairs, self.matched_iou, iou),
                                     (self.moved_pairs, self.moved_distance_um, distance)):
            for (a, b), value in zip(pairs.tolist(), values.tolist()):
                partners[0].setdefault(a, []).append(b)
                partners[1].setdefault(b, []).append(a)
                store[0][a] = store[1][b] = value
        for whole, (own, other) in ((self.split, (0, 1)), (self.merged, (1, 0))):
            for label, pieces in whole.items():
                partners[own].setdefault(label, []).extend(pieces)
                for piece in pieces:
                    partners[other].setdefault(piece, []).append(label)
        names_by_code = {code: name for name, code in CATEGORY_CODES.items()}
        columns: dict[str, list] = {"segmentation": [], "label": [], "category": [], "counterparts": [],
                                    "iou": [], "distance_um": []}
        for side, (neurons, categories) in enumerate((self._side("a"), self._side("b"))):
            last = "missing" if side == 0 else "extra"
            for label, code in zip(neurons.tolist(), categories.tolist()):
                columns["segmentation"].append(names[side])
                columns["label"].append(label)
                columns["category"].append(last if names_by_code[code] == "unmatched" else names_by_code[code])
                columns["counterparts"].append(" ".join(map(str, sorted(set(partners[side].get(label, []))))))
                columns["iou"].append(iou[side].get(label, math.nan))
                columns["distance_um"].append(distance[side].get(label, math.nan))
        table = {name: np.asarray(values) for name, values in columns.items()}
        table["label"] = table["label"].astype(np.int64).reshape(-1)
        for name in ("iou", "distance_um"):
            table[name] = table[name].astype(np.float64).reshape(-1)
        centres = np.vstack([self.centres_a_um, self.centres_b_um])
        for position, axis in enumerate(SPATIAL_AXIS_NAMES[self.labels_a.ndim]):
            table[f"{axis}_um"] = centres[:, position]
        return table

    def _side(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        if side == "a":
            return self.neurons_a, self.category_a
        if side == "b":
            return self.neurons_b, self.category_b
        raise ValueError(f"side must be 'a' or 'b'; got {side!r}.")


def _overlap_table(voxels_a: Voxels, labels_b: np.ndarray, neurons_b: np.ndarray) -> np.ndarray:
    """Voxels shared by every neuron of A (rows) and of B (columns)."""
    b_values = labels_b[voxels_a.index]
    shared = b_values > 0
    rows = voxels_a.row[shared]
    columns = np.searchsorted(neurons_b, b_values[shared])
    n_a, n_b = voxels_a.neurons.size, neurons_b.size
    return np.bincount(rows * n_b + columns, minlength=n_a * n_b).reshape(n_a, n_b)


def _categorise(overlap, size_a, size_b, centres_a, centres_b, settings) -> dict[str, Any]:
    """Split and merge relations, then IoU pairs, then centre pairs, on the neurons still free."""
    min_iou, centre_distance, part_fraction = settings
    part_of_a = (overlap > 0) & (overlap >= part_fraction * size_a[:, None])
    part_of_b = (overlap > 0) & (overlap >= part_fraction * size_b[None, :])
    is_split = part_of_a.sum(axis=1) >= 2
    is_merge = part_of_b.sum(axis=0) >= 2
    category_a = np.full(size_a.size, CATEGORY_CODES["unmatched"], dtype=np.uint8)
    category_b = np.full(size_b.size, CATEGORY_CODES["unmatched"], dtype=np.uint8)
    category_a[(part_of_b & is_merge[None, :]).any(axis=1)] = CATEGORY_CODES["merged"]
    category_a[is_split] = CATEGORY_CODES["split"]
    category_b[(part_of_a & is_split[:, None]).any(axis=0)] = CATEGORY_CODES["split"]
    category_b[is_merge] = CATEGORY_CODES["merged"]
    free_a = np.flatnonzero(category_a == CATEGORY_CODES["unmatched"])
    free_b = np.flatnonzero(category_b == CATEGORY_CODES["unmatched"])
    iou = overlap[np.ix_(free_a, free_b)] / (
        size_a[free_a, None] + size_b[None, free_b] - overlap[np.ix_(free_a, free_b)]
    )
    rows, columns = linear_sum_assignment(iou, maximize=True)
    good = iou[rows, columns] >= min_iou
    matched = (free_a[rows[good]], free_b[columns[good]], iou[rows[good], columns[good]])
    category_a[matched[0]] = category_b[matched[1]] = CATEGORY_CODES["matched"]
    free_a = np.flatnonzero(category_a == CATEGORY_CODES["unmatched"])
    free_b = np.flatnonzero(category_b == CATEGORY_CODES["unmatched"])
    rows, columns, distance = match_centres(centres_a[free_a], centres_b[free_b], max_distance_um=centre_distance)
    moved = (free_a[rows], free_b[columns], distance)
    category_a[moved[0]] = category_b[moved[1]] = CATEGORY_CODES["moved"]
    return {
        "category_a": category_a,
        "category_b": category_b,
        "matched": matched,
        "moved": moved,
        "split": {row: np.flatnonzero(part_of_a[row]) for row in np.flatnonzero(is_split)},
        "merged": {column: np.flatnonzero(part_of_b[:, column]) for column in np.flatnonzero(is_merge)},
    }


def _neuron_match(labels_a, labels_b, voxels_a: Voxels, voxels_b: Voxels, found: dict, settings) -> NeuronMatch:
    """The :class:`NeuronMatch` of :func:`_categorise`'s rows and columns, in label numbers."""
    neurons_a, neurons_b = voxels_a.neurons, voxels_b.neurons

    def pairs(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return np.stack([neurons_a[rows], neurons_b[columns]], axis=1).reshape(-1, 2)

    def named(parts: dict, own: np.ndarray, other: np.ndarray) -> dict[int, tuple[int, ...]]:
        return {int(own[key]): tuple(int(label) for label in other[value]) for key, value in parts.items()}

    return NeuronMatch(
        labels_a=labels_a,
        labels_b=labels_b,
        neurons_a=neurons_a,
        neurons_b=neurons_b,
        centres_a_um=voxels_a.centres_um,
        centres_b_um=voxels_b.centres_um,
        category_a=found["category_a"],
        category_b=found["category_b"],
        matched_pairs=pairs(*found["matched"][:2]),
        matched_iou=np.asarray(found["matched"][2], dtype=np.float64),
        split=named(found["split"], neurons_a, neurons_b),
        merged=named(found["merged"], neurons_b, neurons_a),
        moved_pairs=pairs(*found["moved"][:2]),
        moved_distance_um=np.asarray(found["moved"][2], dtype=np.float64),
        min_iou=settings[0],
        centre_distance_um=settings[1],
        part_fraction=settings[2],
    )


def match_neurons(
    labels_a: Any,
    labels_b: Any,
    *,
    scale: Sequence[float],
    min_iou: float = 0.5,
    centre_distance_um: float = 3.0,
    part_fraction: float = PART_FRACTION,
) -> NeuronMatch:
    """Compare two instance segmentations of one stack, neuron by neuron.

    With ``overlap(a, b)`` the voxels neurons a (of A) and b (of B) share,
    each neuron of A gets the first category that applies:

    1. **split**: at least two neurons b each hold ``overlap(a, b) ≥
       part_fraction × |a|``;
    2. **merged**: a holds ``overlap(a, b) ≥ part_fraction × |b|`` of a
       neuron b of which at least two neurons of A hold that much;
    3. **matched**: the Hungarian algorithm on IoU = overlap / union, among
       the neurons of A and B not split or merged, pairs a with b at IoU ≥
       ``min_iou``;
    4. **moved**: among the neurons still unpaired, the Hungarian algorithm
       on centre distance (:func:`match_centres`) pairs a with b within
       ``centre_distance_um`` (whatever their overlap: same neuron, shifted
       or reshaped);
    5. **missing** (unmatched) otherwise.

    Neurons of B get the mirror categories (merged: holds two of A; split:
    a part of a split neuron of A; matched; moved; extra), so swapping A and
    B swaps split and merged.

    Parameters
    ----------
    labels_a, labels_b : array_like of int
        Two label images of the same shape (0 = background), e.g. EM's and
        Sinkhorn-EM's, or a prediction (A) and a ground truth (B).
    scale : sequence of float
        Voxel size in µm along each axis (z, y, x).
    min_iou : float, default 0.5
        Smallest IoU of a match, above 0 and at most 1.
    centre_distance_um : float, default 3.0
        Largest centre distance of a moved pair, in µm.
    part_fraction : float, default PART_FRACTION
        Share of a neuron that counts as a part of a split or merge, above
        0 and at most 0.5.

    Returns
    -------
    NeuronMatch
        Categories, pairs, counts, a category image and centre scores.

    Raises
    ------
    ValueError
        If the label images are not integer 2-D or 3-D images of one shape,
        ``scale`` does not give one positive size per axis, or a setting is
        out of range.
    """
    labels_a, labels_b = check_labels(labels_a, "labels_a"), check_labels(labels_b, "labels_b")
    if labels_a.shape != labels_b.shape:
        raise ValueError(
            f"The two label images must cover the same voxels; got shapes {labels_a.shape} and {labels_b.shape}."
        )
    scale = check_scale_um(scale, labels_a.ndim)
    settings = (
        check_number(min_iou, "min_iou", low=0.0, high=1.0, low_open=True),
        check_number(centre_distance_um, "centre_distance_um", low=0.0),
        check_number(part_fraction, "part_fraction", low=0.0, high=0.5, low_open=True),
    )
    voxels_a, voxels_b = group_voxels(labels_a, scale), group_voxels(labels_b, scale)
    overlap = _overlap_table(voxels_a, labels_b, voxels_b.neurons)
    found = _categorise(overlap, voxels_a.counts, voxels_b.counts, voxels_a.centres_um, voxels_b.centres_um, settings)
    return _neuron_match(labels_a, labels_b, voxels_a, voxels_b, found, settings)
