"""Segment microscopy images with Gaussian mixtures fitted by EM and by Sinkhorn-EM."""

from .estep import SinkhornConvergenceWarning, em_responsibilities, sinkhorn_responsibilities
from .mixture import ConvergenceWarning, GaussianMixture

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "GaussianMixture",
    "SinkhornConvergenceWarning",
    "em_responsibilities",
    "sinkhorn_responsibilities",
]
