"""VTK adapters: one per scene node type; they observe the core scene and own their VTK objects.

The 2D viewer: :class:`~workstation.render.slice_view.SliceView` (image, labels, annotations
and overlays of one plane in one renderer) and the offscreen pictures of
:mod:`workstation.render.snapshot`. Names are imported lazily so that importing the package
costs nothing until a view is built.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SliceView": "workstation.render.slice_view",
    "ShownSlice": "workstation.render.slice_geometry",
    "LabelOverlay": "workstation.render.labels",
    "AnnotationActors": "workstation.render.annotation_actors",
    "Overlays": "workstation.render.overlays",
    "CameraController": "workstation.render.camera",
    "ViewSpec": "workstation.render.snapshot",
    "LAYOUTS": "workstation.render.snapshot",
    "render_view_to_array": "workstation.render.snapshot",
    "snapshot": "workstation.render.snapshot",
    "save_png": "workstation.render.snapshot",
    "window_to_array": "workstation.render.snapshot",
    "offscreen_window": "workstation.render.snapshot",
}

__all__ = [
    "LAYOUTS",
    "AnnotationActors",
    "CameraController",
    "LabelOverlay",
    "Overlays",
    "ShownSlice",
    "SliceView",
    "ViewSpec",
    "offscreen_window",
    "render_view_to_array",
    "save_png",
    "snapshot",
    "window_to_array",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workstation.render' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
