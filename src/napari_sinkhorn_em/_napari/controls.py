"""The widget's controls: one builder per group of rows, each adding its rows to the form.

Every builder makes its controls (each with the tooltip that explains it),
adds them to the widget's form and returns them in a small dataclass; the
widget connects their signals itself. Nothing here runs a segmentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ..features import WELL_MARGIN
from ..mixture import GaussianMixture
from ..neurons import DEFAULT_NUCLEUS_RADIUS_UM
from ..segmentation import CERTAINTY_CAP, SEGMENTER_DEFAULTS
from .settings import NEURONS_RECIPE

__all__ = [
    "CLASS_MAX_ITER",
    "CLASS_RANGE",
    "EPSILON_DECADES",
    "GIVEN_SIZES",
    "NEURON_RANGE",
    "PROGRESS_STEPS",
    "AdvancedControls",
    "Controls",
    "FeatureControls",
    "FitControls",
    "InputControls",
    "NumberControls",
    "RunControls",
    "build_controls",
    "epsilon_of_position",
    "form_row",
    "position_of_epsilon",
    "set_row_visible",
    "with_tooltip",
]

#: Range of the ε slider, in powers of ten (0.01 to 100).
EPSILON_DECADES = (-2, 2)
_SLIDER_STEPS_PER_DECADE = 100
#: Steps of the progress bar.
PROGRESS_STEPS = 1000
#: Range of K: classes for the class fits, neurons for the neurons recipe.
CLASS_RANGE = (2, 64)
NEURON_RANGE = (1, 100_000)
#: The mixture's defaults, shown as the controls' starting values beside SEGMENTER_DEFAULTS.
MIXTURE_DEFAULTS = GaussianMixture(SEGMENTER_DEFAULTS["n_components"])
#: The iteration limit shown by default (a class fit).
CLASS_MAX_ITER = MIXTURE_DEFAULTS.max_iter
#: Class-size settings that give sizes (fractions); with them Sinkhorn-EM holds the sizes.
GIVEN_SIZES = ("typed", "painted")

_METHOD_CHOICES = (
    ("Sinkhorn start → EM (recommended)", "sinkhorn_start"),
    ("EM", "em"),
    ("Sinkhorn-EM (class sizes held)", "sinkhorn"),
    ("compare EM and Sinkhorn-EM", "both"),
)
_FEATURE_CHOICES = (
    ("intensity", "intensity"),
    ("multiscale (edges, blobs, ridges)", "multiscale"),
    ("bright field (illumination corrected)", "brightfield"),
    ("Neurons (NeuroPAL): one label per neuron", NEURONS_RECIPE),
)
_WEIGHT_CHOICES = (
    ("learned from the image", "em"),
    ("equal", "uniform"),
    ("typed as percentages", "typed"),
    ("from a painted labels layer", "painted"),
)
_AUTO_MASK_CHOICES = (
    ("none", None),
    ("largest bright region (a well)", "largest_bright_region"),
    ("brighter than Otsu's threshold", "otsu"),
)
_ASSIGNMENT_CHOICES = (("most probable class", "posterior"), ("class sizes held (transport plan)", "plan"))
_COVARIANCE_CHOICES = (
    ("any shape (full)", "full"),
    ("axis-aligned (diagonal)", "diag"),
    ("round (spherical)", "spherical"),
)
_TIME_CHOICES = (("current time point", "current"), ("all time points", "all"))


def with_tooltip(widget: QWidget, text: str) -> QWidget:
    """``widget`` with the tooltip ``text``.

    Parameters
    ----------
    widget : QWidget
        Any control.
    text : str
        The tooltip.

    Returns
    -------
    QWidget
        ``widget`` itself.
    """
    widget.setToolTip(text)
    return widget


def form_row(form: QFormLayout, label: str | QLabel, field: QWidget, tooltip: str = "") -> QWidget:
    """Add the row ``label``: ``field`` to ``form``, ``field`` explained by ``tooltip``.

    Parameters
    ----------
    form : QFormLayout
        The form the row goes into.
    label : str or QLabel
        The row's label.
    field : QWidget
        The row's control.
    tooltip : str, default ""
        The control's tooltip; empty leaves it unchanged.

    Returns
    -------
    QWidget
        ``field`` itself.
    """
    if tooltip:
        field.setToolTip(tooltip)
    form.addRow(label, field)
    return field


def _choice_combo(choices: tuple[tuple[str, str], ...]) -> QComboBox:
    """A combo box showing the first of each pair and holding the second as its data."""
    combo = QComboBox()
    for label, value in choices:
        combo.addItem(label, value)
    return combo


def _side_by_side(*widgets: QWidget, stretch_first: bool = True) -> QHBoxLayout:
    """The widgets in a row, the first one taking the room left (with ``stretch_first``)."""
    row = QHBoxLayout()
    for number, widget in enumerate(widgets):
        row.addWidget(widget, stretch=int(stretch_first and number == 0))
    return row


def set_row_visible(form: QFormLayout, field: QWidget, visible: bool) -> None:
    """Show or hide the row of ``form`` holding ``field``, its label included.

    Parameters
    ----------
    form : QFormLayout
        The form holding the row.
    field : QWidget
        The row's control.
    visible : bool
        Show (True) or hide (False) the row.
    """
    if hasattr(form, "setRowVisible"):  # Qt 6.4 and later
        form.setRowVisible(field, visible)
        return
    label = form.labelForField(field)
    for widget in (label, field):
        if widget is not None:
            widget.setVisible(visible)


def epsilon_of_position(position: int) -> float:
    """The ε at a position of the ε slider, to three significant digits.

    Parameters
    ----------
    position : int
        The slider's position (its steps divide each power of ten alike).

    Returns
    -------
    float
    """
    epsilon = 10.0 ** (EPSILON_DECADES[0] + position / _SLIDER_STEPS_PER_DECADE)
    return float(f"{epsilon:.3g}")


def position_of_epsilon(epsilon: float) -> int:
    """The position of the ε slider nearest to ``epsilon``.

    Parameters
    ----------
    epsilon : float
        A positive ε.

    Returns
    -------
    int
    """
    return round((math.log10(epsilon) - EPSILON_DECADES[0]) * _SLIDER_STEPS_PER_DECADE)


@dataclass(eq=False)
class InputControls:
    """What to segment: the image layers, their channels and dimensions, the mask, the time points."""

    image_list: QListWidget
    channel_axis_combo: QComboBox
    mask_combo: QComboBox
    auto_mask_combo: QComboBox
    dimensions_combo: QComboBox
    time_combo: QComboBox


def _add_input_rows(form: QFormLayout) -> InputControls:
    """The rows choosing what to segment."""
    image_list = form_row(
        form, "Image layer(s)", QListWidget(),
        "The image to segment. Select several layers (Ctrl/Cmd-click) to use them together as the "
        "colour channels of one image; they must have the same size. An image you open is selected, "
        "all its channels together. The widget's own results are not listed.",
    )
    image_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    image_list.setMaximumHeight(90)
    return InputControls(
        image_list=image_list,
        channel_axis_combo=form_row(
            form, "Channel axis", QComboBox(),
            "If this one layer holds several colour channels, choose the axis they lie along so that they "
            "are used together. 'none' treats the layer as a single channel; RGB layers use their colours.",
        ),
        mask_combo=form_row(
            form, "Mask", QComboBox(),
            "Optional: a labels layer outlining the region to segment (e.g. the worm). Pixels where it is 0 "
            "are left out and get label 0. With the neurons recipe, neurons are looked for only where it is "
            "not 0.",
        ),
        auto_mask_combo=form_row(
            form, "Automatic mask", _choice_combo(_AUTO_MASK_CHOICES),
            "Optional: find the region to segment from the image itself (its first channel). Largest bright "
            f"region: the illuminated well of a bright-field plate with everything in it, leaving out "
            f"{WELL_MARGIN} pixels along its dark rim. Brighter than Otsu's threshold: e.g. the nuclei "
            "of a fluorescence image. With a mask layer too, only pixels inside both are segmented.",
        ),
        dimensions_combo=form_row(
            form, "Dimensions", _choice_combo((("2-D (Y, X)", "2"), ("3-D (Z, Y, X)", "3"))),
            "Segment each 2-D plane on its own, or the whole 3-D stack at once (the default for layers with "
            "three or more axes). For a 2-D movie choose 2-D: the first axis is then time.",
        ),
        time_combo=form_row(
            form, "Time points", _choice_combo(_TIME_CHOICES),
            "For movies: segment only the time point shown in the viewer, or every time point. With all time "
            "points the classes are learned on the time point shown and applied to all of them, so a label "
            "number means the same thing in every frame.",
        ),
    )


@dataclass(eq=False)
class FeatureControls:
    """What each pixel is described by."""

    features_combo: QComboBox
    sigmas_edit: QLineEdit


def _add_feature_rows(form: QFormLayout) -> FeatureControls:
    """The rows choosing the features (or the neurons recipe) and their sizes."""
    return FeatureControls(
        features_combo=form_row(
            form, "Features", _choice_combo(_FEATURE_CHOICES),
            "What each pixel is described by. Intensity: its brightness in each channel only; fast, and "
            "enough when the structures differ in brightness or colour. Multiscale: brightness, edges, blobs "
            "and ridges at several sizes; slower, but separates structures of similar brightness and "
            "smooths out noise. Bright field: brightness relative to the local background (so uneven "
            "illumination does not matter), smoothed and as ridges and blobs at the feature sizes; for "
            "dark objects such as worms in a bright-field well, used with a mask of the well. Neurons "
            "(NeuroPAL): one label per neuron of a multicolour stack, each neuron one Gaussian over its "
            "voxels' positions (µm) and colours; selects all channel layers of the stack, suggests the "
            "number of neurons and adds the neurons with a table of their centres, volumes and colours, "
            "and a point at each neuron's centre.",
        ),
        sigmas_edit=form_row(
            form, "Feature sizes", QLineEdit("1, 2, 4"),
            "Sizes (in the layer's units, e.g. µm) of the structures the multiscale or bright-field features "
            "look at, separated by commas: about the radius of the nuclei, cells or worms to tell apart.",
        ),
    )


@dataclass(eq=False)
class NumberControls:
    """K (classes, or neurons with the recipe) and the recipe's own rows."""

    pan_neuronal_combo: QComboBox
    nucleus_radius_spin: QDoubleSpinBox
    k_label: QLabel
    n_components_spin: QSpinBox
    use_suggested_button: QPushButton
    neuron_hint_label: QLabel
    scale_warning_label: QLabel


def _nucleus_radius_spin() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.05, 100.0)
    spin.setDecimals(2)
    spin.setSingleStep(0.1)
    spin.setSuffix(" µm")
    spin.setValue(DEFAULT_NUCLEUS_RADIUS_UM)
    return spin


def _wrapped_label(tooltip: str) -> QLabel:
    return with_tooltip(_wrapping(QLabel("")), tooltip)


def _wrapping(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    return label


def _add_number_rows(form: QFormLayout) -> NumberControls:
    """The rows of the pan-neuronal channel, the nucleus radius, K and the suggested number of neurons."""
    pan_neuronal_combo = form_row(
        form, "Pan-neuronal", QComboBox(),
        "Neurons recipe: the channel in which every neuron's nucleus is bright (NeuroPAL's pan-neuronal "
        "marker). Neurons are looked for in the nuclei it shows: where it is brighter than halfway from the "
        "background to a typical nucleus. It is not used to tell neurons apart; the other channels (their "
        "colours) and the positions are. 'none' thresholds the sum of all channels and uses every channel "
        "as a colour.",
    )
    nucleus_radius_spin = form_row(
        form, "Nucleus radius", _nucleus_radius_spin(),
        "Neurons recipe: the typical radius of a neuron's nucleus, in µm (about 1.4 µm in the C. elegans "
        "head). The suggested number of neurons is the foreground volume divided by the volume of one such "
        "nucleus, and one radius of distance counts as much as one step of colour when voxels are grouped "
        "into neurons.",
    )
    n_components_spin = with_tooltip(
        QSpinBox(),
        "How many classes to split the pixels into, e.g. 2 for background / worm, 3 for background / "
        "body / nuclei. Labels go from 1 to K, numbered from darkest to brightest in the first channel.",
    )
    n_components_spin.setRange(*CLASS_RANGE)
    n_components_spin.setValue(SEGMENTER_DEFAULTS["n_components"])
    use_suggested_button = with_tooltip(
        QPushButton("use suggested"),
        "Set the number of neurons (K) to the suggested number, and let it follow the suggestion again.",
    )
    k_label = QLabel("Classes (K)")
    form.addRow(k_label, _side_by_side(n_components_spin, use_suggested_button))
    neuron_hint_label = form_row(form, "", _wrapped_label(
        "Neurons recipe: how many neurons to fit, suggested from the stack: the volume of the nuclei in the "
        "pan-neuronal channel (inside the mask, if one is chosen) divided by the volume of one nucleus of "
        "the radius given. It is a guess (nuclei differ in size); K follows it until you change K yourself, "
        "and a run while it does fits the suggested number."
    ))
    scale_warning_label = form_row(form, "", _wrapped_label(
        "The neurons recipe measures positions, sizes and the nucleus radius in µm, from the layers' scale "
        "(the voxel size). A layer opened without one has a scale of 1 along every axis."
    ))
    scale_warning_label.setStyleSheet("color: orange")
    return NumberControls(
        pan_neuronal_combo, nucleus_radius_spin, k_label, n_components_spin, use_suggested_button,
        neuron_hint_label, scale_warning_label,
    )


@dataclass(eq=False)
class FitControls:
    """How the classes are fitted: ε, the method, the class sizes, the labelling, the class shape, the sample."""

    epsilon_slider: QSlider
    epsilon_spin: QDoubleSpinBox
    method_combo: QComboBox
    weights_combo: QComboBox
    class_sizes_edit: QLineEdit
    painting_combo: QComboBox
    assignment_combo: QComboBox
    covariance_combo: QComboBox
    seed_spin: QSpinBox
    sample_size_spin: QSpinBox
    confidence_check: QCheckBox


_EPSILON_TOOLTIP = (
    "How sharp Sinkhorn-EM's class boundaries are. Small values give crisp, all-or-nothing decisions "
    "that follow the class sizes strictly; large values let uncertain pixels be shared between classes "
    "(near 1 it behaves like classical EM with fixed class sizes). EM ignores it unless pixels are "
    "labelled with the class sizes held."
)


def _epsilon_controls() -> tuple[QSlider, QDoubleSpinBox]:
    """The ε slider (in powers of ten) and box, both at the library's default ε."""
    slider = with_tooltip(QSlider(Qt.Orientation.Horizontal), _EPSILON_TOOLTIP)
    low, high = EPSILON_DECADES
    slider.setRange(0, (high - low) * _SLIDER_STEPS_PER_DECADE)
    spin = with_tooltip(QDoubleSpinBox(), _EPSILON_TOOLTIP)
    spin.setRange(10.0**low, 10.0**high)
    spin.setDecimals(3)
    spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
    spin.setValue(SEGMENTER_DEFAULTS["epsilon"])
    slider.setValue(position_of_epsilon(SEGMENTER_DEFAULTS["epsilon"]))
    return slider, spin


def _sample_size_spin() -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, 100_000_000)
    spin.setSingleStep(50_000)
    spin.setSpecialValueText("all pixels")
    spin.setValue(SEGMENTER_DEFAULTS["sample_size"])
    return spin


def _class_size_rows(form: QFormLayout) -> tuple[QComboBox, QLineEdit, QComboBox]:
    """The rows of the class sizes: how they are given, typed, or painted."""
    weights_combo = form_row(
        form, "Class sizes", _choice_combo(_WEIGHT_CHOICES),
        "Share of the pixels in each class. Learned: estimated from the image; right when, e.g., "
        "background fills most of it. Equal: every class covers about the same area. Painted: paint a "
        "rough sketch with labels 1 to K on a labels layer, each class in proportion to the area it "
        "covers, and choose that layer below. Typed: write the expected percentages below. With typed "
        "or painted sizes, Sinkhorn-EM is chosen: it holds them, searching the smallest class's share "
        "near your guess, and label k is the class given the k-th size. With Sinkhorn start → EM they "
        "hold while the classes are placed. In a comparison, EM learns its own.",
    )
    class_sizes_edit = form_row(
        form, "Sizes in %", QLineEdit(""),
        "The share of the pixels (inside the mask) you expect in each class, in percent, in label order "
        "and adding up to 100: e.g. 10, 90 when worms cover about a tenth of the well (label 1 = the "
        "worms). A rough guess is enough: Sinkhorn-EM searches the smallest class's share from a third "
        "to three times your guess and keeps the share where that class's objects end.",
    )
    class_sizes_edit.setPlaceholderText("e.g. 10, 90")
    painting_combo = form_row(
        form, "Painted classes", QComboBox(),
        "The labels layer with the painted classes (labels 1 to K; 0 = not painted) whose areas give "
        "the class sizes. Until you choose one here, the labels layer added last is used.",
    )
    return weights_combo, class_sizes_edit, painting_combo


def _add_fit_rows(form: QFormLayout) -> FitControls:
    """The rows of ε and the fit's settings."""
    epsilon_slider, epsilon_spin = _epsilon_controls()
    form.addRow("ε (sharpness)", _side_by_side(epsilon_slider, epsilon_spin))
    method_combo = form_row(
        form, "Method", _choice_combo(_METHOD_CHOICES),
        "How the classes are found. Sinkhorn start → EM: Sinkhorn-EM first places the classes while "
        "holding their sizes, which avoids the poor solutions EM can get stuck in, then EM refines "
        "everything and learns the class sizes from the image; it did best on images of many similar "
        "objects such as nuclei. EM: the classical fit; try it too when a few classes differ a lot in "
        "size, e.g. a few worms on a large background. Sinkhorn-EM: keeps every class at its given "
        "share of the pixels throughout. Compare: runs EM and Sinkhorn-EM and shows where they disagree.",
    )
    class_sizes = _class_size_rows(form)
    assignment_combo = form_row(
        form, "Label pixels by", _choice_combo(_ASSIGNMENT_CHOICES),
        "How each pixel gets its label once the classes are fitted. Most probable class: the class that "
        "explains the pixel best; class sizes may differ from those fitted. Class sizes held: as "
        "Sinkhorn-EM's transport plan assigns pixels, which keeps every class at its fitted share of the "
        "pixels (ε sets how sharp the boundaries are).",
    )
    covariance_combo = form_row(
        form, "Class shape", _choice_combo(_COVARIANCE_CHOICES),
        "How flexible each class's spread of feature values is. Any shape: classes may follow correlated "
        "channels (most flexible, slowest). Axis-aligned: each feature varies on its own. Round: the same "
        "spread in every feature (most robust when classes are small).",
    )
    seed_spin = form_row(
        form, "Seed", QSpinBox(),
        "Starting point of the random choices (which pixels are sampled, where the classes start). The "
        "same seed and settings always give the same labels; try another seed to check a result is stable.",
    )
    seed_spin.setRange(0, 2**31 - 1)
    sample_size_spin = form_row(
        form, "Sample size", _sample_size_spin(),
        "How many randomly chosen pixels the classes are learned from; every pixel is labelled afterwards. "
        "More is slower but catches rare structures better. 'all pixels' learns from every pixel.",
    )
    confidence_check = form_row(
        form, "", QCheckBox("add a certainty map"),
        "Also add an image showing how sure the fit is of each pixel's label: how many times more probable "
        "its class is than the next best, in powers of ten. 0 = a toss-up between two classes, 1 = ten "
        f"times, 2 = a hundred times, up to {CERTAINTY_CAP:g} or more. Takes one more pass over the image; not "
        "offered for lazy (dask or zarr) layers, which are never loaded whole.",
    )
    return FitControls(
        epsilon_slider, epsilon_spin, method_combo, *class_sizes, assignment_combo, covariance_combo, seed_spin,
        sample_size_spin, confidence_check,
    )


@dataclass(eq=False)
class AdvancedControls:
    """When a fit stops, in a section folded away."""

    max_iter_spin: QSpinBox
    tol_spin: QDoubleSpinBox
    advanced_section: QCollapsible


def _add_advanced_section(layout: QBoxLayout) -> AdvancedControls:
    """The folded section "Advanced": the iteration limit and the tolerance."""
    form = QFormLayout()
    max_iter_spin = form_row(
        form, "Max. iterations", QSpinBox(),
        "Largest number of refinement rounds of the fit. Raise it if a warning says the fit did not converge.",
    )
    max_iter_spin.setRange(1, 1_000_000)
    max_iter_spin.setValue(CLASS_MAX_ITER)
    tol_spin = form_row(
        form, "Tolerance", QDoubleSpinBox(),
        "The fit stops once a round changes it by less than this. Smaller values refine longer; "
        "0 always runs the largest number of rounds.",
    )
    tol_spin.setDecimals(6)
    tol_spin.setRange(0.0, 1.0)
    tol_spin.setSingleStep(1e-4)
    tol_spin.setValue(MIXTURE_DEFAULTS.tol)
    advanced_widget = QWidget()
    advanced_widget.setLayout(form)
    advanced_section = QCollapsible("Advanced")
    advanced_section.addWidget(advanced_widget)
    layout.addWidget(advanced_section)
    return AdvancedControls(max_iter_spin, tol_spin, advanced_section)


@dataclass(eq=False)
class RunControls:
    """Running, following a run, its results in words, and saved models."""

    replace_check: QCheckBox
    live_check: QCheckBox
    run_button: QPushButton
    cancel_button: QPushButton
    progress_bar: QProgressBar
    status_label: QLabel
    comparison_label: QLabel
    class_sizes_label: QLabel
    save_button: QPushButton
    apply_button: QPushButton


def _run_buttons() -> tuple[QPushButton, QPushButton, QPushButton, QPushButton]:
    """Run, Cancel, Save model… and Apply saved model…"""
    return (
        with_tooltip(
            QPushButton("Run"),
            "Segment the selected image with these settings. The labels appear on top of the layer list when "
            "the fit has finished.",
        ),
        with_tooltip(QPushButton("Cancel"), "Stop the running fit; no layer is added or changed."),
        with_tooltip(
            QPushButton("Save model…"),
            "Save the classes learned by the last run (Sinkhorn-EM's when both methods ran) to a file, to "
            "segment other images the same way.",
        ),
        with_tooltip(
            QPushButton("Apply saved model…"),
            "Label the selected image with classes saved earlier, without fitting again: e.g. to segment every "
            "image of an experiment consistently.",
        ),
    )


def _add_run_controls(layout: QBoxLayout) -> RunControls:
    """The check boxes, buttons, progress bar and texts under the settings."""
    replace_check = with_tooltip(
        QCheckBox("replace the previous result"),
        "Put a run's labels into the layers of the previous run on this image instead of adding new ones. "
        "Unticked, each distinct setting (e.g. K = 2 and K = 3) keeps its own layers to compare; running "
        "again with the same settings updates their layers. The newest result is always on top.",
    )
    live_check = with_tooltip(
        QCheckBox("live: re-run when K or ε change"),
        "Re-run automatically a moment after you change the number of classes or ε, stopping a run still in "
        "progress. Changing only ε continues from the previous result, which is quick. Ticking it also "
        "ticks 'replace the previous result', so that trying values does not pile up layers.",
    )
    run_button, cancel_button, save_button, apply_button = _run_buttons()
    progress_bar = with_tooltip(QProgressBar(), "Progress of the current run.")
    progress_bar.setRange(0, PROGRESS_STEPS)
    status_label = _wrapping(QLabel(""))
    comparison_label = _wrapped_label(
        "Agreement of EM and Sinkhorn-EM after matching their label numbers. The adjusted Rand index is 1 "
        "for identical segmentations and about 0 for unrelated ones."
    )
    class_sizes_label = _wrapped_label("The share of the pixels each class was fitted with, by label number.")
    layout.addWidget(replace_check)
    layout.addWidget(live_check)
    layout.addLayout(_side_by_side(run_button, cancel_button, stretch_first=False))
    for widget in (progress_bar, status_label, comparison_label, class_sizes_label):
        layout.addWidget(widget)
    layout.addLayout(_side_by_side(save_button, apply_button, stretch_first=False))
    return RunControls(
        replace_check, live_check, run_button, cancel_button, progress_bar, status_label, comparison_label,
        class_sizes_label, save_button, apply_button,
    )


@dataclass(eq=False)
class Controls:
    """All the widget's controls, by group, and the form holding the settings."""

    form: QFormLayout
    inputs: InputControls
    features: FeatureControls
    numbers: NumberControls
    fit: FitControls
    advanced: AdvancedControls
    run: RunControls

    def by_name(self) -> dict[str, QWidget]:
        """Every control by its name, e.g. ``"method_combo"``."""
        groups = (self.inputs, self.features, self.numbers, self.fit, self.advanced, self.run)
        return {name: control for group in groups for name, control in vars(group).items()}


def build_controls(widget: QWidget) -> Controls:
    """Lay out every control in ``widget``: the settings' form, the advanced section, running and results.

    Parameters
    ----------
    widget : QWidget
        The dock widget; it gets the layout.

    Returns
    -------
    Controls
        Every control, by group.
    """
    form = QFormLayout()
    inputs, features = _add_input_rows(form), _add_feature_rows(form)
    numbers, fit = _add_number_rows(form), _add_fit_rows(form)
    layout = QVBoxLayout(widget)
    layout.addLayout(form)
    advanced = _add_advanced_section(layout)
    run = _add_run_controls(layout)
    layout.addStretch(1)
    return Controls(form, inputs, features, numbers, fit, advanced, run)
