"""The widget's work, run directly: no viewer, no Qt event loop, tiny inputs.

The generators of ``_napari/work.py`` are what the widget runs in its worker
thread; here they are driven by hand, as the worker would, and what they
yield and return is checked.
"""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from bands import three_bands

from napari_sinkhorn_em import ConvergenceWarning, data
from napari_sinkhorn_em._napari.inputs import ImageSource
from napari_sinkhorn_em._napari.results import Failure, ModelResult, NeuronResult, SegmentationResult
from napari_sinkhorn_em._napari.settings import InputError, NeuronSettings, Settings, parse_sigmas, typed_class_sizes
from napari_sinkhorn_em._napari.work import (
    ProgressRelay,
    RunProgress,
    model_steps,
    neuron_steps,
    segmentation_steps,
)
from napari_sinkhorn_em.segmentation import Segmenter

K = 3


def source_of(image, *, n_spatial=2, frames=None, scale=None, channel_axis=None, name="bands"):
    """What the widget would segment for a layer holding ``image`` (no layer: nothing is placed)."""
    shape = list(image.shape)
    if channel_axis is not None:
        del shape[channel_axis]
    leading = tuple(shape[: len(shape) - n_spatial])
    current = (0,) * len(leading)
    return ImageSource(
        name=name,
        layers=(),
        mask=None,
        arrays=(image,),
        channel_axis=channel_axis,
        n_spatial=n_spatial,
        current_frame=current,
        frames=frames or (current,),
        spatial_scale=scale or (1.0,) * n_spatial,
        placement={},
    )


def settings(method="em", **changes):
    chosen = dict(
        n_components=K, method=method, epsilon=1.0, features="intensity", sigmas=(1.0,), weights="em",
        assignment="posterior", covariance_type="full", random_state=0, sample_size=None, max_iter=10,
        tol=1e-4, confidence=False,
    )
    return Settings(**{**chosen, **changes})


def drive(steps):
    """Run a work generator to its end, as the worker does: what it yielded, and what it returned."""
    yielded = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while True:
            try:
                yielded.append(next(steps))
            except StopIteration as stop:
                return yielded, stop.value


def fractions(yielded):
    assert all(isinstance(progress, RunProgress) for progress in yielded)
    return [progress.fraction for progress in yielded]


def test_a_class_fit_reports_growing_progress_and_returns_labels_of_the_image():
    image = three_bands((24, 24))
    yielded, result = drive(segmentation_steps(source_of(image), settings(), None))

    done = fractions(yielded)
    assert len(done) > 2
    assert done == sorted(done)
    assert 0.0 <= done[0] and done[-1] <= 1.0
    assert isinstance(result, SegmentationResult)
    labels = result.labels["em"]
    assert labels.shape == image.shape
    assert np.issubdtype(labels.dtype, np.integer)
    assert set(np.unique(labels)) == {1, 2, 3}
    assert set(result.segmenters) == {"em"} and result.comparison is None and result.certainty is None


def test_a_comparison_with_the_certainty_map_ends_at_one():
    image = three_bands((24, 24))
    yielded, result = drive(segmentation_steps(source_of(image), settings("both", confidence=True), None))

    done = fractions(yielded)
    assert done == sorted(done)
    assert done[-1] == 1.0
    assert [progress.message for progress in yielded[-2:]] == ["Comparing EM and Sinkhorn-EM", "Computing the certainty map"]
    assert set(result.labels) == {"em", "sinkhorn"}
    assert result.comparison is not None
    assert result.certainty.shape == image.shape and result.certainty.dtype == np.float32


def test_a_change_of_epsilon_only_reuses_ems_fit_and_labels():
    image = three_bands((24, 24))
    _, first = drive(segmentation_steps(source_of(image), settings("both"), None))
    _, second = drive(segmentation_steps(first.source, settings("both", epsilon=0.5), first))

    assert second.segmenters["em"] is first.segmenters["em"]
    assert second.labels["em"] is first.labels["em"]
    assert second.segmenters["sinkhorn"] is not first.segmenters["sinkhorn"]


def test_every_time_point_of_a_movie_is_labelled():
    movie = np.stack([three_bands((16, 16), seed) for seed in range(3)])
    frames = tuple((index,) for index in range(3))
    yielded, result = drive(segmentation_steps(source_of(movie, frames=frames), settings(), None))

    assert result.labels["em"].shape == movie.shape
    assert all(len(np.unique(result.labels["em"][index])) == K for index in range(3))
    assert "time point 3 of 3" in yielded[-1].message


def test_an_image_with_nan_fails_with_the_pipelines_explanation():
    image = three_bands((24, 24))
    image[3, 4] = np.nan
    _, result = drive(segmentation_steps(source_of(image, name="worm"), settings(), None))

    assert isinstance(result, Failure)
    assert result.message.startswith("Segmenting 'worm' failed:")
    assert "NaN or infinite" in result.message


def test_a_saved_model_labels_an_image_as_its_segmenter_does():
    image = three_bands((24, 24))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        segmenter = Segmenter(K, method="em", max_iter=10).fit(image)
    yielded, result = drive(model_steps(source_of(image), segmenter, "model.json"))

    assert [progress.message for progress in yielded] == ["Labelling the image (model model.json)"]
    assert isinstance(result, ModelResult) and result.model_name == "model.json"
    np.testing.assert_array_equal(result.labels, segmenter.predict(image))


def test_typed_settings_that_cannot_be_read_are_input_errors():
    assert parse_sigmas("1; 2, 4") == (1.0, 2.0, 4.0)
    assert typed_class_sizes("10, 90%", 2) == pytest.approx((0.1, 0.9))
    with pytest.raises(InputError, match="positive numbers separated by commas"):
        parse_sigmas("1, -2")
    with pytest.raises(InputError, match="add up to 100"):
        typed_class_sizes("10, 80", 2)


# ------------------------------------------------------------- the neurons recipe and its relay


@pytest.fixture(scope="module")
def stack():
    """A small NeuroPAL-like stack: 12 nuclei, four channels (pan-neuronal last) along axis 0."""
    return data.neuropal_like(n_nuclei=12, shape=(16, 64, 128), voxel_size=(0.75, 0.4, 0.4))


def neuron_settings(**changes):
    chosen = dict(
        n_neurons=None, method="em", pan_neuronal_channel=3, colour_channels=(0, 1, 2), channel_names=None,
        nucleus_radius_um=1.6, random_state=0, max_iter=20,
    )
    return NeuronSettings(**{**chosen, **changes})


def listening_worker(abort=False):
    """What the relay needs of napari's worker: whether it was asked to stop, and a signal to emit on."""
    emitted = []
    return SimpleNamespace(abort_requested=abort, yielded=SimpleNamespace(emit=emitted.append)), emitted


def test_the_neurons_recipe_reports_through_the_relay_and_returns_labels_of_the_stack(stack):
    worker, emitted = listening_worker()
    relay = ProgressRelay(worker)
    source = source_of(stack.image, n_spatial=3, channel_axis=0, scale=tuple(stack.scale))
    yielded, result = drive(neuron_steps(source, neuron_settings(), relay))

    assert isinstance(result, NeuronResult)
    labels = result.segmentations["em"].labels
    assert labels.shape == stack.image.shape[1:]
    assert np.issubdtype(labels.dtype, np.integer) and labels.max() >= 1
    assert emitted, "segment_neurons' reports did not reach the worker"
    assert all(0.0 <= progress.fraction <= 1.0 for progress in emitted)
    done = fractions(yielded)
    assert done == sorted(done) and done[-1] == 1.0


def test_a_cancelled_neurons_run_is_stopped_by_the_relay_and_returns_nothing(stack):
    worker, emitted = listening_worker(abort=True)
    source = source_of(stack.image, n_spatial=3, channel_axis=0, scale=tuple(stack.scale))
    yielded, result = drive(neuron_steps(source, neuron_settings(), ProgressRelay(worker)))

    assert result is None
    assert emitted == []
    assert [progress.message for progress in yielded] == ["Neurons: finding the foreground"]


def test_a_relay_without_a_worker_passes_nothing_on():
    ProgressRelay().report(RunProgress(0.5, "halfway"))
