"""What a run produced, and how the result layers are named and described.

Plain data, without Qt: the results of a run (:class:`SegmentationResult`,
:class:`ModelResult`, :class:`NeuronResult`, :class:`Failure`), the names
of the result layers and their description in the layers' metadata (under
:data:`RESULT_METADATA_KEY`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..neurons import NeuronMatch, NeuronSegmentation
from ..segmentation import LabelComparison, Segmenter
from .inputs import ImageSource
from .settings import NeuronSettings, Settings

__all__ = [
    "RESULT_METADATA_KEY",
    "Failure",
    "ModelResult",
    "NeuronResult",
    "SegmentationResult",
    "epsilon_label",
    "is_result_layer",
    "result_metadata",
    "result_name",
    "short_method_name",
]

#: Key of ``layer.metadata`` under which the widget describes the layers it made (what, from which
#: image, with which settings); layers carrying it are results, never offered as images to segment.
RESULT_METADATA_KEY = "napari_sinkhorn_em"
#: Method names short enough for the layer list; the full names are in each layer's metadata.
_SHORT_METHOD_NAMES = {"sinkhorn_start": "S→EM", "em": "EM", "sinkhorn": "Sinkhorn"}


@dataclass(frozen=True)
class Failure:
    """Result of a run that stopped for a reason the user can act on."""

    message: str


@dataclass(frozen=True)
class SegmentationResult:
    """Everything a finished run produced."""

    source: ImageSource
    settings: Settings
    segmenters: dict[str, Segmenter]
    labels: dict[str, np.ndarray]
    comparison: LabelComparison | None
    certainty: np.ndarray | None

    def can_continue(self, source: ImageSource, settings: Settings) -> bool:
        """Whether a run on ``source`` with ``settings`` may reuse these fits (only ε changed)."""
        return source.key == self.source.key and settings.same_fit_apart_from_epsilon(self.settings)


@dataclass(frozen=True)
class ModelResult:
    """Labels of an image from a saved model."""

    source: ImageSource
    model_name: str
    labels: np.ndarray


@dataclass(frozen=True)
class NeuronResult:
    """What a run of the neurons recipe produced: one segmentation per method and their comparison."""

    source: ImageSource
    settings: NeuronSettings
    segmentations: dict[str, NeuronSegmentation]
    match: NeuronMatch | None

    @property
    def segmenters(self) -> dict[str, Segmenter]:
        """The fitted segmenters by method (what *Save model…* saves)."""
        return {method: found.segmenter for method, found in self.segmentations.items()}

    def can_continue(self, source: ImageSource, settings: Any) -> bool:
        """A neurons result is never continued: every run fits anew."""
        return False


def epsilon_label(epsilon: float) -> str:
    """ε as written in a layer name, e.g. ``0.5``.

    Parameters
    ----------
    epsilon : float

    Returns
    -------
    str
        ε to three significant digits.
    """
    return f"{epsilon:.3g}"


def short_method_name(method: str) -> str:
    """The method's name in the layer list, e.g. ``S→EM``.

    Parameters
    ----------
    method : {"sinkhorn_start", "em", "sinkhorn"}

    Returns
    -------
    str
    """
    return _SHORT_METHOD_NAMES[method]


def result_name(source_name: str, method: str, settings: Settings) -> str:
    """The name of a labels layer, e.g. ``worm Sinkhorn K=5 ε=0.5``; ε is left out where it does not change the labels.

    Parameters
    ----------
    source_name : str
        The name of the image segmented.
    method : {"sinkhorn_start", "em", "sinkhorn"}
        The method that gave the labels.
    settings : Settings
        The run's settings.

    Returns
    -------
    str
    """
    name = f"{source_name} {_SHORT_METHOD_NAMES[method]} K={settings.n_components}"
    return f"{name} ε={epsilon_label(settings.epsilon)}" if settings.uses_epsilon(method) else name


def result_metadata(source: ImageSource, result: str, **details: Any) -> dict[str, Any]:
    """The metadata of a result layer: what it shows, of which image, and ``details`` (e.g. the settings).

    Parameters
    ----------
    source : ImageSource
        The image segmented.
    result : str
        What the layer shows, in words.
    **details
        Anything else to record, e.g. the settings.

    Returns
    -------
    dict
        ``{RESULT_METADATA_KEY: {...}}``, to merge into the layer's metadata.
    """
    described = {"result": result, "image": source.name, "image_layers": [layer.name for layer in source.layers]}
    return {RESULT_METADATA_KEY: {**described, **details}}


def is_result_layer(layer: Any) -> bool:
    """Whether ``layer`` was made by the widget (labels, disagreement or certainty map).

    Parameters
    ----------
    layer : napari.layers.Layer

    Returns
    -------
    bool
    """
    return RESULT_METADATA_KEY in layer.metadata
