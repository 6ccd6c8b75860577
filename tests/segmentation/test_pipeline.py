"""Tests of the segmentation pipeline (napari_sinkhorn_em.segmentation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from napari_sinkhorn_em.segmentation import (
    FORMAT_VERSION,
    Segmenter,
    class_sizes_from_labels,
    compare_labels,
    compare_methods,
    segment,
    split_instances,
)

FAST = {"max_iter": 30}


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


@pytest.fixture(scope="module")
def image2d():
    return _three_levels()


@pytest.fixture(scope="module")
def fitted(image2d):
    return Segmenter(3, **FAST).fit(image2d[0])


# --------------------------------------------------------------- segment


def test_segment_labels_have_spatial_shape_and_smallest_dtype(image2d):
    labels = segment(image2d[0], 3, **FAST)

    assert labels.shape == (64, 64)
    assert labels.dtype == np.uint8
    assert set(np.unique(labels)) == {1, 2, 3}


def test_labels_are_numbered_from_darkest_to_brightest(image2d):
    image, truth = image2d

    for method in ("sinkhorn", "em"):
        labels = segment(image, 3, method=method, **FAST)
        assert np.mean(labels == truth) > 0.99, method


def test_multichannel_labels_follow_the_first_channel(image2d):
    image, truth = image2d
    # Channel 0 is the image upside down in intensity; channel 1 the image itself.
    stack = np.stack([30.0 - image, image], axis=-1)

    labels = segment(stack, 3, channel_axis=-1, method="em", **FAST)

    assert labels.shape == (64, 64)
    assert np.mean(labels == 4 - truth) > 0.99


def test_same_settings_give_bit_identical_labels(image2d):
    image = image2d[0]
    first = Segmenter(3, sample_size=1000, **FAST)
    second = Segmenter(3, sample_size=1000, **FAST)

    np.testing.assert_array_equal(first.fit_predict(image), second.fit_predict(image))
    np.testing.assert_array_equal(first.mixture_.means_, second.mixture_.means_)
    np.testing.assert_array_equal(first.mixture_.covariances_, second.mixture_.covariances_)


def test_fit_predict_equals_fit_then_predict(image2d):
    image = image2d[0]
    once = Segmenter(3, sample_size=2000, **FAST).fit_predict(image)
    twice = Segmenter(3, sample_size=2000, **FAST).fit(image).predict(image)

    np.testing.assert_array_equal(once, twice)


def test_sample_size_sets_the_number_of_fitted_pixels(image2d):
    image = image2d[0]

    assert Segmenter(3, sample_size=500, **FAST).fit(image).n_samples_fit_ == 500
    assert Segmenter(3, sample_size=10**9, **FAST).fit(image).n_samples_fit_ == image.size
    assert Segmenter(3, sample_size=None, **FAST).fit(image).n_samples_fit_ == image.size


def test_different_seeds_draw_different_subsamples(image2d):
    image = image2d[0]
    first = Segmenter(3, sample_size=300, random_state=0, **FAST).fit(image)
    second = Segmenter(3, sample_size=300, random_state=1, **FAST).fit(image)

    assert not np.array_equal(first.scaling_.center, second.scaling_.center)


def test_mask_gives_zero_outside_and_classes_inside(image2d):
    image, truth = image2d
    mask = np.zeros(image.shape, dtype=bool)
    mask[8:56, 4:60] = True

    labels = segment(image, 3, mask=mask, **FAST)

    assert np.all(labels[~mask] == 0)
    assert np.all(labels[mask] >= 1)
    assert np.mean(labels[mask] == truth[mask]) > 0.99


def test_mask_excluding_a_class_fits_only_the_pixels_inside(image2d):
    image, truth = image2d
    mask = truth < 3  # the bright third is not part of the problem

    labels = segment(image, 2, mask=mask, **FAST)

    np.testing.assert_array_equal(labels[mask], truth[mask])


def test_progress_reports_every_stage_up_to_completion(image2d):
    calls = []

    segment(image2d[0], 3, progress=lambda stage, fraction: calls.append((stage, fraction)), **FAST)

    stages = [stage for stage, _ in calls]
    assert stages[0] == "features" and stages[-1] == "assign"
    assert {"features", "fit", "assign"} == set(stages)
    for stage in ("features", "fit", "assign"):
        assert max(fraction for name, fraction in calls if name == stage) == 1.0


def test_closing_fit_steps_early_keeps_the_previous_fit(fitted, image2d):
    means = fitted.mixture_.means_.copy()
    scaling = fitted.scaling_

    steps = fitted.fit_steps(image2d[0] * 3.0)
    for _ in range(4):
        next(steps)
    steps.close()

    np.testing.assert_array_equal(fitted.mixture_.means_, means)
    assert fitted.scaling_ is scaling


def test_chunked_computation_is_identical_to_whole_image():
    rng = np.random.default_rng(3)
    image = rng.normal(0.0, 1.0, (2, 10, 24, 24)).astype(np.float32)
    image[:, 3:8, 6:18, 6:18] += 4.0
    mask = np.ones(image.shape[1:], dtype=bool)
    mask[:, :3] = False
    mask[4] = False
    settings = dict(features="multiscale", sigmas=(1.0,), coordinates=True, coordinate_weight=0.1,
                    sample_size=2000, method="em", **FAST)
    where = dict(channel_axis=0, scale=(2.0, 1.0, 1.0), mask=mask)
    slabs = []

    whole = Segmenter(3, **settings)
    chunked = Segmenter(3, memory_limit=300_000, **settings)
    labels_whole = whole.fit_predict(image, **where)
    labels_chunked = chunked.fit_predict(
        image, progress=lambda stage, fraction: slabs.append(stage == "assign"), **where
    )

    assert sum(slabs) > 4  # the small memory limit really cut the image into slabs
    np.testing.assert_array_equal(whole.mixture_.means_, chunked.mixture_.means_)
    np.testing.assert_array_equal(labels_whole, labels_chunked)
    np.testing.assert_array_equal(whole.predict_proba(image, **where), chunked.predict_proba(image, **where))


def test_predict_proba_is_a_probability_per_class(fitted, image2d):
    proba = fitted.predict_proba(image2d[0])

    assert proba.shape == (64, 64, 3)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(proba, axis=-1) + 1, fitted.predict(image2d[0]))


def test_predict_on_another_image_uses_the_same_numbers(fitted):
    other, truth = _three_levels(shape=(40, 90), seed=7)

    assert np.mean(fitted.predict(other) == truth) > 0.99


def test_predict_before_fit_is_an_error(image2d):
    with pytest.raises(RuntimeError, match="not fitted"):
        Segmenter(3).predict(image2d[0])


def test_wrong_number_of_channels_is_a_clear_error(fitted, image2d):
    stack = np.stack([image2d[0]] * 2)

    with pytest.raises(ValueError, match="fitted on images with 1 channel"):
        fitted.predict(stack, channel_axis=0)


def test_wrong_mask_shape_is_a_clear_error(image2d):
    with pytest.raises(ValueError, match="mask must be"):
        segment(image2d[0], 3, mask=np.ones((3, 3), bool))


# ------------------------------------------------------------- instances


def test_instances_split_classes_into_objects_and_drop_small_ones():
    image = np.zeros((40, 40), np.float32)
    image[5:15, 5:15] = 10.0      # object A (100 px)
    image[25:35, 20:35] = 10.0    # object B (150 px)
    image[30, 5] = 10.0           # a 1-pixel speck

    labels = segment(image, 2, method="em", instances=True, min_size=5, **FAST)

    assert labels[10, 10] != labels[30, 30]
    assert labels[10, 10] > 0 and labels[30, 30] > 0
    assert labels[30, 5] == 0
    assert len(np.unique(labels)) == 4  # background class as one object, A, B, and removed pixels (0)


def test_split_instances_numbers_objects_class_by_class():
    labels = np.array([[1, 0, 2, 2],
                       [1, 0, 0, 0],
                       [0, 0, 1, 1]], dtype=np.uint8)

    objects = split_instances(labels, min_size=1)

    np.testing.assert_array_equal(objects, [[1, 0, 3, 3],
                                            [1, 0, 0, 0],
                                            [0, 0, 2, 2]])


def test_split_instances_uses_a_wider_type_for_many_objects():
    labels = np.zeros((40, 40), np.uint8)
    labels[::2, ::2] = 1  # 400 isolated pixels

    objects = split_instances(labels, min_size=1)

    assert objects.max() == 400
    assert objects.dtype == np.uint16


# ------------------------------------------------------------ comparisons


def test_compare_labels_matches_sklearn_adjusted_rand_index():
    rng = np.random.default_rng(0)
    for shape, n_a, n_b in [((50, 40), 3, 3), ((30, 30), 2, 5), ((7, 8, 9), 6, 4)]:
        a = rng.integers(0, n_a, shape)
        b = np.where(rng.random(shape) < 0.7, a, rng.integers(0, n_b, shape))

        result = compare_labels(a, b)

        assert result.adjusted_rand_index == pytest.approx(adjusted_rand_score(a.ravel(), b.ravel()), abs=1e-12)


def test_permuted_labels_match_perfectly(image2d):
    truth = image2d[1]
    permuted = np.array([0, 3, 1, 2], dtype=np.uint8)[truth]

    result = compare_labels(truth, permuted)

    assert result.adjusted_rand_index == 1.0
    assert result.disagreement_fraction == 0.0
    assert not result.disagreement.any()
    np.testing.assert_array_equal(result.matched, truth)
    assert result.mapping == {1: 2, 2: 3, 3: 1}


def test_compare_labels_counts_disagreement_and_numbers_extra_labels():
    a = np.array([1, 1, 1, 2, 2, 2])
    b = np.array([5, 5, 7, 6, 6, 6])

    result = compare_labels(a, b)

    np.testing.assert_array_equal(result.matched, [1, 1, 3, 2, 2, 2])
    np.testing.assert_array_equal(result.disagreement, [False, False, True, False, False, False])
    assert result.disagreement_fraction == pytest.approx(1 / 6)
    assert result.mapping == {5: 1, 6: 2, 7: 3}


def test_compare_labels_rejects_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        compare_labels(np.zeros((4, 4)), np.zeros((4, 5)))


def test_compare_methods_equals_two_separate_segmentations(image2d):
    image = image2d[0]

    result = compare_methods(image, 3, sample_size=1500, **FAST)

    np.testing.assert_array_equal(result.em_labels, segment(image, 3, method="em", sample_size=1500, **FAST))
    np.testing.assert_array_equal(
        result.sinkhorn_labels, segment(image, 3, method="sinkhorn", sample_size=1500, **FAST)
    )
    assert result.comparison.adjusted_rand_index > 0.99


# ------------------------------------------------------------ model files


@pytest.mark.parametrize(
    "settings",
    [
        dict(method="sinkhorn", coordinates=True, covariance_type="diag"),
        dict(method="em", features="multiscale", sigmas=(1.0,)),
    ],
    ids=["sinkhorn-coordinates", "em-multiscale"],
)
def test_saved_model_predicts_identical_labels(tmp_path, image2d, settings):
    segmenter = Segmenter(3, **settings, **FAST).fit(image2d[0], scale=(0.5, 0.5))
    path = segmenter.save(tmp_path / "model.json")

    loaded = Segmenter.load(path)
    other = _three_levels(shape=(48, 48), seed=5)[0]

    np.testing.assert_array_equal(loaded.predict(other), segmenter.predict(other))
    np.testing.assert_array_equal(loaded.predict_proba(other), segmenter.predict_proba(other))
    assert loaded.feature_names_ == segmenter.feature_names_
    assert loaded.scale_ == (0.5, 0.5)


def test_model_file_is_readable_json_with_versions_and_settings(tmp_path, fitted):
    document = json.loads(fitted.save(tmp_path / "model.json").read_text())

    assert document["format_version"] == FORMAT_VERSION
    assert document["package_version"]
    assert document["settings"]["n_components"] == 3
    assert document["settings"]["mixture_options"] == {"max_iter": 30}
    assert document["recipe"]["features"] == [["intensity", None]]
    assert document["scaling"]["names"] == ["ch0:intensity"]
    assert np.array(document["mixture"]["means"]).shape == (3, 1)


def test_save_does_not_overwrite_unless_asked(tmp_path, fitted):
    path = fitted.save(tmp_path / "model.json")

    with pytest.raises(FileExistsError):
        fitted.save(path)
    fitted.save(path, overwrite=True)


def test_model_from_a_newer_version_asks_to_upgrade(tmp_path, fitted):
    path = fitted.save(tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(document))

    with pytest.raises(ValueError, match="newer napari-sinkhorn-em.*[Uu]pgrade"):
        Segmenter.load(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: text.replace('"means"', '"averages"'),
        lambda text: json.dumps({**json.loads(text), "scaling": {"names": ["x"], "center": [0], "scale": [1]}}),
        lambda text: json.dumps(
            {**json.loads(text), "mixture": {**json.loads(text)["mixture"], "weights": [0.5, 0.5]}}
        ),
        lambda text: json.dumps([1, 2, 3]),
    ],
    ids=["truncated", "missing-key", "wrong-scaling", "wrong-shape", "not-a-model"],
)
def test_damaged_model_file_is_a_clear_error(tmp_path, fitted, damage):
    path = fitted.save(tmp_path / "damaged.json")
    path.write_text(damage(path.read_text()))

    with pytest.raises(ValueError, match="damaged.json is damaged"):
        Segmenter.load(path)


def test_fit_steps_reports_progress_and_fits_like_fit():
    from napari_sinkhorn_em.data import worms_2d
    from napari_sinkhorn_em.segmentation import Progress, Segmenter

    image = worms_2d().image[:96, :96]
    stepped = Segmenter(3, max_iter=15, tol=0, sample_size=4000)
    reports = list(stepped.fit_steps(image))
    assert all(isinstance(r, Progress) for r in reports)
    main_iterations = [r for r in reports if "iteration" in r.message and "warm-up" not in r.message]
    assert [r.stage for r in main_iterations] == ["fit"] * 15
    fit_fractions = [r.fraction for r in reports if r.stage == "fit"]
    assert fit_fractions == sorted(fit_fractions) and fit_fractions[-1] == 1.0
    plain = Segmenter(3, max_iter=15, tol=0, sample_size=4000).fit(image)
    np.testing.assert_array_equal(stepped.predict(image), plain.predict(image))


def test_refit_steps_warm_starts_sinkhorn_em_at_a_new_epsilon():
    from napari_sinkhorn_em.data import worms_2d

    image = worms_2d().image[:96, :96]
    segmenter = Segmenter(3, method="sinkhorn", epsilon=1.0, sample_size=4000, max_iter=200).fit(image)
    fresh_iterations = segmenter.mixture_.n_iter_
    list(segmenter.refit_steps(epsilon=0.8))
    assert segmenter.epsilon == 0.8 and segmenter.mixture_.epsilon == 0.8
    assert segmenter.mixture_.n_iter_ < fresh_iterations
    means = segmenter.mixture_.means_
    assert (np.diff(means[:, 0]) >= 0).all()
    with pytest.raises(ValueError, match="epsilon"):
        list(segmenter.refit_steps(epsilon=0))


def test_refit_of_the_sinkhorn_start_equals_a_new_fit_at_that_epsilon(image2d):
    image = image2d[0]
    refitted = Segmenter(3, epsilon=1.0, sample_size=2000, **FAST).fit(image)
    list(refitted.refit_steps(epsilon=0.3))
    fresh = Segmenter(3, epsilon=0.3, sample_size=2000, **FAST).fit(image)
    np.testing.assert_array_equal(refitted.mixture_.means_, fresh.mixture_.means_)
    np.testing.assert_array_equal(refitted.plan_potentials_, fresh.plan_potentials_)


def test_refit_of_em_only_solves_the_plan_again():
    segmenter = Segmenter(2, method="em", sample_size=2000, **FAST).fit(_two_unequal_classes())
    means, potentials = segmenter.mixture_.means_, segmenter.plan_potentials_
    list(segmenter.refit_steps(epsilon=0.1))
    np.testing.assert_array_equal(segmenter.mixture_.means_, means)
    assert not np.allclose(segmenter.plan_potentials_, potentials)


# ---------------------------------------------------------------- methods


def _mixture_recipe(segmenter):
    mixture = segmenter.mixture_
    return mixture.method, mixture.warmup, mixture.weights


def test_each_method_fits_the_mixture_it_names(image2d):
    image = image2d[0]
    recipes = {
        method: _mixture_recipe(Segmenter(3, method=method, sample_size=1000, **FAST).fit(image))
        for method in ("sinkhorn_start", "em", "sinkhorn")
    }
    assert recipes == {
        "sinkhorn_start": ("em", "sinkhorn_means", "em"),
        "em": ("em", None, "em"),
        "sinkhorn": ("sinkhorn", None, "uniform"),
    }
    assert Segmenter().method == "sinkhorn_start"
    fixed = Segmenter(3, method="sinkhorn", weights="em", sample_size=1000, **FAST).fit(image)
    assert _mixture_recipe(fixed) == ("sinkhorn", None, "em")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(method="sinkhorn_means"), "method"),
        (dict(warmup="sinkhorn_means"), "with method="),
        (dict(assignment="hard"), "assignment"),
    ],
)
def test_unknown_method_or_assignment_is_a_clear_error_before_any_work(image2d, settings, message):
    with pytest.raises(ValueError, match=message):
        Segmenter(3, **settings).fit(image2d[0])


def test_sinkhorn_start_learns_a_small_class_that_equal_sizes_make_impossible():
    rng = np.random.default_rng(0)
    truth = np.zeros((80, 80), dtype=bool)
    truth[30:42, 10:70] = True  # a bright "worm" on 11 % of the image
    image = np.where(truth, 10.0, 0.0) + rng.normal(0.0, 1.0, truth.shape)

    default = segment(image, 2)
    equal = segment(image, 2, method="sinkhorn")

    assert np.mean((default == 2) == truth) > 0.99
    assert np.mean((equal == 2) == truth) < 0.9  # equal sizes push background into the worm class


def _two_unequal_classes():
    """Two overlapping classes on 80 % and 20 % of the image."""
    rng = np.random.default_rng(1)
    return np.concatenate([rng.normal(0.0, 1.0, (48, 60)), rng.normal(2.5, 1.0, (12, 60))])


def test_plan_labels_hold_the_class_sizes_and_posterior_labels_follow_the_image():
    image = _two_unequal_classes()
    weights = [0.5, 0.5]

    # EM with the class sizes held equal, labelled by its posterior or by the plan at a small ε.
    posterior = segment(image, 2, method="em", weights=weights, epsilon=0.05)
    plan = segment(image, 2, method="em", weights=weights, epsilon=0.05, assignment="plan")

    assert abs(np.mean(plan == 2) - 0.5) < 0.02
    assert np.mean(posterior == 2) < 0.4


def test_saved_model_keeps_the_plan(tmp_path, image2d):
    segmenter = Segmenter(3, assignment="plan", epsilon=0.2, **FAST).fit(image2d[0])
    loaded = Segmenter.load(segmenter.save(tmp_path / "plan.json"))

    assert loaded.assignment == "plan"
    np.testing.assert_array_equal(loaded.predict(image2d[0]), segmenter.predict(image2d[0]))


def test_class_sizes_from_a_rough_painting():
    painting = np.zeros((10, 10), dtype=np.uint8)
    painting[0, :6] = 1
    painting[5, :3] = 2
    painting[9, :1] = 3

    np.testing.assert_allclose(class_sizes_from_labels(painting, 3), [0.6, 0.3, 0.1])
    with pytest.raises(ValueError, match="Class 3 is not painted"):
        class_sizes_from_labels(np.where(painting == 3, 0, painting), 3)
    with pytest.raises(ValueError, match="label 3, but there are 2 classes"):
        class_sizes_from_labels(painting, 2)
    with pytest.raises(ValueError, match="whole-number labels"):
        class_sizes_from_labels(painting.astype(float), 3)
