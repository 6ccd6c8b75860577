"""The channel an automatic mask thresholds: checked float64 values of one channel."""

import numpy as np
import pytest

from napari_sinkhorn_em.features import channel_values


def test_channel_values_are_the_float64_values_of_the_chosen_channel():
    image = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(4, 2, 5)
    values = channel_values(image, 1, 1)
    assert values.dtype == np.float64 and values.shape == (4, 5)
    np.testing.assert_array_equal(values, image[:, 1, :])
    np.testing.assert_array_equal(channel_values(image[:, 0], None, 3), image[:, 0])


@pytest.mark.parametrize(
    ("image", "channel_axis", "channel", "message"),
    [
        (np.zeros((2, 4, 5)), 0, 2, r"channel=2 does not exist: the image has 2 channels \(0 to 1\)"),
        (np.zeros((2, 4, 5)), 0, -1, "channel=-1 does not exist"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), None, 0, "NaN or infinite values; replace them"),
        (np.zeros(5), None, 0, "2-D or 3-D image"),
    ],
)
def test_channel_values_refuse_what_no_mask_can_be_computed_from(image, channel_axis, channel, message):
    with pytest.raises(ValueError, match=message):
        channel_values(image, channel_axis, channel)
