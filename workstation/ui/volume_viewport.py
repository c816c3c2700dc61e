"""The 3D view of the MPR layout: volume rendering with presets, rotated with the mouse."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QVBoxLayout, QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingCore import vtkRenderer

import workstation.render._vtk  # noqa: F401  (registers the OpenGL factories)
from workstation.core.scene import Scene
from workstation.render.snapshot import window_to_array
from workstation.render.volume import VolumeView

log = logging.getLogger(__name__)

#: The presets offered, by the label the reader sees.
PRESETS = {
    "CT soft tissue": "ct-soft-tissue",
    "CT bone": "ct-bone",
    "MIP": "mip",
    "MR": "mr-default",
}


class VolumeViewport(QWidget):
    """Left drag rotates, right drag zooms, middle drag pans (VTK's trackball camera)."""

    activated = Signal()

    def __init__(self, scene: Scene, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.layer_id: str | None = None
        self.widget: Any = QVTKRenderWindowInteractor(self)  # type: ignore[no-untyped-call]
        self.renderer: Any = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.window: Any = self.widget.GetRenderWindow()  # type: ignore[no-untyped-call]
        self.window.AddRenderer(self.renderer)
        self.widget.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.view = VolumeView(
            self.renderer,
            scene,
            request_render=self.refresh,
            call_later=lambda seconds, callback: QTimer.singleShot(
                max(0, round(seconds * 1000)), callback
            ),
        )
        self.presets = QComboBox(self)
        for label, name in PRESETS.items():
            self.presets.addItem(label, name)
        self.presets.setToolTip("Volume rendering preset")
        self.presets.currentIndexChanged.connect(self._on_preset)
        bar = QHBoxLayout()
        bar.setContentsMargins(2, 2, 2, 0)
        bar.addStretch(1)
        bar.addWidget(self.presets)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.widget, 1)
        self.widget.installEventFilter(self)
        self.widget.Initialize()

    def show_layer(self, layer_id: str | None) -> None:
        self.layer_id = layer_id
        layer = self.scene.layers.get(layer_id or "")
        preset = (
            "ct-soft-tissue"
            if layer is not None and layer.info.modality == "CT"
            else ("mr-default")
        )
        self.presets.blockSignals(True)
        self.presets.setCurrentIndex(self.presets.findData(preset))
        self.presets.blockSignals(False)
        self.view.show(layer_id)
        self.view.set_preset(preset)
        self.view.reset_camera()
        self.refresh()

    def _on_preset(self, _index: int) -> None:
        self.view.set_preset(str(self.presets.currentData()))
        self.refresh()

    def refresh(self) -> None:
        self.window.Render()

    def render_to_array(self) -> npt.NDArray[np.uint8]:
        self.window.Render()
        return window_to_array(self.window)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # An exception escaping an event filter takes PySide down with it: never let one out.
        try:
            if event.type() == QEvent.Type.MouseButtonPress:
                self.activated.emit()
        except Exception:
            log.exception("3D view event")
        return False
