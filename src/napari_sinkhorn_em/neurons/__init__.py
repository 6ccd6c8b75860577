"""Neurons of a NeuroPAL stack: the recipe, how many to fit, clean-up, a table per neuron, matching.

The NeuroPAL workflow fits one Gaussian per neuron to the positions (µm) and
colours of the foreground voxels of a *C. elegans* head; the argmax component
of each voxel becomes its label (0 = background, label k = component k − 1).

* :func:`segment_neurons` -- the whole recipe in one call, returned as a
  :class:`NeuronSegmentation`:

  1. **Foreground**: ``mask``, or the nuclei of the pan-neuronal channel (of
     the sum of the channels when there is none): :func:`pan_neuronal_foreground`,
     the :func:`nuclei_foreground` (the half-maximum between the background
     and the typical nucleus peak, so that the blurred halo around each
     nucleus stays out) of that channel.
  2. **How many, and where**: :func:`find_neuron_peaks`, the bright spots
     of the pan-neuronal channel (of the sum of the channels when there is
     none) inside the foreground, at least one ``nucleus_radius_um`` apart;
     ``n_neurons``, or the number of spots (:func:`suggest_n_neurons` of
     the foreground volume at ``nucleus_radius_um`` with ``init="kmeans"``
     or when there is none); :func:`check_n_neurons` refuses more than one
     neuron per 10 foreground voxels.
  3. **Features** of each foreground voxel: the intensity of each colour
     channel, standardised (median / interquartile range over the
     foreground), and its position in µm (``index * scale``) times
     ``coordinate_weight``, by default ``1 / nucleus_radius_um``, so that
     one nucleus radius counts as much as one colour IQR. The
     pan-neuronal channel is not a feature (every neuron is bright in it).
  4. **Fit**: a :class:`~napari_sinkhorn_em.segmentation.Segmenter` with K
     full-covariance Gaussians, each started at the features of one spot
     (:func:`peak_starting_means`, :data:`NEURON_INIT`), fitted by EM
     (:func:`neuron_method`) on every foreground voxel (a random
     :data:`MAX_FIT_VOXELS` of them when there are more). ``init="kmeans"``
     is the recipe before issue 17: k-means means and the Sinkhorn start.
  5. **Labels**: each foreground voxel gets its most probable component
     (label k = component k − 1), then :func:`clean_instances` makes each
     neuron one connected body and drops specks below ``min_voxels``.
  6. **Table**: :func:`neuron_table` of the cleaned labels with the mean
     confidence and the fitted Gaussians' position covariances
     (:func:`model_position_covariances`).

The steps are also available one by one, to turn any label image into what a
NeuroPAL user works with:

* :func:`find_neuron_peaks` -- the bright spots of a channel inside a
  foreground (the neurons' centres, strongest first); :func:`peak_starting_means`
  -- a mixture's starting means at them, in its feature space;
  :func:`suggest_n_neurons_from_peaks` -- the recipe's default K, one per spot.
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

from .counting import DEFAULT_NUCLEUS_RADIUS_UM, MIN_VOXELS_PER_NEURON, check_n_neurons, suggest_n_neurons
from .instances import CleanedInstances, clean_instances
from .matching import CATEGORY_CODES, PART_FRACTION, NeuronMatch, match_centres, match_neurons
from .recipe import (
    COLOUR_STRETCH_PERCENTILES,
    DEFAULT_NEURON_MAX_ITER,
    MAX_FIT_VOXELS,
    NEURON_INIT,
    NEURON_INITS,
    NeuronSegmentation,
    neuron_method,
    nuclei_foreground,
    pan_neuronal_foreground,
    pan_neuronal_image,
    segment_neurons,
)
from .peaks import (
    PEAK_DISTANCE_FACTOR,
    PEAK_SIGMA_FACTOR,
    find_neuron_peaks,
    peak_starting_means,
    suggest_n_neurons_from_peaks,
)
from .table import model_position_covariances, napari_features, neuron_table, write_neuron_table

__all__ = [
    "CATEGORY_CODES",
    "COLOUR_STRETCH_PERCENTILES",
    "CleanedInstances",
    "DEFAULT_NEURON_MAX_ITER",
    "DEFAULT_NUCLEUS_RADIUS_UM",
    "MAX_FIT_VOXELS",
    "MIN_VOXELS_PER_NEURON",
    "NEURON_INIT",
    "NEURON_INITS",
    "NeuronMatch",
    "NeuronSegmentation",
    "PART_FRACTION",
    "PEAK_DISTANCE_FACTOR",
    "PEAK_SIGMA_FACTOR",
    "check_n_neurons",
    "clean_instances",
    "find_neuron_peaks",
    "match_centres",
    "match_neurons",
    "model_position_covariances",
    "napari_features",
    "neuron_method",
    "neuron_table",
    "nuclei_foreground",
    "pan_neuronal_foreground",
    "pan_neuronal_image",
    "peak_starting_means",
    "segment_neurons",
    "suggest_n_neurons",
    "suggest_n_neurons_from_peaks",
    "write_neuron_table",
]
