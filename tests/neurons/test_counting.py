"""How many neurons to fit (suggest_n_neurons, check_n_neurons): small foregrounds worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_sinkhorn_em.neurons import MIN_VOXELS_PER_NEURON, check_n_neurons, suggest_n_neurons

NEUROPAL_SCALE = (0.75, 0.3, 0.3)


def test_suggested_number_is_foreground_volume_over_nucleus_volume():
    # 10 x 20 x 20 voxels of 0.5 x 1 x 1 µm: 2000 µm³; a 1.4 µm nucleus holds 4/3 π 1.4³ = 11.49 µm³.
    foreground = np.ones((10, 20, 20), dtype=bool)
    assert suggest_n_neurons(foreground, (0.5, 1.0, 1.0)) == 174
    # A nucleus of 1 µm³ makes the count the volume itself: 100 voxels of 0.0675 µm³ = 6.75 µm³ -> 7.
    unit_radius = (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
    foreground = np.zeros((4, 10, 10), dtype=bool)
    foreground[1, :, :] = True
    assert suggest_n_neurons(foreground, NEUROPAL_SCALE, nucleus_radius_um=unit_radius) == 7
    # 2-D: the area over the nucleus's cross-section: 400 µm² / (π 2²) = 31.8 -> 32.
    assert suggest_n_neurons(np.ones((20, 20)), (1.0, 1.0), nucleus_radius_um=2.0) == 32


def test_suggested_number_is_at_least_one_and_label_images_count_as_foreground():
    speck = np.zeros((5, 5, 5), dtype=np.uint16)
    speck[2, 2, 2] = 7
    assert suggest_n_neurons(speck, NEUROPAL_SCALE) == 1


def test_suggest_n_neurons_explains_bad_input():
    with pytest.raises(ValueError, match="foreground is empty"):
        suggest_n_neurons(np.zeros((3, 4, 4), dtype=bool), NEUROPAL_SCALE)
    with pytest.raises(ValueError, match="one voxel size in µm per axis of the 3-D foreground"):
        suggest_n_neurons(np.ones((3, 4, 4), dtype=bool), (0.3, 0.3))
    with pytest.raises(ValueError, match="positive number of µm"):
        suggest_n_neurons(np.ones((3, 4, 4), dtype=bool), (0.75, 0.0, 0.3))
    with pytest.raises(ValueError, match="nucleus_radius_um must be a number above 0"):
        suggest_n_neurons(np.ones((3, 4, 4), dtype=bool), NEUROPAL_SCALE, nucleus_radius_um=-1.0)
    with pytest.raises(ValueError, match="2-D or 3-D True/False image"):
        suggest_n_neurons(np.ones(10, dtype=bool), (1.0,))


def test_check_n_neurons_allows_ten_voxels_per_neuron_and_explains_more():
    assert MIN_VOXELS_PER_NEURON == 10
    assert check_n_neurons(150, 1500) == 150
    with pytest.raises(ValueError, match=r"200 neurons cannot be fitted to 1,500 foreground voxels.*at most 150"):
        check_n_neurons(200, 1500)
    with pytest.raises(ValueError, match="number of neurons must be a whole number of at least 1"):
        check_n_neurons(0, 1500)
    with pytest.raises(ValueError, match="whole number"):
        check_n_neurons(2.5, 1500)
