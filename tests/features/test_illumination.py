"""Illumination correction: the lamp's falloff divided out, objects kept, nothing outside the mask."""

import numpy as np
import pytest

from napari_sinkhorn_em.features import correct_illumination


def _vignetted_field_with_dark_spots(shape=(60, 80)):
    y, x = np.mgrid[: shape[0], : shape[1]]
    lamp = 1000.0 * np.exp(-((x - 10.0) ** 2) / (2 * 60.0**2))  # bright on the left, dim on the right
    spots = np.zeros(shape, dtype=bool)
    spots[28:32, 15:19] = spots[28:32, 60:64] = True
    return np.where(spots, 0.5, 1.0) * lamp, spots


def test_the_background_is_flat_and_objects_stand_out_the_same_everywhere():
    image, spots = _vignetted_field_with_dark_spots()
    corrected = correct_illumination(image, 10.0)
    assert corrected.dtype == np.float32 and corrected.shape == image.shape
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(corrected[inner][~spots[inner]]).max() < 0.05
    left, right = corrected[28:32, 15:19].mean(), corrected[28:32, 60:64].mean()
    assert left == pytest.approx(np.log(0.5), abs=0.1) and right == pytest.approx(np.log(0.5), abs=0.1)


def test_every_channel_is_corrected_alone_and_the_outside_of_the_mask_is_zero():
    image, _ = _vignetted_field_with_dark_spots()
    mask = np.zeros(image.shape, dtype=bool)
    mask[5:55, 5:75] = True
    both = correct_illumination(np.stack([image, 3 * image[:, ::-1]], axis=-1), 10.0, channel_axis=-1, mask=mask)
    np.testing.assert_array_equal(both[..., 0], correct_illumination(image, 10.0, mask=mask))
    np.testing.assert_array_equal(both[..., 1], correct_illumination(3 * image[:, ::-1], 10.0, mask=mask))
    assert np.all(both[~mask] == 0)


def test_negative_intensities_are_refused_with_what_to_do():
    image, _ = _vignetted_field_with_dark_spots()
    with pytest.raises(ValueError, match="needs non-negative intensities.*add an offset"):
        correct_illumination(image - 500.0, 10.0)
