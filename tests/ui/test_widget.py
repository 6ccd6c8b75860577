"""The dock widget: inputs, runs in the background, live updates, cancelling, errors, saved models."""

import numpy as np
import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")

from bands import three_bands  # noqa: E402
from napari.layers import Image  # noqa: E402

from napari_sinkhorn_em import data  # noqa: E402
from napari_sinkhorn_em._napari import running as _running  # noqa: E402
from napari_sinkhorn_em._napari import widget as _widget  # noqa: E402
from napari_sinkhorn_em._napari.widget import SegmentationWidget  # noqa: E402
from napari_sinkhorn_em.features import largest_bright_region  # noqa: E402
from napari_sinkhorn_em.segmentation import (  # noqa: E402
    CERTAINTY_CAP,
    METHOD_NAMES,
    Segmenter,
    compare_labels,
    label_certainty,
)

TIMEOUT_MS = 60_000
K = 3

pytestmark = pytest.mark.usefixtures("opengl_free_image_layers")


@pytest.fixture
def widget(viewer, qtbot):
    widget = SegmentationWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.n_components_spin.setValue(K)
    widget.max_iter_spin.setValue(20)
    widget.sample_size_spin.setValue(1000)
    yield widget
    # Leave no thread running into the next test.
    if widget.worker is not None:
        worker = widget.worker
        worker.quit()
        qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)


def run_to_end(widget, qtbot, start=None):
    """Start a run (``widget.run`` unless ``start`` is given) and wait until it has finished."""
    (start or widget.run)()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)


def set_method(widget, method):
    widget.method_combo.setCurrentIndex(widget.method_combo.findData(method))


def start_long_fit(widget, qtbot):
    """Start a fit that would run for minutes and wait until it is iterating."""
    widget.max_iter_spin.setValue(1_000_000)
    widget.tol_spin.setValue(0.0)
    widget.sample_size_spin.setValue(0)
    widget.run()
    qtbot.waitUntil(lambda: "iteration" in widget.status_label.text(), timeout=TIMEOUT_MS)
    return widget.worker


def test_widget_opens_from_the_plugin_menu(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-sinkhorn-em", "Segment by clustering")
    assert isinstance(widget, SegmentationWidget)


def test_every_control_explains_itself_in_a_tooltip(widget):
    controls = [
        widget.image_list, widget.channel_axis_combo, widget.mask_combo, widget.dimensions_combo,
        widget.time_combo, widget.features_combo, widget.sigmas_edit, widget.n_components_spin,
        widget.epsilon_slider, widget.epsilon_spin, widget.method_combo, widget.weights_combo,
        widget.painting_combo, widget.assignment_combo, widget.class_sizes_label,
        widget.auto_mask_combo, widget.class_sizes_edit,
        widget.covariance_combo, widget.seed_spin, widget.sample_size_spin, widget.confidence_check,
        widget.max_iter_spin, widget.tol_spin, widget.live_check, widget.run_button, widget.cancel_button,
        widget.save_button, widget.apply_button,
    ]
    assert all(len(control.toolTip()) > 30 for control in controls)


def test_the_widget_says_learned_as_the_command_line_does(widget):
    from qtpy.QtWidgets import QComboBox, QWidget

    texts = [control.toolTip() for control in widget.findChildren(QWidget)]
    texts += [combo.itemText(row) for combo in widget.findChildren(QComboBox) for row in range(combo.count())]
    assert widget.weights_combo.itemText(widget.weights_combo.findData("em")) == "learned from the image"
    assert any("learned" in text for text in texts)
    assert not [text for text in texts if "learnt" in text.lower()]


def test_both_methods_give_matched_labels_and_a_disagreement_layer(viewer, widget, qtbot):
    source = viewer.add_image(three_bands(), name="worm", scale=(0.5, 0.25), translate=(3.0, 4.0))
    set_method(widget, "both")
    run_to_end(widget, qtbot)

    em = viewer.layers["worm EM K=3"]
    sinkhorn = viewer.layers["worm Sinkhorn K=3 ε=1"]
    disagreement = viewer.layers["worm EM≠Sinkhorn K=3 ε=1"]
    assert len(viewer.layers) == 4
    for layer in (em, sinkhorn, disagreement):
        assert layer.data.shape == source.data.shape
        np.testing.assert_array_equal(layer.scale, source.scale)
        np.testing.assert_array_equal(layer.translate, source.translate)
    for labels in (em.data, sinkhorn.data):
        assert set(np.unique(labels)) == {1, 2, 3}
    np.testing.assert_array_equal(disagreement.data.astype(bool), em.data != sinkhorn.data)
    assert "adjusted Rand index" in widget.comparison_label.text()


def test_sinkhorn_labels_are_renumbered_to_match_em(viewer, widget, qtbot, monkeypatch):
    predict = Segmenter.predict

    def predict_reversed_for_sinkhorn(self, image, **options):
        labels = predict(self, image, **options)
        return K + 1 - labels if self.method == "sinkhorn" else labels

    monkeypatch.setattr(Segmenter, "predict", predict_reversed_for_sinkhorn)
    viewer.add_image(three_bands(), name="worm")
    set_method(widget, "both")
    run_to_end(widget, qtbot)

    # Unmatched, the reversed numbers would agree with EM on the middle band only.
    em, sinkhorn = viewer.layers["worm EM K=3"].data, viewer.layers["worm Sinkhorn K=3 ε=1"].data
    assert np.mean(sinkhorn == em) > 0.95


def test_epsilon_slider_and_number_box_follow_each_other(widget):
    widget.epsilon_slider.setValue(widget.epsilon_slider.maximum())
    assert widget.epsilon_spin.value() == 100.0
    widget.epsilon_spin.setValue(0.01)
    assert widget.epsilon_slider.value() == widget.epsilon_slider.minimum()
    widget.epsilon_spin.setValue(1.0)
    assert widget.epsilon_slider.value() == (widget.epsilon_slider.maximum() + widget.epsilon_slider.minimum()) // 2


def test_live_epsilon_change_updates_the_same_layer(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    run_to_end(widget, qtbot)
    layer = viewer.layers["worm S→EM K=3 ε=1"]
    n_layers, first_labels = len(viewer.layers), layer.data

    widget.live_check.setChecked(True)
    widget.epsilon_spin.setValue(0.05)
    qtbot.waitUntil(lambda: layer.name == "worm S→EM K=3 ε=0.05", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)

    assert viewer.layers["worm S→EM K=3 ε=0.05"] is layer
    assert layer.data is not first_labels
    assert set(np.unique(layer.data)) == {1, 2, 3}
    assert len(viewer.layers) == n_layers


@pytest.fixture
def fit_calls(monkeypatch):
    """Records ("fit", method) for each Segmenter.fit_steps and ("refit", method, ε) for each refit_steps."""
    calls = []
    fit_steps, refit_steps = Segmenter.fit_steps, Segmenter.refit_steps

    def recorded_fit_steps(self, *args, **options):
        calls.append(("fit", self.method))
        return fit_steps(self, *args, **options)

    def recorded_refit_steps(self, *, epsilon):
        calls.append(("refit", self.method, epsilon))
        return refit_steps(self, epsilon=epsilon)

    monkeypatch.setattr(Segmenter, "fit_steps", recorded_fit_steps)
    monkeypatch.setattr(Segmenter, "refit_steps", recorded_refit_steps)
    return calls


def test_epsilon_change_reuses_em_and_continues_sinkhorn_em(viewer, widget, qtbot, fit_calls):
    viewer.add_image(three_bands(), name="worm")
    set_method(widget, "both")
    run_to_end(widget, qtbot)
    widget.epsilon_spin.setValue(0.2)
    run_to_end(widget, qtbot)

    assert fit_calls == [("fit", "em"), ("fit", "sinkhorn"), ("refit", "sinkhorn", 0.2)]
    assert widget.fitted_segmenters["sinkhorn"].epsilon == 0.2
    assert "worm Sinkhorn K=3 ε=0.2" in viewer.layers


def test_other_changes_fit_anew(viewer, widget, qtbot, fit_calls):
    viewer.add_image(three_bands(), name="worm")
    run_to_end(widget, qtbot)
    widget.epsilon_spin.setValue(0.2)
    widget.seed_spin.setValue(7)
    run_to_end(widget, qtbot)

    assert fit_calls == [("fit", "sinkhorn_start"), ("fit", "sinkhorn_start")]


def test_editing_the_mask_makes_the_next_run_fit_anew(viewer, widget, qtbot, fit_calls):
    viewer.add_image(three_bands(), name="worm")
    body = viewer.add_labels(np.ones((48, 48), dtype=np.uint8), name="body")
    widget.mask_combo.setCurrentIndex(widget.mask_combo.findData("body"))
    run_to_end(widget, qtbot)
    body.data[:8] = 0  # in place, as painting does
    widget.epsilon_spin.setValue(0.2)
    run_to_end(widget, qtbot)

    assert fit_calls == [("fit", "sinkhorn_start"), ("fit", "sinkhorn_start")]
    assert not viewer.layers["worm S→EM K=3 ε=0.2"].data[:8].any()


def test_live_k_change_reruns_after_a_short_pause(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    widget.live_check.setChecked(True)
    widget.n_components_spin.setValue(2)
    assert widget.worker is None  # debounced: nothing starts at once
    qtbot.waitUntil(lambda: "worm S→EM K=2 ε=1" in viewer.layers, timeout=TIMEOUT_MS)
    assert set(np.unique(viewer.layers["worm S→EM K=2 ε=1"].data)) == {1, 2}


def test_live_change_stops_the_running_fit_and_starts_a_new_one(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    long_fit = start_long_fit(widget, qtbot)
    widget.max_iter_spin.setValue(20)
    widget.tol_spin.setValue(1e-4)
    widget.live_check.setChecked(True)
    widget.n_components_spin.setValue(2)
    qtbot.waitUntil(lambda: "worm S→EM K=2 ε=1" in viewer.layers, timeout=TIMEOUT_MS)

    assert long_fit.abort_requested
    assert [layer.name for layer in viewer.layers] == ["worm", "worm S→EM K=2 ε=1"]


def test_changes_without_live_mode_do_not_run(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    widget.n_components_spin.setValue(2)
    qtbot.wait(2 * _widget.LIVE_DELAY_MS)
    assert widget.worker is None
    assert len(viewer.layers) == 1


def test_rerun_after_the_result_was_deleted_adds_a_new_layer(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    run_to_end(widget, qtbot)
    viewer.layers.remove("worm S→EM K=3 ε=1")
    run_to_end(widget, qtbot)
    assert [layer.name for layer in viewer.layers] == ["worm", "worm S→EM K=3 ε=1"]


def test_cancel_stops_a_long_fit_and_adds_nothing(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    start_long_fit(widget, qtbot)
    assert widget.cancel_button.isEnabled()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)

    assert [layer.name for layer in viewer.layers] == ["worm"]
    assert not widget.cancel_button.isEnabled()
    assert widget.run_button.isEnabled()
    assert "Stopped" in widget.status_label.text()


def test_removing_the_image_during_a_fit_stops_it_with_a_warning(viewer, widget, qtbot, notifications):
    viewer.add_image(three_bands(), name="worm")
    start_long_fit(widget, qtbot)
    viewer.layers.remove("worm")
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)

    assert len(viewer.layers) == 0
    assert [level for level, _ in notifications] == ["warning"]
    assert "'worm' was removed" in notifications[0][1]


def test_closing_the_viewer_stops_the_fit(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    worker = start_long_fit(widget, qtbot)
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)
    assert worker.abort_requested


def test_destroying_the_widget_stops_the_fit(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    worker = start_long_fit(widget, qtbot)
    viewer.window.remove_dock_widget(widget)
    widget.deleteLater()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)
    assert worker.abort_requested
    assert [layer.name for layer in viewer.layers] == ["worm"]


def test_running_without_an_image_layer_is_reported(viewer, widget, notifications):
    widget.run()
    assert widget.worker is None
    assert [level for level, _ in notifications] == ["error"]
    assert "Choose an image layer" in notifications[0][1]


def test_more_classes_than_pixels_is_reported(viewer, widget, notifications):
    viewer.add_image(three_bands(), name="worm")
    mask = np.zeros((48, 48), dtype=np.uint8)
    mask[0, :2] = 1
    viewer.add_labels(mask, name="two pixels")
    widget.mask_combo.setCurrentIndex(widget.mask_combo.findData("two pixels"))
    widget.run()
    assert widget.worker is None
    assert [level for level, _ in notifications] == ["error"]
    assert "only 2 pixels inside the mask" in notifications[0][1]


def test_a_failing_fit_is_reported_and_the_widget_stays_usable(viewer, widget, qtbot, notifications, monkeypatch):
    viewer.add_image(three_bands(), name="worm")

    def failing_fit_steps(self, image, **options):
        raise ValueError("the features could not be computed")
        yield

    with monkeypatch.context() as patch:
        patch.setattr(Segmenter, "fit_steps", failing_fit_steps)
        run_to_end(widget, qtbot)
    assert notifications == [("error", "Segmenting 'worm' failed: the features could not be computed")]
    assert len(viewer.layers) == 1

    run_to_end(widget, qtbot)
    assert "worm S→EM K=3 ε=1" in viewer.layers


def test_mask_leaves_pixels_outside_it_unlabelled(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    mask = np.zeros((48, 48), dtype=np.uint8)
    mask[8:40, 8:40] = 1
    viewer.add_labels(mask, name="body")
    widget.mask_combo.setCurrentIndex(widget.mask_combo.findData("body"))
    run_to_end(widget, qtbot)

    labels = viewer.layers["worm S→EM K=3 ε=1"].data
    assert not labels[mask == 0].any()
    assert set(np.unique(labels[mask == 1])) == {1, 2, 3}


def test_layers_selected_together_are_used_as_channels(viewer, widget, qtbot):
    # The classes differ only in the second channel.
    flat = np.random.default_rng(1).normal(100, 3, (48, 48)).astype(np.float32)
    first = viewer.add_image(flat, name="head mTagBFP2")
    second = viewer.add_image(three_bands(seed=2), name="head CyOFP1")
    widget.select_layers(first, second)
    run_to_end(widget, qtbot)

    labels = viewer.layers["head S→EM K=3 ε=1"].data
    assert labels.shape == (48, 48)
    assert widget.fitted_segmenters["sinkhorn_start"].n_channels_ == 2
    bands = np.broadcast_to(np.arange(48) // 16, (48, 48))
    assert compare_labels(bands, labels).adjusted_rand_index > 0.95


def test_channel_axis_of_one_layer(viewer, widget, qtbot):
    image = np.stack([three_bands(seed=3), three_bands(seed=4)])
    viewer.add_image(image, name="two colours", scale=(1.0, 0.5, 0.25))
    widget.channel_axis_combo.setCurrentIndex(widget.channel_axis_combo.findData(0))
    assert not widget.time_combo.isEnabled()
    run_to_end(widget, qtbot)

    layer = viewer.layers["two colours S→EM K=3 ε=1"]
    assert layer.data.shape == (48, 48)
    np.testing.assert_array_equal(layer.scale, (0.5, 0.25))
    assert widget.fitted_segmenters["sinkhorn_start"].n_channels_ == 2


def test_rgb_layer_uses_its_colours_as_channels(viewer, widget, qtbot):
    image = np.stack([three_bands(seed=seed) for seed in range(3)], axis=-1).clip(0, 255).astype(np.uint8)
    viewer.add_image(image, name="photo", rgb=True)
    run_to_end(widget, qtbot)

    assert viewer.layers["photo S→EM K=3 ε=1"].data.shape == (48, 48)
    assert widget.fitted_segmenters["sinkhorn_start"].n_channels_ == 3


def test_time_series_labels_the_current_time_point(viewer, widget, qtbot):
    viewer.add_image(np.stack([three_bands(seed=seed) for seed in range(3)]), name="movie")
    widget.dimensions_combo.setCurrentIndex(widget.dimensions_combo.findData("2"))
    viewer.dims.set_current_step(0, 2)
    run_to_end(widget, qtbot)

    labels = viewer.layers["movie S→EM K=3 ε=1"].data
    assert labels.shape == (3, 48, 48)
    assert not labels[:2].any()
    assert set(np.unique(labels[2])) == {1, 2, 3}


def test_time_series_labels_all_time_points_with_one_model(viewer, widget, qtbot):
    movie = np.stack([three_bands(seed=seed) for seed in range(3)])
    viewer.add_image(movie, name="movie")
    widget.dimensions_combo.setCurrentIndex(widget.dimensions_combo.findData("2"))
    widget.time_combo.setCurrentIndex(widget.time_combo.findData("all"))
    run_to_end(widget, qtbot)

    labels = viewer.layers["movie S→EM K=3 ε=1"].data
    segmenter = widget.fitted_segmenters["sinkhorn_start"]
    for frame in range(3):
        np.testing.assert_array_equal(labels[frame], segmenter.predict(movie[frame]))


def test_three_d_stack_is_segmented_as_a_volume(viewer, widget, qtbot):
    viewer.add_image(np.stack([three_bands((16, 16), seed=seed) for seed in range(4)]), name="stack")
    widget.dimensions_combo.setCurrentIndex(widget.dimensions_combo.findData("3"))
    assert not widget.time_combo.isEnabled()
    run_to_end(widget, qtbot)

    labels = viewer.layers["stack S→EM K=3 ε=1"].data
    assert labels.shape == (4, 16, 16)
    assert all(set(np.unique(plane)) == {1, 2, 3} for plane in labels)


def test_certainty_map_is_added_on_request(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    widget.confidence_check.setChecked(True)
    run_to_end(widget, qtbot)

    layer = viewer.layers["worm S→EM K=3 ε=1 certainty"]
    assert layer.data.shape == (48, 48)
    assert layer.data.min() >= 0 and layer.data.max() <= CERTAINTY_CAP
    assert tuple(layer.contrast_limits) == (0, CERTAINTY_CAP)
    assert "up to 6 or more" in widget.confidence_check.toolTip()


def test_certainty_map_varies_on_an_ambiguous_image(viewer, widget, qtbot):
    # Bands of brightness 10, 50 and 100 under noise of 15: many pixels could belong to a neighbouring band.
    rng = np.random.default_rng(0)
    image = (np.repeat([10.0, 50.0, 100.0], 16)[None, :] + rng.normal(0, 15, (48, 48))).astype(np.float32)
    viewer.add_image(image, name="noisy")
    widget.sample_size_spin.setValue(0)
    widget.confidence_check.setChecked(True)
    run_to_end(widget, qtbot)

    certainty = viewer.layers["noisy S→EM K=3 ε=1 certainty"].data
    segmenter = widget.fitted_segmenters["sinkhorn_start"]
    np.testing.assert_allclose(certainty, label_certainty(segmenter.predict_proba(image)), rtol=1e-6)
    # Spread over the scale: toss-ups, clear cases and everything between.
    assert np.mean(certainty < 0.5) > 0.05
    assert np.mean(certainty >= CERTAINTY_CAP - 0.01) < 0.9
    assert np.mean((certainty > 1) & (certainty < CERTAINTY_CAP - 1)) > 0.1


def test_saved_model_labels_another_image(viewer, widget, qtbot, tmp_path, notifications):
    viewer.add_image(three_bands(seed=0), name="first worm")
    run_to_end(widget, qtbot)
    path = widget.save_model(tmp_path / "worms.json")
    assert path.exists()
    assert notifications[-1][0] == "info"

    other = three_bands(seed=5)
    widget.select_layers(viewer.add_image(other, name="second worm"))
    run_to_end(widget, qtbot, start=lambda: widget.apply_model(path))

    labels = viewer.layers["second worm model worms.json"].data
    np.testing.assert_array_equal(labels, Segmenter.load(path).predict(other))
    assert set(np.unique(labels)) == {1, 2, 3}


def test_saving_before_any_run_is_reported(widget, tmp_path, notifications):
    assert widget.save_model(tmp_path / "model.json") is None
    assert [level for level, _ in notifications] == ["warning"]
    assert not (tmp_path / "model.json").exists()


def test_applying_an_unreadable_model_is_reported(viewer, widget, tmp_path, notifications):
    viewer.add_image(three_bands(), name="worm")
    path = tmp_path / "not a model.json"
    path.write_text("{}")
    widget.apply_model(path)
    assert widget.worker is None
    assert [level for level, _ in notifications] == ["error"]


def test_each_method_offers_its_own_class_sizes(widget):
    assert widget.method_combo.currentData() == "sinkhorn_start"
    assert widget.weights_combo.currentData() == "em"
    assert widget.epsilon_spin.isEnabled()  # the Sinkhorn start uses ε
    set_method(widget, "sinkhorn")
    assert widget.weights_combo.currentData() == "uniform"
    set_method(widget, "em")
    assert widget.weights_combo.currentData() == "em"
    assert not widget.epsilon_spin.isEnabled()
    widget.assignment_combo.setCurrentIndex(widget.assignment_combo.findData("plan"))
    assert widget.epsilon_spin.isEnabled()
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("painted"))
    assert widget.painting_combo.isEnabled()
    set_method(widget, "sinkhorn")
    assert widget.weights_combo.currentData() == "painted"


def test_painted_classes_set_the_class_sizes_and_the_widget_shows_them(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    painting = np.zeros((48, 48), dtype=np.uint8)
    painting[0, :10], painting[1, :30], painting[2, :20] = 1, 2, 3
    viewer.add_labels(painting, name="sketch")
    set_method(widget, "sinkhorn")
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("painted"))
    widget.painting_combo.setCurrentIndex(widget.painting_combo.findData("sketch"))
    run_to_end(widget, qtbot)

    segmenter = widget.fitted_segmenters["sinkhorn"]
    assert segmenter.mixture_options["weights"] == (1 / 6, 1 / 2, 1 / 3)
    # A painting is a rough guess: the smallest class's share is searched, the others keep their ratio.
    sizes = segmenter.class_sizes_
    assert sizes[1] / sizes[2] == pytest.approx(1.5) and 1 / 18 <= sizes[0] <= 1 / 2
    shown = widget.class_sizes_label.text()
    assert shown.startswith("Class sizes") and "Sinkhorn-EM: 1: " in shown
    assert "around the 16.7% given" in shown


def test_a_missing_or_incomplete_painting_is_reported(viewer, widget, notifications):
    viewer.add_image(three_bands(), name="worm")
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("painted"))
    widget.run()
    painting = np.zeros((48, 48), dtype=np.uint8)
    painting[0, :10] = 1
    viewer.add_labels(painting, name="sketch")
    widget.painting_combo.setCurrentIndex(widget.painting_combo.findData("sketch"))
    widget.run()

    assert widget.worker is None
    assert [level for level, _ in notifications] == ["error", "error"]
    assert "labels layer with the painted classes" in notifications[0][1]
    assert "Class 2, 3 are not painted" in notifications[1][1]


def test_labels_from_the_transport_plan_hold_the_class_sizes(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    set_method(widget, "sinkhorn")
    widget.assignment_combo.setCurrentIndex(widget.assignment_combo.findData("plan"))
    widget.epsilon_spin.setValue(0.1)
    run_to_end(widget, qtbot)

    segmenter = widget.fitted_segmenters["sinkhorn"]
    assert segmenter.assignment == "plan"
    labels = viewer.layers["worm Sinkhorn K=3 ε=0.1"].data
    np.testing.assert_array_equal(labels, segmenter.predict(three_bands()))


# ------------------------------------------------------------- unusual input


def test_an_image_with_nan_pixels_is_reported_and_adds_nothing(viewer, widget, qtbot, notifications):
    image = three_bands()
    image[5, 5] = np.nan
    viewer.add_image(image, name="worm")
    run_to_end(widget, qtbot)

    assert [level for level, _ in notifications] == ["error"]
    assert "NaN or infinite" in notifications[0][1]
    assert [layer.name for layer in viewer.layers] == ["worm"]


def test_a_constant_image_is_labelled_and_the_worker_passes_the_warning_on(viewer, widget, qtbot, monkeypatch):
    viewer.add_image(np.full((48, 48), 3.0, dtype=np.float32), name="blank")
    warned = []
    thread_worker = _running.thread_worker

    def listened_thread_worker(function, **options):
        """napari's thread_worker, whose workers report what they emit on `warned` from the start."""
        make_worker = thread_worker(function, **options)

        def make_listened_worker(*arguments):
            worker = make_worker(*arguments)
            # napari's worker relays what it emits on `warned` to the viewer's notifications.
            worker.warned.connect(lambda warning: warned.append(str(warning[0])))
            return worker

        return make_listened_worker

    monkeypatch.setattr(_running, "thread_worker", listened_thread_worker)
    run_to_end(widget, qtbot)

    labels = viewer.layers["blank S→EM K=3 ε=1"].data
    assert len(np.unique(labels)) == 1
    assert any("only 1 distinct value" in message for message in warned)


def test_a_painting_removed_before_the_run_is_reported(viewer, widget, notifications):
    viewer.add_image(three_bands(), name="worm")
    sketch = viewer.add_labels(np.ones((48, 48), dtype=np.uint8), name="sketch")
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("painted"))
    widget.painting_combo.setCurrentIndex(widget.painting_combo.findData("sketch"))
    viewer.layers.remove(sketch)
    widget.run()

    assert widget.worker is None
    assert [level for level, _ in notifications] == ["error"]
    assert "Choose the labels layer with the painted classes" in notifications[0][1]


# ------------------------------------------------------------- lazy layers


def test_a_dask_layer_is_fitted_on_a_sample_and_labelled_lazily(viewer, widget, qtbot):
    da = pytest.importorskip("dask.array")
    image = three_bands()
    viewer.add_image(da.from_array(image, chunks=(16, 24)), name="big")
    run_to_end(widget, qtbot)

    labels = viewer.layers["big S→EM K=3 ε=1"].data
    assert isinstance(labels, da.Array) and labels.chunks == ((16, 16, 16), (24, 24))
    expected = Segmenter(K, max_iter=20, sample_size=1000, tol=1e-4).fit(image)
    np.testing.assert_array_equal(widget.fitted_segmenters["sinkhorn_start"].mixture_.means_, expected.mixture_.means_)
    np.testing.assert_array_equal(labels.compute(), expected.predict(image))


def test_a_dask_movie_is_labelled_lazily_at_every_time_point(viewer, widget, qtbot):
    da = pytest.importorskip("dask.array")
    movie = np.stack([three_bands(seed=seed) for seed in range(3)])
    viewer.add_image(da.from_array(movie, chunks=(1, 24, 24)), name="movie")
    widget.dimensions_combo.setCurrentIndex(widget.dimensions_combo.findData("2"))
    widget.time_combo.setCurrentIndex(widget.time_combo.findData("all"))
    run_to_end(widget, qtbot)

    labels = viewer.layers["movie S→EM K=3 ε=1"].data
    assert isinstance(labels, da.Array) and labels.shape == movie.shape
    segmenter = widget.fitted_segmenters["sinkhorn_start"]
    for frame in range(3):
        np.testing.assert_array_equal(labels[frame].compute(), segmenter.predict(movie[frame]))


def test_the_certainty_map_is_not_offered_for_a_dask_layer(viewer, widget, qtbot, notifications):
    da = pytest.importorskip("dask.array")
    widget.confidence_check.setChecked(True)
    small = viewer.add_image(three_bands(), name="small")
    assert widget.confidence_check.isEnabled()
    viewer.add_image(da.from_array(three_bands(), chunks=16), name="big")
    assert not widget.confidence_check.isEnabled()
    assert "lazy" in widget.confidence_check.toolTip()
    run_to_end(widget, qtbot)

    assert notifications == []
    assert [layer.name for layer in viewer.layers] == ["small", "big", "big S→EM K=3 ε=1"]
    widget.select_layers(small)
    assert widget.confidence_check.isEnabled()


# ------------------------------------------------------------- results kept side by side


def layer_names(viewer):
    return [layer.name for layer in viewer.layers]


def test_each_setting_keeps_its_own_result_and_the_newest_is_on_top(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    run_to_end(widget, qtbot)
    three = viewer.layers["worm S→EM K=3 ε=1"]
    widget.n_components_spin.setValue(2)
    run_to_end(widget, qtbot)
    assert layer_names(viewer) == ["worm", "worm S→EM K=3 ε=1", "worm S→EM K=2 ε=1"]
    assert set(np.unique(three.data)) == {1, 2, 3}

    # The same settings again: their layer is updated, not duplicated, and comes to the top.
    widget.n_components_spin.setValue(3)
    run_to_end(widget, qtbot)
    assert layer_names(viewer) == ["worm", "worm S→EM K=2 ε=1", "worm S→EM K=3 ε=1"]
    assert viewer.layers[-1] is three


def test_replace_the_previous_result_updates_its_layers_and_brings_them_on_top(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    widget.confidence_check.setChecked(True)
    run_to_end(widget, qtbot)
    labels, certainty = viewer.layers["worm S→EM K=3 ε=1"], viewer.layers["worm S→EM K=3 ε=1 certainty"]
    viewer.add_image(three_bands(seed=1), name="other")
    viewer.layers.move(viewer.layers.index("other"), len(viewer.layers))
    widget.select_layers(viewer.layers["worm"])
    widget.replace_check.setChecked(True)
    widget.n_components_spin.setValue(2)
    run_to_end(widget, qtbot)

    assert layer_names(viewer) == ["worm", "other", "worm S→EM K=2 ε=1", "worm S→EM K=2 ε=1 certainty"]
    assert viewer.layers[2] is labels and viewer.layers[3] is certainty
    assert set(np.unique(labels.data)) == {1, 2}


def test_live_mode_replaces_the_previous_result(widget):
    assert not widget.replace_check.isChecked()
    widget.live_check.setChecked(True)
    assert widget.replace_check.isChecked()
    assert "replace the previous result" in widget.live_check.toolTip()


def test_result_layers_are_not_offered_as_images_to_segment(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    set_method(widget, "both")
    widget.confidence_check.setChecked(True)
    run_to_end(widget, qtbot)

    assert len(viewer.layers) == 5
    assert [widget.image_list.item(row).text() for row in range(widget.image_list.count())] == ["worm"]
    assert [layer.name for layer in widget.selected_layers()] == ["worm"]


def test_result_layers_have_short_names_and_their_settings_in_the_metadata(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worms 2-D")
    set_method(widget, "both")
    widget.epsilon_spin.setValue(0.5)
    run_to_end(widget, qtbot)

    names = layer_names(viewer)[1:]
    assert names == ["worms 2-D EM K=3", "worms 2-D Sinkhorn K=3 ε=0.5", "worms 2-D EM≠Sinkhorn K=3 ε=0.5"]
    assert max(len(name) for name in names) <= 31  # the old names ran to 49 characters
    em, sinkhorn = (viewer.layers[name].metadata[_widget.RESULT_METADATA_KEY] for name in names[:2])
    assert (em["method"], sinkhorn["method"]) == (METHOD_NAMES["em"], METHOD_NAMES["sinkhorn"])
    assert (sinkhorn["n_components"], sinkhorn["epsilon"], sinkhorn["image"]) == (K, 0.5, "worms 2-D")
    assert sinkhorn["weights"] == "uniform" and em["weights"] == "em"
    assert "epsilon" not in em  # ε does not change EM's labels
    assert sinkhorn["result"] == "labels" and sinkhorn["image_layers"] == ["worms 2-D"]


def test_labels_from_a_saved_model_say_so_in_their_metadata(viewer, widget, qtbot, tmp_path):
    viewer.add_image(three_bands(), name="worm")
    run_to_end(widget, qtbot)
    path = widget.save_model(tmp_path / "worms.model.json")
    run_to_end(widget, qtbot, start=lambda: widget.apply_model(path))

    metadata = viewer.layers[-1].metadata[_widget.RESULT_METADATA_KEY]
    assert viewer.layers[-1].name == "worm model worms.model.json"
    assert metadata["model_file"] == "worms.model.json"


# ------------------------------------------------------------- choosing the inputs


def test_the_channels_of_a_sample_are_selected_together(viewer, widget):
    viewer.open_sample("napari-sinkhorn-em", "neuropal_like")

    channels = [layer for layer in viewer.layers if isinstance(layer, Image)]
    assert len(channels) == 4
    assert widget.selected_layers() == channels
    assert widget.dimensions_combo.currentData() == "3"


def test_the_channels_of_a_file_are_selected_together_and_a_later_image_on_its_own(viewer, widget, qapp, tmp_path):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "head.tif"
    tifffile.imwrite(path, np.stack([three_bands(seed=seed) for seed in range(3)]))
    viewer.open(path, channel_axis=0, plugin="napari")
    channels = list(viewer.layers)
    assert len(channels) == 3
    assert widget.selected_layers() == channels

    qapp.processEvents()  # a later action: what it opens is not one of those channels
    other = viewer.add_image(three_bands(seed=9), name="other")
    assert widget.selected_layers() == [other]


def test_images_added_together_in_code_are_selected_together(viewer, widget):
    layers = viewer.add_image(np.stack([three_bands(seed=seed) for seed in range(2)]), channel_axis=0, name=["a", "b"])
    assert widget.selected_layers() == layers


def test_renaming_a_chosen_layer_keeps_it_chosen(viewer, widget):
    image = viewer.add_image(three_bands(), name="worm")
    viewer.add_labels(np.ones((48, 48), dtype=np.uint8), name="body")
    widget.mask_combo.setCurrentIndex(widget.mask_combo.findData("body"))
    viewer.layers["body"].name = "whole worm"
    image.name = "worm 1"
    assert widget.mask_combo.currentText() == "whole worm"
    assert widget.selected_layers() == [image]


def test_a_new_labels_layer_becomes_the_painted_classes_until_one_is_chosen_by_hand(viewer, widget):
    viewer.add_image(three_bands(), name="worm")
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("painted"))
    viewer.add_labels(np.zeros((48, 48), dtype=np.uint8), name="sketch")
    assert widget.painting_combo.currentData() == "sketch"
    viewer.add_labels(np.zeros((48, 48), dtype=np.uint8), name="better sketch")
    assert widget.painting_combo.currentData() == "better sketch"

    # Chosen by hand, the choice stays when more labels layers come.
    index = widget.painting_combo.findData("sketch")
    widget.painting_combo.setCurrentIndex(index)
    widget.painting_combo.activated.emit(index)
    viewer.add_labels(np.zeros((48, 48), dtype=np.uint8), name="body")
    assert widget.painting_combo.currentData() == "sketch"
    assert widget.mask_combo.currentData() is None

    viewer.layers.remove("sketch")
    assert widget.painting_combo.currentData() is None


def test_replace_the_previous_result_also_replaces_another_methods_labels(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="worm")
    widget.replace_check.setChecked(True)
    run_to_end(widget, qtbot)
    set_method(widget, "em")
    run_to_end(widget, qtbot)
    assert layer_names(viewer) == ["worm", "worm EM K=3"]


def test_a_widget_opened_after_a_sample_selects_all_its_channels(make_napari_viewer, compiled_kernels):
    viewer = make_napari_viewer()
    viewer.add_image(three_bands(), name="earlier")
    viewer.open_sample("napari-sinkhorn-em", "neuropal_like")
    widget = SegmentationWidget(viewer)

    assert [layer.name for layer in widget.selected_layers()] == [
        f"NeuroPAL-like head {channel}" for channel in ("mTagBFP2", "CyOFP1", "mNeptune2.5", "pan-neuronal")
    ]


def test_typed_percentages_choose_sinkhorn_em_and_the_widget_says_which_class_got_which_size(viewer, widget, qtbot):
    viewer.add_image(three_bands(), name="well")
    widget.n_components_spin.setValue(2)
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("typed"))
    assert widget.method_combo.currentData() == "sinkhorn" and widget.assignment_combo.currentData() == "plan"
    assert widget.class_sizes_edit.isEnabled()
    widget.class_sizes_edit.setText("10, 90")
    run_to_end(widget, qtbot)

    segmenter = widget.fitted_segmenters["sinkhorn"]
    np.testing.assert_allclose(segmenter.mixture_options["weights"], (0.1, 0.9))
    shown = widget.class_sizes_label.text()
    assert "around the 10% given" in shown and f"1: {100 * segmenter.class_sizes_[0]:.3g}%" in shown


@pytest.mark.parametrize(
    ("typed", "message"), [("10, 80", "add up to 100"), ("10", "one positive percentage per class"), ("a, b", "one positive")]
)
def test_badly_typed_percentages_are_a_sentence(viewer, widget, notifications, typed, message):
    viewer.add_image(three_bands(), name="worm")
    widget.n_components_spin.setValue(2)
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("typed"))
    widget.class_sizes_edit.setText(typed)
    widget.run()
    assert widget.worker is None
    assert notifications[-1][0] == "error" and message in notifications[-1][1]


def test_an_automatic_well_mask_and_bright_field_features_find_the_worms(viewer, widget, qtbot):
    sample = data.worms_2d()
    viewer.add_image(sample.image, name="well", scale=sample.scale)
    widget.n_components_spin.setValue(2)
    widget.sample_size_spin.setValue(5000)
    widget.features_combo.setCurrentIndex(widget.features_combo.findData("brightfield"))
    assert widget.sigmas_edit.isEnabled()
    widget.sigmas_edit.setText("6.25, 12.5, 25")  # 1, 2 and 4 pixels of 6.25 µm
    widget.auto_mask_combo.setCurrentIndex(widget.auto_mask_combo.findData("largest_bright_region"))
    widget.weights_combo.setCurrentIndex(widget.weights_combo.findData("typed"))
    widget.class_sizes_edit.setText("10, 90")
    run_to_end(widget, qtbot)

    labels = viewer.layers["well Sinkhorn K=2 ε=1"].data
    well = largest_bright_region(sample.image, margin=6)
    np.testing.assert_array_equal(labels > 0, well)
    found = labels == 1
    assert np.count_nonzero(found & sample.foreground) / np.count_nonzero(found | sample.foreground) > 0.6
