"""Segment images with a fitted mixture: the Segmenter, model files, labels, class sizes and comparisons."""

from ..contracts import Progress, ProgressCallback
from .certainty import CERTAINTY_CAP, label_certainty
from .compare import LabelComparison, MethodComparison, compare_labels, compare_methods
from .labels import DEFAULT_MIN_SIZE, class_sizes_from_labels, split_instances
from .methods import (
    ASSIGNMENTS,
    DEFAULT_SIZE_TOLERANCE,
    METHODS,
    METHOD_NAMES,
    default_assignment,
    default_method,
    gives_class_sizes,
)
from .model import SegmentationModel
from .model_file import FORMAT_VERSION
from .segment import segment, segment_dask
from .segmenter import SEGMENTER_DEFAULTS, Segmenter
from .settings import SegmenterSettings
from .size_search import (
    SIZE_BINDING_FRACTION,
    SIZE_MIN_RISE_FRACTION,
    SIZE_SLOPE_SPAN,
    SIZE_STEPS_PER_DOUBLING,
    SizeSearch,
    SizeSearchStep,
    knee_index,
    size_search_steps,
    user_order,
)
from .sources import DEFAULT_MEMORY_LIMIT, FeatureSource

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_MIN_SIZE",
    "DEFAULT_SIZE_TOLERANCE",
    "FeatureSource",
    "ProgressCallback",
    "default_assignment",
    "default_method",
    "gives_class_sizes",
    "ASSIGNMENTS",
    "CERTAINTY_CAP",
    "FORMAT_VERSION",
    "LabelComparison",
    "METHODS",
    "METHOD_NAMES",
    "MethodComparison",
    "Progress",
    "SEGMENTER_DEFAULTS",
    "SIZE_BINDING_FRACTION",
    "SIZE_MIN_RISE_FRACTION",
    "SIZE_SLOPE_SPAN",
    "SIZE_STEPS_PER_DOUBLING",
    "SegmentationModel",
    "Segmenter",
    "SegmenterSettings",
    "SizeSearch",
    "SizeSearchStep",
    "class_sizes_from_labels",
    "compare_labels",
    "compare_methods",
    "knee_index",
    "label_certainty",
    "segment",
    "segment_dask",
    "size_search_steps",
    "split_instances",
    "user_order",
]
