"""The widget's neurons recipe: the channels of a NeuroPAL stack, the suggested K, neurons as labels and points."""

import numpy as np
import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")

from napari.layers import Labels, Points  # noqa: E402

from napari_sinkhorn_em import data  # noqa: E402
from napari_sinkhorn_em._napari import widget as _widget  # noqa: E402
from napari_sinkhorn_em._napari import work as _work  # noqa: E402
from napari_sinkhorn_em import neurons  # noqa: E402
from napari_sinkhorn_em._napari.widget import RESULT_METADATA_KEY, SegmentationWidget  # noqa: E402

TIMEOUT_MS = 60_000
N_NEURONS = 12

pytestmark = pytest.mark.usefixtures("opengl_free_image_layers")


@pytest.fixture(scope="module")
def stack():
    """A small NeuroPAL-like stack: 12 nuclei in 16 x 64 x 128 voxels of 0.75 x 0.4 x 0.4 µm."""
    return data.neuropal_like(n_nuclei=N_NEURONS, shape=(16, 64, 128), voxel_size=(0.75, 0.4, 0.4))


def add_channels(viewer, sample, *, scale=True, translate=(0.0, 0.0, 0.0)):
    """The stack as the napari sample shows it: one layer per channel, NeuroPAL colours, pan-neuronal last."""
    return viewer.add_image(
        sample.image,
        channel_axis=0,
        name=[f"head {channel}" for channel in sample.channel_names],
        colormap=["blue", "green", "red", "gray"],
        blending="additive",
        scale=sample.scale if scale else None,
        translate=translate,
    )


@pytest.fixture
def widget(viewer, qtbot):
    widget = SegmentationWidget(viewer)
    viewer.window.add_dock_widget(widget)
    yield widget
    # Leave no thread running into the next test: neither a run nor the search for the suggestion.
    if widget.worker is not None:
        worker = widget.worker
        worker.quit()
        qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "computing" not in widget.neuron_hint_label.text(), timeout=TIMEOUT_MS)


def choose_neurons(widget):
    widget.features_combo.setCurrentIndex(widget.features_combo.findData(_widget.NEURONS_RECIPE))


def wait_for_suggestion(widget, qtbot):
    """The suggested number of neurons is found in a thread: wait for it."""
    qtbot.waitUntil(lambda: widget.suggested_n_neurons is not None, timeout=TIMEOUT_MS)


def run_to_end(widget, qtbot):
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)


def results(viewer, kind):
    return [layer for layer in viewer.layers if isinstance(layer, kind) and RESULT_METADATA_KEY in layer.metadata]


def test_the_recipe_selects_every_channel_of_the_stack_and_the_pan_neuronal_one(viewer, widget, stack):
    channels = add_channels(viewer, stack)
    other = viewer.add_image(np.zeros((5, 6, 7)), name="another stack")
    widget.select_layers(channels[0])
    choose_neurons(widget)

    assert widget.selected_layers() == list(channels)
    assert other not in widget.selected_layers()
    assert widget.pan_neuronal_combo.currentText() == "head pan-neuronal"
    assert widget.k_label.text() == "Neurons (K)"
    # Controls of the class fits do not apply to the recipe; its own do.
    assert not widget.epsilon_spin.isEnabled() and not widget.weights_combo.isEnabled()
    assert not widget.pan_neuronal_combo.isHidden() and not widget.nucleus_radius_spin.isHidden()


def test_without_a_channel_named_pan_neuronal_the_last_one_is_taken(viewer, widget, stack):
    viewer.add_image(stack.image, channel_axis=0, name=["a", "b", "c", "d"], scale=stack.scale)
    choose_neurons(widget)
    assert widget.pan_neuronal_combo.currentText() == "d"
    widget.pan_neuronal_combo.setCurrentIndex(1)
    widget.pan_neuronal_combo.activated.emit(1)
    widget.nucleus_radius_spin.setValue(1.5)  # refreshes the choices: the one chosen by hand stays
    assert widget.pan_neuronal_combo.currentText() == "b"


def test_the_suggested_number_of_neurons_is_shown_and_k_follows_it_until_changed(viewer, widget, qtbot, stack):
    add_channels(viewer, stack)
    choose_neurons(widget)
    assert widget.neuron_hint_label.text() == "suggested: computing…"
    wait_for_suggestion(widget, qtbot)

    # As segment_neurons suggests: one neuron per bright spot of the pan-neuronal channel.
    expected, _ = neurons.suggest_n_neurons_from_peaks(stack.image[3], neurons.nuclei_foreground(stack.image[3]),
                                                       stack.scale)
    assert widget.suggested_n_neurons == expected == N_NEURONS
    assert f"suggested: {expected} (bright spots" in widget.neuron_hint_label.text()
    assert widget.n_components_spin.value() == expected

    widget.n_components_spin.setValue(N_NEURONS + 1)
    widget.nucleus_radius_spin.setValue(4.0)  # a much larger nucleus: spots closer than it merge
    assert widget.suggested_n_neurons < expected
    assert widget.n_components_spin.value() == N_NEURONS + 1
    widget.use_suggested_button.click()
    assert widget.n_components_spin.value() == widget.suggested_n_neurons


def test_while_k_follows_the_suggestion_the_run_fits_the_suggested_number(viewer, widget, qtbot, stack):
    add_channels(viewer, stack)
    choose_neurons(widget)
    wait_for_suggestion(widget, qtbot)
    run_to_end(widget, qtbot)
    [labels] = results(viewer, Labels)
    described = labels.metadata[RESULT_METADATA_KEY]
    assert described["n_neurons_fitted"] == described["suggested_n_neurons"] == widget.suggested_n_neurons
    assert labels.name == f"head neurons EM K={widget.suggested_n_neurons}"


def test_the_sample_head_gets_a_sensible_suggestion(viewer, widget, qtbot):
    viewer.open_sample("napari-sinkhorn-em", "neuropal_head")
    choose_neurons(widget)
    wait_for_suggestion(widget, qtbot)
    assert [layer.name for layer in widget.selected_layers()] == [
        f"NeuroPAL head {channel}" for channel in data.NEUROPAL_CHANNEL_NAMES
    ]
    assert widget.pan_neuronal_combo.currentText() == "NeuroPAL head pan-neuronal"
    # 200 neurons, blurred: the foreground volume over a nucleus's volume is a fair guess.
    assert 150 <= widget.suggested_n_neurons <= 250
    assert widget.scale_warning_label.text() == ""


def test_a_run_adds_the_neurons_with_their_table_and_a_point_at_each_centre(viewer, widget, qtbot, stack):
    channels = add_channels(viewer, stack, translate=(1.0, 2.0, 3.0))
    choose_neurons(widget)
    widget.n_components_spin.setValue(N_NEURONS)
    run_to_end(widget, qtbot)

    [labels], [points] = results(viewer, Labels), results(viewer, Points)
    assert labels.name == "head neurons EM K=12"
    table = points.features
    found = len(table)
    assert N_NEURONS - 2 <= found <= N_NEURONS
    # Hovering over a neuron shows its row: napari finds it through the index column.
    np.testing.assert_array_equal(labels.features["index"], labels.features["label"])
    np.testing.assert_array_equal(np.unique(labels.data[labels.data > 0]), labels.features["label"])
    for column in ("z_um", "y_um", "x_um", "volume_um3", "mean_mTagBFP2", "mean_mNeptune2.5", "mean_confidence"):
        assert column in labels.features.columns
    assert "mean_pan-neuronal" not in labels.features.columns
    # Both overlay the image: same scale and translate; each point sits at its neuron's centre, inside it.
    for layer in (labels, points):
        np.testing.assert_allclose(layer.scale, channels[0].scale)
        np.testing.assert_allclose(layer.translate, channels[0].translate)
    assert len(points.data) == found
    world = np.array([points.data_to_world(point) for point in points.data])
    np.testing.assert_allclose(world, table[["z_um", "y_um", "x_um"]].to_numpy() + (1.0, 2.0, 3.0))
    inside = labels.data[tuple(np.round(points.data).astype(int).T)]
    assert np.mean(inside == table["label"].to_numpy()) > 0.9
    # Near the true nuclei, coloured by each neuron's mean colour (mNeptune2.5 red, CyOFP1 green, mTagBFP2 blue).
    near, _, _ = neurons.match_centres(table[["z_um", "y_um", "x_um"]].to_numpy(), stack.centres_um, max_distance_um=1.5)
    assert len(near) >= found - 1
    red, blue = table["mean_mNeptune2.5"].to_numpy(), table["mean_mTagBFP2"].to_numpy()
    colours = points.face_color[:, :3]
    assert np.corrcoef(colours[:, 0], red)[0, 1] > 0.8 and np.corrcoef(colours[:, 2], blue)[0, 1] > 0.8
    # The summary sentence in the status.
    assert f"Found {found} neurons" in widget.status_label.text()
    assert labels.metadata[RESULT_METADATA_KEY]["n_neurons_found"] == found


def test_running_again_updates_the_same_layers(viewer, widget, qtbot, stack):
    add_channels(viewer, stack)
    choose_neurons(widget)
    widget.n_components_spin.setValue(N_NEURONS)
    run_to_end(widget, qtbot)
    [labels], [points] = results(viewer, Labels), results(viewer, Points)
    widget.replace_check.setChecked(True)
    widget.n_components_spin.setValue(N_NEURONS - 4)
    run_to_end(widget, qtbot)

    assert results(viewer, Labels) == [labels] and results(viewer, Points) == [points]
    assert labels.name == "head neurons EM K=8"
    assert len(points.data) == len(points.features) == len(labels.features) <= N_NEURONS - 4


def test_comparing_em_and_sinkhorn_em_shows_the_neurons_they_disagree_on(viewer, widget, qtbot, stack):
    add_channels(viewer, stack)
    choose_neurons(widget)
    widget.n_components_spin.setValue(N_NEURONS)
    widget.method_combo.setCurrentIndex(widget.method_combo.findData("both"))
    run_to_end(widget, qtbot)

    names = [layer.name for layer in results(viewer, Labels)]
    assert names == ["head neurons EM K=12", "head neurons Sinkhorn K=12", "head neurons EM≠Sinkhorn K=12"]
    em, sinkhorn, categories = results(viewer, Labels)
    assert len(results(viewer, Points)) == 2
    match = neurons.match_neurons(em.data, sinkhorn.data, scale=stack.scale)
    np.testing.assert_array_equal(categories.data, match.disagreement_image("a"))
    assert categories.metadata[RESULT_METADATA_KEY]["counts"] == match.counts
    assert f"Sinkhorn-EM finds {match.counts['matched']} as well" in widget.comparison_label.text()
    assert "EM: Found" in widget.status_label.text() and "Sinkhorn-EM: Found" in widget.status_label.text()


def test_cancel_stops_the_recipe_at_its_next_report_and_adds_nothing(viewer, widget, qtbot, stack, monkeypatch):
    stopped = []

    def endless_fit(image, *, progress, **options):
        """A fit that never ends on its own: it reports until the report raises."""
        iteration = 0
        try:
            while True:
                iteration += 1
                progress("fit", (iteration % 1000) / 1000)
        except BaseException:
            stopped.append(iteration)
            raise

    monkeypatch.setattr(_work, "segment_neurons", endless_fit)
    add_channels(viewer, stack)
    choose_neurons(widget)
    n_layers = len(viewer.layers)
    widget.run()
    qtbot.waitUntil(lambda: "fitting one Gaussian per neuron" in widget.status_label.text(), timeout=TIMEOUT_MS)
    assert widget.cancel_button.isEnabled()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)

    assert stopped, "the fit was not stopped"
    assert len(viewer.layers) == n_layers
    assert widget.status_label.text().startswith("Stopped")


def test_layers_without_a_voxel_size_are_warned_about_and_still_segmented(viewer, widget, qtbot, stack, notifications):
    add_channels(viewer, stack, scale=False)
    choose_neurons(widget)
    assert "no voxel size" in widget.scale_warning_label.text()
    assert not widget.scale_warning_label.isHidden()
    wait_for_suggestion(widget, qtbot)
    assert "voxels" in widget.neuron_hint_label.text()
    widget.n_components_spin.setValue(N_NEURONS)
    run_to_end(widget, qtbot)

    [labels], [points] = results(viewer, Labels), results(viewer, Points)
    assert not [message for level, message in notifications if level == "error"]
    np.testing.assert_allclose(points.data, points.features[["z_um", "y_um", "x_um"]].to_numpy())
    assert len(points.data) == len(labels.features) > 0


def test_a_voxel_size_clears_the_warning(viewer, widget, stack):
    channels = add_channels(viewer, stack, scale=False)
    choose_neurons(widget)
    for layer in channels:
        layer.scale = stack.scale
    widget.nucleus_radius_spin.setValue(1.3)  # any refresh
    assert widget.scale_warning_label.text() == "" and widget.scale_warning_label.isHidden()


def test_too_many_neurons_for_the_foreground_is_a_sentence(viewer, widget, qtbot, stack, notifications):
    add_channels(viewer, stack)
    choose_neurons(widget)
    widget.n_components_spin.setValue(50_000)
    run_to_end(widget, qtbot)
    [(level, message)] = [entry for entry in notifications if entry[0] == "error"]
    assert "neurons cannot be fitted" in message and not results(viewer, Labels)


def test_the_recipe_fits_em_from_its_spots_unless_another_method_was_chosen(viewer, widget, stack):
    add_channels(viewer, stack)
    choose_neurons(widget)
    assert widget.method_combo.currentData() == "em"  # the Sinkhorn start would move the means off the spots
    widget.features_combo.setCurrentIndex(widget.features_combo.findData("intensity"))
    widget.method_combo.setCurrentIndex(widget.method_combo.findData("both"))
    choose_neurons(widget)
    assert widget.method_combo.currentData() == "both"


def test_leaving_the_recipe_restores_the_class_controls(viewer, widget, stack):
    add_channels(viewer, stack)
    choose_neurons(widget)
    widget.features_combo.setCurrentIndex(widget.features_combo.findData("intensity"))
    assert widget.k_label.text() == "Classes (K)"
    assert widget.n_components_spin.maximum() == 64 and widget.max_iter_spin.value() == 100
    assert widget.method_combo.currentData() == "sinkhorn_start"
    assert widget.weights_combo.isEnabled() and widget.pan_neuronal_combo.isHidden()
    assert widget.use_suggested_button.isHidden()
    assert widget.neuron_hint_label.text() == ""


def test_the_recipe_controls_explain_themselves(widget):
    controls = [
        widget.pan_neuronal_combo, widget.nucleus_radius_spin, widget.neuron_hint_label,
        widget.use_suggested_button, widget.scale_warning_label,
    ]
    assert all(len(control.toolTip()) > 30 for control in controls)


def test_a_single_layer_holding_the_channels_can_be_used(viewer, widget, qtbot, stack):
    viewer.add_image(stack.image, name="stack", scale=(1.0, *stack.scale))
    widget.channel_axis_combo.setCurrentIndex(widget.channel_axis_combo.findData(0))
    choose_neurons(widget)
    assert widget.pan_neuronal_combo.currentText() == "channel 3"
    widget.n_components_spin.setValue(N_NEURONS)
    run_to_end(widget, qtbot)
    [labels], [points] = results(viewer, Labels), results(viewer, Points)
    assert labels.data.shape == stack.labels.shape and len(points.data) == len(labels.features)
    assert "mean_channel_0" in labels.features.columns

