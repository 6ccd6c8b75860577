"""The certainty map the widget shows: log10 odds of each pixel's best class over the next best."""

import numpy as np
import pytest

from napari_sinkhorn_em.data import worms_2d
from napari_sinkhorn_em.segmentation import CERTAINTY_CAP, Segmenter, label_certainty


def test_certainty_is_the_log10_odds_of_the_two_best_classes():
    probabilities = np.array([[0.5, 0.5, 0.0], [0.1, 0.9, 0.0], [0.0, 0.01, 0.99], [1.0, 0.0, 0.0], [0, 0, 0]])
    expected = [0.0, np.log10(9), np.log10(99), CERTAINTY_CAP, 0.0]
    np.testing.assert_allclose(label_certainty(probabilities), expected, rtol=1e-6)
    assert label_certainty(probabilities).dtype == np.float32
    assert label_certainty(probabilities, cap=1.0).max() == 1.0


def test_certainty_keeps_the_image_shape():
    probabilities = np.random.default_rng(0).dirichlet(np.ones(4), size=(3, 5, 6))
    assert label_certainty(probabilities).shape == (3, 5, 6)


@pytest.mark.parametrize(("probabilities", "cap"), [(np.ones((3, 1)), CERTAINTY_CAP), (np.ones((3, 2)), 0.0)])
def test_unusable_input_is_refused(probabilities, cap):
    with pytest.raises(ValueError):
        label_certainty(probabilities, cap=cap)


def test_on_the_worms_sample_the_map_spreads_where_the_largest_probability_is_nearly_uniform():
    sample = worms_2d()
    segmenter = Segmenter(3, sample_size=5000, random_state=0).fit(sample.image, scale=sample.scale)
    probabilities = segmenter.predict_proba(sample.image, scale=sample.scale)

    largest = probabilities.max(axis=-1)
    certainty = label_certainty(probabilities)
    # The largest probability is above 0.99 on most pixels (64 %): on a 1/K..1 scale the map looks uniform.
    assert np.mean(largest > 0.99) > 0.6
    # The certainty spreads over its scale: on this sample 36 %, 4 % and 60 % of the pixels fall in
    # its lower, middle and upper third (the largest probability puts 64 % above 0.99).
    lower, middle, upper = np.histogram(certainty, bins=3, range=(0, CERTAINTY_CAP))[0] / certainty.size
    assert lower > 0.2 and upper > 0.2 and middle > 0.01
