"""The settings of a Segmenter, and what they ask of the mixture and the features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_choice, check_positive_int, check_weights
from ..features import background_sigma_for, expand_features
from ..mixture import GaussianMixture
from .methods import ASSIGNMENTS, DEFAULT_SIZE_TOLERANCE, METHODS, default_assignment, default_method, gives_class_sizes
from .sources import DEFAULT_MEMORY_LIMIT

__all__ = ["SegmenterSettings"]


class SegmenterSettings:
    """The settings of a :class:`~napari_sinkhorn_em.segmentation.Segmenter` (its constructor arguments).

    Parameters are documented with :class:`~napari_sinkhorn_em.segmentation.Segmenter`.
    Like scikit-learn's estimators, the constructor only stores them; they are
    validated when they are used.
    """

    def __init__(
        self,
        n_components: int = 3,
        *,
        method: str | None = None,
        epsilon: float = 1.0,
        assignment: str | None = None,
        features: Any = "intensity",
        sigmas: float | Sequence[float] = (1.0, 2.0, 4.0),
        background_sigma: float | None = None,
        size_tolerance: float = DEFAULT_SIZE_TOLERANCE,
        coordinates: bool = False,
        coordinate_weight: float = 1.0,
        sample_size: int | None = 200_000,
        random_state: int | None = 0,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        **mixture_options: Any,
    ) -> None:
        weights = mixture_options.get("weights")
        self.n_components = n_components
        self.method = default_method(weights) if method is None else method
        self.epsilon = epsilon
        self.assignment = default_assignment(self.method, weights) if assignment is None else assignment
        self.features = features
        self.sigmas = sigmas
        self.background_sigma = background_sigma
        self.size_tolerance = size_tolerance
        self.coordinates = coordinates
        self.coordinate_weight = coordinate_weight
        self.sample_size = sample_size
        self.random_state = random_state
        self.memory_limit = memory_limit
        self.mixture_options = mixture_options

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_components={self.n_components!r}, method={self.method!r}, "
            f"epsilon={self.epsilon!r}, assignment={self.assignment!r}, features={self.features!r})"
        )

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, ``mixture_options`` as a nested dict."""
        return {
            "n_components": self.n_components,
            "method": self.method,
            "epsilon": self.epsilon,
            "assignment": self.assignment,
            "features": self.features,
            "sigmas": self.sigmas,
            "background_sigma": self.background_sigma,
            "size_tolerance": self.size_tolerance,
            "coordinates": self.coordinates,
            "coordinate_weight": self.coordinate_weight,
            "sample_size": self.sample_size,
            "random_state": self.random_state,
            "memory_limit": self.memory_limit,
            "mixture_options": dict(self.mixture_options),
        }

    # ------------------------------------------------------------- settings
    def mixture_settings(self) -> dict[str, Any]:
        """The GaussianMixture keyword arguments of the settings (validated, apart from the mixture's own).

        Returns
        -------
        dict
            ``epsilon``, the method's ``method``, ``warmup`` and ``weights``
            (:data:`METHODS`), then ``mixture_options``, which may replace the weights.

        Raises
        ------
        ValueError
            For an unknown method or assignment, or ``method`` / ``warmup`` among the mixture options.
        """
        check_choice(self.method, "method", tuple(METHODS))
        check_choice(self.assignment, "assignment", ASSIGNMENTS)
        chosen_by_method = {"method", "warmup"} & set(self.mixture_options)
        if chosen_by_method:
            raise ValueError(
                f"Choose how the mixture is fitted with method= (one of {', '.join(METHODS)}), "
                f"not with {' or '.join(sorted(chosen_by_method))}=."
            )
        return {"epsilon": self.epsilon, **METHODS[self.method], **self.mixture_options}

    def new_mixture(self, random_state: Any, **overrides: Any) -> GaussianMixture:
        """A new, unfitted mixture of these settings.

        Parameters
        ----------
        random_state : int, numpy.random.Generator or None
            Seed of the mixture's initialisation.
        **overrides
            Replace some of :meth:`mixture_settings`, e.g. ``weights``.

        Returns
        -------
        GaussianMixture
        """
        return GaussianMixture(self.n_components, random_state=random_state, **{**self.mixture_settings(), **overrides})

    def feature_recipe(self) -> dict[str, Any]:
        """The feature recipe that the settings ask for (validated).

        Returns
        -------
        dict
            ``{"features": [[name, sigma], ...], "coordinates": bool,
            "coordinate_weight": float, "background_sigma": float or None}``,
            what ``recipe_`` holds once fitted.
        """
        return {
            "features": [list(entry) for entry in expand_features(self.features, self.sigmas)],
            "coordinates": bool(self.coordinates),
            "coordinate_weight": float(self.coordinate_weight),
            "background_sigma": background_sigma_for(self.features, self.sigmas, self.background_sigma),
        }

    def given_class_sizes(self) -> np.ndarray | None:
        """The class sizes given as fractions (``weights=``), in label order and validated.

        Returns
        -------
        numpy.ndarray or None
            One share per class (label 1 first), or None when they are not given
            as fractions (the method learns them, or holds them equal).

        Raises
        ------
        ValueError
            If ``n_components`` or the fractions are not valid.
        """
        weights = self.mixture_options.get("weights")
        if not gives_class_sizes(weights):
            return None
        return check_weights(weights, check_positive_int(self.n_components, "n_components"), name="The class sizes")
