"""The saved-model document of a Segmenter: its layout, its JSON form, and its validation on reading.

A model file is the JSON text of the document (:meth:`Segmenter.to_dict`):
the format and package versions, the settings, the feature recipe and names,
the number of channels and voxel size of the training image, the feature
standardisation and the mixture parameters. Floats keep full precision, so a
loaded model gives identical labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_choice, check_weights
from .._version import __version__
from ..features import FeatureScaling, expand_features
from ..image_files import parse_json
from ..mixture import COVARIANCE_TYPES, parameter_shape

__all__ = [
    "FORMAT_VERSION",
    "FittedContents",
    "check_model_header",
    "damaged_model_error",
    "model_document",
    "model_json",
    "read_fitted_contents",
    "read_model_json",
]

#: Version of the saved-model file layout; files with a larger number need a newer package.
#: 2: the feature standardisation's "centre" and "spread" (1: "center" and "scale", still read).
FORMAT_VERSION = 2

_MODEL_FORMAT = "napari-sinkhorn-em segmentation model"


def _json_default(value: Any) -> Any:
    """JSON form of numpy arrays and scalars; anything else cannot be saved."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"the setting value {value!r} of type {type(value).__name__} has no JSON form")


def model_json(document: dict[str, Any], **dumps_options: Any) -> str:
    """The JSON text of a model document whose values may be numpy arrays and scalars.

    Raises
    ------
    ValueError
        If a value (e.g. a ``random_state`` generator) has no JSON form.
    """
    try:
        return json.dumps(document, default=_json_default, allow_nan=False, **dumps_options)
    except (TypeError, ValueError) as error:
        raise ValueError(f"The model cannot be saved as JSON: {error}") from None


def model_document(model: Any) -> dict[str, Any]:
    """The saved-model document of a fitted Segmenter, in its JSON form (lists, numbers, strings).

    Parameters
    ----------
    model : Segmenter
        A fitted segmenter.

    Returns
    -------
    dict
        What :meth:`Segmenter.save` writes as JSON.

    Raises
    ------
    ValueError
        If a setting (e.g. a ``random_state`` generator) cannot be stored in JSON.
    """
    mixture = model.mixture_
    document = {
        "format": _MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "settings": model.get_params(),
        "recipe": model.recipe_,
        "feature_names": list(model.feature_names_),
        "image": {"n_channels": model.n_channels_, "scale": list(model.scale_)},
        "scaling": model.scaling_.to_dict(),
        "mixture": {
            "covariance_type": mixture.covariance_type,
            "means": mixture.means_,
            "covariances": mixture.covariances_,
            "precisions": mixture.precisions_,
            "precisions_cholesky": mixture.precisions_cholesky_,
            "weights": mixture.weights_,
            "potentials": mixture.potentials_,
            "plan_potentials": model.plan_potentials_,
            "converged": bool(mixture.converged_),
            "n_iter": int(mixture.n_iter_),
            "n_samples_fit": model.n_samples_fit_,
        },
    }
    return json.loads(model_json(document))


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"the entry {error.args[0]!r} is missing"
    return str(error).rstrip(".")


def damaged_model_error(where: str, error: Exception) -> ValueError:
    """The error for a damaged model document, ``where`` naming it (e.g. ``"The model file m.json"``)."""
    return ValueError(f"{where} is damaged or not a model file: {_reason(error)}.")


def read_model_json(path: Path) -> Any:
    """The document parsed from the model file at ``path`` (not yet checked).

    Raises
    ------
    ValueError
        If the file is not JSON.
    FileNotFoundError
        If the file does not exist.
    """
    text = path.read_bytes()
    try:
        return parse_json(text)
    except ValueError as error:
        raise damaged_model_error(f"The model file {path}", error) from None


def check_model_header(document: Any, where: str) -> None:
    """Check that ``document`` is a model document of a format this version reads.

    Raises
    ------
    ValueError
        If it is not a model document (damaged), or was written by a newer
        napari-sinkhorn-em (upgrade it); ``where`` names it in the message.
    """
    try:
        if not isinstance(document, dict) or document.get("format") != _MODEL_FORMAT:
            raise ValueError("it is not a napari-sinkhorn-em model file")
        version = document["format_version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"its format_version {version!r} is not a whole number")
        if version < 1:
            raise ValueError(f"its format_version {version} is not a known one (1 to {FORMAT_VERSION})")
    except (ValueError, KeyError) as error:
        raise damaged_model_error(where, error) from None
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{where} was written by a newer napari-sinkhorn-em "
            f"({document.get('package_version', 'unknown version')}, model format {version}; this "
            f"version reads formats up to {FORMAT_VERSION}). Upgrade napari-sinkhorn-em "
            f"(pip install --upgrade napari-sinkhorn-em) to use it."
        )


@dataclass(frozen=True)
class FittedContents:
    """The validated fitted parts of a model document.

    Attributes
    ----------
    covariance_type : str
        The mixture's covariance type.
    arrays : dict
        The mixture's float64 arrays by document key (``means``, ``covariances``,
        ``precisions``, ``precisions_cholesky``, ``weights``, and, where stored,
        ``potentials`` and ``plan_potentials``).
    scaling : FeatureScaling
        The feature standardisation.
    recipe : dict
        The feature recipe.
    feature_names : tuple of str
        One name per feature column.
    scale : tuple of float
        Voxel size of the training image.
    """

    covariance_type: str
    arrays: dict[str, np.ndarray]
    scaling: FeatureScaling
    recipe: dict[str, Any]
    feature_names: tuple[str, ...]
    scale: tuple[float, ...]


def _mixture_arrays(stored: dict[str, Any], n_components: int, n_features: int) -> dict[str, np.ndarray]:
    """The stored mixture's arrays, each checked for its shape and finite values."""
    check_choice(stored["covariance_type"], "its covariance_type", COVARIANCE_TYPES)
    matrix_shape = parameter_shape(stored["covariance_type"], n_components, n_features)
    expected = {
        "means": (n_components, n_features),
        "covariances": matrix_shape,
        "precisions": matrix_shape,
        "precisions_cholesky": matrix_shape,
        "weights": (n_components,),
    }
    for key in ("potentials", "plan_potentials"):
        if stored.get(key) is not None:
            expected[key] = (n_components,)
    arrays = {}
    for key, shape in expected.items():
        array = np.asarray(stored[key], dtype=np.float64)
        if array.shape != shape or not np.isfinite(array).all():
            raise ValueError(f"mixture entry {key!r} should be {shape} finite numbers, found shape {array.shape}")
        arrays[key] = array
    check_weights(arrays["weights"], n_components, name="its class weights")
    for key in ("covariances", "precisions"):
        if not _positive_definite(arrays[key], stored["covariance_type"]):
            raise ValueError(f"the mixture's {key} are not all positive definite (valid covariances)")
    return arrays


def _positive_definite(matrices: np.ndarray, covariance_type: str) -> bool:
    """Whether every component's covariance (or precision) of a stored mixture is positive definite."""
    if covariance_type != "full":
        return bool((matrices > 0).all())
    try:
        np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        return False
    return bool(np.allclose(matrices, np.swapaxes(matrices, 1, 2)))


def _read_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """The stored feature recipe, checked and in its usual form."""
    features = [(str(name), sigma) for name, sigma in recipe["features"]]
    if expand_features(features) != features:
        raise ValueError("the feature recipe is not valid")
    background_sigma = recipe.get("background_sigma")
    return {
        "features": [list(entry) for entry in features],
        "coordinates": bool(recipe["coordinates"]),
        "coordinate_weight": float(recipe["coordinate_weight"]),
        "background_sigma": None if background_sigma is None else float(background_sigma),
    }


def read_fitted_contents(document: dict[str, Any], n_components: int) -> FittedContents:
    """The fitted parts of a model document of ``n_components`` classes, validated.

    Raises
    ------
    ValueError, KeyError, TypeError, IndexError
        When the document is damaged (the reason is in the message).
    """
    names = tuple(document["feature_names"])
    stored = document["mixture"]
    arrays = _mixture_arrays(stored, n_components, len(names))
    scaling = FeatureScaling.from_dict(document["scaling"])
    if scaling.names != names:
        raise ValueError("the feature standardisation does not match the feature names")
    recipe = _read_recipe(document["recipe"])
    scale = tuple(float(step) for step in document["image"]["scale"])
    if len(scale) not in (2, 3):
        raise ValueError(f"the voxel size {scale} is not 2-D or 3-D")
    return FittedContents(stored["covariance_type"], arrays, scaling, recipe, names, scale)
