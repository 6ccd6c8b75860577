"""How the widget segments: the settings of a run, and the parsing of those typed in.

Plain data, without Qt: :class:`Settings` (a class fit) and
:class:`NeuronSettings` (the neurons recipe), :class:`InputError` (a choice
the user has to change), and the settings typed or painted in the widget
(:func:`parse_sigmas`, :func:`typed_class_sizes`, :func:`painted_class_sizes`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..segmentation import METHOD_NAMES, Segmenter, class_sizes_from_labels

__all__ = [
    "NEURONS_RECIPE",
    "InputError",
    "NeuronSettings",
    "Settings",
    "painted_class_sizes",
    "parse_sigmas",
    "typed_class_sizes",
]

#: The features choice that runs the neurons recipe (segment_neurons) instead of a class fit.
NEURONS_RECIPE = "neurons"


class InputError(ValueError):
    """A selection or setting the user has to change; the message says how."""


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


def parse_sigmas(text: str) -> tuple[float, ...]:
    """The feature sizes typed as numbers separated by commas, e.g. ``"1, 2, 4"``.

    Parameters
    ----------
    text : str
        What was typed (semicolons separate too).

    Returns
    -------
    tuple of float

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

    Parameters
    ----------
    text : str
        What was typed: one percentage per class, in label order (``%`` signs allowed).
    n_components : int
        The number of classes.

    Returns
    -------
    tuple of float
        Fractions adding up to 1.

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
    """Class sizes from the areas of a painted labels layer.

    Parameters
    ----------
    painting : napari.layers.Labels or None
        The layer with each class painted with its label 1 to K; None when none is chosen.
    n_components : int
        The number of classes K.

    Returns
    -------
    tuple of float
        The painted share of each class.

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
