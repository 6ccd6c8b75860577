"""Images and a fitted Segmenter shared by the segmentation tests."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sinkhorn_em.segmentation import Segmenter


def _three_levels(shape=(64, 64), seed=0):
    """Noisy image with a dark left third, a middle third and a bright right third."""
    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, dtype=np.uint8)
    width = shape[-1]
    truth[..., : width // 3] = 1
    truth[..., width // 3 : 2 * width // 3] = 2
    truth[..., 2 * width // 3 :] = 3
    levels = np.array([0.0, 10.0, 20.0, 30.0], dtype=np.float32)
    image = levels[truth] + rng.normal(0.0, 1.0, shape).astype(np.float32)
    return image, truth


def _two_halves(shape=(32, 32), seed=0):
    """A dark left half and a bright right half, values 100 and 150 with noise, as float32."""
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 10.0, shape).astype(np.float32)
    image[..., shape[-1] // 2 :] += 50.0
    return image


@pytest.fixture
def three_levels():
    """A function ``(shape=(64, 64), seed=0) -> (image, truth)``: three noisy vertical bands, dark to bright."""
    return _three_levels


@pytest.fixture
def two_halves():
    """A function ``(shape=(32, 32), seed=0) -> image``: a dark left half and a bright right half (float32)."""
    return _two_halves


@pytest.fixture
def two_unequal_classes():
    """Two overlapping classes on 80 % and 20 % of a 60 x 60 image (float64)."""
    rng = np.random.default_rng(1)
    return np.concatenate([rng.normal(0.0, 1.0, (48, 60)), rng.normal(2.5, 1.0, (12, 60))])


@pytest.fixture(scope="module")
def image2d():
    """``(image, truth)`` of the default three bands."""
    return _three_levels()


@pytest.fixture(scope="module")
def fitted(image2d):
    """A Segmenter of 3 classes fitted on :func:`image2d` (30 iterations at most)."""
    return Segmenter(3, max_iter=30).fit(image2d[0])
