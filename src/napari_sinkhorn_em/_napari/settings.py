"""What the widget segments and how, what a run produced, and the names of the result layers.

Plain data, without Qt: :class:`ImageSource` (the selected layers' data, how
their channels are laid out, which time points), :class:`Settings` (a class
fit) and :class:`NeuronSettings` (the neurons recipe), the results of a run
(:class:`SegmentationResult`, :class:`ModelResult`, :class:`NeuronResult`,
:class:`Failure`), the parsing of the typed settings, and how the result
layers are named and described in their metadata (under
:data:`RESULT_METADATA_KEY`).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .. import lazy
from ..neurons import NeuronMatch, NeuronSegmentation
from ..segmentation import METHOD_NAMES, LabelComparison, Segmenter, class_sizes_from_labels

__all__ = [
    "NEURONS_RECIPE",
    "RESULT_METADATA_KEY",
    "Failure",
    "ImageSource",
    "InputError",
    "ModelResult",
    "NeuronResult",
    "NeuronSettings",
    "SegmentationResult",
    "Settings",
    "epsilon_label",
    "is_result_layer",
    "painted_class_sizes",
    "parse_sigmas",
    "result_metadata",
    "result_name",
    "short_method_name",
    "typed_class_sizes",
]

#: The features choice that runs the neurons recipe (segment_neurons) instead of a class fit.
NEURONS_RECIPE = "neurons"
#: Key of ``layer.metadata`` under which the widget describes the layers it made (what, from which
#: image, with which settings); layers carrying it are results, never offered as images to segment.
RESULT_METADATA_KEY = "napari_sinkhorn_em"
#: Method names short enough for the layer list; the full names are in each layer's metadata.
_SHORT_METHOD_NAMES = {"sinkhorn_start": "S→EM", "em": "EM", "sinkhorn": "Sinkhorn"}


class InputError(ValueError):
    """A selection or setting the user has to change; the message says how."""


@dataclass(frozen=True)
class Failure:
    """Result of a run that stopped for a reason the user can act on."""

    message: str


@dataclass(frozen=True)
class Settings:
    """The fit settings chosen in the widget."""

    n_components: int
    method: str
    epsilon: float
    features: str
    sigmas: tuple[float, ...]
    weights: str | tuple[float, ...]
    assignment: str
    covariance_type: str
    random_state: int
    sample_size: int | None
    max_iter: int
    tol: float
    confidence: bool  # add the certainty map

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods to fit, EM first so that Sinkhorn-EM is matched to it."""
        return ("em", "sinkhorn") if self.method == "both" else (self.method,)

    def segmenter(self, method: str) -> Segmenter:
        """An unfitted :class:`Segmenter` with these settings and ``method``.

        In a comparison the class-size setting is Sinkhorn-EM's, and EM learns the sizes.
        """
        return Segmenter(
            self.n_components,
            method=method,
            epsilon=self.epsilon,
            assignment=self.assignment,
            features=self.features,
            sigmas=self.sigmas,
            sample_size=self.sample_size,
            random_state=self.random_state,
            weights=self.weights_of(method),
            covariance_type=self.covariance_type,
            max_iter=self.max_iter,
            tol=self.tol,
        )

    def weights_of(self, method: str) -> str | tuple[float, ...]:
        """The class-size setting ``method`` is fitted with: in a comparison EM learns its own."""
        return "em" if self.method == "both" and method == "em" else self.weights

    def uses_epsilon(self, method: str) -> bool:
        """Whether ε changes the labels of ``method`` (EM's only through the transport plan)."""
        return method != "em" or self.assignment == "plan"

    def result_key(self, method: str) -> Settings:
        """These settings without those that leave ``method``'s labels unchanged (ε for EM, the map)."""
        return replace(self, confidence=False, epsilon=self.epsilon if self.uses_epsilon(method) else None)

    def describe(self, method: str) -> dict[str, Any]:
        """The settings that gave ``method``'s labels, for the result layer's metadata."""
        details = {**asdict(self), "method": METHOD_NAMES[method], "weights": self.weights_of(method)}
        del details["confidence"]
        if not self.uses_epsilon(method):
            del details["epsilon"]
        return details

    def same_fit_apart_from_epsilon(self, other: Settings) -> bool:
        """True when ``other`` fits the same model except for ε (the certainty map aside)."""
        return replace(self, epsilon=other.epsilon, confidence=other.confidence) == other


@dataclass(eq=False)
class ImageSource:
    """What to segment: the data of the selected layers and where results go.

    Attributes
    ----------
    name : str
        Name used for the result layers.
    layers : tuple of napari.layers.Image
        The selected image layers (several = one channel each).
    mask : numpy.ndarray of bool or None
        Where to segment: a copy of the mask layer's non-zero pixels, taken
        when the run was asked for, of the image's (non-channel) shape or of
        one time point's shape.
    arrays : tuple of array_like
        The data of each selected layer (highest resolution of a pyramid).
    channel_axis : int or None
        Axis of ``arrays[0]`` holding channels, when one layer holds them.
    n_spatial : int
        2 or 3: the last ``n_spatial`` non-channel axes are segmented
        together; any axes before them (time) are looped over.
    current_frame : tuple of int
        Index along those leading axes of the time point shown in the viewer.
    frames : tuple of tuple of int
        The time points to label.
    spatial_scale : tuple of float
        Pixel (voxel) size along the segmented axes.
    placement : dict
        ``scale``, ``translate`` and ``affine`` of the result layers: those of
        the first layer without its channel axis.
    """

    name: str
    layers: tuple[Any, ...]
    mask: np.ndarray | None
    arrays: tuple[Any, ...]
    channel_axis: int | None
    n_spatial: int
    current_frame: tuple[int, ...]
    frames: tuple[tuple[int, ...], ...]
    spatial_scale: tuple[float, ...]
    placement: dict[str, Any] = field(repr=False)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the label images: the layer's shape without the channel axis."""
        shape = list(self.arrays[0].shape)
        if self.channel_axis is not None:
            del shape[self.channel_axis]
        return tuple(shape)

    @property
    def key(self) -> tuple:
        """Identifies the input: same layers, data, mask and time points give the same key."""
        return (
            tuple(id(layer) for layer in self.layers),
            tuple(id(array) for array in self.arrays),
            None if self.mask is None else (self.mask.shape, zlib.crc32(self.mask)),
            self.channel_axis,
            self.n_spatial,
            self.current_frame,
            self.frames,
        )

    @property
    def lazy(self) -> bool:
        """Whether the data are dask arrays (e.g. a zarr stack): then nothing is loaded whole."""
        return any(lazy.is_dask_array(array) for array in self.arrays)

    def uses(self, layer: Any) -> bool:
        """Whether ``layer`` is one of the image layers segmented."""
        return any(layer is source for source in self.layers)

    def image(self, frame: tuple[int, ...]) -> tuple[Any, int | None]:
        """The image of one time point, channels last, and its channel axis (None for one channel).

        A numpy array, or a dask array when the layers are lazy (numpy's
        stack and moveaxis hand dask arrays to dask).
        """
        load = (lambda array: array) if self.lazy else np.asarray
        if len(self.arrays) > 1:
            return np.stack([load(array[frame]) for array in self.arrays], axis=-1), self.n_spatial
        if self.channel_axis is None:
            return load(self.arrays[0][frame]), None
        return load(np.moveaxis(self.arrays[0], self.channel_axis, -1)[frame]), self.n_spatial

    def mask_at(self, frame: tuple[int, ...]) -> np.ndarray | None:
        """The mask of one time point (True = segment), or None without a mask."""
        if self.mask is None or self.mask.ndim < len(self.output_shape):
            return self.mask
        return self.mask[frame]

    def fit_inputs(self, frame: tuple[int, ...]) -> dict[str, Any]:
        """Keyword arguments of ``Segmenter.fit_steps`` / ``predict`` for one time point."""
        image, channel_axis = self.image(frame)
        return {"image": image, "channel_axis": channel_axis, "scale": self.spatial_scale, "mask": self.mask_at(frame)}


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
class NeuronSettings:
    """The settings of the neurons recipe chosen in the widget (see :func:`segment_neurons`).

    ``pan_neuronal_channel`` and ``colour_channels`` are channel indices of
    the image (one per selected layer, in the widget's order); None = no
    pan-neuronal channel. The first three colour channels are shown as red,
    green and blue.
    """

    n_neurons: int | None  # None: the number suggested
    method: str
    pan_neuronal_channel: int | None
    colour_channels: tuple[int, ...]
    channel_names: tuple[str, ...] | None
    nucleus_radius_um: float
    random_state: int
    max_iter: int

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods to fit, EM first (it is A of the neuron-by-neuron comparison)."""
        return ("em", "sinkhorn") if self.method == "both" else (self.method,)

    def result_key(self, method: str) -> NeuronSettings:
        """These settings for ``method`` alone: what identifies its result layers."""
        return replace(self, method=method)

    def describe(self, method: str) -> dict[str, Any]:
        """The settings that gave ``method``'s neurons, for the result layers' metadata."""
        return {**asdict(self), "recipe": "neurons (NeuroPAL)", "method": METHOD_NAMES[method]}


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


# ---------------------------------------------------------------------------
# Typed settings
# ---------------------------------------------------------------------------


def parse_sigmas(text: str) -> tuple[float, ...]:
    """The feature sizes typed as numbers separated by commas, e.g. ``"1, 2, 4"``.

    Raises
    ------
    InputError
        When they are not positive numbers.
    """
    try:
        sigmas = tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError:
        sigmas = ()
    if not sigmas or not all(math.isfinite(sigma) and sigma > 0 for sigma in sigmas):
        raise InputError(
            f"Write the feature sizes as positive numbers separated by commas, e.g. 1, 2, 4 (got '{text}')."
        )
    return sigmas


def typed_class_sizes(text: str, n_components: int) -> tuple[float, ...]:
    """Class sizes typed as percentages, e.g. ``"10, 90"``, as fractions.

    Raises
    ------
    InputError
        When they are not ``n_components`` positive percentages adding up to 100.
    """
    try:
        percentages = [float(part.strip().rstrip("%")) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        percentages = []
    if len(percentages) != n_components or not all(math.isfinite(p) and p > 0 for p in percentages):
        raise InputError(
            f"Write one positive percentage per class, in label order, separated by commas: {n_components} "
            f"numbers such as {', '.join(['10'] + [f'{90 / (n_components - 1):g}'] * (n_components - 1))} "
            f"(got '{text}')."
        )
    if abs(sum(percentages) - 100.0) > 1.0:
        raise InputError(
            f"The class sizes must add up to 100 %, but {', '.join(f'{p:g}' for p in percentages)} add up to "
            f"{sum(percentages):g} %."
        )
    return tuple(p / sum(percentages) for p in percentages)


def painted_class_sizes(painting: Any, n_components: int) -> tuple[float, ...]:
    """Class sizes from the areas of a painted labels layer (``painting``, None when none is chosen).

    Raises
    ------
    InputError
        When no layer is chosen or its labels cannot give the sizes.
    """
    if painting is None:
        raise InputError(
            "Choose the labels layer with the painted classes, or another class-size setting. To paint "
            "one: Layers > New Labels Layer, then paint each class with its label 1 to K."
        )
    try:
        return tuple(class_sizes_from_labels(painting.data, n_components))
    except ValueError as error:
        raise InputError(f"The painted classes in '{painting.name}' cannot give the class sizes: {error}") from None


# ---------------------------------------------------------------------------
# Naming and describing the result layers
# ---------------------------------------------------------------------------


def epsilon_label(epsilon: float) -> str:
    """ε as written in a layer name, e.g. ``0.5``."""
    return f"{epsilon:.3g}"


def short_method_name(method: str) -> str:
    """The method's name in the layer list, e.g. ``S→EM``."""
    return _SHORT_METHOD_NAMES[method]


def result_name(source_name: str, method: str, settings: Settings) -> str:
    """E.g. ``worm Sinkhorn K=5 ε=0.5``; ε is left out where it does not change the labels."""
    name = f"{source_name} {_SHORT_METHOD_NAMES[method]} K={settings.n_components}"
    return f"{name} ε={epsilon_label(settings.epsilon)}" if settings.uses_epsilon(method) else name


def result_metadata(source: ImageSource, result: str, **details: Any) -> dict[str, Any]:
    """The metadata of a result layer: what it shows, of which image, and ``details`` (e.g. the settings)."""
    described = {"result": result, "image": source.name, "image_layers": [layer.name for layer in source.layers]}
    return {RESULT_METADATA_KEY: {**described, **details}}


def is_result_layer(layer: Any) -> bool:
    """Whether ``layer`` was made by the widget (labels, disagreement or certainty map)."""
    return RESULT_METADATA_KEY in layer.metadata
