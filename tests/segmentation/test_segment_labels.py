"""What segment and Segmenter label: numbering, types, masks, subsamples, methods, bit-identical results."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sinkhorn_em.segmentation import Segmenter, segment

FAST = {"max_iter": 30}


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


@pytest.mark.parametrize("method", ["sinkhorn_start", "em", "sinkhorn"])
def test_same_inputs_and_seed_give_bit_identical_labels_and_fit_equals_segment(two_halves, method):
    image = two_halves((48, 48), seed=3)
    first = segment(image, 3, method=method, sample_size=500, random_state=4, **FAST)
    second = segment(image, 3, method=method, sample_size=500, random_state=4, **FAST)
    fitted = Segmenter(3, method=method, sample_size=500, random_state=4, **FAST).fit(image)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(fitted.predict(image), first)


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

    assert not np.array_equal(first.scaling_.centre, second.scaling_.centre)


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


def test_predict_on_another_image_uses_the_same_numbers(three_levels, fitted):
    other, truth = three_levels(shape=(40, 90), seed=7)

    assert np.mean(fitted.predict(other) == truth) > 0.99


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


def test_sinkhorn_start_learns_a_small_class_that_equal_sizes_make_impossible():
    rng = np.random.default_rng(0)
    truth = np.zeros((80, 80), dtype=bool)
    truth[30:42, 10:70] = True  # a bright "worm" on 11 % of the image
    image = np.where(truth, 10.0, 0.0) + rng.normal(0.0, 1.0, truth.shape)

    default = segment(image, 2)
    equal = segment(image, 2, method="sinkhorn")

    assert np.mean((default == 2) == truth) > 0.99
    assert np.mean((equal == 2) == truth) < 0.9  # equal sizes push background into the worm class


def test_plan_labels_hold_the_class_sizes_and_posterior_labels_follow_the_image(two_unequal_classes):
    image = two_unequal_classes
    weights = [0.5, 0.5]

    # EM with the class sizes held equal, labelled by its posterior or by the plan at a small ε.
    posterior = segment(image, 2, method="em", weights=weights, epsilon=0.05)
    plan = segment(image, 2, method="em", weights=weights, epsilon=0.05, assignment="plan")

    assert abs(np.mean(plan == 2) - 0.5) < 0.02
    assert np.mean(posterior == 2) < 0.4


def test_blocks_never_compute_a_voxel_more_often_than_the_memory_limit_forces(monkeypatch):
    from napari_sinkhorn_em.segmentation import FeatureSource, sources

    monkeypatch.setattr(sources, "FEATURE_THREADS", 1)  # the planner alone, the whole limit per block

    recipe = {"features": [["gaussian", 4.0]], "coordinates": False, "coordinate_weight": 1.0,
              "background_sigma": None}

    def blocks(n_planes, memory_limit, side=32):
        image = np.zeros((n_planes, side, side), dtype=np.float32)
        source = FeatureSource(image, channel_axis=None, scale=None, mask=None, recipe=recipe,
                               memory_limit=memory_limit)
        return source.block_shape, len(source.boxes)

    # A thin stack whose one-plane slab with its halo spans it all: one slab, each plane once.
    assert blocks(6, 1) == ((6, 32, 32), 1)
    # A thick stack under a tiny limit: one-plane slabs, the least memory possible.
    assert blocks(60, 1) == ((1, 32, 32), 60)
    # A limit that holds the whole stack: one block, not two padded ones.
    assert blocks(60, 1 << 30) == ((60, 32, 32), 1)
    # Without filters every shape computes each voxel once: the fewest blocks, not one-line ones.
    recipe["features"] = [["intensity", None]]
    assert blocks(60, 1 << 30) == ((60, 32, 32), 1)
    assert blocks(60, 60 * 32 * 32 * 32 // 2) == ((30, 32, 32), 2)  # 32 bytes a voxel: half the stack
    recipe["features"] = [["gaussian", 4.0]]
    # A thick stack of large planes: blocks cut within the planes too, so that each is thicker
    # than its halo (16 planes each side here); one-plane slabs computed 33 planes per plane.
    shape, n_blocks = blocks(120, 96 << 20, side=512)
    assert shape[1] < 512 and shape[0] > 16 and shape[2] == 512
    # ...but never when that costs more work than whole planes (a tight limit and a wide halo).
    assert blocks(120, 4 << 20, side=512) == ((1, 512, 512), 120)
    # A thin stack whose one slab (126 MB of filters and table) exceeds the limit: cut within the
    # planes rather than held whole.
    shape, n_blocks = blocks(6, 32 << 20, side=512)
    assert shape[0] == 6 and shape[1] < 512 and n_blocks > 1


def test_several_blocks_are_computed_at_once_within_a_share_of_the_limit(monkeypatch):
    import threading

    from napari_sinkhorn_em.segmentation import FeatureSource, sources

    rng = np.random.default_rng(4)
    image = rng.normal(100, 10, (12, 96, 64)).astype(np.float32)
    image[2:9, 20:70, 10:50] += 40
    recipe = Segmenter(3, features=[("gaussian", 1.0)], coordinates=True).feature_recipe()
    limit = 4 << 20

    def source(n_threads):
        monkeypatch.setattr(sources, "FEATURE_THREADS", n_threads)
        return FeatureSource(image, channel_axis=None, scale=None, mask=None, recipe=recipe, memory_limit=limit)

    serial, parallel = source(1), source(3)
    assert parallel.n_threads == 3 and len(parallel.boxes) > len(serial.boxes) > 1
    assert parallel.block_shape == sources.block_shape(
        parallel.features, image.shape, 6, parallel.halo, limit // 4  # 3 filter and 3 coordinate columns
    )
    threads = set()
    compute = parallel._compute
    monkeypatch.setattr(parallel, "_compute", lambda box, **options: threads.add(threading.current_thread().name) or compute(box, **options))

    def rows_in_order(feature_source):
        blocks, tables = zip(*feature_source.tables())
        numbers = np.concatenate([np.asarray(block.row_numbers) for block in blocks])
        return np.concatenate(tables)[np.argsort(numbers)]

    np.testing.assert_array_equal(rows_in_order(parallel), rows_in_order(serial))
    assert threads and all(name.startswith("napari-sinkhorn-em-features") for name in threads)


@pytest.mark.parametrize("with_mask", [False, True])
def test_blocks_cut_within_planes_give_the_labels_of_the_whole_image(with_mask, monkeypatch):
    from napari_sinkhorn_em.segmentation import FeatureSource, sources

    monkeypatch.setattr(sources, "FEATURE_THREADS", 1)  # the whole limit per block: cut within planes

    rng = np.random.default_rng(3)
    image = rng.normal(100, 10, (40, 96, 64)).astype(np.float32)
    image[5:30, 20:70, 10:50] += 40
    mask = None
    if with_mask:
        mask = rng.random(image.shape) > 0.3
        mask[:, 40:48] = False  # lines and whole blocks without a masked voxel
    settings = dict(features=[("gaussian", 1.0)], coordinates=True, sample_size=3000, random_state=0)
    tight = Segmenter(3, memory_limit=1 << 20, **settings)
    source = FeatureSource(image, channel_axis=None, scale=None, mask=mask, recipe=tight.feature_recipe(),
                           memory_limit=tight.memory_limit)
    assert source.block_shape[1] < 96  # cut within the planes, so row numbers interleave
    whole = Segmenter(3, memory_limit=1 << 34, **settings)
    labels = tight.fit(image, mask=mask).predict(image, mask=mask)
    np.testing.assert_array_equal(tight.fit_sample_, whole.fit(image, mask=mask).fit_sample_)
    np.testing.assert_array_equal(labels, whole.predict(image, mask=mask))


@pytest.mark.parametrize("with_mask, memory_limit", [(False, 1 << 20), (True, 1 << 20), (False, 1 << 30)])
def test_the_fit_computes_only_the_sampled_rows_and_they_equal_the_whole_tables(with_mask, memory_limit):
    from napari_sinkhorn_em.segmentation import FeatureSource

    rng = np.random.default_rng(5)
    image = rng.normal(100, 10, (2, 12, 40, 30)).astype(np.float32)
    mask = rng.random(image.shape[1:]) > 0.4 if with_mask else None
    recipe = Segmenter(3, features="multiscale", sigmas=(1.0,), coordinates=True).feature_recipe()
    source = FeatureSource(image, channel_axis=0, scale=(2.0, 1.0, 1.0), mask=mask, recipe=recipe,
                           memory_limit=memory_limit)
    assert len(source.boxes) > 2 or memory_limit == 1 << 30  # several blocks, or one unpadded
    sample = np.sort(rng.choice(source.n_points, size=300, replace=False))

    whole = np.empty((source.n_points, 0))
    for block, table in source.tables():
        if whole.shape[1] == 0:
            whole = np.empty((source.n_points, table.shape[1]), table.dtype)
        whole[np.asarray(block.row_numbers)] = table
    blocks = list(source.sample_tables(sample))
    numbers = np.concatenate([np.asarray(block.row_numbers) for block, _ in blocks])
    tables = np.concatenate([table for _, table in blocks])

    assert sum(len(table) for _, table in blocks) == 300  # no other row computed
    np.testing.assert_array_equal(tables[np.argsort(numbers)], whole[sample])
