"""Images shared by the dask and zarr tests."""

from __future__ import annotations

import numpy as np
import pytest


def _levels(shape=(12, 26, 24), seed=0):
    """float32 image whose last axis runs through three intensity levels, plus noise."""
    rng = np.random.default_rng(seed)
    ramp = np.repeat(np.arange(3, dtype=np.float32) * 4.0, -(-shape[-1] // 3))[: shape[-1]]
    return ramp + rng.normal(0.0, 1.0, shape).astype(np.float32)


@pytest.fixture(scope="session")
def levels():
    """A function ``(shape=(12, 26, 24), seed=0) -> image``: three intensity levels along the last axis, plus noise."""
    return _levels
