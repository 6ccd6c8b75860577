"""Label images: their numbering, their type, their objects, and class sizes read from a painting.

Label numbers are deterministic: after every fit the mixture's components are
sorted by :func:`order_components`, so label 1 is the darkest class in the
first channel (or, with class sizes given, the class given the first size),
and the same settings give bit-identical labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from .._validation import check_positive_int
from ..mixture import GaussianMixture
from .size_search import user_order

__all__ = ["DEFAULT_MIN_SIZE", "class_sizes_from_labels", "label_dtype", "order_components", "split_instances"]

#: Default smallest object (in pixels or voxels) kept by :func:`split_instances`.
DEFAULT_MIN_SIZE = 10


def label_dtype(largest: int) -> np.dtype:
    """The smallest unsigned integer type holding the labels 0..largest."""
    return np.min_scalar_type(int(largest))


def order_components(mixture: GaussianMixture, class_sizes: Any = None) -> None:
    """Sort the fitted components into label order, in place.

    This is the one place that fixes label numbers. With given class sizes,
    label k is the class given the k-th size. Otherwise label 1 is the component
    with the smallest mean first feature (the darkest class of channel 0), then
    by the other features.
    """
    order = np.lexsort(mixture.means_.T[::-1])
    if class_sizes is not None:
        # Classes given equal sizes keep the order of their means.
        mean_rank = np.argsort(order)
        order = user_order(mixture.weights_, np.asarray(class_sizes, dtype=np.float64), tie_break=mean_rank)
    mixture.reorder_components(order)


def class_sizes_from_labels(labels: Any, n_components: int) -> np.ndarray:
    """Class sizes of a rough painting, as fractions for the ``weights`` setting.

    Paint a few regions of each class with labels 1..K in proportion to how
    much of the image the class covers (0 = not painted); the fraction of the
    painted pixels that carries each label becomes that class's size. Only
    the sizes are used: the fitted classes are numbered as usual (by the mean
    of the first feature), and each size goes to the class that starts with
    a share of the pixels of the same rank.

    Parameters
    ----------
    labels : array_like of int
        The painting (e.g. a napari Labels layer's data).
    n_components : int
        Number of classes K; every label 1..K must be painted.

    Returns
    -------
    numpy.ndarray
        K fractions summing to 1; entry ``k - 1`` belongs to label k.
    """
    n_components = check_positive_int(n_components, "n_components")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise ValueError(f"The painted classes must be whole-number labels; got values of type {labels.dtype}.")
    painted = labels[labels != 0]
    if painted.size and (painted.min() < 0 or painted.max() > n_components):
        raise ValueError(
            f"The painting uses label {int(painted.max()) if painted.max() > n_components else int(painted.min())}, "
            f"but there are {n_components} classes; paint with labels 1 to {n_components} only."
        )
    counts = np.bincount(painted.astype(np.int64, copy=False), minlength=n_components + 1)[1:]
    missing = [str(label) for label in np.flatnonzero(counts == 0) + 1]
    if missing:
        raise ValueError(
            f"Class {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not painted; paint some "
            f"pixels of every class 1 to {n_components}, in proportion to the area each covers."
        )
    return counts / counts.sum()


def split_instances(
    labels: Any, *, classes: Any = None, min_size: int = DEFAULT_MIN_SIZE, connectivity: int = 1
) -> np.ndarray:
    """Split the object classes of a label image into their connected objects.

    Parameters
    ----------
    labels : array_like of int
        Class labels (0 = not segmented, 1..K classes), 2-D or 3-D.
    classes : int or sequence of int, optional
        The classes that hold objects (e.g. the worms' class). The others, such as
        the background, become 0. None splits every class.
    min_size : int, default 10
        Objects with fewer pixels (voxels) than this are removed (set to 0).
    connectivity : int, default 1
        Which neighbours touch: 1 = sharing a face (4-neighbours in 2-D,
        6 in 3-D), up to ``ndim`` = also diagonal neighbours (8 / 26).

    Returns
    -------
    numpy.ndarray
        One label per object, numbered from 1 class by class (all objects of
        class 1 first) in scan order; 0 outside the object classes and for removed
        objects. Smallest unsigned integer type that holds the count.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu" or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must hold non-negative whole numbers, got dtype {labels.dtype}.")
    min_size = check_positive_int(min_size, "min_size", minimum=0)
    present = np.unique(labels[labels > 0])
    if classes is not None:
        wanted = np.atleast_1d(np.asarray(classes))
        if wanted.ndim != 1 or wanted.dtype.kind not in "iu" or (wanted.size and wanted.min() < 1):
            raise ValueError(
                f"classes must be class numbers (whole numbers from 1), e.g. classes=[1]; got {classes!r}."
            )
        present = present[np.isin(present, wanted)]
    structure = ndimage.generate_binary_structure(labels.ndim, connectivity)
    objects = np.zeros(labels.shape, dtype=np.uint32)
    n_objects = 0
    for value in present:
        components, n_components = ndimage.label(labels == value, structure)
        sizes = np.bincount(components.ravel(), minlength=n_components + 1)
        keep = sizes >= min_size
        keep[0] = False
        new_numbers = np.zeros(n_components + 1, dtype=np.uint32)
        new_numbers[keep] = n_objects + 1 + np.arange(np.count_nonzero(keep), dtype=np.uint32)
        inside = components > 0
        objects[inside] = new_numbers[components[inside]]
        n_objects += int(np.count_nonzero(keep))
    return objects.astype(label_dtype(n_objects))
