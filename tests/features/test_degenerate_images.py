"""A degenerate but valid image gives finite features and a finite, positive standardisation, never NaN."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_sinkhorn_em.features import extract_features

SMALL = dict(features="multiscale", sigmas=(1.0, 2.0))


def assert_valid_stack(stack, n_points):
    assert stack.data.dtype == np.float32 and stack.data.shape[0] == n_points
    assert np.isfinite(stack.data).all()
    if stack.scaling is not None:
        assert np.isfinite(stack.scaling.centre).all()
        assert np.isfinite(stack.scaling.spread).all() and (stack.scaling.spread > 0).all()


def no_warnings(function, *args, **kwargs):
    """Call with every warning (e.g. numpy's division by zero) turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


@pytest.mark.parametrize("value", [0.0, -3.5, 60000.0])
@pytest.mark.parametrize("shape", [(9, 10), (4, 9, 10)])
@pytest.mark.parametrize("mask", [False, True])
def test_constant_images_give_finite_features_and_an_identity_scale(value, shape, mask):
    image = np.full(shape, value)
    select = np.zeros(shape, bool) if mask else None
    if mask:
        select[..., 2:5] = True
    stack = no_warnings(extract_features, image, coordinates=True, mask=select, **SMALL)
    assert_valid_stack(stack, int(select.sum()) if mask else image.size)
    # Every filter column is constant: centred to 0, never divided by a zero spread.
    np.testing.assert_array_equal(stack.scaling.spread, 1.0)
    assert np.abs(stack.data[:, : -len(shape)]).max() < 1e-3 * max(1.0, abs(value))


def test_a_constant_channel_beside_a_textured_one_is_finite(integer_image):
    image = np.stack([integer_image(), np.zeros((12, 13))], axis=-1)
    stack = no_warnings(extract_features, image, channel_axis=-1, **SMALL)
    assert_valid_stack(stack, 12 * 13)
    constant = [i for i, name in enumerate(stack.names) if name.startswith("ch1:")]
    np.testing.assert_array_equal(stack.scaling.spread[constant], 1.0)
    np.testing.assert_array_equal(stack.data[:, constant], 0.0)


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 1, 1), (1, 17), (17, 1), (1, 1, 9), (1, 8, 9), (2, 1, 9)],
)
def test_tiny_and_flat_images_give_finite_features(shape):
    image = np.random.default_rng(1).random(shape) * 100
    stack = no_warnings(extract_features, image, coordinates=True, features="multiscale", sigmas=(0.5, 3.0))
    n_features = 2 * (4 + 2 * len(shape)) + len(shape)
    assert stack.data.shape == (image.size, n_features)
    assert_valid_stack(stack, image.size)


@pytest.mark.parametrize("scale", [None, (5.0, 0.5, 0.5)])
@pytest.mark.parametrize("n_slices", [1, 3])
def test_a_stack_flat_along_z_does_not_blow_up_round_off(scale, n_slices):
    # Along a flat axis some Hessian and structure-tensor eigenvalues are exactly 0 in exact
    # arithmetic and ~1e-16 in floating point; standardising by that round-off used to turn
    # them into values of 1e15. They must stay on the scale of the real features.
    plane = np.random.default_rng(2).random((16, 17)) * 100
    image = np.repeat(plane[None], n_slices, axis=0)
    stack = extract_features(image, scale=scale, **SMALL)
    assert_valid_stack(stack, image.size)
    assert np.abs(stack.data).max() < 1e3
    raw = extract_features(image, scale=scale, standardize=False, **SMALL)
    eigenvalue = stack.names.index("ch0:structure_tensor_eigenvalues[0](s=1)")
    assert np.abs(raw.data[:, eigenvalue]).max() < 1e-6 * np.abs(raw.data).max()
    assert stack.scaling.spread[eigenvalue] == 1.0


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=2, max_size=3).map(tuple),
    dtype=st.sampled_from(["uint8", "int16", "float32", ">f8", "bool"]),
    seed=st.integers(0, 2**16),
)
def test_multiscale_is_finite_for_any_small_image(shape, dtype, seed):
    image = (np.random.default_rng(seed).random(shape) * 100).astype(dtype)
    stack = extract_features(image, features="multiscale", sigmas=(0.5, 3.0), coordinates=True)
    assert stack.data.shape == (int(np.prod(shape)), 2 * (4 + 2 * len(shape)) + len(shape))
    assert np.all(np.isfinite(stack.data))
