"""Fitting step by step: progress reports, cancelling a fit, and refitting at a new epsilon."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_sinkhorn_em.segmentation import Progress, Segmenter, segment
from napari_sinkhorn_em.segmentation.fitting import FitClock

FAST = {"max_iter": 30}


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


def test_refit_of_em_only_solves_the_plan_again(two_unequal_classes):
    segmenter = Segmenter(2, method="em", sample_size=2000, **FAST).fit(two_unequal_classes)
    means, potentials = segmenter.mixture_.means_, segmenter.plan_potentials_
    list(segmenter.refit_steps(epsilon=0.1))
    np.testing.assert_array_equal(segmenter.mixture_.means_, means)
    assert not np.allclose(segmenter.plan_potentials_, potentials)



class _Clock:
    """A stand-in for time.monotonic that moves by ``step`` seconds at every call."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def _clocked_reports(seconds_per_iteration, n_iterations):
    clock = FitClock(2, 600, clock=_Clock(seconds_per_iteration))
    return [
        clock.annotate(Progress("fit", (i + 1) / n_iterations, f"EM iteration {i + 1}"), "main", 0)
        for i in range(n_iterations)
    ]


def test_a_slow_fit_says_how_long_it_may_take_and_warns_once():
    # 20 s per iteration, 100 iterations: about 33 min in all (rounded up), beyond LONG_FIT_SECONDS.
    with pytest.warns(UserWarning, match="This fit may take up to 34 min \\(2 classes on 600 pixels") as caught:
        reports = _clocked_reports(20.0, 100)
    assert len([w for w in caught if "may take up to" in str(w.message)]) == 1
    assert reports[9].message == "EM iteration 10, up to about 30 min left"
    assert reports[-1].message.endswith("up to about 0 s left")
    # Not from the first iterations, which include compiling and a rough start.
    assert [report.message for report in reports[:5]] == [f"EM iteration {i}" for i in range(1, 6)]


def test_the_pace_is_that_of_the_recent_iterations_not_of_a_slow_start():
    # Two slow first iterations (like a Sinkhorn-EM fit's first E-steps), then fast ones: the
    # time left follows the fast ones, and nothing warns.
    steps = iter([0.0] + [30.0] * 2 + [1.0] * 200)
    clock = FitClock(2, 600, clock=lambda state=[0.0]: state.__setitem__(0, state[0] + next(steps)) or state[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reports = [clock.annotate(Progress("fit", (i + 1) / 100, f"EM iteration {i + 1}"), "main", 0)
                   for i in range(100)]
    assert reports[30].message == "EM iteration 31, up to about 69 s left"


def test_a_quick_fit_reports_no_time_and_does_not_warn(recwarn):
    reports = _clocked_reports(0.01, 50)
    assert [report.message for report in reports] == [f"EM iteration {i + 1}" for i in range(50)]
    assert not [w for w in recwarn if "may take up to" in str(w.message)]

