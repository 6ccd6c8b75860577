"""Segment microscopy images with Gaussian mixtures fitted by EM and by Sinkhorn-EM."""

from . import data, neurons
from ._version import __version__
from .features import FeatureScaling, FeatureStack, correct_illumination, extract_features, masks
from .image_files import read_image, write_tiff
from .mixture import (
    ConvergenceWarning,
    FitStep,
    GaussianMixture,
    SinkhornConvergenceWarning,
    em_responsibilities,
    sinkhorn_responsibilities,
)
from .segmentation import (
    LabelComparison,
    MethodComparison,
    Progress,
    Segmenter,
    class_sizes_from_labels,
    compare_labels,
    compare_methods,
    segment,
    label_certainty,
    split_instances,
)

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
