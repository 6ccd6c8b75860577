"""Tests of the synthetic sample images (napari_sinkhorn_em.data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_sinkhorn_em import data

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_images"


@pytest.fixture(scope="module")
def neuropal():
    return data.neuropal_like()


@pytest.fixture(scope="module")
def neuropal_equal_sizes():
    return data.neuropal_like(size_spread=0.0)


@pytest.fixture(scope="module")
def worms():
    return data.worms_2d()


def _nucleus_volumes(sample: data.SampleImage) -> np.ndarray:
    return np.bincount(sample.labels.ravel())[1:]


def _read_ome(name: str) -> tuple[np.ndarray, str, dict]:
    with tifffile.TiffFile(SAMPLE_DIR / name) as tif:
        assert tif.is_ome
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        return tif.asarray(), tif.series[0].axes, pixels


# --------------------------------------------------------------------------- neuropal_like


def test_neuropal_like_shapes_dtypes_and_metadata(neuropal):
    assert neuropal.image.shape == (4, 24, 128, 256)
    assert neuropal.image.dtype == np.uint16
    assert neuropal.labels.shape == (24, 128, 256)
    assert neuropal.labels.dtype == np.uint16
    assert neuropal.foreground.dtype == bool
    np.testing.assert_array_equal(neuropal.foreground, neuropal.labels > 0)
    assert neuropal.channel_axis == 0
    assert neuropal.channel_names == data.NEUROPAL_CHANNEL_NAMES
    assert len(neuropal.channel_names) == neuropal.image.shape[0]
    assert neuropal.scale == (0.75, 0.25, 0.25)
    assert neuropal.scale[0] / neuropal.scale[1] == pytest.approx(3.0)
    assert neuropal.name and neuropal.description


def test_neuropal_like_is_deterministic(neuropal):
    again = data.neuropal_like()
    np.testing.assert_array_equal(again.image, neuropal.image)
    np.testing.assert_array_equal(again.labels, neuropal.labels)
    other = data.neuropal_like(seed=1)
    assert not np.array_equal(other.image, neuropal.image)
    assert not np.array_equal(other.labels, neuropal.labels)


@pytest.mark.parametrize("n_nuclei", [40, 7])
def test_neuropal_like_has_n_distinct_nuclei(neuropal, n_nuclei):
    sample = neuropal if n_nuclei == 40 else data.neuropal_like(n_nuclei=n_nuclei, seed=3)
    np.testing.assert_array_equal(np.unique(sample.labels), np.arange(n_nuclei + 1))
    # Each label is one connected, sizeable blob.
    for label in range(1, n_nuclei + 1):
        _, n_components = ndimage.label(sample.labels == label)
        assert n_components == 1
    assert _nucleus_volumes(sample).min() > 50


def test_nuclei_do_not_touch(neuropal):
    labels = neuropal.labels
    for axis in range(labels.ndim):
        a = np.moveaxis(labels, axis, 0)[:-1]
        b = np.moveaxis(labels, axis, 0)[1:]
        assert not np.any((a > 0) & (b > 0) & (a != b))


def test_size_spread_controls_volume_variation(neuropal, neuropal_equal_sizes):
    equal = _nucleus_volumes(neuropal_equal_sizes)
    unequal = _nucleus_volumes(neuropal)
    cv_equal = equal.std() / equal.mean()
    cv_unequal = unequal.std() / unequal.mean()
    assert cv_equal < 0.05
    # Radii uniform in r0 * (1 +/- 0.3): volume CV about 0.5.
    assert cv_unequal > 0.3
    # Mean nucleus radius about 1.6 um in both cases.
    voxel_volume = np.prod(neuropal.scale)
    for volumes in (equal, unequal):
        radius = np.cbrt(3 * np.median(volumes) * voxel_volume / (4 * np.pi))
        assert 1.3 < radius < 1.9


def test_nuclei_lie_inside_the_body(neuropal):
    body_rng = data._rngs(0, 4)[0]
    body = data._worm_head(body_rng, neuropal.labels.shape, neuropal.scale).mask(
        neuropal.labels.shape, neuropal.scale
    )
    assert 0.1 < body.mean() < 0.6
    assert np.all(body[neuropal.foreground])
    # The autofluorescent body is visible in the blue channel away from nuclei.
    blue = neuropal.image[0].astype(float)
    away_from_nuclei = ~ndimage.binary_dilation(neuropal.foreground, iterations=3)
    assert blue[body & away_from_nuclei].mean() > blue[~body].mean() + 10


def test_pan_neuronal_channel_is_bright_in_nuclei(neuropal):
    pan = neuropal.image[3].astype(float)
    labels = neuropal.labels
    nucleus_means = ndimage.mean(pan, labels, np.arange(1, labels.max() + 1))
    outside = pan[labels == 0]
    assert nucleus_means.min() > np.percentile(outside, 95)
    assert nucleus_means.mean() > 2 * outside.mean()


def test_neighbouring_nuclei_have_distinct_colours(neuropal):
    image = neuropal.image.astype(float)
    labels = neuropal.labels
    index = np.arange(1, labels.max() + 1)
    colours = np.stack([ndimage.mean(image[c], labels, index) for c in range(3)], axis=1) - 100
    colours /= np.linalg.norm(colours, axis=1, keepdims=True)
    centres = np.array(ndimage.center_of_mass(labels > 0, labels, index)) * neuropal.scale
    distance = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    neighbours = (distance < 6.0) & (distance > 0)
    assert neighbours.sum() > 20
    colour_difference = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
    assert colour_difference[neighbours].min() > 0.25


def test_neuropal_like_rejects_bad_arguments():
    with pytest.raises(ValueError):
        data.neuropal_like(size_spread=1.0)
    with pytest.raises(ValueError):
        data.neuropal_like(n_nuclei=0)
    with pytest.raises(RuntimeError):
        data.neuropal_like(n_nuclei=2000)


# --------------------------------------------------------------------------- worms_2d


def test_worms_2d_shapes_dtypes_and_labels(worms):
    assert worms.image.shape == (256, 320)
    assert worms.image.dtype == np.uint16
    assert worms.labels.dtype == np.uint16
    assert worms.foreground.dtype == bool
    np.testing.assert_array_equal(worms.foreground, worms.labels > 0)
    np.testing.assert_array_equal(np.unique(worms.labels), np.arange(6))
    assert worms.channel_axis is None
    assert worms.scale == (6.25, 6.25)
    assert 0.03 < worms.foreground.mean() < 0.15


def test_worms_2d_is_deterministic(worms):
    again = data.worms_2d()
    np.testing.assert_array_equal(again.image, worms.image)
    np.testing.assert_array_equal(again.labels, worms.labels)
    other = data.worms_2d(seed=1)
    assert not np.array_equal(other.image, worms.image)
    assert not np.array_equal(other.labels, worms.labels)


def _well(sample: data.SampleImage) -> np.ndarray:
    """The illuminated well as seen in the image: above the dark surround, worms filled in."""
    return ndimage.binary_fill_holes(sample.image > 600)


def _clear_of_worms(sample: data.SampleImage, pixels: int = 8) -> np.ndarray:
    return ~ndimage.binary_dilation(sample.foreground, iterations=pixels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_worms_cover_7_to_10_percent_of_the_well_and_are_10_to_15_px_wide(seed):
    # As on the BBBC010 wells (worms 7-10 % of the well, 10-15 px wide).
    sample = data.worms_2d(seed=seed)
    well = _well(sample)
    assert np.all(well[sample.foreground])
    assert 0.07 <= sample.foreground.sum() / well.sum() <= 0.10
    for label in range(1, sample.labels.max() + 1):
        width = 2 * ndimage.distance_transform_edt(sample.labels == label).max()
        assert 10 <= width <= 15, label


def test_worms_are_about_half_as_bright_as_their_surroundings(worms):
    image = worms.image.astype(float)
    around = ndimage.binary_dilation(worms.foreground, iterations=12) & ~ndimage.binary_dilation(
        worms.foreground, iterations=8
    )
    for label in range(1, worms.labels.max() + 1):
        worm = worms.labels == label
        local = image[around & ndimage.binary_dilation(worm, iterations=12)].mean()
        assert 0.45 < image[worm].mean() / local < 0.7, label


def test_well_is_vignetted_bright_in_the_middle_and_dimmer_at_the_wall(worms):
    image = worms.image.astype(float)
    well = _well(worms)
    inside = ndimage.distance_transform_edt(well)
    clear = _clear_of_worms(worms)
    middle = image[(inside > 0.7 * inside.max()) & clear].mean()
    near_wall = image[(inside >= 10) & (inside <= 16) & clear].mean()
    assert 2500 < middle < 3200
    # BBBC010: about 60 % of the centre's brightness near the wall.
    assert 0.5 < near_wall / middle < 0.75


def test_rim_at_the_wall_is_as_dark_as_the_worms_and_the_surround_darker_still(worms):
    image = worms.image.astype(float)
    well = _well(worms)
    inside = ndimage.distance_transform_edt(well)
    rim = image[well & (inside <= 3)].mean()
    near_wall = image[(inside >= 10) & (inside <= 16) & _clear_of_worms(worms)].mean()
    worm = image[worms.foreground].mean()
    assert rim < 1.1 * worm
    assert rim < 0.65 * near_wall
    outside = image[~ndimage.binary_dilation(well, iterations=10)]
    assert 100 < outside.mean() < 130
    assert outside.mean() < 0.1 * image[well].mean()


def test_worms_have_a_faint_bright_halo(worms):
    image = worms.image.astype(float)
    dilated = [ndimage.binary_dilation(worms.foreground, iterations=n) for n in (1, 5, 8, 12)]
    halo, farther = dilated[1] & ~dilated[0], dilated[3] & ~dilated[2]
    for label in range(1, worms.labels.max() + 1):
        near = ndimage.binary_dilation(worms.labels == label, iterations=12)
        ratio = image[halo & near].mean() / image[farther & near].mean()
        assert 1.01 < ratio < 1.1, label


def test_worms_are_darkest_along_their_axis(worms):
    # Light crosses the most worm along its axis: on the BBBC010 wells the middle of the worms
    # (4 px in) is 0.65-0.72 times as bright as their edge (1-2 px in).
    image = worms.image.astype(float)
    edge = ndimage.binary_erosion(worms.foreground, iterations=1) & ~ndimage.binary_erosion(
        worms.foreground, iterations=2
    )
    middle = ndimage.binary_erosion(worms.foreground, iterations=4)
    assert 0.55 < image[middle].mean() / image[edge].mean() < 0.8


def test_worms_image_has_camera_noise_of_a_12_bit_camera(worms):
    image = worms.image.astype(float)
    assert 90 <= image.min() and image.max() <= 4095
    well = _well(worms)
    inside = ndimage.distance_transform_edt(well)
    flat = (inside > 0.7 * inside.max()) & _clear_of_worms(worms)
    # Shot noise at 4 electrons per count above the offset of 100 counts (BBBC010: ~23 counts at 2000).
    residual = image - ndimage.uniform_filter(image, 5)
    noise = residual[flat].std() * np.sqrt(25 / 24)
    expected = np.sqrt((image[flat].mean() - 100) / 4)
    assert 0.85 * expected < noise < 1.2 * expected


# --------------------------------------------------------------------------- files on disk


def test_sample_files_match_the_generators(neuropal, worms):
    expected = {
        "neuropal_like.tif": (neuropal.image, "CZYX", neuropal.scale),
        "neuropal_like_labels.tif": (neuropal.labels, "ZYX", neuropal.scale),
        "worms_2d.tif": (worms.image, "YX", worms.scale),
        "worms_2d_foreground.tif": (worms.foreground.astype(np.uint8), "YX", worms.scale),
    }
    for name, (array, axes, scale) in expected.items():
        stored, stored_axes, pixels = _read_ome(name)
        assert stored_axes == axes, name
        assert stored.dtype == array.dtype, name
        np.testing.assert_array_equal(stored, array, err_msg=name)
        spatial_axes = axes.replace("C", "")
        stored_scale = tuple(float(pixels[f"PhysicalSize{axis}"]) for axis in spatial_axes)
        assert stored_scale == scale, name
        assert all(pixels[f"PhysicalSize{axis}Unit"] == "µm" for axis in spatial_axes), name


def test_sample_files_are_small():
    sizes = {path.name: path.stat().st_size for path in SAMPLE_DIR.glob("*.tif")}
    assert len(sizes) == 4
    assert sum(sizes.values()) < 5e6


# --------------------------------------------------------------------------- napari samples


def test_neuropal_like_sample_layer_tuples(neuropal):
    (image, image_meta, image_type), (labels, labels_meta, labels_type) = data.neuropal_like_sample()
    assert (image_type, labels_type) == ("image", "labels")
    np.testing.assert_array_equal(image, neuropal.image)
    np.testing.assert_array_equal(labels, neuropal.labels)
    assert image_meta["channel_axis"] == 0
    assert image_meta["scale"] == labels_meta["scale"] == neuropal.scale
    for key in ("name", "colormap", "visible"):
        assert len(image_meta[key]) == image.shape[0], key
    assert image_meta["blending"] == "additive"


def test_worms_2d_sample_layer_tuples(worms):
    (image, image_meta, image_type), (labels, labels_meta, labels_type) = data.worms_2d_sample()
    assert (image_type, labels_type) == ("image", "labels")
    np.testing.assert_array_equal(image, worms.image)
    np.testing.assert_array_equal(labels, worms.foreground)
    assert np.issubdtype(labels.dtype, np.integer)
    assert image_meta["scale"] == labels_meta["scale"] == worms.scale


def test_neuropal_like_sample_splits_into_napari_layers():
    stack_utils = pytest.importorskip("napari.layers.utils.stack_utils")
    (image, image_meta, _), _ = data.neuropal_like_sample()
    meta = {key: value for key, value in image_meta.items() if key != "channel_axis"}
    layers = stack_utils.split_channels(image, image_meta["channel_axis"], **meta)
    assert len(layers) == 4
    names = [layer_meta["name"] for _, layer_meta, _ in layers]
    assert names == image_meta["name"]
    assert all(layer_data.shape == image.shape[1:] for layer_data, _, _ in layers)
    assert [layer_meta["visible"] for _, layer_meta, _ in layers] == [True, True, True, False]
