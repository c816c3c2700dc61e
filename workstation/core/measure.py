"""The values of measurements: lengths, angles, areas and region statistics, all in LPS mm.

Distances are taken between patient coordinates, so non-square pixels and oblique planes need no
special case. Region statistics use the voxels whose centres lie inside the region, on the
volume's own slice when the drawing plane is one of the grid's planes (exactly the pixels shown),
otherwise on a resampled grid as fine as the finest voxel spacing (nearest voxel).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from workstation.core import geometry
from workstation.core.annotations import Annotation, AnnotationKind

FloatArray = npt.NDArray[np.float64]
#: Planes closer than this (cosine) to a grid axis are treated as that grid plane.
_PARALLEL = 1.0 - 1e-6


def length_mm(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    return float(np.linalg.norm(np.asarray(b, np.float64) - np.asarray(a, np.float64)))


def angle_degrees(first: npt.ArrayLike, vertex: npt.ArrayLike, second: npt.ArrayLike) -> float:
    u = np.asarray(first, np.float64) - np.asarray(vertex, np.float64)
    w = np.asarray(second, np.float64) - np.asarray(vertex, np.float64)
    cosine = float(u @ w) / (float(np.linalg.norm(u)) * float(np.linalg.norm(w)))
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def ellipse_area_mm2(center: npt.ArrayLike, axis_a: npt.ArrayLike, axis_b: npt.ArrayLike) -> float:
    """π·|a × b| for the semi-diameters a and b (equals π·a·b when they are perpendicular)."""
    c = np.asarray(center, np.float64)
    return math.pi * float(
        np.linalg.norm(
            np.cross(np.asarray(axis_a, np.float64) - c, np.asarray(axis_b, np.float64) - c)
        )
    )


def polygon_area_mm2(vertices: npt.ArrayLike) -> float:
    """Area of a planar polygon in 3D: half the length of Σ pᵢ × pᵢ₊₁."""
    points = np.asarray(vertices, np.float64)
    total = np.cross(points, np.roll(points, -1, axis=0)).sum(axis=0)
    return 0.5 * float(np.linalg.norm(total))


def _plane_basis(normal: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Two unit vectors spanning the plane perpendicular to ``normal``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = geometry.unit_vector(np.cross(normal, helper))
    return u, np.cross(normal, u)


def _inside(kind: AnnotationKind, outline: FloatArray, points: FloatArray) -> npt.NDArray[np.bool_]:
    """Which 2D ``points`` (plane coordinates, mm) lie inside the region."""
    if kind is AnnotationKind.ELLIPSE:
        center, a, b = outline[0], outline[1] - outline[0], outline[2] - outline[0]
        # Solve p - c = s·a + t·b; inside when s² + t² ≤ 1 (a, b conjugate semi-diameters).
        basis = np.column_stack([a, b])
        st = np.linalg.solve(basis, (points - center).T).T
        inside: npt.NDArray[np.bool_] = (st**2).sum(axis=1) <= 1.0
        return inside
    # Even-odd rule, vectorised over points.
    x, y = points[:, 0], points[:, 1]
    result = np.zeros(len(points), dtype=bool)
    for (x1, y1), (x2, y2) in zip(outline, np.roll(outline, -1, axis=0), strict=True):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        result ^= crosses & (x < at)
    return result


def region_values(
    annotation: Annotation, array: npt.NDArray[np.generic], affine: FloatArray
) -> dict[str, float]:
    """Area and statistics of an ellipse or polygon ROI over a ``[k, j, i]`` volume."""
    vertices = np.asarray(annotation.points, np.float64)
    if annotation.plane_normal is not None:
        normal = geometry.unit_vector(annotation.plane_normal)
    elif annotation.kind is AnnotationKind.ELLIPSE:
        normal = geometry.unit_vector(
            np.cross(vertices[1] - vertices[0], vertices[2] - vertices[0])
        )
    else:
        normal = geometry.unit_vector(
            np.cross(vertices[1] - vertices[0], vertices[-1] - vertices[0])
        )
    u, w = _plane_basis(normal)
    origin = vertices[0]
    outline = np.column_stack([(vertices - origin) @ u, (vertices - origin) @ w])
    if annotation.kind is AnnotationKind.ELLIPSE:
        area = ellipse_area_mm2(*vertices)
    else:
        area = polygon_area_mm2(vertices)
    centres, values = _grid_samples(array, affine, _extent(annotation.kind, vertices), normal)
    if values is None or centres is None:
        return {"area_mm2": area, "pixels": 0.0}
    planar = np.column_stack([(centres - origin) @ u, (centres - origin) @ w])
    selected = values[_inside(annotation.kind, outline, planar)].astype(np.float64)
    result = {"area_mm2": area, "pixels": float(selected.size)}
    if selected.size:
        result.update(
            mean=float(selected.mean()),
            sd=float(selected.std()),
            min=float(selected.min()),
            max=float(selected.max()),
        )
    return result


def _extent(kind: AnnotationKind, vertices: FloatArray) -> FloatArray:
    """Points whose bounding box holds the whole region (an ellipse's enclosing parallelogram)."""
    if kind is AnnotationKind.ELLIPSE:
        center, a, b = vertices[0], vertices[1] - vertices[0], vertices[2] - vertices[0]
        return np.array([center + sa * a + sb * b for sa in (-1, 1) for sb in (-1, 1)])
    return vertices


def _grid_samples(
    array: npt.NDArray[np.generic], affine: FloatArray, vertices: FloatArray, normal: FloatArray
) -> tuple[FloatArray | None, npt.NDArray[np.generic] | None]:
    """Voxel centres (LPS) near the ROI plane within its bounding box, and their values."""
    cosines = geometry.direction_cosines(affine)
    shape_kji = array.shape
    index = geometry.lps_to_index(affine, vertices)
    for axis in range(3):  # the grid plane holding i (0), j (1) or k (2) fixed
        others = [cosines[:, a] for a in range(3) if a != axis]
        plane_normal = geometry.unit_vector(np.cross(others[0], others[1]))
        if abs(float(plane_normal @ normal)) >= _PARALLEL:
            fixed = round(float(index[:, axis].mean()))
            if not 0 <= fixed < shape_kji[2 - axis]:
                return None, None
            low = np.floor(index.min(axis=0)).astype(int)
            high = np.ceil(index.max(axis=0)).astype(int)
            ranges = []
            for other in range(3):
                size = shape_kji[2 - other]
                if other == axis:
                    ranges.append(np.array([fixed]))
                else:
                    ranges.append(np.arange(max(low[other], 0), min(high[other], size - 1) + 1))
            ii, jj, kk = np.meshgrid(*ranges, indexing="ij")
            ijk = np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()])
            return geometry.index_to_lps(affine, ijk), array[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    return _resampled(array, affine, vertices, normal)


def _resampled(
    array: npt.NDArray[np.generic], affine: FloatArray, vertices: FloatArray, normal: FloatArray
) -> tuple[FloatArray | None, npt.NDArray[np.generic] | None]:
    step = min(geometry.spacing_from_affine(affine))
    u, w = _plane_basis(normal)
    origin = vertices[0]
    coords = np.column_stack([(vertices - origin) @ u, (vertices - origin) @ w])
    low, high = coords.min(axis=0), coords.max(axis=0)
    su = np.arange(low[0], high[0] + step / 2, step)
    sw = np.arange(low[1], high[1] + step / 2, step)
    gu, gw = np.meshgrid(su, sw, indexing="ij")
    centres = origin + gu.ravel()[:, None] * u + gw.ravel()[:, None] * w
    index = np.rint(geometry.lps_to_index(affine, centres)).astype(np.int64)
    k_size, j_size, i_size = array.shape
    valid = (
        (index[:, 0] >= 0)
        & (index[:, 0] < i_size)
        & (index[:, 1] >= 0)
        & (index[:, 1] < j_size)
        & (index[:, 2] >= 0)
        & (index[:, 2] < k_size)
    )
    if not valid.any():
        return None, None
    index = index[valid]
    return centres[valid], array[index[:, 2], index[:, 1], index[:, 0]]


def measure(
    annotation: Annotation,
    array: npt.NDArray[np.generic] | None = None,
    affine: FloatArray | None = None,
) -> dict[str, float]:
    """The values of ``annotation``; ROI statistics need the volume it lies on."""
    points = annotation.points
    kind = annotation.kind
    if kind is AnnotationKind.LENGTH:
        return {"length_mm": length_mm(points[0], points[1])}
    if kind is AnnotationKind.ANGLE:
        return {"angle_deg": angle_degrees(points[0], points[1], points[2])}
    if kind in (AnnotationKind.ELLIPSE, AnnotationKind.POLYGON):
        if array is None or affine is None:
            area = (
                ellipse_area_mm2(*points)
                if kind is AnnotationKind.ELLIPSE
                else polygon_area_mm2(points)
            )
            return {"area_mm2": area}
        return region_values(annotation, array, affine)
    if kind is AnnotationKind.POINT and array is not None and affine is not None:
        ijk = np.rint(geometry.lps_to_index(affine, points[0])).astype(int)
        k_size, j_size, i_size = array.shape
        if 0 <= ijk[0] < i_size and 0 <= ijk[1] < j_size and 0 <= ijk[2] < k_size:
            return {"value": float(array[ijk[2], ijk[1], ijk[0]])}
    return {}
