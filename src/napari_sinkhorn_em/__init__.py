"""Segment microscopy images with Gaussian mixtures fitted by EM and by Sinkhorn-EM."""

from . import data
from .estep import SinkhornConvergenceWarning, em_responsibilities, sinkhorn_responsibilities
from .features import FeatureScaling, FeatureStack, extract_features
from .mixture import ConvergenceWarning, FitStep, GaussianMixture

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "FeatureScaling",
    "FeatureStack",
    "FitStep",
    "GaussianMixture",
    "SinkhornConvergenceWarning",
    "data",
    "em_responsibilities",
    "extract_features",
    "sinkhorn_responsibilities",
]
