"""One connected body per neuron: detached pieces go to the neuron they touch, specks are dropped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from skimage import measure

from ._checks import check_count, check_labels
from .counting import MIN_VOXELS_PER_NEURON


@dataclass(frozen=True, eq=False)
class CleanedInstances:
    """The result of :func:`clean_instances`.

    Attributes
    ----------
    labels : numpy.ndarray
        The cleaned label image (same shape and type as the input; surviving
        labels keep their numbers).
    pieces_reassigned : int
        Detached pieces given to the neighbouring neuron they touch most.
    voxels_reassigned : int
        Voxels in those pieces.
    pieces_dropped : int
        Detached pieces that touch no other neuron, set to background.
    voxels_dropped : int
        Voxels that were labelled and are background now (dropped pieces and
        neurons smaller than ``min_voxels``).
    small_labels_dropped : tuple of int
        Labels removed because fewer than ``min_voxels`` voxels remained.
    """

    labels: np.ndarray
    pieces_reassigned: int
    voxels_reassigned: int
    pieces_dropped: int
    voxels_dropped: int
    small_labels_dropped: tuple[int, ...]

    def summary(self) -> str:
        """One sentence saying what the clean-up changed."""
        if not (self.pieces_reassigned or self.pieces_dropped or self.small_labels_dropped):
            return "Every neuron was already one connected body; nothing changed."
        shown = ", ".join(str(label) for label in self.small_labels_dropped[:10])
        more = ", ..." if len(self.small_labels_dropped) > 10 else ""
        return (
            f"Gave {self.pieces_reassigned} detached piece(s) ({self.voxels_reassigned} voxels) to the neuron "
            f"they touch, dropped {self.pieces_dropped} piece(s) touching no other neuron and "
            f"{len(self.small_labels_dropped)} neuron(s) too small to keep"
            + (f" (labels {shown}{more})" if shown else "")
            + f"; {self.voxels_dropped} voxels became background."
        )


def _face_pairs(ndim: int):
    """Slice pairs (here, neighbour) over every face direction of an ``ndim``-D array."""
    for axis in range(ndim):
        low = [slice(None)] * ndim
        high = [slice(None)] * ndim
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        yield tuple(low), tuple(high)
        yield tuple(high), tuple(low)


def _most_touched_labels(piece_image: np.ndarray, body_image: np.ndarray, n_regions: int) -> np.ndarray:
    """For every region id, the body label sharing most faces with it (0 if none; ties: smaller label)."""
    pieces, neighbours = [], []
    for here, there in _face_pairs(piece_image.ndim):
        piece, neighbour = piece_image[here], body_image[there]
        touching = (piece > 0) & (neighbour > 0)
        pieces.append(piece[touching])
        neighbours.append(neighbour[touching].astype(np.int64))
    piece, neighbour = np.concatenate(pieces), np.concatenate(neighbours)
    best = np.zeros(n_regions + 1, dtype=np.int64)
    if piece.size == 0:
        return best
    order = np.lexsort((neighbour, piece))
    piece, neighbour = piece[order], neighbour[order]
    starts = np.flatnonzero(np.r_[True, (piece[1:] != piece[:-1]) | (neighbour[1:] != neighbour[:-1])])
    pair_piece, pair_neighbour = piece[starts], neighbour[starts]
    pair_faces = np.diff(np.r_[starts, piece.size])
    # Per piece: most shared faces first, then the smaller label.
    order = np.lexsort((pair_neighbour, -pair_faces, pair_piece))
    first = np.r_[True, pair_piece[order][1:] != pair_piece[order][:-1]]
    best[pair_piece[order][first]] = pair_neighbour[order][first]
    return best


def clean_instances(labels: Any, *, min_voxels: int = MIN_VOXELS_PER_NEURON) -> CleanedInstances:
    """Make every neuron one connected body, and drop specks.

    1. Each label's voxels are split into face-connected pieces (6
       neighbours in 3-D, 4 in 2-D); the largest piece is the neuron's main
       body (on a tie, the first in scan order).
    2. Every other piece is given to the label whose main body shares the
       most voxel faces with it (on a tie, the smaller label), so it joins
       that body and stays connected; a piece touching no other main body
       becomes background (0).
    3. Labels left with fewer than ``min_voxels`` voxels become background.

    Surviving labels are **not renumbered**: label k stays k, so it still
    belongs to mixture component k − 1 and to the same row of a neuron
    table. After the clean-up every label is one face-connected body.

    The work is one connected-component pass over the whole image
    (:func:`skimage.measure.label`, which separates touching labels) and a
    few array operations, whatever the number of labels.

    Parameters
    ----------
    labels : array_like of int
        2-D or 3-D label image (0 = background).
    min_voxels : int, default MIN_VOXELS_PER_NEURON
        Smallest neuron kept, in voxels; 0 or 1 keeps all.

    Returns
    -------
    CleanedInstances
        The cleaned labels and how many pieces and voxels moved or went.

    Raises
    ------
    ValueError
        If ``labels`` is not a 2-D or 3-D image of non-negative integers, or
        ``min_voxels`` is not a whole number of at least 0.
    """
    labels = check_labels(labels)
    min_voxels = check_count(min_voxels, "min_voxels", minimum=0)
    regions, n_regions = measure.label(labels, background=0, connectivity=1, return_num=True)
    flat_regions = regions.ravel()
    region_label = np.zeros(n_regions + 1, dtype=np.int64)
    region_label[flat_regions] = labels.ravel()
    region_size = np.bincount(flat_regions, minlength=n_regions + 1)
    ids = np.arange(n_regions + 1)
    # Main body of each label: the largest region, the first in scan order on a tie.
    order = np.lexsort((ids[1:], -region_size[1:], region_label[1:])) + 1
    first_of_label = np.r_[True, region_label[order][1:] != region_label[order][:-1]]
    is_body = np.zeros(n_regions + 1, dtype=bool)
    is_body[order[first_of_label]] = True
    is_piece = ~is_body
    is_piece[0] = False
    body_label = np.where(is_body, region_label, 0)
    touched = _most_touched_labels(np.where(is_piece, ids, 0)[regions], body_label[regions], n_regions)
    new_label = np.where(is_piece, touched, body_label)
    reassigned = is_piece & (touched > 0)
    # Neurons smaller than min_voxels after the reassignment.
    present, inverse = np.unique(new_label[1:], return_inverse=True)
    sizes = np.bincount(inverse, weights=region_size[1:], minlength=present.size)
    small = present[(present > 0) & (sizes < min_voxels)]
    new_label[np.isin(new_label, small)] = 0
    cleaned = new_label.astype(labels.dtype)[regions]
    return CleanedInstances(
        labels=cleaned,
        pieces_reassigned=int(np.count_nonzero(reassigned)),
        voxels_reassigned=int(region_size[reassigned].sum()),
        pieces_dropped=int(np.count_nonzero(is_piece & (touched == 0))),
        voxels_dropped=int(np.count_nonzero(labels) - np.count_nonzero(cleaned)),
        small_labels_dropped=tuple(int(label) for label in small),
    )
