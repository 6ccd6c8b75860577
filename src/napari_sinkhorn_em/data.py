"""Synthetic sample images with ground truth.

Three generators are provided, all deterministic for a given seed:

* :func:`neuropal_like` -- a 3-D, four-channel stack of a NeuroPAL-like
  *C. elegans* head: nuclei with a random combination of three colours
  (mTagBFP2, CyOFP1, mNeptune2.5) plus a pan-neuronal channel, inside a bent,
  tapered, dimly autofluorescent body; anisotropic voxels, a Gaussian PSF that
  is wider in z, Poisson shot noise, camera offset and read noise.
* :func:`neuropal_head` -- the same recording of a realistic whole head:
  about 200 neurons packed, many touching, into the head ganglia around the
  pharynx and the nerve ring, with their true centres.
* :func:`worms_2d` -- a 2-D bright-field image of worms in a well, modelled on
  channel 1 of the BBBC010 data set: vignetting, a dark rim at the wall as dark
  as the worms, worms about half as bright as their surroundings with a faint
  halo, debris and camera noise.

:func:`neuropal_like_sample`, :func:`neuropal_head_sample` and
:func:`worms_2d_sample` wrap them as napari layer-data tuples for the
*File > Open Sample* menu (no napari import needed).

This module depends only on numpy and scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = [
    "NEUROPAL_CHANNEL_NAMES",
    "SampleImage",
    "neuropal_head",
    "neuropal_head_sample",
    "neuropal_like",
    "neuropal_like_sample",
    "worms_2d",
    "worms_2d_sample",
]

#: Channel names of :func:`neuropal_like` and :func:`neuropal_head`, in channel order.
NEUROPAL_CHANNEL_NAMES = ("mTagBFP2", "CyOFP1", "mNeptune2.5", "pan-neuronal")

_NEUROPAL_COLORMAPS = ("blue", "green", "red", "gray")
_WORMS_PIXEL_SIZE_UM = 6.25
_UINT16_MAX = np.iinfo(np.uint16).max
# Expected photon counts are rounded to this step before Poisson sampling, so
# that last-bit floating-point differences between platforms cannot change
# the random draws.
_PHOTON_QUANTUM = 1.0 / 1024.0


@dataclass(frozen=True)
class SampleImage:
    """A synthetic image with its ground truth.

    Attributes
    ----------
    image : numpy.ndarray
        The image. Multichannel images carry their channels along
        ``channel_axis``.
    labels : numpy.ndarray or None
        Instance labels over the spatial axes (0 = background, 1..n objects).
    foreground : numpy.ndarray or None
        Boolean mask of the objects over the spatial axes.
    channel_axis : int or None
        Axis of ``image`` that holds the channels, or None for one channel.
    scale : tuple of float
        Physical size of a pixel/voxel along each spatial axis, in
        micrometres.
    channel_names : tuple of str
        One name per channel.
    name : str
        Short name of the sample.
    description : str
        One-paragraph description of what the image shows.
    centres_um : numpy.ndarray or None
        True centre of each object, shape (n, number of spatial axes), in
        micrometres along the spatial axes (row i belongs to label i + 1), or
        None where the sample has no point-like objects.
    colours : numpy.ndarray or None
        Colour of each object, shape (n, 3): its relative brightness in the
        first three channels (the brightest at 1), or None for samples whose
        objects have no colour.
    """

    image: np.ndarray
    labels: np.ndarray | None
    foreground: np.ndarray | None
    channel_axis: int | None
    scale: tuple[float, ...]
    channel_names: tuple[str, ...]
    name: str
    description: str
    centres_um: np.ndarray | None = None
    colours: np.ndarray | None = None


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    """Independent random generators derived from one seed, one per purpose."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(n)]


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma) -> np.ndarray:
    """Smooth random field with zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / field.std()


def _camera(
    rng: np.random.Generator, photons: np.ndarray, *, offset: float, read_noise: float, gain: float = 1.0
) -> np.ndarray:
    """Poisson shot noise, camera offset and Gaussian read noise, as uint16.

    ``photons`` is the expected signal in counts; ``gain`` electrons make one
    count, so the shot noise of a signal ``s`` is ``sqrt(s / gain)`` counts.
    """
    electrons = np.maximum(photons, 0.0) * gain
    expected = np.round(electrons / _PHOTON_QUANTUM) * _PHOTON_QUANTUM
    counts = rng.poisson(expected).astype(np.float64)
    if gain != 1.0:
        counts /= gain
    counts += offset + read_noise * rng.standard_normal(counts.shape)
    return np.clip(np.round(counts), 0, _UINT16_MAX).astype(np.uint16)


def _nearest_on_polyline(points: np.ndarray, polyline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each point to the nearest polyline vertex, and its index.

    The polyline must be sampled densely (vertex spacing well below the
    structure size) for the vertex distance to approximate the curve distance.
    """
    distance, index = cKDTree(polyline).query(points)
    return distance, index


# ---------------------------------------------------------------------------
# NeuroPAL-like C. elegans head
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _WormHead:
    """Geometry of the synthetic head: a tapered tube around a bent centreline.

    ``centreline`` holds (y, x) positions in micrometres along the worm from
    the nose, sampled densely (every 0.1 um in x); ``radius`` the body radius
    at each of them; the tube axis lies in the plane z = ``z_centre``.
    """

    centreline: np.ndarray
    radius: np.ndarray
    z_centre: float

    def axis_distance(self, points_zyx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance of points (N, 3), in micrometres, from the tube axis.

        Returns the distance and the index of the nearest centreline vertex.
        """
        in_plane, index = _nearest_on_polyline(points_zyx[:, 1:], self.centreline)
        return np.hypot(in_plane, points_zyx[:, 0] - self.z_centre), index

    def arc_length(self) -> np.ndarray:
        """Distance along the centreline from the nose to each vertex, in micrometres."""
        steps = np.hypot(*np.diff(self.centreline, axis=0).T)
        return np.concatenate([[0.0], np.cumsum(steps)])

    def from_body_frame(self, points: np.ndarray) -> np.ndarray:
        """Image positions (N, 3), (z, y, x) um, of points given in the body's own frame.

        A point (s, d, l) lies ``s`` micrometres from the nose along the
        centreline, ``d`` micrometres dorsal of it (towards smaller y, in the
        image plane, perpendicular to the centreline) and ``l`` micrometres to
        its left (towards larger z): the worm lies on its side.
        """
        arc = self.arc_length()
        along, dorsal, left = points.T
        y = np.interp(along, arc, self.centreline[:, 0])
        x = np.interp(along, arc, self.centreline[:, 1])
        tangent_y = np.interp(along, arc, np.gradient(self.centreline[:, 0], arc))
        tangent_x = np.interp(along, arc, np.gradient(self.centreline[:, 1], arc))
        norm = np.hypot(tangent_y, tangent_x)
        # The in-plane normal (tangent_x, -tangent_y) / norm points towards larger y: ventral.
        return np.column_stack(
            [self.z_centre + left, y - dorsal * tangent_x / norm, x + dorsal * tangent_y / norm]
        )

    def mask(self, shape: tuple[int, int, int], voxel_size: tuple[float, float, float]) -> np.ndarray:
        """Boolean (Z, Y, X) mask of the voxels inside the body."""
        yy, xx = np.meshgrid(
            np.arange(shape[1]) * voxel_size[1], np.arange(shape[2]) * voxel_size[2], indexing="ij"
        )
        in_plane, index = _nearest_on_polyline(
            np.column_stack([yy.ravel(), xx.ravel()]), self.centreline
        )
        in_plane = in_plane.reshape(shape[1:])
        radius = self.radius[index].reshape(shape[1:])
        dz = np.arange(shape[0])[:, None, None] * voxel_size[0] - self.z_centre
        return dz**2 + in_plane[None] ** 2 <= radius[None] ** 2


def _worm_head(
    rng: np.random.Generator, shape: tuple[int, int, int], voxel_size: tuple[float, float, float]
) -> _WormHead:
    """Random worm head: nose near the left edge, body leaving on the right."""
    extent = [(n - 1) * d for n, d in zip(shape, voxel_size)]
    step = 0.1
    nose_x = rng.uniform(0.04, 0.08) * extent[2]
    x = np.arange(nose_x, extent[2] + 15.0, step)
    # A gentle bend: a fraction of a body wave (wavelength 100-160 um).
    wavelength = rng.uniform(100.0, 160.0)
    amplitude = rng.uniform(0.06, 0.1) * extent[1]
    phase = rng.uniform(0.0, 2.0 * np.pi)
    y = extent[1] / 2 + amplitude * (np.sin(2 * np.pi * x / wavelength + phase) - np.sin(phase))
    centreline = np.column_stack([y, x])
    arc_from_nose = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(y), np.diff(x)))])
    # Tapered head: blunt nose, widening to the full body radius.
    max_radius = min(rng.uniform(0.38, 0.42) * extent[0], 0.3 * extent[1])
    tip_radius = 0.4 * max_radius
    radius = tip_radius + (max_radius - tip_radius) * (1.0 - np.exp(-arc_from_nose / 12.0))
    return _WormHead(centreline=centreline, radius=radius, z_centre=extent[0] / 2)


def _random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniformly distributed 3-D rotation matrices, shape (n, 3, 3)."""
    q = rng.standard_normal((n, 4))
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _random_nucleus_shapes(
    rng: np.random.Generator, n: int, nucleus_radius: float, size_spread: float
) -> tuple[np.ndarray, np.ndarray]:
    """Random slightly ellipsoidal nuclei: their precision matrices (1 / um^2) and bounding radii (um).

    Radii are uniform in ``nucleus_radius * (1 +/- size_spread)``; each nucleus is elongated
    volume-preservingly (semi-axes r * (a, b, c) with a * b * c = 1) and randomly rotated.
    """
    radii = nucleus_radius * (1.0 + size_spread * rng.uniform(-1.0, 1.0, n))
    log_axes = np.clip(0.08 * rng.standard_normal((n, 3)), -0.2, 0.2)
    semi_axes = radii[:, None] * np.exp(log_axes - log_axes.mean(axis=1, keepdims=True))
    rotations = _random_rotations(rng, n)
    precision_matrices = np.einsum("nij,nj,nkj->nik", rotations, semi_axes**-2.0, rotations)
    return precision_matrices, semi_axes.max(axis=1)


def _place_nuclei(
    rng: np.random.Generator,
    head: _WormHead,
    bounding_radii: np.ndarray,
    shape: tuple[int, int, int],
    voxel_size: tuple[float, float, float],
) -> np.ndarray:
    """Centres (n, 3) in micrometres of non-overlapping nuclei inside the head.

    Rejection sampling, largest nucleus first: a candidate centre is kept when
    the nucleus lies entirely inside the image and the body (with a margin),
    outside the pharynx core of the head, and at least ``gap`` micrometres
    away from every nucleus placed before it.
    """
    gap = 0.6
    body_margin = 0.4
    pharynx_fraction = 0.35
    extent = np.array([(n - 1) * d for n, d in zip(shape, voxel_size)])
    order = np.argsort(-bounding_radii, kind="stable")
    centres = np.empty((len(bounding_radii), 3))
    placed: list[int] = []
    batch = 256
    for i in order:
        r = bounding_radii[i]
        for _ in range(400):
            candidates = rng.uniform(r, extent - r, size=(batch, 3))
            axis_distance, index = head.axis_distance(candidates)
            body_radius = head.radius[index]
            ok = (axis_distance <= body_radius - r - body_margin) & (
                axis_distance >= pharynx_fraction * body_radius
            )
            if placed:
                separation = np.linalg.norm(candidates[:, None, :] - centres[placed][None], axis=-1)
                ok &= np.all(separation >= r + bounding_radii[placed][None] + gap, axis=1)
            if ok.any():
                centres[i] = candidates[np.argmax(ok)]
                placed.append(i)
                break
        else:
            raise RuntimeError(
                f"could not fit {len(bounding_radii)} nuclei into the head; "
                "use fewer or smaller nuclei, or a larger image"
            )
    return centres


def _neighbour_distinct_colours(
    rng: np.random.Generator, centres: np.ndarray, neighbourhood: float
) -> np.ndarray:
    """One RGB-like colour (n, 3) per nucleus, distinct from nearby nuclei.

    Each colour has its brightest component at 1. Nuclei are coloured in turn;
    each picks, among random candidates, the colour farthest from the colours
    of already-coloured nuclei within ``neighbourhood`` micrometres.
    """
    n_candidates = 24
    colours = np.empty((len(centres), 3))
    for i in range(len(centres)):
        candidates = rng.uniform(0.0, 1.0, size=(n_candidates, 3)) ** 1.5
        candidates /= candidates.max(axis=1, keepdims=True)
        near = np.linalg.norm(centres[:i] - centres[i], axis=1) <= neighbourhood
        if near.any():
            distance = np.linalg.norm(candidates[:, None, :] - colours[:i][near][None], axis=-1)
            colours[i] = candidates[np.argmax(distance.min(axis=1))]
        else:
            colours[i] = candidates[0]
    return colours


def _rasterise_ellipsoids(
    shape: tuple[int, int, int],
    voxel_size: tuple[float, float, float],
    centres: np.ndarray,
    precision_matrices: np.ndarray,
    bounding_radii: np.ndarray,
) -> np.ndarray:
    """uint16 labels of ellipsoids {p : (p-c)^T A (p-c) <= 1}, label i + 1 for ellipsoid i.

    Where ellipsoids overlap (nuclei pressed against each other), a voxel goes
    to the ellipsoid it lies deepest in (the smallest ``(p-c)^T A (p-c)``), so
    every voxel carries one label and pressed nuclei share a flat face.
    """
    labels = np.zeros(shape, dtype=np.uint16)
    depth = np.full(shape, np.inf)
    spacing = np.asarray(voxel_size)
    for i, (centre, precision, r) in enumerate(zip(centres, precision_matrices, bounding_radii)):
        lo = np.maximum(np.floor((centre - r) / spacing).astype(int), 0)
        hi = np.minimum(np.ceil((centre + r) / spacing).astype(int) + 1, shape)
        grid = np.meshgrid(*[np.arange(a, b) * s for a, b, s in zip(lo, hi, spacing)], indexing="ij")
        offset = np.stack(grid, axis=-1) - centre
        quadratic = np.einsum("...i,ij,...j->...", offset, precision, offset)
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        inside = (quadratic <= 1.0) & (quadratic < depth[box])
        labels[box][inside] = i + 1
        depth[box][inside] = quadratic[inside]
    return labels


def _neuropal_recording(
    labels: np.ndarray,
    colours: np.ndarray,
    body: np.ndarray,
    voxel_size: tuple[float, float, float],
    *,
    colour_rng: np.random.Generator,
    body_rng: np.random.Generator,
    noise_rng: np.random.Generator,
) -> np.ndarray:
    """Four-channel NeuroPAL recording, uint16 (4, Z, Y, X), of coloured nuclei in a body.

    Nucleus i (label i + 1) shines in the three colour channels in proportion
    to ``colours[i]`` times a random brightness, and in the pan-neuronal
    channel with a random brightness near 1; the body mask is dimly and
    unevenly autofluorescent (most in the blue channel), the medium around it
    nearly dark. The ideal stack is blurred by an anisotropic Gaussian PSF
    (sigma 0.3 um in xy, 0.9 um in z) and recorded with Poisson shot noise, a
    camera offset of 100 counts and read noise of 2 counts.
    """
    n_nuclei = len(colours)
    colour_brightness = colour_rng.uniform(0.7, 1.0, n_nuclei)
    pan_neuronal_brightness = colour_rng.uniform(0.85, 1.15, n_nuclei)
    # Expected photons per label (row 0 = background) and channel.
    peak_photons = np.array([250.0, 250.0, 250.0, 300.0])
    label_photons = np.zeros((n_nuclei + 1, 4))
    label_photons[1:, :3] = colours * colour_brightness[:, None]
    label_photons[1:, 3] = pan_neuronal_brightness
    label_photons *= peak_photons

    autofluorescence = np.array([30.0, 14.0, 8.0, 12.0])
    medium = np.array([3.0, 2.0, 2.0, 2.0])
    body_texture = np.clip(1.0 + 0.25 * _smooth_field(body_rng, body.shape, sigma=(2, 8, 8)), 0.3, None)

    psf_sigma_um = (0.9, 0.3, 0.3)
    psf_sigma = tuple(s / d for s, d in zip(psf_sigma_um, voxel_size))
    photons = np.empty((4, *body.shape))
    for channel in range(4):
        ideal = np.where(body, autofluorescence[channel] * body_texture, medium[channel])
        ideal += label_photons[labels, channel]
        photons[channel] = ndimage.gaussian_filter(ideal, psf_sigma, mode="nearest")
    return _camera(noise_rng, photons, offset=100.0, read_noise=2.0)


def _check_nuclei(count_name: str, count: int, size_spread: float, nucleus_radius: float) -> None:
    """Refuse a number of nuclei outside 1..65535, a size spread outside [0, 1) or a radius not positive."""
    if not 1 <= count <= _UINT16_MAX:
        raise ValueError(f"{count_name} must be in 1..{_UINT16_MAX}, got {count}")
    if not 0.0 <= size_spread < 1.0:
        raise ValueError(f"size_spread must be in [0, 1), got {size_spread}")
    if nucleus_radius <= 0:
        raise ValueError(f"nucleus_radius must be positive, got {nucleus_radius}")


def _neuropal_sample(
    head: _WormHead,
    centres: np.ndarray,
    nucleus_shapes: tuple[np.ndarray, np.ndarray],
    shape: tuple[int, int, int],
    voxel_size: tuple[float, float, float],
    rngs: tuple[np.random.Generator, np.random.Generator, np.random.Generator],
    *,
    neighbourhood: float,
    name: str,
    description: str,
) -> SampleImage:
    """The nuclei at ``centres`` labelled, coloured apart within ``neighbourhood`` um and recorded in ``head``.

    ``rngs`` are the body's, the colours' and the camera's generators; ``description`` is completed with
    what every NeuroPAL sample shows.
    """
    body_rng, colour_rng, noise_rng = rngs
    labels = _rasterise_ellipsoids(shape, voxel_size, centres, *nucleus_shapes)
    colours = _neighbour_distinct_colours(colour_rng, centres, neighbourhood=neighbourhood)
    image = _neuropal_recording(labels, colours, head.mask(shape, voxel_size), voxel_size,
                                colour_rng=colour_rng, body_rng=body_rng, noise_rng=noise_rng)
    return SampleImage(
        image=image, labels=labels, foreground=labels > 0, channel_axis=0, scale=voxel_size,
        channel_names=NEUROPAL_CHANNEL_NAMES, name=name,
        description=(
            f"{description} with distinct mTagBFP2/CyOFP1/mNeptune2.5 colour mixes and a pan-neuronal channel, "
            "autofluorescent body, anisotropic Gaussian PSF, Poisson and read noise. "
            f"Axes CZYX, voxel size {voxel_size} um (z, y, x)."
        ),
        centres_um=centres, colours=colours,
    )


def neuropal_like(
    *,
    seed: int = 0,
    n_nuclei: int = 40,
    size_spread: float = 0.3,
    shape: tuple[int, int, int] = (24, 128, 256),
    voxel_size: tuple[float, float, float] = (0.75, 0.25, 0.25),
    nucleus_radius: float = 1.6,
) -> SampleImage:
    """Synthetic NeuroPAL-like *C. elegans* head with ground-truth nuclei.

    A bent, tapered tube (the head, nose on the left) holds ``n_nuclei``
    non-overlapping, slightly ellipsoidal nuclei arranged around the pharynx.
    Every nucleus has its own mix of the three NeuroPAL colours, chosen to
    differ from its neighbours, and is bright in the pan-neuronal channel. The
    body is dimly autofluorescent (most in the blue channel). The stack is
    blurred by an anisotropic Gaussian PSF (sigma 0.3 um in xy, 0.9 um in z)
    and recorded with Poisson shot noise, a camera offset of 100 counts and
    Gaussian read noise.

    Parameters
    ----------
    seed : int, optional
        Seed of the random generator; the same seed gives bit-identical
        output.
    n_nuclei : int, optional
        Number of nuclei (labels 1..n_nuclei).
    size_spread : float, optional
        Relative spread of nucleus radii in [0, 1): radii are drawn uniformly
        from ``nucleus_radius * (1 +/- size_spread)``. 0 makes all nuclei the
        same volume (they still differ slightly in shape and orientation).
    shape : tuple of int, optional
        Spatial shape (Z, Y, X) in voxels.
    voxel_size : tuple of float, optional
        Voxel size (z, y, x) in micrometres.
    nucleus_radius : float, optional
        Mean nucleus radius in micrometres.

    Returns
    -------
    SampleImage
        ``image``: uint16, shape (4, Z, Y, X), ``channel_axis`` 0, channels
        :data:`NEUROPAL_CHANNEL_NAMES`; ``labels``: uint16 (Z, Y, X) with
        values 0..n_nuclei; ``foreground``: ``labels > 0``; ``scale``:
        ``voxel_size``; ``centres_um``: (n_nuclei, 3) true centres, (z, y, x)
        um; ``colours``: (n_nuclei, 3) colour mixes.

    Raises
    ------
    ValueError
        If an argument is out of range.
    RuntimeError
        If the nuclei do not fit into the head.
    """
    if len(shape) != 3 or len(voxel_size) != 3:
        raise ValueError("shape and voxel_size must have three entries (z, y, x)")
    _check_nuclei("n_nuclei", n_nuclei, size_spread, nucleus_radius)
    shape = tuple(int(n) for n in shape)
    voxel_size = tuple(float(d) for d in voxel_size)
    body_rng, nuclei_rng, colour_rng, noise_rng = _rngs(seed, 4)
    head = _worm_head(body_rng, shape, voxel_size)
    nucleus_shapes = _random_nucleus_shapes(nuclei_rng, n_nuclei, nucleus_radius, size_spread)
    centres = _place_nuclei(nuclei_rng, head, nucleus_shapes[1], shape, voxel_size)
    description = (f"Synthetic NeuroPAL-like C. elegans head (seed {seed}): {n_nuclei} nuclei "
                   f"(radius {nucleus_radius} um, spread +/-{size_spread:.0%})")
    return _neuropal_sample(head, centres, nucleus_shapes, shape, voxel_size, (body_rng, colour_rng, noise_rng),
                            neighbourhood=6.0, name="NeuroPAL-like head", description=description)


# ---------------------------------------------------------------------------
# NeuroPAL head: about 200 neurons packed in ganglia
# ---------------------------------------------------------------------------

#: Field of view (z, y, x) in micrometres of :func:`neuropal_head` when no shape is given:
#: 51 x 144 x 554 voxels of 0.75 x 0.3 x 0.3 um, as in a NeuroPAL recording of a head.
_HEAD_FIELD_UM = (38.25, 43.2, 166.2)
_HEAD_NOSE_X_UM = 3.0
_HEAD_TIP_RADIUS_UM = 5.0
_HEAD_BODY_RADIUS_UM = 18.0
# Cuticle, hypodermis and body-wall muscle: no neuron nucleus lies this close to the surface.
_HEAD_WALL_UM = 2.5
# Radius of the pharynx, then of the intestine, against the distance from the nose (um):
# procorpus, metacorpus (anterior bulb), isthmus, terminal bulb, intestine.
_HEAD_GUT_PROFILE_UM = np.array(
    [
        [0.0, 2.5],
        [8.0, 4.0],
        [26.0, 5.0],
        [30.0, 8.5],
        [44.0, 8.5],
        [48.0, 4.0],
        [84.0, 4.0],
        [89.0, 10.5],
        [108.0, 10.5],
        [114.0, 7.5],
        [400.0, 7.5],
    ]
)
# The nerve ring, a collar of neuropil without nuclei around the isthmus: centre and
# half-width along the body, um.
_HEAD_NERVE_RING_UM = (62.0, 3.5)


@dataclass(frozen=True)
class _Ganglion:
    """A cluster of neuron nuclei in the head, in the body frame of :meth:`_WormHead.from_body_frame`.

    ``centre`` and ``semi_axes`` are (along the body from the nose, dorsal,
    left) in micrometres; ``share`` is the fraction of the head's neurons in
    the cluster; ``in_pharynx`` puts them inside the pharynx instead of around
    it; ``packed`` packs them from the centre outwards, else they are
    scattered through the ellipsoid.
    """

    name: str
    share: float
    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    in_pharynx: bool = False
    packed: bool = True


# The head ganglia of an adult hermaphrodite at literature level (White et al. 1986, Phil. Trans.
# R. Soc. B 314:1; WormAtlas, "Nervous system: neuronal cell bodies"): the anterior ganglion around
# the back of the anterior bulb, the nerve ring behind it, then the dorsal, paired lateral and
# ventral ganglia around the isthmus, the pharyngeal neurons inside the two bulbs, the
# retrovesicular ganglion ventrally behind the terminal bulb and the start of the ventral cord.
_HEAD_GANGLIA = (
    _Ganglion("pharyngeal (anterior bulb)", 0.06, (37.0, 0.0, 0.0), (6.0, 6.0, 6.0), in_pharynx=True),
    _Ganglion("anterior", 0.18, (49.0, 0.0, 0.0), (11.0, 12.0, 12.0)),
    _Ganglion("dorsal", 0.05, (70.0, 10.0, 0.0), (4.0, 3.0, 6.0)),
    _Ganglion("left lateral", 0.19, (80.0, 1.0, 8.5), (14.0, 6.0, 4.5)),
    _Ganglion("right lateral", 0.19, (80.0, 1.0, -8.5), (14.0, 6.0, 4.5)),
    _Ganglion("ventral", 0.17, (75.0, -10.0, 0.0), (9.0, 4.0, 7.0)),
    _Ganglion("pharyngeal (terminal bulb)", 0.04, (98.0, 0.0, 0.0), (8.0, 7.0, 7.0), in_pharynx=True),
    _Ganglion("retrovesicular", 0.08, (118.0, -11.0, 0.0), (9.0, 3.0, 4.0)),
    _Ganglion("ventral cord", 0.04, (143.0, -12.0, 0.0), (16.0, 1.5, 2.0), packed=False),
)


def _neuropal_head_body(
    rng: np.random.Generator, shape: tuple[int, int, int], voxel_size: tuple[float, float, float]
) -> _WormHead:
    """A nearly straight adult head: nose near the left edge, full width by the nerve ring."""
    extent = [(n - 1) * d for n, d in zip(shape, voxel_size)]
    x = np.arange(_HEAD_NOSE_X_UM, extent[2] + 15.0, 0.1)
    wavelength = rng.uniform(150.0, 250.0)
    amplitude = rng.uniform(1.0, 2.5)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    y = extent[1] / 2 + amplitude * (np.sin(2 * np.pi * x / wavelength + phase) - np.sin(phase))
    centreline = np.column_stack([y, x])
    arc_from_nose = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(y), np.diff(x)))])
    widening = np.exp(-arc_from_nose / 25.0)
    radius = _HEAD_BODY_RADIUS_UM - (_HEAD_BODY_RADIUS_UM - _HEAD_TIP_RADIUS_UM) * widening
    return _WormHead(centreline=centreline, radius=radius, z_centre=extent[0] / 2)


def _ganglion_sizes(n_neurons: int) -> np.ndarray:
    """Neurons per ganglion of :data:`_HEAD_GANGLIA`, in proportion to their shares (largest remainder)."""
    quota = n_neurons * np.array([ganglion.share for ganglion in _HEAD_GANGLIA])
    sizes = np.floor(quota).astype(int)
    remainder_order = np.argsort(-(quota - sizes), kind="stable")
    sizes[remainder_order[: n_neurons - sizes.sum()]] += 1
    return sizes


def _pack_ganglia(
    rng: np.random.Generator,
    head: _WormHead,
    bounding_radii: np.ndarray,
    extent: np.ndarray,
) -> np.ndarray:
    """Centres (n, 3), (z, y, x) um, of neuron nuclei packed into their ganglia.

    The nuclei are shared among the ganglia by :func:`_ganglion_sizes`, in
    order. Each ganglion grows from its centre: each nucleus in turn, among
    random candidate positions in the ganglion's ellipsoid (widened when none
    fits), takes the one nearest the centre (in the ellipsoid's own metric)
    where it lies inside the image, inside the body clear of its wall, outside
    the pharynx and the intestine (inside the pharynx for pharyngeal neurons),
    out of the nerve ring, and where it is pressed into no nucleus placed
    before by more than a tenth of their radii. Each neuron's cytoplasm, of
    random thickness (exponential, mean 0.2 um, at most 1.2 um), keeps its
    neighbours that much further away, so that many but not all nuclei touch.
    """
    n_candidates = 1024
    squeeze = 0.9
    basement_membrane = 0.4  # between the pharynx (or the intestine) and the neurons, um
    cytoplasm = np.minimum(rng.exponential(0.2, len(bounding_radii)), 1.2)
    ring_centre, ring_half_width = _HEAD_NERVE_RING_UM
    arc = head.arc_length()
    ganglion_of = np.repeat(np.arange(len(_HEAD_GANGLIA)), _ganglion_sizes(len(bounding_radii)))
    centres = np.empty((len(bounding_radii), 3))
    for i, (ganglion_index, r) in enumerate(zip(ganglion_of, bounding_radii)):
        ganglion = _HEAD_GANGLIA[ganglion_index]
        centre, semi_axes = np.asarray(ganglion.centre), np.asarray(ganglion.semi_axes)
        for reach in (1.0, 1.3, 1.7, 2.2, 3.0):
            direction = rng.standard_normal((n_candidates, 3))
            direction /= np.linalg.norm(direction, axis=1, keepdims=True)
            rho = reach * rng.uniform(0.0, 1.0, n_candidates) ** (1.0 / 3.0)
            body_frame = centre + rho[:, None] * direction * semi_axes
            along, dorsal, left = body_frame.T
            from_axis = np.hypot(dorsal, left)
            gut_radius = np.interp(along, _HEAD_GUT_PROFILE_UM[:, 0], _HEAD_GUT_PROFILE_UM[:, 1])
            ok = from_axis <= np.interp(along, arc, head.radius) - _HEAD_WALL_UM - r
            if ganglion.in_pharynx:
                ok &= from_axis <= gut_radius - r - basement_membrane
            else:
                ok &= from_axis >= gut_radius + r + basement_membrane
                ok &= np.abs(along - ring_centre) >= ring_half_width + r
            candidates = head.from_body_frame(body_frame)
            ok &= np.all((candidates >= r) & (candidates <= extent - r), axis=1)
            if i:
                separation = np.linalg.norm(candidates[:, None, :] - centres[:i][None], axis=-1)
                closest = squeeze * (r + bounding_radii[:i]) + cytoplasm[i] + cytoplasm[:i]
                ok &= np.all(separation >= closest[None], axis=1)
            if ok.any():
                centres[i] = candidates[ok][np.argmin(rho[ok]) if ganglion.packed else 0]
                break
        else:
            raise RuntimeError(
                f"could not pack {len(bounding_radii)} neurons into the head: no room left for the "
                f"{ganglion.name} neurons; use fewer or smaller nuclei, or a larger field of view"
            )
    return centres


def _head_field(
    shape: tuple[int, int, int] | None, voxel_size: tuple[float, float, float]
) -> tuple[tuple[float, float, float], tuple[int, int, int], np.ndarray]:
    """The voxel size, the shape in voxels (None: :data:`_HEAD_FIELD_UM`) and its extent in um, checked.

    The field of view must hold the head's width in z and y.
    """
    if len(voxel_size) != 3 or min(voxel_size) <= 0:
        raise ValueError(f"voxel_size must be three positive sizes (z, y, x), got {voxel_size}")
    voxel_size = tuple(float(d) for d in voxel_size)
    if shape is None:
        shape = tuple(int(round(f / d)) for f, d in zip(_HEAD_FIELD_UM, voxel_size))
    if len(shape) != 3:
        raise ValueError(f"shape must have three entries (z, y, x), got {shape}")
    shape = tuple(int(n) for n in shape)
    extent = np.array([(n - 1) * d for n, d in zip(shape, voxel_size)])
    if min(extent[:2]) < 2 * _HEAD_BODY_RADIUS_UM:
        raise ValueError(
            f"the field of view, {extent[0]:.1f} x {extent[1]:.1f} um in z and y, is narrower than "
            f"the head ({2 * _HEAD_BODY_RADIUS_UM:.0f} um)"
        )
    return voxel_size, shape, extent


def neuropal_head(
    *,
    seed: int = 0,
    n_neurons: int = 200,
    shape: tuple[int, int, int] | None = None,
    voxel_size: tuple[float, float, float] = (0.75, 0.3, 0.3),
    nucleus_radius: float = 1.4,
    size_spread: float = 0.15,
) -> SampleImage:
    """Synthetic NeuroPAL recording of a whole *C. elegans* head, about 200 neurons.

    A realistic counterpart of :func:`neuropal_like`: an adult head lying on
    its side (x from the nose backwards, y dorsal to ventral, z left to right)
    in a field of view of about 38 x 43 x 166 um, with ``n_neurons`` neuron
    nuclei packed into ganglia the way they are in a real head. The body
    widens from the nose to a radius of 18 um; the pharynx (procorpus,
    anterior bulb, isthmus, terminal bulb) runs along its axis. Around it lie,
    from the front: the anterior ganglion, the nerve ring (neuropil, no
    nuclei), the dorsal, two lateral and the ventral ganglia, the
    retrovesicular ganglion behind the terminal bulb and the start of the
    ventral cord; a tenth of the neurons sit inside the two pharyngeal bulbs.
    The positions are procedural (ellipsoidal ganglia of literature-level
    size and place, packed from their centres); no atlas data are used.

    Inside a ganglion the nuclei are packed as densely as in a real head:
    nearest-neighbour centre distances are mostly 2.5-4 um and about half of
    the nuclei touch a neighbour, pressed flat against it (each voxel still
    carries one label). Every nucleus has its own mix of the three NeuroPAL colours,
    chosen to differ from the nuclei around it, and is bright in the
    pan-neuronal channel; body autofluorescence, PSF and camera noise are as
    in :func:`neuropal_like`.

    Parameters
    ----------
    seed : int, optional
        Seed of the random generator; the same seed gives bit-identical
        output.
    n_neurons : int, optional
        Number of neurons (labels 1..n_neurons), shared among the ganglia in
        fixed proportions. A real head holds about 190-200.
    shape : tuple of int or None, optional
        Spatial shape (Z, Y, X) in voxels. None: the field of view of about
        38 x 43 x 166 um at ``voxel_size``, (51, 144, 554) voxels by default.
    voxel_size : tuple of float, optional
        Voxel size (z, y, x) in micrometres.
    nucleus_radius : float, optional
        Mean nucleus radius in micrometres.
    size_spread : float, optional
        Relative spread of nucleus radii in [0, 1): radii are drawn uniformly
        from ``nucleus_radius * (1 +/- size_spread)``, 1.2-1.6 um by default.

    Returns
    -------
    SampleImage
        ``image``: uint16, shape (4, Z, Y, X), ``channel_axis`` 0, channels
        :data:`NEUROPAL_CHANNEL_NAMES`; ``labels``: uint16 (Z, Y, X) with
        values 0..n_neurons; ``foreground``: ``labels > 0``; ``scale``:
        ``voxel_size``; ``centres_um``: (n_neurons, 3) true centres, (z, y,
        x) um; ``colours``: (n_neurons, 3) colour mixes.

    Raises
    ------
    ValueError
        If an argument is out of range or the field of view is narrower than
        the head.
    RuntimeError
        If the neurons do not fit into the head.
    """
    _check_nuclei("n_neurons", n_neurons, size_spread, nucleus_radius)
    voxel_size, shape, extent = _head_field(shape, voxel_size)
    body_rng, nuclei_rng, colour_rng, noise_rng = _rngs(seed, 4)
    head = _neuropal_head_body(body_rng, shape, voxel_size)
    nucleus_shapes = _random_nucleus_shapes(nuclei_rng, n_neurons, nucleus_radius, size_spread)
    centres = _pack_ganglia(nuclei_rng, head, nucleus_shapes[1], extent)
    description = (f"Synthetic NeuroPAL recording of a C. elegans head (seed {seed}): {n_neurons} neuron nuclei "
                   "packed into the head ganglia around the pharynx and nerve ring, many touching "
                   f"(radius {nucleus_radius} um, spread +/-{size_spread:.0%}),")
    return _neuropal_sample(head, centres, nucleus_shapes, shape, voxel_size, (body_rng, colour_rng, noise_rng),
                            neighbourhood=4.5, name="NeuroPAL head", description=description)


# ---------------------------------------------------------------------------
# Bright-field worms in a well (BBBC010-like)
# ---------------------------------------------------------------------------

# Measured on channel 1 (bright field) of the BBBC010 wells (see the worms_2d docstring):
# the camera saturates at 12 bits, its offset plus stray light outside the well is about
# 115 counts, and the noise in the well (about 23 counts at 2000) fits 4 electrons per count.
_WORMS_CAMERA_MAX = 4095
_WORMS_CAMERA_OFFSET = 100.0
_WORMS_ELECTRONS_PER_COUNT = 4.0
_WORMS_READ_NOISE = 2.0


def _worm_centreline(
    rng: np.random.Generator, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Random smooth worm centreline (N, 2) in pixels, and its half-width per vertex."""
    length = rng.uniform(75.0, 105.0)
    n_vertices = int(np.ceil(length / 0.5)) + 1
    s, step = np.linspace(0.0, length, n_vertices, retstep=True)
    # Undulating body: the curvature follows a sine wave along the body.
    wavelength = rng.uniform(0.6, 1.2) * length
    curvature = rng.uniform(0.0, 0.05) * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi))
    heading = rng.uniform(0.0, 2 * np.pi) + np.cumsum(curvature) * step
    points = start + np.cumsum(step * np.column_stack([np.sin(heading), np.cos(heading)]), axis=0)
    # Thickest in the middle: a blunt head, a long pointed tail.
    u = s / length
    taper = np.minimum(np.clip(u / 0.1, 0.0, 1.0) ** 0.5, np.clip((1.0 - u) / 0.35, 0.0, 1.0))
    half_width = rng.uniform(5.0, 6.5) * (0.25 + 0.75 * taper)
    return points, half_width


def _well_mask(
    shape: tuple[int, int], centre: np.ndarray, half_axes: np.ndarray, exponent: float
) -> np.ndarray:
    """Boolean mask of a rounded square (a superellipse) well."""
    yy, xx = np.indices(shape, dtype=np.float64)
    dy = np.abs(yy - centre[0]) / half_axes[0]
    dx = np.abs(xx - centre[1]) / half_axes[1]
    return dy**exponent + dx**exponent <= 1.0


def _around_the_wall(rng: np.random.Generator, shape: tuple[int, int], centre: np.ndarray) -> np.ndarray:
    """A smooth random function of the angle around ``centre``, values in [0, 1]."""
    yy, xx = np.indices(shape, dtype=np.float64)
    angle = np.arctan2(yy - centre[0], xx - centre[1])
    harmonics = np.arange(1, 5)
    amplitudes = rng.standard_normal(harmonics.size) / harmonics
    phases = rng.uniform(0.0, 2 * np.pi, harmonics.size)
    wave = np.sum(
        amplitudes[:, None, None] * np.cos(harmonics[:, None, None] * angle + phases[:, None, None]), axis=0
    )
    return (wave - wave.min()) / (wave.max() - wave.min())


def _random_well(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The well: a rounded square, slightly off centre, nearly as tall as the image; its mask and centre."""
    half_axes = np.array([0.44, 0.44]) * min(shape) * rng.uniform(0.97, 1.03, 2)
    centre = np.array(shape) / 2 + rng.uniform(-0.03, 0.03, 2) * np.array(shape)
    return _well_mask(shape, centre, half_axes, exponent=rng.uniform(4.0, 5.0)), centre


def _place_worms(
    rng: np.random.Generator, n_worms: int, inside: np.ndarray, *, wall_margin: float = 4.0, gap: float = 3.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rejection sampling of non-touching worms inside the well (``inside``: distance in from the wall).

    Worms keep ``gap`` px apart and ``wall_margin`` px from the wall. Returns the labels (uint16), each
    worm pixel's distance from the axis over the local half-width, and that half-width over the worm's
    largest.
    """
    shape = inside.shape
    yy, xx = np.indices(shape, dtype=np.float64)
    labels = np.zeros(shape, dtype=np.uint16)
    relative_depth = np.zeros(shape)
    thickness = np.zeros(shape)
    for worm in range(1, n_worms + 1):
        for _ in range(400):
            start = np.array([rng.uniform(0, shape[0]), rng.uniform(0, shape[1])])
            centreline, half_width = _worm_centreline(rng, start)
            lo = np.floor(centreline.min(axis=0) - half_width.max() - gap).astype(int)
            hi = np.ceil(centreline.max(axis=0) + half_width.max() + gap).astype(int) + 1
            if np.any(lo < 0) or np.any(hi > shape):
                continue
            box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
            distance, index = _nearest_on_polyline(
                np.column_stack([yy[box].ravel(), xx[box].ravel()]), centreline
            )
            distance = distance.reshape(yy[box].shape)
            width = half_width[index].reshape(distance.shape)
            body = distance <= width
            if np.any(inside[box][body] < wall_margin) or np.any(labels[box][distance <= width + gap]):
                continue
            labels[box][body] = worm
            relative_depth[box][body] = distance[body] / width[body]
            thickness[box][body] = width[body] / half_width.max()
            break
        else:
            raise RuntimeError(f"could not fit {n_worms} worms into the well; use fewer worms")
    return labels, relative_depth, thickness


def _light_in_the_well(
    rng: np.random.Generator, well: np.ndarray, centre: np.ndarray, inside: np.ndarray
) -> np.ndarray:
    """Illumination vignetted from a bright spot near the centre, a little uneven, darkened by the meniscus rim."""
    shape = well.shape
    yy, xx = np.indices(shape, dtype=np.float64)
    well_radius = np.sqrt(well.sum() / np.pi)
    spot = centre + rng.uniform(-0.2, 0.2, 2) * well_radius
    rho2 = ((yy - spot[0]) ** 2 + (xx - spot[1]) ** 2) / well_radius**2
    floor, spread = rng.uniform(0.3, 0.4), rng.uniform(0.6, 0.7)
    falloff = floor + (1 - floor) * np.exp(-rho2 / (2 * spread**2))
    illumination = rng.uniform(2700.0, 2900.0) * falloff
    illumination *= 1.0 + 0.025 * _smooth_field(rng, shape, sigma=25.0)
    around = _around_the_wall(rng, shape, centre)
    rim_width = 2.0 + 2.5 * around
    rim_depth = 0.55 + 0.2 * (1 - around)
    transmission = np.where(well, 1.0 - rim_depth * np.exp(-np.maximum(inside, 0.0) / rim_width), 0.0)
    return illumination * transmission


def _surround(well: np.ndarray) -> np.ndarray:
    """The light outside the well: dark, with a faint glow just outside the wall."""
    outside = ndimage.distance_transform_edt(~well) - 0.5  # distance outside the wall
    return 15.0 + 120.0 * np.exp(-np.maximum(outside, 0.0) / 3.0)


def _worm_absorption(
    rng: np.random.Generator,
    labels: np.ndarray,
    worm_absorption: np.ndarray,
    relative_depth: np.ndarray,
    thickness: np.ndarray,
) -> np.ndarray:
    """The share of the light the worms absorb, about half, 0 off the worms.

    Most along their axis, where the body is thickest, less at the edge and at the thin ends;
    the gut is mottled.
    """
    path_length = np.sqrt(np.clip(1.0 - relative_depth**2, 0.0, 1.0))
    absorption = worm_absorption[np.maximum(labels, 1) - 1] * (0.35 + 0.65 * path_length) * (0.6 + 0.4 * thickness)
    absorption += 0.07 * _smooth_field(rng, labels.shape, sigma=1.2)
    return np.where(labels > 0, np.clip(absorption, 0.0, 0.95), 0.0)


def _halo(foreground: np.ndarray) -> np.ndarray:
    """A faint bright halo just outside the worms, as a factor on the light."""
    off_worm = ndimage.distance_transform_edt(~foreground)
    return 1.0 + 0.05 * np.exp(-(((off_worm - 3.0) / 1.5) ** 2)) * (off_worm > 0)


def _add_debris(rng: np.random.Generator, absorption: np.ndarray, foreground: np.ndarray, n_specks: int = 8) -> None:
    """Add a few small, faint dark specks off the worms to ``absorption``, in place."""
    shape = absorption.shape
    yy, xx = np.indices(shape, dtype=np.float64)
    speck_centres = np.column_stack(
        [rng.uniform(0, shape[0], n_specks), rng.uniform(0, shape[1], n_specks)]
    )
    speck_radii = rng.uniform(1.0, 2.5, n_specks)
    speck_depth = rng.uniform(0.1, 0.3, n_specks)
    for centre, radius, depth in zip(speck_centres, speck_radii, speck_depth):
        speck = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * radius**2))
        absorption += depth * speck * ~foreground


def worms_2d(*, seed: int = 0, n_worms: int = 5, shape: tuple[int, int] = (256, 320)) -> SampleImage:
    """Synthetic bright-field image of worms in a well (BBBC010-like).

    Modelled on channel 1 (transmitted light) of the BBBC010 *C. elegans*
    wells, 6.25 um pixels:

    * **Well.** A rounded square (a 384-well plate well) that nearly fills
      the image height, on a dark surround (about 115 counts: camera offset
      and stray light, with a faint glow just outside the wall).
    * **Vignetting.** The illumination is brightest near (not at) the well
      centre, about 2800 counts, and falls to about 60 % of that at the wall
      and 40-50 % in the corners.
    * **Dark rim.** Inside the wall a meniscus band a few pixels wide (its
      width and depth vary around the well) darkens the light to the level
      of the worms, about half the local background.
    * **Worms.** ``n_worms`` smoothly curved worms, length 75-115 px, width
      10-15 px with a blunt head and a pointed tail, covering about 7-10 %
      of the well. They transmit about half the local light (each worm a
      little more or less, the thin ends more), darkest along their axis
      where the body is thickest, with a mottled gut and a faint bright halo (a few % above the local
      background) within about 4 px of their outline. Worms do not touch
      each other and may lie as close as 4 px to the wall.
    * **Debris.** A few small, faint dark specks that are not worms.
    * **Camera.** A slight optical blur, Poisson shot noise at 4 electrons
      per count, read noise, an offset of 100 counts and 12-bit saturation.

    Parameters
    ----------
    seed : int, optional
        Seed of the random generator; the same seed gives bit-identical
        output.
    n_worms : int, optional
        Number of worms (labels 1..n_worms).
    shape : tuple of int, optional
        Image shape (Y, X) in pixels.

    Returns
    -------
    SampleImage
        ``image``: uint16 (Y, X), values 0..4095; ``labels``: uint16 (Y, X),
        0..n_worms; ``foreground``: ``labels > 0``; ``scale``: (6.25, 6.25)
        um; ``channel_axis`` None.

    Raises
    ------
    ValueError
        If an argument is out of range.
    RuntimeError
        If the worms do not fit into the well.
    """
    if not 1 <= n_worms <= _UINT16_MAX:
        raise ValueError(f"n_worms must be in 1..{_UINT16_MAX}, got {n_worms}")
    if len(shape) != 2 or min(shape) < 64:
        raise ValueError(f"shape must be (Y, X) with both at least 64, got {shape}")
    shape = (int(shape[0]), int(shape[1]))
    well_rng, worm_rng, noise_rng, debris_rng = _rngs(seed, 4)
    well, well_centre = _random_well(well_rng, shape)
    inside = ndimage.distance_transform_edt(well) - 0.5  # distance inside the wall, pixels
    worm_absorption = worm_rng.uniform(0.55, 0.7, n_worms)
    labels, relative_depth, thickness = _place_worms(worm_rng, n_worms, inside)
    foreground = labels > 0
    light_in_well = _light_in_the_well(well_rng, well, well_centre, inside)
    absorption = _worm_absorption(worm_rng, labels, worm_absorption, relative_depth, thickness)
    _add_debris(debris_rng, absorption, foreground)
    light = light_in_well * _halo(foreground) * (1.0 - absorption)
    counts = ndimage.gaussian_filter(np.where(well, light, _surround(well)), 0.8)
    image = _camera(noise_rng, counts, offset=_WORMS_CAMERA_OFFSET, read_noise=_WORMS_READ_NOISE,
                    gain=_WORMS_ELECTRONS_PER_COUNT)
    return SampleImage(
        image=np.minimum(image, _WORMS_CAMERA_MAX), labels=labels, foreground=foreground, channel_axis=None,
        scale=(_WORMS_PIXEL_SIZE_UM, _WORMS_PIXEL_SIZE_UM), channel_names=("bright-field",), name="worms 2-D",
        description=(
            f"Synthetic bright-field image (seed {seed}) of {n_worms} worms in a well, BBBC010-like: "
            "a rounded-square well, vignetted (bright centre, about half as bright at the wall), a dark "
            "meniscus rim inside the wall as dark as the worms, a dark surround; worms about half as "
            "bright as their local background, darkest along their axis, with a faint bright halo, a few "
            f"specks of debris, camera noise. Axes YX, pixel size {_WORMS_PIXEL_SIZE_UM} um."
        ),
    )


# ---------------------------------------------------------------------------
# napari sample-data contributions (plain layer-data tuples, no napari import)
# ---------------------------------------------------------------------------


def _neuropal_layers(sample: SampleImage) -> list[tuple]:
    """Layer-data tuples of a NeuroPAL sample: its four channels and its ground-truth labels."""
    image_meta = {
        "name": [f"{sample.name} {channel}" for channel in sample.channel_names],
        "channel_axis": sample.channel_axis,
        "scale": sample.scale,
        "colormap": list(_NEUROPAL_COLORMAPS),
        "blending": "additive",
        "visible": [True, True, True, False],
    }
    labels_meta = {"name": f"{sample.name} ground truth", "scale": sample.scale}
    return [(sample.image, image_meta, "image"), (sample.labels, labels_meta, "labels")]


def neuropal_like_sample() -> list[tuple]:
    """napari sample: the default :func:`neuropal_like` image and its labels.

    Returns
    -------
    list of tuple
        Layer-data tuples: one image layer per channel (split along
        ``channel_axis`` 0, additive blending, pan-neuronal channel hidden)
        and a labels layer with the ground-truth nuclei.
    """
    return _neuropal_layers(neuropal_like())


def neuropal_head_sample() -> list[tuple]:
    """napari sample: the default :func:`neuropal_head`, its labels and its neurons' centres.

    The head is generated on demand (a few seconds).

    Returns
    -------
    list of tuple
        Layer-data tuples: one image layer per channel (split along
        ``channel_axis`` 0, additive blending, pan-neuronal channel hidden),
        a labels layer with the ground-truth nuclei and a points layer with
        the true centres (in voxels, shown at the voxel size; the feature
        ``label`` names each centre's label).
    """
    sample = neuropal_head()
    points_meta = {
        "name": f"{sample.name} true centres",
        "scale": sample.scale,
        "features": {"label": np.arange(1, len(sample.centres_um) + 1)},
        "size": 3.0,
        "face_color": "yellow",
    }
    centres_in_voxels = sample.centres_um / np.asarray(sample.scale)
    return [*_neuropal_layers(sample), (centres_in_voxels, points_meta, "points")]


def worms_2d_sample() -> list[tuple]:
    """napari sample: the default :func:`worms_2d` image and its foreground.

    Returns
    -------
    list of tuple
        Layer-data tuples: a grey image layer and a labels layer holding the
        worm foreground (1 = worm).
    """
    sample = worms_2d()
    image_meta = {"name": sample.name, "scale": sample.scale, "colormap": "gray"}
    labels_meta = {"name": f"{sample.name} foreground", "scale": sample.scale}
    return [
        (sample.image, image_meta, "image"),
        (sample.foreground.astype(np.uint8), labels_meta, "labels"),
    ]
