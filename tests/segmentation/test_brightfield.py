"""Worms in a bright-field well: illumination correction, automatic masks, class sizes near a guess."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_sinkhorn_em import segment
from napari_sinkhorn_em.features import (
    BRIGHTFIELD_BACKGROUND_RATIO,
    background_sigma_for,
    correct_illumination,
    expand_features,
    extract_features,
)
from napari_sinkhorn_em.features.masks import largest_bright_region, otsu_foreground
from napari_sinkhorn_em.segmentation import Segmenter, default_assignment, default_method, knee_index, user_order

FAST = {"sample_size": 6000, "max_iter": 40}


def _well(seed=0, shape=(200, 200), worm_share=0.08):
    """A vignetted round well with a dark rim, dark outside, and dark thin worms on about ``worm_share`` of it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    centre = np.array(shape) / 2
    radius = np.hypot(y - centre[0], x - centre[1])
    well_radius = 0.45 * min(shape)
    inside = radius < well_radius
    lamp = 1000.0 * (1.0 - 0.6 * (radius / well_radius) ** 2)
    worms = np.zeros(shape, dtype=bool)
    while worms[inside].mean() < worm_share:
        start = centre + rng.uniform(-0.6, 0.6, 2) * well_radius
        angle = rng.uniform(0, np.pi)
        for t in np.linspace(0, 40, 120):
            angle += rng.normal(0, 0.05)
            point = start + t * np.array([np.sin(angle), np.cos(angle)])
            worms |= np.hypot(y - point[0], x - point[1]) < 5.0
        worms &= radius < well_radius - 6
    image = np.where(inside, lamp, 30.0)
    image = np.where(worms, 0.55 * image, image)
    rim = inside & (radius > well_radius - 4)
    image = np.where(rim, 0.5 * lamp, image)
    image = ndimage.gaussian_filter(image, 1.0) + rng.normal(0, 15, shape)
    return np.clip(image, 1, None).astype(np.float32), inside & ~rim, worms, inside


def _iou(a, b):
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


# --------------------------------------------------------------------------- masks


def test_largest_bright_region_is_the_well_with_its_worms_and_a_margin_removes_the_rim():
    image, well, worms, disk = _well()
    region = largest_bright_region(image)
    assert region[worms].all()  # holes (worms) filled
    assert _iou(region, disk) > 0.97
    shrunk = largest_bright_region(image, margin=5)
    assert shrunk.sum() < region.sum() and (shrunk <= region).all()
    assert not (shrunk & (ndimage.binary_dilation(~region, iterations=4))).any()


def test_masks_pick_a_channel_and_refuse_bad_input():
    image, _, _, _ = _well()
    stacked = np.stack([np.ones_like(image), image], axis=-1)
    np.testing.assert_array_equal(
        largest_bright_region(stacked, channel_axis=-1, channel=1), largest_bright_region(image)
    )
    np.testing.assert_array_equal(otsu_foreground(stacked, channel_axis=-1, channel=1), otsu_foreground(image))
    with pytest.raises(ValueError, match="channel=2 does not exist"):
        otsu_foreground(stacked, channel_axis=-1, channel=2)
    with pytest.raises(ValueError, match="uniform"):
        otsu_foreground(np.ones((8, 8)))
    # An offset image (values down to 0 or below) gives the same region.
    assert _iou(largest_bright_region(image - 1.0), largest_bright_region(image)) > 0.99
    with pytest.raises(ValueError, match="removes the whole bright region"):
        largest_bright_region(image, margin=500)


# --------------------------------------------------------------------------- features


def test_illumination_correction_flattens_the_lamp_inside_the_mask():
    image, well, worms, _ = _well()
    corrected = correct_illumination(image, 20.0, mask=well)
    background = well & ~ndimage.binary_dilation(worms, iterations=3)
    spread = np.subtract(*np.percentile(corrected[background], [90, 10]))
    # The lamp falls by 60 % towards the edge; after correction the background is flat around 0 ...
    assert np.subtract(*np.percentile(np.log(image[background]), [90, 10])) > 0.5
    assert abs(np.median(corrected[background])) < 0.1 and spread < 0.25
    # ... worms are darker than their surroundings everywhere, and the outside is 0.
    assert np.median(corrected[worms & well]) < -0.3
    assert (corrected[~well] == 0).all()
    with pytest.raises(ValueError, match="non-negative intensities"):
        correct_illumination(image - 500, 20.0)


def test_brightfield_preset_columns_recipe_and_scale():
    assert expand_features("brightfield", (1.0, 2.0)) == [
        ("intensity", None), ("gaussian", 1.0), ("hessian_eigenvalues", 1.0),
        ("gaussian", 2.0), ("hessian_eigenvalues", 2.0),
    ]
    assert background_sigma_for("brightfield", (1.0, 2.0, 4.0)) == BRIGHTFIELD_BACKGROUND_RATIO * 4.0
    assert background_sigma_for("multiscale", (1.0, 2.0)) is None
    assert background_sigma_for("multiscale", (1.0,), 7.0) == 7.0
    image, well, _, _ = _well()
    stack = extract_features(image, features="brightfield", mask=well)
    assert stack.n_features == 1 + 3 * (1 + 2) and stack.recipe["background_sigma"] == 20.0
    # The same recipe (explicit list + background) reproduces the table on a scaled image.
    again = extract_features(
        image, features=stack.recipe["features"], background_sigma=stack.recipe["background_sigma"],
        mask=well, standardize=stack.scaling,
    )
    np.testing.assert_array_equal(again.data, stack.data)
    with pytest.warns(UserWarning, match="below half a pixel"):
        extract_features(image, features="brightfield", mask=well, scale=(6.25, 6.25))


# --------------------------------------------------------------------------- class sizes


def test_knee_is_where_the_marginal_cost_jumps_not_where_it_rises_to_the_free_optimum():
    # Flat while the objects last (to share index 10), a jump, a plateau, then a long rise to 0.
    costs = np.concatenate([np.full(10, -60.0), [-50, -40, -35], np.full(5, -36.0), np.linspace(-35, 0, 12)])
    assert knee_index(costs) in (10, 11)
    # Without a peak, the rise from the lowest point is taken.
    assert knee_index(np.array([-5.0, -9.0, -9.5, -3.0, -1.0, 0.0])) in (3, 4)
    assert knee_index(np.array([-1.0])) == 0
    # A bump of a few hundredths at the start is the noise of single fits, not a peak: the rise from
    # the lowest point to the end of the range is taken (the worms sample, seed 2, guessed at 5 %).
    noisy = np.array([-35.80, -35.80, -35.81, -35.79, -36.0, -36.6, -37.5, -40.9, -45.1, -50.0, -54.6,
                      -58.0, -62.5, -56.3, -48.0, -43.9, -42.6, -42.5, -37.1])
    assert knee_index(noisy) in (13, 14, 15)


def test_user_order_maps_given_sizes_to_components():
    np.testing.assert_array_equal(user_order(np.array([0.9, 0.1]), np.array([0.1, 0.9])), [1, 0])
    np.testing.assert_array_equal(
        user_order(np.array([0.5, 0.2, 0.3]), np.array([0.3, 0.5, 0.2])), [2, 0, 1]
    )
    # Equal sizes: components taken in the order of the tie-break (e.g. their means).
    np.testing.assert_array_equal(
        user_order(np.array([0.5, 0.5]), np.array([0.5, 0.5]), tie_break=np.array([1, 0])), [1, 0]
    )


def test_given_sizes_choose_sinkhorn_em_with_plan_labels():
    assert default_method((0.1, 0.9)) == "sinkhorn" and default_method("em") == "sinkhorn_start"
    assert default_method(None) == "sinkhorn_start"
    assert default_assignment("sinkhorn", (0.1, 0.9)) == "plan"
    assert default_assignment("sinkhorn", "uniform") == "posterior"
    assert default_assignment("em", (0.1, 0.9)) == "posterior"
    segmenter = Segmenter(2, weights=(0.1, 0.9))
    assert segmenter.method == "sinkhorn" and segmenter.assignment == "plan"


def test_the_size_search_tries_shares_around_the_guess_and_keeps_one():
    image, well, _, _ = _well(seed=1)
    segmenter = Segmenter(2, features="brightfield", weights=(0.1, 0.9), size_tolerance=2.0, **FAST)
    labels = segmenter.fit_predict(image, mask=well)
    search = segmenter.size_search_
    assert search.searched_class == 0 and search.guess == pytest.approx(0.1)
    assert search.shares[0] == pytest.approx(0.05) and search.shares[-1] == pytest.approx(0.2)
    assert len(search.shares) == len(search.marginal_costs) == 17
    assert search.chosen in search.shares and segmenter.class_sizes_[0] == pytest.approx(search.chosen)
    # Labels come from the plan, so the worm label holds the chosen share of the well.
    assert abs(np.mean(labels[well] == 1) - search.chosen) < 0.02


BBBC010 = Path(__file__).resolve().parents[3] / "shared" / "data" / "bbbc010_celegans"


@pytest.mark.skipif(not BBBC010.is_dir(), reason="needs ../shared/data/bbbc010_celegans")
@pytest.mark.parametrize("guess", [0.05, 0.15])
def test_a_rough_guess_finds_the_worms_of_a_real_well(guess):
    bright_field = tifffile.imread(BBBC010 / "A01_image.tif")[1]
    truth = tifffile.imread(BBBC010 / "A01_instances.tif") > 0
    well = largest_bright_region(bright_field, margin=6)
    segmenter = Segmenter(2, features="brightfield", weights=(guess, 1 - guess), sample_size=20_000, max_iter=50)
    labels = segmenter.fit_predict(bright_field, mask=well)
    # Worms are 9.5 % of this well. Held at the guess, the worm label could reach at most an IoU of
    # 0.53 (guess 0.05) or 0.63 (0.15); the search finds a share near the truth.
    assert _iou(labels == 1, truth) > 0.7
    assert 0.07 < segmenter.class_sizes_[0] < 0.12


def test_size_tolerance_1_holds_the_sizes_as_given():
    image, well, _, _ = _well(seed=1)
    segmenter = Segmenter(2, features="brightfield", weights=(0.12, 0.88), size_tolerance=1.0, **FAST)
    labels = segmenter.fit_predict(image, mask=well)
    assert segmenter.size_search_ is None
    np.testing.assert_allclose(segmenter.class_sizes_, [0.12, 0.88])
    assert abs(np.mean(labels[well] == 1) - 0.12) < 0.01


def test_label_k_is_the_class_given_the_k_th_size():
    image, well, worms, _ = _well(seed=2)
    first = segment(image, 2, features="brightfield", mask=well, weights=(0.1, 0.9), size_tolerance=1.0, **FAST)
    second = segment(image, 2, features="brightfield", mask=well, weights=(0.9, 0.1), size_tolerance=1.0, **FAST)
    assert abs(np.mean(first[well] == 1) - 0.1) < 0.01 and abs(np.mean(second[well] == 2) - 0.1) < 0.01
    np.testing.assert_array_equal(first == 1, second == 2)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ((-0.1, 1.1), "must all be finite and > 0"),
        ((0.2, 0.2), "must sum to 1"),
        ((0.1, 0.2, 0.7), "list of 2 fractions"),
        ((1e-12, 1 - 1e-12), "less than one of the"),
    ],
)
def test_bad_class_sizes_are_refused_with_a_sentence(sizes, message):
    image, well, _, _ = _well()
    with pytest.raises(ValueError, match=message):
        segment(image, 2, weights=sizes, mask=well, **FAST)


def test_size_tolerance_below_1_is_refused():
    image, well, _, _ = _well()
    with pytest.raises(ValueError, match="size_tolerance is a factor"):
        segment(image, 2, weights=(0.1, 0.9), size_tolerance=0.5, mask=well, **FAST)


def test_a_live_epsilon_change_keeps_label_k_the_class_given_the_k_th_size():
    image, well, _, _ = _well(seed=2)
    # The small (darker) class second: ordering by brightness would make it label 1.
    segmenter = Segmenter(2, features="brightfield", weights=(0.9, 0.1), size_tolerance=1.0, **FAST)
    before = segmenter.fit_predict(image, mask=well)
    for _ in segmenter.refit_steps(epsilon=0.3):
        pass
    after = segmenter.predict(image, mask=well)
    np.testing.assert_allclose(segmenter.class_sizes_, [0.9, 0.1])
    assert abs(np.mean(after[well] == 2) - 0.1) < 0.01
    assert np.mean((after == 2) == (before == 2)) > 0.95
