"""The layouts of viewports: 1×1, 1×2, 2×2 and MPR (axial, coronal, sagittal + 3D)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from workstation.core.planes import Orientation
from workstation.core.scene import Scene

LAYOUTS = {"1x1": (1, 1), "1x2": (1, 2), "2x2": (2, 2), "mpr": (2, 2)}
_MPR = (Orientation.AXIAL, Orientation.CORONAL, Orientation.SAGITTAL)


class _Frame(QFrame):
    """A thin border around a viewport, amber when it is the active one."""

    def __init__(self, child: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewportFrame")
        self.child = child
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(child)

    def set_active(self, active: bool) -> None:
        self.setProperty("active", "true" if active else "false")
        self.style().unpolish(self)
        self.style().polish(self)


class ViewportGrid(QWidget):
    """Owns the 2D viewports (reused across layouts) and the 3D view of the MPR layout."""

    active_changed = Signal(object)  # the active 2D viewport
    layout_changed = Signal(str)

    def __init__(
        self,
        scene: Scene,
        make_viewport: Callable[[], Any],
        make_volume_view: Callable[[], Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.scene = scene
        self._make_viewport = make_viewport
        self._make_volume_view = make_volume_view
        self._viewports: list[Any] = []
        self._frames: dict[int, _Frame] = {}
        self._volume_view: Any = None
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.layout_name = "1x1"
        self.active: Any = None
        self.materialized = False
        # Until the first viewport is needed the grid shows a hint: creating viewports loads
        # VTK and OpenGL, which the first window should not wait for.
        self._placeholder = QLabel(
            "Open a study: double-click it in the library, drop files here, or use File ▸ Open.",
            self,
        )
        self._placeholder.setObjectName("hint")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._grid.addWidget(self._placeholder, 0, 0)
        scene.events.layer_removed.connect(self._on_layer_removed)

    def materialize(self) -> None:
        """Create the viewports of the current layout (loads VTK); idempotent."""
        if self.materialized:
            return
        self.materialized = True
        self._grid.removeWidget(self._placeholder)
        self._placeholder.hide()
        self.set_layout(self.layout_name)

    @property
    def viewports(self) -> list[Any]:
        """The 2D viewports of the current layout, in reading order (none before the first
        one is needed)."""
        if not self.materialized:
            return []
        rows, columns = LAYOUTS[self.layout_name]
        count = 3 if self.layout_name == "mpr" else rows * columns
        return self._viewports[:count]

    @property
    def volume_view(self) -> Any:
        return self._volume_view if self.layout_name == "mpr" else None

    def _viewport(self, index: int) -> Any:
        while len(self._viewports) <= index:
            viewport = self._make_viewport()
            viewport.activated.connect(lambda v=viewport: self.set_active(v))
            self._viewports.append(viewport)
            self._frames[id(viewport)] = _Frame(viewport)
        return self._viewports[index]

    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
        if not self.materialized:
            self.layout_name = name
            self.materialize()
            return
        layer_id = self.active.layer_id if self.active is not None else None
        for index in reversed(range(self._grid.count())):
            item = self._grid.itemAt(index)
            widget = item.widget() if item is not None else None
            if widget is not None:
                self._grid.removeWidget(widget)
                widget.hide()
        rows, columns = LAYOUTS[name]
        self.layout_name = name
        count = 3 if name == "mpr" else rows * columns
        for index in range(count):
            frame = self._frames[id(self._viewport(index))]
            self._grid.addWidget(frame, index // columns, index % columns)
            frame.show()
        if name == "mpr" and self._make_volume_view is not None:
            if self._volume_view is None:
                self._volume_view = self._make_volume_view()
                self._frames[id(self._volume_view)] = _Frame(self._volume_view)
            frame = self._frames[id(self._volume_view)]
            self._grid.addWidget(frame, 1, 1)
            frame.show()
        for row in range(2):
            self._grid.setRowStretch(row, 1 if row < rows else 0)
        for column in range(2):
            self._grid.setColumnStretch(column, 1 if column < columns else 0)
        if self.active not in self.viewports:
            self.set_active(self.viewports[0])
        if name == "mpr" and layer_id:
            self.show_mpr(layer_id)
        else:
            self._fill_empty_viewports()
        self.layout_changed.emit(name)

    def _fill_empty_viewports(self) -> None:
        """Viewports a larger layout reveals show the open series not on screen yet."""
        shown = {v.layer_id for v in self.viewports if v.layer_id}
        waiting = [i for i in self.scene.layers if i not in shown]
        for viewport in self.viewports:
            if viewport.layer_id is None and self.scene.layers:
                layer_id = waiting.pop(0) if waiting else next(iter(self.scene.layers))
                viewport.show_layer(layer_id)

    def set_active(self, viewport: Any) -> None:
        self.active = viewport
        for candidate in self._viewports:
            self._frames[id(candidate)].set_active(candidate is viewport)
        if viewport is not None and viewport.layer_id:
            self.scene.set_active(viewport.layer_id)
        self.active_changed.emit(viewport)

    def show_layers(self, layer_ids: list[str]) -> None:
        """Show newly opened layers: the first in the active viewport, others in the next ones."""
        if not layer_ids:
            return
        self.materialize()
        if self.layout_name == "mpr":
            self.show_mpr(layer_ids[0])
            return
        viewports = self.viewports
        start = viewports.index(self.active) if self.active in viewports else 0
        for offset, layer_id in enumerate(layer_ids[: len(viewports)]):
            viewport = viewports[(start + offset) % len(viewports)]
            viewport.show_layer(layer_id)
        self.set_active(viewports[start])

    def show_mpr(self, layer_id: str) -> None:
        self.materialize()
        for viewport, orientation in zip(self.viewports, _MPR, strict=True):
            viewport.show_layer(layer_id)
            viewport.set_orientation(orientation)
        if self._volume_view is not None:
            self._volume_view.show_layer(layer_id)
        self.set_active(self.viewports[0])

    def step_layer(self, step: int) -> None:
        """Show the next (or previous) open series in the active viewport."""
        ids = list(self.scene.layers)
        if not ids or self.active is None:
            return
        current = self.active.layer_id
        index = ids.index(current) if current in ids else -1
        target = ids[(index + step) % len(ids)]
        if self.layout_name == "mpr":
            self.show_mpr(target)
        else:
            self.active.show_layer(target)
            self.scene.set_active(target)

    def _on_layer_removed(self, layer_id: str) -> None:
        replacement = next(iter(self.scene.layers), None)
        for viewport in self._viewports:
            if viewport.layer_id == layer_id:
                viewport.show_layer(replacement)
        if self._volume_view is not None and self._volume_view.layer_id == layer_id:
            self._volume_view.show_layer(replacement)
