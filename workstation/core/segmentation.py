"""Label maps: segmentations on an image's grid, their segments, and undoable edits.

A :class:`LabelMap` holds one label per voxel (0 = background) on exactly the grid of the image
layer it belongs to, so a voxel index means the same voxel in both. Edits (brush, eraser,
threshold fill) are commands that remember the labels they overwrote, so undo is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from workstation.core import geometry

FloatArray = npt.NDArray[np.float64]
Index = tuple[npt.NDArray[np.intp], ...]

#: Distinct, colour-blind-aware segment colours (Okabe–Ito, then extras), RGB 0..255.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (153, 153, 153),
    (255, 99, 71),
    (127, 255, 212),
)


@dataclass
class Segment:
    """One labelled structure. ``code`` is (value, scheme, meaning) of its property type."""

    number: int
    label: str
    color: tuple[int, int, int]
    visible: bool = True
    opacity: float = 0.5
    code: tuple[str, str, str] | None = None
    category: tuple[str, str, str] | None = None
    #: "MANUAL", "SEMIAUTOMATIC" or "AUTOMATIC" (the SEG Segment Algorithm Type).
    algorithm_type: str = "MANUAL"
    algorithm_name: str = ""


class LabelMap:
    """Labels on the grid of an image layer (``[k, j, i]``, or ``[t, k, j, i]`` for cine)."""

    changed = Signal(object)  # the index tuple (or None for everything) that changed
    segments_changed = Signal()

    def __init__(
        self,
        id: str,
        image_layer_id: str,
        array: npt.NDArray[np.integer],
        affine: FloatArray,
        *,
        segments: list[Segment] | None = None,
        name: str = "Segmentation",
    ) -> None:
        if array.ndim not in (3, 4):
            raise ValueError(f"a label map is 3-D or 4-D, got shape {array.shape}")
        self.id = id
        self.image_layer_id = image_layer_id
        self.array = array
        self.affine = np.asarray(affine, dtype=np.float64)
        self.segments: dict[int, Segment] = {s.number: s for s in segments or []}
        self.name = name
        #: Where an expert module drew it, what the reader made of it ("pending review",
        #: "accepted by …"); shown with the overlay so AI output is never mistaken for a reader's.
        self.review_status = ""

    @property
    def algorithms(self) -> list[str]:
        """Names of the algorithms behind its visible segments (empty: all drawn by hand)."""
        names = {
            s.algorithm_name or "AI"
            for s in self.segments.values()
            if s.visible and s.algorithm_type != "MANUAL"
        }
        return sorted(names)

    def set_review_status(self, text: str) -> None:
        self.review_status = text
        self.segments_changed.emit()

    @classmethod
    def empty_like(
        cls,
        id: str,
        image_layer_id: str,
        shape: tuple[int, ...],
        affine: FloatArray,
    ) -> LabelMap:
        return cls(id, image_layer_id, np.zeros(shape, dtype=np.uint8), affine)

    def add_segment(self, label: str, **fields: object) -> Segment:
        """A new segment with the next free number and a palette colour."""
        number = max(self.segments, default=0) + 1
        if number > np.iinfo(self.array.dtype).max:
            raise ValueError("no label value left for another segment")
        color = PALETTE[(number - 1) % len(PALETTE)]
        segment = Segment(number=number, label=label, color=color)
        for name, value in fields.items():
            setattr(segment, name, value)
        self.segments[number] = segment
        self.segments_changed.emit()
        return segment

    def volume_ml(self, number: int, phase: int | None = None) -> float:
        """Volume of a segment in millilitres (voxel count × voxel volume)."""
        array = self.array if phase is None else self.array[phase]
        voxel_mm3 = abs(float(np.linalg.det(self.affine[:3, :3])))
        return float(np.count_nonzero(array == number)) * voxel_mm3 / 1000.0

    def _grid(self, phase: int | None) -> npt.NDArray[np.integer]:
        if self.array.ndim == 4:
            if phase is None:
                raise ValueError("a cine label map needs the phase to edit")
            grid: npt.NDArray[np.integer] = self.array[phase]
            return grid
        return self.array

    def brush(
        self,
        center: npt.ArrayLike,
        radius_mm: float,
        number: int,
        *,
        plane_normal: npt.ArrayLike | None = None,
        erase: bool = False,
        phase: int | None = None,
    ) -> LabelEdit:
        """The edit painting (or erasing) a disc in the view plane, or a ball without a normal.

        A disc covers the voxels of the slice through ``center`` whose centres lie within
        ``radius_mm`` of it in the plane — whatever the pixel spacing, so it is round on screen.
        """
        grid = self._grid(phase)
        affine = self.affine
        c = np.asarray(center, dtype=np.float64)
        spacing = np.asarray(geometry.spacing_from_affine(affine))
        c_ijk = geometry.lps_to_index(affine, c)
        reach = np.ceil(radius_mm / spacing).astype(int) + 1
        low = np.maximum(np.floor(c_ijk).astype(int) - reach, 0)
        high = np.minimum(np.ceil(c_ijk).astype(int) + reach, np.array(grid.shape[::-1]) - 1)
        if np.any(high < low):
            return LabelEdit(self, (), np.array([]), number, phase)
        ii, jj, kk = np.meshgrid(
            np.arange(low[0], high[0] + 1),
            np.arange(low[1], high[1] + 1),
            np.arange(low[2], high[2] + 1),
            indexing="ij",
        )
        ijk = np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()])
        offset = geometry.index_to_lps(affine, ijk) - c
        if plane_normal is None:
            inside = np.linalg.norm(offset, axis=1) <= radius_mm
        else:
            n = geometry.unit_vector(np.asarray(plane_normal, dtype=np.float64))
            along = offset @ n
            in_plane = offset - np.outer(along, n)
            inside = (np.linalg.norm(in_plane, axis=1) <= radius_mm) & (
                np.abs(along) <= _half_slice_step(affine, n)
            )
        chosen = ijk[inside]
        index: Index = (chosen[:, 2], chosen[:, 1], chosen[:, 0])
        if erase:
            keep = grid[index] == number
            index = (index[0][keep], index[1][keep], index[2][keep])
            return LabelEdit(self, index, grid[index].copy(), 0, phase)
        return LabelEdit(self, index, grid[index].copy(), number, phase)

    def threshold_fill(
        self,
        image: npt.NDArray[np.number],
        low: float,
        high: float,
        number: int,
        *,
        region: tuple[slice, ...] | None = None,
        phase: int | None = None,
    ) -> LabelEdit:
        """The edit labelling every voxel of ``image`` (same grid) with ``low ≤ value ≤ high``.

        ``region`` (numpy slices of the ``[k, j, i]`` grid, e.g. the current slice) limits it.
        """
        grid = self._grid(phase)
        if image.shape != grid.shape:
            raise ValueError(f"image {image.shape} is not on the label grid {grid.shape}")
        mask = (image >= low) & (image <= high)
        if region is not None:
            limited = np.zeros_like(mask)
            limited[region] = mask[region]
            mask = limited
        index: Index = tuple(np.nonzero(mask))
        return LabelEdit(self, index, grid[index].copy(), number, phase)


def _half_slice_step(affine: FloatArray, normal: FloatArray) -> float:
    """Half the distance between neighbouring voxel planes along ``normal``: the slab that
    holds exactly one slice of voxels around a plane."""
    steps = np.abs(affine[:3, :3].T @ normal)
    return 0.5 * float(steps[steps > 1e-6].min())


@dataclass
class LabelEdit:
    """An undoable change of labels: where, what was there, and the new label."""

    labels: LabelMap
    index: Index
    previous: npt.NDArray[np.integer]
    value: int
    phase: int | None = None
    text: str = field(default="Edit segmentation")

    @property
    def voxel_count(self) -> int:
        return int(self.previous.size)

    def apply(self) -> None:
        if self.voxel_count:
            self.labels._grid(self.phase)[self.index] = self.value
            self.labels.changed.emit(self.index)

    def revert(self) -> None:
        if self.voxel_count:
            self.labels._grid(self.phase)[self.index] = self.previous
            self.labels.changed.emit(self.index)


def describe_ai(maps: Iterable[LabelMap]) -> str:
    """One line marking what an algorithm drew among ``maps``: "AI: Ventricles · pending review"
    ("" when a reader drew everything shown)."""
    parts = []
    for labels in maps:
        names = labels.algorithms
        if names:
            status = f" · {labels.review_status}" if labels.review_status else ""
            parts.append(f"{', '.join(names)}{status}")
    return f"AI: {'; '.join(parts)}" if parts else ""
