"""Tests of the realistic NeuroPAL head sample (napari_sinkhorn_em.data.neuropal_head)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from napari_sinkhorn_em import data

N_NEURONS = 200
SHAPE = (51, 144, 554)
VOXEL_SIZE = (0.75, 0.3, 0.3)
CAMERA_OFFSET = 100
LABELS = np.arange(1, N_NEURONS + 1)


@pytest.fixture(scope="module")
def head():
    return data.neuropal_head()


@pytest.fixture(scope="module")
def touching_pairs(head):
    """Pairs (i, j), i < j, of labels that share a voxel face."""
    pairs = set()
    for axis in range(head.labels.ndim):
        labels = np.moveaxis(head.labels, axis, 0)
        before, after = labels[:-1].ravel(), labels[1:].ravel()
        differ = (before > 0) & (after > 0) & (before != after)
        low, high = np.minimum(before, after)[differ], np.maximum(before, after)[differ]
        pairs |= set(zip(low.tolist(), high.tolist()))
    return np.array(sorted(pairs))


def test_shapes_dtypes_and_metadata(head):
    assert head.image.shape == (4, *SHAPE)
    assert head.image.dtype == np.uint16
    assert head.labels.shape == SHAPE
    assert head.labels.dtype == np.uint16
    assert head.foreground.dtype == bool
    np.testing.assert_array_equal(head.foreground, head.labels > 0)
    assert head.channel_axis == 0
    assert head.channel_names == data.NEUROPAL_CHANNEL_NAMES
    assert head.scale == VOXEL_SIZE
    assert head.name and head.description
    assert head.centres_um.shape == (N_NEURONS, 3)
    assert head.colours.shape == (N_NEURONS, 3)
    assert np.all((head.colours >= 0) & (head.colours <= 1))
    np.testing.assert_allclose(head.colours.max(axis=1), 1.0)


def test_is_deterministic(head):
    again = data.neuropal_head()
    np.testing.assert_array_equal(again.image, head.image)
    np.testing.assert_array_equal(again.labels, head.labels)
    np.testing.assert_array_equal(again.centres_um, head.centres_um)
    np.testing.assert_array_equal(again.colours, head.colours)
    other = data.neuropal_head(seed=1)
    assert not np.array_equal(other.labels, head.labels)
    assert not np.array_equal(other.image, head.image)


def test_has_n_neurons_each_one_connected_blob_of_nucleus_size(head):
    np.testing.assert_array_equal(np.unique(head.labels), np.arange(N_NEURONS + 1))
    for label, box in enumerate(ndimage.find_objects(head.labels), start=1):
        _, n_components = ndimage.label(head.labels[box] == label)
        assert n_components == 1, label
    volumes = np.bincount(head.labels.ravel())[1:] * np.prod(head.scale)
    radius = np.cbrt(3 * volumes / (4 * np.pi))
    assert 1.2 < np.median(radius) < 1.6
    assert radius.min() > 0.9


def test_centres_lie_in_their_labels_at_the_label_centroids(head):
    voxel = np.round(head.centres_um / head.scale).astype(int)
    np.testing.assert_array_equal(head.labels[tuple(voxel.T)], LABELS)
    centroids = np.array(ndimage.center_of_mass(head.foreground, head.labels, LABELS)) * head.scale
    assert np.linalg.norm(centroids - head.centres_um, axis=1).max() < 1.0


def test_neurons_fill_a_head_at_real_density(head):
    extent = np.ptp(head.centres_um, axis=0)
    assert 18 < extent[0] < 34 and 20 < extent[1] < 36 and 100 < extent[2] < 150
    distance, _ = cKDTree(head.centres_um).query(head.centres_um, k=2)
    nearest = distance[:, 1]
    assert 2.5 < np.median(nearest) < 4.0
    assert np.percentile(nearest, 90) < 5.0


def test_neurons_sit_in_ganglia_on_either_side_of_the_nerve_ring(head):
    ring = data._HEAD_NOSE_X_UM + data._HEAD_NERVE_RING_UM[0]
    x = head.centres_um[:, 2]
    assert not np.any(np.abs(x - ring) < 2.0)
    assert np.sum((x > ring - 15) & (x < ring)) > 20
    assert np.sum((x > ring) & (x < ring + 15)) > 60


def test_many_neurons_touch_a_neighbour_without_overlapping(head, touching_pairs):
    # Each voxel carries one label by construction; pressed nuclei share faces.
    touching = np.zeros(N_NEURONS + 1, dtype=bool)
    touching[touching_pairs.ravel()] = True
    assert touching[1:].mean() >= 0.2


def test_touching_neighbours_have_distinct_colours(head, touching_pairs):
    first, second = touching_pairs.T - 1
    assert np.linalg.norm(head.colours[first] - head.colours[second], axis=1).min() > 0.3
    # The same holds for the colours measured in the image, blur and noise included.
    image = head.image.astype(float)
    measured = np.stack([ndimage.mean(image[c], head.labels, LABELS) for c in range(3)], axis=1)
    measured -= CAMERA_OFFSET
    measured /= np.linalg.norm(measured, axis=1, keepdims=True)
    assert np.linalg.norm(measured[first] - measured[second], axis=1).min() > 0.2


def test_nuclei_lie_inside_the_autofluorescent_body(head):
    body_rng = data._rngs(0, 4)[0]
    body = data._neuropal_head_body(body_rng, SHAPE, VOXEL_SIZE).mask(SHAPE, VOXEL_SIZE)
    assert 0.3 < body.mean() < 0.7
    assert np.all(body[head.foreground])
    blue = head.image[0].astype(float)
    away_from_nuclei = ~ndimage.binary_dilation(head.foreground, iterations=3)
    assert blue[body & away_from_nuclei].mean() > blue[~body].mean() + 10
    pan = head.image[3].astype(float)
    nucleus_means = ndimage.mean(pan, head.labels, LABELS)
    assert nucleus_means.min() > np.percentile(pan[~head.foreground], 95)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        data.neuropal_head(n_neurons=0)
    with pytest.raises(ValueError):
        data.neuropal_head(size_spread=1.0)
    with pytest.raises(ValueError, match="narrower than the head"):
        data.neuropal_head(shape=(24, 144, 554))
    with pytest.raises(RuntimeError, match="no room left"):
        data.neuropal_head(n_neurons=3000)


def test_sample_layer_tuples(head, monkeypatch):
    monkeypatch.setattr(data, "neuropal_head", lambda: head)
    layers = data.neuropal_head_sample()
    assert [layer_type for _, _, layer_type in layers] == ["image", "labels", "points"]
    (image, image_meta, _), (labels, labels_meta, _), (points, points_meta, _) = layers
    np.testing.assert_array_equal(image, head.image)
    assert image_meta["channel_axis"] == 0
    assert image_meta["blending"] == "additive"
    for key in ("name", "colormap", "visible"):
        assert len(image_meta[key]) == 4, key
    np.testing.assert_array_equal(labels, head.labels)
    assert image_meta["scale"] == labels_meta["scale"] == points_meta["scale"] == head.scale
    np.testing.assert_allclose(points * head.scale, head.centres_um)
    np.testing.assert_array_equal(points_meta["features"]["label"], LABELS)


def test_sample_builds_napari_layers(head, monkeypatch):
    napari_layers = pytest.importorskip("napari.layers")
    stack_utils = pytest.importorskip("napari.layers.utils.stack_utils")
    monkeypatch.setattr(data, "neuropal_head", lambda: head)
    (image, image_meta, _), (labels, labels_meta, _), (points, points_meta, _) = data.neuropal_head_sample()
    meta = {key: value for key, value in image_meta.items() if key != "channel_axis"}
    channels = stack_utils.split_channels(image, image_meta["channel_axis"], **meta)
    assert [layer_meta["visible"] for _, layer_meta, _ in channels] == [True, True, True, False]
    assert napari_layers.Labels(labels, **labels_meta).data.shape == SHAPE
    centres = napari_layers.Points(points, **points_meta)
    assert len(centres.data) == N_NEURONS
    np.testing.assert_array_equal(centres.features["label"], LABELS)
