"""What the widget segments: an :class:`ImageSource`, made from the layers chosen in the widget, without Qt.

:class:`ImageSource` holds the selected layers' data, how their channels
are laid out and which time points are segmented. :func:`image_source`
makes it: how the selected image layers are read (the highest resolution of
a pyramid, channels from several layers or along one axis, the time point
shown, the mask), which layers opened together are channels of one image,
and the names and colour order of a stack's channels for the neurons recipe.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import lazy
from ..features import automatic_mask
from .settings import InputError

__all__ = [
    "ImageSource",
    "channel_layout",
    "channel_names",
    "colour_order",
    "common_name",
    "highest_resolution",
    "image_source",
    "opened_together",
]


@dataclass(eq=False)
class ImageSource:
    """What to segment: the data of the selected layers and where results go.

    Attributes
    ----------
    name : str
        Name used for the result layers.
    layers : tuple of napari.layers.Image
        The selected image layers (several = one channel each).
    mask : numpy.ndarray of bool or None
        Where to segment: a copy of the mask layer's non-zero pixels, taken
        when the run was asked for, of the image's (non-channel) shape or of
        one time point's shape.
    arrays : tuple of array_like
        The data of each selected layer (highest resolution of a pyramid).
    channel_axis : int or None
        Axis of ``arrays[0]`` holding channels, when one layer holds them.
    n_spatial : int
        2 or 3: the last ``n_spatial`` non-channel axes are segmented
        together; any axes before them (time) are looped over.
    current_frame : tuple of int
        Index along those leading axes of the time point shown in the viewer.
    frames : tuple of tuple of int
        The time points to label.
    spatial_scale : tuple of float
        Pixel (voxel) size along the segmented axes.
    placement : dict
        ``scale``, ``translate`` and ``affine`` of the result layers: those of
        the first layer without its channel axis.
    """

    name: str
    layers: tuple[Any, ...]
    mask: np.ndarray | None
    arrays: tuple[Any, ...]
    channel_axis: int | None
    n_spatial: int
    current_frame: tuple[int, ...]
    frames: tuple[tuple[int, ...], ...]
    spatial_scale: tuple[float, ...]
    placement: dict[str, Any] = field(repr=False)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the label images: the layer's shape without the channel axis."""
        shape = list(self.arrays[0].shape)
        if self.channel_axis is not None:
            del shape[self.channel_axis]
        return tuple(shape)

    @property
    def key(self) -> tuple:
        """Identifies the input: same layers, data, mask and time points give the same key."""
        return (
            tuple(id(layer) for layer in self.layers),
            tuple(id(array) for array in self.arrays),
            None if self.mask is None else (self.mask.shape, zlib.crc32(self.mask)),
            self.channel_axis,
            self.n_spatial,
            self.current_frame,
            self.frames,
        )

    @property
    def lazy(self) -> bool:
        """Whether the data are dask arrays (e.g. a zarr stack): then nothing is loaded whole."""
        return any(lazy.is_dask_array(array) for array in self.arrays)

    def uses(self, layer: Any) -> bool:
        """Whether ``layer`` is one of the image layers segmented."""
        return any(layer is source for source in self.layers)

    def image(self, frame: tuple[int, ...]) -> tuple[Any, int | None]:
        """The image of one time point, channels last, and its channel axis (None for one channel).

        A numpy array, or a dask array when the layers are lazy (numpy's
        stack and moveaxis hand dask arrays to dask).
        """
        load = (lambda array: array) if self.lazy else np.asarray
        if len(self.arrays) > 1:
            return np.stack([load(array[frame]) for array in self.arrays], axis=-1), self.n_spatial
        if self.channel_axis is None:
            return load(self.arrays[0][frame]), None
        return load(np.moveaxis(self.arrays[0], self.channel_axis, -1)[frame]), self.n_spatial

    def mask_at(self, frame: tuple[int, ...]) -> np.ndarray | None:
        """The mask of one time point (True = segment), or None without a mask."""
        if self.mask is None or self.mask.ndim < len(self.output_shape):
            return self.mask
        return self.mask[frame]

    def fit_inputs(self, frame: tuple[int, ...]) -> dict[str, Any]:
        """Keyword arguments of ``Segmenter.fit_steps`` / ``predict`` for one time point."""
        image, channel_axis = self.image(frame)
        return {"image": image, "channel_axis": channel_axis, "scale": self.spatial_scale, "mask": self.mask_at(frame)}


def highest_resolution(layer: Any) -> Any:
    """The data of an image layer; of a pyramid, its highest resolution.

    Parameters
    ----------
    layer : napari.layers.Image

    Returns
    -------
    array_like
    """
    return layer.data[0] if layer.multiscale else layer.data


def opened_together(first: Any, other: Any) -> bool:
    """Whether two image layers added in one go are channels of one image.

    They are when they come from the same file or sample (or both from
    neither) and hold the same kind of array (numpy or dask), shape and
    data type; RGB layers stand alone.

    Parameters
    ----------
    first, other : napari.layers.Image
        The two layers.

    Returns
    -------
    bool
    """
    first_data, other_data = highest_resolution(first), highest_resolution(other)
    return (
        not first.rgb
        and not other.rgb
        and (first.source.path, first.source.sample) == (other.source.path, other.source.sample)
        and type(first_data) is type(other_data)
        and (first_data.shape, first_data.dtype) == (other_data.shape, other_data.dtype)
    )


def common_name(names: list[str]) -> str:
    """A name for several channel layers: their common prefix, or all names joined.

    Parameters
    ----------
    names : list of str
        The layers' names.

    Returns
    -------
    str
    """
    prefix = os.path.commonprefix(names).strip(" _-")
    return prefix if len(names) == 1 or prefix else " + ".join(names)


def channel_names(names: list[str]) -> tuple[str, ...]:
    """Layer names without the words they share, e.g. ``mTagBFP2`` for ``NeuroPAL head mTagBFP2``.

    The common prefix is cut at its last space, underscore or dash; where
    that leaves names empty or repeated, the full names are kept.

    Parameters
    ----------
    names : list of str
        The channel layers' names.

    Returns
    -------
    tuple of str
        One name per layer, in order.
    """
    prefix = os.path.commonprefix(names)
    prefix = prefix[: max(prefix.rfind(separator) for separator in " _-") + 1]
    short = [name[len(prefix) :].strip(" _-") for name in names]
    return tuple(short) if all(short) and len(set(short)) == len(short) else tuple(names)


def _dominant_colour(layer: Any) -> int | None:
    """0, 1 or 2 when the brightest colour of the layer's colour map is mainly red, green or blue; else None."""
    try:
        red_green_blue = np.asarray(layer.colormap.colors, dtype=float)[-1, :3]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    ordered = np.sort(red_green_blue)
    return int(np.argmax(red_green_blue)) if ordered[-1] > 0 and ordered[-2] < 0.5 * ordered[-1] else None


def colour_order(channels: list[int], layers: list[Any]) -> tuple[int, ...]:
    """The colour channels in red, green, blue order when their layers are shown in red, green and blue.

    E.g. the NeuroPAL layers mTagBFP2 (blue), CyOFP1 (green), mNeptune2.5
    (red): ``(2, 1, 0)``, so that a neuron's colour looks as it does in the
    viewer. Otherwise (grey layers, one layer holding the channels) the
    channels keep their order.

    Parameters
    ----------
    channels : list of int
        The colour channels, indices into ``layers``.
    layers : list of napari.layers.Image
        One layer per channel (empty when one layer holds the channels).

    Returns
    -------
    tuple of int
        ``channels`` reordered; a fourth channel and later ones stay last.
    """
    first, rest = list(channels[:3]), tuple(channels[3:])
    if len(first) < 3 or len(layers) <= max(first):
        return tuple(channels)
    dominant = [_dominant_colour(layers[channel]) for channel in first]
    if sorted(colour for colour in dominant if colour is not None) != [0, 1, 2]:
        return tuple(channels)
    return tuple(channel for _, channel in sorted(zip(dominant, first))) + rest


def _checked_arrays(layers: Sequence[Any]) -> tuple[Any, ...]:
    """The data of the selected layers, which must be one image (RGB alone, channels of one size)."""
    if not layers:
        raise InputError(
            "Choose an image layer to segment in the widget's list (open one with File > Open, or try "
            "File > Open Sample > Sinkhorn-EM segmentation)."
        )
    arrays = tuple(highest_resolution(layer) for layer in layers)
    if len(layers) > 1:
        if any(layer.rgb for layer in layers):
            raise InputError("RGB layers cannot be combined with other layers; select the RGB layer on its own.")
        if len({array.shape for array in arrays}) > 1:
            sizes = ", ".join(f"'{layer.name}' {array.shape}" for layer, array in zip(layers, arrays))
            raise InputError(f"Layers used together as channels must have the same size, but they differ: {sizes}.")
    return arrays


def _time_points(
    first: Any,
    leading_shape: tuple[int, ...],
    world_point: Sequence[float],
    layer_channel_axis: int | None,
    all_time_points: bool,
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """The time point shown in the viewer (at ``world_point``) and the time points to label."""
    position = list(first.world_to_data(world_point))
    if layer_channel_axis is not None:
        del position[layer_channel_axis]
    current_frame = tuple(
        int(min(max(round(coordinate), 0), size - 1)) for coordinate, size in zip(position, leading_shape)
    )
    frames = tuple(np.ndindex(leading_shape)) if all_time_points and leading_shape else (current_frame,)
    return current_frame, frames


def _mask_of(mask_layer: Any, shape: tuple[int, ...], spatial_shape: tuple[int, ...]) -> np.ndarray | None:
    """A copy of the mask layer's non-zero pixels, of the image's shape or of one time point's shape."""
    if mask_layer is None:
        return None
    if mask_layer.data.shape not in (shape, spatial_shape):
        raise InputError(
            f"The mask '{mask_layer.name}' has shape {mask_layer.data.shape}, but the image has "
            f"{shape}; choose a mask drawn on this image."
        )
    # A copy: painting on the mask during a run must not change that run.
    return np.asarray(mask_layer.data) > 0


def _automatic_mask(kind, array, channel_axis, leading_shape, frames) -> np.ndarray:
    """The automatic mask of every frame to segment (False elsewhere), from the first channel."""
    if lazy.is_dask_array(array):
        raise InputError(
            "An automatic mask needs the image in memory, and this layer is read lazily from disk; "
            "paint a mask layer instead, or choose no automatic mask."
        )
    image = np.asarray(array)
    if channel_axis is not None:
        image = np.take(image, 0, axis=channel_axis)
    mask = np.zeros(image.shape, dtype=bool)
    for frame in frames:
        plane = image[frame] if leading_shape else image
        try:
            found = automatic_mask(kind, plane)
        except ValueError as error:
            raise InputError(f"The automatic mask cannot be found: {error}") from None
        if leading_shape:
            mask[frame] = found
        else:
            mask = found
    return mask


def _without_axis(values: np.ndarray, axis: int | None) -> np.ndarray:
    return np.asarray(values) if axis is None else np.delete(values, axis)


def _affine_without_axis(matrix: np.ndarray, axis: int | None) -> np.ndarray:
    return matrix if axis is None else np.delete(np.delete(matrix, axis, axis=0), axis, axis=1)


def image_source(
    layers: Sequence[Any],
    *,
    channel_axis: int | None,
    n_spatial: int,
    world_point: Sequence[float],
    all_time_points: bool,
    mask_layer: Any = None,
    automatic: str | None = None,
) -> ImageSource:
    """What to segment, checked for consistency.

    Parameters
    ----------
    layers : sequence of napari.layers.Image
        The selected image layers (several = one channel each).
    channel_axis : int or None
        The axis of a single layer holding its channels (an RGB layer's are its last axis).
    n_spatial : int
        2 or 3: how many of the last non-channel axes are segmented together.
    world_point : sequence of float
        The viewer's current point, which gives the time point shown.
    all_time_points : bool
        Label every time point rather than the one shown.
    mask_layer : napari.layers.Labels, optional
        Segment where it is not 0.
    automatic : str, optional
        The kind of automatic mask (see :func:`~napari_sinkhorn_em.features.automatic_mask`).

    Raises
    ------
    InputError
        When the selection cannot be segmented so; the message says why.
    """
    arrays = _checked_arrays(layers)
    first = layers[0]
    channel_axis = None if len(layers) > 1 else -1 if first.rgb else channel_axis
    if channel_axis is not None:
        channel_axis %= arrays[0].ndim
    # Layer axes without the channel axis; an RGB layer's colour axis is not one of its layer axes.
    layer_channel_axis = None if first.rgb else channel_axis
    shape = list(arrays[0].shape)
    if channel_axis is not None:
        del shape[channel_axis]
    if len(shape) < n_spatial:
        raise InputError(
            f"The layer '{first.name}' has {len(shape)} axes besides its channels; it cannot be "
            f"segmented in {n_spatial}-D."
        )
    leading_shape = tuple(shape[: len(shape) - n_spatial])
    current_frame, frames = _time_points(first, leading_shape, world_point, layer_channel_axis, all_time_points)
    mask = _mask_of(mask_layer, tuple(shape), tuple(shape[len(leading_shape) :]))
    if automatic is not None:
        found = _automatic_mask(automatic, arrays[0], channel_axis, leading_shape, frames)
        mask = found if mask is None else (mask & found)
    scale = _without_axis(first.scale, layer_channel_axis)
    placement = {
        "scale": scale,
        "translate": _without_axis(first.translate, layer_channel_axis),
        "affine": _affine_without_axis(first.affine.affine_matrix, layer_channel_axis),
    }
    return ImageSource(
        name=common_name([layer.name for layer in layers]),
        layers=tuple(layers),
        mask=mask,
        arrays=arrays,
        channel_axis=channel_axis,
        n_spatial=n_spatial,
        current_frame=current_frame,
        frames=frames,
        spatial_scale=tuple(float(step) for step in scale[-n_spatial:]),
        placement=placement,
    )


def channel_layout(layers: Sequence[Any], channel_axis: int | None) -> tuple[list[str], list[Any], list[Any]]:
    """Names and identities of the selected image's channels, and the layer of each (one per layer).

    A channel of one layer is identified by ``(id(layer), index)``, a layer by itself.

    Parameters
    ----------
    layers : sequence of napari.layers.Image
        The selected image layers.
    channel_axis : int or None
        The channel axis of a single selected layer; None when it has none.

    Returns
    -------
    names : list of str
        One per channel.
    identities : list
        One per channel: what identifies it across selections.
    channel_layers : list of napari.layers.Image
        The layer of each channel when there is one layer per channel; else empty.
    """
    if len(layers) > 1:
        return [layer.name for layer in layers], list(layers), list(layers)
    if not layers:
        return [], [], []
    layer = layers[0]
    if layer.rgb:
        names = ["red", "green", "blue", "alpha"][: highest_resolution(layer).shape[-1]]
    elif channel_axis is not None:
        n_channels = highest_resolution(layer).shape[channel_axis]
        names = [f"channel {index}" for index in range(n_channels)]
    else:
        return [layer.name], [layer], [layer]
    return names, [(id(layer), index) for index in range(len(names))], []
