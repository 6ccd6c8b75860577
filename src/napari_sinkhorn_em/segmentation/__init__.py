"""Segment images with a fitted mixture: the Segmenter, model files, labels, class sizes and comparisons."""

from .segmenter import (
    ASSIGNMENTS,
    FORMAT_VERSION,
    METHODS,
    METHOD_NAMES,
    LabelComparison,
    MethodComparison,
    Progress,
    Segmenter,
    compare_labels,
    class_sizes_from_labels,
    compare_methods,
    segment,
    split_instances,
)
from .class_sizes import (
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
from .certainty import (
    CERTAINTY_CAP,
    label_certainty,
)

__all__ = [
    "ASSIGNMENTS",
    "CERTAINTY_CAP",
    "FORMAT_VERSION",
    "LabelComparison",
    "METHODS",
    "METHOD_NAMES",
    "MethodComparison",
    "Progress",
    "SIZE_BINDING_FRACTION",
    "SIZE_MIN_RISE_FRACTION",
    "SIZE_SLOPE_SPAN",
    "SIZE_STEPS_PER_DOUBLING",
    "Segmenter",
    "SizeSearch",
    "SizeSearchStep",
    "class_sizes_from_labels",
    "compare_labels",
    "compare_methods",
    "knee_index",
    "label_certainty",
    "segment",
    "size_search_steps",
    "split_instances",
    "user_order",
]
