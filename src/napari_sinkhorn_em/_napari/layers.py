"""Where a run's results go in the viewer: the result layers, placed over their image.

:class:`ResultLayers` adds a result as a layer on top of the layer list, or
updates in place the layer of the same result from an earlier run (or the
previous result of that image, when asked): one layer per distinct setting,
the newest on top, each placed with the image's scale, translate and affine
and described in its metadata. :func:`show_segmentation`,
:func:`show_neurons` and :func:`show_model_labels` lay out what each kind of
run produced and return the sentences the widget shows under it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..neurons import CATEGORY_CODES, NeuronMatch, napari_features
from ..segmentation import CERTAINTY_CAP, METHOD_NAMES, Segmenter
from .inputs import ImageSource
from .results import (
    ModelResult,
    NeuronResult,
    SegmentationResult,
    epsilon_label,
    result_metadata,
    result_name,
    short_method_name,
)

__all__ = ["ResultLayers", "show_model_labels", "show_neurons", "show_segmentation"]

#: Colours of the neuron-by-neuron comparison (CATEGORY_CODES); matched neurons are left transparent.
_NEURON_CATEGORY_COLOURS = {
    None: "transparent",
    0: "transparent",
    CATEGORY_CODES["matched"]: "transparent",
    CATEGORY_CODES["split"]: "orange",
    CATEGORY_CODES["merged"]: "magenta",
    CATEGORY_CODES["moved"]: "yellow",
    CATEGORY_CODES["unmatched"]: "red",
}
#: What each colour of that layer means, shown when hovering over it.
_NEURON_CATEGORY_FEATURES = {
    "index": np.array([CATEGORY_CODES[name] for name in ("matched", "split", "merged", "moved", "unmatched")]),
    "EM's neuron, in Sinkhorn-EM's result": np.array(
        ["matched", "split in two or more", "merged with another", "moved (matched by its centre)", "missing"]
    ),
}


class ResultLayers:
    """The result layers of a viewer's images: which layer shows which result, and the latest of each.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Where the layers are added.
    replace_previous : callable
        Says whether a new result replaces the previous one of its image in the same slot
        (the widget's "replace the previous result").
    """

    def __init__(self, viewer: Any, replace_previous: Callable[[], bool]) -> None:
        self.viewer = viewer
        self.replace_previous = replace_previous
        # Result layers by (source layers, what and settings), and the latest one in each (source layers, slot).
        self._by_result: dict[tuple, Any] = {}
        self._latest: dict[tuple, Any] = {}

    def show(
        self,
        source: ImageSource,
        slot: Any,
        key: Any,
        data: np.ndarray,
        name: str,
        metadata: dict[str, Any],
        kind: str = "labels",
        **style: Any,
    ) -> Any:
        """Show ``data``, the result ``key`` (what and with which settings) of ``source``, on top.

        ``kind`` is the layer type (``"labels"``, ``"image"`` or ``"points"``);
        ``slot`` is its place among a run's results (e.g. the first labels).
        The layer of the same result from an earlier run is updated in place;
        so is the previous result of ``source`` in ``slot`` when "replace the
        previous result" is ticked. Otherwise a new layer is added.

        Returns
        -------
        napari.layers.Layer
            The layer showing the result.
        """
        layers = self.viewer.layers
        layer = self._by_result.get((source.layers, key))
        if (layer is None or layer not in layers) and self.replace_previous():
            layer = self._latest.get((source.layers, slot))
        if layer is None or layer not in layers:
            add = {"image": self.viewer.add_image, "labels": self.viewer.add_labels, "points": self.viewer.add_points}
            layer = add[kind](data, name=name, metadata=metadata, **source.placement, **style)
        else:
            if kind == "labels" and "features" not in style and len(layer.features.columns):
                style = {**style, "features": {}}
            layer.data = data
            layer.name = name
            layer.metadata = metadata
            for attribute, value in {**source.placement, **style}.items():
                setattr(layer, attribute, value)
            layers.move(layers.index(layer), len(layers))
        self._by_result = {entry: kept for entry, kept in self._by_result.items() if kept is not layer}
        self._by_result[(source.layers, key)] = layer
        self._latest[(source.layers, slot)] = layer
        return layer

    def forget(self, layer: Any) -> None:
        """Forget ``layer`` (removed from the viewer), as a result and as an image results were made of."""

        def kept(entries: dict[tuple, Any]) -> dict[tuple, Any]:
            return {
                key: result
                for key, result in entries.items()
                if result is not layer and all(source is not layer for source in key[0])
            }

        self._by_result = kept(self._by_result)
        self._latest = kept(self._latest)


def _class_sizes_text(segmenters: dict[str, Segmenter]) -> str:
    """E.g. ``Class sizes (share of the pixels) — EM: 1: 62%, 2: 30%, 3: 8%``.

    After a class-size search it also says which share was chosen from the guess.
    """
    parts = [f"{METHOD_NAMES[method]}: {segmenter.describe_class_sizes()}" for method, segmenter in segmenters.items()]
    return "Class sizes (share of the pixels) — " + "; ".join(parts)


def show_segmentation(results: ResultLayers, result: SegmentationResult) -> tuple[str, str]:
    """The labels of each method, where EM and Sinkhorn-EM disagree, and the certainty map.

    Parameters
    ----------
    results : ResultLayers
        The viewer's result layers: new ones are added, earlier ones updated.
    result : SegmentationResult
        The finished run.

    Returns
    -------
    comparison, class_sizes : str
        How much EM and Sinkhorn-EM agree ("" without a comparison), and the fitted class sizes.
    """
    source, settings = result.source, result.settings
    for slot, method in enumerate(settings.methods):
        results.show(
            source,
            ("labels", slot),
            (method, settings.result_key(method)),
            result.labels[method],
            result_name(source.name, method, settings),
            result_metadata(source, "labels", **settings.describe(method)),
        )
    comparison = result.comparison
    comparison_text = ""
    if comparison is not None:
        results.show(
            source,
            "disagreement",
            ("disagreement", settings.result_key("sinkhorn")),
            comparison.disagreement.astype(np.uint8),
            f"{source.name} EM≠Sinkhorn K={settings.n_components} ε={epsilon_label(settings.epsilon)}",
            result_metadata(
                source,
                "pixels where EM and Sinkhorn-EM disagree (1)",
                agreement=1 - comparison.disagreement_fraction,
                adjusted_rand_index=comparison.adjusted_rand_index,
                **settings.describe("sinkhorn"),
            ),
            colormap={None: "transparent", 0: "transparent", 1: "magenta"},
        )
        comparison_text = (
            f"EM and Sinkhorn-EM agree on {100 * (1 - comparison.disagreement_fraction):.1f}% of the pixels\n"
            f"(adjusted Rand index {comparison.adjusted_rand_index:.3f}); the disagreement layer shows where."
        )
    if result.certainty is not None:
        method = settings.methods[-1]
        results.show(
            source,
            "certainty",
            ("certainty", settings.result_key(method)),
            result.certainty,
            f"{result_name(source.name, method, settings)} certainty",
            result_metadata(
                source,
                "certainty: log10 of how many times more probable each pixel's class is than the next best",
                **settings.describe(method),
            ),
            kind="image",
            colormap="magma",
            contrast_limits=(0.0, CERTAINTY_CAP),
        )
    return comparison_text, _class_sizes_text(result.segmenters)


def _in_frame(source: ImageSource, data: np.ndarray) -> np.ndarray:
    """``data`` of the current time point, in an array of the whole layer's shape (0 at other time points)."""
    if data.shape == source.output_shape:
        return data
    whole = np.zeros(source.output_shape, dtype=data.dtype)
    whole[source.current_frame] = data
    return whole


def _neuron_match_text(match: NeuronMatch) -> str:
    """The neuron-by-neuron comparison of EM (A) and Sinkhorn-EM (B) in a sentence."""
    counts = match.counts
    return (
        f"Of EM's {len(match.neurons_a)} neurons, Sinkhorn-EM finds {counts['matched']} as well "
        f"(overlap IoU ≥ {match.min_iou:g}), splits {counts['split']}, merges {counts['merged']} with another, "
        f"finds {counts['moved']} shifted (centre within {match.centre_distance_um:g} µm) and misses "
        f"{counts['missing']}; {counts['extra']} of its {len(match.neurons_b)} neurons are not in EM's. "
        "The comparison layer colours EM's neurons: orange split, magenta merged, yellow shifted, red missing."
    )


def _show_method_neurons(results: ResultLayers, result: NeuronResult, slot: int, method: str) -> str:
    """One method's neurons as labels and centres (with the neuron table); returns its summary."""
    source, settings = result.source, result.settings
    found = result.segmentations[method]
    name = f"{source.name} neurons {short_method_name(method)} K={found.n_neurons}"
    described = {
        **settings.describe(method),
        "n_neurons_fitted": found.n_neurons,
        "n_neurons_found": len(found.table["label"]),
        "suggested_n_neurons": found.suggested_n_neurons,
        "summary": found.summary(),
    }
    key = settings.result_key(method)
    results.show(
        source,
        ("labels", slot),
        ("neurons", key),
        _in_frame(source, found.labels),
        name,
        result_metadata(source, "neurons (label k = fitted component k - 1)", **described),
        features=napari_features(found.table),
    )
    # Centres as voxel indices with the image's scale, translate and affine, so that they overlay it.
    centres = found.centres_um() / np.asarray(found.scale)
    frame = np.asarray(source.current_frame, dtype=float)
    leading = np.broadcast_to(frame, (len(centres), len(frame)))
    colours = np.column_stack([found.colours_rgb(), np.ones(len(centres))])
    results.show(
        source,
        ("centres", slot),
        ("centres", key),
        np.column_stack([leading, centres]),
        f"{name} centres",
        result_metadata(source, "neuron centres (one point per neuron, coloured by its mean colour)", **described),
        kind="points",
        features=found.table,
        face_color=colours,
        size=settings.nucleus_radius_um / min(found.scale),
    )
    return found.summary() if len(settings.methods) == 1 else f"{METHOD_NAMES[method]}: {found.summary()}"


def show_neurons(results: ResultLayers, result: NeuronResult) -> tuple[str, str]:
    """The neurons of each method as labels and centres (with the neuron table), and their comparison.

    Parameters
    ----------
    results : ResultLayers
        The viewer's result layers: new ones are added, earlier ones updated.
    result : NeuronResult
        The finished run.

    Returns
    -------
    comparison, summary : str
        The neuron-by-neuron comparison ("" without one), and what each method found.
    """
    source, settings = result.source, result.settings
    notes = [_show_method_neurons(results, result, slot, method) for slot, method in enumerate(settings.methods)]
    match = result.match
    if match is None:
        return "", " ".join(notes)
    results.show(
        source,
        "disagreement",
        ("neuron disagreement", settings.result_key("sinkhorn")),
        _in_frame(source, match.disagreement_image("a")),
        f"{source.name} neurons EM≠Sinkhorn K={result.segmentations['em'].n_neurons}",
        result_metadata(
            source,
            "EM's neurons coloured by how Sinkhorn-EM found them (matched transparent, split orange, "
            "merged magenta, shifted yellow, missing red)",
            counts=match.counts,
            summary=_neuron_match_text(match),
            **settings.describe("sinkhorn"),
        ),
        colormap=_NEURON_CATEGORY_COLOURS,
        features=_NEURON_CATEGORY_FEATURES,
    )
    return _neuron_match_text(match), " ".join(notes)


def show_model_labels(results: ResultLayers, result: ModelResult) -> None:
    """The labels a saved model gave.

    Parameters
    ----------
    results : ResultLayers
        The viewer's result layers: a new one is added, or an earlier one updated.
    result : ModelResult
        The finished run.
    """
    results.show(
        result.source,
        "model",
        ("model", result.model_name),
        result.labels,
        f"{result.source.name} model {result.model_name}",
        result_metadata(result.source, "labels from a saved model", model_file=result.model_name),
    )
