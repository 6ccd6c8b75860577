"""Tests of the neurons recipe (napari_sinkhorn_em.neurons.segment_neurons) on a small synthetic NeuroPAL head."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em import data
from napari_sinkhorn_em.features import otsu_foreground
from napari_sinkhorn_em.neurons import (
    CATEGORY_CODES,
    MIN_VOXELS_PER_NEURON,
    NeuronSegmentation,
    find_neuron_peaks,
    match_neurons,
    model_position_covariances,
    nuclei_foreground,
    pan_neuronal_foreground,
    segment_neurons,
    suggest_n_neurons,
)
from napari_sinkhorn_em.segmentation import Segmenter

N_NEURONS = 30
# A head of 30 neurons at a coarse voxel size: (38, 72, 277) voxels, about 1,000 of them in nuclei.
SMALL_HEAD = {"n_neurons": N_NEURONS, "voxel_size": (1.0, 0.6, 0.6)}
PAN_NEURONAL = 3


@pytest.fixture(scope="module")
def head():
    return data.neuropal_head(**SMALL_HEAD)


@pytest.fixture(scope="module")
def found(head):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and re-seeding notes of the fit
        return segment_neurons(head.image, channel_axis=0, scale=head.scale, channel_names=head.channel_names)


@pytest.fixture(scope="module")
def against_truth(found, head):
    return match_neurons(found.labels, head.labels, scale=head.scale)


def test_finds_most_neurons_of_the_head(found, against_truth):
    assert isinstance(found, NeuronSegmentation)
    assert against_truth.n_matched >= 0.7 * N_NEURONS
    assert found.labels.dtype == np.uint16
    assert found.labels.shape == found.foreground.shape
    assert not np.any(found.labels[~found.foreground])


def test_centres_are_in_micrometres_at_the_true_centres(found, head, against_truth):
    rows = {label: row for row, label in enumerate(found.table["label"])}
    centres = found.centres_um()
    assert centres.shape == (len(found.table["label"]), 3)
    pairs = against_truth.matched_pairs
    distances = [np.linalg.norm(centres[rows[a]] - head.centres_um[b - 1]) for a, b in pairs]
    assert max(distances) <= 1.5
    # The columns are in µm, not voxel indices: x spans most of the head.
    assert np.allclose(centres[:, 2], found.table["x_um"])
    assert found.table["x_um"].max() > 0.5 * head.image.shape[-1] * head.scale[2]


def test_suggested_number_is_close_to_the_truth(found):
    assert found.n_neurons == found.suggested_n_neurons
    assert abs(found.suggested_n_neurons - N_NEURONS) <= 0.3 * N_NEURONS


def test_default_foreground_is_the_nuclei_not_their_halo(head, found):
    truth = head.labels > 0
    assert np.array_equal(found.foreground, nuclei_foreground(head.image, channel_axis=0, channel=PAN_NEURONAL))
    assert 0.8 <= found.foreground.sum() / truth.sum() <= 1.15
    assert np.count_nonzero(found.foreground & truth) >= 0.8 * truth.sum()
    # Otsu's threshold keeps the blur around the nuclei too: about 1.5 times their volume.
    assert otsu_foreground(head.image, channel_axis=0, channel=PAN_NEURONAL).sum() > 1.3 * truth.sum()


def test_pan_neuronal_foreground_is_that_channels_nuclei_or_those_of_the_channels_sum(head, found):
    channels_last = np.moveaxis(head.image, 0, -1)
    by_channel = pan_neuronal_foreground(channels_last, channel_axis=-1, pan_neuronal_channel=PAN_NEURONAL)
    assert np.array_equal(by_channel, found.foreground)
    summed = pan_neuronal_foreground(head.image, channel_axis=0)
    assert np.array_equal(summed, nuclei_foreground(head.image.sum(axis=0, dtype=np.float64)))
    with pytest.raises(ValueError, match="pan_neuronal_channel=4 does not exist"):
        pan_neuronal_foreground(head.image, channel_axis=0, pan_neuronal_channel=4)


def test_table_has_confidence_and_the_model_covariances_of_each_label(found):
    table = found.table
    assert set(found.colour_columns) == {"mean_mTagBFP2", "mean_CyOFP1", "mean_mNeptune2.5"}
    assert "mean_pan-neuronal" not in table
    assert np.all((table["mean_confidence"] > 0) & (table["mean_confidence"] <= 1))
    covariances = model_position_covariances(found.segmenter)
    assert covariances.shape == (found.n_neurons, 3, 3)
    labels = table["label"]
    assert np.allclose(table["model_cxx_um2"], covariances[labels - 1, 2, 2])
    assert np.all(table["n_voxels"] >= MIN_VOXELS_PER_NEURON)
    assert isinstance(found.segmenter, Segmenter)
    assert found.segmenter.n_samples_fit_ == found.foreground.sum()  # every foreground voxel


def test_colours_follow_the_colour_channels_in_order(found, head, against_truth):
    rgb = found.colours_rgb()
    assert rgb.shape == (len(found.table["label"]), 3)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    rows = {label: row for row, label in enumerate(found.table["label"])}
    measured = np.array([rgb[rows[a]] for a, _ in against_truth.matched_pairs])
    true = head.colours[against_truth.matched_pairs[:, 1] - 1]
    for channel in range(3):  # red = colour channel 0 (mTagBFP2) here, as given
        assert np.corrcoef(measured[:, channel], true[:, channel])[0, 1] > 0.8


def test_summary_is_one_sentence_with_the_count(found):
    text = found.summary()
    assert text.startswith(f"Found {len(found.table['label'])} neurons in ")
    assert "µm³" in text and text.endswith(".") and "\n" not in text


def test_too_many_neurons_are_refused_with_the_reason(head, found):
    too_many = int(found.foreground.sum()) // MIN_VOXELS_PER_NEURON + 1
    with pytest.raises(ValueError, match=f"{too_many} neurons cannot be fitted to .* foreground voxels"):
        segment_neurons(head.image, channel_axis=0, scale=head.scale, n_neurons=too_many)


def test_missing_voxel_size_warns_that_positions_are_in_voxels(head):
    with pytest.warns(UserWarning, match="No voxel size was given.*in voxels.*give the voxel size in µm"):
        result = segment_neurons(head.image, channel_axis=0, scale=None, n_neurons=5, max_iter=3)
    assert result.scale == (1.0, 1.0, 1.0)
    assert "voxels" in result.summary()


def test_a_given_mask_and_channels_are_used(head):
    mask = head.labels > 0
    stages = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment_neurons(head.image, channel_axis=0, scale=head.scale, mask=mask, colour_channels=(2, 1, 0),
                                 n_neurons=N_NEURONS, progress=lambda stage, fraction: stages.add(stage))
    assert np.array_equal(result.foreground, mask)
    assert result.suggested_n_neurons == len(find_neuron_peaks(head.image[PAN_NEURONAL], mask, head.scale))
    assert result.colour_channels == (2, 1, 0) and result.pan_neuronal_channel == PAN_NEURONAL
    assert result.colour_columns == ("mean_channel_2", "mean_channel_1", "mean_channel_0")
    assert {"features", "fit", "assign"} <= stages
    assert match_neurons(result.labels, head.labels, scale=head.scale).n_matched >= 0.7 * N_NEURONS


def test_one_channel_stack_and_no_pan_neuronal_channel(head):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = segment_neurons(head.image[PAN_NEURONAL], channel_axis=None, scale=head.scale, n_neurons=10,
                                 max_iter=5)
        every = segment_neurons(head.image, channel_axis=0, scale=head.scale, pan_neuronal_channel=False,
                                n_neurons=10, max_iter=5)
    assert single.colour_channels == (0,) and single.pan_neuronal_channel is None
    assert single.colours_rgb()[:, 1:].max() == 0.0  # one colour: red only
    assert every.colour_channels == (0, 1, 2, 3) and every.pan_neuronal_channel is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"pan_neuronal_channel": 7}, "pan_neuronal_channel=7 does not exist: the image has 4 channel"),
        ({"colour_channels": (0, 0)}, "distinct channels"),
        ({"channel_axis": 4}, "channel_axis=4 does not exist"),
        ({"channel_axis": None}, "4 axes besides the channels.* give it as channel_axis"),
        ({"nucleus_radius_um": 0}, "nucleus_radius_um must be a number above 0"),
        ({"scale": (1.0, 0.6)}, "scale must give one voxel size in µm per axis"),
        ({"mask": np.ones((3, 3, 3), dtype=bool)}, "mask must be a True/False image of the image's spatial shape"),
    ],
)
def test_bad_settings_are_explained(head, arguments, message):
    settings = {"channel_axis": 0, "scale": head.scale, **arguments}
    with pytest.raises(ValueError, match=message):
        segment_neurons(head.image, **settings)


def test_category_table_lists_every_neuron_with_its_counterparts():
    a = np.zeros((1, 6, 12), dtype=np.uint16)
    b = np.zeros_like(a)
    a[0, :3, :4] = 1  # matched with b's 1
    b[0, :3, :4] = 1
    a[0, :, 6:12] = 2  # split into b's 2 and 3
    b[0, :3, 6:12] = 2
    b[0, 3:, 6:12] = 3
    a[0, 5, 0] = 3  # missing from b
    match = match_neurons(a, b, scale=(1.0, 1.0, 1.0), centre_distance_um=0.5)
    table = match.category_table(("EM", "Sinkhorn-EM"))
    rows = list(zip(table["segmentation"], table["label"], table["category"], table["counterparts"]))
    assert rows == [
        ("EM", 1, "matched", "1"),
        ("EM", 2, "split", "2 3"),
        ("EM", 3, "missing", ""),
        ("Sinkhorn-EM", 1, "matched", "1"),
        ("Sinkhorn-EM", 2, "split", "2"),
        ("Sinkhorn-EM", 3, "split", "2"),
    ]
    assert table["iou"][0] == 1.0 and np.isnan(table["iou"][1])
    assert np.allclose(table["y_um"][[0, 3]], 1.0)
    assert CATEGORY_CODES["split"] == 2
