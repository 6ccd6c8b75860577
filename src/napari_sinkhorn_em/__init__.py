"""Segment microscopy images with Gaussian mixtures fitted by EM and by Sinkhorn-EM."""

from . import data, masks, neurons
from .estep import SinkhornConvergenceWarning, em_responsibilities, sinkhorn_responsibilities
from .certainty import label_certainty
from .features import FeatureScaling, FeatureStack, correct_illumination, extract_features
from .io import read_image, write_tiff
from .mixture import ConvergenceWarning, FitStep, GaussianMixture
from .pipeline import (
    LabelComparison,
    MethodComparison,
    Progress,
    Segmenter,
    class_sizes_from_labels,
    compare_labels,
    compare_methods,
    segment,
    split_instances,
)

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "FeatureScaling",
    "FeatureStack",
    "FitStep",
    "GaussianMixture",
    "LabelComparison",
    "MethodComparison",
    "Progress",
    "Segmenter",
    "SinkhornConvergenceWarning",
    "class_sizes_from_labels",
    "compare_labels",
    "compare_methods",
    "correct_illumination",
    "data",
    "em_responsibilities",
    "extract_features",
    "label_certainty",
    "masks",
    "neurons",
    "read_image",
    "segment",
    "sinkhorn_responsibilities",
    "split_instances",
    "write_tiff",
]
