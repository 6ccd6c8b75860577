"""Fixtures of the feature tests."""

import numpy as np
import pytest


@pytest.fixture
def integer_image():
    """A function ``(seed=0, shape=(12, 13)) -> float64 image`` of random integers 0..199."""

    def image(seed=0, shape=(12, 13)):
        return np.random.default_rng(seed).integers(0, 200, size=shape).astype(np.float64)

    return image
