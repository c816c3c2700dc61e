"""The one observable scene: loaded images, their display, label maps, annotations, the cursor.

Views observe the scene's signals and draw from it; they never keep their own copy of model
state. Everything the user makes (annotations, segmentation edits) changes through commands on
the scene's :class:`~workstation.core.commands.UndoStack`; display changes (window/level while
dragging) are plain assignments, as viewers do not undo them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from psygnal import Signal, SignalGroup, evented

from workstation.core.annotations import Annotation
from workstation.core.commands import UndoStack
from workstation.core.segmentation import LabelMap
from workstation.core.volume import StackKind, Volume


@evented
@dataclass
class DisplayState:
    """How a layer is shown; separate from its data (as Slicer separates display nodes)."""

    window: float = 400.0
    center: float = 40.0
    invert: bool = False
    opacity: float = 1.0
    visible: bool = True
    colormap: str = "gray"


@dataclass(frozen=True)
class LayerInfo:
    """What a layer shows, for overlays and references."""

    patient_name: str = ""
    patient_id: str = ""
    study_instance_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    series_instance_uid: str = ""
    series_description: str = ""
    series_number: int | None = None
    modality: str = ""
    frame_of_reference_uid: str = ""
    stack_index: int = 0
    #: WindowCenter/Width of the series itself, tried before any preset.
    default_window: tuple[float, float] | None = None
    #: SOP Instance UID of each slice (phase-major for cine), for references and export.
    sop_instance_uids: tuple[str, ...] = ()
    #: Each slice's frame number in its object (1-based) for multi-frame objects.
    frame_numbers: tuple[int | None, ...] = ()
    photometric: str = "MONOCHROME2"

    @property
    def value_unit(self) -> str:
        return "HU" if self.modality == "CT" else ""


@dataclass(eq=False)
class ImageLayer:
    """A volume in the scene. Its voxels may arrive progressively (``loaded`` per slice)."""

    id: str
    volume: Volume
    info: LayerInfo
    display: DisplayState = field(default_factory=DisplayState)
    #: One flag per slice in array order (phase-major for cine): True once its voxels are in.
    loaded: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Problems to show the reader (warnings of the stack, files that failed).
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.loaded.size == 0:
            self.loaded = np.ones(self.slice_count, dtype=bool)

    @property
    def slice_count(self) -> int:
        array = self.volume.array
        if self.volume.kind is StackKind.CINE:
            return int(array.shape[0] * array.shape[1])
        return int(array.shape[0])

    @property
    def fully_loaded(self) -> bool:
        return bool(self.loaded.all())

    def value_range(self) -> tuple[float, float]:
        """Smallest and largest value among the loaded slices (for a default window)."""
        flat = self.volume.array.reshape(self.slice_count, -1)
        present = flat[self.loaded] if self.loaded.size == len(flat) else flat
        if present.size == 0:
            return 0.0, 1.0
        return float(present.min()), float(present.max())


class SceneEvents(SignalGroup):
    layer_added = Signal(str)
    layer_removed = Signal(str)
    #: Voxels arrived for a layer: (layer id, first slice, last slice) in array order.
    slices_loaded = Signal(str, int, int)
    #: The active layer (what keyboard shortcuts and tools act on) changed.
    active_changed = Signal(str)
    annotation_changed = Signal(object)  # the new version of an Annotation
    #: Crosshair position in LPS mm, shared by linked views.
    cursor_changed = Signal(object)
    labels_added = Signal(str)
    labels_removed = Signal(str)
    #: The selected annotation's UUID ("" for none), shared by views and the measurement list.
    selection_changed = Signal(str)


class Scene:
    """Everything the views show, and the history of what the user changed."""

    def __init__(self) -> None:
        self.events = SceneEvents()
        self.undo = UndoStack()
        self.layers: dict[str, ImageLayer] = {}
        self.labels: dict[str, LabelMap] = {}
        self.annotations: dict[str, Annotation] = {}
        self.cursor: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.active_layer_id: str | None = None
        self.selected_annotation: str = ""

    # --- images -----------------------------------------------------------------------------

    def add_layer(self, layer: ImageLayer) -> None:
        self.layers[layer.id] = layer
        self.events.layer_added.emit(layer.id)
        if self.active_layer_id is None:
            self.set_active(layer.id)

    def remove_layer(self, layer_id: str) -> None:
        if self.layers.pop(layer_id, None) is None:
            return
        for label_id in [k for k, v in self.labels.items() if v.image_layer_id == layer_id]:
            self.remove_labels(label_id)
        self.events.layer_removed.emit(layer_id)
        if self.active_layer_id == layer_id:
            self.set_active(next(iter(self.layers), None))

    def set_active(self, layer_id: str | None) -> None:
        self.active_layer_id = layer_id
        self.events.active_changed.emit(layer_id or "")

    @property
    def active_layer(self) -> ImageLayer | None:
        return self.layers.get(self.active_layer_id or "")

    def mark_loaded(self, layer_id: str, first: int, last: int) -> None:
        """Slices ``first..last`` of a layer now hold their voxels."""
        layer = self.layers.get(layer_id)
        if layer is None:
            return
        layer.loaded[first : last + 1] = True
        self.events.slices_loaded.emit(layer_id, first, last)

    def mark_slices_loaded(self, layer_id: str, indices: list[int]) -> None:
        """Any set of slices now hold their voxels (announced as contiguous runs)."""
        for first, last in _runs(sorted(indices)):
            self.mark_loaded(layer_id, first, last)

    def set_cursor(self, lps: Any) -> None:
        x, y, z = (float(v) for v in lps)
        self.cursor = (x, y, z)
        self.events.cursor_changed.emit(self.cursor)

    # --- label maps -------------------------------------------------------------------------

    def add_labels(self, labels: LabelMap) -> None:
        self.labels[labels.id] = labels
        self.events.labels_added.emit(labels.id)

    def remove_labels(self, label_id: str) -> None:
        if self.labels.pop(label_id, None) is not None:
            self.events.labels_removed.emit(label_id)

    # --- annotations ------------------------------------------------------------------------

    def select(self, uuid: str) -> None:
        """Select an annotation ("" clears the selection)."""
        if uuid != self.selected_annotation:
            self.selected_annotation = uuid
            self.events.selection_changed.emit(uuid)

    def visible_annotations(self, series_instance_uid: str | None = None) -> list[Annotation]:
        """Live (not deleted) annotations, optionally of one series, oldest first."""
        return [
            a
            for a in self.annotations.values()
            if not a.deleted
            and (
                series_instance_uid is None
                or a.reference.series_instance_uid == series_instance_uid
            )
        ]

    def add_annotation(self, annotation: Annotation) -> None:
        self.undo.push(_SetAnnotation(self, None, annotation, f"Add {annotation.kind.value}"))

    def edit_annotation(self, annotation: Annotation, **changes: Any) -> Annotation:
        """Replace fields of an annotation (a new version); returns the new version."""
        before = self.annotations[annotation.uuid]
        after = replace(before, **changes)
        self.undo.push(_SetAnnotation(self, before, after, f"Edit {before.kind.value}"))
        return self.annotations[annotation.uuid]

    def delete_annotation(self, annotation: Annotation) -> None:
        before = self.annotations[annotation.uuid]
        self.undo.push(_SetAnnotation(self, before, None, f"Delete {before.kind.value}"))

    def load_annotations(self, annotations: list[Annotation]) -> None:
        """Put stored or synced annotations in the scene: not an edit, so not undoable."""
        for annotation in annotations:
            current = self.annotations.get(annotation.uuid)
            if current is None or annotation.version > current.version:
                self.annotations[annotation.uuid] = annotation
                self.events.annotation_changed.emit(annotation)

    def _put_content(self, uuid: str, content: Annotation | None) -> None:
        """Store the next version of ``uuid`` carrying ``content`` (None: a tombstone).

        Undo and redo never go back to an old version number: replicas order versions, so the
        reverted state is published as a newer version with the older content.
        """
        current = self.annotations.get(uuid)
        if current is None:
            assert content is not None
            new = content
        elif content is None:
            new = current.tombstone()
        else:
            new = current.edited(
                points=content.points,
                plane_normal=content.plane_normal,
                label=content.label,
                text=content.text,
                values=dict(content.values),
                value_unit=content.value_unit,
                deleted=False,
            )
        self.annotations[uuid] = new
        self.events.annotation_changed.emit(new)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices as (first, last) runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


@dataclass
class _SetAnnotation:
    scene: Scene
    before: Annotation | None
    after: Annotation | None
    text: str

    def apply(self) -> None:
        target = self.after or self.before
        assert target is not None
        self.scene._put_content(target.uuid, self.after)

    def revert(self) -> None:
        target = self.before or self.after
        assert target is not None
        self.scene._put_content(target.uuid, self.before)
