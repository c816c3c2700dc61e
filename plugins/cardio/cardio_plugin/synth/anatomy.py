"""The synthetic heart and chest of one case: drawn from a seed, with analytic volumes.

The left ventricle lives in a *heart frame*: the origin is the endocardial apex at
end-diastole, ``z`` runs along the long axis towards the base, ``x`` points to the right
ventricle and ``y = z × x``. At each level ``z`` the endocardium is the curve

    r(θ) = R · ρ(z / L) · h(θ),   ρ(s) = sqrt(1 − (1 − s)^q),
    h(θ) = 1 + a2 cos 2(θ − φ2) + a3 cos 3(θ − φ3)

(a rounded apex, widest at the base plane z = L), so its volume has a closed form:
``π R² L · q / (q + 1) · (1 + (a2² + a3²) / 2)``. The epicardium is the same family with a
longer length (the apical wall) and a larger radius; the myocardium between them keeps its
volume over the cycle (muscle is incompressible), so the wall thickens as the cavity empties.
The apex stays still and the base descends towards it in systole (longitudinal shortening),
so at end-systole the basal slice may show the atrium instead of the ventricle.

The right ventricle is a crescent on the epicardium: for |θ| ≤ Θ its cavity runs from the
epicardium outwards by ``T0 · τ(z) · cos(π θ / 2Θ)^p``, with ``τ`` tapering to its apex, which
lies above the LV's. Its volume is a smooth double integral, computed by quadrature to a
fraction of a millilitre. Papillary muscles lie inside the LV cavity and belong to it (as in
the ACDC challenge's labels); the thin RV free wall is not labelled.

Everything is drawn from ``numpy.random.default_rng(seed)``: a case is a pure function of its
seed and of the overrides (matrix, slices, phases) a caller fixes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Version of the generator; recorded with every trained model. Bump it whenever a drawn case
#: changes for the same seed.
GENERATOR_VERSION = "1.0.0"

#: Myocardial density used for the mass (g/ml).
MYOCARDIAL_DENSITY = 1.05


def _unit(vector: npt.ArrayLike) -> FloatArray:
    v = np.asarray(vector, dtype=np.float64)
    return v / np.linalg.norm(v)


def _rotation(axis: FloatArray, angle: float) -> FloatArray:
    """Rodrigues' rotation matrix about ``axis`` by ``angle`` radians."""
    k = _unit(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def _random_tilt(rng: np.random.Generator, vector: FloatArray, max_degrees: float) -> FloatArray:
    """``vector`` turned by up to ``max_degrees`` about a random axis perpendicular to it."""
    helper = rng.normal(size=3)
    axis = np.cross(vector, helper)
    angle = math.radians(rng.uniform(0.0, max_degrees))
    return _rotation(axis, angle) @ vector


@dataclass(frozen=True)
class Timing:
    """The cardiac cycle as the fraction of the stroke volume in the ventricle (1 at ED)."""

    end_systole: float  # cycle fraction of end-systole
    rapid_filling: float  # duration of rapid filling (cycle fraction)
    early_fill: float  # share of the stroke volume refilled by rapid filling
    diastasis_gain: float  # share refilled during diastasis
    atrial_start: float  # cycle fraction where atrial contraction begins

    def fill(self, phi: npt.ArrayLike) -> FloatArray:
        """1 at end-diastole (φ = 0), 0 at end-systole, smooth and periodic in between."""
        phi = np.mod(np.asarray(phi, dtype=np.float64), 1.0)
        es, rapid, atrial = self.end_systole, self.rapid_filling, self.atrial_start
        plateau = self.early_fill + self.diastasis_gain
        out = np.empty_like(phi)
        systole = phi < es
        out[systole] = 0.5 * (1 + np.cos(np.pi * phi[systole] / es))
        early = (phi >= es) & (phi < es + rapid)
        out[early] = self.early_fill * 0.5 * (1 - np.cos(np.pi * (phi[early] - es) / rapid))
        middle = (phi >= es + rapid) & (phi < atrial)
        span = atrial - es - rapid
        out[middle] = self.early_fill + self.diastasis_gain * (phi[middle] - es - rapid) / span
        late = phi >= atrial
        out[late] = plateau + (1 - plateau) * 0.5 * (
            1 - np.cos(np.pi * (phi[late] - atrial) / (1 - atrial))
        )
        return out


@dataclass(frozen=True)
class HeartState:
    """The heart's shape at one moment (mm)."""

    length: float  # endocardial apex (z = 0) to the base plane
    radius: float  # endocardial radius at the base
    apical_wall: float  # myocardium below the endocardial apex
    epi_radius: float  # epicardial radius at the base
    rv_thickness: float  # largest radial depth of the RV cavity
    fill: float  # the fraction of the stroke volume present (1 at ED, 0 at ES)

    @property
    def epi_length(self) -> float:
        return self.length + self.apical_wall


@dataclass(frozen=True)
class Heart:
    """Shape parameters of the ventricles; lengths in mm, angles in radians."""

    apex: FloatArray  # LPS of the endocardial apex
    axes: FloatArray  # rows: e_x (towards the RV), e_y, e_z (apex to base), in LPS
    ejection_fraction: float
    edv_ml: float
    length_ed: float
    radius_ed: float
    apical_wall_ed: float
    myocardium_ml: float
    taper: float  # q of ρ(s)
    harmonics: tuple[float, float, float, float]  # a2, φ2, a3, φ3
    long_shortening: float  # base descent at ES as a fraction of the length
    timing: Timing
    rv_thickness_ed: float
    rv_span: float  # Θ
    rv_bluntness: float  # p
    rv_apex: float  # z of the RV apex (mm)
    rv_taper: float
    rv_base_offset: float  # RV top relative to the base plane (≤ 0)
    rv_wall: float
    rv_contraction: float  # k: RV depth scales by 1 − k (1 − fill)
    papillary: tuple[tuple[float, float, float, float, float], ...]  # θ, radial, r, z0, z1
    fat: float  # epicardial fat thickness (mm)
    la: tuple[float, float, float, float]  # θ, offset, radius, height of the left atrium
    ra: tuple[float, float, float]  # θ, radius, height of the right atrium
    aorta: tuple[float, float, float]  # θ, offset, radius of the aortic root
    atrial_wall: float = 2.0

    @property
    def shape_factor(self) -> float:
        """∫ h(θ)² dθ / 2π: how the harmonics enlarge the area of a circle."""
        a2, _, a3, _ = self.harmonics
        return 1.0 + (a2 * a2 + a3 * a3) / 2.0

    def _volume_constant(self) -> float:
        return math.pi * self.shape_factor * self.taper / (self.taper + 1.0)

    def state(self, phi: float) -> HeartState:
        """The heart at cycle fraction ``phi`` (0 = end-diastole)."""
        fill = float(self.timing.fill(np.array([phi]))[0])
        esv = self.edv_ml * (1.0 - self.ejection_fraction)
        volume = (esv + (self.edv_ml - esv) * fill) * 1000.0  # mm³
        length = self.length_ed * (1.0 - self.long_shortening * (1.0 - fill))
        radius = math.sqrt(volume / (self._volume_constant() * length))
        apical = self.apical_wall_ed * (1.0 + 0.6 * self.ejection_fraction * (1.0 - fill))
        outer = (volume + self.myocardium_ml * 1000.0) / (
            self._volume_constant() * (length + apical)
        )
        rv = self.rv_thickness_ed * (1.0 - self.rv_contraction * (1.0 - fill))
        return HeartState(length, radius, apical, math.sqrt(outer), rv, fill)

    # --- analytic volumes ---------------------------------------------------------------

    def lv_ml(self, state: HeartState) -> float:
        """LV cavity (papillary muscles included), closed form."""
        return self._volume_constant() * state.radius**2 * state.length / 1000.0

    def epicardium_ml(self, state: HeartState) -> float:
        return self._volume_constant() * state.epi_radius**2 * state.epi_length / 1000.0

    def myocardium_ml_at(self, state: HeartState) -> float:
        return self.epicardium_ml(state) - self.lv_ml(state)

    def rv_top(self, state: HeartState) -> float:
        return state.length + self.rv_base_offset

    def rv_ml(self, state: HeartState, n_z: int = 200, n_theta: int = 361) -> float:
        """RV cavity by quadrature of ∫∫ (r_e T + T² / 2) dθ dz (exact to ~0.1 ml)."""
        top = self.rv_top(state)
        if top <= self.rv_apex:
            return 0.0
        z = np.linspace(self.rv_apex, top, n_z)
        theta = np.linspace(-self.rv_span, self.rv_span, n_theta)
        r_e = self.epicardial_radius(state, z[:, None], theta[None, :])
        depth = self.rv_depth(state, z[:, None], theta[None, :])
        area = np.trapezoid(r_e * depth + depth * depth / 2.0, theta, axis=1)
        return float(np.trapezoid(area, z)) / 1000.0

    # --- shapes (broadcasting over arrays of z and θ) -----------------------------------

    def harmonic(self, theta: npt.ArrayLike) -> FloatArray:
        a2, p2, a3, p3 = self.harmonics
        theta = np.asarray(theta)
        return 1.0 + a2 * np.cos(2.0 * (theta - p2)) + a3 * np.cos(3.0 * (theta - p3))

    def profile(self, s: npt.ArrayLike, taper: float | None = None) -> FloatArray:
        """ρ(s) on [0, 1] (0 outside below, 1 above)."""
        q = self.taper if taper is None else taper
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
        return np.sqrt(1.0 - (1.0 - s) ** q)

    def endocardial_radius(
        self, state: HeartState, z: npt.ArrayLike, theta: npt.ArrayLike
    ) -> FloatArray:
        return state.radius * self.profile(np.asarray(z) / state.length) * self.harmonic(theta)

    def epicardial_radius(
        self, state: HeartState, z: npt.ArrayLike, theta: npt.ArrayLike, grow: float = 0.0
    ) -> FloatArray:
        """Epicardium, or with ``grow`` > 0 a surface ``grow`` mm outside it (apex included)."""
        wall = state.apical_wall + grow
        s = (np.asarray(z) + wall) / (state.length + wall)
        return (state.epi_radius + grow) * self.profile(s) * self.harmonic(theta)

    def rv_depth(self, state: HeartState, z: npt.ArrayLike, theta: npt.ArrayLike) -> FloatArray:
        """Radial depth of the RV cavity beyond the epicardium (0 outside the crescent)."""
        top = self.rv_top(state)
        z = np.asarray(z, dtype=np.float64)
        u = (z - self.rv_apex) / max(top - self.rv_apex, 1e-6)
        inside = (u >= 0.0) & (u <= 1.0)
        taper = np.sqrt(1.0 - (1.0 - np.clip(u, 0.0, 1.0)) ** self.rv_taper)
        theta = np.asarray(theta, dtype=np.float64)
        arc = np.cos(np.clip(np.abs(theta) / self.rv_span, 0.0, 1.0) * (np.pi / 2.0))
        arc = np.where(np.abs(theta) <= self.rv_span, np.maximum(arc, 0.0) ** self.rv_bluntness, 0)
        return np.where(inside, state.rv_thickness * taper * arc, 0.0)


@dataclass(frozen=True)
class Body:
    """The chest around the heart, in LPS mm (x left, y posterior, z superior)."""

    centre: tuple[float, float]  # x, y of the body's axis
    half_width: float
    half_depth: float
    fat: float
    muscle: float
    spine: tuple[float, float, float]  # x, y, radius of the vertebral body
    aorta: tuple[float, float, float]  # x, y, radius of the descending aorta
    mediastinum: tuple[float, float, float, float]  # x, y, half width, half depth
    diaphragm: tuple[float, float, float, float]  # top z, x, y of the dome top, dome radius
    liver_split: float  # x below which the abdomen under the diaphragm is liver


@dataclass(frozen=True)
class Acquisition:
    """The cine short-axis stack: its planes, matrix, timing and breath-holds."""

    rows: int
    columns: int
    pixel_spacing: float  # mm, square pixels
    n_slices: int
    slice_thickness: float
    slice_spacing: float
    n_phases: int
    rr_ms: float
    ed_index: int  # phase of end-diastole (the trigger may fall before it)
    row_direction: FloatArray  # LPS unit vector along increasing column index i
    column_direction: FloatArray  # along increasing row index j
    origin: FloatArray  # LPS of pixel (0, 0) of slice 0
    breath_offsets: FloatArray  # (n_slices, 3) LPS shift of the anatomy in each breath-hold

    @property
    def normal(self) -> FloatArray:
        n: FloatArray = np.cross(self.row_direction, self.column_direction)
        return n

    @property
    def affine(self) -> FloatArray:
        """(i, j, k) → LPS, as the DICOM loader builds it."""
        a = np.eye(4)
        a[:3, 0] = self.row_direction * self.pixel_spacing
        a[:3, 1] = self.column_direction * self.pixel_spacing
        a[:3, 2] = self.normal * self.slice_spacing
        a[:3, 3] = self.origin
        return a

    @property
    def trigger_times(self) -> tuple[float, ...]:
        return tuple(round(t * self.rr_ms / self.n_phases, 2) for t in range(self.n_phases))

    def cycle_fraction(self, phase: int) -> float:
        """Cycle fraction of ``phase`` counted from end-diastole."""
        return ((phase - self.ed_index) % self.n_phases) / self.n_phases


@dataclass(frozen=True)
class Case:
    """One synthetic subject and its cine short-axis acquisition."""

    seed: int
    heart: Heart
    body: Body
    acquisition: Acquisition
    height_m: float
    weight_kg: float
    overrides: dict[str, float] = field(default_factory=dict)

    def state(self, phase: int) -> HeartState:
        return self.heart.state(self.acquisition.cycle_fraction(phase))

    def analytic_volumes(self) -> dict[str, FloatArray]:
        """Per phase: LV cavity, LV myocardium and RV cavity (ml) of the continuous model."""
        states = [self.state(t) for t in range(self.acquisition.n_phases)]
        return {
            "lv_ml": np.array([self.heart.lv_ml(s) for s in states]),
            "myo_ml": np.array([self.heart.myocardium_ml_at(s) for s in states]),
            "rv_ml": np.array([self.heart.rv_ml(s) for s in states]),
        }


# --- drawing a case ---------------------------------------------------------------------------


def _draw_timing(rng: np.random.Generator) -> Timing:
    es = rng.uniform(0.28, 0.42)
    rapid = rng.uniform(0.12, 0.22)
    atrial = rng.uniform(max(0.78, es + rapid + 0.08), 0.9)
    return Timing(es, rapid, rng.uniform(0.55, 0.85), rng.uniform(0.0, 0.08), atrial)


def _solve_rv_contraction(heart: Heart, target_ef: float) -> float:
    """The RV contraction k whose end-systolic RV volume gives ``target_ef`` (bisection)."""
    ed = heart.state(0.0)
    es = heart.state(heart.timing.end_systole)
    edv = heart.rv_ml(ed, 120, 181)
    low, high = 0.0, 0.95
    for _ in range(30):
        k = 0.5 * (low + high)
        shrunk = replace(es, rv_thickness=heart.rv_thickness_ed * (1.0 - k))
        ef = 1.0 - heart.rv_ml(shrunk, 120, 181) / edv
        if ef < target_ef:
            low = k
        else:
            high = k
    return 0.5 * (low + high)


def _draw_heart(rng: np.random.Generator, apex: FloatArray, axes: FloatArray) -> Heart:
    ef = rng.uniform(0.15, 0.75)
    # Failing ventricles dilate: the lower the EF, the larger and longer the cavity.
    radius = float(np.clip(rng.uniform(20.0, 28.0) + (0.55 - ef) * 20.0, 17.0, 38.0))
    length = float(np.clip(rng.uniform(70.0, 98.0) + (0.55 - ef) * 20.0, 62.0, 115.0))
    taper = rng.uniform(1.6, 2.6)
    harmonics = (
        rng.uniform(0.0, 0.08),
        rng.uniform(0, np.pi),
        rng.uniform(0.0, 0.04),
        rng.uniform(0, 2 * np.pi / 3),
    )
    wall = rng.uniform(11.0, 15.0) if rng.random() < 0.15 else rng.uniform(6.0, 11.0)
    apical = wall * rng.uniform(0.55, 0.85)
    provisional = Heart(
        apex=apex,
        axes=axes,
        ejection_fraction=ef,
        edv_ml=0.0,
        length_ed=length,
        radius_ed=radius,
        apical_wall_ed=apical,
        myocardium_ml=0.0,
        taper=taper,
        harmonics=harmonics,
        long_shortening=float(np.clip(rng.uniform(0.05, 0.16) * ef / 0.6, 0.02, 0.2)),
        timing=_draw_timing(rng),
        rv_thickness_ed=rng.uniform(16.0, 32.0),
        rv_span=math.radians(rng.uniform(60.0, 95.0)),
        rv_bluntness=rng.uniform(0.5, 0.9),
        rv_apex=length * rng.uniform(0.12, 0.35),
        rv_taper=rng.uniform(1.5, 2.5),
        rv_base_offset=-rng.uniform(0.0, 8.0),
        rv_wall=rng.uniform(2.0, 4.0),
        rv_contraction=0.0,
        papillary=tuple(
            (
                math.pi + sign * math.radians(rng.uniform(40.0, 65.0)),
                rng.uniform(0.5, 0.72),
                rng.uniform(2.5, 5.0),
                rng.uniform(0.15, 0.3),
                rng.uniform(0.6, 0.8),
            )
            for sign in (-1.0, 1.0)
        ),
        fat=rng.uniform(0.0, 7.0),
        la=(
            math.pi + rng.uniform(-0.5, 0.5),
            rng.uniform(0.0, 0.4) * radius,
            rng.uniform(16.0, 23.0),
            rng.uniform(25.0, 40.0),
        ),
        ra=(rng.uniform(-0.3, 0.5), rng.uniform(16.0, 24.0), rng.uniform(25.0, 40.0)),
        aorta=(rng.uniform(0.5, 0.9), 0.55 * radius, rng.uniform(10.0, 14.0)),
    )
    constant = provisional._volume_constant()
    edv = constant * radius**2 * length / 1000.0
    epi = constant * (radius + wall) ** 2 * (length + apical) / 1000.0
    heart = replace(provisional, edv_ml=edv, myocardium_ml=epi - edv)
    rv_ef = float(np.clip(ef + rng.normal(0.05, 0.08), 0.15, 0.75))
    return replace(heart, rv_contraction=_solve_rv_contraction(heart, rv_ef))


def _draw_body(rng: np.random.Generator, apex: FloatArray) -> Body:
    half_width = rng.uniform(135.0, 185.0)
    half_depth = rng.uniform(95.0, 130.0)
    fat = rng.uniform(4.0, 28.0)
    muscle = rng.uniform(8.0, 18.0)
    inner_depth = half_depth - fat - muscle
    spine_y = inner_depth - rng.uniform(20.0, 28.0)
    return Body(
        centre=(0.0, 0.0),
        half_width=half_width,
        half_depth=half_depth,
        fat=fat,
        muscle=muscle,
        spine=(rng.uniform(-5.0, 5.0), spine_y, rng.uniform(15.0, 20.0)),
        aorta=(rng.uniform(14.0, 28.0), spine_y - rng.uniform(22.0, 32.0), rng.uniform(9.0, 14.0)),
        mediastinum=(rng.uniform(-8.0, 8.0), spine_y - 35.0, rng.uniform(18.0, 30.0), 40.0),
        diaphragm=(
            float(apex[2]) + rng.uniform(-15.0, 5.0),
            float(apex[0]) * 0.4,
            float(apex[1]) + 40.0,
            rng.uniform(180.0, 300.0),
        ),
        liver_split=rng.uniform(-10.0, 30.0),
    )


def _heart_axes(rng: np.random.Generator) -> FloatArray:
    """The heart frame in LPS: the apex lies left, anterior and inferior of the base."""
    to_apex = _random_tilt(rng, _unit([0.6, -0.5, -0.6]), 18.0)
    e_z = -to_apex
    towards_rv = np.array([-1.0, -1.0, 0.0]) / math.sqrt(2.0)  # right and anterior
    e_x = _unit(towards_rv - (towards_rv @ e_z) * e_z)
    e_x = _rotation(e_z, math.radians(rng.uniform(-20.0, 20.0))) @ e_x
    e_y = np.cross(e_z, e_x)
    return np.stack([e_x, e_y, e_z])


def _fit_in_chest(heart: Heart, body: Body) -> FloatArray:
    """An apex position that keeps the heart 8 mm inside the ribcage (moved towards the axis)."""
    inner_w = body.half_width - body.fat - body.muscle - 8.0
    inner_d = body.half_depth - body.fat - body.muscle - 8.0
    ed = heart.state(0.0)
    z = np.linspace(-ed.apical_wall, ed.length, 12)
    theta = np.linspace(-np.pi, np.pi, 36, endpoint=False)
    radius = heart.epicardial_radius(ed, z[:, None], theta[None, :]) + heart.rv_depth(
        ed, z[:, None], theta[None, :]
    )
    local = np.stack(
        [radius * np.cos(theta), radius * np.sin(theta), np.broadcast_to(z[:, None], radius.shape)],
        axis=-1,
    ).reshape(-1, 3)
    offsets = local @ heart.axes  # LPS offsets from the apex
    apex = heart.apex.copy()
    for _ in range(60):
        points = offsets + apex
        level = (points[:, 0] / inner_w) ** 2 + (points[:, 1] / inner_d) ** 2
        if level.max() <= 1.0:
            break
        apex[:2] *= 0.93
    return apex


def _plan_slices(
    rng: np.random.Generator,
    heart: Heart,
    overrides: dict[str, float],
) -> tuple[int, float, float, float, float]:
    """Slices, thickness, spacing, and the heart-frame z of the first and last slice centres."""
    ed = heart.state(0.0)
    extent = ed.length + ed.apical_wall
    thickness = rng.uniform(6.0, 10.0)
    gap = rng.uniform(0.0, 0.25) * thickness if rng.random() < 0.6 else 0.0
    spacing = thickness + gap
    below = rng.uniform(0.2, 0.9) * spacing  # past the epicardial apex
    above = rng.uniform(-0.2, 0.8) * spacing  # past the ED base plane
    needed = extent + below + above
    if "n_slices" in overrides:
        n = int(overrides["n_slices"])
        spacing = max(spacing, needed / max(n - 1, 1))
    else:
        n = math.ceil(needed / spacing) + 1
        if n > 14:
            n = 14
            spacing = needed / (n - 1)
        n = max(n, 8)
    if spacing > 12.0 and "n_slices" not in overrides:
        spacing = 12.0
    thickness = min(thickness, spacing)
    span = (n - 1) * spacing
    first = -ed.apical_wall - below - max(0.0, (span - needed)) / 2.0
    return n, thickness, spacing, first, first + span


def draw_case(seed: int, **overrides: float) -> Case:
    """The case of ``seed``: anatomy, function and acquisition (see the module doc).

    ``overrides`` fix acquisition values instead of drawing them: ``rows``, ``columns``,
    ``pixel_spacing`` (mm), ``n_slices``, ``n_phases``, ``ed_index``. The anatomy of a seed does
    not depend on them.
    """
    rng = np.random.default_rng([seed, 0xCA4D10])
    axes = _heart_axes(rng)
    heart = _draw_heart(rng, np.zeros(3), axes)
    apex = np.array([rng.uniform(25.0, 60.0), rng.uniform(-80.0, -45.0), 0.0])
    body = _draw_body(rng, apex)
    heart = replace(heart, apex=_fit_in_chest(replace(heart, apex=apex), body))
    height = rng.uniform(1.5, 1.95)
    weight = rng.uniform(50.0, 110.0)

    # The acquisition draws from a stream of its own, so overrides leave the anatomy alone.
    acq_rng = np.random.default_rng([seed, 0x5A7])
    n, thickness, spacing, first, last = _plan_slices(acq_rng, heart, overrides)
    tilted = _random_tilt(acq_rng, heart.axes[2], 8.0)
    normal = tilted if acq_rng.random() < 0.5 else -tilted
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = _unit(np.cross(normal, helper))
    v = np.cross(normal, u)
    angle = acq_rng.uniform(0.0, 2 * np.pi)
    row = math.cos(angle) * u + math.sin(angle) * v
    column = np.cross(normal, row)
    pixel = float(overrides.get("pixel_spacing", acq_rng.uniform(1.2, 2.0)))
    fov_columns = acq_rng.uniform(300.0, 400.0)
    fov_rows = fov_columns * acq_rng.uniform(0.75, 1.0)
    columns = int(overrides.get("columns", round(fov_columns / pixel)))
    rows = int(overrides.get("rows", round(fov_rows / pixel)))
    n_phases = int(overrides.get("n_phases", acq_rng.integers(20, 31)))
    ed_choice = acq_rng.choice([0, 0, 0, 1, 2, -1, -2])
    ed_index = int(overrides.get("ed_index", ed_choice % n_phases))
    # Slice centres: along the tilted normal through a point of the long axis, with the field
    # of view's centre off the heart's axis as planned on a scout.
    axis_point = heart.apex + heart.axes[2] * (0.5 * (first + last))
    offset = acq_rng.uniform(0.0, 30.0) * (
        math.cos(a := acq_rng.uniform(0, 2 * np.pi)) * u + math.sin(a) * v
    )
    centre = axis_point + offset
    half_span = 0.5 * (n - 1) * spacing
    first_centre = centre - half_span * normal
    origin = first_centre - row * pixel * (columns - 1) / 2.0 - column * pixel * (rows - 1) / 2.0
    sigma = acq_rng.uniform(0.0, 2.5)
    breath = np.zeros((n, 3))
    breath[:, 2] = np.clip(acq_rng.normal(0.0, sigma, n), -3 * sigma, 3 * sigma)
    breath[:, 1] = np.clip(acq_rng.normal(0.0, 0.4 * sigma, n), -3 * sigma, 3 * sigma)
    acquisition = Acquisition(
        rows=rows,
        columns=columns,
        pixel_spacing=pixel,
        n_slices=n,
        slice_thickness=float(thickness),
        slice_spacing=float(spacing),
        n_phases=n_phases,
        rr_ms=float(acq_rng.uniform(700.0, 1150.0)),
        ed_index=ed_index,
        row_direction=row,
        column_direction=column,
        origin=origin,
        breath_offsets=breath,
    )
    return Case(seed, heart, body, acquisition, height, weight, dict(overrides))
