"""The Segmenter: fit a Gaussian mixture to per-voxel features, then label images with it.

:class:`Segmenter` fits a :class:`~napari_sinkhorn_em.mixture.GaussianMixture`
(EM or Sinkhorn-EM) to the features of a random subsample of the voxels and
then labels every voxel, working through the image block by block so that
memory stays bounded for any image size. A fitted
segmenter can be saved as a readable JSON file and applied to other images
(:class:`~napari_sinkhorn_em.segmentation.SegmentationModel`).

Label numbers are deterministic: after every fit the mixture's components
are sorted by the mean of the first feature
(:func:`~napari_sinkhorn_em.segmentation.labels.order_components`), so label 1
is the darkest class in the first channel, and the same settings give
bit-identical labels.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from .._validation import check_epsilon, check_positive_int, check_random_state
from ..contracts import FitSource, Progress, ProgressCallback, report_progress
from ..features import fit_robust_scaling
from ..lazy import fit_dask, fit_dask_steps, is_dask_array, predict_dask
from ..mixture import GaussianMixture
from .fitting import (
    check_class_sizes_fit,
    check_enough_points,
    leave_out_far_outliers,
    mixture_fit_steps,
    sampled_rows,
    size_search_fit_steps,
    solve_plan,
)
from .labels import order_components
from .methods import METHOD_NAMES
from .model import SegmentationModel
from .sources import settings_source

__all__ = ["Segmenter"]


class Segmenter(SegmentationModel):
    """Segment images by clustering per-voxel features with a Gaussian mixture.

    Parameters
    ----------
    n_components : int, default 3
        Number of classes K; labels are 1..K.
    method : {"sinkhorn_start", "em", "sinkhorn"} or None, default None
        How the mixture is fitted (see :data:`METHODS`); None chooses
        :func:`default_method`: ``"sinkhorn"`` when class sizes are given as
        fractions (``weights=``), ``"sinkhorn_start"`` otherwise. ``"sinkhorn_start"``:
        Sinkhorn-EM first moves the class means with equal class sizes and one
        shared covariance held, then EM fits everything with class sizes
        learned from the image; the measurements in docs/evidence.md made it
        the default. ``"em"``: classical EM (as scikit-learn).
        ``"sinkhorn"``: Sinkhorn-EM, whose E-step is an entropic optimal
        transport that holds every class at a fixed share of the voxels
        (equal shares unless ``weights`` gives others).
    epsilon : float, default 1.0
        Entropic regularisation of Sinkhorn-EM: of its warm-up with
        ``"sinkhorn_start"``, of every step with ``"sinkhorn"``, and of the
        transport plan with ``assignment="plan"``.
    assignment : {"posterior", "plan"} or None, default None
        None chooses :func:`default_assignment`: ``"plan"`` for Sinkhorn-EM
        with given class sizes, ``"posterior"`` otherwise.
        How :meth:`predict` labels a voxel: with the class of highest
        posterior probability at the fitted parameters (class sizes follow
        the image), or with the class the transport plan gives it, which
        holds the classes at the fitted sizes ``mixture_.weights_``
        (:meth:`GaussianMixture.predict_plan`, with the plan solved on the
        fitted subsample).
    features : str or list of (str, float or None), default "intensity"
        ``"intensity"``, ``"multiscale"``, a feature name or an explicit
        ``[(name, sigma), ...]`` list; see
        :func:`napari_sinkhorn_em.features.extract_features`.
    sigmas : float or sequence of float, default (1.0, 2.0, 4.0)
        Physical scales (units of ``scale``) of the filters of presets.
    background_sigma : float or None, default None
        Compute the features on the illumination-corrected image, with the
        background estimated at this scale inside the mask
        (:func:`~napari_sinkhorn_em.features.correct_illumination`). None:
        5 times the largest sigma for ``features="brightfield"``, no
        correction otherwise.
    size_tolerance : float, default 3.0
        With class sizes given as fractions and ``method="sinkhorn"``: how far
        the sizes may be off, as a factor. The share of the smallest class is
        searched from ``guess / size_tolerance`` to ``guess * size_tolerance``
        and the share where the cost of growing it rises fastest is kept
        (:mod:`napari_sinkhorn_em.segmentation`); 1 holds the sizes as given.
        It costs one Sinkhorn-EM fit per share tried (27 for a factor of 3).
    coordinates : bool, default False
        Add each voxel's physical position (z, y, x) times
        ``coordinate_weight`` as features (not standardised).
    coordinate_weight : float, default 1.0
        Weight of the position features.
    sample_size : int or None, default 200_000
        The mixture is fitted on this many voxels drawn at random (seeded by
        ``random_state``); None or a number above the voxel count uses all.
    random_state : int or None, default 0
        Seed of the subsample and of the mixture's initialisation. The same
        seed, settings and image give bit-identical labels.
    memory_limit : int, default 1 GiB
        Bytes the feature tables and filter workspace may hold at once; the
        image is processed in blocks (whole planes, or parts of planes in a
        thick stack of large planes), several at once on several cores, to stay
        below it. Results do not depend on it.
    **mixture_options
        Passed to :class:`~napari_sinkhorn_em.mixture.GaussianMixture`
        (e.g. ``covariance_type="diag"``, ``max_iter=200``, or ``weights``:
        ``"em"`` to learn the class sizes, ``"uniform"`` for equal ones, or
        fractions such as :func:`class_sizes_from_labels` of a rough painting).
        ``method`` chooses the mixture's ``method`` and ``warmup``.

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture, components sorted by the mean of the first
        feature (component k is label k + 1).
    scaling_ : FeatureScaling
        Standardisation of the features (median / interquartile range,
        fitted on the subsample).
    recipe_ : dict
        Feature recipe: ``{"features": [[name, sigma], ...], "coordinates":
        bool, "coordinate_weight": float}``.
    feature_names_ : tuple of str
        One name per feature column.
    n_channels_ : int
        Number of channels of the training image.
    scale_ : tuple of float
        Voxel size of the training image.
    n_samples_fit_ : int
        Number of voxels the mixture was fitted on.
    plan_potentials_ : numpy.ndarray
        Dual potentials of the transport plan on the fitted voxels at the
        fitted parameters (:meth:`GaussianMixture.transport_potentials`),
        used by ``assignment="plan"``.
    class_sizes_ : numpy.ndarray
        The share of the voxels each class (label 1..K) holds in the fitted
        model: the mixture's weights in label order. With given sizes and a
        ``size_tolerance`` above 1, the searched one is the share chosen.
    size_search_ : SizeSearch or None
        What the class-size search tried and chose (None without a search;
        not saved with the model).
    fit_sample_ : numpy.ndarray
        The standardised feature rows the mixture was fitted on, kept for
        :meth:`refit_steps` (only after a fit in this session; not saved, and
        left out of :meth:`fitted_copy`).
    fit_start_rng_ : numpy.random.Generator
        The random generator as the mixture's fit started (after the
        subsample was drawn), for :meth:`refit_steps`; like ``fit_sample_``.

    Notes
    -----
    With class sizes given (``weights=(0.1, 0.9)``), label k is the class
    given the k-th size: label 1 is the class of 10 %. Otherwise labels are
    ordered by the mean of the first feature (label 1 is the darkest class).

    Labelling (:meth:`predict`, :meth:`predict_proba`), class sizes and model
    files (:meth:`save`, :meth:`load`, :meth:`to_dict`, :meth:`from_dict`) come
    from :class:`~napari_sinkhorn_em.segmentation.SegmentationModel`; other
    feature sources (a dask image's, :mod:`napari_sinkhorn_em.lazy`) are fitted
    with :meth:`fit_source` and labelled with :meth:`assign`.
    """

    refit_attributes = ("fit_sample_", "fit_start_rng_")

    def fit(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> Segmenter:
        """Fit the mixture to a random subsample of the image's voxels.

        Parameters
        ----------
        image : array_like or dask.array.Array
            2-D or 3-D image, optionally with a channel axis. A dask array
            (e.g. a zarr store) is fitted without loading it:
            :func:`napari_sinkhorn_em.lazy.fit_dask`, with the same result.
        channel_axis : int or None, default None
            Axis of ``image`` holding channels; None for one channel.
        scale : sequence of float or None, default None
            Voxel size per spatial axis (physical units of ``sigmas``); None
            means 1 for every axis.
        mask : array_like of bool or None, default None
            Only voxels where the mask is True are used.
        progress : callable or None, default None
            Called as ``progress(stage, fraction)`` with stages
            ``"features"`` and ``"fit"``.

        Returns
        -------
        Segmenter
            ``self``, fitted.
        """
        if is_dask_array(image):
            return fit_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress)
        return self.fit_source(settings_source(self, image, channel_axis, scale, mask, self.feature_recipe()), progress)

    def fit_steps(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
    ) -> Iterator[Progress]:
        """Fit like :meth:`fit`, yielding a :class:`Progress` report after every stage and iteration.

        The Segmenter is fitted once the generator is exhausted. Closing the
        generator early (``generator.close()``, which napari's worker does when
        a run is cancelled) abandons the fit and leaves a previous fit intact.
        Parameters are as for :meth:`fit`.
        """
        if is_dask_array(image):
            yield from fit_dask_steps(self, image, channel_axis=channel_axis, scale=scale, mask=mask)
            return
        yield from self.fit_source_steps(settings_source(self, image, channel_axis, scale, mask, self.feature_recipe()))

    def refit_steps(self, *, epsilon: float) -> Iterator[Progress]:
        """Refit at a new ε on the same pixels, as cheaply as the method allows.

        Features, subsample and standardisation are reused. With
        ``method="sinkhorn"`` the mixture continues from its fitted means,
        covariances and Sinkhorn potentials (a warm start), which is much faster
        than a new fit: it is what makes a live ε slider responsive. With
        ``"sinkhorn_start"`` the warm-up depends on ε, so the mixture is fitted
        anew from the same start, exactly as a new fit at this ε would be. EM's
        fit does not depend on ε; only the transport plan of
        ``assignment="plan"`` is solved again. Yields :class:`Progress` like
        :meth:`fit_steps`; closing the generator early leaves the current fit
        intact.
        """
        if not hasattr(self, "fit_sample_"):
            raise RuntimeError("refit_steps needs a Segmenter fitted in this session; call fit(image) first.")
        epsilon = check_epsilon(epsilon)
        if self.method == "sinkhorn_start":
            mixture = self.new_mixture(copy.deepcopy(self.fit_start_rng_))
        else:
            mixture = copy.deepcopy(self.mixture_)
            mixture.warm_start = True
        mixture.epsilon = epsilon
        if self.method != "em":
            yield from mixture_fit_steps(mixture, self.fit_sample_)
            order_components(mixture, self.given_class_sizes())
        self.plan_potentials_ = solve_plan(mixture, self.fit_sample_, self.assignment)
        self.mixture_ = mixture
        self.epsilon = epsilon
        yield Progress("fit", 1.0, f"{METHOD_NAMES[self.method]} refit at ε = {epsilon:g} finished")

    def fit_predict(
        self,
        image: Any,
        *,
        channel_axis: int | None = None,
        scale: Sequence[float] | None = None,
        mask: Any = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Fit on the image and label it: the same labels as ``fit(image).predict(image)``.

        The features are computed once when they fit in ``memory_limit``.
        Parameters and return value are as for :meth:`fit` and
        :meth:`predict`.
        """
        if is_dask_array(image):
            fit_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask, progress=progress)
            return predict_dask(self, image, channel_axis=channel_axis, scale=scale, mask=mask)
        source = settings_source(self, image, channel_axis, scale, mask, self.feature_recipe(), keep=True)
        return self.fit_source(source, progress).assign(source, progress)

    # ------------------------------------------------------------ feature sources
    def fit_source(self, source: FitSource, progress: ProgressCallback | None = None) -> Segmenter:
        """Fit on the feature rows of a source, as :meth:`fit` does on an image's.

        Parameters
        ----------
        source : FitSource
            The unstandardised feature rows (see :mod:`napari_sinkhorn_em.contracts`),
            made with the recipe :meth:`feature_recipe` gives.
        progress : callable or None, default None
            Called as ``progress(stage, fraction)`` with stages ``"features"`` and ``"fit"``.

        Returns
        -------
        Segmenter
            ``self``, fitted.
        """
        for report in self.fit_source_steps(source):
            report_progress(progress, report.stage, report.fraction)
        return self

    def fit_source_steps(self, source: FitSource) -> Iterator[Progress]:
        """Fit like :meth:`fit_source`, yielding a :class:`Progress` report like :meth:`fit_steps`."""
        n_components = check_positive_int(self.n_components, "n_components")
        self.mixture_settings()
        if self.sample_size is not None:
            check_positive_int(self.sample_size, "sample_size")
        rng = check_random_state(self.random_state)
        check_enough_points(source.n_points, n_components)
        sample = None
        if self.sample_size is not None and self.sample_size < source.n_points:
            sample = np.sort(rng.choice(source.n_points, size=self.sample_size, replace=False))
        rows = yield from sampled_rows(source, sample)
        robust = np.arange(len(source.names)) < source.n_feature_columns
        scaling = fit_robust_scaling(rows, source.names, robust)
        X = leave_out_far_outliers(scaling.apply(rows, copy=False))

        mixture_rng = copy.deepcopy(rng)
        yield Progress("fit", 0.0, f"Fitting {METHOD_NAMES[self.method]} on {X.shape[0]:,} pixels")
        class_sizes = self.given_class_sizes()
        check_class_sizes_fit(class_sizes, X.shape[0])
        self.size_search_ = None
        mixture, self.size_search_ = yield from self._fit_mixture_steps(X, class_sizes, rng)
        order_components(mixture, class_sizes)

        self.mixture_ = mixture
        self.plan_potentials_ = solve_plan(mixture, X, self.assignment)
        self.scaling_ = scaling
        self.recipe_ = dict(source.recipe)
        self.feature_names_ = source.names
        self.n_channels_ = source.n_channels
        self.scale_ = source.scale
        self.n_samples_fit_ = int(X.shape[0])
        self.fit_sample_ = X
        self.fit_start_rng_ = mixture_rng
        yield Progress("fit", 1.0, f"{METHOD_NAMES[self.method]} fit finished")

    def _fit_mixture_steps(self, X: np.ndarray, class_sizes: np.ndarray | None, rng: Any):
        """Fit a new mixture on ``X``, searching a class size where asked; returns (mixture, search or None)."""
        if self.method == "sinkhorn" and class_sizes is not None and float(self.size_tolerance) != 1.0:

            def mixture_of(sizes: np.ndarray) -> GaussianMixture:
                # The same start for every share, so that the fits differ by their share alone.
                return self.new_mixture(copy.deepcopy(rng), weights=sizes)

            return (yield from size_search_fit_steps(X, class_sizes, self.size_tolerance, mixture_of))
        mixture = self.new_mixture(rng)
        yield from mixture_fit_steps(mixture, X)
        return mixture, None


#: A Segmenter's default settings (``Segmenter().get_params()``, read-only; copy it with ``dict()``
#: to change it): the command line's and the widget's starting values, so that they cannot drift
#: from the library's.
SEGMENTER_DEFAULTS = MappingProxyType(Segmenter().get_params())
