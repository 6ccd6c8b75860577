"""A segmentation model: the settings and fitted parameters of a Segmenter, labelling images, model files.

:class:`SegmentationModel` is what a fitted (or loaded)
:class:`~napari_sinkhorn_em.segmentation.Segmenter` labels images with; the
Segmenter adds the fitting. Images in memory are labelled block by block
(:class:`~napari_sinkhorn_em.segmentation.FeatureSource`), dask images chunk
by chunk (:func:`napari_sinkhorn_em.lazy.predict_dask`).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_fits_in_memory, check_positive_int
from ..contracts import LabelSource, ProgressCallback, report_progress
from ..image_files import atomic_write
from ..lazy import is_dask_array, predict_dask
from .labels import label_dtype
from .model_file import (
    check_model_header,
    damaged_model_error,
    model_document,
    model_json,
    read_fitted_contents,
    read_model_json,
)
from .settings import SegmenterSettings
from .sources import FeatureSource, settings_source

__all__ = ["SegmentationModel"]


class SegmentationModel(SegmenterSettings):
    """The settings and fitted parameters of a :class:`~napari_sinkhorn_em.segmentation.Segmenter`.

    It labels images (:meth:`predict`, :meth:`predict_proba`), describes its
    class sizes, and is saved and loaded as a JSON model file. Parameters and
    attributes are those of :class:`~napari_sinkhorn_em.segmentation.Segmenter`,
    which adds the fitting; the settings are those of :class:`SegmenterSettings`.
    """

    #: Attributes that a fit keeps only for refitting (not saved, not needed to label), which
    #: :meth:`fitted_copy` leaves out; a subclass whose fit keeps such attributes names them here.
    refit_attributes: tuple[str, ...] = ()

    # ---------------------------------------------------------------- labelling
    def check_fitted(self) -> None:
        """Refuse to label before the model is fitted or loaded.

        Raises
        ------
        RuntimeError
            If it is not fitted yet.
        """
        if not hasattr(self, "mixture_"):
            raise RuntimeError("This Segmenter is not fitted yet; call fit(image) first or load a saved model.")

    def check_image(self, n_channels: int, spatial_ndim: int, *, channel_axis: int | None, shape: Any) -> None:
        """Refuse an image whose channels or spatial axes differ from the training image's.

        Parameters
        ----------
        n_channels, spatial_ndim : int
            The image's number of channels and of spatial axes.
        channel_axis : int or None
            Its channel axis (as the message names it).
        shape : tuple of int
            Its shape (as the message names it).

        Raises
        ------
        ValueError
            If the numbers differ from the model's.
        """
        if n_channels != self.n_channels_:
            raise ValueError(
                f"The model was fitted on images with {self.n_channels_} channel(s), but this image has "
                f"{n_channels} (channel_axis={channel_axis}); give the right channel_axis or "
                f"use a model fitted on {n_channels}-channel images."
            )
        if spatial_ndim != len(self.scale_):
            raise ValueError(
                f"The model was fitted on {len(self.scale_)}-D images, but this image is "
                f"{spatial_ndim}-D (shape {shape}); use a model fitted on {spatial_ndim}-D images."
            )

    @property
    def label_dtype(self) -> np.dtype:
        """The type of the labels: the smallest unsigned integer type that holds K."""
        return label_dtype(self.mixture_.n_components)

    def fitted_copy(self) -> SegmentationModel:
        """A copy with the settings and fitted parameters only, e.g. to ship with dask tasks.

        Labels depend on nothing else (they are what :meth:`save` keeps too);
        the attributes named by :attr:`refit_attributes` (a Segmenter's sample
        for ``refit_steps``) are left out.

        Returns
        -------
        SegmentationModel
            A shallow copy, of the same class.
        """
        lean = copy.copy(self)
        for name in self.refit_attributes:
            vars(lean).pop(name, None)
        return lean

    def _prediction_source(self, image, channel_axis, scale, mask) -> FeatureSource:
        self.check_fitted()
        source = settings_source(self, image, channel_axis, self.scale_ if scale is None else scale, mask, self.recipe_)
        self.check_image(
            source.n_channels, len(source.spatial_shape), channel_axis=source.channel_axis, shape=source.image.shape
        )
        return source

    def assign(self, source: LabelSource, progress: ProgressCallback | None = None, *, proba: bool = False) -> np.ndarray:
        """Label (or score) every row of a feature source, block by block.

        Parameters
        ----------
        source : LabelSource
            The unstandardised feature rows (see :mod:`napari_sinkhorn_em.contracts`).
        progress : callable or None, default None
            Called as ``progress("assign", fraction)``.
        proba : bool, default False
            Give the posterior probabilities (float32, one per class) instead of labels.

        Returns
        -------
        numpy.ndarray
            Labels of ``source.spatial_shape`` (0 where no row is placed), or
            probabilities of shape ``spatial_shape + (K,)``.
        """
        n_components = self.mixture_.n_components
        if proba:
            n_voxels = math.prod(source.spatial_shape)
            check_fits_in_memory(
                n_voxels * n_components * np.dtype(np.float32).itemsize,
                f"The probabilities of {n_components} classes for {n_voxels:,} voxels",
                "Use predict for the labels instead, or call predict_proba on parts of the image "
                "(e.g. a few planes, image[i:j]) one at a time.",
            )
            out = np.zeros(source.spatial_shape + (n_components,), dtype=np.float32)
        else:
            out = np.zeros(source.spatial_shape, dtype=self.label_dtype)
        report_progress(progress, "assign", 0.0)
        done = 0
        for block, table in source.tables():
            X = self.scaling_.apply(table)
            if proba:
                values = self.mixture_.predict_proba(X).astype(np.float32)
            elif self.assignment == "plan":
                values = self.mixture_.predict_plan(X, self._plan_potentials())[0] + 1
            else:
                values = self.mixture_.predict(X) + 1
            source.place(out, block, values)
            done += len(block.row_numbers)
            report_progress(progress, "assign", done / source.n_points)
        return out

    def _plan_potentials(self) -> np.ndarray:
        if not hasattr(self, "plan_potentials_"):
            raise ValueError(
                "This model was saved without its transport plan, so it cannot label with "
                "assignment='plan'; use assignment='posterior', or fit the model again."
            )
        return self.plan_potentials_

    def predict(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Label every voxel of an image with the fitted classes.

        Parameters
        ----------
        image : array_like or dask.array.Array
            2-D or 3-D image with the same number of channels and spatial
            axes as the training image. A dask array gets lazy labels with
            its chunks (:func:`napari_sinkhorn_em.lazy.predict_dask`).
        channel_axis : int or None, default None
            Axis of ``image`` holding channels; None for one channel.
        scale : sequence of float or None, default None
            Voxel size; None uses the training image's (``scale_``).
        mask : array_like of bool or None, default None
            Voxels outside the mask get label 0.
        progress : callable or None, default None
            Called as ``progress("assign", fraction)``.

        Returns
        -------
        numpy.ndarray
            Labels 1..K of the image's spatial shape (0 outside ``mask``),
            in the smallest unsigned integer type that holds K, chosen as
            ``assignment`` says.
        """
        if is_dask_array(image):
            return predict_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask)
        return self.assign(self._prediction_source(image, channel_axis, scale, mask), progress)

    def predict_proba(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Posterior probability of each class for every voxel.

        Parameters are as for :meth:`predict`.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``spatial_shape + (K,)``; entry ``k - 1``
            is the probability of label ``k`` (0 everywhere outside ``mask``).
        """
        return self.assign(self._prediction_source(image, channel_axis, scale, mask), progress, proba=True)

    # -------------------------------------------------------------- class sizes
    @property
    def class_sizes_(self) -> np.ndarray:
        """The share of the voxels each class (label 1..K) holds in the fitted model."""
        if not hasattr(self, "mixture_"):
            raise AttributeError("class_sizes_ exists once the Segmenter is fitted.")
        return self.mixture_.weights_.copy()

    def describe_class_sizes(self) -> str:
        """The fitted class sizes as a sentence for people, and the share a size search chose.

        Returns
        -------
        str
            E.g. ``"1: 9.17%, 2: 90.8% (class 1: 9.17% chosen from 3.33–30% around
            the 10% given)"``; without a search only the sizes by label.
        """
        text = ", ".join(f"{label}: {100 * size:.3g}%" for label, size in enumerate(self.class_sizes_, 1))
        search = self.size_search_
        if search is None:
            return text
        return (
            f"{text} (class {search.searched_class + 1}: {100 * search.chosen:.3g}% chosen from "
            f"{100 * search.shares[0]:.3g}–{100 * search.shares[-1]:.3g}% around the {100 * search.guess:.3g}% given)"
        )

    # -------------------------------------------------------------- model files
    def to_dict(self) -> dict[str, Any]:
        """The saved-model document: what :meth:`save` writes as JSON (lists, numbers, strings).

        Returns
        -------
        dict
            Format and package versions, settings, feature recipe and names,
            the training image's channels and voxel size, the feature
            standardisation and the mixture parameters.

        Raises
        ------
        RuntimeError
            If the model is not fitted.
        ValueError
            If a setting (e.g. a ``random_state`` generator) cannot be stored in JSON.
        """
        if not hasattr(self, "mixture_"):
            raise RuntimeError("This Segmenter is not fitted yet; fit it before saving.")
        return model_document(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any], *, where: str = "The model document") -> SegmentationModel:
        """The fitted model of a saved-model document (:meth:`to_dict`, or a model file's JSON).

        Parameters
        ----------
        document : dict
            The document.
        where : str, default "The model document"
            How messages name the document.

        Returns
        -------
        SegmentationModel
            A fitted model of this class (``Segmenter.from_dict`` gives a
            Segmenter) that labels images exactly as the saved one.

        Raises
        ------
        ValueError
            If it was written by a newer napari-sinkhorn-em, or is damaged.
        """
        check_model_header(document, where)
        try:
            settings = dict(document["settings"])
            mixture_options = settings.pop("mixture_options")
            model = cls(**settings, **mixture_options)
            contents = read_fitted_contents(document, check_positive_int(model.n_components, "n_components"))
            stored = document["mixture"]
            model.mixture_ = model.new_mixture(model.random_state, covariance_type=contents.covariance_type)
            arrays = contents.arrays
            model.mixture_.set_fitted_parameters(
                **{key: arrays[key] for key in ("means", "covariances", "weights", "precisions_cholesky", "precisions")},
                potentials=arrays.get("potentials"), converged=stored["converged"], n_iter=stored["n_iter"],
            )
            model.size_search_, model.scaling_, model.recipe_ = None, contents.scaling, contents.recipe
            model.feature_names_, model.scale_ = contents.feature_names, contents.scale
            model.n_channels_ = check_positive_int(document["image"]["n_channels"], "n_channels")
            model.n_samples_fit_ = int(stored["n_samples_fit"])
            if "plan_potentials" in arrays:
                model.plan_potentials_ = arrays["plan_potentials"]
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise damaged_model_error(where, error) from None
        return model

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save the fitted model as a readable JSON file (written atomically).

        The file is the JSON text of :meth:`to_dict`. Floats are written with
        full precision, so a loaded model gives identical labels.

        Parameters
        ----------
        path : str or path-like
            Destination, e.g. ``"worms.model.json"``.
        overwrite : bool, default False
            Replace an existing file.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        ValueError
            If a setting (e.g. a ``random_state`` generator) cannot be
            stored in JSON.
        """
        text = model_json(self.to_dict(), indent=1)
        with atomic_write(path, overwrite=overwrite) as handle:
            handle.write(text.encode("utf-8"))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SegmentationModel:
        """Load a model saved with :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The JSON model file.

        Returns
        -------
        Segmenter
            A fitted segmenter that labels images exactly as the saved one.

        Raises
        ------
        ValueError
            If the file was written by a newer version of napari-sinkhorn-em
            (upgrade it), or is damaged or not a model file.
        FileNotFoundError
            If the file does not exist.
        """
        path = Path(path)
        return cls.from_dict(read_model_json(path), where=f"The model file {path}")
