"""Patient geometry in DICOM LPS millimetres.

Conventions (DESIGN.md): an affine is a 4×4 matrix mapping the homogeneous voxel index
``(i, j, k, 1)`` — column, row, slice — to LPS mm. Its first column is the row direction cosine
times the column spacing (PixelSpacing[1]), its second the column direction cosine times the row
spacing (PixelSpacing[0]), its third the step from one slice to the next (which need not be
orthogonal to the image plane: gantry tilt gives a sheared, still exact, affine). NIfTI's RAS is
produced at the file boundary only (:func:`lps_to_ras`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from workstation.core.errors import GeometryError

FloatArray = npt.NDArray[np.float64]

#: Direction cosines that differ by less than this (per component) describe the same plane.
ORIENTATION_TOLERANCE = 1e-4

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def unit_vector(vector: Sequence[float] | FloatArray) -> FloatArray:
    """``vector`` scaled to length 1; raises :class:`GeometryError` for a null vector."""
    v = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm < 1e-9:
        raise GeometryError(f"direction {v.tolist()} has no length")
    return v / norm


def split_orientation(orientation: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """Row and column direction cosines of an ImageOrientationPatient (0020,0037) value.

    Both are normalised; vectors that are not (nearly) orthogonal raise :class:`GeometryError`
    because no grid can be built from them.
    """
    if len(orientation) != 6:
        raise GeometryError(f"image orientation needs 6 values, got {len(orientation)}")
    row = unit_vector(orientation[:3])
    col = unit_vector(orientation[3:])
    if abs(float(row @ col)) > 1e-3:
        raise GeometryError("image orientation row and column directions are not orthogonal")
    return row, col


def slice_normal(orientation: Sequence[float]) -> FloatArray:
    """Unit normal of the image plane: row cosine × column cosine (points along increasing k)."""
    row, col = split_orientation(orientation)
    return unit_vector(np.cross(row, col))


def plane_affine(
    origin: Sequence[float],
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_step: Sequence[float] | FloatArray,
) -> FloatArray:
    """The affine of a stack of planes.

    Parameters
    ----------
    origin:
        ImagePositionPatient (0020,0032) of the first slice: LPS centre of its first voxel.
    orientation:
        ImageOrientationPatient (0020,0037).
    pixel_spacing:
        PixelSpacing (0028,0030): ``(row spacing, column spacing)`` as DICOM orders them.
    slice_step:
        LPS vector from one slice's origin to the next one's.
    """
    row, col = split_orientation(orientation)
    if len(pixel_spacing) != 2 or min(pixel_spacing) <= 0:
        raise GeometryError(f"pixel spacing {list(pixel_spacing)} is not two positive numbers")
    affine = np.eye(4)
    affine[:3, 0] = row * float(pixel_spacing[1])
    affine[:3, 1] = col * float(pixel_spacing[0])
    affine[:3, 2] = np.asarray(slice_step, dtype=np.float64)
    affine[:3, 3] = np.asarray(origin, dtype=np.float64)
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise GeometryError("slice step lies in the image plane: the slices do not form a volume")
    return affine


def index_to_lps(affine: FloatArray, ijk: Sequence[float] | FloatArray) -> FloatArray:
    """LPS mm of voxel indices ``(i, j, k)``; accepts one point or an ``(N, 3)`` array."""
    points = np.asarray(ijk, dtype=np.float64)
    lps: FloatArray = points @ affine[:3, :3].T + affine[:3, 3]
    return lps


def lps_to_index(affine: FloatArray, lps: Sequence[float] | FloatArray) -> FloatArray:
    """Continuous voxel indices ``(i, j, k)`` of LPS points; one point or ``(N, 3)``."""
    points = np.asarray(lps, dtype=np.float64)
    inverse = np.linalg.inv(affine[:3, :3])
    indices: FloatArray = (points - affine[:3, 3]) @ inverse.T
    return indices


def spacing_from_affine(affine: FloatArray) -> tuple[float, float, float]:
    """Step lengths along i, j and k in mm."""
    norms = np.linalg.norm(affine[:3, :3], axis=0)
    return float(norms[0]), float(norms[1]), float(norms[2])


def direction_cosines(affine: FloatArray) -> FloatArray:
    """3×3 matrix whose columns are the unit directions of i, j and k in LPS."""
    cosines: FloatArray = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    return cosines


def lps_to_ras(affine: FloatArray) -> FloatArray:
    """The same affine expressed in RAS (NIfTI), by negating the x and y axes of the world."""
    ras: FloatArray = _LPS_TO_RAS @ affine
    return ras


def tilt_degrees(affine: FloatArray) -> float:
    """Angle between the slice step and the image-plane normal (0 for an orthogonal stack)."""
    normal = unit_vector(np.cross(affine[:3, 0], affine[:3, 1]))
    step = unit_vector(affine[:3, 2])
    cosine = min(1.0, abs(float(normal @ step)))
    return float(np.degrees(np.arccos(cosine)))


def is_oblique(orientation: Sequence[float], tolerance: float = 1e-3) -> bool:
    """True when the image plane is not one of the three patient planes."""
    row, col = split_orientation(orientation)
    return not all(float(np.max(np.abs(v))) > 1.0 - tolerance for v in (row, col))


_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))


def orientation_label(direction: Sequence[float] | FloatArray, max_letters: int = 3) -> str:
    """Patient-direction letters for an LPS direction, strongest component first.

    ``(1, 0, 0)`` is ``"L"``, ``(0, -1, 0)`` is ``"A"``, an oblique direction gets several
    letters (``"LP"``) as radiology viewers show on the edges of a 2D view. Components under
    one percent of the largest are left out.
    """
    v = unit_vector(direction)
    order = np.argsort(-np.abs(v))
    letters = []
    for axis in order[:max_letters]:
        if abs(v[axis]) < 0.01 * float(np.max(np.abs(v))) or abs(v[axis]) < 1e-6:
            break
        negative, positive = _AXIS_LETTERS[axis]
        letters.append(positive if v[axis] > 0 else negative)
    return "".join(letters)


def plane_name(normal: Sequence[float] | FloatArray, tolerance_degrees: float = 10.0) -> str:
    """The anatomical plane a normal describes: "Axial", "Coronal", "Sagittal" or "Oblique".

    Named by the patient axis it is nearest to, within ``tolerance_degrees``; a short-axis
    cardiac plane, for example, is "Oblique" whatever the grid it was acquired on.
    """
    n = np.abs(unit_vector(normal))
    axis = int(np.argmax(n))
    if float(n[axis]) < np.cos(np.radians(tolerance_degrees)):
        return "Oblique"
    return ("Sagittal", "Coronal", "Axial")[axis]
