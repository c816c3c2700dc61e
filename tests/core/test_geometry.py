"""Geometry helpers: affines, index ↔ LPS, obliqueness, labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workstation.core import geometry
from workstation.core.errors import GeometryError

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def test_axial_affine_columns_follow_dicom_pixel_spacing_order() -> None:
    # PixelSpacing is (row spacing, column spacing): i steps by the column spacing.
    affine = geometry.plane_affine((10, 20, 30), AXIAL, (0.5, 0.8), (0, 0, 2.5))
    np.testing.assert_allclose(affine[:3, 0], [0.8, 0, 0])
    np.testing.assert_allclose(affine[:3, 1], [0, 0.5, 0])
    np.testing.assert_allclose(affine[:3, 2], [0, 0, 2.5])
    np.testing.assert_allclose(affine[:3, 3], [10, 20, 30])
    assert geometry.spacing_from_affine(affine) == pytest.approx((0.8, 0.5, 2.5))


def test_slice_normal_of_the_standard_planes() -> None:
    np.testing.assert_allclose(geometry.slice_normal(AXIAL), [0, 0, 1])
    np.testing.assert_allclose(geometry.slice_normal(CORONAL), [0, 1, 0])
    np.testing.assert_allclose(geometry.slice_normal(SAGITTAL), [-1, 0, 0])


def test_lps_to_ras_negates_x_and_y_only() -> None:
    affine = geometry.plane_affine((10, 20, 30), AXIAL, (1, 1), (0, 0, 1))
    ras = geometry.lps_to_ras(affine)
    np.testing.assert_allclose(ras[:3, 3], [-10, -20, 30])
    np.testing.assert_allclose(ras[:3, 0], [-1, 0, 0])
    np.testing.assert_allclose(ras[:3, 2], [0, 0, 1])


def test_tilted_stack_keeps_exact_positions_in_a_sheared_affine() -> None:
    step = np.array([0.0, np.tan(np.radians(15)) * 2.0, 2.0])
    affine = geometry.plane_affine((0, 0, 0), AXIAL, (1, 1), step)
    assert geometry.tilt_degrees(affine) == pytest.approx(15.0)
    np.testing.assert_allclose(geometry.index_to_lps(affine, (0, 0, 3)), 3 * step)


def test_degenerate_geometry_is_refused_with_a_named_error() -> None:
    with pytest.raises(GeometryError):
        geometry.split_orientation((1, 0, 0, 1, 0, 0))  # not orthogonal
    with pytest.raises(GeometryError):
        geometry.split_orientation((0, 0, 0, 0, 1, 0))  # null vector
    with pytest.raises(GeometryError):
        geometry.plane_affine((0, 0, 0), AXIAL, (1, 1), (1, 0, 0))  # step in the plane
    with pytest.raises(GeometryError):
        geometry.plane_affine((0, 0, 0), AXIAL, (0, 1), (0, 0, 1))


def test_obliqueness() -> None:
    assert not geometry.is_oblique(AXIAL)
    assert not geometry.is_oblique(SAGITTAL)
    c, s = np.cos(0.3), np.sin(0.3)
    assert geometry.is_oblique((c, s, 0, -s, c, 0))


def test_orientation_labels_as_viewers_show_them() -> None:
    assert geometry.orientation_label((1, 0, 0)) == "L"
    assert geometry.orientation_label((-1, 0, 0)) == "R"
    assert geometry.orientation_label((0, -1, 0)) == "A"
    assert geometry.orientation_label((0, 0, 1)) == "H"
    assert geometry.orientation_label((0, 0, -1)) == "F"
    assert geometry.orientation_label((0.8, 0.6, 0)) == "LP"


unit = st.floats(-1, 1, allow_nan=False)


@given(
    angles=st.tuples(st.floats(-3.1, 3.1), st.floats(-1.5, 1.5), st.floats(-3.1, 3.1)),
    spacing=st.tuples(st.floats(0.1, 5), st.floats(0.1, 5), st.floats(0.1, 10)),
    origin=st.tuples(*(st.floats(-500, 500),) * 3),
    ijk=st.tuples(*(st.floats(-10, 600),) * 3),
)
def test_index_and_lps_round_trip_for_any_oblique_grid(angles, spacing, origin, ijk) -> None:
    a, b, c = angles
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    rotation = rz @ ry @ rx
    orientation = (*rotation[:, 0], *rotation[:, 1])
    normal = geometry.slice_normal(orientation)
    affine = geometry.plane_affine(
        origin, orientation, (spacing[1], spacing[0]), normal * spacing[2]
    )
    lps = geometry.index_to_lps(affine, ijk)
    np.testing.assert_allclose(geometry.lps_to_index(affine, lps), ijk, atol=1e-6)
    assert geometry.spacing_from_affine(affine) == pytest.approx(spacing)


def test_plane_names_follow_anatomy_not_the_grid() -> None:
    assert geometry.plane_name((0, 0, 1)) == "Axial"
    assert geometry.plane_name((0, -1, 0)) == "Coronal"
    assert geometry.plane_name((1, 0, 0)) == "Sagittal"
    assert geometry.plane_name((0.1, 0, 1)) == "Axial"  # 6° off: still axial
    assert geometry.plane_name((0.6, 0.48, 0.64)) == "Oblique"  # a cardiac short axis
