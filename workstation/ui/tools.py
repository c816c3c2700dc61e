"""The viewport's mouse tools and their settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from workstation.core.annotations import AnnotationKind


class Tool(Enum):
    """What the left mouse button does (middle pans, right zooms, wheel scrolls, always)."""

    NAVIGATE = "navigate"  # window/level
    LENGTH = "length"
    ANGLE = "angle"
    ELLIPSE = "ellipse"
    POLYGON = "polygon"
    POINT = "point"
    TEXT = "text"
    BRUSH = "brush"
    ERASER = "eraser"
    THRESHOLD = "threshold"
    CROSSHAIR = "crosshair"

    @property
    def annotation_kind(self) -> AnnotationKind | None:
        """The annotation the tool draws, if it is a measurement tool."""
        return _KINDS.get(self)

    @property
    def paints(self) -> bool:
        return self in (Tool.BRUSH, Tool.ERASER, Tool.THRESHOLD)


_KINDS = {
    Tool.LENGTH: AnnotationKind.LENGTH,
    Tool.ANGLE: AnnotationKind.ANGLE,
    Tool.ELLIPSE: AnnotationKind.ELLIPSE,
    Tool.POLYGON: AnnotationKind.POLYGON,
    Tool.POINT: AnnotationKind.POINT,
    Tool.TEXT: AnnotationKind.TEXT,
}


@dataclass
class ToolSettings:
    """Settings of the segmentation tools (shared by the shell's panels and the viewport)."""

    brush_radius_mm: float = 5.0
    #: Label map painted into (None: the first one of the shown layer, created when missing).
    label_map_id: str | None = None
    #: Segment number painted (erased) by the brush, eraser and threshold tools.
    segment: int = 1
    threshold_low: float = 100.0
    threshold_high: float = 3000.0
    #: Threshold fill only the current slice (True) or the whole volume.
    threshold_slice_only: bool = True
