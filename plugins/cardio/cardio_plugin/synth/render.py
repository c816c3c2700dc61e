"""Images and label maps of a synthetic case, slice by slice and phase by phase.

Every voxel is sampled at ``sub × sub`` points in the plane and at points through the slice
thickness (a rectangular slice profile, one sample per 2 mm); each sample gets the tissue of the
anatomy at that point (the anatomy shifted by the slice's breath-hold offset). The image is the
mean of the samples' tissue intensities (partial volume); the label is the structure most
samples fall in (LV blood pool, papillary muscles included; LV myocardium; RV blood pool; or
none). Then, as an MR scanner and SynthSeg-style domain randomisation would: smooth texture per
tissue, a smooth multiplicative bias field, a slight blur, a random gamma, Rician noise and a
random scaling to 12-bit stored values.

Only the region around the heart changes from phase to phase; the rest of each slice is sampled
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from cardio_plugin import LV_BLOOD_POOL, LV_MYOCARDIUM, RV_BLOOD_POOL
from cardio_plugin.synth.anatomy import Body, Case, Heart, HeartState

FloatArray = npt.NDArray[np.float32]


class Tissue(IntEnum):
    AIR = 0
    BODY_FAT = 1
    MUSCLE = 2
    LUNG = 3
    LIVER = 4
    ABDOMEN = 5
    MARROW = 6
    VESSEL = 7
    MEDIASTINUM = 8
    PERICARDIUM = 9
    EPICARDIAL_FAT = 10
    ATRIAL_BLOOD = 11
    ATRIAL_WALL = 12
    RV_WALL = 13
    RV_BLOOD = 14
    MYOCARDIUM = 15
    LV_BLOOD = 16
    PAPILLARY = 17


N_TISSUES = len(Tissue)
#: The label of each tissue (0: not a labelled structure).
LABEL_OF_TISSUE = np.zeros(N_TISSUES, dtype=np.uint8)
LABEL_OF_TISSUE[[Tissue.LV_BLOOD, Tissue.PAPILLARY]] = LV_BLOOD_POOL
LABEL_OF_TISSUE[Tissue.MYOCARDIUM] = LV_MYOCARDIUM
LABEL_OF_TISSUE[Tissue.RV_BLOOD] = RV_BLOOD_POOL


@dataclass(frozen=True)
class Contrast:
    """How tissues look: drawn per case."""

    means: FloatArray  # per tissue, blood ≈ 1 in the bSSFP-like mode
    texture: FloatArray  # amplitude of the smooth texture per tissue
    texture_field: npt.NDArray[np.int64]  # which of the texture fields each tissue uses
    waves: FloatArray  # (fields, waves, 4): wave vector (rad/mm) and phase
    bias: FloatArray  # (10,) coefficients of the log-bias polynomial
    bias_centre: FloatArray  # LPS
    blur: float
    gamma: float
    noise: float
    scale: float


def draw_contrast(rng: np.random.Generator, centre: npt.ArrayLike) -> Contrast:
    """bSSFP-like intensities (blood and fat bright, muscle dark) with random values; one case
    in five gets SynthSeg-style random intensities per tissue instead, within what every cine
    sequence shows: air and lung dark, blood brighter than myocardium."""
    t = Tissue
    means = np.zeros(N_TISSUES)
    if rng.random() < 0.8:
        ranges = {
            t.AIR: (0.0, 0.02),
            t.BODY_FAT: (0.55, 1.0),
            t.MUSCLE: (0.12, 0.3),
            t.LUNG: (0.02, 0.1),
            t.LIVER: (0.18, 0.38),
            t.ABDOMEN: (0.15, 0.45),
            t.MARROW: (0.3, 0.6),
            t.VESSEL: (0.6, 1.0),
            t.MEDIASTINUM: (0.3, 0.8),
            t.PERICARDIUM: (0.35, 0.9),
            t.EPICARDIAL_FAT: (0.5, 1.0),
            t.ATRIAL_BLOOD: (0.65, 1.0),
            t.MYOCARDIUM: (0.1, 0.3),
            t.LV_BLOOD: (0.7, 1.0),
        }
        for tissue, (low, high) in ranges.items():
            means[tissue] = rng.uniform(low, high)
    else:
        means[:] = rng.uniform(0.0, 1.0, N_TISSUES)
        means[t.AIR] = rng.uniform(0.0, 0.03)
        means[t.LUNG] = rng.uniform(0.0, 0.15)
        # Keep the borders the task is about visible: blood against muscle (bright blood, as
        # in every cine sequence), muscle against what surrounds the heart.
        means[t.LV_BLOOD] = rng.uniform(0.5, 1.0)
        means[t.MYOCARDIUM] = rng.uniform(0.0, means[t.LV_BLOOD] - 0.3)
        for outside in (t.PERICARDIUM, t.EPICARDIAL_FAT, t.LUNG):
            while abs(means[outside] - means[t.MYOCARDIUM]) < 0.12:
                means[outside] = rng.uniform(0.0, 1.0)
        means[t.ATRIAL_BLOOD] = means[t.LV_BLOOD] * rng.uniform(0.9, 1.05)
    means[t.RV_BLOOD] = means[t.LV_BLOOD] * rng.uniform(0.85, 1.05)
    means[t.PAPILLARY] = means[t.MYOCARDIUM] * rng.uniform(0.9, 1.25)
    means[t.RV_WALL] = means[t.MYOCARDIUM] * rng.uniform(0.9, 1.2)
    means[t.ATRIAL_WALL] = means[t.MYOCARDIUM] * rng.uniform(0.9, 1.3)
    texture = rng.uniform(0.02, 0.08, N_TISSUES)
    texture[t.LUNG] = rng.uniform(0.1, 0.3)
    texture[[t.LV_BLOOD, t.RV_BLOOD, t.ATRIAL_BLOOD]] = rng.uniform(0.03, 0.12)
    n_fields, n_waves = 3, 12
    wavelength = rng.uniform(12.0, 60.0, (n_fields, n_waves))
    direction = rng.normal(size=(n_fields, n_waves, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    waves = np.concatenate(
        [
            direction * (2 * np.pi / wavelength)[..., None],
            rng.uniform(0, 2 * np.pi, (n_fields, n_waves, 1)),
        ],
        axis=-1,
    )
    return Contrast(
        means=means.astype(np.float32),
        texture=texture.astype(np.float32),
        texture_field=rng.integers(0, n_fields, N_TISSUES),
        waves=waves.astype(np.float32),
        bias=(rng.normal(size=10) * rng.uniform(0.0, 0.2)).astype(np.float32),
        bias_centre=np.asarray(centre, dtype=np.float32),
        blur=float(rng.uniform(0.0, 0.22)),
        gamma=float(rng.uniform(0.75, 1.35)),
        noise=float(rng.uniform(0.015, 0.08)),
        scale=float(rng.uniform(300.0, 2500.0)),
    )


# --- tissues at points ------------------------------------------------------------------------


def background_tissue(body: Body, points: FloatArray) -> npt.NDArray[np.uint8]:
    """Tissue of the chest without the heart at ``points`` (``[..., 3]`` LPS mm)."""
    x = points[..., 0] - body.centre[0]
    y = points[..., 1] - body.centre[1]
    z = points[..., 2]
    out = np.full(x.shape, Tissue.LUNG, dtype=np.uint8)

    def ellipse(half_width: float, half_depth: float) -> npt.NDArray[np.bool_]:
        return bool_((x / half_width) ** 2 + (y / half_depth) ** 2 <= 1.0)

    top, dome_x, dome_y, dome_radius = body.diaphragm
    below = z < top - ((x - dome_x) ** 2 + (y - dome_y) ** 2) / (2.0 * dome_radius)
    out[below] = np.where(x[below] < body.liver_split, Tissue.LIVER, Tissue.ABDOMEN)
    mx, my, mw, md = body.mediastinum
    out[((x - mx) / mw) ** 2 + ((y - my) / md) ** 2 <= 1.0] = Tissue.MEDIASTINUM
    ax, ay, ar = body.aorta
    out[(x - ax) ** 2 + (y - ay) ** 2 <= ar * ar] = Tissue.VESSEL
    sx, sy, sr = body.spine
    out[(x - sx) ** 2 + (y - sy) ** 2 <= sr * sr] = Tissue.MARROW
    inner_w = body.half_width - body.fat - body.muscle
    inner_d = body.half_depth - body.fat - body.muscle
    out[~ellipse(inner_w, inner_d)] = Tissue.MUSCLE
    out[~ellipse(body.half_width - body.fat, body.half_depth - body.fat)] = Tissue.BODY_FAT
    out[~ellipse(body.half_width, body.half_depth)] = Tissue.AIR
    return out


def bool_(array: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    return np.asarray(array, dtype=bool)


@dataclass(frozen=True)
class HeartPoints:
    """Sample points near the heart in heart-frame coordinates, with the shape terms that do
    not change over the cycle (float32, any shape)."""

    x: FloatArray
    y: FloatArray
    z: FloatArray
    r: FloatArray
    harmonic: FloatArray  # h(θ)
    rv_arc: FloatArray  # cos(π θ / 2Θ)^p inside the RV's span, else 0
    groove: FloatArray  # where epicardial fat gathers (1 at the RV insertions)

    def __getitem__(self, index: object) -> HeartPoints:
        return HeartPoints(
            *(getattr(self, name)[index] for name in self.__dataclass_fields__)  # type: ignore[index]
        )


def heart_points(heart: Heart, points: FloatArray) -> HeartPoints:
    local = (points - heart.apex.astype(np.float32)) @ heart.axes.T.astype(np.float32)
    x, y, z = local[..., 0], local[..., 1], local[..., 2]
    theta = np.arctan2(y, x)
    magnitude = np.abs(theta)
    arc = np.cos(np.clip(magnitude / heart.rv_span, 0.0, 1.0) * np.float32(np.pi / 2))
    arc = np.where(magnitude <= heart.rv_span, np.maximum(arc, 0) ** heart.rv_bluntness, 0)
    return HeartPoints(
        x,
        y,
        z,
        np.hypot(x, y),
        heart.harmonic(theta).astype(np.float32),
        arc.astype(np.float32),
        np.exp(-(((magnitude - heart.rv_span) / 0.35) ** 2)).astype(np.float32),
    )


def heart_bounds(heart: Heart) -> tuple[float, float, float]:
    """A cylinder (radius, z from, z to) in the heart frame holding the heart at every phase."""
    ed = heart.state(0.0)
    margin = heart.fat * 1.5 + 6.0
    radius = (ed.epi_radius + ed.rv_thickness) * max(heart.harmonic(np.linspace(0, 7, 64)))
    radius = max(radius + heart.rv_wall + margin, ed.epi_radius + heart.ra[1] + ed.rv_thickness)
    z_low = -heart.apical_wall_ed * 1.5 - margin
    z_high = ed.length + max(heart.la[3], heart.ra[2]) + 4.0
    return float(radius + 4.0), float(z_low), float(z_high)


def _profile(s: FloatArray, q: float) -> FloatArray:
    """ρ(s) of :meth:`Heart.profile` in float32."""
    one = np.float32(1.0)
    result: FloatArray = np.sqrt(one - (one - np.clip(s, 0.0, 1.0)) ** np.float32(q))
    return result


def heart_tissue(
    heart: Heart, state: HeartState, p: HeartPoints, out: npt.NDArray[np.uint8]
) -> None:
    """Paint the heart at phase ``state`` over the background tissues ``out`` (in place).

    The shapes are those of :class:`~cardio_plugin.synth.anatomy.Heart` (same formulas, in
    float32 and with the angular terms precomputed).
    """
    t = Tissue
    z, r, h = p.z, p.r, p.harmonic
    base = np.float32(state.length)
    q = heart.taper

    def epicardium(grow: FloatArray | float) -> FloatArray:
        wall = state.apical_wall + grow
        radius: FloatArray = (
            (state.epi_radius + grow) * _profile((z + wall) / (state.length + wall), q) * h
        )
        return radius

    top = heart.rv_top(state)
    u = (z - np.float32(heart.rv_apex)) / np.float32(max(top - heart.rv_apex, 1e-6))
    depth = (
        np.where(
            (u >= 0) & (u <= 1), np.float32(state.rv_thickness) * _profile(u, heart.rv_taper), 0
        ).astype(np.float32)
        * p.rv_arc
    )
    has_rv = depth > 0.3
    wall = np.where(has_rv, depth + np.float32(heart.rv_wall), np.float32(0.0))
    # Fat gathers in the grooves where the RV meets the LV and at the atrioventricular groove.
    fat = np.float32(heart.fat) * (
        0.5 + p.groove + 0.5 * np.clip((z - 0.7 * base) / (0.3 * base), 0, 1)
    )
    outer_fat = epicardium(fat) + wall
    out[(z <= base + 3.0) & (r <= outer_fat + 3.0)] = t.PERICARDIUM
    out[(z <= base + 1.0) & (r <= outer_fat)] = t.EPICARDIAL_FAT

    # Above the base plane: the atria and the aortic root.
    above = z > base
    if above.any():
        _atria(heart, state, p, above, out)

    epi = epicardium(0.0)
    below = z <= base
    out[below & has_rv & (r > epi) & (r <= epi + wall)] = t.RV_WALL
    out[below & (depth > 0) & (r > epi) & (r <= epi + depth)] = t.RV_BLOOD
    out[below & (r <= epi)] = t.MYOCARDIUM
    endo = np.float32(state.radius) * _profile(z / base, q) * h
    cavity = below & (z >= 0) & (r <= endo)
    out[cavity] = t.LV_BLOOD
    if not cavity.any():
        return
    for angle, radial, radius, z0, z1 in heart.papillary:
        # The papillary muscles thicken a little as the cavity empties.
        size = radius * (1.0 + 0.3 * (1.0 - state.fill))
        h_angle = float(heart.harmonic(angle))
        centre = radial * np.float32(state.radius * h_angle) * _profile(z / base, q)
        along = (z / base - 0.5 * (z0 + z1)) / (0.5 * (z1 - z0))
        reach = size * np.sqrt(np.clip(1.0 - along**2, 0.0, 1.0))
        dx = p.x - centre * np.float32(np.cos(angle))
        dy = p.y - centre * np.float32(np.sin(angle))
        out[cavity & (dx * dx + dy * dy <= reach * reach)] = t.PAPILLARY


def _atria(
    heart: Heart,
    state: HeartState,
    p: HeartPoints,
    above: npt.NDArray[np.bool_],
    out: npt.NDArray[np.uint8],
) -> None:
    t = Tissue
    base = state.length
    w = heart.atrial_wall
    la_angle, la_offset, la_radius, la_height = heart.la
    ra_angle, ra_radius, ra_height = heart.ra
    ra_offset = state.epi_radius + 0.5 * state.rv_thickness
    ra_base = base + heart.rv_base_offset
    ao_angle, ao_offset, ao_radius = heart.aorta
    shapes = (
        (la_angle, la_offset, la_radius, base, la_height, t.ATRIAL_BLOOD),
        (ra_angle, ra_offset, ra_radius, ra_base, ra_height, t.ATRIAL_BLOOD),
    )
    for angle, offset, radius, start, height, tissue in shapes:
        dx = p.x - offset * np.cos(angle)
        dy = p.y - offset * np.sin(angle)
        level = (p.z - start - 0.4 * height) / (0.6 * height)
        planar = dx * dx + dy * dy
        inside = above & (p.z > start)
        out[inside & (planar / (radius + w) ** 2 + level**2 <= 1.0)] = t.ATRIAL_WALL
        out[inside & (planar / radius**2 + level**2 <= 1.0)] = tissue
    dx = p.x - ao_offset * np.cos(ao_angle)
    dy = p.y - ao_offset * np.sin(ao_angle)
    planar = dx * dx + dy * dy
    out[above & (planar <= (ao_radius + 1.5) ** 2)] = t.ATRIAL_WALL
    out[above & (planar <= ao_radius**2)] = t.VESSEL


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """Stored values and labels of the phases and slices asked for."""

    stored: npt.NDArray[np.uint16]  # [t, k, j, i]
    labels: npt.NDArray[np.uint8]  # [t, k, j, i]
    phases: tuple[int, ...]
    slices: tuple[int, ...]


def _texture(contrast: Contrast, points: FloatArray) -> FloatArray:
    """The smooth texture fields at ``points`` ``[..., 3]``: ``[fields, ...]``, about ±1."""
    waves = contrast.waves
    phase = (
        np.einsum("...c,fwc->fw...", points, waves[..., :3])
        + waves[..., 3][(..., *([None] * (points.ndim - 1)))]
    )
    field: FloatArray = np.cos(phase).sum(axis=1) * np.float32(np.sqrt(2.0 / waves.shape[1]))
    return field


def _bias(contrast: Contrast, points: FloatArray) -> FloatArray:
    q = (points - contrast.bias_centre) / np.float32(200.0)
    x, y, z = q[..., 0], q[..., 1], q[..., 2]
    c = contrast.bias
    terms = c[0] * x + c[1] * y + c[2] * z + c[3] * x * x + c[4] * y * y + c[5] * z * z
    terms = terms + c[6] * x * y + c[7] * y * z + c[8] * x * z + c[9] * x * y * z
    result: FloatArray = np.exp(terms).astype(np.float32)
    return result


def _fractions(
    tissue: npt.NDArray[np.uint8], n_z: int, rows: int, columns: int, sub: int
) -> FloatArray:
    """Per pixel, the fraction of its samples in each tissue: ``[rows, columns, tissues]``."""
    pixel = np.arange(rows * columns, dtype=np.int64).reshape(rows, 1, columns, 1)
    pixel = np.broadcast_to(pixel, (n_z, rows, sub, columns, sub))
    keys = pixel.ravel() * N_TISSUES + tissue.reshape(n_z, rows, sub, columns, sub).ravel()
    counts = np.bincount(keys, minlength=rows * columns * N_TISSUES).astype(np.float32)
    return counts.reshape(rows, columns, N_TISSUES) / np.float32(n_z * sub * sub)


def _labels(fractions: FloatArray) -> npt.NDArray[np.uint8]:
    """The structure most samples fall in. Ties (frequent: a voxel has an even number of
    samples) are broken by a fixed pseudo-random order per voxel, so that boundaries are
    neither grown nor shrunk on average."""
    grouped = np.zeros((*fractions.shape[:2], 4), dtype=np.float32)
    for label in range(1, 4):
        grouped[..., label] = fractions[..., label == LABEL_OF_TISSUE].sum(axis=-1)
    grouped[..., 0] = 1.0 - grouped[..., 1:].sum(axis=-1)
    grouped += np.random.default_rng(0).uniform(0.0, 1e-4, grouped.shape).astype(np.float32)
    result: npt.NDArray[np.uint8] = grouped.argmax(axis=-1).astype(np.uint8)
    return result


def _blur(image: FloatArray, weight: float) -> FloatArray:
    if weight <= 0:
        return image
    out = image.copy()
    for axis in (0, 1):
        padded = np.pad(out, [(1, 1) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        lower = padded[:-2] if axis == 0 else padded[:, :-2]
        upper = padded[2:] if axis == 0 else padded[:, 2:]
        out = (1.0 - 2.0 * weight) * out + weight * (lower + upper)
    return out.astype(np.float32)


def render(
    case: Case,
    phases: tuple[int, ...] | None = None,
    slices: tuple[int, ...] | None = None,
    *,
    sub: int = 2,
    contrast: Contrast | None = None,
    noise_seed: int | None = None,
) -> Rendered:
    """Render ``phases`` × ``slices`` of ``case`` (all by default).

    The contrast and the noise are drawn from the case's seed unless given, so the same call
    gives the same voxels.
    """
    acq = case.acquisition
    phases = tuple(range(acq.n_phases)) if phases is None else tuple(phases)
    slices = tuple(range(acq.n_slices)) if slices is None else tuple(slices)
    rng = np.random.default_rng([case.seed, 0xC0175A57])
    if contrast is None:
        centre = case.heart.apex + case.heart.axes[2] * case.heart.length_ed / 2
        contrast = draw_contrast(rng, centre)
    noise_rng = np.random.default_rng(
        [case.seed, 0x0153] if noise_seed is None else [noise_seed, 0x0153]
    )
    rows, columns, spacing = acq.rows, acq.columns, acq.pixel_spacing
    n_z = max(3, round(acq.slice_thickness / 2.0))
    depths = (np.arange(n_z) + 0.5) / n_z * acq.slice_thickness - acq.slice_thickness / 2
    fine = (np.arange(sub) + 0.5) / sub - 0.5
    jj = (np.arange(rows)[:, None] + fine[None, :]).ravel().astype(np.float32)
    ii = (np.arange(columns)[:, None] + fine[None, :]).ravel().astype(np.float32)
    row_dir = acq.row_direction.astype(np.float32)
    col_dir = acq.column_direction.astype(np.float32)
    normal = acq.normal.astype(np.float32)
    plane = (ii[None, :, None] * spacing * row_dir + jj[:, None, None] * spacing * col_dir).astype(
        np.float32
    )  # [rows·sub, columns·sub, 3]
    centres = (
        np.arange(columns, dtype=np.float32)[None, :, None] * spacing * row_dir
        + np.arange(rows, dtype=np.float32)[:, None, None] * spacing * col_dir
    )
    bound_radius, bound_low, bound_high = heart_bounds(case.heart)
    states = {t: case.state(t) for t in phases}
    stored = np.zeros((len(phases), len(slices), rows, columns), dtype=np.uint16)
    labels = np.zeros((len(phases), len(slices), rows, columns), dtype=np.uint8)
    means = contrast.means
    for k_out, k in enumerate(slices):
        origin = (acq.origin + k * acq.slice_spacing * acq.normal - acq.breath_offsets[k]).astype(
            np.float32
        )
        points = (
            origin + plane[None] + (depths.astype(np.float32)[:, None, None, None] * normal)
        )  # [n_z, rows·sub, columns·sub, 3]
        static = background_tissue(case.body, points)
        # Pixels whose samples may meet the heart at some phase: a box around them.
        local = (points - case.heart.apex.astype(np.float32)) @ case.heart.axes.T.astype(np.float32)
        radial = np.hypot(local[..., 0], local[..., 1])
        near = (
            (radial <= bound_radius) & (local[..., 2] >= bound_low) & (local[..., 2] <= bound_high)
        ).any(axis=0)
        pixel_near = near.reshape(rows, sub, columns, sub).any(axis=(1, 3))
        pixel_points = origin + centres
        textured = means * (
            1.0
            + contrast.texture
            * np.moveaxis(_texture(contrast, pixel_points), 0, -1)[..., contrast.texture_field]
        )
        bias = _bias(contrast, pixel_points + acq.breath_offsets[k].astype(np.float32))
        static_fractions = _fractions(static, n_z, rows, columns, sub)
        static_image = np.einsum("jit,jit->ji", static_fractions, textured)
        static_labels = _labels(static_fractions)
        if pixel_near.any():
            js, is_ = np.nonzero(pixel_near)
            j0, j1 = max(js.min() - 1, 0), min(js.max() + 2, rows)
            i0, i1 = max(is_.min() - 1, 0), min(is_.max() + 2, columns)
        else:
            j0 = j1 = i0 = i1 = 0
        box = (slice(None), slice(j0 * sub, j1 * sub), slice(i0 * sub, i1 * sub))
        box_points = heart_points(case.heart, points[box])
        box_static = static[box]
        for t_out, t in enumerate(phases):
            image = static_image.copy()
            label = static_labels.copy()
            if j1 > j0 and i1 > i0:
                tissue = box_static.copy()
                heart_tissue(case.heart, states[t], box_points, tissue)
                fractions = _fractions(tissue, n_z, j1 - j0, i1 - i0, sub)
                image[j0:j1, i0:i1] = np.einsum("jit,jit->ji", fractions, textured[j0:j1, i0:i1])
                label[j0:j1, i0:i1] = _labels(fractions)
            image = _blur(image * bias, contrast.blur)
            image = np.maximum(image, 0.0) ** np.float32(contrast.gamma)
            sigma = np.float32(contrast.noise)
            real = image + noise_rng.normal(0.0, 1.0, image.shape).astype(np.float32) * sigma
            imaginary = noise_rng.normal(0.0, 1.0, image.shape).astype(np.float32) * sigma
            magnitude = np.sqrt(real * real + imaginary * imaginary)
            stored[t_out, k_out] = np.clip(np.rint(magnitude * contrast.scale), 0, 4095)
            labels[t_out, k_out] = label
    return Rendered(stored, labels, phases, slices)
