"""Transfer functions of the 3D view: what each value looks like, kept apart from VTK.

A preset gives colour and opacity points (value, …) and its shading. CT presets are in Hounsfield
units; "mip" is placed on the layer's window (0 = window bottom, 1 = window top) and "mr-default" on
a robust range of the data (0 = the low percentile, 1 = the high one), as MR intensities have no
absolute scale.

Opacities are per millimetre of ray (the view keeps the scalar opacity unit distance at 1 mm), so a
preset looks the same on a 0.6 mm and a 3 mm series.

Values: the colours follow 3D Slicer's volume rendering presets
(``Modules/Loadable/VolumeRendering/Resources/presets.xml``, cited per preset), whose shading
(ambient 0.1, diffuse 0.9, specular 0.2, specular power 10) is used for the shaded CT presets; the
opacity curves are ours, set where the text says.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Colour = tuple[float, float, float]


class Blend(StrEnum):
    COMPOSITE = "composite"  # front-to-back alpha compositing (volume rendering proper)
    MAXIMUM = "maximum"  # maximum intensity projection


class Scale(StrEnum):
    """How a preset's point positions are read."""

    HU = "hu"  # absolute values (CT)
    WINDOW = "window"  # 0..1 across the layer's display window
    DATA = "data"  # 0..1 across the data's robust range (low..high percentile)


@dataclass(frozen=True, slots=True)
class Shading:
    ambient: float
    diffuse: float
    specular: float
    specular_power: float


#: 3D Slicer's "CT-Bone", "CT-Muscle" and "CT-Cardiac" shading.
SLICER_CT_SHADING = Shading(ambient=0.1, diffuse=0.9, specular=0.2, specular_power=10.0)


@dataclass(frozen=True, slots=True)
class VolumePreset:
    name: str
    description: str
    blend: Blend
    scale: Scale
    #: (position, r, g, b), positions increasing.
    colour: tuple[tuple[float, float, float, float], ...]
    #: (position, opacity per mm), positions increasing.
    opacity: tuple[tuple[float, float], ...]
    shading: Shading | None
    #: Only meaningful on Hounsfield units; other modalities fall back to "mr-default".
    ct_only: bool

    def __post_init__(self) -> None:
        for kind, points in (("colour", self.colour), ("opacity", self.opacity)):
            positions = [p[0] for p in points]
            if len(positions) < 2 or positions != sorted(positions):
                raise ValueError(f"{self.name}: {kind} points need ≥ 2 increasing positions")

    def colour_points(self, low: float, high: float) -> list[tuple[float, Colour]]:
        """Colour points in data values; ``low``/``high`` place relative presets."""
        return [(self._place(p, low, high), (r, g, b)) for p, r, g, b in self.colour]

    def opacity_points(self, low: float, high: float) -> list[tuple[float, float]]:
        return [(self._place(p, low, high), a) for p, a in self.opacity]

    def _place(self, position: float, low: float, high: float) -> float:
        if self.scale is Scale.HU:
            return position
        return low + position * max(high - low, 1e-6)


# CT bone: Slicer's "CT-Bone" colours (dark red at −16 HU, (0.91, 0.82, 0.55) at 641 HU, white at
# 3071 HU), a little brightened; its opacity ramp starts at ~150 HU as Slicer's "CT-Bones" does
# (0 at 152 HU), so fat, muscle and unenhanced organs are clear and bone (cancellous ≥ ~200 HU,
# cortex ≥ ~500 HU) stands alone. Contrast-filled vessels (≥ 200 HU) show faintly, as on any bone
# rendering of an enhanced CT.
CT_BONE = VolumePreset(
    name="ct-bone",
    description="Bone: opaque from ~150 HU, bone-white, shaded",
    blend=Blend.COMPOSITE,
    scale=Scale.HU,
    colour=(
        (-1024.0, 0.0, 0.0, 0.0),
        (150.0, 0.73, 0.25, 0.30),
        (300.0, 0.88, 0.66, 0.48),
        (641.0, 0.95, 0.88, 0.66),
        (1000.0, 1.0, 0.98, 0.92),
        (3071.0, 1.0, 1.0, 1.0),
    ),
    opacity=(
        (-1024.0, 0.0),
        (150.0, 0.0),
        (300.0, 0.08),
        (500.0, 0.45),
        (1000.0, 0.8),
        (3071.0, 0.85),
    ),
    shading=SLICER_CT_SHADING,
    ct_only=True,
)

# CT soft tissue: colours of Slicer's "CT-Muscle" / "CT-Chest-Contrast-Enhanced" (reddish brown
# (0.55, 0.25, 0.15), orange (0.88, 0.60, 0.29), near white (1, 0.94, 0.95) for dense contrast and
# bone), brightened for the low opacities here. Opacities are ours and low, as a torso is ~300 mm
# of soft tissue: skin and fat (−100 HU) get a trace, muscle (~40 HU) almost nothing, organ
# parenchyma above it (55–120 HU) a reddish body, enhanced vessels and kidney cortex
# (150–300 HU) light up, and bone is white.
CT_SOFT_TISSUE = VolumePreset(
    name="ct-soft-tissue",
    description="Soft tissue: faint skin and fat, reddish muscle and organs, bright contrast",
    blend=Blend.COMPOSITE,
    scale=Scale.HU,
    colour=(
        (-1024.0, 0.0, 0.0, 0.0),
        (-200.0, 0.55, 0.35, 0.25),
        (-100.0, 0.85, 0.68, 0.50),
        (20.0, 0.70, 0.32, 0.22),
        (60.0, 0.90, 0.45, 0.35),
        (120.0, 0.95, 0.52, 0.38),
        (180.0, 0.95, 0.65, 0.35),
        (300.0, 1.0, 0.82, 0.68),
        (420.0, 1.0, 0.94, 0.95),
        (3071.0, 1.0, 1.0, 1.0),
    ),
    opacity=(
        (-1024.0, 0.0),
        (-300.0, 0.0),
        (-150.0, 0.002),
        (-60.0, 0.002),
        (0.0, 0.0),
        (40.0, 0.001),
        (55.0, 0.02),
        (100.0, 0.04),
        (150.0, 0.12),
        (300.0, 0.35),
        (600.0, 0.6),
        (3071.0, 0.7),
    ),
    shading=SLICER_CT_SHADING,
    ct_only=True,
)

# Maximum intensity projection: grey across the layer's window, no shading (as Slicer's "CT-MIP",
# whose colour is flat and whose opacity is 1 above the window's bottom).
MIP = VolumePreset(
    name="mip",
    description="Maximum intensity projection, grey, on the layer's window/level",
    blend=Blend.MAXIMUM,
    scale=Scale.WINDOW,
    colour=((0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0)),
    opacity=((0.0, 1.0), (1.0, 1.0)),
    shading=None,
    ct_only=False,
)

# MR: the shape and colours of Slicer's "MR-Default" (black → dark red → tan → white, opacity
# rising to 0.5), spread over the data's robust range instead of its fixed 0..1024.
MR_DEFAULT = VolumePreset(
    name="mr-default",
    description="Opacity ramp over the data's percentiles (MR and other non-CT)",
    blend=Blend.COMPOSITE,
    scale=Scale.DATA,
    colour=(
        (0.0, 0.0, 0.0, 0.0),
        (0.1, 0.17, 0.0, 0.0),
        (0.2, 0.40, 0.15, 0.08),
        (0.5, 0.78, 0.61, 0.38),
        (0.8, 0.85, 0.84, 0.79),
        (1.0, 1.0, 1.0, 1.0),
    ),
    opacity=((0.0, 0.0), (0.1, 0.0), (0.2, 0.01), (0.5, 0.04), (0.8, 0.12), (1.0, 0.3)),
    shading=Shading(ambient=0.2, diffuse=0.9, specular=0.1, specular_power=10.0),
    ct_only=False,
)

PRESETS: dict[str, VolumePreset] = {p.name: p for p in (CT_BONE, CT_SOFT_TISSUE, MIP, MR_DEFAULT)}


def preset(name: str) -> VolumePreset:
    """The preset called ``name``; ``KeyError`` lists the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"no volume preset {name!r}; known: {', '.join(PRESETS)}") from None


def default_preset(modality: str) -> str:
    return CT_BONE.name if modality == "CT" else MR_DEFAULT.name


def robust_range(
    array: npt.NDArray[np.generic],
    loaded: npt.NDArray[np.bool_] | None = None,
    *,
    max_samples: int = 1_000_000,
) -> tuple[float, float]:
    """Low and high ends of the foreground intensities, for :data:`MR_DEFAULT`.

    ``array`` is ``[slice, …]``; ``loaded`` flags the slices already filled (others are skipped).
    The background (the darkest tenth of the range above the 1st percentile) is set aside first, so
    a head in a large field of view is not ramped over air; the range is then the foreground's
    10th to 99.5th percentile. A strided sample of at most ``max_samples`` voxels keeps it cheap.
    """
    slices = array.reshape(array.shape[0], -1)
    if loaded is not None and loaded.size == slices.shape[0]:
        slices = slices[loaded]
    if slices.size == 0:
        return 0.0, 1.0
    step = max(1, slices.size // max_samples)
    sample = slices.reshape(-1)[::step].astype(np.float64)
    floor, top = (float(v) for v in np.percentile(sample, [1.0, 99.5]))
    foreground = sample[sample > floor + 0.1 * (top - floor)]
    if foreground.size < 16:
        foreground = sample
    low, high = (float(v) for v in np.percentile(foreground, [10.0, 99.5]))
    if high <= low:
        high = low + 1.0
    return low, high
