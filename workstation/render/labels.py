"""Label-map overlay: the segments of ``scene.labels`` bound to the shown layer, in colour.

Each label map is drawn as one image actor just in front of the slice, through a lookup table
that gives every segment its colour and opacity (0 when hidden; background transparent). The
same slice (orthogonal: a numpy view of the label array; oblique: nearest-neighbour
resampling, so labels are never blended) and the same phase as the image are shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkImagingCore import vtkImageReslice
from vtkmodules.vtkRenderingCore import vtkImageActor

from workstation.core.planes import orthogonal_slice
from workstation.core.scene import Scene
from workstation.core.segmentation import PALETTE, LabelMap
from workstation.render._vtk import image_data_from, matrix4x4
from workstation.render.slice_geometry import ShownSlice

#: How far in front of the image plane labels are drawn (mm), so depth never hides them.
LABEL_OFFSET_MM = 0.05
_DEFAULT_OPACITY = 0.5


def segment_table(labels: LabelMap) -> npt.NDArray[np.float64]:
    """RGBA (0..1) of every label value: segment colour and opacity; 0 and hidden → clear."""
    top = max(labels.segments, default=0)
    size = 256 if labels.array.dtype == np.uint8 else max(top + 1, 2)
    table = np.zeros((size, 4), dtype=np.float64)
    for value in range(1, size):
        segment = labels.segments.get(value)
        if segment is None:
            r, g, b = PALETTE[(value - 1) % len(PALETTE)]
            table[value] = (r / 255, g / 255, b / 255, _DEFAULT_OPACITY)
        else:
            r, g, b = segment.color
            alpha = float(segment.opacity) if segment.visible else 0.0
            table[value] = (r / 255, g / 255, b / 255, alpha)
    return table


class _MapActor:
    """One label map drawn on the current slice."""

    def __init__(self, labels: LabelMap, renderer: Any, request_render: Callable[[], None]) -> None:
        self.labels = labels
        self.renderer = renderer
        self._request_render = request_render
        self.actor = vtkImageActor()
        self.actor.SetPickable(False)
        self.actor.GetMapper().SetInputData(vtkImageData())  # never an actor without input
        self.actor.SetVisibility(False)
        prop = self.actor.GetProperty()
        prop.SetInterpolationTypeToNearest()
        self.lut = vtkLookupTable()
        prop.SetLookupTable(self.lut)
        prop.UseLookupTableScalarRangeOn()
        self._buffer: npt.NDArray[np.generic] | None = None
        self._image: Any = None
        self._reslice: Any = None
        self._grid_key: tuple[int, int] | None = None
        self._grid_image: Any = None
        self._shown: ShownSlice | None = None
        self.update_table()
        renderer.AddActor(self.actor)
        labels.changed.connect(self._on_changed)
        labels.segments_changed.connect(self._on_segments_changed)

    def remove(self) -> None:
        self.labels.changed.disconnect(self._on_changed)
        self.labels.segments_changed.disconnect(self._on_segments_changed)
        self.renderer.RemoveActor(self.actor)

    def update_table(self) -> None:
        table = segment_table(self.labels)
        self.lut.SetNumberOfTableValues(len(table))
        self.lut.SetTableRange(0, len(table) - 1)
        for value, (r, g, b, a) in enumerate(table):
            self.lut.SetTableValue(value, r, g, b, a)
        self.lut.Modified()

    def _on_segments_changed(self) -> None:
        self.update_table()
        self._request_render()

    def _on_changed(self, _index: object = None) -> None:
        if self._shown is not None:
            self.show(self._shown)
            self._request_render()

    def _grid(self, phase: int) -> npt.NDArray[np.generic] | None:
        array = self.labels.array
        if array.ndim == 4:
            if phase >= array.shape[0]:
                return None
            grid: npt.NDArray[np.generic] = array[phase]
            return grid
        return array

    def show(self, shown: ShownSlice) -> None:
        self._shown = shown
        grid = self._grid(shown.phase)
        if grid is None or grid.shape[:3] != shown.layer.volume.grid_shape:
            self.actor.SetVisibility(False)
            return
        if shown.orientation is not None:
            view = orthogonal_slice(grid, shown.orientation, shown.index)
            if (
                self._buffer is None
                or self._buffer.shape != view.shape
                or self._buffer.dtype != view.dtype
            ):
                self._buffer = np.empty(view.shape, dtype=view.dtype)
                self._image = image_data_from(self._buffer)
            np.copyto(self._buffer, view)
            self._image.GetPointData().GetScalars().Modified()
            self._image.Modified()
            self.actor.GetMapper().SetInputData(self._image)
        else:
            self._reslice_to(grid, shown)
        matrix = shown.matrix.copy()
        matrix[:3, 3] -= shown.axes.view_direction * LABEL_OFFSET_MM
        self.actor.SetUserMatrix(matrix4x4(matrix))
        self.actor.SetVisibility(True)

    def _reslice_to(self, grid: npt.NDArray[np.generic], shown: ShownSlice) -> None:
        key = (id(grid), grid.__array_interface__["data"][0])
        if self._grid_key != key:
            contiguous = np.ascontiguousarray(grid)
            self._grid_holder = contiguous
            self._grid_image = image_data_from(contiguous)
            self._grid_key = key
        if self._reslice is None:
            self._reslice = vtkImageReslice()
            self._reslice.SetInterpolationModeToNearestNeighbor()
            self._reslice.SetBackgroundLevel(0.0)
        reslice = self._reslice
        reslice.SetInputData(self._grid_image)
        inverse = np.linalg.inv(shown.layer.volume.affine)
        reslice.SetResliceAxes(matrix4x4(inverse @ shown.matrix))
        rows, columns = shown.plane.shape
        reslice.SetOutputSpacing(1.0, 1.0, 1.0)
        reslice.SetOutputOrigin(0.0, 0.0, 0.0)
        reslice.SetOutputExtent(0, columns - 1, 0, rows - 1, 0, 0)
        reslice.Modified()
        self.actor.GetMapper().SetInputConnection(reslice.GetOutputPort())


class LabelOverlay:
    """Every label map bound to the shown layer."""

    def __init__(self, renderer: Any, scene: Scene, request_render: Callable[[], None]) -> None:
        self.renderer = renderer
        self.scene = scene
        self._request_render = request_render
        self._maps: dict[str, _MapActor] = {}
        self._shown: ShownSlice | None = None
        self._visible = True
        scene.events.labels_added.connect(self._on_labels_changed)
        scene.events.labels_removed.connect(self._on_labels_changed)

    def disconnect(self) -> None:
        self.scene.events.labels_added.disconnect(self._on_labels_changed)
        self.scene.events.labels_removed.disconnect(self._on_labels_changed)
        for item in self._maps.values():
            item.remove()
        self._maps.clear()

    @property
    def label_ids(self) -> list[str]:
        """Label maps drawn now."""
        return list(self._maps)

    @property
    def visible(self) -> bool:
        return self._visible

    def set_visible(self, visible: bool) -> None:
        self._visible = visible
        for item in self._maps.values():
            item.actor.SetVisibility(visible and self._shown is not None)

    def _on_labels_changed(self, _label_id: str) -> None:
        self.update(self._shown)
        self._request_render()

    def update(self, shown: ShownSlice | None) -> None:
        self._shown = shown
        wanted = (
            {k: v for k, v in self.scene.labels.items() if v.image_layer_id == shown.layer.id}
            if shown is not None
            else {}
        )
        for label_id in [k for k in self._maps if wanted.get(k) is not self._maps[k].labels]:
            self._maps.pop(label_id).remove()
        for label_id, labels in wanted.items():
            if label_id not in self._maps:
                self._maps[label_id] = _MapActor(labels, self.renderer, self._request_render)
        if shown is None:
            return
        for item in self._maps.values():
            item.show(shown)
            if not self._visible:
                item.actor.SetVisibility(False)
