"""Window/level presets radiologists expect (width / centre in the modality's units, HU for CT).

Values as the field's viewers ship them: OHIF's ``windowLevelPresets`` (soft tissue, lung, liver,
bone, brain) and 3D Slicer's display presets (abdomen, air), plus mediastinum and the narrow
stroke window that raises sensitivity to early infarcts. Hotkeys 1..9 follow this order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WindowPreset:
    name: str
    width: float
    center: float

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2


CT_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("Soft tissue", 400, 40),
    WindowPreset("Lung", 1500, -600),
    WindowPreset("Liver", 150, 90),
    WindowPreset("Bone", 2500, 480),
    WindowPreset("Brain", 80, 40),
    WindowPreset("Mediastinum", 350, 50),
    WindowPreset("Stroke", 8, 32),
    WindowPreset("Abdomen", 350, 40),
    WindowPreset("Air", 1000, -426),
)


def preset(name: str) -> WindowPreset:
    """The preset called ``name`` (case-insensitive); ``KeyError`` lists the known names."""
    for candidate in CT_PRESETS:
        if candidate.name.lower() == name.lower().replace("-", " ").replace("_", " "):
            return candidate
    known = ", ".join(p.name.lower() for p in CT_PRESETS)
    raise KeyError(f"no window preset {name!r}; known: {known}")


def window_from_range(low: float, high: float) -> tuple[float, float]:
    """(width, centre) spanning ``[low, high]``: the fallback when a series declares none."""
    width = max(float(high - low), 1.0)
    return width, float(low) + width / 2
