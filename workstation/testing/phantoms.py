"""Deterministic anatomical phantoms in real units, for the demo, screenshots and module tests.

:func:`torso_ct` gives Hounsfield units that look plausible at soft-tissue, lung and bone windows;
:func:`cine_short_axis_mr` a beating heart in short-axis cine MR intensities, with its label map
(:func:`cine_short_axis_labels`, ACDC convention) for checking cardiac modules. Both are
vectorised (a 120 × 256² torso takes well under a second) and seeded, so every call returns the
same voxels.

Axes follow DESIGN.md: arrays are ``[k, j, i]`` with i along the patient's left (+x), j towards
the back (+y) and k towards the head (+z), the layout of an axial LPS series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Window = tuple[slice, slice, slice]

AIR_HU = -1000
FAT_HU = -100
MUSCLE_HU = 40
LUNG_HU = -850
VESSEL_HU = 40
LIVER_HU = 60
LESION_HU = 15
KIDNEY_CORTEX_HU = 160
KIDNEY_MEDULLA_HU = 35
AORTA_HU = 250
IVC_HU = 120
HEART_MUSCLE_HU = 45
HEART_BLOOD_HU = 200
CORTICAL_BONE_HU = 700
CANCELLOUS_BONE_HU = 250
DISC_HU = 90
RIB_HU = 550
CSF_HU = 15
WATER_HU = 5

#: ACDC labels of :func:`cine_short_axis_labels`.
BACKGROUND, RIGHT_VENTRICLE, MYOCARDIUM, LEFT_VENTRICLE = 0, 1, 2, 3


Vector = tuple[float, float, float]
Range = tuple[float, float]


class _Canvas:
    """A float HU volume with its voxel centres in mm, painted one structure after another.

    x runs along columns and y along rows (both centred on the image), z along slices from 0.
    Every shape is given as ``(z, y, x)`` centre and semi-axes in mm; painting touches only the
    shape's bounding box, which keeps a full torso well under a second.
    """

    def __init__(self, shape: tuple[int, int, int], spacing: Vector, fill: float) -> None:
        n_k, n_j, n_i = shape
        s_k, s_j, s_i = spacing
        self.volume = np.full(shape, fill, dtype=np.float32)
        self.z = np.arange(n_k, dtype=np.float64) * s_k
        self.y = (np.arange(n_j, dtype=np.float64) - (n_j - 1) / 2) * s_j
        self.x = (np.arange(n_i, dtype=np.float64) - (n_i - 1) / 2) * s_i

    def window(self, centre: Vector, semi: Vector) -> Window:
        """Index ranges of the box ``centre ± semi``, clipped to the grid."""
        z, y, x = (
            slice(
                int(np.searchsorted(axis, c - r, side="left")),
                int(np.searchsorted(axis, c + r, side="right")),
            )
            for axis, c, r in zip((self.z, self.y, self.x), centre, semi, strict=True)
        )
        return z, y, x

    def ellipsoid(
        self, centre: Vector, semi: Vector, value: float, replace: Range | None = None
    ) -> None:
        """Set the ellipsoid to ``value``; with ``replace``, only voxels within that HU range."""
        window = self.window(centre, semi)
        z, y, x = (
            ((axis[part] - c) / r) ** 2
            for axis, part, c, r in zip((self.z, self.y, self.x), window, centre, semi, strict=True)
        )
        inside = z[:, None, None] + y[None, :, None] + x[None, None, :] <= 1.0
        block = self.volume[window]
        if replace is not None:
            inside &= (block >= replace[0]) & (block <= replace[1])
        block[inside] = value

    def tube(
        self, start: FloatArray, end: FloatArray, radius: float, value: float, replace: Range
    ) -> None:
        """A straight vessel as overlapping spheres from ``start`` to ``end``."""
        length = float(np.linalg.norm(end - start))
        steps = max(2, math.ceil(length / (0.6 * radius)))
        for fraction in np.linspace(0.0, 1.0, steps):
            point = start + fraction * (end - start)
            centre = (float(point[0]), float(point[1]), float(point[2]))
            self.ellipsoid(centre, (radius, radius, radius), value, replace)


def torso_ct(
    shape: tuple[int, int, int] = (120, 256, 256),
    spacing: Vector = (1.5, 1.4, 1.4),
    seed: int = 7,
) -> npt.NDArray[np.int16]:
    """A chest and upper abdomen CT in Hounsfield units, ``[k, j, i]`` int16.

    Parameters
    ----------
    shape:
        ``(slices, rows, columns)``; k = 0 is the most inferior slice.
    spacing:
        Voxel size in mm in the same ``(slice, row, column)`` order.
    seed:
        Seed of the vessel tree and the noise.

    Returns
    -------
    numpy.ndarray
        Air (−1000) around an elliptical body: subcutaneous fat, muscle, lungs with vessels in
        the upper half, heart with contrast, liver with two hypodense lesions, stomach with an
        air pocket, kidneys, aorta and IVC with contrast, vertebrae (cortical shell, cancellous
        core, discs, spinal canal) and ribs, plus Gaussian noise (σ 8 HU). Organ sizes scale
        with the field of view, so small test grids still hold every structure.
    """
    canvas = _Canvas(shape, spacing, AIR_HU)
    rng = np.random.default_rng(seed)
    top = float(canvas.z[-1]) if shape[0] > 1 else 1.0
    a = min(165.0, 0.9 * (float(canvas.x[-1]) + spacing[2] / 2))  # body semi-axis, left-right
    b = min(0.68 * a, 0.9 * (float(canvas.y[-1]) + spacing[1] / 2))  # front-back
    tall = 10.0 * top + 10.0  # a semi-axis that turns an ellipsoid into a cylinder along z
    middle = 0.5 * top

    canvas.ellipsoid((middle, 0.0, 0.0), (tall, b, a), FAT_HU)
    wall = min(14.0, 0.1 * a)
    canvas.ellipsoid((middle, 0.0, 0.0), (tall, b - wall, a - wall), MUSCLE_HU)

    # Lungs in the upper half; the vessel tree is painted only into lung.
    lung_semi = (0.34 * top, 0.62 * b, 0.3 * a)
    for side in (-1.0, 1.0):
        lung_centre = (0.86 * top, -0.05 * b, side * 0.42 * a)
        canvas.ellipsoid(lung_centre, lung_semi, LUNG_HU)
        _vessel_tree(canvas, rng, np.array(lung_centre), np.array(lung_semi))

    heart = (0.66 * top, -0.28 * b, 0.1 * a)
    canvas.ellipsoid(heart, (0.13 * top, 0.32 * b, 0.26 * a), HEART_MUSCLE_HU)
    canvas.ellipsoid(heart, (0.09 * top, 0.2 * b, 0.16 * a), HEART_BLOOD_HU)

    # Liver on the patient's right (−x), its dome pushing up into the right lung base.
    liver = (LIVER_HU - 40.0, LIVER_HU + 40.0)
    canvas.ellipsoid((0.4 * top, -0.02 * b, -0.33 * a), (0.2 * top, 0.62 * b, 0.42 * a), LIVER_HU)
    canvas.ellipsoid((0.42 * top, -0.2 * b, -0.45 * a), (0.08 * a,) * 3, LESION_HU, liver)
    canvas.ellipsoid((0.33 * top, 0.15 * b, -0.25 * a), (0.05 * a,) * 3, LESION_HU, liver)

    # Stomach under the left diaphragm: fluid with an air pocket in front (patient supine).
    stomach = (0.45 * top, -0.25 * b, 0.38 * a)
    canvas.ellipsoid(stomach, (0.08 * top, 0.3 * b, 0.22 * a), MUSCLE_HU)
    canvas.ellipsoid(stomach, (0.065 * top, 0.25 * b, 0.18 * a), WATER_HU)
    canvas.ellipsoid(
        (stomach[0], -0.42 * b, 0.38 * a),
        (0.05 * top, 0.1 * b, 0.14 * a),
        AIR_HU,
        (WATER_HU - 30.0, WATER_HU + 30.0),
    )

    for side in (-1.0, 1.0):
        kidney = (0.17 * top, 0.42 * b, side * 0.36 * a)
        canvas.ellipsoid(kidney, (0.12 * top, 0.22 * b, 0.13 * a), KIDNEY_CORTEX_HU)
        canvas.ellipsoid(kidney, (0.07 * top, 0.12 * b, 0.06 * a), KIDNEY_MEDULLA_HU)

    spine_y = 0.3 * b
    radius = min(18.0, 0.11 * a)  # of a vertebral body
    aorta = (middle, spine_y - 0.55 * radius - 0.2 * b, 0.1 * a)
    canvas.ellipsoid(aorta, (tall, 0.5 * radius, 0.5 * radius), AORTA_HU)
    ivc = (0.35 * top, spine_y - 0.5 * radius - 0.22 * b, -0.16 * a)
    canvas.ellipsoid(ivc, (0.35 * top, 0.45 * radius, 0.5 * radius), IVC_HU)
    _spine(canvas, spine_y, radius, cortex=max(2.0, 1.5 * spacing[2]))
    _ribs(canvas, a, b, wall)

    volume = canvas.volume
    volume += rng.standard_normal(shape, dtype=np.float32) * 8.0
    return np.clip(np.rint(volume), -1024, 3071).astype(np.int16)


def _vessel_tree(
    canvas: _Canvas, rng: np.random.Generator, centre: FloatArray, semi: FloatArray
) -> None:
    """Pulmonary vessels branching from the hilum (medial side of the lung) towards the edge."""
    hilum = centre + np.array([-0.1, 0.1, 0.0]) * semi
    hilum[2] -= 0.7 * semi[2] * np.sign(centre[2])
    lung = (LUNG_HU - 100.0, LUNG_HU + 100.0)
    stack: list[tuple[FloatArray, FloatArray, float, int]] = []
    for _ in range(5):
        direction = rng.normal(size=3) * np.array([0.8, 0.4, 0.3])
        direction[2] = abs(direction[2]) * np.sign(centre[2]) + 0.3 * np.sign(centre[2])
        stack.append((hilum, direction / np.linalg.norm(direction), max(1.2, 0.08 * semi[2]), 0))
    while stack:
        start, direction, radius, depth = stack.pop()
        length = 0.45 * float(np.min(semi)) * (0.8**depth)
        end = start + direction * length * semi / np.min(semi)
        canvas.tube(start, end, radius, VESSEL_HU, lung)
        if depth < 3:
            for _ in range(2):
                turn = direction + rng.normal(scale=0.5, size=3)
                stack.append((end, turn / np.linalg.norm(turn), max(0.8, 0.7 * radius), depth + 1))


def _spine(canvas: _Canvas, spine_y: float, radius: float, *, cortex: float) -> None:
    """Vertebral bodies (cortical shell, cancellous core), discs, canal and spinous process."""
    tall = 10.0 * float(canvas.z[-1]) + 10.0
    middle = 0.5 * float(canvas.z[-1])
    body = (middle, spine_y, 0.0)
    canvas.ellipsoid(body, (tall, radius, 1.1 * radius), CORTICAL_BONE_HU)
    canvas.ellipsoid(body, (tall, radius - cortex, 1.1 * radius - cortex), CANCELLOUS_BONE_HU)
    canal = (middle, spine_y + 1.55 * radius, 0.0)
    canvas.ellipsoid(canal, (tall, 0.75 * radius, 0.8 * radius), CORTICAL_BONE_HU)
    canvas.ellipsoid(canal, (tall, 0.45 * radius, 0.5 * radius), CSF_HU)
    process = (middle, spine_y + 2.65 * radius, 0.0)
    canvas.ellipsoid(process, (tall, 0.5 * radius, 0.2 * radius), CORTICAL_BONE_HU)
    # Discs: every ~28 mm a 6 mm slab of the vertebral body turns to disc tissue.
    for k in np.flatnonzero((canvas.z % 28.0) < 6.0):
        z = float(canvas.z[k])
        canvas.ellipsoid((z, spine_y, 0.0), (1e-3, radius, 1.1 * radius), DISC_HU)


def _ribs(canvas: _Canvas, a: float, b: float, wall: float) -> None:
    """Ribs in the thorax: bands inside the body wall that slope down towards the front."""
    x = canvas.x[None, :]
    y = canvas.y[:, None]
    outer = (x / (a - 0.35 * wall)) ** 2 + (y / (b - 0.35 * wall)) ** 2 <= 1.0
    inner = (x / (a - 0.85 * wall)) ** 2 + (y / (b - 0.85 * wall)) ** 2 <= 1.0
    # No ribs over the sternum gap in front, nor over the spine behind.
    sides = (np.abs(x) > 0.18 * a) | ((y < 0) & (np.abs(x) > 0.08 * a))
    sides &= ~((y > 0.4 * b) & (np.abs(x) < 0.22 * a))
    ring = outer & ~inner & sides
    slope = 40.0 * (y / b)  # anterior ribs lie lower than their posterior ends
    z = canvas.z[:, None, None]
    band = ((z + slope[None]) % 26.0) < 9.0
    thorax = z > 0.5 * float(canvas.z[-1])
    canvas.volume[band & ring[None] & thorax] = RIB_HU


@dataclass(frozen=True)
class _Heart:
    """Short-axis heart geometry per phase and slice (mm)."""

    lv_inner: FloatArray  # [t, k] endocardial radius
    lv_outer: FloatArray  # [t, k] epicardial radius
    rv_scale: FloatArray  # [t, k] RV semi-axis factor


def _contraction(n_phases: int) -> FloatArray:
    """0 at end-diastole (t = 0), 1 at end-systole (35 % of the cycle), smooth in between."""
    phase = np.arange(n_phases) / max(n_phases, 1)
    systole = 0.5 * (1 - np.cos(np.pi * phase / 0.35))
    diastole = 0.5 * (1 + np.cos(np.pi * (phase - 0.35) / 0.65))
    return np.where(phase < 0.35, systole, diastole)


def _heart(n_slices: int, n_phases: int) -> _Heart:
    contraction = _contraction(n_phases)[:, None]
    # Base (k = 0) to apex: the ventricle narrows towards the last slice.
    depth = (np.arange(n_slices) + 0.5) / n_slices
    taper = np.sqrt(np.clip(1.0 - 0.85 * depth**2, 0.05, 1.0))[None, :]
    inner_ed, wall_ed = 26.0, 9.0
    # The myocardium keeps its volume: it thickens as the cavity shrinks.
    muscle_area = (inner_ed + wall_ed) ** 2 - inner_ed**2
    inner = inner_ed * taper * (1.0 - 0.38 * contraction)
    outer = np.sqrt(inner**2 + muscle_area * taper**2)
    rv = taper * (1.0 - 0.25 * contraction) * (depth[None, :] < 0.85)
    return _Heart(lv_inner=inner, lv_outer=outer, rv_scale=rv)


def _cine_plane(
    matrix: tuple[int, int], spacing: tuple[float, float, float]
) -> tuple[FloatArray, FloatArray]:
    """In-plane coordinates in mm (x across columns, y down rows), centred on the image."""
    rows, columns = matrix
    y = (np.arange(rows, dtype=np.float64) - (rows - 1) / 2)[:, None] * spacing[1]
    x = (np.arange(columns, dtype=np.float64) - (columns - 1) / 2)[None, :] * spacing[2]
    return x, y


def cine_short_axis_labels(
    n_slices: int = 10,
    n_phases: int = 20,
    matrix: tuple[int, int] = (128, 128),
    spacing: tuple[float, float, float] = (8.0, 2.6, 2.6),
) -> npt.NDArray[np.uint8]:
    """Label map ``[t, k, j, i]`` of :func:`cine_short_axis_mr` (ACDC: 1 RV, 2 myocardium, 3 LV).

    Parameters are those of :func:`cine_short_axis_mr`.
    """
    heart = _heart(n_slices, n_phases)
    x, y = _cine_plane(matrix, spacing)
    lv_x, lv_y = x - 12.0, y - 6.0  # the heart sits a little left and behind the image centre
    lv = np.sqrt(lv_x**2 + (lv_y / 0.92) ** 2)
    inner = heart.lv_inner[:, :, None, None]
    outer = heart.lv_outer[:, :, None, None]
    labels = np.zeros((n_phases, n_slices, *matrix), dtype=np.uint8)
    # RV: an ellipse on the septal side (image left) with the LV epicardium (+2 mm) cut out.
    scale = heart.rv_scale[:, :, None, None]
    rv_semi_x, rv_semi_y = 30.0 * scale + 1e-6, 48.0 * scale + 1e-6
    rv = ((lv_x + 38.0) / rv_semi_x) ** 2 + ((lv_y + 4.0) / rv_semi_y) ** 2 <= 1.0
    labels[rv & (lv > outer + 2.0)] = RIGHT_VENTRICLE
    labels[lv <= outer] = MYOCARDIUM
    labels[lv <= inner] = LEFT_VENTRICLE
    return labels


def cine_short_axis_mr(
    n_slices: int = 10,
    n_phases: int = 20,
    matrix: tuple[int, int] = (128, 128),
    spacing: tuple[float, float, float] = (8.0, 2.6, 2.6),
    seed: int = 11,
) -> npt.NDArray[np.uint16]:
    """A balanced-SSFP short-axis cine of a beating left and right ventricle, ``[t, k, j, i]``.

    Parameters
    ----------
    n_slices:
        Short-axis slices from base (k = 0) to apex.
    n_phases:
        Phases over one R-R interval; phase 0 is end-diastole, end-systole falls at 35 %.
    matrix:
        ``(rows, columns)``.
    spacing:
        ``(slice, row, column)`` spacing in mm.
    seed:
        Seed of the noise.

    Returns
    -------
    numpy.ndarray
        uint16 intensities: bright blood (~900) in the LV and RV, dark myocardium (~170) whose
        ring thickens as the cavity shrinks in systole, soft tissue (~300), bright fat rim
        (~650), dark lungs (~40) and air (~0), with Rician-like noise.
    """
    labels = cine_short_axis_labels(n_slices, n_phases, matrix, spacing)
    x, y = _cine_plane(matrix, spacing)
    # The chest fills most of the field of view whatever its size; the heart keeps its size.
    a = min(150.0, 0.46 * matrix[1] * spacing[2])
    b = min(105.0, 0.42 * matrix[0] * spacing[1])
    body = (x / a) ** 2 + (y / b) ** 2
    background = np.where(body <= 1.0, 300.0, 0.0)
    background = np.where((body > 0.82) & (body <= 1.0), 650.0, background)
    lungs = ((np.abs(x) - 0.62 * a) / (0.24 * a)) ** 2 + ((y - 0.1 * b) / (0.55 * b)) ** 2 <= 1.0
    background = np.where(lungs, 40.0, background)
    image = np.broadcast_to(background, labels.shape).astype(np.float32)
    image = np.where(labels == MYOCARDIUM, 170.0, image)
    image = np.where((labels == LEFT_VENTRICLE) | (labels == RIGHT_VENTRICLE), 900.0, image)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((2, *labels.shape), dtype=np.float32) * 18.0
    magnitude = np.sqrt((image + noise[0]) ** 2 + noise[1] ** 2)
    intensities: npt.NDArray[np.uint16] = np.clip(np.rint(magnitude), 0, 4095).astype(np.uint16)
    return intensities
