"""View planes through a volume: orthogonal slices and oblique multiplanar reformats.

A :class:`Plane` is a 2D grid in patient space: its centre, the unit directions of its columns
(``right``) and rows (``down``), and their spacing. Axis-aligned planes of a volume's own grid are
numpy views of the array (no copy, microseconds); oblique planes are resampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from workstation.core import geometry

FloatArray = npt.NDArray[np.float64]


class Orientation(StrEnum):
    """The three planes of a volume's own grid, named as radiologists name them for axial data."""

    AXIAL = "axial"  # constant k: the acquired slices
    CORONAL = "coronal"  # constant j
    SAGITTAL = "sagittal"  # constant i


#: Index of the array axis (numpy order k, j, i) that a plane of each orientation holds fixed.
FIXED_AXIS = {Orientation.AXIAL: 0, Orientation.CORONAL: 1, Orientation.SAGITTAL: 2}


@dataclass(frozen=True)
class Plane:
    """A sampling grid in patient space (LPS mm)."""

    center: tuple[float, float, float]
    right: tuple[float, float, float]  # unit direction of increasing column
    down: tuple[float, float, float]  # unit direction of increasing row
    spacing: tuple[float, float]  # (row spacing, column spacing) in mm
    shape: tuple[int, int]  # (rows, columns)

    @property
    def normal(self) -> FloatArray:
        return geometry.unit_vector(np.cross(self.right, self.down))

    def pixel_to_lps(self, rows: npt.ArrayLike, columns: npt.ArrayLike) -> FloatArray:
        """LPS of (row, column) pixel centres (arrays broadcast)."""
        r = np.asarray(rows, dtype=np.float64) - (self.shape[0] - 1) / 2
        c = np.asarray(columns, dtype=np.float64) - (self.shape[1] - 1) / 2
        right = np.asarray(self.right) * self.spacing[1]
        down = np.asarray(self.down) * self.spacing[0]
        return np.asarray(self.center) + c[..., None] * right + r[..., None] * down

    def lps_to_pixel(self, lps: npt.ArrayLike) -> FloatArray:
        """Continuous (row, column) of LPS points projected onto the plane."""
        offset = np.asarray(lps, dtype=np.float64) - np.asarray(self.center)
        column = offset @ np.asarray(self.right) / self.spacing[1] + (self.shape[1] - 1) / 2
        row = offset @ np.asarray(self.down) / self.spacing[0] + (self.shape[0] - 1) / 2
        return np.stack([row, column], axis=-1)

    def distance(self, lps: npt.ArrayLike) -> FloatArray:
        """Signed distance of LPS points from the plane along its normal."""
        offset = np.asarray(lps, dtype=np.float64) - np.asarray(self.center)
        return np.asarray(offset @ self.normal)


def orthogonal_plane(
    affine: FloatArray, grid_shape: tuple[int, int, int], orientation: Orientation, index: int
) -> Plane:
    """The plane of slice ``index`` along ``orientation`` of a ``[k, j, i]`` grid.

    Rows and columns follow the array: axial shows ``[j, i]``, coronal ``[k, i]``, sagittal
    ``[k, j]`` — exactly :func:`orthogonal_slice`'s 2D array.
    """
    k_size, j_size, i_size = grid_shape
    spacing_i, spacing_j, spacing_k = geometry.spacing_from_affine(affine)
    cosines = geometry.direction_cosines(affine)
    axis_i, axis_j, axis_k = cosines[:, 0], cosines[:, 1], cosines[:, 2]
    center_index: tuple[float, float, float]
    if orientation is Orientation.AXIAL:
        center_index = ((i_size - 1) / 2, (j_size - 1) / 2, float(index))
        right, down, spacing, shape = axis_i, axis_j, (spacing_j, spacing_i), (j_size, i_size)
    elif orientation is Orientation.CORONAL:
        center_index = ((i_size - 1) / 2, float(index), (k_size - 1) / 2)
        right, down, spacing, shape = axis_i, axis_k, (spacing_k, spacing_i), (k_size, i_size)
    else:
        center_index = (float(index), (j_size - 1) / 2, (k_size - 1) / 2)
        right, down, spacing, shape = axis_j, axis_k, (spacing_k, spacing_j), (k_size, j_size)
    center = geometry.index_to_lps(affine, center_index)
    return Plane(
        center=(float(center[0]), float(center[1]), float(center[2])),
        right=(float(right[0]), float(right[1]), float(right[2])),
        down=(float(down[0]), float(down[1]), float(down[2])),
        spacing=(float(spacing[0]), float(spacing[1])),
        shape=(int(shape[0]), int(shape[1])),
    )


def orthogonal_slice(
    array: npt.NDArray[np.generic], orientation: Orientation, index: int
) -> npt.NDArray[np.generic]:
    """The 2D view of a ``[k, j, i]`` array for ``orientation`` (a numpy view, never a copy)."""
    view: npt.NDArray[np.generic]
    if orientation is Orientation.AXIAL:
        view = array[index]
    elif orientation is Orientation.CORONAL:
        view = array[:, index, :]
    else:
        view = array[:, :, index]
    return view


def reslice(
    array: npt.NDArray[np.generic],
    affine: FloatArray,
    plane: Plane,
    *,
    fill: float = 0.0,
    linear: bool = False,
) -> npt.NDArray[np.generic]:
    """Sample a ``[k, j, i]`` volume on ``plane`` (nearest neighbour, or trilinear).

    Points outside the volume get ``fill``. Nearest sampling keeps the stored values (HU stay
    integers); trilinear returns float32.
    """
    rows, columns = np.mgrid[0 : plane.shape[0], 0 : plane.shape[1]]
    lps = plane.pixel_to_lps(rows, columns)
    ijk = geometry.lps_to_index(affine, lps.reshape(-1, 3))
    k_size, j_size, i_size = array.shape
    if not linear:
        index = np.rint(ijk).astype(np.int64)
        inside = (
            (index[:, 0] >= 0)
            & (index[:, 0] < i_size)
            & (index[:, 1] >= 0)
            & (index[:, 1] < j_size)
            & (index[:, 2] >= 0)
            & (index[:, 2] < k_size)
        )
        out = np.full(index.shape[0], fill, dtype=array.dtype)
        out[inside] = array[index[inside, 2], index[inside, 1], index[inside, 0]]
        return out.reshape(plane.shape)
    return _trilinear(array, ijk, fill).reshape(plane.shape)


def _trilinear(
    array: npt.NDArray[np.generic], ijk: FloatArray, fill: float
) -> npt.NDArray[np.float32]:
    k_size, j_size, i_size = array.shape
    base = np.floor(ijk).astype(np.int64)
    frac = (ijk - base).astype(np.float32)
    inside = (
        (ijk[:, 0] >= 0)
        & (ijk[:, 0] <= i_size - 1)
        & (ijk[:, 1] >= 0)
        & (ijk[:, 1] <= j_size - 1)
        & (ijk[:, 2] >= 0)
        & (ijk[:, 2] <= k_size - 1)
    )
    out = np.full(ijk.shape[0], fill, dtype=np.float32)
    b = base[inside]
    f = frac[inside]
    total = np.zeros(b.shape[0], dtype=np.float32)
    for di in (0, 1):
        wi = f[:, 0] if di else 1 - f[:, 0]
        ii = np.minimum(b[:, 0] + di, i_size - 1)
        for dj in (0, 1):
            wj = f[:, 1] if dj else 1 - f[:, 1]
            jj = np.minimum(b[:, 1] + dj, j_size - 1)
            for dk in (0, 1):
                wk = f[:, 2] if dk else 1 - f[:, 2]
                kk = np.minimum(b[:, 2] + dk, k_size - 1)
                total += wi * wj * wk * array[kk, jj, ii].astype(np.float32)
    out[inside] = total
    return out


def oblique_plane(
    center: npt.ArrayLike,
    right: npt.ArrayLike,
    down: npt.ArrayLike,
    spacing: tuple[float, float],
    shape: tuple[int, int],
) -> Plane:
    """A plane from any two directions (orthonormalised: ``down`` is made perpendicular)."""
    r = geometry.unit_vector(np.asarray(right, dtype=np.float64))
    d = np.asarray(down, dtype=np.float64)
    d = geometry.unit_vector(d - (d @ r) * r)
    c = np.asarray(center, dtype=np.float64)
    return Plane(
        center=(float(c[0]), float(c[1]), float(c[2])),
        right=(float(r[0]), float(r[1]), float(r[2])),
        down=(float(d[0]), float(d[1]), float(d[2])),
        spacing=spacing,
        shape=shape,
    )


class PlaneCopier:
    """Copies orthogonal planes out of a volume into a display buffer, quickly.

    Axial and coronal planes are read row by row; a sagittal plane is one value from every row
    of the volume, each in a different cache line, so copying one costs as much memory traffic
    as copying a slab of neighbouring planes. Scrolling through sagittal planes therefore copies
    a slab of ``slab`` planes once (in the volume's own order: one short run per row) and serves
    its planes from it: measured at 512², 1.6 ms per plane read directly, 0.35 ms amortised
    with slabs of 8. Call :meth:`invalidate` when the volume's voxels change.
    """

    def __init__(self, slab: int = 8) -> None:
        self.slab = slab
        self._key: tuple[int, tuple[int, ...], tuple[int, ...], int] | None = None
        self._buffer: npt.NDArray[np.generic] | None = None

    def invalidate(self) -> None:
        self._key = None

    def copy(
        self,
        array: npt.NDArray[np.generic],
        orientation: Orientation,
        index: int,
        out: npt.NDArray[np.generic],
    ) -> None:
        if orientation is not Orientation.SAGITTAL:
            np.copyto(out, orthogonal_slice(array, orientation, index))
            return
        start = index - index % self.slab
        key = (array.__array_interface__["data"][0], array.shape, array.strides, start)
        if key != self._key or self._buffer is None:
            stop = min(start + self.slab, array.shape[2])
            shape = (array.shape[0], array.shape[1], stop - start)
            if (
                self._buffer is None
                or self._buffer.shape != shape
                or (self._buffer.dtype != array.dtype)
            ):
                self._buffer = np.empty(shape, dtype=array.dtype)
            np.copyto(self._buffer, array[:, :, start:stop])
            self._key = key
        np.copyto(out, self._buffer[:, :, index - start])
