"""Fixtures shared by every layer's tests.

Each layer's tests live in a folder of their own (``mixture/``, ``features/``, ``lazy/``,
``segmentation/``, ``neurons/``, ``files/``, ``cli/``, ``ui/``); what more than one folder needs is here.
"""

from __future__ import annotations

import numpy as np
import pytest

#: CLI arguments that keep a command-line fit small: a 2,000-pixel sample.
CLI_FAST = ("--sample-size", "2000")


@pytest.fixture
def cli_fast() -> list[str]:
    """:data:`CLI_FAST` as a fresh list, to append to a command line."""
    return list(CLI_FAST)


@pytest.fixture
def gaussian_blobs():
    """A function ``(centres, sizes, scale=1.0, seed=0) -> (n, d) points``: isotropic Gaussian blobs."""

    def blobs(centres, sizes, scale=1.0, seed=0):
        rng = np.random.default_rng(seed)
        centres = np.asarray(centres, dtype=np.float64)
        return np.concatenate([rng.normal(centre, scale, size=(n, centres.shape[1])) for centre, n in zip(centres, sizes)])

    return blobs


@pytest.fixture
def array_flavours(tmp_path):
    """A function ``(values, dtypes) -> iterator of (name, array)``: the same values in every accepted kind of array.

    The kinds: each dtype of ``dtypes``, a strided view, Fortran order, a read-only memmap and a
    nested list. ``values`` must be representable in every dtype given.
    """

    def flavours(values, dtypes=(np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float32, ">f8", ">f4", ">u2")):
        values = np.asarray(values)
        for dtype in dtypes:
            yield np.dtype(dtype).str, values.astype(dtype)
        wide = np.zeros(values.shape[:-1] + (2 * values.shape[-1],), dtype=values.dtype)
        wide[..., ::2] = values
        yield "every other column", wide[..., ::2]
        yield "Fortran order", np.asfortranarray(values)
        path = tmp_path / f"flavour-{values.dtype.str.strip('<>|')}.dat"
        memmap = np.memmap(path, dtype=values.dtype, mode="w+", shape=values.shape)
        memmap[:] = values
        memmap.flush()
        yield "memmap", np.memmap(path, dtype=values.dtype, mode="r", shape=values.shape)
        yield "nested list", values.tolist()

    return flavours
