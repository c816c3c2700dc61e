"""Measurement maths on known geometry: non-square pixels, oblique planes, region statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workstation.core import geometry
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.measure import measure

REF = ImageReference("1.2.3", "1.2.3.4")


def _volume(spacing=(0.5, 2.0, 3.0), shape=(5, 40, 120), orientation=(1, 0, 0, 0, 1, 0)):
    """A [k, j, i] volume whose value is 100 inside a 20 mm disc around the centre, 0 outside."""
    affine = geometry.plane_affine(
        (0, 0, 0),
        orientation,
        (spacing[1], spacing[0]),
        geometry.slice_normal(orientation) * spacing[2],
    )
    k, j, i = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]]
    lps = geometry.index_to_lps(affine, np.stack([i, j, k], axis=-1).reshape(-1, 3))
    centre = geometry.index_to_lps(affine, ((shape[2] - 1) / 2, (shape[1] - 1) / 2, 2))
    offset = lps - centre
    in_plane = offset - np.outer(
        offset @ geometry.slice_normal(orientation), geometry.slice_normal(orientation)
    )
    values = np.where(np.linalg.norm(in_plane, axis=1) <= 20.0, 100, 0).astype(np.int16)
    return values.reshape(shape), affine, centre


def test_length_uses_millimetres_not_pixels_on_non_square_pixels() -> None:
    _, affine, _ = _volume()
    a = geometry.index_to_lps(affine, (10, 10, 2))
    b = geometry.index_to_lps(affine, (20, 15, 2))  # 10 columns of 0.5 mm, 5 rows of 2 mm
    annotation = Annotation(AnnotationKind.LENGTH, REF, points=(tuple(a), tuple(b)))
    assert measure(annotation)["length_mm"] == pytest.approx(math.hypot(5.0, 10.0))


def test_angle() -> None:
    annotation = Annotation(AnnotationKind.ANGLE, REF, points=((10, 0, 0), (0, 0, 0), (0, 10, 10)))
    assert measure(annotation)["angle_deg"] == pytest.approx(90.0)
    flat = Annotation(AnnotationKind.ANGLE, REF, points=((1, 0, 0), (0, 0, 0), (1, 1, 0)))
    assert measure(flat)["angle_deg"] == pytest.approx(45.0)


@pytest.mark.parametrize(
    "orientation",
    [(1, 0, 0, 0, 1, 0), (0.866025, 0.5, 0, -0.353553, 0.612372, -0.707107)],
    ids=["axial", "oblique"],
)
def test_ellipse_roi_area_and_statistics(orientation) -> None:
    array, affine, centre = _volume(orientation=orientation)
    normal = geometry.slice_normal(orientation)
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    # A 10 × 6 mm ellipse fully inside the 20 mm disc: every pixel is 100.
    annotation = Annotation(
        AnnotationKind.ELLIPSE,
        REF,
        points=(tuple(centre), tuple(centre + 10 * row), tuple(centre + 6 * col)),
        plane_normal=tuple(normal),
    )
    values = measure(annotation, array, affine)
    assert values["area_mm2"] == pytest.approx(math.pi * 60)
    assert values["mean"] == 100 and values["sd"] == 0
    assert values["min"] == values["max"] == 100
    # Pixels counted ≈ area / pixel area (0.5 × 2 mm) on the grid plane.
    assert values["pixels"] == pytest.approx(math.pi * 60 / 1.0, rel=0.1)


def test_polygon_straddling_the_disc_edge_mixes_values() -> None:
    array, affine, centre = _volume()
    square = [centre + d for d in ((0, -10, 0), (25, -10, 0), (25, 10, 0), (0, 10, 0))]
    annotation = Annotation(
        AnnotationKind.POLYGON, REF, points=tuple(map(tuple, square)), plane_normal=(0.0, 0.0, 1.0)
    )
    values = measure(annotation, array, affine)
    assert values["area_mm2"] == pytest.approx(500.0)
    assert values["min"] == 0 and values["max"] == 100
    # Inside the disc: ∫ √(400 − y²) dy over |y| ≤ 10 = 382.6 mm² of the 500: 76.5 %.
    assert values["mean"] == pytest.approx(76.5, abs=2.5)


def test_roi_statistics_on_a_reformatted_plane_resample_the_volume() -> None:
    array, affine, centre = _volume()
    tilt = np.array([0.0, 0.6, 0.8])  # neither axial, coronal nor sagittal
    right = geometry.unit_vector(np.cross(tilt, [1.0, 0.0, 0.0]))
    down = np.cross(tilt, right)
    annotation = Annotation(
        AnnotationKind.ELLIPSE,
        REF,
        points=(tuple(centre), tuple(centre + 3 * right), tuple(centre + 3 * down)),
        plane_normal=tuple(tilt),
    )
    values = measure(annotation, array, affine)
    assert values["pixels"] > 0
    assert values["mean"] == 100


def test_point_value() -> None:
    array, affine, centre = _volume()
    annotation = Annotation(AnnotationKind.POINT, REF, points=(tuple(centre),))
    assert measure(annotation, array, affine) == {"value": 100.0}
