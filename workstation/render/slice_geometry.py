"""Where a shown slice lies: its plane, its pixel-to-LPS placement, and the slice ladder.

Pure numpy (no VTK): a :class:`ShownSlice` says which pixels a view shows and where each one
sits in the patient, for the image, the label overlay, the annotations and the overlays alike.

- Orthogonal slices are planes of the volume's own grid: the 2D array is a numpy view of the
  volume, and the placement matrix maps ``(column, row, 0, 1)`` to LPS with the affine's own
  columns, so non-square pixels and tilted (sheared) stacks sit exactly where they were acquired.
- Oblique (MPR) planes are resampled on a regular grid that covers the whole volume; scrolling
  moves the plane along its normal by the finest voxel spacing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from workstation.core import geometry
from workstation.core.planes import FIXED_AXIS, Orientation, Plane, orthogonal_plane
from workstation.core.scene import ImageLayer
from workstation.core.volume import StackKind, Volume
from workstation.render.camera import ScreenAxes, conventional_axes, native_axes

FloatArray = npt.NDArray[np.float64]

#: (column axis, row axis, fixed axis) of each orientation, as indices into (i, j, k).
_IJK_AXES = {
    Orientation.AXIAL: (0, 1, 2),
    Orientation.CORONAL: (0, 2, 1),
    Orientation.SAGITTAL: (1, 2, 0),
}


@dataclass(frozen=True, eq=False)
class ShownSlice:
    """One slice as a view shows it."""

    layer: ImageLayer
    #: The grid orientation, or None for an oblique (MPR) plane.
    orientation: Orientation | None
    #: The sampled grid: centre, column/row directions and spacing, shape.
    plane: Plane
    #: 4×4 map of pixel ``(column, row, 0, 1)`` to LPS mm.
    matrix: FloatArray
    index: int
    count: int
    phase: int
    phase_count: int
    #: Distance between neighbouring slices along the normal (mm).
    step_mm: float
    #: Screen directions the view uses for this slice.
    axes: ScreenAxes

    @cached_property
    def normal(self) -> FloatArray:
        return self.plane.normal

    @property
    def center(self) -> FloatArray:
        return np.asarray(self.plane.center, dtype=np.float64)

    @property
    def position_mm(self) -> float:
        """Position of the plane along its normal (the slice location radiologists read)."""
        return float(self.center @ self.normal)

    def distance(self, lps: npt.ArrayLike) -> FloatArray:
        """Signed distance of LPS points from the plane."""
        offset = np.asarray(lps, dtype=np.float64) - self.center
        return np.asarray(offset @ self.normal)

    def contains(self, lps: npt.ArrayLike) -> bool:
        """Whether every point lies within half a slice of the plane."""
        distances = np.abs(self.distance(lps))
        return bool(np.all(distances <= self.step_mm / 2 + 1e-3))

    def project(self, lps: npt.ArrayLike) -> FloatArray:
        """LPS points moved along the normal onto the plane."""
        points = np.asarray(lps, dtype=np.float64)
        projected: FloatArray = points - np.multiply.outer(self.distance(points), self.normal)
        return projected

    def corners(self) -> FloatArray:
        """The four outer corners (pixel edges, not centres) of the slice, LPS."""
        rows, columns = self.plane.shape
        pixel = np.array(
            [[-0.5, -0.5], [columns - 0.5, -0.5], [columns - 0.5, rows - 0.5], [-0.5, rows - 0.5]]
        )
        return self.pixel_to_lps(pixel[:, 0], pixel[:, 1])

    def pixel_to_lps(self, columns: npt.ArrayLike, rows: npt.ArrayLike) -> FloatArray:
        c = np.asarray(columns, dtype=np.float64)
        r = np.asarray(rows, dtype=np.float64)
        m = self.matrix
        lps: FloatArray = m[:3, 3] + np.multiply.outer(c, m[:3, 0]) + np.multiply.outer(r, m[:3, 1])
        return lps

    def lps_to_pixel(self, lps: npt.ArrayLike) -> FloatArray:
        """Continuous (column, row) of LPS points projected on the plane."""
        inverse = np.linalg.inv(self.matrix)
        points = np.asarray(lps, dtype=np.float64)
        result: FloatArray = (points @ inverse[:3, :3].T + inverse[:3, 3])[..., :2]
        return result

    @property
    def min_pixel_mm(self) -> float:
        """The finer of the two in-plane pixel spacings."""
        return float(min(self.plane.spacing))


def phase_grid(volume: Volume, phase: int) -> npt.NDArray[np.generic]:
    """The ``[k, j, i]`` (``[f, j, i, 3]``) array of one phase: a view, never a copy."""
    if volume.kind is StackKind.CINE:
        return volume.phase(phase)
    return volume.array


def loaded_slices(layer: ImageLayer, phase: int) -> npt.NDArray[np.bool_]:
    """Loaded flag of each slice (k) of one phase."""
    k_size = layer.volume.grid_shape[0]
    flags = layer.loaded
    if flags.size != layer.slice_count:
        return np.ones(k_size, dtype=bool)
    return flags[phase * k_size : (phase + 1) * k_size]


def orthogonal(layer: ImageLayer, orientation: Orientation, index: int, phase: int) -> ShownSlice:
    """The ``index``-th slice of the layer's grid along ``orientation``."""
    volume = layer.volume
    affine = volume.affine
    grid_shape = volume.grid_shape
    count = grid_shape[FIXED_AXIS[orientation]]
    index = int(min(max(index, 0), count - 1))
    plane = orthogonal_plane(affine, grid_shape, orientation, index)
    column_axis, row_axis, fixed_axis = _IJK_AXES[orientation]
    normal = plane.normal
    matrix = np.eye(4)
    matrix[:3, 0] = affine[:3, column_axis]
    matrix[:3, 1] = affine[:3, row_axis]
    matrix[:3, 2] = normal
    matrix[:3, 3] = affine[:3, 3] + affine[:3, fixed_axis] * index
    native = orientation is Orientation.AXIAL
    axes = native_axes(plane.right, plane.down) if native else conventional_axes(normal)
    return ShownSlice(
        layer=layer,
        orientation=orientation,
        plane=plane,
        matrix=matrix,
        index=index,
        count=int(count),
        phase=phase,
        phase_count=volume.n_phases,
        step_mm=abs(float(affine[:3, fixed_axis] @ normal)),
        axes=axes,
    )


def volume_corners(volume: Volume) -> FloatArray:
    """LPS of the eight outer corners (voxel edges) of the volume."""
    k_size, j_size, i_size = volume.grid_shape
    ijk = np.array(
        [
            [i, j, k]
            for i in (-0.5, i_size - 0.5)
            for j in (-0.5, j_size - 0.5)
            for k in (-0.5, k_size - 0.5)
        ]
    )
    return geometry.index_to_lps(volume.affine, ijk)


def covering_plane(
    volume: Volume, point: npt.ArrayLike, right: npt.ArrayLike, down: npt.ArrayLike
) -> Plane:
    """A plane through ``point`` with the given directions whose grid covers the whole volume.

    The pixel spacing is the finest voxel spacing, so reformats lose no detail.
    """
    r = geometry.unit_vector(np.asarray(right, dtype=np.float64))
    d = np.asarray(down, dtype=np.float64)
    d = geometry.unit_vector(d - (d @ r) * r)
    corners = volume_corners(volume)
    spacing = min(geometry.spacing_from_affine(volume.affine))
    p = np.asarray(point, dtype=np.float64)
    x = (corners - p) @ r
    y = (corners - p) @ d
    columns = max(1, math.ceil((x.max() - x.min()) / spacing))
    rows = max(1, math.ceil((y.max() - y.min()) / spacing))
    centre = p + r * (x.max() + x.min()) / 2 + d * (y.max() + y.min()) / 2
    return Plane(
        center=(float(centre[0]), float(centre[1]), float(centre[2])),
        right=(float(r[0]), float(r[1]), float(r[2])),
        down=(float(d[0]), float(d[1]), float(d[2])),
        spacing=(spacing, spacing),
        shape=(rows, columns),
    )


def oblique_ladder(volume: Volume, base: Plane) -> tuple[int, int, float]:
    """(lowest step, highest step, step mm) of parallel planes ``base.center + m·step·normal``
    that cross the volume; ``m = 0`` is the base plane itself."""
    step = min(geometry.spacing_from_affine(volume.affine))
    distances = (volume_corners(volume) - np.asarray(base.center)) @ base.normal
    # Planes at least half a step inside the outer voxel faces: each one cuts through voxels.
    low = math.ceil(float(distances.min()) / step + 0.5 - 1e-9)
    high = math.floor(float(distances.max()) / step - 0.5 + 1e-9)
    if high < low:
        low = high = 0
    return min(low, 0), max(high, 0), step


def oblique(layer: ImageLayer, base: Plane, index: int, phase: int) -> ShownSlice:
    """Slice ``index`` of the ladder of planes parallel to ``base`` (see :func:`oblique_ladder`)."""
    volume = layer.volume
    low, high, step = oblique_ladder(volume, base)
    count = high - low + 1
    index = int(min(max(index, 0), count - 1))
    normal = base.normal
    centre = np.asarray(base.center) + normal * step * (index + low)
    plane = Plane(
        center=(float(centre[0]), float(centre[1]), float(centre[2])),
        right=base.right,
        down=base.down,
        spacing=base.spacing,
        shape=base.shape,
    )
    matrix = np.eye(4)
    matrix[:3, 0] = np.asarray(base.right) * base.spacing[1]
    matrix[:3, 1] = np.asarray(base.down) * base.spacing[0]
    matrix[:3, 2] = normal
    matrix[:3, 3] = plane.pixel_to_lps(0, 0)
    return ShownSlice(
        layer=layer,
        orientation=None,
        plane=plane,
        matrix=matrix,
        index=index,
        count=count,
        phase=phase,
        phase_count=volume.n_phases,
        step_mm=step,
        axes=conventional_axes(normal),
    )


def oblique_base_index(volume: Volume, base: Plane) -> int:
    """Index of the base plane itself in its ladder."""
    low, _, _ = oblique_ladder(volume, base)
    return -low


def nearest_index(shown: ShownSlice, base: Plane | None, lps: npt.ArrayLike) -> int:
    """Index of the slice (same orientation) nearest to ``lps``, clamped to the stack."""
    volume = shown.layer.volume
    point = np.asarray(lps, dtype=np.float64)
    if shown.orientation is not None:
        _, _, fixed_axis = _IJK_AXES[shown.orientation]
        continuous = geometry.lps_to_index(volume.affine, point)[fixed_axis]
        index = round(float(continuous))
    else:
        assert base is not None
        low, _, step = oblique_ladder(volume, base)
        index = round(float((point - np.asarray(base.center)) @ base.normal) / step) - low
    return int(min(max(index, 0), shown.count - 1))
