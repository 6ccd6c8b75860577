"""The ways of fitting and labelling a segmentation, and the defaults chosen among them."""

from __future__ import annotations

from typing import Any

from ..mixture import MIXTURE_METHOD_NAMES

__all__ = [
    "ASSIGNMENTS",
    "DEFAULT_SIZE_TOLERANCE",
    "METHODS",
    "METHOD_NAMES",
    "default_assignment",
    "default_method",
    "gives_class_sizes",
]

#: The ways of fitting offered for images, each as GaussianMixture settings. "sinkhorn_start" (the
#: default, chosen by the measurements in docs/evidence.md) moves the means by Sinkhorn-EM with
#: covariances and equal class sizes held, then fits everything by EM with class sizes learned:
#: it recovered the most nuclei on the NeuroPAL-like sample and every mean of the toy mixture.
#: "sinkhorn" is the papers' Sinkhorn-EM, whose class sizes stay fixed (equal unless given).
#: The class sizes (``weights``) may be overridden; ``method`` and ``warmup`` may not.
METHODS = {
    "sinkhorn_start": {"method": "em", "warmup": "sinkhorn_means", "weights": "em"},
    "em": {"method": "em", "warmup": None, "weights": "em"},
    "sinkhorn": {"method": "sinkhorn", "warmup": None, "weights": "uniform"},
}
#: How each method is named in messages, progress reports and layer names.
METHOD_NAMES = {"sinkhorn_start": "Sinkhorn start → EM", **MIXTURE_METHOD_NAMES}
#: How every voxel gets its label: the class of highest posterior probability (class sizes follow
#: the image), or the class the transport plan gives it (class sizes held at the fitted ones).
ASSIGNMENTS = ("posterior", "plan")
#: How far given class sizes may be off by default, as a factor: the smallest class's share is
#: searched from a third to three times the guess (see :mod:`napari_sinkhorn_em.segmentation`).
DEFAULT_SIZE_TOLERANCE = 3.0


def gives_class_sizes(weights: Any) -> bool:
    """Whether a ``weights`` setting gives class sizes as fractions (not "em", "uniform" or None).

    Parameters
    ----------
    weights : str, sequence of float or None
        The ``weights=`` mixture option.

    Returns
    -------
    bool
    """
    return weights is not None and not isinstance(weights, str)


def default_method(weights: Any = None) -> str:
    """The method used when none is chosen: Sinkhorn-EM when class sizes are given, else the Sinkhorn start.

    With given sizes, Sinkhorn-EM holds them (EM would drift away from them: on
    the BBBC010 wells the worm class grows from 10 % to 25-30 % of the well,
    docs/evidence.md); without, the Sinkhorn start recovered the most objects.

    Parameters
    ----------
    weights : str, sequence of float or None, default None
        The ``weights=`` mixture option.

    Returns
    -------
    str
        A key of :data:`METHODS`.
    """
    return "sinkhorn" if gives_class_sizes(weights) else "sinkhorn_start"


def default_assignment(method: str, weights: Any = None) -> str:
    """The labelling used when none is chosen: the transport plan for Sinkhorn-EM with given sizes.

    The plan gives each class its share of the pixels; the posterior would let
    the class sizes follow the image instead.

    Parameters
    ----------
    method : str
        The method (a key of :data:`METHODS`).
    weights : str, sequence of float or None, default None
        The ``weights=`` mixture option.

    Returns
    -------
    str
        One of :data:`ASSIGNMENTS`.
    """
    return "plan" if method == "sinkhorn" and gives_class_sizes(weights) else "posterior"
