"""Neurons of a NeuroPAL stack: the recipe, how many to fit, clean-up, a table per neuron, matching.

The NeuroPAL workflow fits one Gaussian per neuron to the positions (µm) and
colours of the foreground voxels of a *C. elegans* head; the argmax component
of each voxel becomes its label (0 = background, label k = component k − 1).

* :func:`segment_neurons` -- the whole recipe in one call: the foreground
  (:func:`nuclei_foreground` of the pan-neuronal channel), the number of
  neurons, the fit (a :class:`~napari_sinkhorn_em.segmentation.Segmenter` on
  colour and position), clean labels and the neuron table, returned as a
  :class:`NeuronSegmentation`.

The steps are also available one by one, to turn any label image into what a
NeuroPAL user works with:

* :func:`suggest_n_neurons` -- how many neurons (components) to ask for, from
  the foreground volume; :func:`check_n_neurons` -- whether that many can be
  fitted to the foreground at all.
* :func:`clean_instances` -- one connected body per neuron: detached pieces go
  to the neuron they touch or are dropped, specks are dropped. Surviving
  labels keep their numbers.
* :func:`neuron_table` -- one row per neuron: centre and position covariance
  in µm, volume, mean colour, mean confidence; :func:`write_neuron_table`
  writes it as CSV and :func:`napari_features` shapes it for a napari Labels
  layer. :func:`model_position_covariances` reads the fitted Gaussians'
  position covariances (µm²) from a :class:`~napari_sinkhorn_em.segmentation.Segmenter`.
* :func:`match_neurons` -- compares two segmentations of the same stack (EM
  against Sinkhorn-EM, or a prediction against a ground truth) neuron by
  neuron: matched, split, merged, moved, missing and extra, with a label
  image of the categories for display and a table of them
  (:meth:`NeuronMatch.category_table`); :func:`match_centres` pairs two sets
  of centres (e.g. annotated neuron positions) one to one within a distance.

Physical positions follow napari's convention for a layer with ``scale``:
the voxel of index ``(i, j, k)`` sits at ``(i, j, k) * scale`` (its centre),
so a centre in µm divided by ``scale`` is a (fractional) voxel index.

Nothing here needs Qt or napari.
"""

from .recipe import (
    CATEGORY_CODES,
    COLOUR_STRETCH_PERCENTILES,
    DEFAULT_NEURON_MAX_ITER,
    DEFAULT_NUCLEUS_RADIUS_UM,
    MAX_FIT_VOXELS,
    MIN_VOXELS_PER_NEURON,
    NEURON_INIT,
    PART_FRACTION,
    CleanedInstances,
    NeuronMatch,
    NeuronSegmentation,
    check_n_neurons,
    clean_instances,
    match_centres,
    match_neurons,
    model_position_covariances,
    napari_features,
    neuron_table,
    nuclei_foreground,
    segment_neurons,
    suggest_n_neurons,
    write_neuron_table,
)

__all__ = [
    "CATEGORY_CODES",
    "COLOUR_STRETCH_PERCENTILES",
    "CleanedInstances",
    "DEFAULT_NEURON_MAX_ITER",
    "DEFAULT_NUCLEUS_RADIUS_UM",
    "MAX_FIT_VOXELS",
    "MIN_VOXELS_PER_NEURON",
    "NEURON_INIT",
    "NeuronMatch",
    "NeuronSegmentation",
    "PART_FRACTION",
    "check_n_neurons",
    "clean_instances",
    "match_centres",
    "match_neurons",
    "model_position_covariances",
    "napari_features",
    "neuron_table",
    "nuclei_foreground",
    "segment_neurons",
    "suggest_n_neurons",
    "write_neuron_table",
]
