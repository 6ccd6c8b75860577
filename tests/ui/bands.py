"""The small test image of the widget's tests: three bands of brightness, K=3 classes in 2-D."""

import numpy as np


def three_bands(shape=(48, 48), seed=0):
    """Three vertical bands of brightness 10, 50 and 100 with a little noise: K=3 classes in 2-D."""
    rng = np.random.default_rng(seed)
    columns = np.arange(shape[-1])
    bands = 10.0 + 40.0 * (columns >= shape[-1] // 3) + 50.0 * (columns >= 2 * shape[-1] // 3)
    return (np.broadcast_to(bands, shape) + rng.normal(0, 3, shape)).astype(np.float32)
