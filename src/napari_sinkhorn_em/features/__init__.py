"""Per-pixel feature stacks (filters, illumination correction, scaling) and automatic foreground masks.

The modules, by topic:

* :mod:`.gaussian`: sampled Gaussian kernels and separable filter passes in physical units.
* :mod:`.filters`: the feature filters by name (:data:`FEATURE_NAMES`) and what each one computes.
* :mod:`.recipes`: feature specifications (:data:`PRESETS`, :func:`expand_features`), column names,
  the filters' reach (:func:`check_filter_reach`, :func:`halo_width`) and the coordinate columns.
* :mod:`.scaling`: the robust standardisation of a table (:class:`FeatureScaling`).
* :mod:`.illumination`: :func:`correct_illumination`.
* :mod:`.inputs`: the checks of an image and its mask.
* :mod:`.extract`: :func:`extract_features` and its :class:`FeatureStack`.
* :mod:`.masks`: automatic region masks.
"""

from . import masks
from .extract import FeatureStack, extract_features
from .filters import FEATURE_NAMES
from .gaussian import GAUSSIAN_TRUNCATE
from .illumination import correct_illumination
from .masks import (
    AUTOMATIC_MASKS,
    WELL_MARGIN,
    automatic_mask,
    channel_values,
    largest_bright_region,
    otsu_foreground,
)
from .recipes import (
    BRIGHTFIELD_BACKGROUND_RATIO,
    BRIGHTFIELD_FEATURES,
    MULTISCALE_FEATURES,
    PRESETS,
    SPATIAL_AXIS_NAMES,
    background_sigma_for,
    check_filter_reach,
    coordinate_columns,
    expand_features,
    halo_width,
)
from .scaling import MAX_STATISTICS_ROWS, FeatureScaling, fit_robust_scaling

__all__ = [
    "AUTOMATIC_MASKS",
    "BRIGHTFIELD_BACKGROUND_RATIO",
    "BRIGHTFIELD_FEATURES",
    "FEATURE_NAMES",
    "FeatureScaling",
    "FeatureStack",
    "GAUSSIAN_TRUNCATE",
    "MAX_STATISTICS_ROWS",
    "MULTISCALE_FEATURES",
    "PRESETS",
    "SPATIAL_AXIS_NAMES",
    "WELL_MARGIN",
    "automatic_mask",
    "background_sigma_for",
    "channel_values",
    "check_filter_reach",
    "coordinate_columns",
    "correct_illumination",
    "expand_features",
    "extract_features",
    "fit_robust_scaling",
    "halo_width",
    "largest_bright_region",
    "masks",
    "otsu_foreground",
]
