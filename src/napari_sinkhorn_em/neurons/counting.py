"""How many neurons to fit to a foreground, and whether that many fit at all."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._checks import check_count, check_number, check_scale_um


#: Typical radius (µm) of a *C. elegans* head neuron's nucleus, used by :func:`suggest_n_neurons`.
DEFAULT_NUCLEUS_RADIUS_UM = 1.4

#: Fewest voxels a neuron needs for its Gaussian to have a covariance (:func:`check_n_neurons`);
#: also the default smallest neuron kept by :func:`clean_instances`.
MIN_VOXELS_PER_NEURON = 10


def suggest_n_neurons(
    foreground: Any, scale: Sequence[float], nucleus_radius_um: float = DEFAULT_NUCLEUS_RADIUS_UM
) -> int:
    """Suggest how many neurons (mixture components) to fit to a foreground.

    The rule: the foreground volume divided by the volume of one typical
    nucleus, a sphere of radius ``nucleus_radius_um``,

        K = round(n_foreground_voxels * prod(scale) / (4/3 π r³)),

    and at least 1. For a 2-D foreground the area is divided by the area of
    the nucleus's cross-section, π r². The estimate assumes that the
    foreground is mostly nuclei; a mask that also holds processes or
    autofluorescence suggests too many.

    Parameters
    ----------
    foreground : array_like
        2-D or 3-D image, True (non-zero) on the foreground voxels, e.g. a
        threshold of the pan-neuronal channel or a label image.
    scale : sequence of float
        Voxel size in µm along each axis (z, y, x).
    nucleus_radius_um : float, default DEFAULT_NUCLEUS_RADIUS_UM
        Radius of a typical nucleus in µm (1.4 µm for head neurons).

    Returns
    -------
    int
        The suggested number of neurons, at least 1.

    Raises
    ------
    ValueError
        If the foreground is not a 2-D or 3-D image of numbers, is empty,
        ``scale`` does not give one positive size per axis, or the radius
        is not positive.
    """
    foreground = np.asarray(foreground)
    if foreground.ndim not in (2, 3) or foreground.dtype.kind not in "biuf":
        raise ValueError(
            f"The foreground must be a 2-D or 3-D True/False image; got shape {foreground.shape} "
            f"and values of type {foreground.dtype}."
        )
    scale = check_scale_um(scale, foreground.ndim, "foreground")
    radius = check_number(nucleus_radius_um, "nucleus_radius_um", low=0.0, low_open=True)
    n_voxels = int(np.count_nonzero(foreground))
    if n_voxels == 0:
        raise ValueError("The foreground is empty: no voxel is marked, so there are no neurons to count.")
    nucleus = 4.0 / 3.0 * math.pi * radius**3 if foreground.ndim == 3 else math.pi * radius**2
    return max(1, int(math.floor(n_voxels * math.prod(scale) / nucleus + 0.5)))


def check_n_neurons(n_neurons: int, n_foreground_voxels: int) -> int:
    """Check that ``n_neurons`` Gaussians can be fitted to the foreground voxels.

    Each neuron's Gaussian needs about :data:`MIN_VOXELS_PER_NEURON` (10)
    voxels for its position and colour covariance, so at most
    ``n_foreground_voxels // 10`` neurons can be fitted.

    Parameters
    ----------
    n_neurons : int
        The number of neurons (components) asked for.
    n_foreground_voxels : int
        How many voxels the foreground holds.

    Returns
    -------
    int
        ``n_neurons``, when it fits.

    Raises
    ------
    ValueError
        If ``n_neurons`` is not a whole number of at least 1, or the
        foreground is too small for that many neurons.
    """
    n_neurons = check_count(n_neurons, "The number of neurons", minimum=1)
    n_foreground_voxels = check_count(n_foreground_voxels, "The number of foreground voxels", minimum=0)
    most = n_foreground_voxels // MIN_VOXELS_PER_NEURON
    if n_neurons > most:
        raise ValueError(
            f"{n_neurons} neurons cannot be fitted to {n_foreground_voxels:,} foreground voxels: each neuron "
            f"needs at least {MIN_VOXELS_PER_NEURON} voxels to estimate its shape, so at most {most:,} "
            f"neuron{'' if most == 1 else 's'} fit. Ask for fewer neurons, or widen the foreground "
            f"(e.g. a lower threshold on the pan-neuronal channel)."
        )
    return n_neurons
