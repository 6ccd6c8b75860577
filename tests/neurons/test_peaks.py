"""The neurons' start at the bright spots of the pan-neuronal channel (find_neuron_peaks, peak_starting_means)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em import data
from napari_sinkhorn_em.features import extract_features
from napari_sinkhorn_em.neurons import (
    NEURON_INIT,
    PEAK_DISTANCE_FACTOR,
    PEAK_SIGMA_FACTOR,
    find_neuron_peaks,
    match_centres,
    match_neurons,
    neuron_method,
    nuclei_foreground,
    pan_neuronal_image,
    peak_starting_means,
    segment_neurons,
    suggest_n_neurons,
    suggest_n_neurons_from_peaks,
)
from napari_sinkhorn_em.segmentation import Segmenter

SCALE = (0.75, 0.3, 0.3)
N_NEURONS = 30
SMALL_HEAD = {"n_neurons": N_NEURONS, "voxel_size": (1.0, 0.6, 0.6)}
PAN_NEURONAL = 3


def blobs(centres_um, shape=(16, 40, 40), scale=SCALE, radius=1.4):
    """Bright balls of ``radius`` µm (value 100) at ``centres_um`` on a background of 10, softly edged."""
    grid = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, scale)], indexing="ij"), axis=-1)
    image = np.full(shape, 10.0)
    for centre in centres_um:
        distance = np.linalg.norm(grid - np.asarray(centre), axis=-1)
        image = np.maximum(image, 10.0 + 90.0 / (1.0 + np.exp((distance - radius) / 0.2)))
    return image


@pytest.fixture(scope="module")
def head():
    return data.neuropal_head(**SMALL_HEAD)


@pytest.fixture(scope="module")
def foreground(head):
    return nuclei_foreground(head.image, channel_axis=0, channel=PAN_NEURONAL)


def test_one_peak_per_nucleus_of_a_small_head_near_its_true_centre(head, foreground):
    peaks = find_neuron_peaks(head.image[PAN_NEURONAL], foreground, head.scale)
    assert peaks.dtype == np.int64 and peaks.shape == (N_NEURONS, 3)
    assert foreground[tuple(peaks.T)].all()
    true_rows, _, distance = match_centres(head.centres_um, peaks * np.asarray(head.scale), max_distance_um=1.0)
    assert len(true_rows) == N_NEURONS  # every nucleus has its own peak within 1 µm
    assert distance.max() < 1.0


def test_two_touching_nuclei_give_two_peaks_where_a_blur_would_give_one():
    # Centres 2.6 µm apart along y (radius 1.4 µm each: the balls overlap), on the anisotropic grid.
    centres = [(6.0, 4.4, 6.0), (6.0, 7.0, 6.0)]
    image = blobs(centres)
    peaks = find_neuron_peaks(image, image > 55.0, SCALE)
    assert len(peaks) == 2
    found = peaks * np.asarray(SCALE)
    rows, _, distance = match_centres(np.array(centres), found, max_distance_um=0.5)
    assert len(rows) == 2
    # Strongest first: equal balls, so their filtered values tie to round-off and both orders are fine,
    # but a dimmer third ball comes last.
    dim = blobs([*centres, (6.0, 5.7, 9.0)])
    dim[..., 25:] = 10.0 + (dim[..., 25:] - 10.0) * 0.5
    ranked = find_neuron_peaks(dim, dim > 30.0, SCALE)
    assert len(ranked) == 3 and ranked[-1][2] * SCALE[2] > 8.0


def test_peaks_stay_inside_the_foreground_and_a_flat_image_has_none():
    image = blobs([(6.0, 5.0, 5.0), (6.0, 5.0, 9.0)])
    left = np.zeros(image.shape, dtype=bool)
    left[..., :23] = True  # x < 6.9 µm: only the first ball
    peaks = find_neuron_peaks(image, left, SCALE)
    assert len(peaks) == 1 and abs(peaks[0][2] * SCALE[2] - 5.0) <= 0.3
    assert len(find_neuron_peaks(np.full((8, 8), 3.0), np.ones((8, 8), bool), (1.0, 1.0))) == 0


def test_a_plateau_of_equal_maxima_gives_one_peak():
    image = np.zeros((20, 20))
    image[8:12, 8:12] = 1.0
    peaks = find_neuron_peaks(image, np.ones(image.shape, bool), (1.0, 1.0), nucleus_radius_um=4.0)
    assert len(peaks) == 1 and np.all((peaks[0] >= 8) & (peaks[0] < 12))


@pytest.mark.parametrize(
    ("image", "mask", "scale", "radius", "message"),
    [
        (np.zeros((2, 3, 4, 5)), np.ones((2, 3, 4, 5), bool), (1, 1, 1), 1.4, "one 2-D or 3-D channel"),
        (np.full((4, 4), np.nan), np.ones((4, 4), bool), (1, 1), 1.4, "NaN or infinite"),
        (np.zeros((4, 4)), np.ones((4, 5), bool), (1, 1), 1.4, "foreground must be a True/False image"),
        (np.zeros((4, 4)), np.ones((4, 4), bool), (1,), 1.4, "scale"),
        (np.zeros((4, 4)), np.ones((4, 4), bool), (1, 1), 0.0, "nucleus_radius_um must be a number above 0"),
    ],
)
def test_bad_input_to_find_neuron_peaks_is_explained(image, mask, scale, radius, message):
    with pytest.raises(ValueError, match=message):
        find_neuron_peaks(image, mask, scale, radius)


def test_starting_means_are_the_peaks_rows_in_the_fitted_feature_space(head, foreground):
    peaks = find_neuron_peaks(head.image[PAN_NEURONAL], foreground, head.scale)
    colours = head.image[:3]
    weight = 1 / 1.4
    stack = extract_features(colours, channel_axis=0, scale=head.scale, coordinates=True, coordinate_weight=weight,
                             mask=foreground)
    means = peak_starting_means(stack, peaks, len(peaks))
    assert means.shape == (len(peaks), 6) and means.dtype == np.float64
    # Positions: µm times the coordinate weight; colours: standardised values at the peak voxel.
    assert np.allclose(means[:, 3:], peaks * np.asarray(head.scale) * weight, atol=1e-4)
    raw = colours[(slice(None), *peaks.T)].T.astype(np.float64)
    assert np.allclose(means[:, :3], (raw - stack.scaling.centre[:3]) / stack.scaling.spread[:3], atol=1e-4)
    # The Segmenter, fitted on every foreground voxel, standardises exactly so.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segmenter = Segmenter(len(peaks), method="em", coordinates=True, coordinate_weight=weight, sample_size=None,
                              means_init=means, max_iter=2).fit(colours, channel_axis=0, scale=head.scale,
                                                               mask=foreground)
    assert np.array_equal(segmenter.scaling_.centre, stack.scaling.centre)
    assert np.array_equal(segmenter.scaling_.spread, stack.scaling.spread)


def test_fewer_peaks_than_means_are_completed_by_distinct_feature_rows(head, foreground):
    peaks = find_neuron_peaks(head.image[PAN_NEURONAL], foreground, head.scale)[:5]
    stack = extract_features(head.image[:3], channel_axis=0, scale=head.scale, coordinates=True, mask=foreground)
    means = peak_starting_means(stack, peaks, 12, random_state=3)
    assert means.shape == (12, 6)
    assert len(np.unique(means, axis=0)) == 12
    rows = {tuple(row) for row in stack.data.astype(np.float64)}
    assert all(tuple(mean) in rows for mean in means)
    assert np.array_equal(means, peak_starting_means(stack, peaks, 12, random_state=3))
    assert np.array_equal(means[:3], peak_starting_means(stack, peaks, 3))  # the strongest peaks first


def test_bad_peaks_are_refused(head, foreground):
    stack = extract_features(head.image[:3], channel_axis=0, scale=head.scale, coordinates=True, mask=foreground)
    outside = np.argwhere(~foreground)[:1]
    with pytest.raises(ValueError, match="inside the features' mask"):
        peak_starting_means(stack, outside, 1)
    with pytest.raises(ValueError, match=r"voxel indices of shape \(n, 3\)"):
        peak_starting_means(stack, np.zeros((2, 2), dtype=int), 1)
    with pytest.raises(ValueError, match="cannot be drawn from"):
        peak_starting_means(stack, np.argwhere(foreground)[:1], stack.data.shape[0] + 1)


def test_the_recipe_starts_at_the_peaks_and_fits_by_em(head, foreground):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = segment_neurons(head.image, channel_axis=0, scale=head.scale)
    peaks = find_neuron_peaks(head.image[PAN_NEURONAL], foreground, head.scale)
    assert NEURON_INIT == "peaks" and found.init == "peaks" and found.suggested_by == "peaks"
    assert found.n_neurons == found.suggested_n_neurons == len(peaks)
    assert found.segmenter.method == "em" == neuron_method()
    start = np.asarray(found.segmenter.mixture_options["means_init"])
    assert np.allclose(np.sort(start[:, 3:], axis=0), np.sort(peaks * np.asarray(head.scale) / 1.4, axis=0),
                       atol=1e-4)
    assert "as suggested by the bright spots" in found.summary()
    assert match_neurons(head.labels, found.labels, scale=head.scale).n_matched >= N_NEURONS - 1


def test_the_kmeans_start_is_the_recipe_before(head, foreground):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = segment_neurons(head.image, channel_axis=0, scale=head.scale, init="kmeans", max_iter=5)
    assert before.suggested_by == "volume" and before.init == "kmeans"
    assert before.suggested_n_neurons == suggest_n_neurons(foreground, head.scale)
    assert before.segmenter.method == "sinkhorn_start" == neuron_method(init="kmeans")
    assert "means_init" not in before.segmenter.mixture_options
    assert "as suggested by the foreground volume" in before.summary()
    assert neuron_method("sinkhorn", "peaks") == "sinkhorn"


def test_a_given_number_of_neurons_takes_the_strongest_peaks(head, foreground):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        few = segment_neurons(head.image, channel_axis=0, scale=head.scale, n_neurons=10, max_iter=3)
    peaks = find_neuron_peaks(head.image[PAN_NEURONAL], foreground, head.scale)[:10]
    start = np.asarray(few.segmenter.mixture_options["means_init"])
    assert few.n_neurons == 10 and start.shape == (10, 6)
    assert np.allclose(start[:, 3:], peaks * np.asarray(head.scale) / 1.4, atol=1e-4)
    assert "10 fitted; the bright spots suggest" in few.summary()


def test_an_unknown_start_is_refused(head):
    with pytest.raises(ValueError, match="init must be one of 'peaks', 'kmeans'; got 'random'"):
        segment_neurons(head.image, channel_axis=0, scale=head.scale, init="random")
    with pytest.raises(ValueError, match="init must be one of"):
        neuron_method(init="kmeans++")


def test_the_suggested_number_is_one_per_peak_else_the_volume(head, foreground):
    pan = head.image[PAN_NEURONAL]
    assert suggest_n_neurons_from_peaks(pan, foreground, head.scale) == (N_NEURONS, "peaks")
    peaks = find_neuron_peaks(pan, foreground, head.scale)
    assert suggest_n_neurons_from_peaks(pan, foreground, head.scale, peaks=peaks[:7]) == (7, "peaks")
    # A flat channel has no peak: the foreground volume decides.
    flat = np.full(pan.shape, 5.0)
    assert suggest_n_neurons_from_peaks(flat, foreground, head.scale) == (
        suggest_n_neurons(foreground, head.scale), "volume")
    # At most one neuron per MIN_VOXELS_PER_NEURON foreground voxels.
    speck = np.zeros(pan.shape, dtype=bool)
    speck[tuple(peaks[:3].T)] = True
    assert suggest_n_neurons_from_peaks(pan, speck, head.scale) == (1, "peaks")


@pytest.mark.parametrize("scale", [(0.75, 0.3, 0.3), (1.0, 1.0, 1.0), (3.0, 0.5, 0.5)])
def test_peaks_are_the_largest_values_of_their_whole_neighbourhood(scale):
    # The definition, by brute force: the largest filtered value within the distance (an ellipsoid of at
    # least one voxel per axis), edges repeated, above 0.1 % of the largest, inside the foreground.
    from scipy import ndimage

    image = ndimage.gaussian_filter(np.random.default_rng(0).random((12, 30, 30)), 1.0)
    foreground = image > np.median(image)
    radius = 1.4
    sigma = [PEAK_SIGMA_FACTOR * radius / size for size in scale]
    response = -ndimage.gaussian_laplace(image - np.median(image), sigma, mode="nearest")
    semi = [max(1.0, PEAK_DISTANCE_FACTOR * radius / size) for size in scale]
    grids = np.meshgrid(*[np.arange(-int(k), int(k) + 1) / k for k in semi], indexing="ij")
    footprint = sum(grid**2 for grid in grids) <= 1.0
    brute = (response == ndimage.maximum_filter(response, footprint=footprint, mode="nearest"))
    brute &= (response > 1e-3 * response.max()) & foreground
    found = find_neuron_peaks(image, foreground, scale, radius)
    assert len(found) > 3
    assert {tuple(p) for p in found} == {tuple(p) for p in np.argwhere(brute)}
    assert np.all(np.diff(response[tuple(found.T)]) <= 0)  # strongest first


def test_the_pan_neuronal_image_is_its_channel_or_the_sum(head):
    assert np.array_equal(pan_neuronal_image(head.image, channel_axis=0, pan_neuronal_channel=3), head.image[3])
    assert np.array_equal(pan_neuronal_image(head.image, channel_axis=0), head.image.sum(axis=0, dtype=np.float64))
    with pytest.raises(ValueError, match="pan_neuronal_channel=4 does not exist"):
        pan_neuronal_image(head.image, channel_axis=0, pan_neuronal_channel=4)
