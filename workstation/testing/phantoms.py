"""Deterministic anatomical phantoms in real units, for the demo, screenshots and module tests.

:func:`torso_ct` is a portal-venous chest and upper abdomen CT in Hounsfield units that reads
plausibly at soft-tissue, lung and bone windows, in axial, coronal and sagittal planes;
:func:`cine_short_axis_mr` a beating heart in short-axis balanced-SSFP intensities, with its
label map (:func:`cine_short_axis_labels`, ACDC convention) for checking cardiac modules. Both
are vectorised numpy and seeded, so every call returns the same voxels.

Axes follow DESIGN.md: arrays are ``[k, j, i]`` with i along the patient's left (+x), j towards
the back (+y) and k towards the head (+z), the layout of an axial LPS series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Window = tuple[slice, slice, slice]
Vector = tuple[float, float, float]
Range = tuple[float, float]
#: A value along z: constant, or piecewise linear through ``((z, value), ...)`` knots.
Profile = float | Sequence[tuple[float, float]]
#: A point or direction ``(z, y, x)``, and several.
Point = Sequence[float] | FloatArray
Points = Sequence[Point] | FloatArray
#: HU range(s) a shape may paint over.
Replace = Range | Sequence[Range]

# Typical portal-venous phase attenuation (HU). Values painted by the phantom are exact until
# the noise goes on, which lets later structures replace only chosen tissues.
AIR_HU = -1000
FAT_HU = -100  # subcutaneous
VISCERAL_FAT_HU = -90  # mediastinal, mesenteric and retroperitoneal fat
MUSCLE_HU = 40
LUNG_HU = -850
VESSEL_HU = 90  # pulmonary vessels (partial volume keeps the thin ones lower)
LIVER_HU = 60
LESION_HU = 15
SPLEEN_HU = 50
PANCREAS_HU = 45
KIDNEY_CORTEX_HU = 150
KIDNEY_MEDULLA_HU = 90
RENAL_SINUS_HU = -60
URINE_HU = 5
AORTA_HU = 170
PORTAL_VEIN_HU = 180
HEPATIC_VEIN_HU = 150
IVC_HU = 130
HEART_MUSCLE_HU = 45
HEART_BLOOD_HU = 180
PERICARDIUM_HU = 25
BOWEL_WALL_HU = 75
FLUID_HU = 12
STOOL_HU = -40
BILE_HU = 8
CORTICAL_BONE_HU = 700
CANCELLOUS_BONE_HU = 250
DISC_HU = 90
CARTILAGE_HU = 110
CALCIUM_HU = 650
CSF_HU = 10
CORD_HU = 35
WATER_HU = 5

#: ACDC labels of :func:`cine_short_axis_labels`.
BACKGROUND, RIGHT_VENTRICLE, MYOCARDIUM, LEFT_VENTRICLE = 0, 1, 2, 3

# The anatomy is laid out in a reference frame in mm: x from the patient's right (−) to left,
# y from front (−) to back, both centred on the image, and z from 0 (about L3) to HEIGHT (about
# T8). Any grid is mapped onto it: the slices always span HEIGHT, and the in-plane size is real
# unless the field of view is too small for the body, in which case everything shrinks to fit.
HEIGHT = 180.0
_HALF_WIDTH = 178.0  # field of view half-width (mm) that holds the body at its real size
_HALF_DEPTH = 128.0


def _profile(z: Float32Array, profile: Profile) -> Float32Array:
    if isinstance(profile, float | int):
        return np.full(z.shape, profile, dtype=np.float32)
    knots_z, knots_v = zip(*profile, strict=True)
    result: Float32Array = np.interp(z, knots_z, knots_v).astype(np.float32)
    return result


def _at(z: float, profile: Profile) -> float:
    return float(_profile(np.array([z], dtype=np.float32), profile)[0])


def _ranges(replace: Replace) -> list[Range]:
    if isinstance(replace[0], float | int):
        low, high = replace
        return [(float(low), float(high))]  # type: ignore[arg-type]
    return [(float(r[0]), float(r[1])) for r in replace]  # type: ignore[index]


def _unit(v: Point) -> FloatArray:
    array = np.asarray(v, dtype=np.float64)
    return array / float(np.linalg.norm(array))


class _Canvas:
    """A float32 HU volume over the reference frame, painted one structure after another.

    Every shape is given as ``(z, y, x)`` in reference mm and painted only inside its bounding
    box; the implicit functions (quadrics, capsules) are built from separable 1-D and 2-D terms,
    so a 3-D block costs a couple of additions.
    """

    def __init__(self, shape: tuple[int, int, int], spacing: Vector) -> None:
        n_k, n_j, n_i = shape
        _, s_j, s_i = spacing
        self.scale = min(1.0, n_i * s_i / 2 / _HALF_WIDTH, n_j * s_j / 2 / _HALF_DEPTH)
        self.volume = np.full(shape, AIR_HU, dtype=np.float32)
        self.z = ((np.arange(n_k) + 0.5) * (HEIGHT / n_k)).astype(np.float32)
        self.y = ((np.arange(n_j) - (n_j - 1) / 2) * (s_j / self.scale)).astype(np.float32)
        self.x = ((np.arange(n_i) - (n_i - 1) / 2) * (s_i / self.scale)).astype(np.float32)
        #: Voxel size in reference mm, ``(z, y, x)``.
        self.voxel = (HEIGHT / n_k, s_j / self.scale, s_i / self.scale)

    # --- boxes ----------------------------------------------------------------------------

    def window(self, lo: Point, hi: Point) -> Window | None:
        """Index ranges of the box ``lo..hi`` clipped to the grid; None when empty."""
        parts = []
        for axis, low, high in zip((self.z, self.y, self.x), lo, hi, strict=True):
            start = int(np.searchsorted(axis, low, side="left"))
            stop = int(np.searchsorted(axis, high, side="right"))
            if stop <= start:
                return None
            parts.append(slice(start, stop))
        return parts[0], parts[1], parts[2]

    def coords(self, window: Window) -> tuple[Float32Array, Float32Array, Float32Array]:
        return self.z[window[0]], self.y[window[1]], self.x[window[2]]

    def paint(
        self,
        window: Window,
        inside: BoolArray,
        value: float | Float32Array,
        replace: Replace | None = None,
    ) -> None:
        """Set ``value`` where ``inside`` (broadcast over the block), optionally only over the
        voxels whose current value lies in (one of) ``replace``."""
        block = self.volume[window]
        mask = np.broadcast_to(inside, block.shape)
        if replace is not None:
            allowed = np.zeros(block.shape, dtype=bool)
            for low, high in _ranges(replace):
                allowed |= (block >= low) & (block <= high)
            mask = mask & allowed
        if isinstance(value, np.ndarray):
            block[mask] = np.broadcast_to(value, block.shape)[mask]
        else:
            block[mask] = value

    def box(self, lo: Point, hi: Point, value: float, replace: Range) -> None:
        window = self.window(lo, hi)
        if window is not None:
            self.paint(window, np.ones((1, 1, 1), dtype=bool), value, replace)

    # --- implicit shapes --------------------------------------------------------------------

    def quadric(self, window: Window, centre: Point, m: FloatArray) -> Float32Array:
        """``(p − c)ᵀ M (p − c)`` over the block, M symmetric in ``(z, y, x)`` order."""
        z, y, x = self.coords(window)
        z = z - np.float32(centre[0])
        y = y - np.float32(centre[1])
        x = x - np.float32(centre[2])
        m32 = m.astype(np.float32)
        zy = m32[0, 0] * z[:, None] ** 2 + 2 * m32[0, 1] * z[:, None] * y[None, :]
        zx = 2 * m32[0, 2] * z[:, None] * x[None, :]
        yx = m32[1, 1] * y[:, None] ** 2 + 2 * m32[1, 2] * y[:, None] * x[None, :]
        yx = yx + m32[2, 2] * x[None, :] ** 2
        result: Float32Array = (zy[:, :, None] + zx[:, None, :]) + yx[None, :, :]
        return result

    def linear(self, window: Window, centre: Point, u: Point) -> Float32Array:
        """``(p − c) · u`` over the block."""
        z, y, x = self.coords(window)
        zy = (z - np.float32(centre[0]))[:, None] * np.float32(u[0]) + (y - np.float32(centre[1]))[
            None, :
        ] * np.float32(u[1])
        result: Float32Array = (
            zy[:, :, None] + ((x - np.float32(centre[2])) * np.float32(u[2]))[None, None, :]
        )
        return result

    def ellipsoid(
        self,
        centre: Point,
        semi: Point,
        value: float,
        replace: Replace | None = None,
        axes: FloatArray | None = None,
        *,
        within: BoolArray | None = None,
    ) -> None:
        """An ellipsoid with semi-axes ``semi`` along the rows of ``axes`` (default z, y, x).

        ``within`` is a full-volume mask the shape is intersected with.
        """
        rotation = np.eye(3) if axes is None else np.asarray(axes, dtype=np.float64)
        semi_array = np.asarray(semi, dtype=np.float64)
        reach = np.sqrt(((rotation * semi_array[:, None]) ** 2).sum(axis=0))
        window = self.window(np.asarray(centre) - reach, np.asarray(centre) + reach)
        if window is None:
            return
        m = rotation.T @ np.diag(1.0 / semi_array**2) @ rotation
        inside = self.quadric(window, centre, m) <= 1.0
        if within is not None:
            inside &= within[window]
        self.paint(window, inside, value, replace)

    def column(
        self,
        z_range: tuple[float, float],
        centre: tuple[Profile, Profile],
        semi: tuple[Profile, Profile],
        value: float,
        replace: Replace | None = None,
        *,
        exponent: float = 2.0,
    ) -> None:
        """A tube along z whose elliptical section (centre and semi-axes ``(y, x)``) follows
        z-profiles: the aorta, the spinal canal, muscles, vertebral bodies."""
        z_window = self.window((z_range[0], -1e9, -1e9), (z_range[1], 1e9, 1e9))
        if z_window is None:
            return
        z = self.z[z_window[0]]
        cy, cx = _profile(z, centre[0]), _profile(z, centre[1])
        sy, sx = _profile(z, semi[0]), _profile(z, semi[1])
        window = self.window(
            (z_range[0], float((cy - sy).min()), float((cx - sx).min())),
            (z_range[1], float((cy + sy).max()), float((cx + sx).max())),
        )
        if window is None:
            return
        _, y, x = self.coords(window)
        ty = (np.abs(y[None, :] - cy[:, None]) / sy[:, None]) ** exponent
        tx = (np.abs(x[None, :] - cx[:, None]) / sx[:, None]) ** exponent
        self.paint(window, ty[:, :, None] + tx[:, None, :] <= 1.0, value, replace)

    def tube(
        self,
        points: Points,
        radii: Sequence[float] | FloatArray,
        layers: Sequence[tuple[float, float]],
        replace: Replace | None = None,
        *,
        normals: FloatArray | None = None,
        squash: Sequence[float] | FloatArray | None = None,
    ) -> None:
        """A polyline of tapered capsules painted layer by layer.

        ``layers`` are ``(inset mm, value)``: the first paints the whole tube (over ``replace``),
        each later one the tube shrunk by its inset, only over voxels the first layer set, so a
        bowel wall keeps its lumen and two loops that touch stay apart. With ``normals`` the
        section is an ellipse, ``squash`` times thinner along the normal (ribs).
        """
        p = np.asarray(points, dtype=np.float64)
        r = np.asarray(radii, dtype=np.float64)
        q = np.ones(len(p)) if squash is None else np.asarray(squash, dtype=np.float64)
        first = layers[0][1]
        tolerance = 1e-3
        for number, (inset, value) in enumerate(layers):
            for a in range(len(p) - 1):
                r0, r1 = r[a] - inset, r[a + 1] - inset
                if max(r0, r1) <= 0:
                    continue
                start, end = p[a], p[a + 1]
                reach = max(r0, r1)
                window = self.window(np.minimum(start, end) - reach, np.maximum(start, end) + reach)
                if window is None:
                    continue
                axis = end - start
                length = float(np.linalg.norm(axis))
                u = axis / length if length > 0 else np.array([1.0, 0.0, 0.0])
                metric = np.eye(3)
                if normals is not None:
                    n = normals[a] - (normals[a] @ u) * u
                    n /= np.linalg.norm(n)
                    ratio = 0.5 * (q[a] + q[a + 1])
                    metric = metric + (1.0 / ratio**2 - 1.0) * np.outer(n, n)
                distance2 = self.quadric(window, start, metric)
                along = self.linear(window, start, u)
                s = np.clip(along, 0.0, length)
                distance2 -= s * (2.0 * along - s)
                radius = r0 + (r1 - r0) / max(length, 1e-6) * s
                inside = distance2 <= radius * radius
                if number == 0:
                    self.paint(window, inside, value, replace)
                else:
                    self.paint(window, inside, value, (first - tolerance, first + tolerance))

    def splat(
        self,
        starts: FloatArray,
        ends: FloatArray,
        radii: FloatArray,
        value: float,
        replace: Replace,
    ) -> None:
        """Many thin straight vessels at once: points every half voxel along each segment,
        each stamped with a ball of the segment's radius (rounded to half a voxel)."""
        voxel = np.array(self.voxel)
        step = float(voxel.min())
        origin = np.array([self.z[0], self.y[0], self.x[0]], dtype=np.float64)
        shape = np.array(self.volume.shape)
        lengths = np.linalg.norm(ends - starts, axis=1)
        counts = np.ceil(lengths / (0.5 * step)).astype(np.int64) + 2
        segment = np.repeat(np.arange(len(starts)), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        t = (np.arange(int(counts.sum())) - first) / np.repeat(counts - 1, counts)
        points = starts[segment] + t[:, None] * (ends[segment] - starts[segment])
        index = np.rint((points - origin) / voxel).astype(np.int64)
        keep = np.all((index >= -8) & (index < shape + 8), axis=1)
        index, size = index[keep], np.floor(radii[segment][keep] / step * 2.0) / 2.0
        flat = self.volume.reshape(-1)
        ranges = _ranges(replace)
        for radius in np.unique(size):
            reach = np.ceil(radius * step / voxel).astype(np.int64)
            grid = np.stack(
                np.meshgrid(*(np.arange(-e, e + 1) for e in reach), indexing="ij"), axis=-1
            ).reshape(-1, 3)
            ball = grid[((grid * voxel) ** 2).sum(axis=1) <= max(radius, 0.5) ** 2 * step**2]
            centres = index[size == radius]
            chunk = max(1, 2_000_000 // len(ball))
            for a in range(0, len(centres), chunk):
                voxels = (centres[a : a + chunk, None, :] + ball[None, :, :]).reshape(-1, 3)
                voxels = voxels[np.all((voxels >= 0) & (voxels < shape), axis=1)]
                linear = np.unique(np.ravel_multi_index(tuple(voxels.T), tuple(shape)))
                current = flat[linear]
                allowed = np.zeros(len(linear), dtype=bool)
                for low, high in ranges:
                    allowed |= (current >= low) & (current <= high)
                flat[linear[allowed]] = value


# --- the torso ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outline:
    """A superellipse section ``(|x|/a)^p + (|y|/b)^q ≤ 1`` whose b and q differ in front
    (y < 0) and behind; every semi-axis follows z."""

    a: Profile
    b_front: Profile
    b_back: Profile
    p: float
    q_front: float
    q_back: float

    def level(self, canvas: _Canvas) -> Float32Array:
        """The left-hand side over the whole volume (≤ 1 inside)."""
        z, y, x = canvas.z, canvas.y, canvas.x
        a = _profile(z, self.a)[:, None]
        front = y[None, :] < 0
        b = np.where(front, _profile(z, self.b_front)[:, None], _profile(z, self.b_back)[:, None])
        q = np.where(front, np.float32(self.q_front), np.float32(self.q_back))
        ty = ((np.abs(y)[None, :] / b) ** q).astype(np.float32)
        tx = ((np.abs(x)[None, :] / a) ** np.float32(self.p)).astype(np.float32)
        result: Float32Array = ty[:, :, None] + tx[:, None, :]
        return result

    def radius(self, z: float, direction: tuple[float, float]) -> float:
        """Distance from the centre to the outline along the in-plane ``(y, x)`` direction."""
        a, b_front, b_back = _at(z, self.a), _at(z, self.b_front), _at(z, self.b_back)
        dy, dx = direction
        b, q = (b_front, self.q_front) if dy < 0 else (b_back, self.q_back)
        low, high = 0.0, 400.0
        for _ in range(40):
            t = 0.5 * (low + high)
            if (abs(t * dx) / a) ** self.p + (abs(t * dy) / b) ** q > 1.0:
                high = t
            else:
                low = t
        return low

    def point(self, z: float, angle: float, side: float, offset: float) -> FloatArray:
        """``(z, y, x)`` at ``offset`` mm outside the outline, ``angle`` degrees from the back
        midline (0) round the ``side`` (−1 right, +1 left) to the front midline (180)."""
        direction = (math.cos(math.radians(angle)), side * math.sin(math.radians(angle)))
        distance = self.radius(z, direction) + offset
        return np.array([z, distance * direction[0], distance * direction[1]])


_SKIN = _Outline(
    a=((0, 152), (40, 146), (90, 150), (140, 158), (180, 162)),
    b_front=((0, 106), (40, 109), (80, 105), (120, 98), (150, 97), (180, 99)),
    b_back=((0, 110), (90, 112), (180, 114)),
    p=2.4,
    q_front=2.1,
    q_back=3.2,
)
_FASCIA = _Outline(  # inner surface of the subcutaneous fat
    a=((0, 126), (40, 124), (90, 133), (140, 143), (180, 148)),
    b_front=((0, 83), (40, 87), (80, 88), (120, 86), (150, 86), (180, 88)),
    b_back=((0, 100), (90, 102), (180, 104)),
    p=2.4,
    q_front=2.1,
    q_back=3.2,
)
_CAVITY = _Outline(  # inner surface of the body wall: pleura above the diaphragm, peritoneum below
    a=((0, 114), (40, 112), (90, 120), (140, 129), (180, 134)),
    b_front=((0, 72), (40, 76), (80, 76), (120, 74), (150, 74), (180, 76)),
    b_back=((0, 78), (90, 84), (180, 88)),
    p=2.4,
    q_front=2.1,
    q_back=2.0,
)

# The spine: centre of the vertebral bodies (y) and their semi-axes along the column.
_SPINE_Y: Profile = ((-40, 24), (0, 26), (90, 31), (180, 37), (300, 40))
_BODY_DEPTH: Profile = ((0, 17), (90, 16), (180, 14))
_BODY_WIDTH: Profile = ((0, 24), (90, 20), (180, 17))
# Vertebrae from T5 down: (name, body height, disc height below), the top of T8 at z = 205.
_VERTEBRAE = (
    ("T5", 18, 5),
    ("T6", 19, 5),
    ("T7", 19, 5),
    ("T8", 20, 5),
    ("T9", 21, 5),
    ("T10", 22, 6),
    ("T11", 23, 6),
    ("T12", 24, 7),
    ("L1", 25, 8),
    ("L2", 26, 9),
    ("L3", 27, 9),
    ("L4", 27, 9),
)


def _vertebra_tops() -> dict[str, float]:
    tops: dict[str, float] = {}
    top = 205.0 + sum(h + d for _, h, d in _VERTEBRAE[:3])  # T5..T7 above T8
    for name, height, disc in _VERTEBRAE:
        tops[name] = top
        top -= height + disc
    return tops


_TOPS = _vertebra_tops()


def _aorta_path() -> tuple[Profile, Profile, Profile]:
    centre_x: Profile = ((0, 5), (60, 6), (100, 10), (140, 22), (180, 27), (260, 28))
    centre_y: Profile = ((0, -4), (60, -1), (100, 3), (140, 13), (180, 19), (260, 21))
    radius: Profile = ((0, 10), (60, 11), (100, 12), (180, 13))
    return centre_y, centre_x, radius


def torso_ct(
    shape: tuple[int, int, int] = (120, 256, 256),
    spacing: Vector = (1.5, 1.4, 1.4),
    seed: int = 7,
) -> npt.NDArray[np.int16]:
    """A contrast CT of the lower chest and upper abdomen in Hounsfield units, ``[k, j, i]``.

    Parameters
    ----------
    shape:
        ``(slices, rows, columns)``; k = 0 is the most inferior slice.
    spacing:
        Voxel size in mm in the same ``(slice, row, column)`` order.
    seed:
        Seed of the vessel trees, the bowel loops and the noise.

    Returns
    -------
    numpy.ndarray
        int16 HU. The slices always run from about L3 (k = 0) to T8, 180 mm at full size; the
        body keeps its real size (about 32 × 22 cm) whenever the field of view holds it and
        shrinks to fit otherwise, so small test grids still hold every structure.

        In the portal-venous phase: a body outline that widens from the waist to the chest with
        subcutaneous fat and a muscle wall; lungs (−850, a little denser behind) over diaphragm
        domes, the right higher, with branching vessels; the heart (myocardium 45, blood 180)
        in epicardial fat; aorta, IVC, portal, splenic and hepatic veins; liver (60) with two
        hypodense lesions (15), gallbladder, spleen (50), stomach with an air–fluid level,
        pancreas, kidneys (cortex 150, medulla, sinus fat, pelvis), colon and small bowel with
        gas; vertebrae (cortex 700, cancellous 250, discs 90, processes, canal with cord), ribs
        sloping down round the chest, costal cartilage and sternum; paraspinal, psoas and
        abdominal wall muscles. Correlated noise (σ ≈ 10 HU) and a slight blur finish it.
    """
    canvas = _Canvas(shape, spacing)
    rng = np.random.default_rng(seed)
    below = _body(canvas)
    _thorax(canvas, rng)
    _liver(canvas, rng, below)
    _upper_abdomen(canvas, below)
    _vessels(canvas)
    _bowel(canvas, rng)
    _muscles(canvas)
    _spine(canvas)
    _ribs(canvas)
    _finish(canvas, rng)
    volume = canvas.volume
    return np.clip(np.rint(volume), -1024, 3071).astype(np.int16)


def _diaphragm(canvas: _Canvas) -> Float32Array:
    """Height of the diaphragm's upper surface over the axial plane, ``[j, i]``.

    Two domes, the right (liver) one 15 mm higher, a lower central tendon under the heart, and
    deep posterior and lateral recesses.
    """
    y, x = canvas.y[:, None], canvas.x[None, :]

    def dome(
        peak: float, centre: tuple[float, float], wx: float, front: float, back: float
    ) -> Float32Array:
        cy, cx = centre
        wy = np.where(y < cy, np.float32(front), np.float32(back))
        level = ((x - cx) / wx) ** 2 + ((y - cy) / wy) ** 2
        result: Float32Array = (peak - 68.0 * level).astype(np.float32)
        return result

    right = dome(124.0, (-10.0, -55.0), 80.0, 110.0, 78.0)
    left = dome(108.0, (12.0, 60.0), 85.0, 110.0, 100.0)
    centre = dome(100.0, (-25.0, 8.0), 45.0, 80.0, 60.0)
    height = np.maximum(np.maximum(right, left), centre)
    floor = np.float32(38.0)  # the recesses bottom out smoothly around L1
    result: Float32Array = floor + 8.0 * np.logaddexp(0.0, (height - floor) / 8.0).astype(
        np.float32
    )
    return result


def _body(canvas: _Canvas) -> BoolArray:
    """Skin, subcutaneous fat, body wall, and the cavity split by the diaphragm into lungs above
    and visceral fat below. Returns the part of the cavity below the diaphragm."""
    volume = canvas.volume
    volume[_SKIN.level(canvas) <= 1.0] = FAT_HU
    volume[_FASCIA.level(canvas) <= 1.0] = MUSCLE_HU
    cavity = _CAVITY.level(canvas) <= 1.0
    height = canvas.z[:, None, None] - _diaphragm(canvas)[None, :, :]
    below = cavity & (height <= -5.0)
    volume[below] = VISCERAL_FAT_HU
    lungs = cavity & (height > 0.0)
    # Lung a little denser towards the back (dependent) and just above the diaphragm.
    dependent = 60.0 * np.clip((canvas.y + 90.0) / 180.0, 0.0, 1.0) ** 2
    lung = (LUNG_HU - 25.0 + dependent)[None, :, None] + 40.0 * np.exp(-height / 6.0)
    volume[lungs] = lung[lungs]
    # Linea alba: a thin fibrous seam between the recti in the anterior abdominal wall.
    canvas.column((-50.0, 125.0), (-90.0, 0.0), (15.0, 1.6), 15.0, (MUSCLE_HU - 1, MUSCLE_HU + 1))
    return below


# --- chest ---------------------------------------------------------------------------------

_LUNG: Range = (LUNG_HU - 100.0, LUNG_HU + 160.0)
_FAT: Range = (VISCERAL_FAT_HU - 0.5, VISCERAL_FAT_HU + 0.5)


def _branches(
    canvas: _Canvas,
    rng: np.random.Generator,
    roots: Sequence[tuple[Point, Point, float, float]],
    *,
    generations: int,
    value: float,
    replace: Replace,
    pull: Point = (0.0, 0.0, 0.0),
    airways: int = 0,
) -> None:
    """Vessel trees from ``roots`` of ``(start, direction, radius, length)``.

    Each branch forks symmetrically: two children ±(25–40)° apart in a random plane, thinner
    (Murray's law, 0.79) and shorter (0.82), drifting along ``pull`` (say, down and out
    towards the lung base). The first ``airways`` roots run beside a bronchus (air in a thin
    wall) for their first three generations.
    """
    thinnest = 0.35 * min(canvas.voxel[1:])
    drift = np.asarray(pull, dtype=np.float64)
    starts: list[FloatArray] = []
    ends: list[FloatArray] = []
    radii: list[float] = []
    for number, (start, direction, radius, length) in enumerate(roots):
        stack = [(np.asarray(start, dtype=np.float64), _unit(direction), radius, length, 0)]
        while stack:
            origin, heading, r, span, depth = stack.pop()
            end = origin + heading * span
            starts.append(origin)
            ends.append(end)
            radii.append(r)
            if number < airways and depth <= 2:
                side = np.cross(heading, np.array([0.0, 1.0, 0.0]))
                if np.linalg.norm(side) < 1e-3:
                    side = np.array([0.0, 0.0, 1.0])
                offset = _unit(side) * (1.9 * r + 0.8)
                bronchus = 0.9 * r + 0.6
                canvas.tube(
                    [origin + offset, end + offset],
                    [bronchus, 0.85 * bronchus],
                    [(0.0, MUSCLE_HU - 18.0), (0.9, AIR_HU)],
                    replace,
                )
            child_r = 0.79 * r
            if depth + 1 >= generations or child_r < thinnest:
                continue
            across = _unit(np.cross(heading, rng.normal(size=3)))
            angle = math.radians(rng.uniform(25.0, 40.0))
            for sign in (-1.0, 1.0):
                turn = math.cos(angle) * heading + sign * math.sin(angle) * across + drift
                stack.append((end, _unit(turn), child_r, 0.82 * span, depth + 1))
    canvas.splat(np.array(starts), np.array(ends), np.array(radii), value, replace)


@dataclass(frozen=True)
class _Chamber:
    centre: Vector
    semi: Vector
    wall: float
    blood: float
    axes: FloatArray | None = None


def _heart_chambers() -> list[_Chamber]:
    """Chambers in painting order: atria, then the right and left ventricles (whose muscle cuts
    the septum out of the blood painted before it). The long axis runs from the base (back,
    right, up) to the apex (front, left, down)."""
    base = np.array([190.0, 4.0, 0.0])
    apex = np.array([98.0, -66.0, 74.0])
    u = _unit(apex - base)
    front = np.array([0.0, -1.0, 0.0])
    v = _unit(front - (front @ u) * u)
    axes = np.stack([u, v, np.cross(u, v)])
    lv = base + 0.53 * (apex - base)
    rv = lv + np.array([-3.0, -20.0, -30.0])
    return [
        _Chamber((150.0, -22.0, -34.0), (34.0, 30.0, 28.0), 2.5, HEART_BLOOD_HU - 30.0),
        _Chamber((196.0, 2.0, 8.0), (24.0, 20.0, 40.0), 2.5, HEART_BLOOD_HU),
        _Chamber((rv[0], rv[1], rv[2]), (56.0, 28.0, 42.0), 4.5, HEART_BLOOD_HU - 10.0, axes),
        _Chamber((lv[0], lv[1], lv[2]), (64.0, 36.0, 35.0), 11.0, HEART_BLOOD_HU, axes),
    ]


def _thorax(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Posterior mediastinum, heart in its fat, oesophagus, azygos, lung vessels."""
    # Mediastinal fat in front of the spine round the aorta and oesophagus.
    canvas.column((95.0, 400.0), (10.0, 10.0), (22.0, 27.0), VISCERAL_FAT_HU, _LUNG)
    chambers = _heart_chambers()
    soft: Range = (-1000.0, VISCERAL_FAT_HU + 0.5)
    for grow, value, replace in (
        (4.0, PERICARDIUM_HU, soft),
        (2.5, VISCERAL_FAT_HU, (PERICARDIUM_HU - 0.5, PERICARDIUM_HU + 0.5)),
    ):
        for chamber in chambers:
            semi = tuple(s + grow for s in chamber.semi)
            canvas.ellipsoid(chamber.centre, semi, value, replace, chamber.axes)
    for chamber in chambers:
        canvas.ellipsoid(chamber.centre, chamber.semi, HEART_MUSCLE_HU, None, chamber.axes)
        inner = tuple(s - chamber.wall for s in chamber.semi)
        canvas.ellipsoid(chamber.centre, inner, chamber.blood, None, chamber.axes)
    # Papillary muscles in the left ventricle, and the coronary arteries in their grooves.
    lv = chambers[-1]
    blood = (HEART_BLOOD_HU - 0.5, HEART_BLOOD_HU + 0.5)
    for offset in ((-6.0, 4.0, 20.0), (-10.0, 18.0, 6.0)):
        centre = tuple(c + o for c, o in zip(lv.centre, offset, strict=True))
        canvas.ellipsoid(centre, (14.0, 5.5, 5.5), HEART_MUSCLE_HU, blood, lv.axes)
    coronaries = (
        ((182.0, -40.0, 18.0), (150.0, -66.0, 32.0), (125.0, -78.0, 50.0), (102.0, -72.0, 70.0)),
        (
            (184.0, -40.0, -18.0),
            (165.0, -54.0, -46.0),
            (140.0, -44.0, -64.0),
            (122.0, -14.0, -54.0),
        ),
        ((186.0, -5.0, 38.0), (172.0, -6.0, 58.0), (152.0, -12.0, 74.0)),
    )
    for path in coronaries:
        canvas.tube(path, [2.0] * len(path), [(0.0, AORTA_HU + 40.0)], _FAT)
    # Fat pads in the cardiophrenic angles.
    for centre in ((104.0, -52.0, -42.0), (100.0, -58.0, 62.0)):
        canvas.ellipsoid(centre, (12.0, 22.0, 24.0), VISCERAL_FAT_HU, _LUNG)

    # Oesophagus (muscle with a sliver of air), right of the aorta, then left to the cardia.
    oesophagus = ((115.0, -2.0, 22.0), (140.0, 2.0, 12.0), (180.0, 9.0, 5.0), (260.0, 12.0, 2.0))
    canvas.tube(oesophagus, [8.0] * 4, [(0.0, MUSCLE_HU + 5.0), (6.0, AIR_HU)])
    canvas.tube(((92.0, 16.0, 44.0), oesophagus[0]), (9.0, 8.0), [(0.0, MUSCLE_HU + 5.0)], _FAT)
    canvas.column((95.0, 400.0), (24.0, -13.0), (4.0, 4.0), IVC_HU, _FAT)  # azygos

    # Pulmonary arteries (with their bronchi) and veins, from the hila down into the bases
    # and forwards into the middle lobe and lingula.
    for side in (-1.0, 1.0):
        roots = [
            ((z, y, side * x), (dz, dy, side * dx), radius, 26.0)
            for (z, y, x), (dz, dy, dx), radius in (
                ((196.0, 10.0, 44.0), (-1.0, 0.45, 0.45), 6.0),
                ((192.0, 24.0, 36.0), (-0.8, 0.9, 0.3), 5.5),
                ((190.0, -12.0, 48.0), (-0.7, -0.7, 0.6), 5.0),
                ((186.0, -30.0, 40.0), (-0.3, -1.0, 0.5), 4.5),
                ((184.0, 4.0, 40.0), (-0.9, 0.1, 0.8), 5.5),
                ((180.0, 20.0, 32.0), (-1.0, 0.5, 0.2), 5.5),
                ((178.0, -20.0, 44.0), (-0.8, -0.5, 0.4), 5.0),
                ((176.0, 30.0, 50.0), (-0.6, 0.4, 0.9), 4.5),
            )
        ]
        _branches(
            canvas,
            rng,
            roots,
            generations=7,
            value=VESSEL_HU,
            replace=_LUNG,
            pull=(-0.25, 0.0, side * 0.2),
            airways=4,
        )


# --- abdomen -------------------------------------------------------------------------------


def _liver(canvas: _Canvas, rng: np.random.Generator, below: BoolArray) -> None:
    """Liver under the right dome, crossing the midline in front, with its veins, lesions and
    gallbladder."""
    window = canvas.window((-60.0, -200.0, -200.0), (140.0, 200.0, 85.0))
    if window is None:
        return
    z, y, x = canvas.coords(window)
    # The inferior edge rises from the right flank (z ≈ 28) to the left lobe's tip.
    # The inferior edge rises from the right flank (z ≈ 30) to the left lobe's tip, sagging a
    # little under the right lobe.
    bottom = (
        30.0
        + 0.3 * (x[None, :] + 130.0)
        - 14.0 * np.exp(-(((x[None, :] + 75.0) / 40.0) ** 2))
        + 0.06 * np.maximum(y[:, None], 0.0)
    )
    left_edge = np.clip(-8.0 - 0.78 * y, -30.0, 70.0)
    inside = (
        below[window]
        & (z[:, None, None] > bottom[None])
        & (x[None, None, :] < left_edge[None, :, None])
    )
    canvas.paint(window, inside, LIVER_HU)
    liver: Range = (LIVER_HU - 0.5, LIVER_HU + 0.5)
    # Hepatic veins fanning out from the IVC just under the dome; portal branches from the
    # hilum.
    junction = (112.0, 2.0, -22.0)
    hepatic = [
        (junction, direction, radius, 34.0)
        for direction, radius in (
            ((-0.55, 0.25, -1.0), 5.0),
            ((-0.6, -0.8, -0.45), 4.5),
            ((-0.2, -0.9, 0.5), 4.0),
        )
    ]
    _branches(canvas, rng, hepatic, generations=5, value=HEPATIC_VEIN_HU, replace=liver)
    hilum = (84.0, -6.0, -46.0)
    portal = [
        (hilum, direction, radius, 30.0)
        for direction, radius in (((0.15, 0.2, -1.0), 5.5), ((0.3, -0.8, 0.55), 4.5))
    ]
    _branches(canvas, rng, portal, generations=5, value=PORTAL_VEIN_HU, replace=liver)
    for centre, r in (
        ((70.0, -8.0, -92.0), 11.0),
        ((94.0, -46.0, -14.0), 8.0),
        ((52.0, 24.0, -82.0), 5.0),
    ):
        canvas.ellipsoid(centre, (r, r, r), LESION_HU, liver)
    # Gallbladder on the inferior surface, its fundus poking below the liver edge.
    u = _unit((1.0, 0.55, 0.2))
    axes = np.stack(
        [u, _unit(np.cross(u, (0.0, 0.0, 1.0))), _unit(np.cross(u, np.cross(u, (0.0, 0.0, 1.0))))]
    )
    gallbladder = (62.0, -52.0, -50.0)
    organs: Range = (VISCERAL_FAT_HU - 0.5, LIVER_HU + 0.5)
    canvas.ellipsoid(gallbladder, (36.0, 16.0, 16.0), BOWEL_WALL_HU - 15.0, organs, axes)
    wall = (BOWEL_WALL_HU - 15.5, BOWEL_WALL_HU - 14.5)
    canvas.ellipsoid(gallbladder, (34.0, 14.0, 14.0), BILE_HU, wall, axes)


def _rotated(long_axis: Point, towards: Point) -> FloatArray:
    """Rows: the long axis, the part of ``towards`` across it, and their cross product."""
    u = _unit(long_axis)
    t = np.asarray(towards, dtype=np.float64)
    v = _unit(t - (t @ u) * u)
    return np.stack([u, v, np.cross(u, v)])


def _upper_abdomen(canvas: _Canvas, below: BoolArray) -> None:
    """Spleen, stomach, pancreas, duodenum, kidneys and adrenals."""
    # Spleen: a crescent against the posterolateral wall under the left dome.
    axes = _rotated((1.0, 0.45, 0.1), (0.0, 0.55, 0.83))
    spleen = (74.0, 44.0, 94.0)
    canvas.ellipsoid(spleen, (50.0, 22.0, 46.0), SPLEEN_HU, _FAT, axes, within=below)
    canvas.ellipsoid(
        (76.0, 26.0, 72.0), (26.0, 16.0, 16.0), VISCERAL_FAT_HU, (SPLEEN_HU - 0.5, SPLEEN_HU + 0.5)
    )

    # Stomach: fundus under the left dome, body and antrum sweeping forward and right.
    stomach = (
        (106.0, 22.0, 58.0),
        (94.0, 8.0, 64.0),
        (80.0, -22.0, 62.0),
        (68.0, -48.0, 40.0),
        (62.0, -58.0, 10.0),
        (62.0, -48.0, -16.0),
    )
    canvas.tube(
        stomach,
        (30.0, 34.0, 31.0, 24.0, 17.0, 11.0),
        [(0.0, BOWEL_WALL_HU + 5.0), (5.0, FLUID_HU + 1.0)],
        _FAT,
    )
    # Supine: gas floats to the front, with a flat level.
    canvas.box(
        (40.0, -120.0, -40.0), (140.0, -44.0, 120.0), AIR_HU, (FLUID_HU + 0.5, FLUID_HU + 1.5)
    )

    # Duodenum: bulb, descending and horizontal parts round the pancreatic head.
    duodenum = (
        (62.0, -48.0, -16.0),
        (62.0, -34.0, -40.0),
        (48.0, -18.0, -52.0),
        (22.0, -12.0, -50.0),
        (8.0, -6.0, -28.0),
        (6.0, -8.0, 10.0),
        (14.0, -18.0, 28.0),
    )
    canvas.tube(
        duodenum, [11.0] * len(duodenum), [(0.0, BOWEL_WALL_HU + 6.0), (3.0, FLUID_HU + 2.0)], _FAT
    )
    canvas.box(
        (40.0, -120.0, -70.0), (70.0, -40.0, -20.0), AIR_HU, (FLUID_HU + 1.5, FLUID_HU + 2.5)
    )

    # Pancreas: head in the duodenal sweep, body over the aorta, tail to the splenic hilum.
    pancreas = (
        (30.0, -22.0, -34.0),
        (50.0, -28.0, -22.0),
        (62.0, -34.0, 0.0),
        (66.0, -24.0, 30.0),
        (72.0, -4.0, 55.0),
        (80.0, 18.0, 72.0),
    )
    canvas.tube(pancreas, (17.0, 13.0, 11.0, 11.0, 10.0, 9.0), [(0.0, PANCREAS_HU)], _FAT)

    # Kidneys: upper poles medial and back, hilum facing forward and in; the right one lower.
    for side, centre in ((-1.0, (32.0, 46.0, -66.0)), (1.0, (42.0, 44.0, 66.0))):
        axes = _rotated((1.0, 0.25, -side * 0.28), (0.0, -0.6, -side * 0.8))
        hilum = np.asarray(centre) + 15.0 * axes[1]
        kidney: Range = (VISCERAL_FAT_HU - 0.5, LIVER_HU + 0.5)
        canvas.ellipsoid(centre, (52.0, 25.0, 22.0), KIDNEY_CORTEX_HU, kidney, axes)
        canvas.ellipsoid(centre, (46.0, 19.5, 16.5), KIDNEY_MEDULLA_HU, None, axes)
        # Columns of Bertin: cortex reaching in between the pyramids.
        for along in (-22.0, 0.0, 22.0):
            column_centre = np.asarray(centre) + along * axes[0]
            canvas.ellipsoid(
                column_centre,
                (2.5, 18.0, 15.0),
                KIDNEY_CORTEX_HU,
                (KIDNEY_MEDULLA_HU - 0.5, KIDNEY_MEDULLA_HU + 0.5),
                axes,
            )
        canvas.ellipsoid(hilum, (30.0, 14.0, 10.0), RENAL_SINUS_HU, None, axes)
        canvas.ellipsoid(hilum + 3.0 * axes[1], (18.0, 8.0, 6.0), URINE_HU, None, axes)
        pelvis = hilum + 14.0 * axes[1]
        canvas.tube(
            (pelvis, pelvis + np.array([-20.0, -2.0, -side * 6.0]), (-80.0, 0.0, side * 45.0)),
            (5.0, 3.0, 2.5),
            [(0.0, URINE_HU)],
            _FAT,
        )
        # Adrenal: a thin inverted Y above and in front of the upper pole.
        top = np.asarray(centre) + 52.0 * axes[0] + (8.0, -14.0, -side * 12.0)
        for limb in ((-14.0, 4.0, -side * 8.0), (-14.0, 10.0, side * 4.0)):
            canvas.tube((top, top + limb), (2.5, 2.0), [(0.0, MUSCLE_HU)], _FAT)


def _vessels(canvas: _Canvas) -> None:
    """Aorta and its branches, IVC, portal system, renal vessels."""
    centre_y, centre_x, radius = _aorta_path()
    canvas.column((-100.0, 400.0), (centre_y, centre_x), (radius, radius), AORTA_HU)
    # A few calcified plaques on the back wall of the abdominal aorta.
    for z in (12.0, 26.0, 47.0):
        y, x, r = _at(z, centre_y), _at(z, centre_x), _at(z, radius)
        canvas.ellipsoid((z, y + 0.8 * r, x - 0.5 * r), (2.5, 1.6, 2.2), CALCIUM_HU)
    ivc_y: Profile = ((-40, 4), (40, 2), (80, 10), (108, 4), (135, -12))
    ivc_x: Profile = ((-40, -24), (40, -25), (90, -27), (120, -26), (135, -32))
    canvas.column((-100.0, 145.0), (ivc_y, ivc_x), (9.0, 12.0), IVC_HU)
    soft: Range = (VISCERAL_FAT_HU - 0.5, LIVER_HU + 0.5)
    # Portal vein from the confluence to the hilum; superior mesenteric and splenic veins.
    confluence = (58.0, -14.0, -6.0)
    canvas.tube(
        (confluence, (72.0, -10.0, -28.0), (84.0, -6.0, -46.0)),
        (7.5, 7.0, 6.5),
        [(0.0, PORTAL_VEIN_HU)],
        soft,
    )
    canvas.tube(
        (confluence, (40.0, -26.0, -9.0), (0.0, -42.0, -12.0), (-60.0, -50.0, -14.0)),
        (6.5, 6.0, 5.5, 5.0),
        [(0.0, PORTAL_VEIN_HU - 10.0)],
        soft,
    )
    canvas.tube(
        (confluence, (64.0, -12.0, 28.0), (74.0, 6.0, 55.0), (82.0, 28.0, 74.0)),
        (5.0, 4.5, 4.5, 4.0),
        [(0.0, PORTAL_VEIN_HU - 10.0)],
        soft,
    )
    # Arteries: celiac trunk, splenic and hepatic; superior mesenteric; renal.
    celiac = (72.0, _at(72.0, centre_y) - 10.0, _at(72.0, centre_x))
    canvas.tube((celiac, (74.0, -24.0, 6.0)), (4.0, 3.5), [(0.0, AORTA_HU)], soft)
    canvas.tube(
        (
            (74.0, -24.0, 6.0),
            (76.0, -20.0, 30.0),
            (78.0, -8.0, 50.0),
            (80.0, 12.0, 66.0),
            (82.0, 30.0, 78.0),
        ),
        [2.5] * 5,
        [(0.0, AORTA_HU)],
        soft,
    )
    canvas.tube(
        ((74.0, -24.0, 6.0), (78.0, -22.0, -20.0), (82.0, -12.0, -40.0)),
        [2.5] * 3,
        [(0.0, AORTA_HU)],
        soft,
    )
    sma = (60.0, _at(60.0, centre_y) - 10.0, _at(60.0, centre_x))
    canvas.tube(
        (sma, (52.0, -26.0, 4.0), (20.0, -36.0, 2.0), (-60.0, -46.0, -2.0)),
        (4.0, 4.0, 3.5, 3.0),
        [(0.0, AORTA_HU)],
        soft,
    )
    for side, kidney_z in ((-1.0, 36.0), (1.0, 44.0)):
        origin = (46.0, _at(46.0, centre_y), _at(46.0, centre_x))
        canvas.tube(
            (origin, (kidney_z + 2.0, 18.0, side * 38.0), (kidney_z, 34.0, side * 54.0)),
            (3.5, 3.2, 3.0),
            [(0.0, AORTA_HU)],
            soft,
        )
    # Left renal vein passing between the aorta and the SMA; the short right one.
    canvas.tube(
        (
            (44.0, 30.0, 56.0),
            (44.0, 6.0, 24.0),
            (44.0, -17.0, 6.0),
            (43.0, -6.0, -14.0),
            (42.0, 2.0, -24.0),
        ),
        (5.0, 5.0, 4.0, 5.0, 5.0),
        [(0.0, IVC_HU)],
        soft,
    )
    canvas.tube(((34.0, 34.0, -52.0), (38.0, 4.0, -24.0)), (5.0, 5.5), [(0.0, IVC_HU)], soft)


def _resample(points: Points, step: float) -> FloatArray:
    """Points every ``step`` mm along a polyline (a smooth-looking tube from a few knots)."""
    p = np.asarray(points, dtype=np.float64)
    lengths = np.linalg.norm(np.diff(p, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(lengths)])
    samples = np.linspace(0.0, s[-1], max(2, math.ceil(s[-1] / step) + 1))
    return np.stack([np.interp(samples, s, p[:, c]) for c in range(3)], axis=1)


def _bowel(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Colon (haustra, gas in front, mottled stool behind) and small-bowel loops with fluid."""
    colon = _resample(
        (
            (-40.0, 10.0, -100.0),
            (0.0, 6.0, -102.0),
            (36.0, -2.0, -98.0),
            (54.0, -30.0, -90.0),
            (52.0, -62.0, -60.0),
            (46.0, -72.0, -20.0),
            (50.0, -70.0, 20.0),
            (62.0, -56.0, 55.0),
            (78.0, -26.0, 86.0),
            (90.0, 4.0, 98.0),
            (70.0, 18.0, 104.0),
            (30.0, 22.0, 106.0),
            (-40.0, 22.0, 104.0),
        ),
        6.0,
    )
    along = np.arange(len(colon)) * 6.0
    calibre = np.interp(along, (0.0, 120.0, 300.0, 420.0, 600.0), (23.0, 20.0, 17.0, 16.0, 15.0))
    radii = calibre * (1.0 + 0.1 * np.cos(2.0 * np.pi * along / 24.0))  # haustral folds
    wall, content = BOWEL_WALL_HU - 13.0, STOOL_HU + 0.25
    canvas.tube(colon, radii, [(0.0, wall), (2.5, content)], _FAT)
    # Supine: gas rises into the parts of the colon that lie in front.
    canvas.box(
        (-100.0, -200.0, -200.0), (200.0, -42.0, 200.0), AIR_HU, (content - 0.1, content + 0.1)
    )
    _texture(canvas, rng, (content - 0.1, content + 0.1), (STOOL_HU, -450.0), 0.25)

    # Small bowel: a few meandering loops in the front of the lower abdomen.
    low = np.array([-15.0, -88.0, -75.0])
    high = np.array([50.0, 10.0, 75.0])
    for loop in range(8):
        point = low + rng.random(3) * (high - low)
        heading = _unit(rng.normal(size=3))
        path = [point.copy()]
        for _ in range(36):
            heading = _unit(heading + rng.normal(scale=0.55, size=3))
            point = point + 7.0 * heading
            outside = (point < low) | (point > high)
            heading[outside] *= -1.0
            point = np.clip(point, low, high)
            path.append(point.copy())
        radius = 10.0 if loop % 2 == 0 else 8.0
        wall = BOWEL_WALL_HU + 0.25 * loop
        lumen = FLUID_HU + 4.0 + 0.25 * loop
        canvas.tube(path, [radius] * len(path), [(0.0, wall), (2.5, lumen)], _FAT)
        if loop % 3 != 2:  # gas pools in the highest (most anterior) part of the loop
            level = float(min(p[1] for p in path)) + rng.uniform(0.2, 0.7) * radius
            canvas.box(
                (-100.0, -200.0, -200.0), (200.0, level, 200.0), AIR_HU, (lumen - 0.1, lumen + 0.1)
            )


def _texture(
    canvas: _Canvas,
    rng: np.random.Generator,
    marker: Range,
    values: tuple[float, float],
    fraction: float,
) -> None:
    """Replace the voxels in ``marker`` by a random mix of two values in blobs of about 3 mm
    (stool with gas bubbles)."""
    volume = canvas.volume
    where = np.nonzero((volume >= marker[0]) & (volume <= marker[1]))
    if len(where[0]) == 0:
        return
    blob = [np.floor(canvas.voxel[a] * w / 3.0).astype(np.int64) for a, w in enumerate(where)]
    low = [int(b.min()) for b in blob]
    coarse = rng.random(tuple(int(b.max()) - lo + 1 for b, lo in zip(blob, low, strict=True)))
    mix = coarse[tuple(b - lo for b, lo in zip(blob, low, strict=True))] < fraction
    volume[where] = np.where(mix, np.float32(values[1]), np.float32(values[0]))


def _over(profiles: Sequence[Profile], offset: float = 0.0, scale: float = 1.0) -> Profile:
    """Sum of profiles (times ``scale``) plus ``offset`` as knots every 15 mm."""
    zs = np.arange(-60.0, 320.0, 15.0)
    return [(float(z), scale * sum(_at(float(z), p) for p in profiles) + offset) for z in zs]


def _muscles(canvas: _Canvas) -> None:
    """Paraspinal, psoas, quadratus lumborum, crura, rectus and pectoral muscles."""
    not_skin: list[Range] = [(-1000.0 + 50.0, FAT_HU - 0.5), (FAT_HU + 0.5, 1000.0)]
    back = _over((_SPINE_Y, _BODY_DEPTH), 36.0)
    # Interspinous ligaments and multifidus close the midline behind the canal.
    canvas.column((-100.0, 400.0), (back, 0.0), (32.0, 12.0), MUSCLE_HU + 8.0, not_skin)
    for side in (-1.0, 1.0):
        centre_x: Profile = ((0, side * 33.0), (90, side * 31.0), (180, side * 28.0))
        semi_x: Profile = ((0, 28.0), (90, 25.0), (180, 23.0))
        semi_y: Profile = ((0, 25.0), (90, 23.0), (180, 21.0))
        canvas.column(
            (-100.0, 400.0),
            (back, centre_x),
            (semi_y, semi_x),
            MUSCLE_HU + 8.0,
            not_skin,
            exponent=2.4,
        )
        psoas_x: Profile = (
            (-40, side * 42.0),
            (0, side * 38.0),
            (40, side * 31.0),
            (78, side * 24.0),
        )
        psoas_semi_x: Profile = ((-40, 22.0), (0, 18.0), (40, 11.0), (78, 2.0))
        psoas_semi_y: Profile = ((-40, 19.0), (0, 16.0), (40, 10.0), (78, 2.0))
        canvas.column(
            (-100.0, 78.0),
            (_over((_SPINE_Y,), -2.0), psoas_x),
            (psoas_semi_y, psoas_semi_x),
            MUSCLE_HU + 4.0,
            _FAT,
        )
        canvas.column(
            (-100.0, 72.0),
            (_over((_SPINE_Y, _BODY_DEPTH), 26.0), side * 60.0),
            (((-40, 10.0), (72, 4.0)), ((-40, 18.0), (72, 8.0))),
            MUSCLE_HU + 4.0,
            _FAT,
        )
        centre_y, aorta_x, _ = _aorta_path()
        canvas.column(
            (30.0, 112.0),
            (_over((centre_y,), -1.0), _over((aorta_x,), side * 17.0)),
            (8.0, 4.5),
            MUSCLE_HU,
            _FAT,
        )
        canvas.column(
            (-100.0, 125.0),
            (_over((_CAVITY.b_front,), 5.0, -1.0), side * 30.0),
            (6.0, 27.0),
            MUSCLE_HU,
            _FAT,
        )
        canvas.column(
            (135.0, 400.0),
            (_over((_FASCIA.b_front,), 4.0, -1.0), side * 62.0),
            (((135, 2.0), (170, 8.0), (400, 10.0)), 48.0),
            MUSCLE_HU,
            (FAT_HU - 0.5, FAT_HU + 0.5),
        )


# --- bones ---------------------------------------------------------------------------------


def _spine(canvas: _Canvas) -> None:
    """Vertebrae (bodies with cortex and endplates, discs, pedicles, laminae, articular
    pillars, spinous and transverse processes) and the canal with CSF and the cord."""
    bone = [(0.0, CORTICAL_BONE_HU), (1.6, CANCELLOUS_BONE_HU)]
    for name, height, disc in _VERTEBRAE:
        top = _TOPS[name]
        bottom = top - height
        if top < -30.0 or bottom - disc > HEIGHT + 30.0:
            continue
        middle = 0.5 * (top + bottom)
        yc, d, w = _at(middle, _SPINE_Y), _at(middle, _BODY_DEPTH), _at(middle, _BODY_WIDTH)
        waist_d: Profile = ((bottom, d), (middle, 0.93 * d), (top, d))
        waist_w: Profile = ((bottom, w), (middle, 0.93 * w), (top, w))
        canvas.column((bottom, top), (yc, 0.0), (waist_d, waist_w), CORTICAL_BONE_HU, exponent=2.3)
        inner_d: Profile = ((bottom, d - 1.6), (middle, 0.93 * d - 1.6), (top, d - 1.6))
        inner_w: Profile = ((bottom, w - 1.6), (middle, 0.93 * w - 1.6), (top, w - 1.6))
        canvas.column(
            (bottom + 1.2, top - 1.2),
            (yc, 0.0),
            (inner_d, inner_w),
            CANCELLOUS_BONE_HU,
            exponent=2.3,
        )
        canvas.column((bottom - disc, bottom), (yc, 0.0), (d + 0.8, w + 0.8), DISC_HU, exponent=2.3)
        canvas.column(
            (bottom - disc + 1.0, bottom - 1.0),
            (yc + 2.0, 0.0),
            (0.45 * d, 0.5 * w),
            DISC_HU - 15.0,
            None,
        )
        lumbar = name.startswith("L")
        zp = top - 0.4 * height  # the posterior arch sits on the upper half of the body
        back = yc + d
        for side in (-1.0, 1.0):
            pedicle = (zp, back + 13.0, side * (0.55 * w + 2.0))
            canvas.tube(((zp, yc + 0.5 * d, side * 0.6 * w), pedicle), (5.0, 4.5), bone)
            canvas.tube((pedicle, (zp - 4.0, back + 24.0, 0.0)), (4.5, 4.0), bone)
            # Articular pillar: superior and inferior processes, a facet joint gap to the next.
            pillar = (back + 17.0, side * (0.55 * w + 5.0))
            canvas.tube(((zp + 3.0, *pillar), (zp - 0.65 * height, *pillar)), (4.0, 4.0), bone)
            if lumbar:
                tip = (zp - 3.0, back + 3.0, side * (w + 30.0))
                canvas.tube(((zp - 3.0, back + 8.0, side * 0.6 * w), tip), (4.5, 3.5), bone)
            else:
                tip = (zp + 2.0, back + 21.0, side * (w + 25.0))
                canvas.tube((pedicle, tip), (5.0, 4.5), bone)
        if lumbar:
            spinous = ((zp - 4.0, back + 24.0, 0.0), (zp - 9.0, back + 50.0, 0.0))
            canvas.tube(
                spinous,
                (5.5, 6.5),
                bone,
                normals=np.array([[0.0, 0.0, 1.0]] * 2),
                squash=(0.55, 0.55),
            )
        else:
            # Thoracic spinous processes slope down steeply, flattening towards T12.
            slope = {"T10": 17.0, "T11": 13.0, "T12": 9.0}.get(name, 22.0)
            spinous = ((zp - 4.0, back + 24.0, 0.0), (zp - 4.0 - slope, back + 48.0, 0.0))
            canvas.tube(
                spinous,
                (3.8, 3.2),
                bone,
                normals=np.array([[0.0, 0.0, 1.0]] * 2),
                squash=(0.75, 0.75),
            )
    canal_y = _over((_SPINE_Y, _BODY_DEPTH), 9.0)
    canvas.column((-100.0, 400.0), (canal_y, 0.0), (7.5, 10.0), CSF_HU)
    cord: Profile = ((38.0, 0.5), (52.0, 3.8), (400.0, 4.0))
    canvas.column((38.0, 400.0), (canal_y, 0.0), (cord, _over((cord,), 1.5)), CORD_HU)


@dataclass(frozen=True)
class _Rib:
    number: int
    end: float  # angle (degrees from the back midline) where the bone ends
    drop: float  # how far its front end lies below its head (mm)
    cartilage: tuple[float, float] | None  # angle and height its cartilage joins, if any


_RIB_TABLE = (
    _Rib(5, 155.0, 95.0, (176.0, 182.0)),
    _Rib(6, 152.0, 100.0, (176.0, 153.0)),
    _Rib(7, 150.0, 105.0, (176.0, 124.0)),
    _Rib(8, 146.0, 108.0, (166.0, 123.0)),
    _Rib(9, 142.0, 110.0, (158.0, 110.0)),
    _Rib(10, 138.0, 112.0, (151.0, 88.0)),
    _Rib(11, 110.0, 75.0, None),
    _Rib(12, 80.0, 45.0, None),
)


def _ribs(canvas: _Canvas) -> None:
    """Ribs 5–12 each side: head at its vertebra, tubercle at the transverse process, then
    round the chest wall, sloping down to the front; costal cartilage up to the sternum or
    the rib above; the sternum and xiphoid."""
    bone = [(0.0, CORTICAL_BONE_HU - 50.0), (1.3, CANCELLOUS_BONE_HU - 50.0)]
    start_angle = 38.0
    for rib in _RIB_TABLE:
        head_z = _TOPS[f"T{rib.number}"] - 3.0
        if head_z - rib.drop > HEIGHT + 20.0:
            continue
        yc, d, w = _at(head_z, _SPINE_Y), _at(head_z, _BODY_DEPTH), _at(head_z, _BODY_WIDTH)
        angles = np.arange(start_angle, rib.end + 1e-6, 5.0)
        fraction = (angles - start_angle) / (rib.end - start_angle)
        heights = head_z - 4.0 - rib.drop * fraction**1.25
        floating = rib.cartilage is None
        for side in (-1.0, 1.0):
            path = [
                np.array([head_z, yc + 0.2 * d, side * (w + 3.0)]),
                np.array([head_z + 1.0, yc + d + 16.0, side * (w + 24.0)]),
            ]
            path += [
                _CAVITY.point(float(h), float(a), side, 4.5)
                for h, a in zip(heights, angles, strict=True)
            ]
            points = np.array(path)
            radial = np.zeros_like(points)
            radial[:, 1:] = points[:, 1:] / np.linalg.norm(points[:, 1:], axis=1, keepdims=True)
            taper = np.concatenate([[0.0, 0.0], fraction])
            radii = 4.4 + 2.0 * np.minimum(taper * 3.0, 1.0)
            if floating:
                radii *= 1.0 - 0.45 * taper
            squash = 0.85 - 0.35 * np.minimum(taper * 2.0, 1.0)
            canvas.tube(points, radii, bone, normals=radial, squash=squash)
            if rib.cartilage is not None:
                join_angle, join_z = rib.cartilage
                steps = np.linspace(0.0, 1.0, 6)
                cartilage = [
                    _CAVITY.point(
                        float(heights[-1] + (join_z - heights[-1]) * t),
                        float(rib.end + (join_angle - rib.end) * t),
                        side,
                        3.5,
                    )
                    for t in steps
                ]
                normals = np.array(cartilage) * np.array([0.0, 1.0, 1.0])
                canvas.tube(
                    cartilage, [5.0] * 6, [(0.0, CARTILAGE_HU)], normals=normals, squash=[0.75] * 6
                )
    # Sternum (body, then the xiphoid) just in front of the cavity.
    front = _over((_CAVITY.b_front,), 7.5, -1.0)
    canvas.column((124.0, 400.0), (front, 0.0), (6.5, 15.0), CORTICAL_BONE_HU - 50.0, exponent=2.4)
    canvas.column(
        (125.5, 400.0), (front, 0.0), (4.8, 13.2), CANCELLOUS_BONE_HU - 50.0, exponent=2.4
    )
    canvas.column(
        (102.0, 124.0), (front, 0.0), (3.5, ((102, 4.0), (124, 8.0))), CORTICAL_BONE_HU - 150.0
    )


def _finish(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Noise, then a short blur along each axis: partial volume at the edges and the blotchy,
    correlated texture of reconstructed CT noise, σ ≈ 10 HU after the blur.

    The blur is [1 2 1]/4 for voxels up to 1.5 mm and lighter for coarser ones, so that it
    spans about a millimetre or two whatever the grid and thin bone survives on coarse grids.
    """
    volume = canvas.volume
    weights = [0.25 * min(1.0, max(0.3, 1.5 / size)) for size in canvas.voxel]
    spread = math.prod(math.sqrt((1 - 2 * w) ** 2 + 2 * w**2) for w in weights)
    noise = rng.standard_normal(volume.shape, dtype=np.float32)
    noise *= np.float32(10.0 / spread)
    volume += noise
    del noise
    for axis, weight in enumerate(weights):
        _blur(volume, (axis,), weight)


def _blur(volume: Float32Array, axes: Sequence[int], weight: float = 0.25) -> None:
    """A [w, 1 − 2w, w] blur along each of ``axes``, in place (the outermost planes are
    kept)."""
    for axis in axes:
        view = np.moveaxis(volume, axis, 0)
        if view.shape[0] < 3:
            continue
        neighbours = view[:-2] + view[2:]
        neighbours *= np.float32(weight)
        inner = view[1:-1]
        inner *= np.float32(1.0 - 2.0 * weight)
        inner += neighbours


# --- cardiac cine MR ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Heart:
    """Short-axis heart geometry per phase and slice (mm)."""

    lv_inner: FloatArray  # [t, k] endocardial radius
    lv_outer: FloatArray  # [t, k] epicardial radius
    rv_scale: FloatArray  # [t, k] RV semi-axis factor
    depth: FloatArray  # [k] 0 at the base to 1 at the apex


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
    return _Heart(lv_inner=inner, lv_outer=outer, rv_scale=rv, depth=depth)


def _cine_plane(
    matrix: tuple[int, int], spacing: tuple[float, float, float]
) -> tuple[FloatArray, FloatArray]:
    """In-plane coordinates in mm (x across columns, y down rows), centred on the image."""
    rows, columns = matrix
    y = (np.arange(rows, dtype=np.float64) - (rows - 1) / 2)[:, None] * spacing[1]
    x = (np.arange(columns, dtype=np.float64) - (columns - 1) / 2)[None, :] * spacing[2]
    return x, y


# The LV centre in the short-axis plane (mm right of and below the image centre), and the RV
# ellipse relative to it: centred towards the septum so that, with the LV cut out, it wraps
# round the septum as a crescent.
_LV_CENTRE = (12.0, 6.0)
_RV_OFFSET = (-22.0, -3.0)
_RV_SEMI = (31.0, 48.0)
_RV_WALL = 3.0


@dataclass(frozen=True)
class _CineShapes:
    heart: _Heart
    lv_x: FloatArray  # [j, i] mm from the LV centre
    lv_y: FloatArray
    lv: FloatArray  # [j, i] elliptical radius from the LV centre
    rv: FloatArray  # [t, k, j, i] RV ellipse level (≤ 1 inside the cavity's ellipse)
    rv_semi: FloatArray  # [t, k, 1, 1] scale of the RV ellipse


def _cine_shapes(
    n_slices: int, n_phases: int, matrix: tuple[int, int], spacing: tuple[float, float, float]
) -> _CineShapes:
    heart = _heart(n_slices, n_phases)
    x, y = _cine_plane(matrix, spacing)
    lv_x, lv_y = x - _LV_CENTRE[0], y - _LV_CENTRE[1]
    lv = np.sqrt(lv_x**2 + (lv_y / 0.92) ** 2)
    scale = heart.rv_scale[:, :, None, None]
    rv = ((lv_x - _RV_OFFSET[0]) / (_RV_SEMI[0] * scale + 1e-6)) ** 2 + (
        (lv_y - _RV_OFFSET[1]) / (_RV_SEMI[1] * scale + 1e-6)
    ) ** 2
    return _CineShapes(heart, lv_x, lv_y, lv, rv, scale)


def cine_short_axis_labels(
    n_slices: int = 10,
    n_phases: int = 20,
    matrix: tuple[int, int] = (128, 128),
    spacing: tuple[float, float, float] = (8.0, 2.6, 2.6),
) -> npt.NDArray[np.uint8]:
    """Label map ``[t, k, j, i]`` of :func:`cine_short_axis_mr` (ACDC: 1 RV, 2 myocardium, 3 LV).

    Parameters are those of :func:`cine_short_axis_mr`. As in ACDC, the papillary muscles
    belong to the LV cavity and the thin RV free wall is left unlabelled.
    """
    return _cine_labels(_cine_shapes(n_slices, n_phases, matrix, spacing), matrix)


def _cine_labels(shapes: _CineShapes, matrix: tuple[int, int]) -> npt.NDArray[np.uint8]:
    heart = shapes.heart
    inner = heart.lv_inner[:, :, None, None]
    outer = heart.lv_outer[:, :, None, None]
    labels = np.zeros((*heart.lv_inner.shape, *matrix), dtype=np.uint8)
    # RV cavity: its ellipse less the LV epicardium (+2 mm), so the septum is LV myocardium.
    labels[(shapes.rv <= 1.0) & (shapes.lv > outer + 2.0)] = RIGHT_VENTRICLE
    labels[np.broadcast_to(shapes.lv <= outer, labels.shape)] = MYOCARDIUM
    labels[np.broadcast_to(shapes.lv <= inner, labels.shape)] = LEFT_VENTRICLE
    return labels


# bSSFP intensities (arbitrary units, 12 bits): blood and fat bright, muscle and liver grey.
_MR_BLOOD = 900.0
_MR_MUSCLE = 170.0
_MR_FAT = 650.0
_MR_SOFT = 260.0  # chest wall muscle
_MR_LIVER = 230.0
_MR_LUNG = 40.0
_MR_MARROW = 480.0


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
        uint16 intensities, RV on the image left and the anterior wall at the top: bright blood
        (~900) in the LV and the RV crescent, dark myocardium (~170) whose ring thickens as the
        cavity shrinks in systole, with two papillary muscles in the LV; the thin RV free wall;
        bright epicardial fat in the grooves; a chest of bright subcutaneous fat (~650), grey
        muscle, dark lungs (~40) wrapping round the heart, the liver under it towards the apex,
        the descending aorta and a vertebra behind; a gentle coil shading (brighter in front)
        and Rician noise. The heart narrows from base to apex, where the RV ends.
    """
    shapes = _cine_shapes(n_slices, n_phases, matrix, spacing)
    labels = _cine_labels(shapes, matrix)
    heart = shapes.heart
    x, y = _cine_plane(matrix, spacing)
    # The chest fills most of the field of view whatever its size; the heart keeps its size.
    a = min(150.0, 0.46 * matrix[1] * spacing[2])
    b = min(105.0, 0.42 * matrix[0] * spacing[1])
    body = (x / a) ** 2 + (y / b) ** 2
    background = np.where(body <= 1.0, _MR_FAT, 0.0)
    background = np.where(body <= 0.8, _MR_SOFT, background)
    # Mediastinum: fat in front of the heart, soft tissue elsewhere; lungs either side.
    mediastinum = (x / (0.5 * a)) ** 2 + ((y + 0.05 * b) / (0.62 * b)) ** 2 <= 1.0
    background = np.where(mediastinum, _MR_SOFT + 40.0, background)
    front = ((x + 0.05 * a) / (0.3 * a)) ** 2 + ((y + 0.45 * b) / (0.14 * b)) ** 2 <= 1.0
    background = np.where(front & mediastinum, _MR_FAT - 150.0, background)
    right_lung = ((x + 0.56 * a) / (0.32 * a)) ** 2 + ((y - 0.04 * b) / (0.62 * b)) ** 2 <= 1.0
    left_lung = ((x - 0.6 * a) / (0.28 * a)) ** 2 + ((y - 0.08 * b) / (0.6 * b)) ** 2 <= 1.0
    cavity = right_lung | left_lung | mediastinum
    background = np.where(right_lung | left_lung, _MR_LUNG, background)
    # The liver rises into the lower left towards the apex (static per slice, [k, j, i]).
    depth = heart.depth[:, None, None]
    liver = ((x + 35.0) / (30.0 + 60.0 * depth)) ** 2 + (
        (y - 0.7 * b) / (10.0 + 45.0 * depth)
    ) ** 2 <= 1.0
    static = np.where(liver & cavity, _MR_LIVER, background[None])
    spine = np.hypot(x - 4.0, y - 0.78 * b)
    static = np.where(spine <= 17.0, _MR_MARROW, static)
    static = np.where(spine <= 13.5, _MR_MARROW + 60.0, static)
    aorta = np.hypot(x - 30.0, y - (0.78 * b - 28.0)) <= 11.0
    static = np.where(aorta, 780.0, static)

    # Epicardial fat: round the heart and filling the grooves where the RV meets the LV.
    inner = heart.lv_inner[:, :, None, None]
    outer = heart.lv_outer[:, :, None, None]
    rv_wall = shapes.rv_semi > 0.0
    rv_outer = ((shapes.lv_x - _RV_OFFSET[0]) / (_RV_SEMI[0] * shapes.rv_semi + _RV_WALL)) ** 2 + (
        (shapes.lv_y - _RV_OFFSET[1]) / (_RV_SEMI[1] * shapes.rv_semi + _RV_WALL)
    ) ** 2 <= 1.0
    rv_outer &= rv_wall
    fat = (shapes.lv <= outer + 2.5) | (
        ((shapes.lv_x - _RV_OFFSET[0]) / (_RV_SEMI[0] * shapes.rv_semi + _RV_WALL + 6.0)) ** 2
        + ((shapes.lv_y - _RV_OFFSET[1]) / (_RV_SEMI[1] * shapes.rv_semi + _RV_WALL + 5.0)) ** 2
        <= 1.0
    )
    for angle in (-115.0, 120.0):  # anterior and inferior interventricular grooves
        gx = np.cos(np.radians(angle)) * (outer + 4.0)
        gy = np.sin(np.radians(angle)) * (outer + 4.0)
        fat |= np.hypot(shapes.lv_x - gx, shapes.lv_y - gy) <= 9.0 * shapes.rv_semi + 2.0
    image = np.where(fat, np.float32(_MR_FAT), static[None].astype(np.float32))
    image = np.where(rv_outer, np.float32(_MR_MUSCLE + 20.0), image)
    image = np.where(labels == MYOCARDIUM, np.float32(_MR_MUSCLE), image)
    blood = (labels == LEFT_VENTRICLE) | (labels == RIGHT_VENTRICLE)
    image = np.where(blood, np.float32(_MR_BLOOD), image)
    # Papillary muscles: anterolateral and posteromedial, on the LV wall, between base and
    # apex; they follow the wall in and out.
    middle = ((heart.depth > 0.15) & (heart.depth < 0.8))[None, :, None, None]
    for angle in (-40.0, 120.0):
        px = np.cos(np.radians(angle)) * 0.68 * inner
        py = np.sin(np.radians(angle)) * 0.68 * inner * 0.92
        papillary = np.hypot(shapes.lv_x - px, shapes.lv_y - py) <= 0.15 * inner + 1.0
        image = np.where(
            papillary & middle & (labels == LEFT_VENTRICLE), np.float32(_MR_MUSCLE + 30.0), image
        )
    # Receive-coil shading (brighter in front, where the coil lies) and a slight in-plane blur
    # for the partial volume of 2–3 mm pixels.
    image = image * (1.15 - 0.3 * np.clip((y + b) / (2.0 * b), 0.0, 1.0)).astype(np.float32)
    _blur(image, (2, 3))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((2, *labels.shape), dtype=np.float32) * 18.0
    magnitude = np.sqrt((image + noise[0]) ** 2 + noise[1] ** 2)
    intensities: npt.NDArray[np.uint16] = np.clip(np.rint(magnitude), 0, 4095).astype(np.uint16)
    return intensities
