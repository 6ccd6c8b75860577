"""The numeric cases of issue 20: large epsilon (D5), memory and time (D6), model weights (D8),
filter sizes (D10) and outliers (D15); ordinary images keep their labels bit for bit."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest

from napari_sinkhorn_em.mixture import GaussianMixture
from napari_sinkhorn_em.segmentation import Segmenter, segment


def _hash(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _two_halves_and_a_square():
    rng = np.random.default_rng(1)
    image = rng.normal(100, 10, (48, 64)).astype(np.float32)
    image[:, 32:] += 50
    image[10:20, 10:20] += 120
    return image


def _three_channels():
    rng = np.random.default_rng(2)
    image = rng.normal(50, 8, (3, 10, 32, 40))
    image[0, :, 5:15, 5:15] += 60
    image[1, 2:8, 15:30, 20:35] += 40
    image[2, :, :, 30:] += 25
    return np.round(image).clip(0, 65535).astype(np.uint16)


def _overlapping_stripes():
    rng = np.random.default_rng(3)
    image = rng.normal(100, 25, (64, 64))
    image[:, 20:] += 30
    image[:, 44:] += 30
    return image.astype(np.float32)


# Hashes of the labels computed by the code before the changes of issue 20 (D5, D6, D8, D10, D15).
_BEFORE = [
    ("easy default", _two_halves_and_a_square, lambda im: segment(im, 3), "4054048deb542540"),
    ("easy EM", _two_halves_and_a_square, lambda im: segment(im, 3, method="em"), "4054048deb542540"),
    ("easy multiscale", _two_halves_and_a_square,
     lambda im: segment(im, 3, features="multiscale", sigmas=(1.0, 2.0)), "fdf0685f045c88c0"),
    ("easy brightfield", _two_halves_and_a_square,
     lambda im: segment(im, 2, features="brightfield", method="em", sigmas=(1.0, 2.0)), "d934f084bd532b2a"),
    ("easy class sizes", _two_halves_and_a_square,
     # Updated when the class-size search learned to ignore noise peaks (size_search.knee_index).
     lambda im: segment(im, 3, weights=[0.5, 0.4, 0.1]), "2618595918769e3d"),
    ("easy proba", _two_halves_and_a_square,
     # Updated with issue 16: the vectorised exp, the clipped Newton steps and the warm-up's looser
     # Sinkhorn tolerance change the probabilities by at most 4e-7.
     lambda im: Segmenter(3, random_state=0).fit(im).predict_proba(im), "f76180be1d9b2703"),
    ("3 channels", _three_channels,
     lambda im: segment(im, 4, channel_axis=0, scale=(2.0, 0.5, 0.5)), "99ccc55b9e7fa8c4"),
    ("3 channels EM multiscale", _three_channels,
     lambda im: segment(im, 4, channel_axis=0, method="em", features="multiscale", sigmas=(1.0,)),
     "d242371d44eee1cb"),
    ("hard default", _overlapping_stripes, lambda im: segment(im, 3), "419cb6faff0dab7b"),
    ("hard EM", _overlapping_stripes, lambda im: segment(im, 3, method="em"), "c242a9d6ecf1af10"),
    ("hard epsilon 0.1", _overlapping_stripes, lambda im: segment(im, 3, epsilon=0.1), "b3e7f9dd2bec5409"),
    ("hard multiscale", _overlapping_stripes,
     # Updated with issue 16: the warm-up's looser Sinkhorn tolerance moves 5 of the 4096 labels.
     lambda im: segment(im, 3, features="multiscale", sigmas=(1.0,)), "c4fbd50b6327068a"),
]


@pytest.mark.parametrize("make_image, run, expected", [case[1:] for case in _BEFORE],
                         ids=[case[0] for case in _BEFORE])
def test_ordinary_images_keep_their_labels_bit_for_bit(make_image, run, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _hash(run(make_image())) == expected


# ---------------------------------------------------------------- D5: large epsilon


@pytest.mark.parametrize("method", ["sinkhorn_start", "sinkhorn"])
@pytest.mark.parametrize("epsilon", [100.0, 1e4])
def test_a_large_epsilon_that_merges_the_classes_is_a_warning_that_says_to_lower_it(method, epsilon):
    with pytest.warns(UserWarning, match=f"At epsilon = {epsilon:g}.*same mean.*Use a smaller epsilon"):
        Segmenter(3, epsilon=epsilon, method=method, random_state=0).fit(_two_halves_and_a_square())


def test_epsilon_one_on_separated_classes_gives_no_merging_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Segmenter(3, epsilon=1.0, random_state=0).fit(_two_halves_and_a_square())


def test_the_mixture_warns_when_a_large_epsilon_merges_its_components():
    from napari_sinkhorn_em.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(6, 1, (300, 2))])
    with pytest.warns(UserWarning, match="1 of the 2 components"):
        GaussianMixture(2, epsilon=1e4, random_state=0).fit(X)


# ---------------------------------------------------------------- D6: memory


def test_a_fit_that_cannot_fit_in_memory_is_refused_before_allocating():
    from napari_sinkhorn_em.mixture import GaussianMixture

    X = np.random.default_rng(0).normal(size=(100_000, 1))
    with pytest.raises(MemoryError, match="Fitting 50000 components.*GiB.*not started.*fewer components"):
        GaussianMixture(50_000, random_state=0).fit(X)


def test_the_fit_memory_estimate_counts_the_sinkhorn_table_and_newton_matrices():
    from napari_sinkhorn_em.mixture import GaussianMixture

    sinkhorn = GaussianMixture(5000).fit_memory_bytes(200_000, 1)
    em = GaussianMixture(5000, method="em").fit_memory_bytes(200_000, 1)
    assert sinkhorn > 8 * 200_000 * 5000 > em


def test_a_segmenter_with_too_many_classes_for_memory_is_refused_with_a_sentence():
    image = np.random.default_rng(0).normal(size=(512, 512)).astype(np.float32)
    with pytest.raises(MemoryError, match="Fitting 100000 components.*not started"):
        Segmenter(100_000, random_state=0).fit(image)


def test_predict_proba_larger_than_memory_is_refused_and_says_to_use_labels_or_parts():
    segmenter = Segmenter(3, random_state=0).fit(_two_halves_and_a_square())
    huge = np.broadcast_to(np.float32(100.0), (1_000_000, 1_000_000))
    with pytest.raises(MemoryError, match="probabilities of 3 classes.*Use predict.*parts of the image"):
        segmenter.predict_proba(huge)


# ---------------------------------------------------------------- D8: model files


@pytest.fixture(scope="module")
def _model_document(tmp_path_factory):
    import json

    path = tmp_path_factory.mktemp("model") / "model.json"
    Segmenter(3, random_state=0).fit(_two_halves_and_a_square()).save(path)
    return json.loads(path.read_text())


def _edited(document, tmp_path, edit):
    import copy
    import json

    document = copy.deepcopy(document)
    edit(document)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    return path


def _set_mixture(key, value):
    def edit(document):
        document["mixture"][key] = value
    return edit


def _scale_covariance(factor):
    def edit(document):
        document["mixture"]["covariances"][1] = np.multiply(document["mixture"]["covariances"][1], factor).tolist()
    return edit


@pytest.mark.parametrize("edit, reason", [
    (_set_mixture("weights", [-0.5, 1.0, 0.5]), "class weights must all be finite and > 0"),
    (_set_mixture("weights", [5.0, 3.0, 2.0]), "class weights must sum to 1"),
    (_set_mixture("weights", [0.0, 0.5, 0.5]), "class weights must all be finite and > 0"),
    (_set_mixture("covariance_type", "tied"), "covariance_type must be one of"),
    (_scale_covariance(-1.0), "covariances are not all positive definite"),
    (lambda document: document.update(format_version=0), "format_version 0 is not a known one"),
], ids=["negative weight", "weights sum to 10", "zero weight", "unknown covariance type",
        "negative covariance", "format version 0"])
def test_a_model_file_with_invalid_parameters_is_refused_as_damaged(_model_document, tmp_path, edit, reason):
    path = _edited(_model_document, tmp_path, edit)
    with pytest.raises(ValueError, match=f"is damaged or not a model file: .*{reason}"):
        Segmenter.load(path)


def test_an_unedited_model_file_still_loads_and_labels_as_the_fitted_model(_model_document, tmp_path):
    path = _edited(_model_document, tmp_path, lambda document: None)
    image = _two_halves_and_a_square()
    assert np.array_equal(Segmenter.load(path).predict(image), segment(image, 3))


# ---------------------------------------------------------------- D10: filters far beyond the image


@pytest.mark.parametrize("options", [
    {"features": "multiscale", "sigmas": (10_000.0,)},
    {"features": "multiscale", "sigmas": (1.0,), "scale": (1e-4, 1e-4)},
    {"features": "multiscale", "sigmas": (1.0,), "scale": (1e-7, 1e-7)},
    {"features": "multiscale", "sigmas": (1.0,), "scale": (1e-300, 1e-300)},
    {"features": "brightfield", "sigmas": (1.0,), "scale": (1e-7, 1e-7)},
    {"features": "intensity", "background_sigma": 1e6},
], ids=["sigma 10000", "voxel 1e-4", "voxel 1e-7", "voxel 1e-300", "brightfield voxel 1e-7", "background 1e6"])
def test_a_filter_far_beyond_the_image_is_refused_naming_sigma_and_voxel_size(options):
    with pytest.raises(ValueError, match="sigma = .* voxel size of .* far beyond the image.*check the voxel size"):
        segment(_two_halves_and_a_square(), 2, **options)


def test_correct_illumination_refuses_a_background_far_beyond_the_image():
    from napari_sinkhorn_em.features import correct_illumination

    with pytest.raises(ValueError, match="illumination background at sigma = 50.*voxel size of 1e-06"):
        correct_illumination(_two_halves_and_a_square(), 50.0, scale=(1e-6, 1e-6))


def test_a_model_with_a_tiny_voxel_size_is_refused_when_it_labels(_model_document, tmp_path):
    def edit(document):
        document["image"]["scale"] = [1e-7, 1e-7]
        document["recipe"]["features"] = [["gaussian", 1.0]]
        document["feature_names"] = ["ch0:gaussian(s=1)"]
        document["scaling"]["names"] = ["ch0:gaussian(s=1)"]

    model = Segmenter.load(_edited(_model_document, tmp_path, edit))
    with pytest.raises(ValueError, match="voxel size of 1e-07.*far beyond the image"):
        model.predict(_two_halves_and_a_square())


def test_a_filter_a_little_wider_than_a_small_image_is_still_computed():
    image = _two_halves_and_a_square()[:4]
    labels = segment(image, 2, features="multiscale", sigmas=(8.0,))
    assert labels.shape == image.shape


# ---------------------------------------------------------------- D15: outliers and tiny values


@pytest.mark.parametrize("method", ["sinkhorn_start", "em", "sinkhorn"])
@pytest.mark.parametrize("hot", [1e4, 1e8, 1e30])
def test_a_hot_pixel_is_left_out_of_the_fit_and_the_other_labels_stay(method, hot):
    image = _two_halves_and_a_square()
    clean = segment(image, 3, method=method)
    image[5, 5] = hot
    with pytest.warns(UserWarning, match="1 pixel\\(s\\) of the fitting sample lie far beyond.*hot or dead pixels"):
        labels = segment(image, 3, method=method)
    others = np.ones(image.shape, dtype=bool)
    others[5, 5] = False
    # Before, one such pixel took a class of its own (EM) or dragged a third of the image with it.
    assert np.array_equal(labels[others], clean[others])
    assert labels[5, 5] == labels[15, 15]  # with the brightest class, the square's


@pytest.mark.parametrize("n_points", [500, 900, 5000])
def test_one_far_outlier_is_found_in_a_small_sample_too(n_points):
    from napari_sinkhorn_em.segmentation.fitting import leave_out_far_outliers

    X = np.random.default_rng(0).normal(size=(n_points, 2))
    X[7, 1] = 1e6
    with pytest.warns(UserWarning, match="1 pixel\\(s\\) of the fitting sample"):
        kept = leave_out_far_outliers(X)
    assert kept.shape == (n_points - 1, 2) and kept.max() < 10


def test_a_dead_pixel_is_left_out_of_the_fit_too():
    image = _two_halves_and_a_square()
    clean = segment(image, 3)
    image[40, 40] = -1e6
    with pytest.warns(UserWarning, match="hot or dead pixels"):
        labels = segment(image, 3)
    assert np.count_nonzero(labels != clean) <= 1


def test_a_small_class_of_far_bright_pixels_is_fitted_not_left_out():
    image = _two_halves_and_a_square()
    image[30:32, 5:7] = 1e4  # four pixels: more than 1 in 10,000 of the sample, so a class of its own
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = segment(image, 3, method="em")
    assert np.unique(labels[30:32, 5:7]).size == 1
    assert np.count_nonzero(labels == labels[30, 5]) == 4


def test_a_hot_pixel_that_swamps_the_arithmetic_is_still_refused_by_the_mixture():
    X = _two_halves_and_a_square().reshape(-1, 1).astype(np.float64)
    X[5] = 1e30
    with pytest.raises(ValueError, match="1 value\\(s\\) as far as 1e\\+30.*hot or dead pixels.*clip"):
        GaussianMixture(3).fit(X)


def test_an_image_of_subnormal_floats_is_refused_saying_to_multiply_it():
    image = (_two_halves_and_a_square() / 300.0 * 1e-39).astype(np.float32)
    with pytest.raises(ValueError, match="smallest ordinary 32-bit float.*Multiply the image"):
        segment(image, 3)


def test_a_hot_pixel_spread_by_filters_that_breaks_the_fit_is_named_as_the_cause():
    image = _two_halves_and_a_square()
    image[5, 5] = 1e8
    # The filters make one pixel a patch, too many points to leave out; the error must not blame reg_covar.
    with pytest.raises(ValueError, match="spread .* in one direction.*hot or dead pixels.*clip the image"):
        segment(image, 3, features="multiscale")
